#!/bin/sh
# Run the Python binding's pytest suite (python/tests) as one meson test:
# TAP on standard output (python/tests/conftest.py writes it to fd 3),
# pytest's own report on standard error.  Debian's interpreter, whose
# python3-pytest scripts/deps.sh installs.
# Usage: run-pytest.sh SRC_PYTHON_DIR [PYTEST ARGS]
set -u
py=/usr/bin/python3
src=$1; shift
if ! "$py" -c 'import pytest' 2>/dev/null; then
	echo "1..0 # SKIP python3-pytest is not installed (apt-get install python3-pytest)"
	exit 77
fi
export PYTHONPATH="$src${PYTHONPATH:+:$PYTHONPATH}" PYTHONDONTWRITEBYTECODE=1 IVS_TAP_FD=3
exec 3>&1 1>&2
exec "$py" -m pytest -p no:cacheprovider -q -rs "$src/tests" "$@"
