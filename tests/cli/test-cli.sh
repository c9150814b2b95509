#!/bin/sh
# CLI contract on the host (file: endpoints and fake sysfs trees): output,
# exit codes, and bad input giving one clear stderr line and changing nothing.
set -u
IVSHMEM=${IVSHMEM:?path to the ivshmem binary}
T=$(mktemp -d /tmp/ivshmem-cli.XXXXXX) || { echo "not ok 1 - setup: mktemp -d"; echo "1..1"; exit 1; }
trap 'rm -rf "$T"' EXIT
n=0; failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; [ -n "${2:-}" ] && echo "#   $2"; }
check() { # name, condition...
	name=$1; shift
	if "$@"; then ok "$name"; else nok "$name"; fi
}
# run CMD...: sets rc, out (stdout file), err (stderr text)
run() { "$@" >"$T/out" 2>"$T/err" </dev/null; rc=$?; err=$(cat "$T/err"); }
runin() { # stdin-file CMD...
	in=$1; shift; "$@" >"$T/out" 2>"$T/err" <"$in"; rc=$?; err=$(cat "$T/err")
}
one_line_error() { [ "$rc" -eq 1 ] && [ "$(wc -l <"$T/err")" -eq 1 ] && grep -q "^ivshmem: " "$T/err"; }
expect_error() { # name, pattern, CMD...
	name=$1; pat=$2; shift 2
	run "$@"
	if one_line_error && grep -qi -- "$pat" "$T/err"; then ok "$name"; else nok "$name" "rc=$rc err=$err"; fi
}

# A 64 KiB region with a known pattern.
R=$T/region
head -c 65536 /dev/urandom >"$R"
cp "$R" "$T/orig"

run "$IVSHMEM" read "file:$R"
check "read whole region" cmp -s "$T/out" "$R"
run "$IVSHMEM" read "file:$R" --offset 0x100 --length 1K
dd if="$R" of="$T/want" bs=256 skip=1 count=4 2>/dev/null
check "read --offset 0x100 --length 1K" cmp -s "$T/out" "$T/want"
run "$IVSHMEM" read "file:$R" --offset 64K
check "read at the very end gives nothing" test "$rc" -eq 0 -a ! -s "$T/out"

printf 'hello' >"$T/in"
runin "$T/in" "$IVSHMEM" write "file:$R" --offset 4096
run "$IVSHMEM" read "file:$R" --offset 4096 --length 5
check "write then read back" test "$rc" -eq 0 -a "$(cat "$T/out")" = hello
cp "$R" "$T/before"
head -c 10 /dev/zero >"$T/in10"
runin "$T/in10" "$IVSHMEM" write "file:$R" --offset 65530
if one_line_error && grep -q "nothing was written" "$T/err" && cmp -s "$R" "$T/before"; then
	ok "write past the end refused, memory untouched"
else nok "write past the end refused, memory untouched" "rc=$rc err=$err"; fi
head -c 6 /dev/zero >"$T/in6"
runin "$T/in6" "$IVSHMEM" write "file:$R" --offset 65530
check "write ending exactly at the end" test "$rc" -eq 0
expect_error "offset beyond region" "outside" "$IVSHMEM" write "file:$R" --offset 1M
expect_error "read range beyond region" "outside" "$IVSHMEM" read "file:$R" --offset 60K --length 8K

run "$IVSHMEM" info "file:$R"
check "info names backend and size" grep -q "backend: *file" "$T/out"
check "info shows shm size" grep -q "65536" "$T/out"
run "$IVSHMEM" info "file:$R" --json
check "info --json parses" python3 -c "import json,sys; d=json.load(open('$T/out')); assert d['shm_size']==65536 and d['backend']=='file'"

# Bad input: one line, exit 1, cause and way out.
expect_error "no command" "no command" "$IVSHMEM"
expect_error "unknown command" "unknown command" "$IVSHMEM" frobnicate
expect_error "bad offset" "not a number" "$IVSHMEM" read "file:$R" --offset 12Q
expect_error "negative offset" "not a number" "$IVSHMEM" read "file:$R" --offset -1
expect_error "huge offset" "too large" "$IVSHMEM" read "file:$R" --offset 99999999999999999999
expect_error "unknown option" "unknown" "$IVSHMEM" read "file:$R" --bogus
expect_error "bad backend" "backend" "$IVSHMEM" info "file:$R" --backend nope
expect_error "bad cache" "cache" "$IVSHMEM" info "file:$R" --cache xx
expect_error "missing file" "no such" "$IVSHMEM" read "file:$T/nope"
: >"$T/empty"
expect_error "empty file" "empty" "$IVSHMEM" read "file:$T/empty"
expect_error "directory" "directory" "$IVSHMEM" read "file:$T"
expect_error "not a device" "not a device" "$IVSHMEM" read bogus
expect_error "missing DEV" "expected" "$IVSHMEM" read
expect_error "ring a file" "cannot ring" "$IVSHMEM" ring "file:$R" 1
expect_error "wait on a file" "no interrupts" "$IVSHMEM" wait "file:$R"
expect_error "ring bad peer" "peer" "$IVSHMEM" ring "file:$R" 70000
expect_error "wait bad timeout" "seconds" "$IVSHMEM" wait "file:$R" --timeout soon
expect_error "bind bad address" "not a PCI address" "$IVSHMEM" bind "zz:zz"
expect_error "empty file: prefix" "path" "$IVSHMEM" read "file:"

# Closed standard fds: the region file must not take their numbers (read
# would write the region into itself, write would read it as its input, an
# error message would land in it).
cp "$R" "$T/before"
"$IVSHMEM" read "file:$R" --offset 4096 >&- 2>"$T/err"; rc=$?
if one_line_error && grep -q "stdout.*closed" "$T/err" && cmp -s "$R" "$T/before"; then
	ok "read with stdout closed: error, region untouched"
else nok "read with stdout closed: error, region untouched" "rc=$rc err=$(cat "$T/err")"; fi
"$IVSHMEM" write "file:$R" --offset 4096 <&- >"$T/out" 2>"$T/err"; rc=$?
if one_line_error && grep -q "stdin is closed" "$T/err" && cmp -s "$R" "$T/before"; then
	ok "write with stdin closed: error, region untouched"
else nok "write with stdin closed: error, region untouched" "rc=$rc err=$(cat "$T/err")"; fi
"$IVSHMEM" write "file:$R" --offset 1M <"$T/in" >&- 2>&-; rc=$?
check "error with stdout and stderr closed: exit 1, region untouched" \
	sh -c "[ $rc -eq 1 ] && cmp -s '$R' '$T/before'"
"$IVSHMEM" info "file:$R" >&- 2>"$T/err"; rc=$?
check "info with stdout closed reports it" sh -c "[ $rc -eq 1 ] && grep -q 'stdout.*closed' '$T/err'"
if python3 -c 'import os; os.close(os.openpty()[0])' 2>/dev/null; then
	python3 - "$IVSHMEM" write "file:$R" >"$T/out" 2>"$T/err" <<'PY'
import os, subprocess, sys
m, s = os.openpty()
r = subprocess.run(sys.argv[1:], stdin=s, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10)
sys.stderr.buffer.write(r.stderr)
sys.exit(r.returncode)
PY
	rc=$?
	if one_line_error && grep -q "terminal" "$T/err" && cmp -s "$R" "$T/before"; then
		ok "write with stdin a terminal refuses"
	else nok "write with stdin a terminal refuses" "rc=$rc err=$(cat "$T/err")"; fi
else
	ok "write with stdin a terminal refuses # SKIP no pty"
fi

# A FIFO or a device is not a region, and opening one must not block.
mkfifo "$T/fifo" && chmod 444 "$T/fifo"
expect_error "file: on a FIFO" "not a regular file" timeout 10 "$IVSHMEM" info "file:$T/fifo"
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
	chmod 755 "$T"
	expect_error "file: on a read-only FIFO does not hang" "not a regular file" \
		timeout 10 setpriv --reuid=65534 --regid=65534 --clear-groups "$IVSHMEM" info "file:$T/fifo"
	chmod 700 "$T"
else
	ok "file: on a read-only FIFO does not hang # SKIP needs root and setpriv"
fi

# A reader that stops early: quiet exit 0, whether SIGPIPE is ignored or not.
BIG=$T/big
head -c 4194304 /dev/zero >"$BIG"
for how in default ignored; do
	if [ $how = ignored ]; then trap '' PIPE; fi
	{ "$IVSHMEM" read "file:$BIG" 2>"$T/err"; echo $? >"$T/rc"; } | head -c 10 >/dev/null
	trap - PIPE
	rc=$(cat "$T/rc")
	check "read | head -c 10 exits quietly (SIGPIPE $how)" sh -c "[ $rc -eq 0 ] && [ ! -s '$T/err' ]"
done

# Numbers: decimal unless 0x (no octal), no blanks; DEV anywhere among options.
run "$IVSHMEM" read --offset 010 --length 0x4 "file:$R"
dd if="$R" of="$T/want" bs=1 skip=10 count=4 2>/dev/null
check "offset 010 is ten, DEV after the options" cmp -s "$T/out" "$T/want"
run "$IVSHMEM" read --length 08 "file:$R" --offset 1K
dd if="$R" of="$T/want" bs=1 skip=1024 count=8 2>/dev/null
check "length 08 is eight, DEV between options" cmp -s "$T/out" "$T/want"
run env POSIXLY_CORRECT=1 "$IVSHMEM" read "file:$R" --offset 0x100 --length 1K
dd if="$R" of="$T/want" bs=256 skip=1 count=4 2>/dev/null
check "options after DEV even with POSIXLY_CORRECT" cmp -s "$T/out" "$T/want"
expect_error "offset with a leading blank" "not a number" "$IVSHMEM" read "file:$R" --offset " 5"
expect_error "offset with a trailing blank" "not a number" "$IVSHMEM" read "file:$R" --offset "5 "
expect_error "offset 0x" "not a number" "$IVSHMEM" read "file:$R" --offset 0x
expect_error "offset 1K1" "not a number" "$IVSHMEM" read "file:$R" --offset 1K1
expect_error "timeout beyond what an int of ms holds" "seconds up to" \
	"$IVSHMEM" wait "file:$R" --timeout 3000000

# --json stays valid JSON for any path: quotes, backslashes, control bytes,
# bytes that are not UTF-8 (shown as U+FFFD).
W=$(printf '%s/we"ird\\na\tme\377\303\251' "$T")
cp "$R" "$W"
run "$IVSHMEM" info --json "file:$W"
check "info --json with an odd path" python3 -c "
import json
d = json.loads(open('$T/out', 'rb').read())
dev = d['device']
assert dev.startswith('file:') and dev.endswith('we\"ird\\\\na\tme\ufffd\u00e9'), repr(dev)
"

# Fake sysfs trees: list, auto, and a non-IVSHMEM device.
S=$T/sys
export IVSHMEM_SYSFS_ROOT=$S # the library's one test seam: a fake tree for /sys
mkdev() { # addr vendor device revision bar2size
	d=$S/bus/pci/devices/$1; mkdir -p "$d"
	echo "$2" >"$d/vendor"; echo "$3" >"$d/device"; echo "$4" >"$d/revision"
	echo 0x050000 >"$d/class"
	{
		echo "0x00000000fea00000 0x00000000fea000ff 0x0000000000040200"
		echo "0x0000000000000000 0x0000000000000000 0x0000000000000000"
		printf '0x0000000800000000 0x%016x 0x000000000014220c\n' $((0x800000000 + $5 - 1))
		for i in 3 4 5; do echo "0x0000000000000000 0x0000000000000000 0x0000000000000000"; done
	} >"$d/resource"
	head -c 256 /dev/zero >"$d/resource0"
	head -c "$5" /dev/zero >"$d/resource2"
}
mkdev 0000:00:04.0 0x1af4 0x1110 0x01 1048576
mkdev 0000:00:05.0 0x8086 0x100e 0x03 4096
run "$IVSHMEM" list
check "list shows the IVSHMEM device only" sh -c "grep -q '^0000:00:04.0 rev 1 shm 1048576' '$T/out' && ! grep -q 00:05.0 '$T/out'"
run "$IVSHMEM" list --json
check "list --json" python3 -c "import json; d=json.load(open('$T/out')); assert d[0]['address']=='0000:00:04.0' and d[0]['shm_size']==1048576 and len(d)==1"
run "$IVSHMEM" info auto --backend sysfs
check "info auto on a fake tree (sysfs backend)" grep -q "backend: *sysfs" "$T/out"
expect_error "not an IVSHMEM device" "not an IVSHMEM device" "$IVSHMEM" info 00:05.0
expect_error "no such PCI device" "no such PCI device" "$IVSHMEM" info 00:09.0
expect_error "vfio backend, not bound" "ivshmem bind" "$IVSHMEM" info 00:04.0 --backend vfio
expect_error "bind refuses a non-IVSHMEM device" "not an IVSHMEM device.*--force" "$IVSHMEM" bind 00:05.0
expect_error "bind a missing device" "no such PCI device" "$IVSHMEM" bind 00:1f.0
expect_error "cache mode a file can't give" "cache mode uc is not available" "$IVSHMEM" info "file:$R" --cache uc
expect_error "read offset beyond the region" "offset 5242880 is outside" "$IVSHMEM" read "file:$R" --offset 5M
mkdev 0000:00:06.0 0x1af4 0x1110 0x01 4096
expect_error "auto with two devices names them" "00:04.0, 0000:00:06.0" "$IVSHMEM" info auto
rm -rf "$S/bus/pci/devices/"*
expect_error "auto with no device" "no IVSHMEM device" "$IVSHMEM" info auto
expect_error "--sysfs-root is gone (IVSHMEM_SYSFS_ROOT replaces it)" "option .--sysfs-root. is unknown" "$IVSHMEM" list --sysfs-root "$S"
unset IVSHMEM_SYSFS_ROOT
expect_error "a relative IVSHMEM_SYSFS_ROOT is refused, not taken for /sys" "IVSHMEM_SYSFS_ROOT=fake/sys is not an absolute path" \
	env IVSHMEM_SYSFS_ROOT=fake/sys "$IVSHMEM" list

# Large regions (users hit a 2 GiB limit elsewhere): a sparse 5 GiB file.
BIG=$T/big
if truncate -s 5G "$BIG" 2>/dev/null; then
	printf 'beyond-4G' >"$T/in9"
	runin "$T/in9" "$IVSHMEM" write "file:$BIG" --offset 0x100000010
	run "$IVSHMEM" read "file:$BIG" --offset 4294967312 --length 9
	check "5 GiB region: write and read back past 4 GiB" test "$rc" -eq 0 -a "$(cat "$T/out")" = beyond-4G
	run "$IVSHMEM" read "file:$BIG" --offset 5368709116 --length 4
	check "5 GiB region: read the last bytes" test "$rc" -eq 0 -a "$(wc -c <"$T/out")" -eq 4
	run "$IVSHMEM" info "file:$BIG" --json
	check "5 GiB region: info reports its size" python3 -c "import json; assert json.load(open('$T/out'))['shm_size']==5<<30"
	rm -f "$BIG"
fi

echo "1..$n"
[ "$failed" -eq 0 ]
