# guest-doorbell2.sh: runs inside the VM as /test/main.sh (busybox sh).
# Two VMs (ROLE A and B), each with an ivshmem-doorbell device on the same
# `ivshmem server`: they find each other's peer ID through the shared memory
# and ring each other, both ways.
#
#   A: publish own ID at SLOT_A; wait on vector 0 (B rings);  mark GOT_A;
#      read B's ID from SLOT_B; ring B on vector 1 until GOT_B appears.
#   B: publish own ID at SLOT_B; read A's ID from SLOT_A; ring A on vector 0
#      until GOT_A appears; wait on vector 1 (A rings); mark GOT_B.
# Rings sent while the other side isn't waiting yet are lost (MSI-X off),
# hence the ring loops.  Every loop and wait is bounded.
#
# Environment (from /test/env): ROLE, SLOT_A, SLOT_B, GOT_A, GOT_B (offsets
# of 8-byte fields; the server's memory starts zeroed), VECTORS.
#
#@check device-present
#@check bind
#@check info
#@check info-vectors
#@check publish-id
#@check peer-id
#@check wait-from-peer
#@check wait-from-peer-output
#@check publish-got
#@check ring-peer-until-got

. /test/lib.sh
export PATH=/bin:/sbin:/usr/bin:/usr/sbin

devs=$(find_ivshmem)
n=$(echo $devs | wc -w)
expect device-present "want 1 IVSHMEM device, found $n: $devs" [ "$n" = 1 ]
[ "$n" = 1 ] || exit 1

field() { sed -n "s/^$1:[[:space:]]*//p" "$2" | head -n 1 | cut -d' ' -f1; }
# put OFFSET STRING (8 bytes)
put() { printf '%s' "$2" >/tmp/put.bin && ivshmem write auto --offset "$1" </tmp/put.bin; }
get() { ivshmem read auto --offset "$1" --length 8 2>/dev/null | tr -d '\000'; }

check bind ivshmem bind auto
if capture info ivshmem info auto; then ok info; else fail info "exit $RC"; detail info /tmp/info.err; fi
v=$(field vectors /tmp/info.out)
expect info-vectors "vectors '$v', want $VECTORS" [ "$v" = "$VECTORS" ]
ME=$(field ivposition /tmp/info.out)
echo "GUEST-INFO role $ROLE ivposition $ME"

if [ "$ROLE" = A ]; then
	MY_SLOT=$SLOT_A PEER_SLOT=$SLOT_B MY_GOT=$GOT_A PEER_GOT=$GOT_B MY_VEC=0 PEER_VEC=1 PEER=B
else
	MY_SLOT=$SLOT_B PEER_SLOT=$SLOT_A MY_GOT=$GOT_B PEER_GOT=$GOT_A MY_VEC=1 PEER_VEC=0 PEER=A
fi
check publish-id put "$MY_SLOT" "$(printf 'ID=%05d' "$ME")"

# peer_id: the other VM's ID from its slot (bounded: 60 s)
peer_id() {
	_end=$(($(date +%s) + 60))
	while [ "$(date +%s)" -lt $_end ]; do
		_s=$(get "$PEER_SLOT")
		case $_s in ID=[0-9][0-9][0-9][0-9][0-9]) PEER_ID=$((1${_s#ID=} - 100000)); return 0 ;; esac
		sleep 0.3
	done
	return 1
}
do_peer_id() {
	if peer_id; then ok peer-id; echo "GUEST-INFO peer $PEER is $PEER_ID"
	else fail peer-id "no ID from $PEER at offset $PEER_SLOT within 60 s"; fi
}
do_wait() {
	run wait-from-peer ivshmem wait auto $MY_VEC --timeout 90
	if [ $RC = 0 ]; then ok wait-from-peer; else fail wait-from-peer "exit $RC"; detail wait-from-peer /tmp/wait-from-peer.err; fi
	if grep -qE "^interrupt vector $MY_VEC count [1-9][0-9]*\$" /tmp/wait-from-peer.out; then ok wait-from-peer-output
	else fail wait-from-peer-output "want 'interrupt vector $MY_VEC count N'"; detail wait-from-peer-output /tmp/wait-from-peer.out; fi
	if [ $RC = 0 ]; then check publish-got put "$MY_GOT" "GOTIT--$ROLE"
	else fail publish-got "no interrupt, no marker"; fi
}
do_ring() {
	if [ -z "${PEER_ID:-}" ]; then fail ring-peer-until-got "no peer ID"; return; fi
	_end=$(($(date +%s) + 90)) _n=0 _bad=0
	while [ "$(date +%s)" -lt $_end ]; do
		if [ "$(get "$PEER_GOT")" = "GOTIT--$PEER" ]; then
			ok ring-peer-until-got; echo "GUEST-INFO rang $PEER $_n times ($_bad failed)"; return
		fi
		ivshmem ring auto "$PEER_ID" $PEER_VEC 2>/tmp/ring.err || _bad=$((_bad + 1))
		_n=$((_n + 1))
		sleep 0.3
	done
	fail ring-peer-until-got "rang $PEER ($PEER_ID) vector $PEER_VEC $_n times ($_bad failed), no GOTIT--$PEER within 90 s"
	detail ring-peer-until-got /tmp/ring.err
}

if [ "$ROLE" = A ]; then
	do_wait
	do_peer_id
	do_ring
else
	do_peer_id
	do_ring
	do_wait
fi
sync
