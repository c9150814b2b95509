#!/bin/sh
# make check: install what is missing (as root), build twice (release with
# -Werror in CI, and ASan+UBSan) and the threaded tests a third time (TSan),
# run every suite, print "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
scripts/deps.sh check || exit 1

werror=""
[ -n "${CI:-}" ] && werror="-Dwerror=true"
status=0

setup() { # dir, extra args...
	dir=$1; shift
	if [ ! -f "$dir/build.ninja" ]; then
		meson setup "$dir" "$@" >"$dir.setup.log" 2>&1 || { cat "$dir.setup.log"; return 1; }
	else
		meson configure "$dir" "$@" >/dev/null 2>&1 || true
	fi
	ninja -C "$dir" >"$dir.ninja.log" 2>&1 || { tail -50 "$dir.ninja.log"; return 1; }
}

echo "== build (debugoptimized$([ -n "$werror" ] && echo ', -Werror'))"
setup build $werror || status=1
echo "== build (ASan+UBSan)"
setup build-asan -Db_sanitize=address,undefined -Db_lundef=false $werror || status=1

echo "== build (TSan: the threaded tests and the CLI they run)"
tsan_targets="tests/chan/chan-test-threads tests/topic/topic-test-threads src/cli/ivshmem"
if [ ! -f build-tsan/build.ninja ]; then
	meson setup build-tsan -Db_sanitize=thread -Dc_args=-Wno-tsan $werror >build-tsan.setup.log 2>&1 ||
		{ cat build-tsan.setup.log; status=1; }
fi
[ $status -eq 0 ] && { ninja -C build-tsan $tsan_targets >build-tsan.ninja.log 2>&1 ||
	{ tail -50 build-tsan.ninja.log; status=1; }; }

if [ $status -ne 0 ]; then
	echo "build failed"
	echo "0 passed, 1 failed"
	exit 1
fi

export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
echo "== tests (debugoptimized build: every suite, guest included)"
meson test -C build --print-errorlogs --num-processes 2 || status=1
echo "== tests (ASan+UBSan build: all but guest, install, docs and the model; python with the runtime preloaded)"
meson test -C build-asan --print-errorlogs --num-processes 2 --no-suite guest --no-suite install --no-suite docs --no-suite model || status=1

echo "== tests (TSan build: the threaded tests)"
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
	meson test -C build-tsan --no-rebuild --print-errorlogs --suite threads || status=1

python3 scripts/summarize.py build/meson-logs/testlog.json build-asan/meson-logs/testlog.json \
	build-tsan/meson-logs/testlog.json
r=$?
[ $r -ne 0 ] && status=1
exit $status
