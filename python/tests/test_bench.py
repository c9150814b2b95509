"""python3 -m ivshmem.bench, briefly: structure, never timings."""
import json
import subprocess

from conftest import CLI, PY, child_env

METHODS = ("ivshmem", "ivshmem_batch", "socketpair", "pipe", "raw_ring")


def _bench(*args):
    env = child_env()
    env["IVSHMEM_CLI"] = CLI
    return subprocess.run([PY, "-m", "ivshmem.bench", "--runs", "1", "--scale", "0.005", *args], env=env,
                          capture_output=True, text=True, timeout=300)


def test_json_has_every_method_size_ratio_and_the_mode():
    p = _bench("--json")
    assert p.returncode == 0 and p.stderr == "", p.stderr
    d = json.loads(p.stdout)
    assert d["benchmark"] == "python" and d["runs"] == 1
    assert set(d["sizes"]) == {"64", "65536"}
    for x in d["sizes"].values():
        assert all(x[f"{m}_msgs_s"] > 0 for m in METHODS)
        for r in ("ivshmem_socketpair", "ivshmem_pipe", "ivshmem_raw_ring", "ivshmem_batch_socketpair",
                  "ivshmem_batch_raw_ring"):
            assert x[f"ratio_{r}"] > 0
    for when in ("before", "after"):
        assert d[f"pingpong_ns_{when}"] > 0 and d[f"mode_{when}"] in ("near", "far")
    assert d["mode_changed"] == (d["mode_before"] != d["mode_after"])


def test_text_names_the_mode_and_the_ratios():
    p = _bench()
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].startswith("python3 -m ivshmem.bench: messages/s between two processes")
    assert lines[1].startswith("machine mode: ")
    assert "chan/socket" in lines[2] and "chan/Pipe" in lines[2] and "chan/raw" in lines[2]
    assert lines[3].split()[:2] == ["64", "B"] and lines[4].split()[:2] == ["64", "KiB"]


def test_bad_options():
    p = _bench("--runs", "0")
    assert p.returncode == 2 and "--runs" in p.stderr
