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


def test_list():
    p = _run("list", "--json")
    assert p.returncode == 0, p.stderr
    assert isinstance(json.loads(p.stdout), list)  # this host has no IVSHMEM device: the guest test has
