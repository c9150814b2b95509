# guest-daemon.sh: runs inside the VM as /test/main.sh (busybox sh).
# `ivshmem daemon` brokers the doorbell device (bound to vfio-pci) to
# unprivileged users inside the guest (issue #5).  Users (from /etc/passwd
# and /etc/group that run.sh puts in the initramfs):
#   alice 1000:1000, supplementary group ivs (2000) - allowed
#   bob   1001:1001, not in ivs                      - refused
# Commands run as them with /bin/runas (tests/guest/runas.c).
#
# Environment (from /test/env, written by run.sh:scenario_daemon):
#   HOST_PEER_V1   host peer waiting on vector 1 (alice rings it through the daemon)
#   HOST_MARK HOST_MARK_OFF   what the host wrote into the memory before boot
#   ALICE_MARK ALICE_OFF      what alice writes (the host checks it)
#   RO_OFF                    where the refused read-only write would go
#   PHASE_OFF ACK_OFF         ring handshake with the host (see guest-doorbell.sh)
#
#@check device-present
#@check bind
#@check root-info
#@check daemon-start
#@check socket-world-connectable
#@check allowed-info
#@check allowed-info-ivposition
#@check allowed-read-host-marker
#@check allowed-write
#@check allowed-readback
#@check denied-user-refused
#@check denied-user-one-line
#@check group-needed
#@check allowed-ring-host
#@check two-waiters-connected
#@check handshake-v0
#@check waiter-1-interrupt
#@check waiter-2-interrupt
#@check handshake-quiet
#@check daemon-alive
#@check churn-100-fds
#@check daemon-stop
#@check daemon-stop-ends-waiter
#@check ro-daemon-start
#@check ro-read
#@check ro-write-refused
#@check ro-write-untouched
#@check ro-daemon-stop
#@check excl-daemon-start
#@check excl-first-connected
#@check excl-second-refused
#@check excl-after-release
#@check excl-daemon-stop

. /test/lib.sh
export PATH=/bin:/sbin:/usr/bin:/usr/sbin

SOCK=/run/ivshmem/d.sock
D=daemon:$SOCK
# (variables, not functions: `$ALICE cmd &` must give the client's PID)
ALICE="runas 1000 1000 2000 --"
alice() { runas 1000 1000 2000 -- "$@"; }
alice_nogroup() { runas 1000 1000 - -- "$@"; }
bob() { runas 1001 1001 - -- "$@"; }
field() { sed -n "s/^$1:[[:space:]]*//p" "$2" | head -n 1 | cut -d' ' -f1; }

devs=$(find_ivshmem)
n=$(echo $devs | wc -w)
expect device-present "want 1 IVSHMEM device, found $n: $devs" [ "$n" = 1 ]
[ "$n" = 1 ] || exit 1
check bind ivshmem bind auto
if capture root-info ivshmem info auto; then ok root-info; else fail root-info "exit $RC"; detail root-info /tmp/root-info.err; fi
POS=$(field ivposition /tmp/root-info.out)

# daemon_start NAME OPTION...: the daemon in the background (DPID), up when
# its socket exists (bounded: 15 s)
DLOG=/tmp/daemon.log
daemon_start() {
	_n=$1; shift
	rm -f $SOCK
	echo "=== ivshmem daemon auto --socket $SOCK --allow-group ivs -v $*" >>$DLOG
	ivshmem daemon auto --socket $SOCK --allow-group ivs -v "$@" >>$DLOG 2>&1 &
	DPID=$!
	_i=0
	while [ $_i -lt 150 ]; do
		if [ -S $SOCK ]; then ok $_n; return 0; fi
		kill -0 $DPID 2>/dev/null || break
		sleep 0.1; _i=$((_i + 1))
	done
	fail $_n "no socket $SOCK (daemon $(kill -0 $DPID 2>/dev/null && echo running || echo exited))"
	tail -n 10 $DLOG >/tmp/$_n.log; detail $_n /tmp/$_n.log
	return 1
}
# daemon_stop NAME: SIGTERM; ok if it exits 0 within 10 s
daemon_stop() {
	kill $DPID 2>/dev/null
	_i=0
	while kill -0 $DPID 2>/dev/null && [ $_i -lt 100 ]; do sleep 0.1; _i=$((_i + 1)); done
	if kill -0 $DPID 2>/dev/null; then
		kill -9 $DPID; wait $DPID; fail $1 "still running 10 s after SIGTERM"; return
	fi
	wait $DPID; _rc=$?
	if [ $_rc = 0 ]; then ok $1; else fail $1 "exit $_rc after SIGTERM"; tail -n 5 $DLOG >/tmp/$1.log; detail $1 /tmp/$1.log; fi
}
# connected PID VECTOR: the daemon answered PID's subscription to VECTOR
# (-v logs every request; the 'connected' line is rate-limited and comes at
# HELLO, before the open is done): PID waits on VECTOR from now on, and no
# interrupt on it can be missed.  Bounded: 10 s.
connected() {
	_i=0
	while [ $_i -lt 100 ]; do
		grep -q "client pid $1: SUBSCRIBE $2 .*-> 0" $DLOG && return 0
		sleep 0.1; _i=$((_i + 1))
	done
	return 1
}
# refused NAME FILE: exit 1 and one line saying "permission denied"
refused() {
	if [ $RC = 1 ] && grep -qi 'permission denied' /tmp/$1.err; then ok $1
	else fail $1 "exit $RC, want 1 and 'permission denied'"; detail $1 /tmp/$1.err; detail $1 /tmp/$1.out; fi
}

# --- shared, read-write, group ivs ---------------------------------------
daemon_start daemon-start || { cat $DLOG | sed 's/^/GUEST-INFO daemon: /'; exit 1; }
m=$(stat -c %a $SOCK 2>&1)
case $m in ??[67]) ok socket-world-connectable ;;
*) fail socket-world-connectable "socket mode $m: want o+rw (the policy decides, not the mode)" ;; esac

run allowed-info alice ivshmem info $D
if [ $RC = 0 ]; then ok allowed-info; else fail allowed-info "exit $RC"; detail allowed-info /tmp/allowed-info.err; fi
sed 's/^/GUEST-INFO alice info: /' /tmp/allowed-info.out
p=$(field ivposition /tmp/allowed-info.out)
expect allowed-info-ivposition "ivposition '$p' through the daemon, '$POS' from the device" [ "$p" = "$POS" ]

r=$(alice ivshmem read $D --offset $HOST_MARK_OFF --length ${#HOST_MARK} 2>/tmp/r.err | tr -d '\000')
expect allowed-read-host-marker "read '$r', want '$HOST_MARK' ($(head -c 200 /tmp/r.err))" [ "$r" = "$HOST_MARK" ]
printf '%s' "$ALICE_MARK" >/tmp/alice.bin
chmod 644 /tmp/alice.bin
check allowed-write alice sh -c "ivshmem write $D --offset $ALICE_OFF </tmp/alice.bin"
r=$(alice ivshmem read $D --offset $ALICE_OFF --length ${#ALICE_MARK} 2>/tmp/r.err)
expect allowed-readback "read '$r', want '$ALICE_MARK' ($(head -c 200 /tmp/r.err))" [ "$r" = "$ALICE_MARK" ]

run denied-user-refused bob ivshmem read $D --length 16
refused denied-user-refused
if [ "$(wc -l </tmp/denied-user-refused.err)" = 1 ] && [ ! -s /tmp/denied-user-refused.out ]; then ok denied-user-one-line
else fail denied-user-one-line "want one line on stderr, nothing on stdout"; detail denied-user-one-line /tmp/denied-user-refused.err; fi
sed 's/^/GUEST-INFO bob: /' /tmp/denied-user-refused.err
# the same uid as alice without the supplementary group: refused
run group-needed alice_nogroup ivshmem info $D
refused group-needed

# alice rings the host peer through the daemon
check allowed-ring-host alice ivshmem ring $D "$HOST_PEER_V1" 1

# two clients subscribed to vector 0; the host rings until both have it
$ALICE ivshmem wait $D 0 --timeout 60 >/tmp/w1.out 2>/tmp/w1.err &
W1=$!
$ALICE ivshmem wait $D 0 --timeout 60 >/tmp/w2.out 2>/tmp/w2.err &
W2=$!
if connected $W1 0 && connected $W2 0; then ok two-waiters-connected
else fail two-waiters-connected "no 'client pid $W1/$W2: SUBSCRIBE 0' in the daemon's log"; fi

# phase NAME: the host rings as asked once it has acked (root goes through
# the daemon too: the device is the daemon's now)
phase() {
	printf '%s' "PHASE-$1" >/tmp/phase.bin
	ivshmem write $D --offset "$PHASE_OFF" </tmp/phase.bin 2>/tmp/phase.err || return 1
	_i=0
	while [ $_i -lt 150 ]; do
		[ "$(ivshmem read $D --offset "$ACK_OFF" --length 8 2>/dev/null)" = "PHASE-$1" ] && return 0
		sleep 0.2; _i=$((_i + 1))
	done
	echo "no ack from the host for PHASE-$1 within 30 s" >/tmp/phase.err
	return 1
}
if phase v0; then ok handshake-v0; else fail handshake-v0 "$(cat /tmp/phase.err)"; fi
wait $W1; RC1=$?
wait $W2; RC2=$?
for w in 1 2; do
	eval "rc=\$RC$w"
	if [ $rc = 0 ] && grep -qE '^interrupt vector 0 count [1-9]' /tmp/w$w.out; then ok waiter-$w-interrupt
	else fail waiter-$w-interrupt "exit $rc, out '$(cat /tmp/w$w.out)'"; detail waiter-$w-interrupt /tmp/w$w.err; fi
	sed "s/^/GUEST-INFO waiter $w: /" /tmp/w$w.out
done
if phase qt; then ok handshake-quiet; else fail handshake-quiet "$(cat /tmp/phase.err)"; fi
expect daemon-alive "the daemon exited" kill -0 $DPID
# 100 clients come and go (some killed mid-session): the daemon's fds stay
fd0=$(ls /proc/$DPID/fd | wc -l)
i=0
while [ $i -lt 100 ]; do
	if [ $((i % 4)) = 3 ]; then
		# killed mid-session: once the daemon has its subscription
		$ALICE ivshmem wait $D 0 --timeout 30 >/dev/null 2>&1 &
		k=$!
		connected $k 0 || echo "GUEST-INFO churn: client $k not seen subscribing; killed anyway"
		kill -9 $k 2>/dev/null; wait $k 2>/dev/null
	else
		$ALICE ivshmem info $D >/dev/null 2>&1
	fi
	i=$((i + 1))
done
# the daemon closes a dead client's fds when it reads the hang-up: wait
# (bounded) until it has, then compare
_i=0
while [ $_i -lt 100 ] && [ "$(ls /proc/$DPID/fd | wc -l)" != "$fd0" ]; do sleep 0.1; _i=$((_i + 1)); done
fd1=$(ls /proc/$DPID/fd | wc -l)
expect churn-100-fds "daemon fds $fd0 before 100 clients, $fd1 after" [ "$fd0" = "$fd1" ]
# a client waiting when the daemon stops is told so, at once
$ALICE ivshmem wait $D 1 --timeout 60 >/tmp/w3.out 2>/tmp/w3.err &
W3=$!
connected $W3 1 || echo "GUEST-INFO waiter 3 ($W3) not seen subscribing to vector 1"
daemon_stop daemon-stop
i=0
while kill -0 $W3 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
if kill -0 $W3 2>/dev/null; then
	kill $W3; wait $W3
	fail daemon-stop-ends-waiter "a waiting client still waits 10 s after the daemon stopped"
else
	wait $W3; rc=$?
	if [ $rc = 1 ] && grep -q 'went away' /tmp/w3.err; then ok daemon-stop-ends-waiter
	else fail daemon-stop-ends-waiter "exit $rc, want 1 and 'went away'"; detail daemon-stop-ends-waiter /tmp/w3.err; fi
fi
sed 's/^/GUEST-INFO waiter 3: /' /tmp/w3.err

# --- read-only -------------------------------------------------------------
if daemon_start ro-daemon-start --read-only; then
	r=$(alice ivshmem read $D --offset $ALICE_OFF --length ${#ALICE_MARK} 2>/tmp/r.err)
	expect ro-read "read '$r', want '$ALICE_MARK' ($(head -c 200 /tmp/r.err))" [ "$r" = "$ALICE_MARK" ]
	printf 'RO-WRITE' >/tmp/ro.bin; chmod 644 /tmp/ro.bin
	run ro-write-refused alice sh -c "ivshmem write $D --offset $RO_OFF </tmp/ro.bin"
	if [ $RC = 1 ] && [ -s /tmp/ro-write-refused.err ]; then ok ro-write-refused
	else fail ro-write-refused "exit $RC, want 1 and a reason"; detail ro-write-refused /tmp/ro-write-refused.err; fi
	sed 's/^/GUEST-INFO ro write: /' /tmp/ro-write-refused.err
	r=$(ivshmem read $D --offset $RO_OFF --length 8 2>/dev/null | od -An -tx1 | tr -d ' \n')
	expect ro-write-untouched "bytes at $RO_OFF now $r, want zeros" [ "$r" = 0000000000000000 ]
	daemon_stop ro-daemon-stop
fi

# --- exclusive -------------------------------------------------------------
if daemon_start excl-daemon-start --exclusive; then
	$ALICE ivshmem wait $D 1 --timeout 30 >/tmp/x1.out 2>/tmp/x1.err &
	X1=$!
	if connected $X1 1; then ok excl-first-connected
	else fail excl-first-connected "no 'client pid $X1: SUBSCRIBE 1' in the daemon's log"; fi
	run excl-second-refused alice ivshmem read $D --length 8
	if [ $RC = 1 ] && [ -s /tmp/excl-second-refused.err ] && [ ! -s /tmp/excl-second-refused.out ]; then
		ok excl-second-refused
	else fail excl-second-refused "exit $RC, want 1 and a reason"; detail excl-second-refused /tmp/excl-second-refused.err; fi
	sed 's/^/GUEST-INFO excl second: /' /tmp/excl-second-refused.err
	kill $X1; wait $X1
	# once the first client is gone, the next one gets in (bounded: 5 s)
	_i=0
	while [ $_i -lt 50 ]; do
		run excl-after-release alice ivshmem read $D --length 8
		[ $RC = 0 ] && break
		sleep 0.1; _i=$((_i + 1))
	done
	if [ $RC = 0 ]; then ok excl-after-release
	else fail excl-after-release "exit $RC"; detail excl-after-release /tmp/excl-after-release.err; fi
	daemon_stop excl-daemon-stop
fi
sed 's/^/GUEST-INFO daemon: /' $DLOG
sync
