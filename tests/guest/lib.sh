# tests/guest/lib.sh: helpers for the guest test rig; sourced by run.sh.
# Written for bash (run.sh); the guest side is guest-lib.sh (busybox sh).
#
# Groups of helpers:
#   tap_*         TAP output on stdout (the only thing that goes to stdout)
#   g_log         diagnostics on stderr (meson keeps them in the test log)
#   rig_*         environment: kernel, QEMU, accelerator
#   initrd_*      building an initramfs tree and packing it (cpio newc + gzip)
#   guest_boot    booting one QEMU guest with a hard timeout, console to a log
#   guest_collect turning GUEST-OK/GUEST-FAIL lines of a console log into TAP
#   guest_capture extracting command output the guest printed as GUEST-CAP lines
#   shm_*         host-side helpers on the shared-memory files in /dev/shm

# directory of these scripts (guest-lib.sh is taken from here)
RIG_DIR=${RIG_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")" && pwd)}

# ---------------------------------------------------------------- TAP ----
TAP_N=0
TAP_FAILED=0
tap_ok() { TAP_N=$((TAP_N + 1)); echo "ok $TAP_N - $*"; }
tap_not_ok() {
	TAP_N=$((TAP_N + 1)); TAP_FAILED=$((TAP_FAILED + 1))
	echo "not ok $TAP_N - $*"
}
# tap_check NAME CMD...: ok if CMD succeeds
tap_check() {
	_name=$1; shift
	if "$@"; then tap_ok "$_name"; else tap_not_ok "$_name"; fi
}
tap_diag() { echo "# $*"; }
tap_plan() { echo "1..$TAP_N"; }

g_log() { echo "guest-rig: $*" >&2; }

# ---------------------------------------------------------------- rig ----
# Results of rig_setup:
#   RIG_KDIR     unpacked kernel package root (has boot/ and lib/modules/)
#   RIG_VMLINUZ  kernel image
#   RIG_KVER     kernel release (lib/modules/<KVER>)
#   RIG_QEMU     qemu-system-x86_64
#   RIG_ACCEL    kvm or tcg
#   RIG_SKIP     set to a reason when the rig cannot run
RIG_SKIP=

# rig_setup SRCDIR BUILDDIR: find QEMU, busybox, cpio; fetch the kernel.
rig_setup() {
	_src=$1 _build=$2
	RIG_QEMU=${IVSHMEM_QEMU:-$(command -v qemu-system-x86_64 || true)}
	if [ -z "$RIG_QEMU" ] || [ ! -x "$RIG_QEMU" ]; then RIG_SKIP="qemu-system-x86_64 not found"; return 1; fi
	RIG_BUSYBOX=${IVSHMEM_BUSYBOX:-}
	if [ -z "$RIG_BUSYBOX" ]; then
		for _b in /bin/busybox /usr/bin/busybox; do
			if [ -x "$_b" ] && ! ldd "$_b" >/dev/null 2>&1; then RIG_BUSYBOX=$_b; break; fi
		done
	fi
	if [ -z "$RIG_BUSYBOX" ]; then RIG_SKIP="no static busybox (busybox-static)"; return 1; fi
	for _t in cpio gzip timeout; do
		command -v $_t >/dev/null 2>&1 || { RIG_SKIP="$_t not found"; return 1; }
	done
	RIG_CACHE=${IVSHMEM_GUEST_CACHE:-$_build/guest-cache}
	if ! RIG_VMLINUZ=$("$_src/scripts/fetch-kernel.sh" "$RIG_CACHE"); then
		RIG_SKIP="no guest kernel (scripts/fetch-kernel.sh failed)"; return 1
	fi
	RIG_KDIR=$(cd "$(dirname "$RIG_VMLINUZ")/.." && pwd)
	RIG_KVER=$(ls "$RIG_KDIR/lib/modules" | head -n 1)
	return 0
}

# rig_pick_accel WORKDIR: RIG_ACCEL=kvm only if a KVM guest really boots.
# $IVSHMEM_GUEST_ACCEL=kvm|tcg overrides.  /dev/kvm may exist on a CPU
# without VMX/SVM, where KVM guests hang: test, never assume.
rig_pick_accel() {
	_w=$1
	RIG_ACCEL=${IVSHMEM_GUEST_ACCEL:-}
	[ -n "$RIG_ACCEL" ] && return 0
	RIG_ACCEL=tcg
	[ -r /dev/kvm ] && [ -w /dev/kvm ] || return 0
	grep -qE '^flags.*\b(vmx|svm)\b' /proc/cpuinfo 2>/dev/null || return 0
	initrd_new "$_w/probe"
	cat >"$_w/probe/init" <<-'EOF'
	#!/bin/busybox sh
	echo GUEST-PROBE-ALIVE
	/bin/busybox poweroff -f
	EOF
	chmod +x "$_w/probe/init"
	initrd_pack "$_w/probe" "$_w/probe.cpio.gz"
	timeout 30 "$RIG_QEMU" -accel kvm -M pc -m 256M -nographic -no-reboot \
		-kernel "$RIG_VMLINUZ" -initrd "$_w/probe.cpio.gz" \
		-append "console=ttyS0 panic=-1 quiet" </dev/null >"$_w/probe.log" 2>&1 || true
	if grep -q GUEST-PROBE-ALIVE "$_w/probe.log"; then RIG_ACCEL=kvm; fi
	return 0
}

# ------------------------------------------------------------- initrd ----
# initrd_new DIR: fresh tree with busybox, /init is written by the caller
# (or by initrd_write_init).
initrd_new() {
	rm -rf "$1"
	mkdir -p "$1/bin" "$1/sbin" "$1/usr/bin" "$1/usr/sbin" "$1/proc" "$1/sys" \
		"$1/dev" "$1/tmp" "$1/run" "$1/lib/modules" "$1/test" "$1/etc"
	cp "$RIG_BUSYBOX" "$1/bin/busybox"
}

# initrd_add_lib_deps ROOT FILE: copy FILE's shared libraries (ldd) and the
# dynamic loader to the same absolute paths under ROOT.
initrd_add_lib_deps() {
	_root=$1 _f=$2
	ldd "$_f" 2>/dev/null | sed -n 's/.*=> *\(\/[^ ]*\).*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) (0x.*/\1/p' |
	while read -r _lib; do
		[ -e "$_lib" ] || continue
		mkdir -p "$_root$(dirname "$_lib")"
		# keep the name ldd gives (often a symlink) but copy the content
		cp -L "$_lib" "$_root$_lib"
	done
}

# initrd_add_bin ROOT FILE [NAME]: copy an executable to its own absolute
# path under ROOT (so $ORIGIN-relative RUNPATHs from a build tree still
# resolve), link /bin/NAME to it and copy its shared libraries.
initrd_add_bin() {
	_root=$1 _f=$(readlink -f "$2") _n=${3:-$(basename "$2")}
	mkdir -p "$_root$(dirname "$_f")"
	cp "$_f" "$_root$_f"
	ln -sf "$_f" "$_root/bin/$_n"
	initrd_add_lib_deps "$_root" "$_f"
}

# initrd_add_modules ROOT NAME...: copy kernel modules from the unpacked
# package as plain .ko into ROOT/lib/modules and append them, in the order
# given, to ROOT/lib/modules/load.list (loaded by the generated /init).
# NAME may carry parameters: "vfio_iommu_type1 allow_unsafe_interrupts=1".
# A leading '?' marks a module that may be missing in this kernel (e.g.
# vfio_virqfd, merged into vfio in 6.2).  '-' and '_' are interchangeable.
initrd_add_modules() {
	_root=$1; shift
	for _spec in "$@"; do
		_opt=0
		case $_spec in \?*) _opt=1; _spec=${_spec#?} ;; esac
		_m=${_spec%% *}
		_args=; [ "$_m" != "$_spec" ] && _args=${_spec#* }
		_pat=$(echo "$_m" | sed 's/[-_]/[-_]/g')
		_ko=$(find -L "$RIG_KDIR/lib/modules/$RIG_KVER/kernel" -name "$_pat.ko*" 2>/dev/null | head -n 1)
		if [ -z "$_ko" ]; then
			if [ $_opt = 1 ]; then g_log "module $_m not in this kernel: skipped"; continue; fi
			g_log "module $_m not found"; return 1
		fi
		_dst=$_root/lib/modules/$_m.ko
		case $_ko in
		*.ko.xz) xz -dc "$_ko" >"$_dst" ;;
		*.ko.zst) zstd -qdc "$_ko" >"$_dst" ;;
		*.ko.gz) gzip -dc "$_ko" >"$_dst" ;;
		*) cp "$_ko" "$_dst" ;;
		esac || return 1
		echo "$_m $_args" >>"$_root/lib/modules/load.list"
	done
}

# initrd_write_init ROOT GUEST_SCRIPT: /init mounts proc/sys/devtmpfs,
# loads lib/modules/load.list with insmod (printing GUEST-OK/FAIL
# modprobe:NAME), runs /test/main.sh (a copy of GUEST_SCRIPT) with
# /test/lib.sh available, then powers off.  /test/env (if the caller wrote
# one) is sourced first.
initrd_write_init() {
	_root=$1
	cp "$2" "$_root/test/main.sh"
	cp "$RIG_DIR/guest-lib.sh" "$_root/test/lib.sh"
	cat >"$_root/init" <<-'EOF'
	#!/bin/busybox sh
	/bin/busybox --install -s
	export PATH=/bin:/sbin:/usr/bin:/usr/sbin
	mount -t proc proc /proc
	mount -t sysfs sysfs /sys
	mount -t devtmpfs devtmpfs /dev
	# no tmpfs on /tmp: the rootfs is RAM already, and binaries copied from a
	# build dir under /tmp live there
	echo GUEST-BEGIN
	if [ -f /lib/modules/load.list ]; then
		while read -r m args; do
			if out=$(insmod /lib/modules/$m.ko $args 2>&1); then
				echo "GUEST-OK modprobe:$m"
			else
				echo "GUEST-FAIL modprobe:$m: $(echo $out | head -c 200)"
			fi
		done </lib/modules/load.list
	fi
	[ -f /test/env ] && { set -a; . /test/env; set +a; }
	cd /test && sh /test/main.sh
	echo "GUEST-END rc=$?"
	sync
	poweroff -f
	EOF
	chmod +x "$_root/init"
}

# initrd_pack DIR OUT: cpio newc, gzip.
initrd_pack() {
	(cd "$1" && find . | cpio -o -H newc --quiet) | gzip -1 >"$2"
}

# -------------------------------------------------------------- boot ----
# guest_boot LOG TIMEOUT INITRD APPEND QEMU-ARGS...: boot one guest; the
# console (serial on stdio) and QEMU's own messages go to LOG.  Returns
# QEMU's status (124 on timeout).
guest_boot() {
	_log=$1 _to=$2 _initrd=$3 _append=$4; shift 4
	g_log "boot ($RIG_ACCEL): $*"
	_t0=$(date +%s)
	timeout -k 5 "$_to" "$RIG_QEMU" -accel "$RIG_ACCEL" -m 512M -smp 1 \
		-nographic -no-reboot -nic none -kernel "$RIG_VMLINUZ" -initrd "$_initrd" \
		-append "console=ttyS0 panic=-1 quiet $_append" "$@" \
		</dev/null >"$_log" 2>&1
	_rc=$?
	# the console writes CRLF; normalize once for the parsers
	tr -d '\r' <"$_log" >"$_log.tmp" && mv "$_log.tmp" "$_log"
	g_log "guest finished rc=$_rc in $(($(date +%s) - _t0)) s, console in $_log"
	return $_rc
}

# guest_collect LOG PREFIX CHECK...: one TAP line per expected CHECK name:
# ok if the guest printed "GUEST-OK CHECK", not ok for "GUEST-FAIL CHECK:
# detail" (detail shown as a TAP diagnostic) or if it never reported it (guest
# timed out, panicked, or the script died).  Unexpected names the guest
# reported are added as well so nothing goes unseen.  PREFIX is prepended to
# names in TAP ("sysfs: read-full").
guest_collect() {
	_log=$1 _pfx=$2; shift 2
	_seen=" "
	for _c in "$@"; do
		_seen="$_seen$_c "
		guest_collect_one "$_log" "$_pfx" "$_c"
	done
	# unexpected checks (no pipe into the loop: TAP counters must survive)
	for _c in $(sed -n 's/^GUEST-\(OK\|FAIL\) \([^ ]*[^ :]\).*/\2/p' "$_log"); do
		case $_seen in *" $_c "*) continue ;; esac
		_seen="$_seen$_c "
		guest_collect_one "$_log" "$_pfx" "$_c"
	done
}
guest_collect_one() {
	_l=$(grep -E "^GUEST-(OK|FAIL) $3(: |\$)" "$1" | tail -n 1)
	case $_l in
	GUEST-OK*) tap_ok "$2$3" ;;
	GUEST-FAIL*)
		tap_not_ok "$2$3"
		tap_diag "  ${_l#GUEST-FAIL }"
		grep -F "GUEST-DETAIL $3: " "$1" | sed 's/^GUEST-DETAIL [^ ]* /#   /' | head -n 20
		;;
	*)
		if grep -q '^GUEST-END' "$1"; then
			tap_not_ok "$2$3 # guest never ran this check"
		else
			tap_not_ok "$2$3 # no result: guest timed out, panicked or died"
		fi
		;;
	esac
}

# guest_capture LOG NAME: print what the guest captured under NAME (see
# capture in guest-lib.sh), without the "GUEST-CAP NAME " prefix.
guest_capture() {
	sed -n "s/^GUEST-CAP $2 //p; s/^GUEST-CAP $2\$//p" "$1"
}

# guest_tail LOG: the end of a console log as TAP diagnostics (on failure)
guest_tail() { tail -n "${2:-25}" "$1" | sed 's/^/#   | /'; }

# json_valid FILE: is FILE one JSON document?  python3 if it works, else a
# crude shape check.
json_valid() {
	if python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$1" 2>/dev/null; then
		return 0
	elif python3 -c 'pass' 2>/dev/null; then
		return 1
	fi
	tr -d ' \n\t' <"$1" | grep -qE '^(\{.*\}|\[.*\])$'
}

# ---------------------------------------------------------------- shm ----
# shm_create PATH SIZE: a file of SIZE bytes with a known (random) pattern
shm_create() {
	head -c "$2" /dev/urandom >"$1"
}
# shm_bytes PATH OFFSET LENGTH: those bytes as hex
shm_bytes() {
	dd if="$1" bs=1 skip="$2" count="$3" 2>/dev/null | od -An -v -tx1 | tr -d ' \n'
}
# shm_md5 PATH [OFFSET LENGTH]
shm_md5() {
	if [ $# -eq 1 ]; then md5sum <"$1" | cut -d' ' -f1; return; fi
	tail -c +"$(($2 + 1))" "$1" | head -c "$3" | md5sum | cut -d' ' -f1
}
