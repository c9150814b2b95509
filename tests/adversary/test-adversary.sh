#!/bin/sh
# The adversarial suite: attacks from docs/security.md, each run by a real
# second local user (ivs-attacker) against services run by root, each
# asserting that the attack fails AND that a legitimate client (root, or the
# user ivs-reader) is served during or right after it.  Needs root (it
# creates the users, as in CI); every wait is bounded.
set -u
IVSHMEM=${IVSHMEM:?path to the ivshmem binary}
ADV=${ADVERSARY:?path to the adversary binary}
IVSHMEM=$(readlink -f "$IVSHMEM"); ADV=$(readlink -f "$ADV") # one test changes directory
n=0; failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; [ -n "${2:-}" ] && echo "#   $2"; }
check() { name=$1; shift; if "$@"; then ok "$name"; else nok "$name"; fi; }
quiet() { "$@" >/dev/null 2>&1; }
finish() {
	if [ "$failed" -gt 0 ]; then # the services' logs, for the failures above
		for f in "$T"/*.log; do
			[ -f "$f" ] || continue
			echo "# --- $(basename "$f") (last lines)"
			tail -8 "$f" | sed 's/^/#   /'
		done
	fi
	echo "1..$n"
	[ "$failed" -eq 0 ]
	exit $?
}

if [ "$(id -u)" -ne 0 ]; then
	echo "1..0 # SKIP needs root: the attacks run as a second user it creates"
	exit 0
fi
for u in ivs-attacker ivs-reader; do
	id -u "$u" >/dev/null 2>&1 || useradd -M -s /bin/sh "$u" ||
		{ echo "Bail out! useradd $u failed"; exit 1; }
done
# Run as that user (its own group, no others).  setpriv execs: started
# with &, $! is the attacker itself.
ATTACKER="setpriv --reuid ivs-attacker --regid ivs-attacker --clear-groups"
READER="setpriv --reuid ivs-reader --regid ivs-reader --clear-groups"

T=$(mktemp -d /tmp/ivshmem-adv.XXXXXX)
chmod 755 "$T"
pids=""
cleanup() {
	for p in $pids; do kill -9 "$p" 2>/dev/null; done
	pkill -9 -u ivs-attacker 2>/dev/null
	rm -rf "$T"
	rm -f /dev/shm/ivs-adv-$$-*
}
trap cleanup EXIT
# The binaries must be reachable by the other users.
for b in "$IVSHMEM" "$ADV"; do
	$ATTACKER test -x "$b" || { echo "Bail out! $b is not executable by ivs-attacker"; exit 1; }
done

# wait_for FILE PATTERN [seconds]: bounded wait for a line in a log.
wait_for() {
	i=0; lim=$((${3:-10} * 100))
	while [ $i -lt $lim ]; do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.01; i=$((i + 1))
	done
	return 1
}
# running PID: alive and not yet a zombie (kill -0 succeeds on zombies).
running() { [ -r "/proc/$1/stat" ] && ! grep -q '^[0-9]* (.*) Z' "/proc/$1/stat" 2>/dev/null; }
# stop PID: SIGTERM, then a bounded wait; sets st to its status.
stop() {
	kill "$1" 2>/dev/null
	i=0
	while running "$1" && [ $i -lt 1000 ]; do sleep 0.01; i=$((i + 1)); done
	kill -9 "$1" 2>/dev/null
	wait "$1" 2>/dev/null; st=$?
}
victim() { # PATH: a root-only file the attacker wants
	rm -f "$1"; printf 'precious\n' >"$1"; chmod 600 "$1"
}
intact() { # PATH: still root:root 0600 with its content
	[ ! -L "$1" ] && [ "$(stat -c '%u:%g %a' "$1")" = "0:0 600" ] && [ "$(cat "$1")" = precious ]
}

# ---- 1. chmod/chown by path after bind(): a symlink renamed over the socket
# In a directory the attacker may write (not sticky) the attacker can always
# take the name afterwards: that denial no service can prevent.  What must
# hold is that the service's chmod/chown never lands on another file, and
# that its clean-up never removes or follows the attacker's entry.  In a
# sticky directory (like /tmp) the rename fails, and clients are served.
victim "$T/secret"
# The service is given the directory through a chain of 38 symlinks (a
# path an administrator may well use): each path-based call then takes long
# enough that the attacker wins the old chmod/chown race in about one round
# in four, instead of one in twenty; the suite caught it every time.
chain() { # DIR: prints a path to DIR through 38 symlinks
	ln -s "$1" "$1.c0"
	for i in $(seq 1 37); do ln -s "$1.c$((i - 1))" "$1.c$i"; done
	echo "$1.c37"
}
# swap_rounds KIND DIR ROUNDS: sets lost (secret changed), wrong (a start
# failed or the socket had the wrong owner/mode), served (ivs-reader served).
swap_rounds() {
	kind=$1; dir=$2; via=$(chain "$2"); lost=0; wrong=0; served=0
	victim "$T/secret"
	for r in $(seq "$3"); do
		$ATTACKER "$ADV" swap-socket "$dir/sock" "$T/secret" >"$T/swap.$kind.${dir##*/}.$r.out" 2>&1 &
		apid=$!; pids="$pids $apid"
		wait_for "$T/swap.$kind.${dir##*/}.$r.out" ready || wrong=$((wrong + 1))
		if [ "$kind" = server ]; then
			"$IVSHMEM" server -F -S "$via/sock" --socket-owner ivs-reader --socket-mode 0666 \
				-M "ivs-adv-$$-s$r" -l 64K -n 0 2>"$T/svc.$kind.${dir##*/}.$r.log" &
			ready="listening on"; want="ivs-reader 666"
		else
			"$IVSHMEM" daemon --socket "$via/sock" --allow-user ivs-reader \
				"file:/dev/shm/ivs-adv-$$-dev" 2>"$T/svc.$kind.${dir##*/}.$r.log" &
			ready="serving"; want="root 666"
		fi
		spid=$!; pids="$pids $spid"
		wait_for "$T/svc.$kind.${dir##*/}.$r.log" "$ready" || wrong=$((wrong + 1))
		# While the attacker still spins: our socket, dressed before it
		# appeared, or the attacker's symlink (never followed).
		# (one stat: the attacker may rename between two looks)
		seen=$(stat -c '%F|%U %a' "$dir/sock" 2>/dev/null)
		[ "$dir" = "$S" ] && [ "${seen%%|*}" != socket ] && echo "# round $r: at the path: '$seen'"
		if [ "${seen%%|*}" = socket ]; then
			[ "${seen#*|}" = "$want" ] || wrong=$((wrong + 1))
			if $READER timeout -k 5 10 "$IVSHMEM" info "$kind:$dir/sock" >/dev/null 2>"$T/reader.err"; then
				served=$((served + 1))
			else
				echo "# round $r: ivs-reader not served: $(cat "$T/reader.err")"
			fi
		fi
		stop "$apid"
		intact "$T/secret" || lost=$((lost + 1))
		stop "$spid"
		[ "$st" -eq 0 ] || wrong=$((wrong + 1))
		intact "$T/secret" || lost=$((lost + 1))
		# Clean-up removed only its own socket: a symlink left is the attacker's.
		[ -e "$dir/sock" ] && [ ! -L "$dir/sock" ] && wrong=$((wrong + 1))
		rm -f "$dir/sock" "$dir/sock.lock"
	done
	rm -f "$dir".c*
}
truncate -s 64K "/dev/shm/ivs-adv-$$-dev"
W=$T/w; mkdir "$W"; chmod 777 "$W"   # writable by the attacker, not sticky
S=$T/sticky; mkdir "$S"; chmod 1777 "$S" # like /tmp
for kind in server daemon; do
	echo "# $(date +%T.%N) swap $kind"
	swap_rounds $kind "$W" 20
	check "$kind, attacker-writable dir: the secret stays root 0600 through 20 socket-swap rounds" \
		test $lost -eq 0
	check "$kind, attacker-writable dir: every round started, dressed its socket, exited 0, left the attacker's entry alone" \
		test $wrong -eq 0
	swap_rounds $kind "$S" 10
	check "$kind, sticky dir: the secret stays root 0600 through 10 rounds" test $lost -eq 0
	check "$kind, sticky dir: every round started with the asked owner and mode, exited 0" test $wrong -eq 0
	check "$kind, sticky dir: ivs-reader was served in every round ($served/10)" test $served -eq 10
done

echo "# $(date +%T.%N) pass-fd"
# ---- 2. a passed fd whose close() lingers, against the daemon and the server
# fd_attack KIND TYPE CLIENT WHO READY CMD...: start the service (CMD,
# logging READY when up, on $T/KIND2.sock), pass it 8 weapons as the
# attacker, and have CLIENT ("$READER", or "" for root), named WHO, be
# served 3/3 times meanwhile.
fd_attack() {
	kind=$1 type=$2 client=$3 who=$4 ready=$5; shift 5
	"$@" 2>"$T/$kind-fd.log" &
	spid=$!; pids="$pids $spid"
	wait_for "$T/$kind-fd.log" "$ready" || nok "$kind for the fd attack starts"
	$ATTACKER "$ADV" pass-fd "$T/${kind}2.sock" "$type" 8 >"$T/$kind-pass.out" 2>&1 &
	apid=$!; pids="$pids $apid"
	wait_for "$T/$kind-pass.out" "sent\|failed" || true
	echo "# $kind: $(cat "$T/$kind-pass.out")"
	check "$kind: the attacker's fds never reach it (sendmsg refused) or are all taken" \
		grep -q "sent [0-9]* refused [0-9]* failed 0" "$T/$kind-pass.out"
	good=0
	for i in 1 2 3; do
		$client timeout -k 5 10 "$IVSHMEM" info "$kind:$T/${kind}2.sock" >/dev/null 2>&1 && good=$((good + 1))
	done
	check "$kind: $who is served 3/3 times while the attacker's fds linger" \
		test $good -eq 3
	stop "$apid"
	stop "$spid"
	check "$kind: exits 0 on SIGTERM after the attack" test "$st" -eq 0
}
fd_attack daemon seqpacket "$READER" ivs-reader serving \
	"$IVSHMEM" daemon --socket "$T/daemon2.sock" --allow-user ivs-reader "file:/dev/shm/ivs-adv-$$-dev"
fd_attack server stream "" "a peer" "listening on" \
	"$IVSHMEM" server -F -S "$T/server2.sock" --socket-mode 0666 -M "ivs-adv-$$-s2" -l 64K -n 1

# ---- 3. a shm planted under the server's -M name
$ATTACKER sh -c "umask 0; : >/dev/shm/ivs-adv-$$-planted"
for reuse in "" --shm-reuse; do
	timeout -k 5 10 "$IVSHMEM" server -F -S "$T/p.sock" -M "ivs-adv-$$-planted" -l 64K -n 0 $reuse \
		>/dev/null 2>"$T/p.err"
	rc=$?
	check "planted shm${reuse:+ with $reuse}: exit 1 ($rc)" test $rc -eq 1
	check "  one line naming the file, its owner and mode, and the way out" sh -c \
		"[ \$(wc -l <'$T/p.err') -eq 1 ] && grep -q '/dev/shm/ivs-adv-$$-planted.*owner ivs-attacker, mode 0666.*-M' '$T/p.err'"
	check "  the planted file is untouched (still empty, the attacker's)" \
		test "$(stat -c '%U %s' "/dev/shm/ivs-adv-$$-planted")" = "ivs-attacker 0"
	check "  no socket was made" test ! -e "$T/p.sock"
done
rm -f "/dev/shm/ivs-adv-$$-planted"

# ---- 3b. the daemon on a backing file every user may write
$ATTACKER sh -c "umask 0; : >/dev/shm/ivs-adv-$$-ww && truncate -s 64K /dev/shm/ivs-adv-$$-ww"
timeout -k 5 10 "$IVSHMEM" daemon --socket "$T/ww.sock" "file:/dev/shm/ivs-adv-$$-ww" >/dev/null 2>"$T/ww.err"
rc=$?
check "daemon on a world-writable backing file: exit 1 ($rc), one line naming its mode and the way out" sh -c \
	"[ $rc -eq 1 ] && [ \$(wc -l <'$T/ww.err') -eq 1 ] && grep -q 'writable by every user (mode 0666).*chmod o-w' '$T/ww.err'"
check "  no socket was made" test ! -e "$T/ww.sock"
rm -f "/dev/shm/ivs-adv-$$-ww"

# ---- 4. a second server on a live server's shm
"$IVSHMEM" server -F -S "$T/m1.sock" -M "ivs-adv-$$-m" -l 1M -n 0 2>"$T/m1.log" &
mpid=$!; pids="$pids $mpid"
wait_for "$T/m1.log" "listening on" || nok "the first server starts"
for reuse in "" --shm-reuse; do
	timeout -k 5 10 "$IVSHMEM" server -F -S "$T/m2.sock" -M "ivs-adv-$$-m" -l 2M -n 0 $reuse \
		>/dev/null 2>"$T/m2.err"
	rc=$?
	check "second server on the same -M${reuse:+ with $reuse}: exit 1 ($rc): $(cat "$T/m2.err")" test $rc -eq 1
	check "  the live shm keeps its size" test "$(stat -c %s "/dev/shm/ivs-adv-$$-m")" = 1048576
done
check "  with --shm-reuse and the same size: 'in use by another server'" sh -c \
	"timeout -k 5 10 '$IVSHMEM' server -F -S '$T/m2.sock' -M 'ivs-adv-$$-m' -l 1M -n 0 --shm-reuse 2>&1 | grep -q 'in use by another server'"
check "  the first server serves a peer throughout" quiet timeout -k 5 10 "$IVSHMEM" info "server:$T/m1.sock"
stop "$mpid"
check "  and removes its shm at SIGTERM" test ! -e "/dev/shm/ivs-adv-$$-m"

echo "# $(date +%T.%N) peers that never read"
# ---- 5. a server run by an ordinary user; 100 peers connect, never read
# The kernel counts fds in flight in unread sockets against the sending
# user (root is exempt) up to its fd limit: here 1024, as in a login
# session.  Before, each silent connection pinned its whole greeting
# (1 + 2 per other peer + 2 fds) and a new peer's greeting failed with
# ETOOMANYREFS.  Now one that never reads gets no fd, and is dropped at the
# greeting deadline.
R5=$T/r5; mkdir "$R5"; chown ivs-reader "$R5"
$READER sh -c 'ulimit -n 1024 && exec "$@"' sh "$IVSHMEM" server -F -S "$R5/s.sock" --socket-mode 0666 \
	-M "ivs-adv-$$-r5" -l 64K -n 2 --greeting-timeout 3 2>"$T/r5.log" &
r5pid=$!; pids="$pids $r5pid"
wait_for "$T/r5.log" "listening on" || nok "r5: ivs-reader's server starts" "$(cat "$T/r5.log")"
$ATTACKER "$ADV" mute-server "$R5/s.sock" 100 >"$T/r5-mute.out" 2>&1 &
mpid5=$!; pids="$pids $mpid5"
wait_for "$T/r5-mute.out" "connected" 30 || true
check "r5: the attacker holds 100 connections that never read: $(head -1 "$T/r5-mute.out")" \
	grep -q "^connected 100\$" "$T/r5-mute.out"
good=0
for i in 1 2 3; do
	timeout -k 5 10 "$IVSHMEM" info "server:$R5/s.sock" >/dev/null 2>"$T/r5-info.err" && good=$((good + 1))
done
check "r5: a new peer is served 3/3 times while they are held: $(cat "$T/r5-info.err")" test $good -eq 3
i=0; while [ "$(grep -c 'did not read its greeting' "$T/r5.log")" -lt 100 ] && [ $i -lt 1500 ]; do
	sleep 0.01; i=$((i + 1))
done
check "r5: the server drops all 100 at the greeting deadline ($(grep -c 'did not read its greeting' "$T/r5.log"))" \
	test "$(grep -c 'did not read its greeting' "$T/r5.log")" -eq 100
stop "$mpid5"
echo "# r5: $(tail -1 "$T/r5-mute.out")"
check "r5: none of them was sent an fd (in flight, they would count against ivs-reader)" \
	grep -q "^fds 0 most 0 closed 100\$" "$T/r5-mute.out"
check "r5: a new peer is served after" quiet timeout -k 5 10 "$IVSHMEM" info "server:$R5/s.sock"
stop "$r5pid"
check "r5: the server exits 0 on SIGTERM" test "$st" -eq 0

echo "# $(date +%T.%N) per-user caps"
# ---- 6. one user opens 300 daemon connections
# start_daemon TAG DEV OPTIONS...: a daemon on $T/TAG.sock logging to
# $T/TAG.log; sets dpid.  Fails (one "not ok") if it exits or isn't
# serving within 10 s: the round then stops there.
start_daemon() {
	tag=$1 dev=$2; shift 2
	"$IVSHMEM" daemon --socket "$T/$tag.sock" "$@" "$dev" 2>"$T/$tag.log" &
	dpid=$!; pids="$pids $dpid"
	i=0
	until grep -q serving "$T/$tag.log" 2>/dev/null; do
		if ! running "$dpid" || [ $i -ge 1000 ]; then
			nok "$tag: the daemon starts" "$(head -3 "$T/$tag.log")"
			stop "$dpid"
			return 1
		fi
		sleep 0.01; i=$((i + 1))
	done
}
# hog_round TAG CAP OPTIONS...: the attacker opens 300 endpoints and keeps
# them: exactly CAP open, the rest get -EUSERS; root and ivs-reader are
# served meanwhile, the attacker's next one is told "too many connections";
# once the hog is gone the attacker is served again.
hog_round() {
	tag=$1 cap=$2; shift 2
	start_daemon "$tag" "file:/dev/shm/ivs-adv-$$-dev" --allow-user ivs-attacker --allow-user ivs-reader "$@" ||
		return
	$ATTACKER "$ADV" hog-daemon "$T/$tag.sock" 300 >"$T/$tag-hog.out" 2>&1 &
	hpid=$!; pids="$pids $hpid"
	wait_for "$T/$tag-hog.out" "opened\|failed\|memory" 60 || true
	echo "# $tag: $(cat "$T/$tag-hog.out")"
	check "$tag: the attacker opens exactly $cap of 300, the other $((300 - cap)) get -EUSERS" \
		grep -q "^opened $cap users $((300 - cap)) other 0\$" "$T/$tag-hog.out"
	check "$tag: root is served while the attacker holds them" \
		quiet timeout -k 5 10 "$IVSHMEM" info "daemon:$T/$tag.sock"
	check "$tag: ivs-reader is served while the attacker holds them" \
		quiet $READER timeout -k 5 10 "$IVSHMEM" info "daemon:$T/$tag.sock"
	$ATTACKER timeout -k 5 10 "$IVSHMEM" info "daemon:$T/$tag.sock" >/dev/null 2>"$T/$tag-att.err"
	rc=$?
	check "$tag: the attacker's next one: exit 1 ($rc), one line 'too many connections': $(cat "$T/$tag-att.err")" \
		sh -c "[ $rc -eq 1 ] && [ \$(wc -l <'$T/$tag-att.err') -eq 1 ] && grep -q 'too many connections' '$T/$tag-att.err'"
	stop "$hpid"
	# The daemon sees the closes when it gets to them: retry, bounded.
	back=0
	for i in $(seq 50); do
		quiet $ATTACKER timeout -k 5 10 "$IVSHMEM" info "daemon:$T/$tag.sock" && { back=$i; break; }
		sleep 0.1
	done
	check "$tag: once the hog is gone the attacker is served again (try $back)" test $back -gt 0
	stop "$dpid"
	check "$tag: the daemon exits 0 on SIGTERM" test "$st" -eq 0
}
hog_round r6 32
hog_round r6-cap4 4 --max-clients-per-user 4
# Connections that never say HELLO count against their user's cap until
# the HELLO deadline (5 s) drops them: 300 silent ones deny nobody else.
silent_round() {
	start_daemon r6-silent "file:/dev/shm/ivs-adv-$$-dev" --allow-user ivs-attacker --allow-user ivs-reader || return
	$ATTACKER "$ADV" silent-daemon "$T/r6-silent.sock" 300 >"$T/r6-silent.out" 2>&1 &
	hpid=$!; pids="$pids $hpid"
	wait_for "$T/r6-silent.out" "own open\|memory" 30 || true
	check "r6-silent: the attacker's 300 silent connections are made: $(head -1 "$T/r6-silent.out")" \
		grep -q "^connected 300\$" "$T/r6-silent.out"
	# Right after them, within the deadline: they count against the attacker.
	check "r6-silent: the attacker's own open right after gets EUSERS (too many connections): $(tail -1 "$T/r6-silent.out")" \
		grep -q "^own open: EUSERS\$" "$T/r6-silent.out"
	check "r6-silent: ivs-reader is served while they are held" \
		quiet $READER timeout -k 5 10 "$IVSHMEM" info "daemon:$T/r6-silent.sock"
	check "r6-silent: root is served while they are held" \
		quiet timeout -k 5 10 "$IVSHMEM" info "daemon:$T/r6-silent.sock"
	back=0
	for i in $(seq 100); do # the deadline passes about 5 s after they connected
		quiet $ATTACKER timeout -k 5 10 "$IVSHMEM" info "daemon:$T/r6-silent.sock" && { back=$i; break; }
		sleep 0.1
	done
	check "r6-silent: after the HELLO deadline the attacker is served again (try $back)" test $back -gt 0
	stop "$hpid"
	echo "# r6-silent: of its connections, at the end the attacker $(tail -1 "$T/r6-silent.out")"
	stop "$dpid"
	check "r6-silent: the daemon exits 0 on SIGTERM" test "$st" -eq 0
}
silent_round

echo "# $(date +%T.%N) pid"
# ---- 7. a symlink planted at the pid-file path
"$IVSHMEM" server -F -S "$T/a.sock" -M "ivs-adv-$$-a" -l 64K -n 0 -p "$T/a.pid" 2>"$T/a.log" &
apid_srv=$!; pids="$pids $apid_srv"
wait_for "$T/a.log" "listening on" || nok "a legitimate server starts"
victim "$T/victim"
$ATTACKER ln -s "$T/victim" "$W/evil.pid"
timeout -k 5 10 "$IVSHMEM" server -F -S "$T/b.sock" -M "ivs-adv-$$-b" -l 64K -n 0 -p "$W/evil.pid" \
	>/dev/null 2>"$T/b.err"
rc=$?
check "-p on a planted symlink: exit 1" test $rc -eq 1
check "  with one line naming the pid file and the way out" \
	sh -c "[ \$(wc -l <'$T/b.err') -eq 1 ] && grep -q 'evil.pid exists and is not a stale pid file of ours.*-p' '$T/b.err'"
check "  and the symlink's target is untouched" intact "$T/victim"
check "  and it created no socket" test ! -e "$T/b.sock"
$ATTACKER ln "$T/victim" "$W/hard.pid" 2>/dev/null && {
	timeout -k 5 10 "$IVSHMEM" server -F -S "$T/b.sock" -M "ivs-adv-$$-b" -l 64K -n 0 -p "$W/hard.pid" \
		>/dev/null 2>"$T/b.err"
	rc=$?
	check "-p on a planted hard link: exit 1, target untouched" sh -c "[ $rc -eq 1 ] && grep -q 'hard links' '$T/b.err'"
	check "  target untouched" intact "$T/victim"
}
check "the legitimate server is served throughout" quiet timeout -k 5 10 "$IVSHMEM" info "server:$T/a.sock"
check "  and its pid file holds its pid" test "$(cat "$T/a.pid")" = "$apid_srv"
stop "$apid_srv"
check "  SIGTERM: it removes its pid file, socket and lock" \
	test ! -e "$T/a.pid" -a ! -e "$T/a.sock" -a ! -e "$T/a.sock.lock"

# ---- 8. relative paths, daemonized
R=$T/rel; mkdir "$R"
decoy=/ivs-adv-$$.sock.lock
printf 'decoy\n' >"$decoy"
(cd "$R" && timeout -k 5 10 "$IVSHMEM" server -S "ivs-adv-$$.sock" -p rel.pid -M "ivs-adv-$$-r" -l 64K -n 0 \
	2>"$T/r.log")
rc=$?
check "daemonized with relative -S and -p: the parent exits 0 once ready" test $rc -eq 0
rpid=$(cat "$R/rel.pid" 2>/dev/null)
check "  the pid file is where it was asked for, with the server's pid" \
	sh -c "[ -n '$rpid' ] && kill -0 '$rpid'"
check "  so is the socket, and a peer is served" quiet timeout -k 5 10 "$IVSHMEM" info "server:$R/ivs-adv-$$.sock"
[ -n "$rpid" ] && kill "$rpid"
i=0; while [ -n "$rpid" ] && running "$rpid" && [ $i -lt 1000 ]; do sleep 0.01; i=$((i + 1)); done
check "  SIGTERM: socket, lock and pid file removed from that directory" \
	test ! -e "$R/ivs-adv-$$.sock" -a ! -e "$R/ivs-adv-$$.sock.lock" -a ! -e "$R/rel.pid"
check "  and the same names in / are untouched" test "$(cat "$decoy")" = decoy
rm -f "$decoy"

echo "# $(date +%T.%N) ring permission"
# ---- 9. a read-only daemon client rings a doorbell
# The daemons are peers of a server; a waiter (root) is another peer, and
# ivs-reader rings it through the daemon.
"$IVSHMEM" server -F -S "$T/r9.sock" -M "ivs-adv-$$-r9" -l 64K -n 1 2>"$T/r9-server.log" &
r9srv=$!; pids="$pids $r9srv"
wait_for "$T/r9-server.log" "listening on" || nok "r9: the server starts" "$(cat "$T/r9-server.log")"
peer_ids() { "$IVSHMEM" peers "$1" 2>/dev/null | sed -n 's/^peer \([0-9]*\):.*/\1/p'; }
# new_peer DEV BEFORE: a peer ID DEV lists that is not in BEFORE (bounded).
new_peer() {
	i=0
	while [ $i -lt 500 ]; do
		for p in $(peer_ids "$1"); do
			case " $2 " in *" $p "*) ;; *) echo "$p"; return 0 ;; esac
		done
		sleep 0.02; i=$((i + 1))
	done
	return 1
}
# ring_round TAG MAY OPTIONS...: a daemon with OPTIONS; MAY yes: ivs-reader's
# ring reaches the waiter; no: it is refused naming the doorbell, the waiter
# gets nothing from it, and root's ring through the same daemon reaches it.
ring_round() {
	tag=$1 may=$2; shift 2
	start_daemon "$tag" "server:$T/r9.sock" --allow-user ivs-reader "$@" || return
	before=$(peer_ids "daemon:$T/$tag.sock")
	"$IVSHMEM" wait "server:$T/r9.sock" 0 --timeout 20 >"$T/$tag-wait.out" 2>&1 &
	wpid=$!; pids="$pids $wpid"
	wid=$(new_peer "daemon:$T/$tag.sock" "$before") ||
		nok "$tag: the daemon sees the waiter join" "$(tail -5 "$T/$tag.log" | tr '\n' '|')"
	# Stopped, the waiter reads nothing: every ring that reaches it adds to
	# its eventfd's count, which it reads once resumed.
	[ "$may" = yes ] || kill -STOP "$wpid"
	$READER timeout -k 5 10 "$IVSHMEM" ring "daemon:$T/$tag.sock" "${wid:-1}" 0 >/dev/null 2>"$T/$tag-ring.err"
	rc=$?
	if [ "$may" = yes ]; then
		check "$tag: ivs-reader may ring peer $wid: exit 0 ($rc) $(cat "$T/$tag-ring.err")" test $rc -eq 0
	else
		check "$tag: ivs-reader's ring is refused: exit 1 ($rc), one line naming the doorbell: $(cat "$T/$tag-ring.err")" \
			sh -c "[ $rc -eq 1 ] && [ \$(wc -l <'$T/$tag-ring.err') -eq 1 ] && grep -q doorbell '$T/$tag-ring.err'"
		timeout -k 5 10 "$IVSHMEM" ring "daemon:$T/$tag.sock" "${wid:-1}" 0 >/dev/null 2>"$T/$tag-ring.err"
		rc=$?
		check "$tag: root's ring through the daemon succeeds ($rc) $(cat "$T/$tag-ring.err")" test $rc -eq 0
		kill -CONT "$wpid" # count 1: root's ring alone reached it; 2: the refused one too
	fi
	i=0; while running "$wpid" && [ $i -lt 1000 ]; do sleep 0.01; i=$((i + 1)); done
	stop "$wpid"
	check "$tag: the waiter received exactly that ring (exit $st): $(cat "$T/$tag-wait.out")" \
		sh -c "[ $st -eq 0 ] && grep -q 'interrupt vector 0 count 1\$' '$T/$tag-wait.out'"
	stop "$dpid"
	check "$tag: the daemon exits 0 on SIGTERM" test "$st" -eq 0
}
ring_round r9-ro no --read-only
ring_round r9-ring-user yes --read-only --ring-user ivs-reader
ring_round r9-ring-group yes --read-only --ring-group ivs-reader
printf 'read-only yes\nring-user ivs-reader\n' >"$T/r9.conf"
ring_round r9-config yes --config "$T/r9.conf"
ring_round r9-ring yes --read-only --ring
ring_round r9-rw yes
ring_round r9-no-ring no --no-ring
printf 'ring no\n' >"$T/r9-no.conf"
ring_round r9-config-no no --config "$T/r9-no.conf"
# A client that leaves just as a peer event arrives: with the daemon
# stopped, a peer joins the server (the daemon's device socket becomes
# readable first), then the client closes (its socket second); resumed,
# the daemon sees both in one batch, and the broadcast of the join drops
# the client before its own event is looked at.  (Under ASan this was a
# use-after-free in the daemon's event loop.)
start_daemon r9-batch "server:$T/r9.sock" --allow-user ivs-attacker && {
	$ATTACKER "$ADV" hog-daemon "$T/r9-batch.sock" 1 >"$T/r9-batch-hog.out" 2>&1 &
	hpid=$!; pids="$pids $hpid"
	wait_for "$T/r9-batch-hog.out" "opened" || true
	kill -STOP "$dpid"
	joins=$(grep -c "connected" "$T/r9-server.log")
	"$IVSHMEM" wait "server:$T/r9.sock" 0 --timeout 20 >/dev/null 2>&1 &
	wpid=$!; pids="$pids $wpid"
	i=0; while [ "$(grep -c "connected" "$T/r9-server.log")" -le "$joins" ] && [ $i -lt 1000 ]; do
		sleep 0.01; i=$((i + 1))
	done
	stop "$hpid" # closes its connection to the daemon
	kill -CONT "$dpid"
	check "r9-batch: the daemon, resumed, serves root" quiet timeout -k 5 10 "$IVSHMEM" info "daemon:$T/r9-batch.sock"
	stop "$wpid"
	stop "$dpid"
	check "r9-batch: and exits 0 on SIGTERM ($st)" test "$st" -eq 0
}
stop "$r9srv"

echo "# $(date +%T.%N) refusal flood"
# ---- 10. a refused user floods connections: the log stays short
# At most 10 refusal lines a second, then one saying how many were
# suppressed; ivs-reader is served throughout.  The flood runs until it is
# stopped: once ivs-reader has been served and the log shows the limiter at
# work; its length in seconds bounds the log.
flood_round() {
	start_daemon r10 "file:/dev/shm/ivs-adv-$$-dev" --allow-user ivs-reader || return
	t0=$(date +%s)
	$ATTACKER "$ADV" flood "$T/r10.sock" 0 >"$T/r10-flood.out" 2>&1 &
	fpid=$!; pids="$pids $fpid"
	wait_for "$T/r10-flood.out" flooding || true
	good=0
	for i in 1 2 3; do
		$READER timeout -k 5 10 "$IVSHMEM" info "daemon:$T/r10.sock" >/dev/null 2>&1 && good=$((good + 1))
	done
	during=no; running "$fpid" && during=yes
	wait_for "$T/r10.log" "more like this suppressed" 60 || true
	stop "$fpid"
	secs=$(($(date +%s) - t0 + 1))
	echo "# r10: $(tail -1 "$T/r10-flood.out") in about $secs s"
	conns=$(sed -n 's/^connections \([0-9]*\).*/\1/p' "$T/r10-flood.out")
	check "r10: ivs-reader is served $good/3 times during the flood (still flooding: $during)" \
		test $good -eq 3 -a $during = yes
	stop "$dpid"
	check "r10: the daemon exits 0 on SIGTERM" test "$st" -eq 0
	lines=$(grep -c "refused\|turned away" "$T/r10.log")
	check "r10: the flood happened: ${conns:-no} connections, more than the $lines refusal lines logged" \
		test "${conns:-0}" -gt "$lines"
	check "r10: at most $((10 * (secs + 2))) refusal lines in the log ($lines)" test "$lines" -le $((10 * (secs + 2)))
	check "r10: a line says how many more were suppressed: $(grep -m1 suppressed "$T/r10.log")" \
		grep -q "([0-9][0-9]* more like this suppressed)\$" "$T/r10.log"
	size=$(stat -c %s "$T/r10.log")
	check "r10: the log stays under $((5120 * (secs + 2))) bytes ($size)" test "$size" -lt $((5120 * (secs + 2)))
}
flood_round

echo "# $(date +%T.%N) hostile channel peers"
# ---- 11 and 12: the attacker is a party of a channel region (a file the
# two users share on purpose, 0666): a producer that "restarts" every 20 ms,
# then random bytes written all over the region.
CH=/dev/shm/ivs-adv-$$-chan
truncate -s 1M "$CH" && chmod 666 "$CH"
quiet "$IVSHMEM" chan create "file:$CH" c --size 64K && quiet "$IVSHMEM" chan create "file:$CH" ok --size 64K ||
	nok "r11: the channels are made"
$ATTACKER "$ADV" flap-producer "file:$CH" c >"$T/r11.out" 2>&1 &
fpid=$!; pids="$pids $fpid"
wait_for "$T/r11.out" "flapping\|open" || true
check "r11: the attacker's producer restarts every 20 ms: $(head -1 "$T/r11.out")" grep -q flapping "$T/r11.out"
echo hello | "$IVSHMEM" chan send "file:$CH" ok 2>"$T/r11-send.err"
$READER timeout -k 5 10 "$IVSHMEM" chan recv "file:$CH" ok --count 1 --timeout 5 >"$T/r11-ok.out" 2>&1
check "r11: meanwhile ivs-reader receives root's message on the other channel" grep -qx hello "$T/r11-ok.out"
$READER timeout -k 5 10 "$IVSHMEM" chan recv "file:$CH" c --timeout 1 >"$T/r11.recv" 2>"$T/r11.err"
rc=$?
check "r11: chan recv --timeout 1 ends with exit 2 ($rc; 124: stretched until killed at 10 s): $(cat "$T/r11.err")" \
	sh -c "[ $rc -eq 2 ] && grep -q 'within the timeout' '$T/r11.err' && [ ! -s '$T/r11.recv' ]"
stop "$fpid"

good=0
for round in 1 2 3 4 5; do
	$READER timeout -k 5 20 "$IVSHMEM" chan recv "file:$CH" c --timeout 10 >"$T/r12-$round.out" 2>"$T/r12-$round.err" &
	rpid=$!; pids="$pids $rpid"
	i=0; until "$IVSHMEM" chan stat "file:$CH" c --json 2>/dev/null | grep -q '"consumer":{"attached":true'; do
		[ $i -ge 1000 ] && break; sleep 0.01; i=$((i + 1))
	done
	$ATTACKER "$ADV" scribble "$CH" 1 >"$T/r12-$round.scr" 2>&1
	i=0; while running "$rpid" && [ $i -lt 2000 ]; do sleep 0.01; i=$((i + 1)); done
	stop "$rpid"
	echo "# r12 round $round: exit $st, $(cat "$T/r12-$round.err") ($(cat "$T/r12-$round.scr"))"
	# exit 1 naming what went wrong; never 0 (a clean end) nor a message
	[ "$st" -eq 1 ] && [ ! -s "$T/r12-$round.out" ] &&
		grep -q "corrupt\|lost channel\|valid channel layout\|died" "$T/r12-$round.err" && good=$((good + 1))
	# a fresh region for the next round
	rm -f "$CH"; truncate -s 1M "$CH" && chmod 666 "$CH" && quiet "$IVSHMEM" chan create "file:$CH" c --size 64K
done
check "r12: random bytes while chan recv waits: 5/5 rounds end with exit 1 naming the corruption ($good/5)" test $good -eq 5
rm -f "$CH"

# ---- 13. a FIFO as the pid file or the config file
mkfifo "$T/fifo"
timeout -k 5 10 "$IVSHMEM" server -F -S "$T/c.sock" -M "ivs-adv-$$-c" -l 64K -n 0 -p "$T/fifo" \
	>/dev/null 2>"$T/c.err"
rc=$?
check "-p FIFO: exit 1 at once (not hung: $rc)" test $rc -eq 1
check "  naming the pid file as not a pid file" grep -q "fifo exists and is not a stale pid file" "$T/c.err"
check "  before listening" test ! -e "$T/c.sock"
timeout -k 5 10 "$IVSHMEM" daemon --config "$T/fifo" --socket "$T/e.sock" "file:/dev/shm/ivs-adv-$$-dev" \
	>/dev/null 2>"$T/e.err"
rc=$?
check "daemon --config FIFO: exit 1 at once (not hung: $rc)" test $rc -eq 1
check "  naming the config as not a regular file" grep -q "fifo is not a regular file" "$T/e.err"
timeout -k 5 10 "$IVSHMEM" daemon --config "$T" --socket "$T/e.sock" "file:/dev/shm/ivs-adv-$$-dev" \
	>/dev/null 2>"$T/e.err"
check "daemon --config DIR: 'is a directory'" sh -c "[ $? -eq 1 ] && grep -q 'is a directory' '$T/e.err'"
: >"$T/plain"
timeout -k 5 10 "$IVSHMEM" daemon --socket "$T/plain" "file:/dev/shm/ivs-adv-$$-dev" >/dev/null 2>"$T/e.err"
check "daemon --socket on a regular file: 'exists and is not a socket'" \
	sh -c "[ $? -eq 1 ] && grep -q 'plain exists and is not a socket' '$T/e.err'"

finish
