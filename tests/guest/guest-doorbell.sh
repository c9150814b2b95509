# guest-doorbell.sh: runs inside the VM as /test/main.sh (busybox sh).
# One ivshmem-doorbell device (2 vectors) connected to `ivshmem server` on
# the host; host peers connected to the same server ring and wait too.
#
# Environment (from /test/env, written by run.sh:scenario_doorbell):
#   HOST_PEER_V1   ID of a host peer running `ivshmem wait server:SOCK 1`
#   HOST_PEER_V0   ID of a host peer running `ivshmem wait server:SOCK 0`
#   HOST_PEER_RW   ID of another host peer waiting on vector 0, rung by
#                  /bin/bar-rw with a bar_write to the Doorbell register
#   VECTORS        vectors the server was started with (-n)
#   SHM_SIZE       size of the shared memory
#   PHASE_OFF ACK_OFF  handshake with the host's ringer (8 bytes each): the
#                  guest writes a phase at PHASE_OFF, the host copies it to
#                  ACK_OFF and from then on rings this guest's ID as the
#                  phase says: PHASE-v0 vector 0, PHASE-v1 vector 1,
#                  PHASE-qt nothing.  Rings sent while no `wait` holds the
#                  device are lost (MSI-X is off), hence the host repeats.
#
#@check device-present
#@check sysfs-info
#@check sysfs-info-vectors
#@check sysfs-ring-host
#@check sysfs-wait-needs-vfio
#@check bind
#@check bind-driver
#@check info
#@check info-backend-vfio
#@check info-vectors
#@check info-ivposition-agrees
#@check info-json
#@check ring-host
#@check ring-missing-peer
#@check ring-missing-peer-device-ok
#@check ring-vector-out-of-range
#@check bar-rw-db-open
#@check bar-rw-db-id
#@check bar-rw-db-ring
#@check wait-vector-out-of-range
#@check handshake-v0
#@check wait-v0
#@check wait-v0-output
#@check handshake-v1
#@check wait-v1
#@check wait-v1-output
#@check wait-v0-not-woken-by-v1
#@check handshake-quiet
#@check wait-quiet-times-out

. /test/lib.sh
export PATH=/bin:/sbin:/usr/bin:/usr/sbin

devs=$(find_ivshmem)
n=$(echo $devs | wc -w)
expect device-present "want 1 IVSHMEM device, found $n: $devs" [ "$n" = 1 ]
DEV=$(echo $devs | cut -d' ' -f1)
[ -n "$DEV" ] || exit 1
echo "GUEST-INFO device $DEV driver $(pci_driver $DEV)"

# field NAME FILE: the value of "NAME: value" in `ivshmem info` output
field() { sed -n "s/^$1:[[:space:]]*//p" "$2" | head -n 1 | cut -d' ' -f1; }

# --- sysfs backend (not bound yet): info, ring; wait needs vfio ----------
if capture sysfs-info ivshmem info auto; then ok sysfs-info; else fail sysfs-info "exit $RC"; detail sysfs-info /tmp/sysfs-info.err; fi
v=$(field vectors /tmp/sysfs-info.out)
expect sysfs-info-vectors "vectors '$v', want $VECTORS" [ "$v" = "$VECTORS" ]
SYSFS_POS=$(field ivposition /tmp/sysfs-info.out)
check sysfs-ring-host ivshmem ring auto "$HOST_PEER_V0" 0
run sysfs-wait-needs-vfio ivshmem wait auto 0 --timeout 5
if [ $RC = 1 ] && grep -qi vfio /tmp/sysfs-wait-needs-vfio.err &&
	[ "$(wc -l </tmp/sysfs-wait-needs-vfio.err)" = 1 ]; then ok sysfs-wait-needs-vfio
else fail sysfs-wait-needs-vfio "exit $RC, want 1 and one line naming vfio"
	detail sysfs-wait-needs-vfio /tmp/sysfs-wait-needs-vfio.err; fi
sed 's/^/GUEST-INFO sysfs wait stderr: /' /tmp/sysfs-wait-needs-vfio.err

# --- vfio ----------------------------------------------------------------
check bind ivshmem bind auto
drv=$(pci_driver $DEV)
expect bind-driver "driver is $drv after 'ivshmem bind auto'" [ "$drv" = vfio-pci ]

if capture info ivshmem info auto; then ok info; else fail info "exit $RC"; detail info /tmp/info.err; fi
b=$(field backend /tmp/info.out)
expect info-backend-vfio "backend '$b', want vfio" [ "$b" = vfio ]
v=$(field vectors /tmp/info.out)
expect info-vectors "vectors '$v', want $VECTORS" [ "$v" = "$VECTORS" ]
POS=$(field ivposition /tmp/info.out)
expect info-ivposition-agrees "ivposition '$POS' (vfio) vs '$SYSFS_POS' (sysfs)" \
	[ -n "$POS" ] && [ "$POS" = "$SYSFS_POS" ]
# the host compares ivposition with the ID its server gave QEMU
capture info-json ivshmem info auto --json
if [ $RC = 0 ]; then ok info-json; else fail info-json "exit $RC"; detail info-json /tmp/info-json.err; fi

# guest -> host on vector 1 (the host peer has waited since before boot)
check ring-host ivshmem ring auto "$HOST_PEER_V1" 1
# a doorbell for a peer nobody has: the device drops it
check ring-missing-peer ivshmem ring auto 999 0
check ring-missing-peer-device-ok ivshmem info auto
# registers without a BAR0 mapping (bar-rw prints its own GUEST-OK/FAIL)
if command -v bar-rw >/dev/null 2>&1; then
	bar-rw doorbell $DEV "$HOST_PEER_RW" 0 2>/tmp/bar-rw.err
	sed 's/^/GUEST-INFO bar-rw stderr: /' /tmp/bar-rw.err
else
	fail bar-rw-db-open "no /bin/bar-rw (build tests/guest/bar-rw.c, pass it with --bin)"
fi
run ring-vector-out-of-range ivshmem ring auto "$HOST_PEER_V1" 64
if [ $RC = 1 ]; then ok ring-vector-out-of-range
else fail ring-vector-out-of-range "exit $RC, want 1"; detail ring-vector-out-of-range /tmp/ring-vector-out-of-range.err; fi
run wait-vector-out-of-range ivshmem wait auto "$VECTORS" --timeout 5
if [ $RC = 1 ] && grep -q 'out of range' /tmp/wait-vector-out-of-range.err; then ok wait-vector-out-of-range
else fail wait-vector-out-of-range "exit $RC, want 1 and 'out of range'"
	detail wait-vector-out-of-range /tmp/wait-vector-out-of-range.err; fi

# --- host -> guest -------------------------------------------------------
# phase NAME: tell the host what to ring and wait (bounded) for its ack
phase() {
	printf '%s' "PHASE-$1" >/tmp/phase.bin
	ivshmem write auto --offset "$PHASE_OFF" </tmp/phase.bin 2>/tmp/phase.err || return 1
	_i=0
	while [ $_i -lt 150 ]; do
		[ "$(ivshmem read auto --offset "$ACK_OFF" --length 8 2>/dev/null)" = "PHASE-$1" ] && return 0
		sleep 0.2
		_i=$((_i + 1))
	done
	echo "no ack from the host for PHASE-$1 within 30 s" >/tmp/phase.err
	return 1
}

# wait_check NAME VECTOR: `ivshmem wait auto VECTOR` must get an interrupt
wait_check() {
	run $1 ivshmem wait auto $2 --timeout 30
	if [ $RC = 0 ]; then ok $1; else fail $1 "exit $RC, want 0"; detail $1 /tmp/$1.err; fi
	if grep -qE "^interrupt vector $2 count [1-9][0-9]*\$" /tmp/$1.out; then ok $1-output
	else fail $1-output "want 'interrupt vector $2 count N'"; detail $1-output /tmp/$1.out; fi
	sed "s/^/GUEST-INFO $1: /" /tmp/$1.out
}

if phase v0; then ok handshake-v0; else fail handshake-v0 "$(cat /tmp/phase.err)"; fi
wait_check wait-v0 0

if phase v1; then ok handshake-v1; else fail handshake-v1 "$(cat /tmp/phase.err)"; fi
wait_check wait-v1 1
# the host keeps ringing vector 1 only: a wait on vector 0 must time out
run wait-v0-not-woken-by-v1 ivshmem wait auto 0 --timeout 3
if [ $RC = 2 ]; then ok wait-v0-not-woken-by-v1
else fail wait-v0-not-woken-by-v1 "exit $RC, want 2 (timeout) while only vector 1 is rung"
	detail wait-v0-not-woken-by-v1 /tmp/wait-v0-not-woken-by-v1.out
	detail wait-v0-not-woken-by-v1 /tmp/wait-v0-not-woken-by-v1.err; fi

if phase qt; then ok handshake-quiet; else fail handshake-quiet "$(cat /tmp/phase.err)"; fi
run wait-quiet-times-out ivshmem wait auto 1 --timeout 2
if [ $RC = 2 ]; then ok wait-quiet-times-out
else fail wait-quiet-times-out "exit $RC, want 2 (nobody rings)"
	detail wait-quiet-times-out /tmp/wait-quiet-times-out.out
	detail wait-quiet-times-out /tmp/wait-quiet-times-out.err; fi

sync
