"""python3 -m ivshmem list | info."""
import json
import subprocess

from conftest import PY, child_env


def _run(*args):
    return subprocess.run([PY, "-m", "ivshmem", *args], env=child_env(), capture_output=True, text=True,
                          timeout=60)


def test_info(shm, cli):
    cli("chan", "create", shm, "from-c", "--size", "8K")
    p = _run("info", shm)
    assert p.returncode == 0, p.stderr
    assert "kind: file" in p.stdout and "size: 1048576" in p.stdout
    assert "channel from-c: ring 8192" in p.stdout
    j = json.loads(_run("info", shm, "--json").stdout)
    assert (j["kind"], j["size"], j["id"]) == ("file", 1 << 20, None)
    assert j["channels"][0]["name"] == "from-c"


def test_info_server(server):
    j = json.loads(_run("info", server, "--json").stdout)
    assert j["kind"] == "server" and j["vectors"] == 2 and j["peers"] == []


def test_errors_are_one_line():
    p = _run("info", "file:/nonexistent")
    assert p.returncode == 1 and p.stdout == ""
    assert p.stderr.splitlines() == ["python3 -m ivshmem info: ivshmem_open file:/nonexistent: "
                                     "No such file or directory"]
    p = _run("frobnicate")
    assert p.returncode == 2 and "invalid choice" in p.stderr


def _fake_sysfs(root, devices):
    """A sysfs tree (IVSHMEM_SYSFS_ROOT, ivshmem.h): bus/pci/devices/ADDR/ with
    the identity files the scan reads.  A fake for the parsing only: the guest
    scenario opens a real device."""
    for addr, (vendor, device, rev) in devices.items():
        d = root / "bus" / "pci" / "devices" / addr
        d.mkdir(parents=True)
        for name, value in (("vendor", vendor), ("device", device), ("subsystem_vendor", 0x1af4),
                            ("subsystem_device", 0x1100), ("class", 0x050000), ("revision", rev)):
            (d / name).write_text(f"0x{value:04x}\n")


def test_list(tmp_path):
    _fake_sysfs(tmp_path, {"0000:00:04.0": (0x1AF4, 0x1110, 1), "0000:00:05.0": (0x8086, 0x100E, 3),
                           "0000:00:03.0": (0x1AF4, 0x1110, 2)})
    env = {"IVSHMEM_SYSFS_ROOT": str(tmp_path)}
    p = _run_env(env, "list", "--json")
    assert p.returncode == 0, p.stderr
    devs = json.loads(p.stdout)
    assert [(d["addr"], d["revision"], d["driver"], d["iommu_group"]) for d in devs] == \
        [("0000:00:03.0", 2, "", -1), ("0000:00:04.0", 1, "", -1)]  # sorted, IVSHMEM only
    p = _run_env(env, "list")
    assert p.stdout.splitlines() == ["0000:00:03.0  1af4:1110  rev 02  driver -  iommu group -",
                                     "0000:00:04.0  1af4:1110  rev 01  driver -  iommu group -"]


def _run_env(extra, *args):
    env = child_env()
    env.update(extra)
    return subprocess.run([PY, "-m", "ivshmem", *args], env=env, capture_output=True, text=True, timeout=60)
