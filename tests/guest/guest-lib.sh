# guest-lib.sh: sourced by the guest test scripts inside the VM (busybox sh).
# Installed as /test/lib.sh by tests/guest/lib.sh:initrd_write_init.
#
# Protocol on the console (parsed by the host, see lib.sh):
#   GUEST-OK NAME                 check NAME passed
#   GUEST-FAIL NAME: DETAIL       check NAME failed
#   GUEST-DETAIL NAME: LINE       extra lines shown under a failed check
#   GUEST-CAP NAME LINE           captured stdout, checked on the host
# NAME: no spaces, no colons.

ok() { echo "GUEST-OK $1"; }
# printable: one line of printable ASCII (anything else becomes '.')
printable() { printf '%s' "$*" | tr -c ' -~' '.' | head -c 400; }
fail() {
	_n=$1; shift
	echo "GUEST-FAIL $_n: $(printable "$*")"
}
# detail NAME FILE [N]: FILE's first N (15) lines as GUEST-DETAIL lines
detail() {
	head -n "${3:-15}" "$2" | while IFS= read -r _l; do echo "GUEST-DETAIL $1: $(printable "$_l")"; done
}

# run NAME CMD...: run CMD, stdout to /tmp/NAME.out, stderr to /tmp/NAME.err,
# status in $RC.  Prints nothing.
run() {
	_n=$1; shift
	"$@" >/tmp/$_n.out 2>/tmp/$_n.err
	RC=$?
}

# check NAME CMD...: ok if CMD exits 0; otherwise fail with its status and
# output.
check() {
	_n=$1; shift
	run "$_n" "$@"
	if [ $RC -eq 0 ]; then ok "$_n"; return 0; fi
	fail "$_n" "exit $RC: $*"
	detail "$_n" /tmp/$_n.err
	detail "$_n" /tmp/$_n.out
	return 1
}

# capture NAME CMD...: run CMD and print its stdout as GUEST-CAP NAME lines,
# then GUEST-CAP-RC NAME RC.  Returns CMD's status.
capture() {
	_n=$1; shift
	run "$_n" "$@"
	while IFS= read -r _l || [ -n "$_l" ]; do echo "GUEST-CAP $_n $_l"; done </tmp/$_n.out
	echo "GUEST-CAP-RC $_n $RC"
	if [ -s /tmp/$_n.err ]; then
		while IFS= read -r _l; do echo "GUEST-CAP-ERR $_n $_l"; done </tmp/$_n.err
	fi
	return $RC
}

# expect NAME COND-DESCRIPTION TEST...: ok if the shell test succeeds.
expect() {
	_n=$1 _d=$2; shift 2
	if "$@"; then ok "$_n"; else fail "$_n" "$_d"; fi
}

# find_ivshmem: PCI addresses of all IVSHMEM devices (1af4:1110), from sysfs,
# independent of the code under test.
find_ivshmem() {
	for _d in /sys/bus/pci/devices/*; do
		[ "$(cat $_d/vendor)" = 0x1af4 ] && [ "$(cat $_d/device)" = 0x1110 ] &&
			basename $_d
	done
}

# pci_driver ADDR: the bound driver's name, or "none"
pci_driver() {
	if [ -e /sys/bus/pci/devices/$1/driver ]; then
		basename "$(readlink /sys/bus/pci/devices/$1/driver)"
	else
		echo none
	fi
}

# md5_of CMD...: md5 of CMD's stdout ("" if CMD fails)
md5_of() {
	"$@" >/tmp/md5_of.bin 2>/tmp/md5_of.err || { echo "failed-rc-$?"; return 1; }
	md5sum </tmp/md5_of.bin | cut -d' ' -f1
}
