# tests/guest/libvirt.sh: the libvirt scenario's helpers (sourced by run.sh).
#
# Debian's libvirt daemon, started by the test, boots the guest: a session
# libvirtd (qemu:///session, no system service touched) runs as a user of
# its own when the test is root (LV_USER, made if missing, in the group
# LV_GROUP that may connect to the server, as libvirt-qemu is put in the
# group ivshmem), as the caller otherwise.  The domain is made of the
# devices docs/libvirt.md shows in its complete domain (<features>, the
# ivshmem-doorbell <shmem>, <iommu>), with the socket path of the test's
# server, and a skeleton of the rig's own (direct kernel boot of the rig's
# kernel and initramfs, the serial console to a file, the rig's QEMU, TCG
# unless the rig picked KVM and LV_USER may use it).
#
#   libvirt_setup LOG   start libvirtd (its output in LOG); 1 with the
#                       reason in LV_SKIP
#   libvirt_boot prepare|run DIR SOCK   the BOOT of doorbell_scenario
#   libvirt_teardown    the domain, libvirtd and its files gone
#
# LV_SERVER_ARGS are the server options that let QEMU (as LV_USER) in: as
# root, mode 0660 and group LV_GROUP, as ivshmem-server@.socket does.
#
# As root, nothing LV_USER can write is opened by root: LV_DIR is root's
# (the kernel, initramfs and domain XML, 0644), LV_USER owns only its
# home/, run/ and out/ (QEMU's serial console), and what root takes from
# those is read as LV_USER, bounded in time and size (lv_read).  Every
# virsh call is bounded (lv_virsh); no wait in the teardown is unbounded.

LV_USER=ivs-virt
LV_GROUP=ivs-virt-sock
LV_DIR=
LV_PID=
LV_DOM=ivs-guest-$$
LV_URI=qemu:///session
LV_SERVER_ARGS=
LV_LEFT=

# LV_AS (an array, set by libvirt_setup): the command prefix that runs a
# program as LV_USER (its groups, none of root's) in a session of its own
# (no terminal of ours to type into), in the session daemon's environment
# (every libvirt path under LV_DIR; virsh starts no daemon of its own)
LV_AS=()
lv_set_as() {
	local e=(env -i "HOME=$LV_DIR/home" "XDG_RUNTIME_DIR=$LV_DIR/run"
		"XDG_CONFIG_HOME=$LV_DIR/home/.config" "XDG_CACHE_HOME=$LV_DIR/home/.cache"
		LIBVIRT_AUTOSTART=0 PATH=/usr/sbin:/usr/bin:/sbin:/bin)
	if [ "$(id -u)" = 0 ]; then
		LV_AS=(setpriv --reuid="$LV_USER" --regid="$(id -g "$LV_USER")" --init-groups -- setsid "${e[@]}")
	else
		LV_AS=(setsid "${e[@]}")
	fi
}
# lv_as CMD...: CMD as LV_USER; lv_exec: the same, replacing this (sub)shell
# (a background job is no process group leader, so setsid need not fork and
# $! is CMD)
lv_as() { "${LV_AS[@]}" "$@" </dev/null; }
lv_exec() { exec "${LV_AS[@]}" "$@" </dev/null; }
# lv_virsh SECONDS ARGS...: virsh on the session daemon, killed after
# SECONDS; the timeout is ours, in our process group (--foreground: it
# stays there), so a signal to the test reaches it and it passes it on
lv_virsh() {
	local s=$1; shift
	timeout --foreground -k 2 "$s" "${LV_AS[@]}" virsh -q -c "$LV_URI" "$@" </dev/null
}
# lv_read FILE: FILE as LV_USER reads it, at most 16 MiB in 5 s (a FIFO or
# a link to /dev/zero there costs nothing; a link to root's files fails)
lv_read() { timeout --foreground -k 1 5 "${LV_AS[@]}" head -c 16777216 -- "$1" </dev/null; }
# lv_qemu_pids: this run's QEMU (libvirt names the domain on its command
# line: -name guest=NAME,...; LV_DOM holds our pid)
lv_qemu_pids() { pgrep -u "$LV_USER" -f -- "guest=$LV_DOM," 2>/dev/null; }
# lv_reap_orphans: as root, kill LV_USER's processes left by an earlier run
# that was killed outright (SIGKILL runs no cleanup), and remove its LV_DIR:
# the run's pid, in the LV_DIR named on their command line (QEMU) or in
# their environment (libvirtd), is gone
lv_reap_orphans() {
	local p d run
	for p in $(pgrep -u "$LV_USER" 2>/dev/null); do
		d=$(cat "/proc/$p/cmdline" "/proc/$p/environ" 2>/dev/null | tr '\0' '\n' |
			grep -o '/tmp/ivs-lv-[0-9]*\.[A-Za-z0-9]*' | head -n 1)
		[ -n "$d" ] || continue
		run=${d#/tmp/ivs-lv-}; run=${run%%.*}
		kill -0 "$run" 2>/dev/null && continue
		g_log "libvirt: killing $p ($(cat "/proc/$p/comm" 2>/dev/null)), left by run $run (gone)"
		kill -9 "$p" 2>/dev/null
		# its directory, if it is one this test made (root's)
		[ -d "$d" ] && [ ! -L "$d" ] && [ "$(stat -c %u "$d")" = 0 ] && rm -rf "$d"
	done
}

libvirt_setup() {
	local log=$1 t
	LV_SKIP=
	for t in /usr/sbin/libvirtd virsh virt-xml-validate timeout pgrep; do
		if ! command -v "$t" >/dev/null 2>&1; then
			LV_SKIP="$t not found (apt-get install libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients)"
			return 1
		fi
	done
	if [ -z "$(find /usr/lib/*/libvirt/connection-driver -name 'libvirt_driver_qemu.so' 2>/dev/null | head -n 1)" ]; then
		LV_SKIP="libvirt's QEMU driver not found (apt-get install libvirt-daemon-driver-qemu)"
		return 1
	fi
	if [ "$(id -u)" = 0 ]; then
		command -v setpriv >/dev/null 2>&1 || { LV_SKIP="setpriv not found (util-linux)"; return 1; }
		if ! getent group "$LV_GROUP" >/dev/null && ! groupadd --system "$LV_GROUP" 2>"$log"; then
			LV_SKIP="groupadd $LV_GROUP failed: $(head -n 1 "$log")"; return 1
		fi
		if ! id -u "$LV_USER" >/dev/null 2>&1 &&
			! useradd --system -M -d /nonexistent -s /usr/sbin/nologin -G "$LV_GROUP" "$LV_USER" 2>"$log"; then
			LV_SKIP="useradd $LV_USER failed: $(head -n 1 "$log")"; return 1
		fi
		# a user made by an earlier version of this test: put it in the group
		if ! id -Gn "$LV_USER" | tr ' ' '\n' | grep -qx "$LV_GROUP" &&
			! usermod -a -G "$LV_GROUP" "$LV_USER" 2>"$log"; then
			LV_SKIP="usermod -a -G $LV_GROUP $LV_USER failed: $(head -n 1 "$log")"; return 1
		fi
		LV_SERVER_ARGS="--socket-mode 0660 --socket-group $LV_GROUP"
		lv_reap_orphans
	else
		LV_USER=$(id -un)
	fi
	# a short path (UNIX socket paths hold 107 bytes; the longest, QEMU's
	# monitor, is LV_DIR/home/.config/libvirt/qemu/lib/domain-N-NAME/...),
	# with our pid for lv_reap_orphans
	LV_DIR=$(mktemp -d "/tmp/ivs-lv-$$.XXXXXX") || { LV_SKIP="mktemp failed"; return 1; }
	chmod 0755 "$LV_DIR"
	lv_set_as
	mkdir -p "$LV_DIR/home/.config/libvirt" "$LV_DIR/home/.cache" "$LV_DIR/run" "$LV_DIR/out"
	chmod 0700 "$LV_DIR/run"
	# QEMU's output to a file, not through virtlogd (which would outlive us)
	echo 'stdio_handler = "file"' >"$LV_DIR/home/.config/libvirt/qemu.conf"
	cp "$RIG_VMLINUZ" "$LV_DIR/vmlinuz" && chmod 0644 "$LV_DIR/vmlinuz" ||
		{ LV_SKIP="cannot copy the kernel into $LV_DIR"; return 1; }
	[ "$(id -u)" = 0 ] && chown -R "$LV_USER:" "$LV_DIR/home" "$LV_DIR/run" "$LV_DIR/out"
	# libvirtd itself is $! (no runuser or shell in between to signal)
	lv_exec /usr/sbin/libvirtd >"$log" 2>&1 &
	LV_PID=$!; bg $LV_PID
	# up once virsh gets an answer (it probes QEMU's capabilities first)
	local end=$(($(date +%s) + 60))
	while [ "$(date +%s)" -lt $end ]; do
		if [ -S "$LV_DIR/run/libvirt/libvirt-sock" ] && lv_virsh 10 version >"$log.version" 2>&1; then
			return 0
		fi
		kill -0 "$LV_PID" 2>/dev/null || break
		sleep 0.2
	done
	LV_SKIP="libvirtd did not answer within 60 s: $(tail -n 1 "$log")"
	return 1
}

# lv_domain_xml SOCK: the domain, from docs/libvirt.md's complete domain
lv_domain_xml() {
	local doc=$SRC_DIR/docs/libvirt.md blocks=$SRC_DIR/tests/docs/doc-blocks.sh n i b= type=qemu
	local from=$LV_DIR/doc-domain.xml
	n=$(sh "$blocks" xml "$doc") || return 1
	for i in $(seq 1 "$n"); do
		sh "$blocks" xml "$doc" "$i" | grep -q '^<domain' && b=$i
	done
	[ -n "$b" ] || { g_log "libvirt: no <domain> in $doc"; return 1; }
	sh "$blocks" xml "$doc" "$b" >"$from" || return 1
	[ "$RIG_ACCEL" = kvm ] && lv_as test -w /dev/kvm && type=kvm
	cat <<-EOF
	<domain type='$type'>
	  <name>$LV_DOM</name>
	  <memory unit='MiB'>512</memory>
	  <vcpu>1</vcpu>
	  <os>
	$(grep "<type arch=" "$from")
	    <kernel>$LV_DIR/vmlinuz</kernel>
	    <initrd>$LV_DIR/initrd.cpio.gz</initrd>
	    <cmdline>console=ttyS0 panic=-1 quiet intel_iommu=on</cmdline>
	  </os>
	$(sed -n '/<features>/,/<\/features>/p' "$from")
	  <on_poweroff>destroy</on_poweroff>
	  <on_reboot>destroy</on_reboot>
	  <on_crash>destroy</on_crash>
	  <devices>
	    <emulator>$RIG_QEMU</emulator>
	    <serial type='file'>
	      <source path='$LV_DIR/out/console.log'/>
	      <target port='0'/>
	    </serial>
	$(sed -n '/<shmem /,/<\/shmem>/p' "$from" | sed "s|<server path='[^']*'/>|<server path='$1'/>|")
	$(sed -n '/<iommu /,/<\/iommu>/p' "$from")
	  </devices>
	</domain>
	EOF
}

libvirt_boot() {
	local what=$1 dir=$2 sock=$3 name
	name=$(basename "$2")
	case $what in
	prepare)
		cp "$dir/initrd.cpio.gz" "$LV_DIR/initrd.cpio.gz" && chmod 0644 "$LV_DIR/initrd.cpio.gz" || return 1
		if ! lv_domain_xml "$sock" >"$dir/domain.xml"; then
			tap_not_ok "$name: host: domain XML made from docs/libvirt.md"
			return 1
		fi
		if grep -q "<server path='$sock'/>" "$dir/domain.xml" && grep -q '<iommu ' "$dir/domain.xml" &&
			virt-xml-validate "$dir/domain.xml" domain >"$dir/validate.out" 2>&1; then
			tap_ok "$name: host: domain XML made from docs/libvirt.md's devices is valid ($dir/domain.xml)"
		else
			tap_not_ok "$name: host: domain XML made from docs/libvirt.md's devices is valid"
			sed 's/^/#   /' "$dir/validate.out"
			return 1
		fi
		cp "$dir/domain.xml" "$LV_DIR/domain.xml" && chmod 0644 "$LV_DIR/domain.xml"
		;;
	run)
		local end=$(($(date +%s) + GUEST_TIMEOUT)) st rc=0
		g_log "libvirt: virsh create $dir/domain.xml ($LV_URI as $LV_USER)"
		if ! lv_virsh "$GUEST_TIMEOUT" create "$LV_DIR/domain.xml" >"$dir/virsh.log" 2>&1; then
			g_log "libvirt: virsh create failed: $(tr '\n' ' ' <"$dir/virsh.log")"
			sed 's/^/virsh create: /' "$dir/virsh.log" >"$dir/boot.err"
			rc=1
		fi
		# a transient domain: gone from virsh once it is shut off; any
		# other failure of virsh (a timeout, a lost connection) is one
		while [ $rc = 0 ]; do
			if ! st=$(lv_virsh 10 domstate "$LV_DOM" 2>&1); then
				case $st in
				*"failed to get domain"*|*"Domain not found"*) break ;;
				esac
				echo "virsh domstate: $st" >>"$dir/boot.err"
				lv_virsh 10 destroy "$LV_DOM" >/dev/null 2>&1
				rc=1; break
			fi
			case $st in "shut off"*|crashed*) break ;; esac
			if [ "$(date +%s)" -ge $end ]; then
				lv_virsh 10 destroy "$LV_DOM" >/dev/null 2>&1
				rc=124; break
			fi
			sleep 0.5
		done
		lv_read "$LV_DIR/out/console.log" 2>/dev/null | tr -d '\r' >"$dir/console.log"
		lv_read "$LV_DIR/home/.cache/libvirt/qemu/log/$LV_DOM.log" >"$dir/qemu.log" 2>/dev/null
		[ $rc = 124 ] && echo "the domain still ran after ${GUEST_TIMEOUT} s: destroyed" >>"$dir/boot.err"
		[ $rc != 0 ] && [ -s "$dir/qemu.log" ] && tail -n 5 "$dir/qemu.log" | sed 's/^/qemu: /' >>"$dir/boot.err"
		g_log "libvirt: domain gone (status $rc), console in $dir/console.log, QEMU's log in $dir/qemu.log"
		return $rc
		;;
	esac
}

# libvirt_teardown: destroy the domain, SIGTERM libvirtd and wait for it
# (10 s, then SIGKILL), kill any QEMU of this run still there (libvirtd
# daemonizes them, and leaves them running when it stops), remove LV_DIR.
# 1 if something had to be killed (what: LV_LEFT).  With CLEANUP_FAST set
# (the test was signalled: meson kills it 0.5 s later), SIGKILL at once,
# and QEMU looked for three times over 0.2 s (one being forked by libvirtd
# still has libvirtd's command line).
libvirt_teardown() {
	[ -n "$LV_DIR" ] || return 0
	local p i=0
	LV_LEFT=
	if [ -n "${CLEANUP_FAST:-}" ]; then
		[ -n "$LV_PID" ] && kill -9 "$LV_PID" 2>/dev/null
		for i in 1 2 3; do
			for p in $(lv_qemu_pids); do kill -9 "$p" 2>/dev/null; done
			[ $i = 3 ] || sleep 0.1
		done
		rm -rf "$LV_DIR"
		LV_DIR= LV_PID=
		return 0
	fi
	if [ -n "$LV_PID" ] && kill -0 "$LV_PID" 2>/dev/null; then
		lv_virsh 10 destroy "$LV_DOM" >/dev/null 2>&1
		kill "$LV_PID" 2>/dev/null
		while kill -0 "$LV_PID" 2>/dev/null && [ $i -lt 100 ] && [ -z "${CLEANUP_FAST:-}" ]; do
			sleep 0.1; i=$((i + 1))
		done
		if kill -0 "$LV_PID" 2>/dev/null; then
			LV_LEFT="$LV_LEFT libvirtd($LV_PID, still running 10 s after SIGTERM)"
			kill -9 "$LV_PID" 2>/dev/null
		fi
		wait "$LV_PID" 2>/dev/null
		BG_PIDS=$(echo " $BG_PIDS " | sed "s/ $LV_PID / /")
	fi
	for p in $(lv_qemu_pids); do
		LV_LEFT="$LV_LEFT qemu($p, still running after virsh destroy)"
		kill -9 "$p" 2>/dev/null
	done
	rm -rf "$LV_DIR"
	LV_DIR= LV_PID=
	[ -z "$LV_LEFT" ]
}
