#!/bin/bash
# tests/guest/run.sh [BUILD_DIR] [--bin PATH]... [SCENARIO]...
#
# Guest test rig: boots QEMU guests (Debian's kernel + a busybox initramfs)
# with IVSHMEM devices and runs the project's CLI inside them.  Prints TAP on
# stdout (meson: protocol 'tap'); diagnostics go to stderr.
#
#   BUILD_DIR   meson build dir (default: build); the CLI is BUILD_DIR/src/cli/ivshmem
#   --bin PATH  extra program to put in the guest as /bin/NAME (with its
#               shared libraries); also $IVSHMEM_GUEST_BINS (space-separated)
#   SCENARIO    which scenarios to run (default: all, see SCENARIOS below;
#               also $IVSHMEM_GUEST_SCENARIOS)
#
# Environment: IVSHMEM_GUEST_CACHE (kernel cache, default BUILD_DIR/guest-cache),
# IVSHMEM_GUEST_ACCEL=kvm|tcg (default: kvm only if a KVM guest really boots),
# IVSHMEM_GUEST_TIMEOUT (seconds per guest, default 120),
# IVSHMEM_GUEST_REQUIRE=1 (or CI=true as root): a missing QEMU/kernel is a
# failure ("Bail out!") instead of "1..0 # SKIP".
#
# Files: BUILD_DIR/guest-tests/<scenario>/  console.log (serial console and
# QEMU messages), initrd/ (the unpacked initramfs tree), env, shm.* files.
#
# Structure
# ---------
#   lib.sh        host helpers (TAP, kernel/QEMU discovery, initramfs building,
#                 booting, turning the guest's console lines into TAP)
#   guest-lib.sh  helpers for the guest scripts (/test/lib.sh in the guest):
#                 check/expect/capture print GUEST-OK NAME, GUEST-FAIL NAME:
#                 DETAIL, GUEST-CAP NAME LINE on the console
#   guest-*.sh    guest scripts (/test/main.sh); each lists the checks it
#                 reports in "#@check NAME [TAGS]" lines, so that a guest that
#                 dies early still yields "not ok" for everything it missed
#   run.sh        this file: one shell function scenario_NAME per scenario
#
# A scenario function:
#   1. prepares host resources (shared-memory files in /dev/shm, later an
#      ivshmem server socket for doorbell devices),
#   2. builds an initramfs with scenario_initrd (busybox, the CLI and --bin
#      programs, kernel modules, a guest script and its /test/env),
#   3. boots it with guest_boot (add QEMU args: machine, devices),
#   4. reports the guest's checks with guest_collect, then does host-side
#      checks (tap_ok / tap_not_ok) on files the guest changed or on captured
#      output (guest_capture).
# To add one: write scenario_foo (and a guest-foo.sh if needed), add foo to
# SCENARIOS.  Two VMs at once: build two initrds, start guest_boot for each in
# the background (&), wait for both, then collect each console log.  A doorbell
# device: start the server (e.g. `ivshmem server -S SOCK ...` from the build)
# in the background before booting, pass
#   -chardev socket,path=SOCK,id=ivs -device ivshmem-doorbell,chardev=ivs,vectors=N
# and kill the server by its PID afterwards.
set -u

RIG_DIR=$(cd "$(dirname "$0")" && pwd)
SRC_DIR=$(cd "$RIG_DIR/../.." && pwd)
. "$RIG_DIR/lib.sh"

SCENARIOS="sysfs vfio"

# ------------------------------------------------------------- args ----
BUILD_DIR=build
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ] && [ -d "$1" ]; then BUILD_DIR=$1; shift; fi
EXTRA_BINS=${IVSHMEM_GUEST_BINS:-}
want=${IVSHMEM_GUEST_SCENARIOS:-}
while [ $# -gt 0 ]; do
	case $1 in
	--bin) EXTRA_BINS="$EXTRA_BINS $2"; shift 2 ;;
	--bin=*) EXTRA_BINS="$EXTRA_BINS ${1#--bin=}"; shift ;;
	-h|--help) sed -n '2,/^set -u/p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) want="$want $1"; shift ;;
	esac
done
[ -n "${want// /}" ] && SCENARIOS=$want
BUILD_DIR=$(cd "$BUILD_DIR" 2>/dev/null && pwd) || { echo "Bail out! no build dir"; exit 1; }
CLI=$BUILD_DIR/src/cli/ivshmem
WORK=$BUILD_DIR/guest-tests
GUEST_TIMEOUT=${IVSHMEM_GUEST_TIMEOUT:-120}

required() {
	[ "${IVSHMEM_GUEST_REQUIRE:-0}" = 1 ] && return 0
	[ "${CI:-}" = true ] && [ "$(id -u)" = 0 ] && return 0
	return 1
}
skip_all() {
	if required; then echo "Bail out! $*"; exit 1; fi
	echo "1..0 # SKIP $*"
	exit 0
}

[ -x "$CLI" ] || skip_all "CLI not built: $CLI"
rig_setup "$SRC_DIR" "$BUILD_DIR" || skip_all "$RIG_SKIP"
mkdir -p "$WORK"
rig_pick_accel "$WORK"
g_log "kernel $RIG_VMLINUZ, accel $RIG_ACCEL, qemu $RIG_QEMU"
tap_diag "guest kernel $RIG_KVER, accel $RIG_ACCEL"

SHM_FILES=
cleanup() { [ -n "$SHM_FILES" ] && rm -f $SHM_FILES; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------ scenario kit ----
# scenario_initrd DIR GUEST_SCRIPT MODULE...: DIR/initrd tree and
# DIR/initrd.cpio.gz with busybox, the CLI, the extra programs, the modules
# and the guest script.  Write DIR/initrd/test/env before calling to pass
# variables (it's packed here).  Extra files: put them in DIR/initrd first
# (after initrd_new) - or add them and call initrd_pack again.
scenario_initrd() {
	_dir=$1 _script=$2; shift 2
	initrd_new "$_dir/initrd.new"
	[ -f "$_dir/env" ] && cp "$_dir/env" "$_dir/initrd.new/test/env"
	initrd_add_bin "$_dir/initrd.new" "$CLI" ivshmem || return 1
	for _b in $EXTRA_BINS; do initrd_add_bin "$_dir/initrd.new" "$_b" || return 1; done
	initrd_add_modules "$_dir/initrd.new" "$@" || return 1
	initrd_write_init "$_dir/initrd.new" "$_script"
	rm -rf "$_dir/initrd"
	mv "$_dir/initrd.new" "$_dir/initrd"
	initrd_pack "$_dir/initrd" "$_dir/initrd.cpio.gz"
}

# checks_of SCRIPT TAG...: check names from "#@check NAME [TAGS]" lines
# that have no tags or one of TAG.
checks_of() {
	_s=$1; shift
	sed -n 's/^#@check[[:space:]]\{1,\}//p' "$_s" | while read -r _name _tags; do
		if [ -z "$_tags" ]; then echo "$_name"; continue; fi
		for _t in $_tags; do
			case " $* " in *" $_t "*) echo "$_name"; break ;; esac
		done
	done
}

# shm_file VAR NAME SIZE: a new shared-memory file in /dev/shm with random
# content, its path in VAR; removed when run.sh exits.  (Not used as $(...):
# SHM_FILES must be updated in this shell.)
shm_file() {
	local _f=/dev/shm/ivshmem-guest-$$-$2
	SHM_FILES="$SHM_FILES $_f"
	shm_create "$_f" "$3"
	printf -v "$1" '%s' "$_f"
}

# patch FILE OFFSET STRING: write STRING into FILE at OFFSET (no truncation)
patch() { printf '%s' "$3" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none; }

VFIO_MODULES="irqbypass vfio vfio_iommu_type1 ?vfio_virqfd vfio-pci-core vfio-pci"

# ----------------------------------------------- plain-device scenarios ----
# plain_scenario NAME BACKEND DO_BIND APPEND MODULES QEMU-MACHINE-ARGS...
# One ivshmem-plain device with 4 MiB; the guest runs guest-plain.sh.
plain_scenario() {
	local name=$1 backend=$2 bind=$3 append=$4 modules=$5; shift 5
	local dir=$WORK/$name size=$((4 << 20)) t0 rc
	local script=$RIG_DIR/guest-plain.sh
	rm -rf "$dir"; mkdir -p "$dir"
	local shm; shm_file shm "$name" $size
	cp "$shm" "$dir/shm.orig"
	local mark="GUEST-MARK-$name-$$" mark_off=$((1 << 20)) end_mark="ENDMARK!"
	local slice_off=$((4096 + 123)) slice_len=100000
	cat >"$dir/env" <<-EOF
	BACKEND=$backend
	DO_BIND=$bind
	SHM_SIZE=$size
	MD5_FULL=$(shm_md5 "$shm")
	MD5_HEAD=$(shm_md5 "$shm" 0 4096)
	SLICE_OFF=$slice_off
	SLICE_LEN=$slice_len
	MD5_SLICE=$(shm_md5 "$shm" $slice_off $slice_len)
	MARK=$mark
	MARK_OFF=$mark_off
	END_MARK=$end_mark
	EOF
	if ! scenario_initrd "$dir" "$script" $modules; then
		for c in $(checks_of "$script" "$backend"); do tap_not_ok "$name: $c # initramfs not built"; done
		return
	fi
	t0=$(date +%s)
	guest_boot "$dir/console.log" "$GUEST_TIMEOUT" "$dir/initrd.cpio.gz" "$append" \
		"$@" \
		-object memory-backend-file,id=hm,size=$size,share=on,mem-path=$shm \
		-device ivshmem-plain,memdev=hm
	rc=$?
	tap_diag "$name: guest ran $(($(date +%s) - t0)) s (qemu status $rc), log $dir/console.log"
	local modchecks=
	for m in $modules; do
		case $m in \?*) grep -q "^GUEST-OK modprobe:${m#?}\$" "$dir/console.log" &&
			modchecks="$modchecks modprobe:${m#?}" ;; *) modchecks="$modchecks modprobe:$m" ;; esac
	done
	local before=$TAP_FAILED
	guest_collect "$dir/console.log" "$name: " $modchecks $(checks_of "$script" "$backend")

	# ---- host side: JSON the guest captured
	local dev drv
	dev=$(sed -n 's/^GUEST-INFO device \([^ ]*\).*/\1/p' "$dir/console.log" | head -n 1)
	drv=$([ "$bind" = 1 ] && echo vfio-pci || echo none)
	guest_capture "$dir/console.log" list-json >"$dir/list.json"
	guest_capture "$dir/console.log" info-json >"$dir/info.json"
	host_json_check "$name: host: list --json is valid and describes the device" "$dir/list.json" '
assert isinstance(d, list), "not a list"
m = [x for x in d if x.get("address") == dev]
assert len(m) == 1, "no entry with address %r" % dev
x = m[0]
assert x.get("shm_size") == size, "shm_size %r" % x.get("shm_size")
assert x.get("driver") == drv, "driver %r, want %r" % (x.get("driver"), drv)
assert x.get("revision") == 1, "revision %r" % x.get("revision")
' "$dev" "$size" "$drv" "$backend"
	host_json_check "$name: host: info --json is valid and describes the device" "$dir/info.json" '
assert isinstance(d, dict), "not an object"
assert d.get("backend") == backend, "backend %r" % d.get("backend")
assert d.get("shm_size") == size, "shm_size %r" % d.get("shm_size")
bars = {b["index"]: b for b in d.get("bars", [])}
assert 2 in bars and bars[2]["size"] == size, "bar2 %r" % bars.get(2)
assert 0 in bars and bars[0]["size"] == 256, "bar0 %r" % bars.get(0)
if backend == "vfio":
    assert d.get("cache") == "uc", "cache %r" % d.get("cache")
' "$dev" "$size" "$drv" "$backend"

	# ---- host side: what the guest wrote (and did not write)
	local got
	got=$(dd if="$shm" bs=1 skip=$mark_off count=${#mark} status=none)
	if [ "$got" = "$mark" ]; then tap_ok "$name: host: sees the guest's marker at $mark_off"
	else tap_not_ok "$name: host: sees the guest's marker at $mark_off"; tap_diag "  got '$got'"; fi
	got=$(dd if="$shm" bs=1 skip=$((size - 8)) count=8 status=none)
	if [ "$got" = "$end_mark" ]; then tap_ok "$name: host: sees the write at the last 8 bytes"
	else tap_not_ok "$name: host: sees the write at the last 8 bytes"; tap_diag "  got '$got'"; fi
	cp "$dir/shm.orig" "$dir/shm.expect"
	patch "$dir/shm.expect" $mark_off "$mark"
	patch "$dir/shm.expect" $((size - 8)) "$end_mark"
	if cmp -s "$dir/shm.expect" "$shm"; then
		tap_ok "$name: host: no other byte changed (refused writes left memory untouched)"
	else
		tap_not_ok "$name: host: no other byte changed (refused writes left memory untouched)"
		cmp -l "$dir/shm.expect" "$shm" 2>&1 | head -n 5 | sed 's/^/#   differs (offset+1, want, got octal): /'
	fi
	cp "$shm" "$dir/shm.after"
	if [ $TAP_FAILED -gt $before ]; then
		tap_diag "$name: end of the console log:"
		guest_tail "$dir/console.log" 30
	fi
}

# host_json_check NAME FILE PYTHON-BODY DEV SIZE DRV BACKEND: d is the parsed
# document; the body asserts.
host_json_check() {
	local name=$1 file=$2 body=$3; shift 3
	if [ ! -s "$file" ]; then tap_not_ok "$name # guest captured nothing"; return; fi
	if ! python3 -c pass 2>/dev/null; then
		if json_valid "$file"; then tap_ok "$name # crude check: no python3"
		else tap_not_ok "$name"; fi
		return
	fi
	local out
	if out=$(python3 -c '
import json, sys
dev, size, drv, backend = sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
try:
    d = json.load(open(sys.argv[1]))
except ValueError as e:
    sys.exit("invalid JSON: %s" % e)
try:
    exec(sys.argv[6])
except AssertionError as e:
    sys.exit(str(e))
' "$file" "$@" "$body" 2>&1); then
		tap_ok "$name"
	else
		tap_not_ok "$name"
		tap_diag "  $out"
		sed 's/^/#   json: /' "$file" | head -n 5
	fi
}

# sysfs backend on the i440fx machine (no IOMMU): resourceN mmap
scenario_sysfs() {
	plain_scenario sysfs sysfs 0 "" "" -M pc
}

# VFIO backend: q35 + intel-iommu (interrupt remapping needs the split irqchip
# under TCG too), the guest binds the device to vfio-pci with `ivshmem bind`
scenario_vfio() {
	plain_scenario vfio vfio 1 "intel_iommu=on" "$VFIO_MODULES" \
		-M q35,kernel-irqchip=split -device intel-iommu,intremap=on
}

# ------------------------------------------------------------- main ----
T_ALL=$(date +%s)
for s in $SCENARIOS; do
	if ! declare -F "scenario_$s" >/dev/null; then
		tap_not_ok "unknown scenario '$s'"
		continue
	fi
	"scenario_$s"
done
tap_diag "all scenarios: $(($(date +%s) - T_ALL)) s"
tap_plan
[ $TAP_FAILED -eq 0 ]
