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
#   libvirt.sh    the libvirt scenario's helpers: libvirtd started and
#                 stopped, the domain XML, booting through virsh
#   runas.c       /bin/runas UID GID GROUPS -- CMD in the guest (daemon
#                 scenario: unprivileged users); built by meson, passed with
#                 --bin (run.sh also looks for BUILD_DIR/tests/guest/runas)
#   bar-rw.c      /bin/bar-rw in the guest: register access without mmap
#                 (ivshmem_pci_bar_read/_write; sysfs, vfio, doorbell
#                 scenarios); built by meson, passed with --bin (run.sh also
#                 looks for BUILD_DIR/tests/guest/bar-rw)
#
# Scenarios (guest script):
#   sysfs, vfio    ivshmem-plain, sysfs backend (pc) / vfio (q35+intel-iommu);
#                  also bar-rw plain: BAR access without mmap (guest-plain.sh)
#   doorbell       ivshmem-doorbell on `ivshmem server -M`; host peers and the
#                  guest ring each other both ways, vectors kept apart, sysfs
#                  can ring but not wait; bar-rw doorbell rings a third host
#                  peer with a bar_write to the Doorbell register
#                  (guest-doorbell.sh)
#   doorbell2      two VMs on one server (-m DIR) ring each other both ways
#                  (guest-doorbell2.sh)
#   daemon         `ivshmem daemon` in the guest serves the vfio-bound doorbell
#                  device to users by group; read-only, exclusive, interrupts
#                  to two clients (guest-daemon.sh)
#   chan           channels guest <-> host on ivshmem-plain, polling
#   chan-doorbell  the same on ivshmem-doorbell + vfio, woken by doorbells
#                  (guest-chan.sh)
#   topic          topics (one publisher, many subscribers) between two VMs
#                  and the host on one region: A on ivshmem-doorbell + vfio
#                  (woken by doorbells), B on ivshmem-plain of the same
#                  /dev/shm object (polls); host -> both guests, A -> two
#                  host subscribers; a latest-mode topic the host keeps
#                  publishing to, B reading it read-only (passive)
#                  (guest-topic.sh; logs in topic-a/, topic-b/)
#   libvirt        doorbell's guest and checks, the VM started by Debian's
#                  libvirtd (a session daemon the test starts) from the
#                  devices of docs/libvirt.md's complete domain (libvirt.sh)
#   python         a Python consumer and producer in the guest (Debian's
#                  python3 and the binding, on ivshmem-plain, sysfs) against
#                  the host's C CLI over channels and the memory
#                  (guest-python.sh, guest-python.py)
#   udev           the installed udev rule under the real systemd-udevd: the
#                  device a local rule asks for is bound to vfio-pci (the
#                  rule loads it) and wants its daemon's socket; another is
#                  left alone (guest-udev.sh)
# Host <-> guest coordination while a VM runs goes through the shared memory:
# the guest writes a request into a field, the host (polling the /dev/shm
# file) acknowledges it in another field and acts (see phase_ringer).
#
# A scenario function:
#   1. prepares host resources (shared-memory files in /dev/shm, an ivshmem
#      server with server_start for doorbell devices),
#   2. builds an initramfs with scenario_initrd (busybox, the CLI and --bin
#      programs, kernel modules, a guest script and its /test/env),
#   3. boots it with guest_boot (add QEMU args: machine, devices),
#   4. reports the guest's checks with guest_collect, then does host-side
#      checks (tap_ok / tap_not_ok) on files the guest changed or on captured
#      output (guest_capture).
# To add one: write scenario_foo (and a guest-foo.sh if needed), add foo to
# SCENARIOS.  Two VMs at once: build two initrds, start guest_boot for each in
# the background (&), wait for both, then collect each console log.  A doorbell
# device: server_start DIR -M NAME -l SIZE -n N before booting, pass
#   -chardev socket,path=$SERVER_SOCK,id=ivs -device ivshmem-doorbell,chardev=ivs,vectors=N
# (with q35 + intel-iommu for vfio: $DOORBELL_QEMU_MACHINE), find QEMU's peer
# ID with new_peer, and end with server_stop.  Background processes go
# through bg (killed by the EXIT trap) and reap (bounded wait, then kill).
set -u

RIG_DIR=$(cd "$(dirname "$0")" && pwd)
SRC_DIR=$(cd "$RIG_DIR/../.." && pwd)
. "$RIG_DIR/lib.sh"
. "$RIG_DIR/libvirt.sh"

SCENARIOS="sysfs vfio doorbell doorbell2 daemon chan chan-doorbell topic python udev libvirt"

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
# /bin/bar-rw for the plain and doorbell scenarios, if not given with --bin
case " $EXTRA_BINS " in
*/bar-rw\ *) ;;
*) [ -x "$BUILD_DIR/tests/guest/bar-rw" ] && EXTRA_BINS="$EXTRA_BINS $BUILD_DIR/tests/guest/bar-rw" ;;
esac
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

[ -x "$CLI" ] || { echo "Bail out! the CLI is not built: $CLI (a build failure, not a missing tool)"; exit 1; }
rig_setup "$SRC_DIR" "$BUILD_DIR" || skip_all "$RIG_SKIP"
mkdir -p "$WORK"
rig_pick_accel "$WORK"
g_log "kernel $RIG_VMLINUZ, accel $RIG_ACCEL, qemu $RIG_QEMU"
tap_diag "guest kernel $RIG_KVER, accel $RIG_ACCEL"

SHM_FILES=
BG_PIDS=
cleanup() {
	# what this script started (servers, host peers, VMs, libvirtd) and
	# made; files first: after a signal meson waits 0.5 s, then kills us;
	# a signal while we clean up makes the rest fast
	trap 'CLEANUP_FAST=1' INT TERM HUP
	local p
	[ -n "$SHM_FILES" ] && rm -f $SHM_FILES
	[ -n "${SOCK_FILES:-}" ] && rm -f $SOCK_FILES
	libvirt_teardown
	for p in $BG_PIDS; do kill_tree "$p"; done
	for p in $BG_PIDS; do wait "$p" 2>/dev/null; done
}
trap cleanup EXIT
trap 'CLEANUP_FAST=1; exit 130' INT TERM
trap 'CLEANUP_FAST=1; exit 129' HUP

# ------------------------------------------------------ scenario kit ----
# scenario_initrd DIR GUEST_SCRIPT MODULE...: DIR/initrd tree and
# DIR/initrd.cpio.gz with busybox, the CLI, the extra programs, the modules
# and the guest script.  Write DIR/env before calling to pass variables
# (packed as /test/env), and put extra files under DIR/rootfs/.  Extra files: put them in DIR/initrd first
# (after initrd_new) - or add them and call initrd_pack again.
scenario_initrd() {
	_dir=$1 _script=$2; shift 2
	initrd_new "$_dir/initrd.new"
	[ -f "$_dir/env" ] && cp "$_dir/env" "$_dir/initrd.new/test/env"
	# DIR/rootfs/: extra files (e.g. /etc/passwd), copied over the tree
	[ -d "$_dir/rootfs" ] && cp -R "$_dir/rootfs/." "$_dir/initrd.new/"
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
	# bar-rw: host bytes it reads with bar_read, a marker it writes with
	# bar_write (unaligned: split into accesses of several widths)
	local rw_host_off=$(((3 << 20) + 1)) rw_mark="BAR-RW-MARK-$name-$$" rw_mark_off=$(((2 << 20) + 3))
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
	RW_HOST_OFF=$rw_host_off
	RW_HOST_HEX=$(shm_bytes "$shm" $rw_host_off 32)
	RW_MARK=$rw_mark
	RW_MARK_OFF=$rw_mark_off
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
	got=$(dd if="$shm" bs=1 skip=$rw_mark_off count=${#rw_mark} status=none)
	if [ "$got" = "$rw_mark" ]; then tap_ok "$name: host: sees bar-rw's bar_write marker at $rw_mark_off"
	else tap_not_ok "$name: host: sees bar-rw's bar_write marker at $rw_mark_off"; tap_diag "  got '$got'"; fi
	cp "$dir/shm.orig" "$dir/shm.expect"
	patch "$dir/shm.expect" $mark_off "$mark"
	patch "$dir/shm.expect" $rw_mark_off "$rw_mark"
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

# ---------------------------------------------------- doorbell kit ----
# kill_tree PID: PID and its descendants (a background guest_boot is a
# subshell running timeout running QEMU)
kill_tree() {
	local c
	for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do kill_tree "$c"; done
	kill "$1" 2>/dev/null
}
# bg PID: remember a background process for the EXIT trap
bg() { BG_PIDS="$BG_PIDS $1"; }
# reap PID [GRACE]: wait up to GRACE (5) seconds for PID to end by itself,
# then kill it; its status in $REAPED (or "killed")
reap() {
	local i=0 max=$((${2:-5} * 10))
	while kill -0 "$1" 2>/dev/null && [ $i -lt $max ]; do sleep 0.1; i=$((i + 1)); done
	if kill -0 "$1" 2>/dev/null; then
		kill_tree "$1"; wait "$1" 2>/dev/null; REAPED=killed
	else
		wait "$1"; REAPED=$?
	fi
	BG_PIDS=$(echo " $BG_PIDS " | sed "s/ $1 / /")
}

# server_start DIR SERVER-ARGS...: `ivshmem server -F -v -S SOCK ARGS` in
# the background, log in DIR/server.log; SERVER_SOCK, SERVER_PID.  Returns
# once `ivshmem peers` gets an answer (bounded: 10 s).
server_start() {
	local dir=$1 i=0; shift
	# a short path: sun_path holds 108 bytes, build dirs can be deep
	SERVER_SOCK=/tmp/ivshmem-guest-$$-$(basename "$dir").sock
	rm -f "$SERVER_SOCK"
	"$CLI" server -F -v -S "$SERVER_SOCK" "$@" >"$dir/server.log" 2>&1 &
	SERVER_PID=$!
	bg $SERVER_PID
	SOCK_FILES="${SOCK_FILES:-} $SERVER_SOCK"
	while [ $i -lt 100 ]; do
		[ -S "$SERVER_SOCK" ] && "$CLI" peers "server:$SERVER_SOCK" >/dev/null 2>&1 && return 0
		kill -0 $SERVER_PID 2>/dev/null || break
		sleep 0.1; i=$((i + 1))
	done
	return 1
}
# server_stop NAME SHMPATH: SIGTERM the server; ok if it exits 0 and leaves
# neither its socket nor SHMPATH ("" if it has none) behind
server_stop() {
	local name=$1 shm=$2 left=
	kill $SERVER_PID 2>/dev/null
	reap $SERVER_PID 10
	[ -e "$SERVER_SOCK" ] && left="$left $SERVER_SOCK"
	[ -n "$shm" ] && [ -e "$shm" ] && left="$left $shm"
	if [ "$REAPED" = 0 ] && [ -z "$left" ]; then
		tap_ok "$name: host: server exits 0 on SIGTERM, socket and shm removed"
	else
		tap_not_ok "$name: host: server exits 0 on SIGTERM, socket and shm removed"
		tap_diag "  status $REAPED, left behind:${left:- nothing}"
		tail -n 5 "$WORK/$name/server.log" | sed 's/^/#   server: /'
	fi
	rm -f "$SERVER_SOCK"
}
# peer_ids SOCK: the IDs of the server's peers (without the one asking)
peer_ids() {
	"$CLI" peers "server:$1" --json 2>/dev/null | sed -n 's/.*"peers":\[//p' |
		grep -o '"id":[0-9]*' | cut -d: -f2
}
# new_peer SOCK SECONDS WATCH_PID KNOWN...: wait (bounded) for a peer whose
# ID is not in KNOWN and print it; gives up early when WATCH_PID (if not "")
# is gone
new_peer() {
	local sock=$1 end=$(($(date +%s) + $2)) watch=$3 id; shift 3
	while [ "$(date +%s)" -lt $end ]; do
		for id in $(peer_ids "$sock"); do
			case " $* " in *" $id "*) ;; *) echo "$id"; return 0 ;; esac
		done
		[ -n "$watch" ] && ! kill -0 "$watch" 2>/dev/null && return 1
		sleep 0.2
	done
	return 1
}
# fail_all PREFIX REASON CHECK...: not ok for every CHECK
fail_all() {
	local pfx=$1 why=$2 c; shift 2
	for c in "$@"; do tap_not_ok "$pfx$c # $why"; done
}
# modchecks MODULE...: the modprobe:NAME checks the guest must report
modchecks() {
	local m
	for m in "$@"; do
		case $m in
		\?*) # optional: expected if this kernel has it
			m=${m#?}
			[ -n "$(find -L "$RIG_KDIR/lib/modules/$RIG_KVER/kernel" \
				-name "$(echo "$m" | sed 's/[-_]/[-_]/g').ko*" 2>/dev/null | head -n 1)" ] &&
				echo "modprobe:$m" ;;
		*) echo "modprobe:$m" ;;
		esac
	done
}
# shm_field FILE OFFSET: 8 bytes of FILE at OFFSET, NULs dropped
shm_field() { dd if="$1" bs=1 skip="$2" count=8 status=none | tr -d '\0'; }
# json_field FILE KEY: a number from a flat JSON object (no python needed)
json_field() { grep -o "\"$2\":[0-9]*" "$1" | head -n 1 | cut -d: -f2; }

# phase_ringer NAME SHM PHASE_OFF ACK_OFF SOCK GUEST_ID VM_PID ERRFILE:
# while VM_PID lives, every 0.3 s: read the guest's 8-byte phase field in
# the shared-memory file SHM, copy it to ACK_OFF when it changes, then ring
# GUEST_ID through server:SOCK as it says (PHASE-v0: vector 0, PHASE-v1:
# vector 1, anything else: nothing).  Counts in RING_N0 RING_N1 RING_BAD.
phase_ringer() {
	local name=$1 shm=$2 phase_off=$3 ack_off=$4 sock=$5 gid=$6 vm=$7 err=$8 ph last= v
	RING_N0=0 RING_N1=0 RING_BAD=0
	while kill -0 $vm 2>/dev/null; do
		ph=$(shm_field "$shm" $phase_off)
		if [ "$ph" != "$last" ]; then
			patch "$shm" $ack_off "$ph"; last=$ph
			g_log "$name: guest asks for $ph (rings so far: v0 $RING_N0, v1 $RING_N1)"
		fi
		case $ph in PHASE-v0) v=0 ;; PHASE-v1) v=1 ;; *) v= ;; esac
		if [ -n "$v" ] && [ -n "$gid" ]; then
			if "$CLI" ring "server:$sock" "$gid" $v 2>>"$err"; then
				[ $v = 0 ] && RING_N0=$((RING_N0 + 1)) || RING_N1=$((RING_N1 + 1))
			else
				RING_BAD=$((RING_BAD + 1))
			fi
		fi
		sleep 0.3
	done
}

DOORBELL_QEMU_MACHINE="-M q35,kernel-irqchip=split -device intel-iommu,intremap=on"

# ------------------------------------------------ doorbell scenarios ----
# doorbell_scenario NAME BOOT [SERVER-ARGS...]: one VM with an
# ivshmem-doorbell device (2 vectors) on `ivshmem server -M` (with
# SERVER-ARGS); three host peers wait (vector 0 and 1) from before boot; the
# host rings the guest as the guest's phase field in the shared memory asks
# (see guest-doorbell.sh), reading and acking it directly in /dev/shm/NAME.
# BOOT starts the VM: "BOOT prepare DIR SOCK" first (in this shell: it may
# report TAP lines; non-zero: no boot), then "BOOT run DIR SOCK" in the
# background, which boots DIR/initrd.cpio.gz with the device on the server
# at SOCK, leaves the console in DIR/console.log and returns once the VM is
# gone (124: it timed out), with what went wrong in DIR/boot.err.
doorbell_scenario() {
	local name=$1 boot=$2; shift 2
	local dir=$WORK/$name size=$((4 << 20)) rc t0
	local script=$RIG_DIR/guest-doorbell.sh
	local shmname=ivshmem-guest-$$-$name
	local shm=/dev/shm/$shmname phase_off=4096 ack_off=4104
	rm -rf "$dir"; mkdir -p "$dir"
	rm -f "$shm"; SHM_FILES="$SHM_FILES $shm"
	local checks="$(modchecks $VFIO_MODULES) $(checks_of "$script")"
	local hchecks="host: server started"
	if ! server_start "$dir" -M "$shmname" -l $size -n 2 "$@"; then
		fail_all "$name: " "server did not start" $hchecks $checks
		tail -n 5 "$dir/server.log" | sed 's/^/#   server: /'
		kill_tree $SERVER_PID; return
	fi
	tap_ok "$name: host: server started"
	local sock=$SERVER_SOCK

	# host peers waiting on vector 1 and vector 0, their IDs from the server
	"$CLI" wait "server:$sock" 1 --timeout 150 >"$dir/hostwait1.out" 2>"$dir/hostwait1.err" &
	local w1=$!; bg $w1
	local hp1; hp1=$(new_peer "$sock" 10 $w1)
	"$CLI" wait "server:$sock" 0 --timeout 150 >"$dir/hostwait0.out" 2>"$dir/hostwait0.err" &
	local w0=$!; bg $w0
	local hp0; hp0=$(new_peer "$sock" 10 $w0 $hp1)
	# a third one on vector 0 for bar-rw's ring (a bar_write to Doorbell)
	"$CLI" wait "server:$sock" 0 --timeout 150 >"$dir/hostwaitrw.out" 2>"$dir/hostwaitrw.err" &
	local wrw=$!; bg $wrw
	local hprw; hprw=$(new_peer "$sock" 10 $wrw $hp1 $hp0)
	if [ -n "$hp1" ] && [ -n "$hp0" ] && [ -n "$hprw" ]; then
		tap_ok "$name: host: three host peers connected (IDs $hp1 waits on vector 1, $hp0 and $hprw on vector 0)"
	else
		tap_not_ok "$name: host: three host peers connected"
		tap_diag "  IDs '$hp1' '$hp0' '$hprw'; peers: $("$CLI" peers "server:$sock" 2>&1 | tr '\n' ' ')"
	fi

	cat >"$dir/env" <<-EOF
	HOST_PEER_V1=${hp1:-0}
	HOST_PEER_V0=${hp0:-0}
	HOST_PEER_RW=${hprw:-0}
	VECTORS=2
	SHM_SIZE=$size
	PHASE_OFF=$phase_off
	ACK_OFF=$ack_off
	EOF
	if ! scenario_initrd "$dir" "$script" $VFIO_MODULES; then
		fail_all "$name: " "initramfs not built" $checks
		server_stop $name "$shm"; return
	fi
	if ! "$boot" prepare "$dir" "$sock"; then
		fail_all "$name: " "no VM to boot" $checks
		server_stop $name "$shm"; return
	fi
	t0=$(date +%s)
	rm -f "$dir/boot.err"
	"$boot" run "$dir" "$sock" &
	local vm=$!; bg $vm
	# QEMU connects to the server before the guest runs
	local gid; gid=$(new_peer "$sock" 60 $vm $hp1 $hp0 $hprw)
	if [ -n "$gid" ]; then tap_ok "$name: host: QEMU connected to the server (peer $gid)"
	else tap_not_ok "$name: host: QEMU connected to the server"; fi

	# ring the guest as its phase field says, until the VM is gone
	phase_ringer $name "$shm" $phase_off $ack_off "$sock" "$gid" $vm "$dir/ring.err"
	reap $vm 1; rc=$REAPED
	tap_diag "$name: guest ran $(($(date +%s) - t0)) s (qemu status $rc), log $dir/console.log;" \
		"host rang vector 0 $RING_N0 times, vector 1 $RING_N1 times, $RING_BAD failed"
	[ $RING_BAD -gt 0 ] && sed 's/^/#   ring: /' "$dir/ring.err" | sort | uniq -c | head -n 5
	local before=$TAP_FAILED
	guest_collect "$dir/console.log" "$name: " $checks

	# ---- host side
	guest_capture "$dir/console.log" info-json >"$dir/info.json"
	local pos vec
	pos=$(json_field "$dir/info.json" ivposition)
	vec=$(json_field "$dir/info.json" vectors)
	if [ -n "$gid" ] && [ "$pos" = "$gid" ]; then
		tap_ok "$name: host: guest's ivposition is the ID the server gave QEMU ($gid)"
	else
		tap_not_ok "$name: host: guest's ivposition is the ID the server gave QEMU"
		tap_diag "  guest says '$pos', server's peer list gave '$gid'"
	fi
	if [ "$vec" = 2 ]; then tap_ok "$name: host: guest's info --json shows 2 vectors"
	else tap_not_ok "$name: host: guest's info --json shows 2 vectors"; tap_diag "  vectors '$vec'"; fi
	json_valid "$dir/info.json" || tap_diag "  info --json is not valid JSON: $(head -c 300 "$dir/info.json")"

	local w v
	for w in 1 0; do
		eval "reap \$w$w 3"
		v=$([ $w = 1 ] && echo "vfio backend" || echo "sysfs backend")
		if [ "$REAPED" = 0 ] && grep -qE "^interrupt vector $w count [1-9]" "$dir/hostwait$w.out"; then
			tap_ok "$name: host: peer waiting on vector $w got the guest's doorbell ($v)"
		else
			tap_not_ok "$name: host: peer waiting on vector $w got the guest's doorbell ($v)"
			tap_diag "  wait status $REAPED, out '$(cat "$dir/hostwait$w.out")', err '$(cat "$dir/hostwait$w.err")'"
		fi
	done
	reap $wrw 3
	if [ "$REAPED" = 0 ] && grep -qE "^interrupt vector 0 count [1-9]" "$dir/hostwaitrw.out"; then
		tap_ok "$name: host: peer waiting on vector 0 got bar-rw's doorbell (bar_write to Doorbell)"
	else
		tap_not_ok "$name: host: peer waiting on vector 0 got bar-rw's doorbell (bar_write to Doorbell)"
		tap_diag "  wait status $REAPED, out '$(cat "$dir/hostwaitrw.out")', err '$(cat "$dir/hostwaitrw.err")'"
	fi

	# the server outlived the guest (and its doorbell for peer 999); QEMU's
	# peer left with the VM
	local left
	if kill -0 $SERVER_PID 2>/dev/null && left=$("$CLI" peers "server:$sock" --json 2>&1); then
		tap_ok "$name: host: server still serves after the VM (and its ring to peer 999)"
		if [ -n "$gid" ] && ! peer_ids "$sock" | grep -qx "$gid"; then
			tap_ok "$name: host: QEMU's peer $gid is gone after the VM exited"
		else
			tap_not_ok "$name: host: QEMU's peer is gone after the VM exited"; tap_diag "  peers: $left"
		fi
	else
		tap_not_ok "$name: host: server still serves after the VM (and its ring to peer 999)"
		tap_not_ok "$name: host: QEMU's peer is gone after the VM exited # server gone"
		tail -n 5 "$dir/server.log" | sed 's/^/#   server: /'
	fi
	server_stop $name "$shm"
	if [ $TAP_FAILED -gt $before ]; then
		tap_diag "$name: end of the console log:"
		guest_tail "$dir/console.log" 30
		[ -s "$dir/boot.err" ] && sed 's/^/#   boot: /' "$dir/boot.err"
	fi
}

# doorbell_qemu prepare|run DIR SOCK: QEMU started by the rig (guest_boot)
doorbell_qemu() {
	[ "$1" = prepare ] && return 0
	guest_boot "$2/console.log" "$GUEST_TIMEOUT" "$2/initrd.cpio.gz" "intel_iommu=on" \
		$DOORBELL_QEMU_MACHINE \
		-chardev socket,path="$3",id=ivs -device ivshmem-doorbell,chardev=ivs,vectors=2
}
scenario_doorbell() { doorbell_scenario doorbell doorbell_qemu; }

# The doorbell scenario with libvirt as the VM's manager: Debian's libvirtd
# (a session daemon the test starts, see libvirt.sh) boots a domain made of
# docs/libvirt.md's devices against the test's `ivshmem server`; the same
# guest script and host checks as doorbell.
scenario_libvirt() {
	local name=libvirt log=$WORK/libvirtd.log
	if ! libvirt_setup "$log"; then
		if required; then
			tap_not_ok "$name: host: libvirtd started # $LV_SKIP"
			[ -f "$log" ] && tail -n 5 "$log" | sed 's/^/#   libvirtd: /'
		else
			tap_ok "$name: # SKIP $LV_SKIP"
		fi
		libvirt_teardown; return
	fi
	tap_ok "$name: host: libvirtd started ($LV_URI as $LV_USER), virsh answers"
	doorbell_scenario $name libvirt_boot $LV_SERVER_ARGS
	if libvirt_teardown; then
		tap_ok "$name: host: libvirtd stops on SIGTERM, no QEMU of the run left"
	else
		tap_not_ok "$name: host: libvirtd stops on SIGTERM, no QEMU of the run left"
		tap_diag "  killed:$LV_LEFT"
	fi
}

# Two VMs with doorbell devices on one server (-m DIR: an unlinked file,
# the host reads it through server:SOCK); they ring each other both ways
# (guest-doorbell2.sh).
scenario_doorbell2() {
	local name=doorbell2 dir=$WORK/doorbell2 size=$((4 << 20)) t0 r
	local script=$RIG_DIR/guest-doorbell2.sh
	local slot_a=8192 slot_b=8200 got_a=8208 got_b=8216
	rm -rf "$dir"; mkdir -p "$dir/a" "$dir/b"
	local checks="$(modchecks $VFIO_MODULES) $(checks_of "$script")"
	if ! server_start "$dir" -m /dev/shm -l $size -n 2; then
		fail_all "$name: " "server did not start" "host: server started" $checks $checks
		kill_tree $SERVER_PID; return
	fi
	tap_ok "$name: host: server started"
	local sock=$SERVER_SOCK
	for r in a b; do
		cat >"$dir/$r/env" <<-EOF
		ROLE=$(echo $r | tr ab AB)
		SLOT_A=$slot_a
		SLOT_B=$slot_b
		GOT_A=$got_a
		GOT_B=$got_b
		VECTORS=2
		EOF
		if ! scenario_initrd "$dir/$r" "$script" $VFIO_MODULES; then
			fail_all "$name: " "initramfs not built" $checks $checks
			server_stop $name ""; return
		fi
	done
	t0=$(date +%s)
	# one at a time, so that the host knows which peer ID is which VM
	local vma vmb ida idb
	guest_boot "$dir/a/console.log" "$GUEST_TIMEOUT" "$dir/a/initrd.cpio.gz" "intel_iommu=on" \
		$DOORBELL_QEMU_MACHINE \
		-chardev socket,path="$sock",id=ivs -device ivshmem-doorbell,chardev=ivs,vectors=2 &
	vma=$!; bg $vma
	ida=$(new_peer "$sock" 30 $vma)
	guest_boot "$dir/b/console.log" "$GUEST_TIMEOUT" "$dir/b/initrd.cpio.gz" "intel_iommu=on" \
		$DOORBELL_QEMU_MACHINE \
		-chardev socket,path="$sock",id=ivs -device ivshmem-doorbell,chardev=ivs,vectors=2 &
	vmb=$!; bg $vmb
	idb=$(new_peer "$sock" 30 $vmb $ida)
	if [ -n "$ida" ] && [ -n "$idb" ]; then tap_ok "$name: host: both QEMUs connected (A $ida, B $idb)"
	else tap_not_ok "$name: host: both QEMUs connected"; tap_diag "  A '$ida', B '$idb'"; fi
	local rca rcb
	reap $vma $((GUEST_TIMEOUT + 10)); rca=$REAPED
	reap $vmb $((GUEST_TIMEOUT + 10)); rcb=$REAPED
	tap_diag "$name: guests ran $(($(date +%s) - t0)) s (qemu status A $rca, B $rcb), logs $dir/[ab]/console.log"
	local before=$TAP_FAILED
	guest_collect "$dir/a/console.log" "$name: A: " $checks
	guest_collect "$dir/b/console.log" "$name: B: " $checks

	# ---- host side: what the guests left in the shared memory
	local f want got
	for f in "A $slot_a ID=$(printf %05d "${ida:-99999}")" "B $slot_b ID=$(printf %05d "${idb:-99999}")" \
		"A $got_a GOTIT--A" "B $got_b GOTIT--B"; do
		set -- $f
		got=$("$CLI" read "server:$sock" --offset $2 --length 8 2>"$dir/read.err" | tr -d '\0')
		if [ "$got" = "$3" ]; then tap_ok "$name: host: $1 left '$3' at $2 (read through server:)"
		else tap_not_ok "$name: host: $1 left '$3' at $2 (read through server:)"
			tap_diag "  got '$got' $(cat "$dir/read.err")"; fi
	done
	server_stop $name ""
	if [ $TAP_FAILED -gt $before ]; then
		tap_diag "$name: end of A's console log:"; guest_tail "$dir/a/console.log" 20
		tap_diag "$name: end of B's console log:"; guest_tail "$dir/b/console.log" 20
	fi
}

# -------------------------------------------------- daemon scenario ----
# `ivshmem daemon` inside the guest brokers the doorbell device (vfio-pci)
# to unprivileged guest users (guest-daemon.sh); needs /bin/runas (built
# from tests/guest/runas.c, passed with --bin).  The host prepares the
# server's memory, waits for alice's doorbell, rings the guest on request.
scenario_daemon() {
	local name=daemon dir=$WORK/daemon size=$((4 << 20)) rc t0
	local script=$RIG_DIR/guest-daemon.sh
	local shmname=ivshmem-guest-$$-daemon
	local shm=/dev/shm/$shmname phase_off=4096 ack_off=4104
	local host_mark="HOST-MARK-$$" host_off=$((64 << 10))
	local alice_mark="ALICE-WAS-HERE-$$" alice_off=$((128 << 10)) ro_off=$((192 << 10))
	rm -rf "$dir"; mkdir -p "$dir/rootfs/etc"
	rm -f "$shm"; SHM_FILES="$SHM_FILES $shm"
	local checks="$(modchecks $VFIO_MODULES) $(checks_of "$script")"
	local b runas=
	for b in $EXTRA_BINS; do [ "$(basename "$b")" = runas ] && runas=$b; done
	if [ -z "$runas" ] && [ -x "$BUILD_DIR/tests/guest/runas" ]; then runas=$BUILD_DIR/tests/guest/runas; fi
	if [ -z "$runas" ]; then
		fail_all "$name: " "no runas helper (build tests/guest/runas.c, pass --bin)" $checks
		return
	fi
	if ! server_start "$dir" -M "$shmname" -l $size -n 2; then
		fail_all "$name: " "server did not start" "host: server started" $checks
		kill_tree $SERVER_PID; return
	fi
	tap_ok "$name: host: server started"
	local sock=$SERVER_SOCK
	patch "$shm" $host_off "$host_mark"
	"$CLI" wait "server:$sock" 1 --timeout 150 >"$dir/hostwait1.out" 2>"$dir/hostwait1.err" &
	local w1=$!; bg $w1
	local hp1; hp1=$(new_peer "$sock" 10 $w1)
	[ -n "$hp1" ] || tap_diag "$name: the host peer did not show up in 'ivshmem peers'"

	cat >"$dir/rootfs/etc/passwd" <<-EOF
	root:x:0:0:root:/root:/bin/sh
	alice:x:1000:1000:allowed (group ivs):/tmp:/bin/sh
	bob:x:1001:1001:not in ivs:/tmp:/bin/sh
	EOF
	cat >"$dir/rootfs/etc/group" <<-EOF
	root:x:0:
	alice:x:1000:
	bob:x:1001:
	ivs:x:2000:alice
	EOF
	cat >"$dir/env" <<-EOF
	HOST_PEER_V1=${hp1:-0}
	HOST_MARK=$host_mark
	HOST_MARK_OFF=$host_off
	ALICE_MARK=$alice_mark
	ALICE_OFF=$alice_off
	RO_OFF=$ro_off
	PHASE_OFF=$phase_off
	ACK_OFF=$ack_off
	EOF
	local saved_bins=$EXTRA_BINS
	case " $EXTRA_BINS " in *" $runas "*) ;; *) EXTRA_BINS="$EXTRA_BINS $runas" ;; esac
	if ! scenario_initrd "$dir" "$script" $VFIO_MODULES; then
		EXTRA_BINS=$saved_bins
		fail_all "$name: " "initramfs not built" $checks
		server_stop $name "$shm"; return
	fi
	EXTRA_BINS=$saved_bins
	t0=$(date +%s)
	# the stock kernel command line: Debian's kernel has
	# CONFIG_IO_STRICT_DEVMEM, under which a BAR vfio-pci has claimed can't be
	# mapped through the sysfs resource file the daemon hands out; the daemon
	# must not claim BAR2 (man/ivshmem-daemon.8.scd, SECURITY)
	guest_boot "$dir/console.log" "$GUEST_TIMEOUT" "$dir/initrd.cpio.gz" "intel_iommu=on" \
		$DOORBELL_QEMU_MACHINE \
		-chardev socket,path="$sock",id=ivs -device ivshmem-doorbell,chardev=ivs,vectors=2 &
	local vm=$!; bg $vm
	local gid; gid=$(new_peer "$sock" 30 $vm $hp1)
	[ -n "$gid" ] || tap_diag "$name: QEMU did not show up in 'ivshmem peers'"
	phase_ringer $name "$shm" $phase_off $ack_off "$sock" "$gid" $vm "$dir/ring.err"
	reap $vm 1; rc=$REAPED
	tap_diag "$name: guest ran $(($(date +%s) - t0)) s (qemu status $rc), log $dir/console.log;" \
		"host rang vector 0 $RING_N0 times, $RING_BAD failed"
	local before=$TAP_FAILED
	guest_collect "$dir/console.log" "$name: " $checks

	# ---- host side
	reap $w1 3
	if [ "$REAPED" = 0 ] && grep -qE "^interrupt vector 1 count [1-9]" "$dir/hostwait1.out"; then
		tap_ok "$name: host: peer waiting on vector 1 got alice's doorbell (through the daemon)"
	else
		tap_not_ok "$name: host: peer waiting on vector 1 got alice's doorbell (through the daemon)"
		tap_diag "  wait status $REAPED, out '$(cat "$dir/hostwait1.out")', err '$(cat "$dir/hostwait1.err")'"
	fi
	local got
	got=$(dd if="$shm" bs=1 skip=$alice_off count=${#alice_mark} status=none | tr -d '\0')
	if [ "$got" = "$alice_mark" ]; then tap_ok "$name: host: sees alice's write"
	else tap_not_ok "$name: host: sees alice's write"; tap_diag "  got '$got'"; fi
	got=$(shm_bytes "$shm" $ro_off 8)
	if [ "$got" = 0000000000000000 ]; then tap_ok "$name: host: the read-only daemon's refused write left memory untouched"
	else tap_not_ok "$name: host: the read-only daemon's refused write left memory untouched"; tap_diag "  got $got"; fi
	server_stop $name "$shm"
	if [ $TAP_FAILED -gt $before ]; then
		tap_diag "$name: end of the console log:"
		guest_tail "$dir/console.log" 40
	fi
}

# ---------------------------------------------------- chan scenario ----
# chan_lines PREFIX FIRST LAST: newline-terminated lines of varying length
chan_lines() {
	local i pad=
	while [ ${#pad} -lt 600 ]; do pad="$pad.0123456789abcdefghijklmnopqrstuvwxyz"; done
	for ((i = $2; i <= $3; i++)); do
		printf '%s %05d %s\n' "$1" $i "${pad:0:$(((i * 37) % 400))}"
	done
}
# chan_stat_num FILE KEY: a top-level number from `chan stat --json`
chan_stat_num() { grep -o "\"$2\":[0-9]*" "$1" | head -n 1 | cut -d: -f2; }

# chan_scenario NAME MODE: channels g2h and h2g between the guest
# (guest-chan.sh) and host processes.
#   plain     ivshmem-plain on a /dev/shm file (machine pc, sysfs backend);
#             the host uses file:PATH; both sides poll
#   doorbell  ivshmem-doorbell on `ivshmem server` (q35, vfio backend); the
#             host uses server:SOCK; sleepers are woken by doorbells
chan_scenario() {
	local name=$1 mode=$2 dir=$WORK/$1 size=$((4 << 20)) rc t0 shm dev
	local script=$RIG_DIR/guest-chan.sh
	local g2h_n=600 h2g_n1=100 h2g_n=500
	rm -rf "$dir"; mkdir -p "$dir/rootfs/test"
	local checks modules= tag=plain
	[ $mode = doorbell ] && modules=$VFIO_MODULES tag=vfio
	checks="$(modchecks $modules) $(checks_of "$script" $tag)"
	if [ $mode = plain ]; then
		shm=/dev/shm/ivshmem-guest-$$-$name
		SHM_FILES="$SHM_FILES $shm"
		head -c $size /dev/zero >"$shm"
		dev=file:$shm
	else
		shm=ivshmem-guest-$$-$name
		SHM_FILES="$SHM_FILES /dev/shm/$shm"
		if ! server_start "$dir" -M "$shm" -l $size -n 2; then
			fail_all "$name: " "server did not start" "host: server started" $checks
			kill_tree $SERVER_PID; return
		fi
		tap_ok "$name: host: server started"
		dev=server:$SERVER_SOCK
	fi
	if "$CLI" chan create $dev g2h --size 64K 2>"$dir/create.err" &&
		"$CLI" chan create $dev h2g --size 64K 2>>"$dir/create.err"; then
		tap_ok "$name: host: created channels g2h and h2g (64 KiB rings) in $dev"
	else
		tap_not_ok "$name: host: created channels g2h and h2g (64 KiB rings) in $dev"
		tap_diag "  $(cat "$dir/create.err")"
		fail_all "$name: " "no channels" $checks
		[ $mode = doorbell ] && server_stop $name "/dev/shm/$shm"
		return
	fi
	chan_lines g2h 1 $g2h_n >"$dir/rootfs/test/g2h.txt"
	chan_lines h2g 1 $h2g_n1 >"$dir/h2g-1.txt"
	chan_lines h2g $((h2g_n1 + 1)) $h2g_n >"$dir/h2g-2.txt"
	cat "$dir/h2g-1.txt" "$dir/h2g-2.txt" >"$dir/h2g.txt"
	tap_diag "$name: g2h $(wc -c <"$dir/rootfs/test/g2h.txt") bytes in $g2h_n lines," \
		"h2g $(wc -c <"$dir/h2g.txt") bytes in $h2g_n lines (rings of 64 KiB)"

	# host -> guest, part 1: queued before the guest exists
	if "$CLI" chan send $dev h2g --timeout 10 <"$dir/h2g-1.txt" 2>"$dir/send1.err"; then
		tap_ok "$name: host: sent $h2g_n1 lines into h2g before boot"
	else
		tap_not_ok "$name: host: sent $h2g_n1 lines into h2g before boot"; tap_diag "  $(cat "$dir/send1.err")"
	fi
	# guest -> host: the receiver waits from before boot
	"$CLI" chan recv $dev g2h --count $g2h_n --timeout 90 >"$dir/g2h.out" 2>"$dir/recv.err" &
	local recv=$!; bg $recv

	cat >"$dir/env" <<-EOF
	G2H_COUNT=$g2h_n
	H2G_COUNT=$h2g_n
	H2G_MD5=$(md5sum <"$dir/h2g.txt" | cut -d' ' -f1)
	DO_BIND=$([ $mode = doorbell ] && echo 1 || echo 0)
	EOF
	if ! scenario_initrd "$dir" "$script" $modules; then
		fail_all "$name: " "initramfs not built" $checks
		[ $mode = doorbell ] && server_stop $name "/dev/shm/$shm"
		return
	fi
	t0=$(date +%s)
	if [ $mode = plain ]; then
		guest_boot "$dir/console.log" "$GUEST_TIMEOUT" "$dir/initrd.cpio.gz" "" -M pc \
			-object memory-backend-file,id=hm,size=$size,share=on,mem-path=$shm \
			-device ivshmem-plain,memdev=hm &
	else
		guest_boot "$dir/console.log" "$GUEST_TIMEOUT" "$dir/initrd.cpio.gz" "intel_iommu=on" \
			$DOORBELL_QEMU_MACHINE \
			-chardev socket,path="$SERVER_SOCK",id=ivs -device ivshmem-doorbell,chardev=ivs,vectors=2 &
	fi
	local vm=$!; bg $vm

	# host -> guest, part 2: once the guest's consumer is attached, more
	# than the ring holds (the host waits for the guest to drain it)
	local attached= send2=
	while kill -0 $vm 2>/dev/null; do
		"$CLI" chan stat $dev h2g --json >"$dir/h2g-stat.json" 2>/dev/null
		if grep -q '"consumer":{"attached":true' "$dir/h2g-stat.json"; then attached=1; break; fi
		sleep 0.2
	done
	if [ -n "$attached" ]; then
		"$CLI" chan send $dev h2g --timeout 60 <"$dir/h2g-2.txt" 2>"$dir/send2.err" &
		send2=$!; bg $send2
	fi
	reap $vm $((GUEST_TIMEOUT + 10)); rc=$REAPED
	tap_diag "$name: guest ran $(($(date +%s) - t0)) s (qemu status $rc), log $dir/console.log"
	local before=$TAP_FAILED
	guest_collect "$dir/console.log" "$name: " $checks

	# ---- host side
	if [ -n "$send2" ]; then
		reap $send2 5
		if [ "$REAPED" = 0 ]; then tap_ok "$name: host: sent $((h2g_n - h2g_n1)) more lines while the guest received"
		else tap_not_ok "$name: host: sent $((h2g_n - h2g_n1)) more lines while the guest received"
			tap_diag "  status $REAPED: $(cat "$dir/send2.err")"; fi
	else
		tap_not_ok "$name: host: sent $((h2g_n - h2g_n1)) more lines while the guest received # the guest's consumer never attached to h2g"
	fi
	reap $recv 5
	if [ "$REAPED" = 0 ] && cmp -s "$dir/rootfs/test/g2h.txt" "$dir/g2h.out"; then
		tap_ok "$name: host: received the guest's $g2h_n lines on g2h, identical"
	else
		tap_not_ok "$name: host: received the guest's $g2h_n lines on g2h, identical"
		tap_diag "  recv status $REAPED, $(wc -l <"$dir/g2h.out") lines; $(cat "$dir/recv.err")"
		cmp "$dir/rootfs/test/g2h.txt" "$dir/g2h.out" 2>&1 | head -n 2 | sed 's/^/#   /'
	fi
	local ch n want ok_
	for ch in g2h h2g; do
		want=$([ $ch = g2h ] && echo $g2h_n || echo $h2g_n)
		"$CLI" chan stat $dev $ch --json >"$dir/$ch-stat.json" 2>&1
		ok_=1
		for n in sent received; do [ "$(chan_stat_num "$dir/$ch-stat.json" $n)" = "$want" ] || ok_=; done
		[ "$(chan_stat_num "$dir/$ch-stat.json" queued)" = 0 ] || ok_=
		if [ -n "$ok_" ]; then tap_ok "$name: host: stat $ch: sent = received = $want, nothing queued"
		else tap_not_ok "$name: host: stat $ch: sent = received = $want, nothing queued"
			tap_diag "  $(cat "$dir/$ch-stat.json")"; fi
	done
	guest_capture "$dir/console.log" chan-list-json >"$dir/list.json"
	if json_valid "$dir/list.json" && grep -q '"name":"g2h"' "$dir/list.json"; then
		tap_ok "$name: host: the guest's chan list --json is valid and names g2h"
	else tap_not_ok "$name: host: the guest's chan list --json is valid and names g2h"
		tap_diag "  $(head -c 300 "$dir/list.json")"; fi
	# how the sides woke each other (diagnostics only: depends on timing)
	for ch in g2h h2g; do
		tap_diag "$name: $ch wakeups: $(grep -o '"\(producer\|consumer\)":{[^}]*}' "$dir/$ch-stat.json" | tr '\n' ' ')"
	done
	guest_capture "$dir/console.log" chan-stat-h2g | sed "s/^/# $name: h2g as the guest saw it: /"
	[ $mode = doorbell ] && server_stop $name "/dev/shm/$shm"
	if [ $TAP_FAILED -gt $before ]; then
		tap_diag "$name: end of the console log:"
		guest_tail "$dir/console.log" 30
	fi
}

scenario_chan() { chan_scenario chan plain; }
scenario_chan-doorbell() { chan_scenario chan-doorbell doorbell; }

# -------------------------------------------------- python scenario ----
# python_rootfs ROOT: Debian's python3 under ROOT with the stdlib modules
# guest-python.py loads (as the host's interpreter lists them, -S) and
# their shared libraries, the binding as /test/py/ivshmem, this build's
# libivshmem.so.0.1 as /usr/lib/libivshmem.so.0.1, the script as
# /test/consumer.py.  1 if the host's interpreter cannot list them.
python_rootfs() {
	local root=$1 py=/usr/bin/python3 f lib=$BUILD_DIR/src/lib/libivshmem.so.0.1
	[ -x $py ] && [ -f "$lib" ] || return 1
	env -i PATH=/usr/bin:/bin PYTHONUTF8=1 PYTHONPATH="$SRC_DIR/python" IVSHMEM_LIBRARY="$lib" \
		$py -S "$RIG_DIR/guest-python.py" --modules >"$root.modules" 2>"$root.modules.err" || return 1
	mkdir -p "$root/bin"
	initrd_add_bin "$root" $py python3
	while read -r f; do
		mkdir -p "$root$(dirname "$f")"
		cp "$f" "$root$f"
		case $f in *.so) initrd_add_lib_deps "$root" "$f" ;; esac
	done <"$root.modules"
	mkdir -p "$root/test/py" "$root/usr/lib"
	cp -R "$SRC_DIR/python/ivshmem" "$root/test/py/"
	rm -rf "$root/test/py/ivshmem/__pycache__"
	cp -L "$lib" "$root/usr/lib/libivshmem.so.0.1"
	initrd_add_lib_deps "$root" "$lib"
	cp "$RIG_DIR/guest-python.py" "$root/test/consumer.py"
}

# A Python consumer in a guest: an ivshmem-plain device on a /dev/shm file
# (sysfs in the guest), guest-python.sh running guest-python.py under the
# guest's copy of Debian's python3.  Before boot the host (the C CLI)
# creates h2g and g2h, queues h2g_n lines on h2g and detaches, and writes a
# marker near the end of the region; the guest reads the marker through
# ep.mem, peeks and releases the first line, receives the rest and nothing
# more, sends g2h_n lines and writes its own marker; after the
# guest, the host's C CLI receives those lines and reads the marker.
scenario_python() {
	local name=python dir=$WORK/python size=$((4 << 20)) t0 rc shm
	local script=$RIG_DIR/guest-python.sh h2g_n=300 g2h_n=200
	rm -rf "$dir"; mkdir -p "$dir/rootfs/test"
	local checks="$(checks_of "$script")"
	shm=/dev/shm/ivshmem-guest-$$-$name
	SHM_FILES="$SHM_FILES $shm"
	head -c $size /dev/zero >"$shm"
	if ! python_rootfs "$dir/rootfs"; then
		fail_all "$name: " "python3 for the guest not assembled: $(head -c 300 "$dir/rootfs.modules.err")" $checks
		return
	fi
	tap_diag "$name: the guest's Python: $(wc -l <"$dir/rootfs.modules") stdlib files," \
		"$(du -sk "$dir/rootfs" | cut -f1) KiB with the interpreter and libraries"
	chan_lines h2g 1 $h2g_n >"$dir/rootfs/test/h2g.txt"
	if "$CLI" chan create file:$shm h2g --size 256K 2>"$dir/create.err" &&
		"$CLI" chan create file:$shm g2h --size 64K 2>>"$dir/create.err" &&
		"$CLI" chan send file:$shm h2g --timeout 10 <"$dir/rootfs/test/h2g.txt" 2>>"$dir/create.err" &&
		printf 'host marker' | "$CLI" write file:$shm --offset $((size - 64)) 2>>"$dir/create.err"; then
		tap_ok "$name: host: channels h2g and g2h made, $h2g_n lines queued on h2g by the C CLI, a marker written"
	else
		tap_not_ok "$name: host: channels made, lines queued, a marker written"
		tap_diag "  $(cat "$dir/create.err")"
		fail_all "$name: " "no channels" $checks
		return
	fi
	cat >"$dir/env" <<-EOF
	H2G_COUNT=$h2g_n
	G2H_COUNT=$g2h_n
	SIZE=$size
	EOF
	if ! scenario_initrd "$dir" "$script"; then
		fail_all "$name: " "initramfs not built" $checks
		return
	fi
	t0=$(date +%s)
	guest_boot "$dir/console.log" "$GUEST_TIMEOUT" "$dir/initrd.cpio.gz" "" -M pc \
		-object memory-backend-file,id=hm,size=$size,share=on,mem-path=$shm \
		-device ivshmem-plain,memdev=hm &
	local vm=$!; bg $vm
	reap $vm $((GUEST_TIMEOUT + 10)); rc=$REAPED
	tap_diag "$name: guest ran $(($(date +%s) - t0)) s (qemu status $rc), log $dir/console.log"
	local before=$TAP_FAILED
	guest_collect "$dir/console.log" "$name: " $checks

	# ---- host side: what the guest's Python sent and wrote, read by C
	local i=0
	while [ $i -lt $g2h_n ]; do i=$((i + 1)); printf 'py g2h %04d\n' $i; done >"$dir/g2h.want"
	if "$CLI" chan recv file:$shm g2h --count $g2h_n --timeout 10 >"$dir/g2h.out" 2>"$dir/recv.err" &&
		cmp -s "$dir/g2h.want" "$dir/g2h.out"; then
		tap_ok "$name: host: the C CLI received the guest's $g2h_n lines on g2h, identical"
	else
		tap_not_ok "$name: host: the C CLI received the guest's $g2h_n lines on g2h, identical"
		tap_diag "  $(wc -l <"$dir/g2h.out") lines; $(cat "$dir/recv.err")"
	fi
	local m
	m=$("$CLI" read file:$shm --offset $((size - 32)) --length 15 2>&1)
	if [ "$m" = "python was here" ]; then tap_ok "$name: host: the guest's marker, written through ep.mem"
	else tap_not_ok "$name: host: the guest's marker, written through ep.mem"; tap_diag "  read '$m'"; fi
	if [ $TAP_FAILED -gt $before ]; then
		tap_diag "$name: end of the console log:"
		guest_tail "$dir/console.log" 30
	fi
}

# --------------------------------------------------- topic scenario ----
# topic_live FILE: live subscriber slots in a `topic stat --json` document
topic_live() { grep -o '"state":"live"' "$1" 2>/dev/null | wc -l; }
# topic_slots FILE: its "slots" array, one line
topic_slots() { sed -n 's/.*"slots":\(\[.*\]\)}$/\1/p' "$1" 2>/dev/null; }
# topic_wait_received DEV TOPIC N OUT SECONDS PID...: wait (bounded; gives
# up when a PID is gone) until at least two live slots have received N
# messages and have none left (lag 0); the last stat in OUT
topic_wait_received() {
	local dev=$1 tp=$2 n=$3 out=$4 end=$(($(date +%s) + $5)) p; shift 5
	while [ "$(date +%s)" -lt $end ]; do
		"$CLI" topic stat $dev $tp --json >"$out" 2>&1
		[ "$(grep -o "\"state\":\"live\"[^}]*\"received\":$n,\"lag\":0[,}]" "$out" | wc -l)" -ge 2 ] && return 0
		for p in "$@"; do kill -0 $p 2>/dev/null || return 1; done
		sleep 0.1
	done
	return 1
}
# state_lines STOP COUNT: "state 000001", "state 000002", ... one every 20 ms
# until the file STOP exists; then how many in the file COUNT (none if the
# reader went away: SIGPIPE ends it first)
state_lines() {
	local i=0
	while [ ! -e "$1" ]; do
		i=$((i + 1))
		printf 'state %06d\n' $i
		sleep 0.02
	done
	echo $i >"$2"
}

# Topics between two VMs and the host on one region: `ivshmem server -M`
# makes /dev/shm/NAME; guest A (q35, vfio) has an ivshmem-doorbell device on
# the server, guest B (pc, sysfs) an ivshmem-plain device on the same POSIX
# shm object (guest-topic.sh).
#   h2g  the host (server: peer, it can ring A) publishes once both guests'
#        subscribers are live; A sleeps on doorbells, B polls
#   g2h  A publishes once the host's subscribers are live: one server: peer
#        (woken by A's doorbells), one file: process (polls)
# Both topics are lossless and carry more than their ring holds.  A third,
#   state  latest mode: the host (server: peer) publishes numbered lines
#        (state_lines) from before boot until both guests are gone, never
#        waiting; A subscribes with a slot (woken by doorbells), B with
#        --read-only (passive: a read-only sysfs mapping, no slot, it
#        polls); each takes state_n lines of the host's, strictly increasing
scenario_topic() {
	local name=topic dir=$WORK/topic da=$WORK/topic-a db=$WORK/topic-b size=$((4 << 20)) t0 r
	local script=$RIG_DIR/guest-topic.sh
	local shmname=ivshmem-guest-$$-topic
	local shm=/dev/shm/$shmname
	local h2g_n=500 h2g_n1=100 g2h_n=600 state_n=3
	rm -rf "$dir" "$da" "$db"; mkdir -p "$dir" "$da/rootfs/test" "$db"
	rm -f "$shm"; SHM_FILES="$SHM_FILES $shm"
	local checks_a="$(modchecks $VFIO_MODULES) $(checks_of "$script" vfio pub)"
	local checks_b="$(checks_of "$script" plain)"
	local pa="$name: guest A: " pb="$name: guest B: "
	if ! server_start "$dir" -M "$shmname" -l $size -n 2; then
		tap_not_ok "$name: host: server started"
		tail -n 5 "$dir/server.log" | sed 's/^/#   server: /'
		fail_all "$pa" "server did not start" $checks_a
		fail_all "$pb" "server did not start" $checks_b
		kill_tree $SERVER_PID; return
	fi
	tap_ok "$name: host: server started"
	local sock=$SERVER_SOCK dev=server:$SERVER_SOCK fdev=file:$shm
	# a generous stall timeout: two TCG guests share the host's CPUs, and
	# a guest descheduled for a second is not a subscriber to evict
	if "$CLI" topic create $dev h2g --subscribers 4 --size 64K --stall-timeout 20000 2>"$dir/create.err" &&
		"$CLI" topic create $dev g2h --subscribers 4 --size 64K --stall-timeout 20000 2>>"$dir/create.err"; then
		tap_ok "$name: host: created topics h2g and g2h (64 KiB rings, 4 slots) in $dev"
	else
		tap_not_ok "$name: host: created topics h2g and g2h (64 KiB rings, 4 slots) in $dev"
		tap_diag "  $(cat "$dir/create.err")"
		fail_all "$pa" "no topics" $checks_a
		fail_all "$pb" "no topics" $checks_b
		server_stop $name "$shm"; return
	fi
	if "$CLI" topic create $dev state --mode latest --subscribers 4 --size 4K --max-message 64 \
		2>"$dir/create-state.err"; then
		tap_ok "$name: host: created topic state (--mode latest, 4 KiB: 32 buffers) in $dev"
	else
		tap_not_ok "$name: host: created topic state (--mode latest, 4 KiB: 32 buffers) in $dev"
		tap_diag "  $(cat "$dir/create-state.err")"
	fi
	chan_lines h2g 1 $h2g_n1 >"$dir/h2g-1.txt"
	chan_lines h2g $((h2g_n1 + 1)) $h2g_n >"$dir/h2g-2.txt"
	cat "$dir/h2g-1.txt" "$dir/h2g-2.txt" >"$dir/h2g.txt"
	chan_lines g2h 1 $g2h_n >"$da/rootfs/test/g2h.txt"
	tap_diag "$name: h2g $(wc -c <"$dir/h2g.txt") bytes in $h2g_n lines," \
		"g2h $(wc -c <"$da/rootfs/test/g2h.txt") bytes in $g2h_n lines (rings of 64 KiB)"

	# guest -> host: the host's subscribers wait from before boot
	"$CLI" topic sub $dev g2h --count $g2h_n --timeout 120 >"$dir/g2h-server.out" 2>"$dir/g2h-server.err" &
	local sub_s=$!; bg $sub_s
	local hs; hs=$(new_peer "$sock" 10 $sub_s)
	[ -n "$hs" ] || tap_diag "$name: the host's server: subscriber did not show up in 'ivshmem peers'"
	"$CLI" topic sub $fdev g2h --count $g2h_n --timeout 120 >"$dir/g2h-file.out" 2>"$dir/g2h-file.err" &
	local sub_f=$!; bg $sub_f
	# latest: the host publishes to state from now until both guests are
	# gone (a server: peer, so it can ring A); the subshell is its tree
	rm -f "$dir/state.stop" "$dir/state.n"
	(state_lines "$dir/state.stop" "$dir/state.n" | "$CLI" topic pub $dev state 2>"$dir/state-pub.err") &
	local state_pub=$!; bg $state_pub
	local hp; hp=$(new_peer "$sock" 10 $state_pub $hs)
	[ -n "$hp" ] || tap_diag "$name: the host's state publisher did not show up in 'ivshmem peers'"

	local h2g_md5; h2g_md5=$(md5sum <"$dir/h2g.txt" | cut -d' ' -f1)
	cat >"$da/env" <<-EOF
	ROLE=A
	DO_BIND=1
	H2G_COUNT=$h2g_n
	H2G_MD5=$h2g_md5
	G2H_PUB=1
	G2H_COUNT=$g2h_n
	STATE_COUNT=$state_n
	STATE_RO=0
	EOF
	cat >"$db/env" <<-EOF
	ROLE=B
	DO_BIND=0
	H2G_COUNT=$h2g_n
	H2G_MD5=$h2g_md5
	G2H_PUB=0
	STATE_COUNT=$state_n
	STATE_RO=1
	EOF
	if ! scenario_initrd "$da" "$script" $VFIO_MODULES || ! scenario_initrd "$db" "$script"; then
		fail_all "$pa" "initramfs not built" $checks_a
		fail_all "$pb" "initramfs not built" $checks_b
		: >"$dir/state.stop"; reap $state_pub 5
		server_stop $name "$shm"; return
	fi
	t0=$(date +%s)
	guest_boot "$da/console.log" "$GUEST_TIMEOUT" "$da/initrd.cpio.gz" "intel_iommu=on" \
		$DOORBELL_QEMU_MACHINE \
		-chardev socket,path="$sock",id=ivs -device ivshmem-doorbell,chardev=ivs,vectors=2 &
	local vma=$!; bg $vma
	# QEMU connects to the server before the guest runs (and before B
	# exists: B's device is not on the server at all)
	local gid; gid=$(new_peer "$sock" 30 $vma $hs $hp)
	if [ -n "$gid" ]; then tap_ok "$name: host: guest A's QEMU connected to the server (peer $gid)"
	else tap_not_ok "$name: host: guest A's QEMU connected to the server"; fi
	guest_boot "$db/console.log" "$GUEST_TIMEOUT" "$db/initrd.cpio.gz" "" -M pc \
		-object memory-backend-file,id=hm,size=$size,share=on,mem-path=$shm \
		-device ivshmem-plain,memdev=hm &
	local vmb=$!; bg $vmb

	# host -> guests: once both guests' subscribers are live (bounded by
	# the VMs' lives and the guest timeout)
	local end=$(($(date +%s) + GUEST_TIMEOUT)) live=0 pub= tp0=
	while kill -0 $vma 2>/dev/null && kill -0 $vmb 2>/dev/null && [ "$(date +%s)" -lt $end ]; do
		"$CLI" topic stat $fdev h2g --json >"$dir/h2g-stat.json" 2>"$dir/h2g-stat.err"
		live=$(topic_live "$dir/h2g-stat.json")
		[ "$live" -ge 2 ] && break
		sleep 0.2
	done
	if [ "$live" -ge 2 ]; then
		tap_ok "$name: host: both guests' h2g subscribers are live after $(($(date +%s) - t0)) s"
		tp0=$(($(date +%s%N) / 1000000))
		# one publisher: the first lines (they fit in the ring), then,
		# once both guests have taken them and sleep on an empty ring,
		# the rest (more than the ring holds): each guest is woken
		# mid-stream, A by doorbells, B by its polling
		{
			cat "$dir/h2g-1.txt"
			topic_wait_received "$fdev" h2g $h2g_n1 "$dir/h2g-stat.pause" 60 $vma $vmb &&
				echo ok >"$dir/pause.ok"
			cat "$dir/h2g-2.txt"
		} | "$CLI" topic pub $dev h2g --timeout 60 2>"$dir/pub.err" &
		pub=$!; bg $pub
	else
		tap_not_ok "$name: host: both guests' h2g subscribers are live"
		tap_diag "  $live live slot(s): $(cat "$dir/h2g-stat.json" "$dir/h2g-stat.err")"
	fi
	local ids want_ids
	ids=$(grep -o '"state":"live","id":[-0-9]*' "$dir/h2g-stat.json" | sed 's/.*://' | sort -n | tr '\n' ' ')
	want_ids=$(printf '%s\n' -1 "${gid:-none}" | sort -n | tr '\n' ' ')
	if [ "$live" -ge 2 ] && [ "$ids" = "$want_ids" ]; then
		tap_ok "$name: host: h2g's live slots are guest A (peer $gid, can be rung) and guest B (no ID)"
	else
		tap_not_ok "$name: host: h2g's live slots are guest A (peer ${gid:-?}, can be rung) and guest B (no ID)"
		tap_diag "  live slot IDs '$ids', want '$want_ids'"
	fi

	# until both VMs are gone: the last snapshot of g2h with a live
	# subscriber (diagnostics: the slots' state is gone once they leave;
	# h2g's is taken at the pause), and when the publisher ended
	local tp tp1=
	while kill -0 $vma 2>/dev/null || kill -0 $vmb 2>/dev/null; do
		"$CLI" topic stat $fdev g2h --json >"$dir/g2h-stat.now" 2>/dev/null
		[ "$(topic_live "$dir/g2h-stat.now")" -gt 0 ] && mv "$dir/g2h-stat.now" "$dir/g2h-stat.live"
		[ -n "$pub" ] && [ -z "$tp1" ] && ! kill -0 $pub 2>/dev/null && tp1=$(($(date +%s%N) / 1000000))
		sleep 0.1
	done
	local rca rcb
	reap $vma 1; rca=$REAPED
	reap $vmb 1; rcb=$REAPED
	# the state publisher: its input ends, so it detaches and exits
	: >"$dir/state.stop"
	reap $state_pub 10
	local state_rc=$REAPED state_sent; state_sent=$(cat "$dir/state.n" 2>/dev/null)
	tap_diag "$name: guests ran $(($(date +%s) - t0)) s (qemu status A $rca, B $rcb)," \
		"logs $da/console.log $db/console.log"
	local before=$TAP_FAILED
	guest_collect "$da/console.log" "$pa" $checks_a
	guest_collect "$db/console.log" "$pb" $checks_b

	# ---- host side
	if [ -n "$pub" ]; then
		reap $pub 5
		if [ -f "$dir/pause.ok" ]; then
			tap_ok "$name: host: both guests took the first $h2g_n1 lines of h2g and caught up before the rest"
		else
			tap_not_ok "$name: host: both guests took the first $h2g_n1 lines of h2g and caught up before the rest"
			tap_diag "  last stat: $(cat "$dir/h2g-stat.pause")"
		fi
		if [ "$REAPED" = 0 ]; then
			tap_ok "$name: host: published $h2g_n lines into h2g (through server:) while both guests took them"
			tap_diag "$name: h2g publishing took about $((${tp1:-$(($(date +%s%N) / 1000000))} - tp0)) ms (sampled every 0.1 s)"
		else tap_not_ok "$name: host: published $h2g_n lines into h2g (through server:) while both guests took them"
			tap_diag "  status $REAPED: $(cat "$dir/pub.err")"; fi
	else
		fail_all "$name: host: " "the guests' subscribers never were live together" \
			"both guests took the first $h2g_n1 lines of h2g and caught up before the rest" \
			"published $h2g_n lines into h2g (through server:) while both guests took them"
	fi
	local s how
	for s in server file; do
		[ $s = server ] && { r=$sub_s; how="server: peer, woken by A's doorbells"; } ||
			{ r=$sub_f; how="file:, polls"; }
		reap $r 5
		if [ "$REAPED" = 0 ] && cmp -s "$da/rootfs/test/g2h.txt" "$dir/g2h-$s.out"; then
			tap_ok "$name: host: the $s subscriber ($how) got guest A's $g2h_n lines on g2h, identical"
		else
			tap_not_ok "$name: host: the $s subscriber ($how) got guest A's $g2h_n lines on g2h, identical"
			tap_diag "  sub status $REAPED, $(wc -l <"$dir/g2h-$s.out") lines; $(cat "$dir/g2h-$s.err")"
			cmp "$da/rootfs/test/g2h.txt" "$dir/g2h-$s.out" 2>&1 | head -n 2 | sed 's/^/#   /'
		fi
	done
	# latest: the publisher never waited, whoever subscribed
	if [ "$state_rc" = 0 ] && [ -n "$state_sent" ]; then
		tap_ok "$name: host: published to state (latest, through server:) until both guests were gone, exit 0"
		tap_diag "$name: $state_sent lines published to state"
	else
		tap_not_ok "$name: host: published to state (latest, through server:) until both guests were gone, exit 0"
		tap_diag "  status $state_rc, ${state_sent:-no} lines sent; $(cat "$dir/state-pub.err")"
	fi
	"$CLI" topic stat $dev state --json >"$dir/state-stat.json" 2>&1
	if [ -n "$state_sent" ] && [ "$(json_field "$dir/state-stat.json" published)" = "$state_sent" ] &&
		grep -q '"mode":"latest",.*"buffers":32,' "$dir/state-stat.json"; then
		tap_ok "$name: host: stat state: mode latest, 32 buffers, published = the lines sent"
	else
		tap_not_ok "$name: host: stat state: mode latest, 32 buffers, published = the lines sent (${state_sent:-?})"
		tap_diag "  $(cat "$dir/state-stat.json")"
	fi
	# what each guest took: lines the host published (the guests check
	# their form and order)
	local g log got v bad
	for g in A B; do
		[ $g = A ] && log=$da/console.log || log=$db/console.log
		got=$(guest_capture "$log" topic-state-lines) bad=
		[ "$(echo "$got" | grep -c .)" = $state_n ] || bad="$(echo "$got" | grep -c .) line(s), want $state_n"
		for v in $(echo "$got" | sed -n 's/^state \([0-9]\{6\}\)$/\1/p'); do
			v=$((10#$v))
			[ $v -ge 1 ] && [ $v -le "${state_sent:-0}" ] || bad="${bad:+$bad; }$v was never published"
		done
		if [ -z "$bad" ]; then
			tap_ok "$name: host: guest $g's $state_n lines of state are lines the host published"
		else
			tap_not_ok "$name: host: guest $g's $state_n lines of state are lines the host published"
			tap_diag "  $bad: $(echo "$got" | tr '\n' ' ')"
		fi
	done
	local want
	for tp in h2g g2h; do
		want=$([ $tp = h2g ] && echo $h2g_n || echo $g2h_n)
		"$CLI" topic stat $dev $tp --json >"$dir/$tp-stat.json" 2>&1
		if [ "$(json_field "$dir/$tp-stat.json" published)" = "$want" ] &&
			[ "$(json_field "$dir/$tp-stat.json" evictions)" = 0 ]; then
			tap_ok "$name: host: stat $tp: published = $want, no evictions"
		else
			tap_not_ok "$name: host: stat $tp: published = $want, no evictions"
			tap_diag "  $(cat "$dir/$tp-stat.json")"
		fi
	done
	# the subscribers' slots as last seen live (diagnostics: timing)
	tap_diag "$name: h2g slots after the first $h2g_n1 lines: $(topic_slots "$dir/h2g-stat.pause")"
	tap_diag "$name: g2h slots (last seen live, sampled every 0.1 s): $(topic_slots "$dir/g2h-stat.live")"
	guest_capture "$da/console.log" irq-h2g | sed "s/^/# $name: guest A during h2g (samples, lines taken, MSI-X counts): /"
	guest_capture "$da/console.log" topic-stat-h2g | sed "s/^/# $name: h2g as guest A saw it: /"
	guest_capture "$db/console.log" topic-stat-h2g | sed "s/^/# $name: h2g as guest B saw it: /"
	guest_capture "$da/console.log" topic-stat-g2h | sed "s/^/# $name: g2h as guest A saw it: /"
	server_stop $name "$shm"
	if [ $TAP_FAILED -gt $before ]; then
		tap_diag "$name: end of A's console log:"; guest_tail "$da/console.log" 30
		tap_diag "$name: end of B's console log:"; guest_tail "$db/console.log" 30
	fi
}

# ------------------------------------------------------------ udev ----
# The installed udev rule (BUILD_DIR/data/70-ivshmem.rules, as meson made it)
# run by the real systemd-udevd in a q35 + IOMMU guest with two
# ivshmem-plain devices: the one a local rule asks for ends up bound to
# vfio-pci (the rule loads the module itself: only its dependencies are
# loaded at boot) and wants its daemon's socket unit; the other is left
# alone (guest-udev.sh).
scenario_udev() {
	local name=udev dir=$WORK/udev size=$((1 << 20)) t0 rc c
	local script=$RIG_DIR/guest-udev.sh rule=$BUILD_DIR/data/70-ivshmem.rules
	local udevadm=/usr/bin/udevadm udevd=/lib/systemd/systemd-udevd why=
	local asked=0000:00:06.0 other=0000:00:07.0
	rm -rf "$dir"; mkdir -p "$dir"
	[ -f "$rule" ] || why="no $rule (meson -Dudevrulesdir=no?)"
	[ -x "$udevadm" ] && [ -e "$udevd" ] || why="no $udevadm / $udevd (package udev)"
	[ -x /sbin/depmod ] || why="no /sbin/depmod (package kmod)"
	if [ -n "$why" ]; then
		for c in $(checks_of "$script"); do
			if required; then tap_not_ok "$name: $c # $why"; else tap_ok "$name: $c # SKIP $why"; fi
		done
		return
	fi
	local a b; shm_file a udev-asked $size; shm_file b udev-other $size
	cat >"$dir/env" <<-EOF
	ASKED=$asked
	OTHER=$other
	UDEVD=$udevd
	EOF
	# The rule names the program it runs by its installed path: put the CLI
	# there; the local rule that asks for one device.
	local bindir; bindir=$(sed -n 's|.*RUN+="\([^"]*\)/ivshmem bind .*|\1|p' "$rule")
	mkdir -p "$dir/rootfs/lib/udev/rules.d" "$dir/rootfs/etc/udev/rules.d" "$dir/rootfs$bindir" \
		"$dir/rootfs/lib/systemd"
	cp "$rule" "$dir/rootfs/lib/udev/rules.d/"
	echo "SUBSYSTEM==\"pci\", KERNEL==\"$asked\", ENV{IVSHMEM_VFIO}=\"1\", ENV{IVSHMEM_DAEMON}=\"1\"" \
		>"$dir/rootfs/etc/udev/rules.d/60-ivshmem-local.rules"
	ln -s /bin/ivshmem "$dir/rootfs$bindir/ivshmem"
	ln -s "$(readlink -f "$udevadm")" "$dir/rootfs$udevd"
	if ! scenario_initrd "$dir" "$script" irqbypass vfio vfio_iommu_type1 ?vfio_virqfd vfio-pci-core; then
		for c in $(checks_of "$script"); do tap_not_ok "$name: $c # initramfs not built"; done
		return
	fi
	# udevadm and its libraries; vfio-pci where libkmod finds it, indexed.
	local root=$dir/initrd ko
	initrd_add_bin "$root" "$udevadm" udevadm
	ko=$(find -L "$RIG_KDIR/lib/modules/$RIG_KVER/kernel" -name 'vfio-pci.ko*' | head -n 1)
	mkdir -p "$root/lib/modules/$RIG_KVER/kernel/drivers/vfio/pci"
	case $ko in
	*.xz) xz -dc "$ko" ;; *.zst) zstd -qdc "$ko" ;; *) cat "$ko" ;;
	esac >"$root/lib/modules/$RIG_KVER/kernel/drivers/vfio/pci/vfio-pci.ko"
	/sbin/depmod -b "$root" "$RIG_KVER" 2>"$dir/depmod.log"
	initrd_pack "$root" "$dir/initrd.cpio.gz"
	t0=$(date +%s)
	guest_boot "$dir/console.log" "$GUEST_TIMEOUT" "$dir/initrd.cpio.gz" "intel_iommu=on" \
		-M q35,kernel-irqchip=split -device intel-iommu,intremap=on \
		-object memory-backend-file,id=ha,size=$size,share=on,mem-path=$a \
		-device ivshmem-plain,memdev=ha,addr=0x6 \
		-object memory-backend-file,id=hb,size=$size,share=on,mem-path=$b \
		-device ivshmem-plain,memdev=hb,addr=0x7
	rc=$?
	tap_diag "$name: guest ran $(($(date +%s) - t0)) s (qemu status $rc), log $dir/console.log"
	local before=$TAP_FAILED
	guest_collect "$dir/console.log" "$name: " modprobe:irqbypass modprobe:vfio modprobe:vfio_iommu_type1 \
		modprobe:vfio-pci-core $(checks_of "$script")
	if [ $TAP_FAILED -gt $before ]; then
		tap_diag "$name: end of the console log:"
		guest_tail "$dir/console.log" 30
	fi
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
