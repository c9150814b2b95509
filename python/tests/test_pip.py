"""pip install ./python, as a user does it: into a fresh virtual
environment, offline (Debian's wheels of pip and setuptools), then the
package imports from the environment on this build's library."""
import os
import shutil
import subprocess

import pytest

import ivshmem
from conftest import PY, ROOT, child_env

WHEELS = "/usr/share/python-wheels"  # python3-venv's, and python3-wheel-whl


def test_pip_install_into_a_venv(tmp_path):
    have = os.listdir(WHEELS) if os.path.isdir(WHEELS) else []
    for w in ("pip", "setuptools", "wheel"):
        if not any(f.startswith(w + "-") for f in have):
            pytest.skip(f"no {w} wheel in {WHEELS} (apt-get install python3-venv python3-wheel-whl)")
    src = tmp_path / "src"  # a copy: setuptools writes build/ and *.egg-info beside the sources
    shutil.copytree(os.path.join(ROOT, "python"), src, ignore=shutil.ignore_patterns("tests", "__pycache__"))
    venv = tmp_path / "venv"
    subprocess.run([PY, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=120)
    env = child_env()
    env.pop("PYTHONPATH")
    env["IVSHMEM_LIBRARY"] = os.path.abspath(ivshmem._lib.lib._name)  # the library this test runs on
    p = subprocess.run([str(venv / "bin" / "pip"), "install", "--no-index", "--find-links", WHEELS, str(src)],
                       env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    out = subprocess.run([str(venv / "bin" / "python"), "-c",
                          "import ivshmem, importlib.metadata as m; "
                          "print(ivshmem.__file__); print(m.version('ivshmem')); "
                          "import os; print(os.path.exists(os.path.join(os.path.dirname(ivshmem.__file__), 'py.typed')))"],
                         env=env, capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert out.returncode == 0, out.stderr
    f, version, typed = out.stdout.split()
    assert f.startswith(str(venv)) and version == "0.1.0" and typed == "True"
