"""The ctypes structs match the C compiler's (sizes and every offset), and
the binding refuses a library of another API version."""
import ctypes
import json
import os
import subprocess

import pytest

from conftest import PY, child_env
from ivshmem import _lib


def _c_layout():
    exe = os.environ.get("IVSHMEM_ABI_DUMP")
    if not exe:
        pytest.skip("IVSHMEM_ABI_DUMP is not set (run through meson test)")
    return json.loads(subprocess.run([exe], capture_output=True, check=True).stdout)


@pytest.mark.parametrize("name", sorted(_lib.STRUCTS))
def test_struct_layout(name):
    c = _c_layout()[name]
    py = _lib.STRUCTS[name]
    assert ctypes.sizeof(py) == c["sizeof"], f"sizeof(struct {name})"
    for field, _t in py._fields_:
        assert getattr(py, field).offset == c[field], f"offsetof(struct {name}, {field})"
    assert set(c) - {"sizeof"} == {f for f, _t in py._fields_}, "the same fields"


def _import_with(lib_path):
    env = child_env()
    env["IVSHMEM_LIBRARY"] = lib_path
    return subprocess.run([PY, "-c", "import ivshmem"], env=env, capture_output=True, text=True,
                          timeout=60)


def test_refuses_another_api_version():
    wrong = os.environ.get("IVSHMEM_WRONG_LIBRARY")
    if not wrong:
        pytest.skip("IVSHMEM_WRONG_LIBRARY is not set (run through meson test)")
    p = _import_with(wrong)
    assert p.returncode != 0
    last = p.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: ivshmem: the library")
    assert "9.0.0" in last and "needs 0.1.x" in last


def test_missing_library_names_the_way_out():
    p = _import_with("/nonexistent/libivshmem.so.0.1")
    assert p.returncode != 0
    last = p.stderr.strip().splitlines()[-1]
    assert "no such file" in last and "IVSHMEM_LIBRARY" in last


def test_versions():
    import ivshmem
    assert ivshmem.library_version.startswith(f"{_lib.API_MAJOR}.{_lib.API_MINOR}.")
    assert _lib.lib.ivshmem_version_check(_lib.API_HEX) == 0
