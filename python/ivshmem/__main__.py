"""python3 -m ivshmem list | info DEV: a quick look from Python."""
from __future__ import annotations

import argparse
import json
import sys

import ivshmem


def _list(args: argparse.Namespace) -> None:
    devs = ivshmem.scan()
    if args.json:
        print(json.dumps([d.__dict__ for d in devs]))
        return
    for d in devs:
        print(f"{d.addr}  {d.vendor:04x}:{d.device:04x}  rev {d.revision:02x}  "
              f"driver {d.driver or '-'}  iommu group {d.iommu_group if d.iommu_group >= 0 else '-'}")


def _info(args: argparse.Namespace) -> None:
    with ivshmem.open(args.dev, readonly=True, irq=False) as ep:
        info = {"spec": args.dev, "kind": ep.kind, "size": ep.size, "id": ep.id,
                "vectors": ep.vectors, "cache": ep.cache, "readonly": ep.readonly}
        try:
            info["peers"] = [p.__dict__ for p in ep.peers()]
        except OSError:
            pass  # pci and file endpoints know no peers
        info["channels"] = [c.__dict__ for c in ep.chan_list()]
    if args.json:
        print(json.dumps(info))
        return
    for k in ("kind", "size", "id", "vectors", "cache", "readonly"):
        print(f"{k}: {info[k] if info[k] is not None else '-'}")
    if "peers" in info:
        print("peers: " + (" ".join(f"{p['id']}({p['vectors']})" for p in info["peers"]) or "-"))
    for c in info["channels"]:
        print(f"{c['kind']} {c['name']}: ring {c['ring_size']}, max message {c['max_message']}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m ivshmem",
                                 description="IVSHMEM devices and endpoints, from Python")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("list", help="list IVSHMEM PCI devices")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=_list)
    p = sub.add_parser("info", help="an endpoint's size, peer ID, vectors, channels")
    p.add_argument("dev", help="a PCI address, auto, file:PATH, server:SOCKET or daemon:SOCKET")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=_info)
    args = ap.parse_args(argv)
    try:
        args.fn(args)
    except OSError as e:
        print(f"python3 -m ivshmem {args.cmd}: {e.strerror if e.strerror else e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
