# tests/guest/libvirt.sh: the libvirt scenario's helpers (sourced by run.sh).
#
# Debian's libvirt daemon, started by the test, boots the guest: a session
# libvirtd (qemu:///session, no system service touched) runs as a user of
# its own when the test is root (LV_USER, made with useradd if missing), as
# the caller otherwise.  The domain is made of the devices docs/libvirt.md
# shows in its complete domain (<features>, the ivshmem-doorbell <shmem>,
# <iommu>), with the socket path of the test's server, and a skeleton of
# the rig's own (direct kernel boot of the rig's kernel and initramfs, the
# serial console to a file, the rig's QEMU, TCG unless the rig picked KVM).
#
#   libvirt_setup DIR   start libvirtd; 1 with the reason in LV_SKIP
#   libvirt_boot prepare|run DIR SOCK   the BOOT of doorbell_scenario
#   libvirt_teardown    the domain, libvirtd and its files gone
#
# The server's socket must be one QEMU, as LV_USER, may connect to:
# LV_SERVER_ARGS are the server options for that (as root: mode 0660, group
# LV_USER, as ivshmem-server@.socket does with the group ivshmem).

LV_USER=ivs-virt
LV_DIR=
LV_PID=
LV_DOM=ivshmem-guest-$$
LV_URI=qemu:///session
LV_SERVER_ARGS=

# lv_as CMD...: CMD as LV_USER in the session daemon's environment (every
# libvirt path under LV_DIR; no autostarted daemon of virsh's own)
lv_as() {
	local e="HOME=$LV_DIR/home XDG_RUNTIME_DIR=$LV_DIR/run XDG_CONFIG_HOME=$LV_DIR/home/.config"
	e="$e XDG_CACHE_HOME=$LV_DIR/home/.cache LIBVIRT_AUTOSTART=0 PATH=/usr/sbin:/usr/bin:/sbin:/bin"
	# shellcheck disable=SC2086
	if [ "$(id -u)" = 0 ]; then
		runuser -u "$LV_USER" -- env -i $e "$@"
	else
		env -i $e "$@"
	fi
}

libvirt_setup() {
	local log=$1 t
	LV_SKIP=
	for t in /usr/sbin/libvirtd virsh virt-xml-validate; do
		if ! command -v "$t" >/dev/null 2>&1; then
			LV_SKIP="$t not found (apt-get install libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients)"
			return 1
		fi
	done
	if [ "$(id -u)" = 0 ] && ! command -v runuser >/dev/null 2>&1; then
		LV_SKIP="runuser not found (util-linux)"; return 1
	fi
	if [ -z "$(find /usr/lib/*/libvirt/connection-driver -name 'libvirt_driver_qemu.so' 2>/dev/null | head -n 1)" ]; then
		LV_SKIP="libvirt's QEMU driver not found (apt-get install libvirt-daemon-driver-qemu)"
		return 1
	fi
	if [ "$(id -u)" = 0 ]; then
		if ! id -u "$LV_USER" >/dev/null 2>&1 && ! useradd -M -s /bin/sh "$LV_USER" 2>"$log.useradd"; then
			LV_SKIP="useradd $LV_USER failed: $(head -n 1 "$log.useradd")"
			return 1
		fi
		LV_SERVER_ARGS="--socket-mode 0660 --socket-group $(id -gn "$LV_USER")"
	else
		LV_USER=$(id -un)
	fi
	# a short path: libvirtd's socket is LV_DIR/run/libvirt/libvirt-sock
	LV_DIR=$(mktemp -d /tmp/ivshmem-lv.XXXXXX) || { LV_SKIP="mktemp failed"; return 1; }
	chmod 0755 "$LV_DIR"
	mkdir -p "$LV_DIR/home/.config/libvirt" "$LV_DIR/home/.cache" "$LV_DIR/run"
	chmod 0700 "$LV_DIR/run"
	# QEMU's output to a file, not through virtlogd (which would outlive us)
	echo 'stdio_handler = "file"' >"$LV_DIR/home/.config/libvirt/qemu.conf"
	# the kernel where LV_USER can read it
	cp "$RIG_VMLINUZ" "$LV_DIR/vmlinuz"
	chmod 0644 "$LV_DIR/vmlinuz"
	[ "$(id -u)" = 0 ] && chown -R "$LV_USER:" "$LV_DIR"
	lv_as /usr/sbin/libvirtd >"$log" 2>&1 &
	LV_PID=$!; bg $LV_PID
	# up once virsh gets an answer (it probes QEMU's capabilities first)
	local i=0
	while [ $i -lt 600 ]; do
		if [ -S "$LV_DIR/run/libvirt/libvirt-sock" ] &&
			lv_as virsh -q -c "$LV_URI" version >"$log.version" 2>&1; then
			return 0
		fi
		kill -0 "$LV_PID" 2>/dev/null || break
		sleep 0.1; i=$((i + 1))
	done
	LV_SKIP="libvirtd did not answer: $(tail -n 1 "$log")"
	return 1
}

# lv_domain_xml SOCK: the domain, from docs/libvirt.md's complete domain
lv_domain_xml() {
	local doc=$SRC_DIR/docs/libvirt.md blocks=$SRC_DIR/tests/docs/doc-blocks.sh n i b= type=qemu
	n=$(sh "$blocks" xml "$doc") || return 1
	for i in $(seq 1 "$n"); do
		sh "$blocks" xml "$doc" "$i" | grep -q '^<domain' && b=$i
	done
	[ -n "$b" ] || { g_log "libvirt: no <domain> in $doc"; return 1; }
	sh "$blocks" xml "$doc" "$b" >"$LV_DIR/doc-domain.xml" || return 1
	local from="$LV_DIR/doc-domain.xml"
	[ "$RIG_ACCEL" = kvm ] && [ -w /dev/kvm ] && type=kvm
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
	      <source path='$LV_DIR/console.log'/>
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
		rm -f "$LV_DIR/console.log"
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
		if ! lv_as virsh -q -c "$LV_URI" create "$LV_DIR/domain.xml" >"$dir/virsh.log" 2>&1; then
			g_log "libvirt: virsh create failed: $(tr '\n' ' ' <"$dir/virsh.log")"
			sed 's/^/virsh create: /' "$dir/virsh.log" >"$dir/boot.err"
			rc=1
		fi
		# a transient domain: gone from virsh once it is shut off
		while [ $rc = 0 ]; do
			st=$(lv_as virsh -q -c "$LV_URI" domstate "$LV_DOM" 2>/dev/null) || break
			case $st in "shut off"*|crashed*) break ;; esac
			if [ "$(date +%s)" -ge $end ]; then
				lv_as virsh -q -c "$LV_URI" destroy "$LV_DOM" >/dev/null 2>&1
				rc=124; break
			fi
			sleep 0.5
		done
		[ -f "$LV_DIR/console.log" ] && tr -d '\r' <"$LV_DIR/console.log" >"$dir/console.log"
		cp "$LV_DIR/home/.cache/libvirt/qemu/log/$LV_DOM.log" "$dir/qemu.log" 2>/dev/null
		[ $rc = 124 ] && echo "the domain still ran after ${GUEST_TIMEOUT} s: destroyed" >>"$dir/boot.err"
		[ $rc != 0 ] && [ -f "$dir/qemu.log" ] && tail -n 5 "$dir/qemu.log" | sed 's/^/qemu: /' >>"$dir/boot.err"
		g_log "libvirt: domain gone (status $rc), console in $dir/console.log, QEMU's log in $dir/qemu.log"
		return $rc
		;;
	esac
}

# libvirt_teardown: destroy the domain, stop libvirtd (SIGTERM, then
# SIGKILL after 10 s) and any QEMU it left (it daemonizes them), remove
# LV_DIR.  1 if something had to be killed or outlived it (what: LV_LEFT).
libvirt_teardown() {
	[ -n "$LV_DIR" ] || return 0
	local pids= p i=0 qpid
	LV_LEFT=
	if [ -n "$LV_PID" ] && kill -0 "$LV_PID" 2>/dev/null; then
		lv_as virsh -q -c "$LV_URI" destroy "$LV_DOM" >/dev/null 2>&1
		# libvirtd is runuser's child as root, the job itself otherwise
		pids=$(ps -o pid= --ppid "$LV_PID" 2>/dev/null)
		[ "$(id -u)" = 0 ] || pids="$pids $LV_PID"
	fi
	qpid=$(cat "$LV_DIR/run/libvirt/qemu/run/$LV_DOM.pid" 2>/dev/null)
	case $qpid in *[!0-9]*|'') ;; *) grep -q qemu "/proc/$qpid/cmdline" 2>/dev/null && pids="$pids $qpid" ;; esac
	# as root, anything else of LV_USER's (e.g. a virtlogd)
	[ "$(id -u)" = 0 ] && pids="$pids $(pgrep -u "$LV_USER" 2>/dev/null | tr '\n' ' ')"
	for p in $pids; do kill "$p" 2>/dev/null; done
	while [ $i -lt 100 ]; do
		local alive=
		for p in $pids; do kill -0 "$p" 2>/dev/null && alive="$alive $p"; done
		[ -z "$alive" ] && break
		sleep 0.1; i=$((i + 1))
	done
	for p in $pids; do
		kill -0 "$p" 2>/dev/null || continue
		LV_LEFT="$LV_LEFT $p:$(ps -o comm= -p "$p")"
		kill -9 "$p" 2>/dev/null
	done
	if [ -n "$LV_PID" ]; then
		kill "$LV_PID" 2>/dev/null; wait "$LV_PID" 2>/dev/null
		BG_PIDS=$(echo " $BG_PIDS " | sed "s/ $LV_PID / /")
	fi
	rm -rf "$LV_DIR"
	LV_DIR= LV_PID=
	[ -z "$LV_LEFT" ]
}
