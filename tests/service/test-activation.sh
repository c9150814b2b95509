#!/bin/sh
# Socket activation and readiness as a service manager does them: the
# commands and sockets of the installed units (data/*.service, *.socket, as
# built), run by systemd-socket-activate (systemd's own tool: it makes the
# socket, waits for the first client, then execs the command with
# LISTEN_FDS), with NOTIFY_SOCKET pointing at a receiver standing in for
# the manager.  The server's first client is unmodified QEMU
# (ivshmem-doorbell); the daemon serves a file.  Then every way a passed
# socket can be wrong: one line naming the unit setting, exit 1.
set -u
BUILD=${1:?build dir}
CLI=$BUILD/src/cli/ivshmem
T=$(mktemp -d /tmp/ivshmem-activation.XXXXXX)
PIDS=
cleanup() {
	for p in $PIDS; do kill -9 "$p" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT
n=0; failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/#   /'; }
check() { _what=$1; shift; if "$@"; then ok "$_what"; else nok "$_what"; fi; }
bail() { echo "Bail out! setup: $*"; exit 1; }

command -v systemd-socket-activate >/dev/null 2>&1 || bail "systemd-socket-activate not found (package systemd)"
QEMU=${IVSHMEM_QEMU:-$(command -v qemu-system-x86_64)} || bail "qemu-system-x86_64 not found (package qemu-system-x86)"
PY=/usr/bin/python3
[ -x "$PY" ] || bail "$PY not found"
[ -x "$CLI" ] || bail "$CLI not built"

# Wait (up to 30 s) until a command succeeds: observable state, polled.
until_true() {
	_i=0
	while ! "$@" 2>/dev/null; do
		_i=$((_i + 1))
		[ "$_i" -gt 600 ] && return 1
		sleep 0.05
	done
}
has() { grep -q -- "$2" "$1"; }
hasf() { grep -qF -- "$2" "$1"; } # a fixed string
gone() { ! kill -0 "$1" 2>/dev/null; }

# The manager's notify socket: each datagram received becomes a line, "PID
# MESSAGE", PID the sender's (SCM_CREDENTIALS): systemd takes READY=1 from
# the main process only.
"$PY" -c '
import socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind(sys.argv[1])
with open(sys.argv[2], "a") as f:
    while True:
        msg, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(12))
        pid = [struct.unpack("iII", d)[0] for l, t, d in anc if t == socket.SCM_CREDENTIALS]
        f.write("%s %s\n" % (pid[0] if pid else "?", msg.decode(errors="replace").replace("\n", " ")))
        f.flush()
' "$T/notify.sock" "$T/notify.log" &
PIDS="$PIDS $!"
until_true test -S "$T/notify.sock" || bail "the notify receiver did not start"
: >"$T/notify.log"

# A unit's command line: ExecStart with the instance and options put in,
# and the installed program replaced by the one just built.
BINDIR=$(sed -n 's|^ExecStart=\(.*\)/ivshmem .*|\1|p' "$BUILD/data/ivshmem-server@.service")
# (An escaped instance holds backslashes: quoted for sed's replacement.  The
# units' ExecStart lines have no quotes, so the shell splits them as
# systemd does.)
q() { printf '%s' "$1" | sed 's/[\\&|]/\\&/g'; }
unit_cmd() { # UNIT INSTANCE(escaped) INSTANCE(unescaped) OPTS
	sed -n 's/^ExecStart=//p' "$BUILD/data/$1" |
		sed "s|$BINDIR/ivshmem|$(q "$CLI")|; s|%i|$(q "$2")|g; s|%I|$(q "$3")|g; s|\$IVSHMEM_[A-Z]*_OPTS|$(q "$4")|"
}
# The socket unit's Listen line: "stream PATH" or "seqpacket PATH", the
# path moved from /run into the test's directory.
unit_listen() { # UNIT INSTANCE(escaped)
	sed -n "s|^ListenStream=|stream |p; s|^ListenSequentialPacket=|seqpacket |p" "$BUILD/data/$1" |
		sed "s|%i|$(q "$2")|g; s|/run/|$(q "$T")/run/|"
}

# ---- the server unit: QEMU starts it -------------------------------------
INST=t$$
# shellcheck disable=SC2046 # two words: kind, path
set -- $(unit_listen ivshmem-server@.socket "$INST")
[ "$1" = stream ] && ok "ivshmem-server@.socket listens on a stream socket (QEMU's chardev)" ||
	nok "ivshmem-server@.socket listens on a stream socket" "$*"
SOCK=$2
mkdir -p "${SOCK%/*}"
CMD=$(unit_cmd ivshmem-server@.service "$INST" "$INST" "--size 1M --vectors 2")
echo "# server: $CMD"
# shellcheck disable=SC2086 # the unit's words
systemd-socket-activate -l "$SOCK" -E NOTIFY_SOCKET="$T/notify.sock" $CMD >"$T/server.log" 2>&1 &
SRV=$!
PIDS="$PIDS $SRV"
until_true test -S "$SOCK" || bail "systemd-socket-activate made no socket: $(cat "$T/server.log")"
"$QEMU" -machine pc -accel tcg -nographic -nodefaults -S -display none -monitor none \
	-chardev "socket,path=$SOCK,id=ivs" -device ivshmem-doorbell,chardev=ivs,vectors=2 >"$T/qemu.log" 2>&1 &
QPID=$!
PIDS="$PIDS $QPID"
check "QEMU's connection starts the server, which serves the passed socket" \
	until_true has "$T/server.log" "listening on $SOCK (passed by the service manager): shm /dev/shm (unlinked file), 1048576 bytes, 2 vectors"
check "the server (its main process) tells the manager READY=1" until_true has "$T/notify.log" "^$SRV READY=1$"
check "QEMU joins as a peer" until_true has "$T/server.log" "peer 0 connected (2 vectors"
"$CLI" peers "server:$SOCK" >"$T/peers" 2>&1
check "a host peer sees QEMU's peer with 2 vectors" grep -q "^peer 0: 2 vectors$" "$T/peers"
# The memory has no name another user could take first: unlinked at once.
deleted_shm_size() { # PID: size of the unlinked /dev/shm/ivshmem.* file it holds
	for f in /proc/"$1"/fd/*; do
		case $(readlink "$f") in "/dev/shm/ivshmem."*" (deleted)") stat -L -c %s "$f"; return 0 ;; esac
	done
	return 1
}
check "its memory is an unlinked file in /dev/shm (no name to squat), 1 MiB" \
	test "$(deleted_shm_size "$SRV")" = 1048576
check "no lock file beside the manager's socket" test ! -e "$SOCK.lock"
kill -9 "$QPID"
check "QEMU killed: the server sees it go" until_true has "$T/server.log" "peer 0 disconnected"
kill -TERM "$SRV"
wait "$SRV"
check "SIGTERM: the server exits 0" test $? -eq 0
check "... after telling the manager STOPPING=1" has "$T/notify.log" "^$SRV STOPPING=1$"
check "... and leaves the socket file (the manager's)" test -S "$SOCK"

# Without --foreground, under a manager that waits for READY=1: the server
# stays in the foreground (a forked child's READY=1 would be ignored).
: >"$T/notify.log"
rm -f "$T/fg.sock"
systemd-socket-activate -l "$T/fg.sock" -E NOTIFY_SOCKET="$T/notify.sock" \
	"$CLI" server --shm "fg$$" >"$T/fg.log" 2>&1 &
FG=$!
PIDS="$PIDS $FG"
until_true test -S "$T/fg.sock" && "$CLI" info "server:$T/fg.sock" >/dev/null 2>&1
check "NOTIFY_SOCKET set: the server does not fork, READY=1 comes from its main process" \
	until_true has "$T/notify.log" "^$FG READY=1$"
kill -TERM "$FG"
wait "$FG"
check "... which exits 0 on SIGTERM" test $? -eq 0
# A socket the manager made 0666 works, with a warning naming the fix.
rm -f "$T/open.sock"
systemd-socket-activate -l "$T/open.sock" "$CLI" server -F --shm "op$$" >"$T/open.log" 2>&1 &
OP=$!
PIDS="$PIDS $OP"
until_true test -S "$T/open.sock" && chmod 0666 "$T/open.sock" && "$CLI" info "server:$T/open.sock" >/dev/null 2>&1
check "a passed socket every user may connect to: warned, with SocketMode=0660" \
	until_true has "$T/open.log" "warning: socket $T/open.sock is mode 0666: every local user can connect and map the shared memory; set SocketMode=0660"
kill -TERM "$OP"
wait "$OP"

# ---- the daemon unit: a file, its first client starts it -----------------
head -c 65536 /dev/zero >"$T/mem"
printf 'activated' | dd of="$T/mem" conv=notrunc 2>/dev/null
chmod 600 "$T/mem"
DEV=file:$T/mem
EINST=$(systemd-escape "$DEV")
# shellcheck disable=SC2046 # two words: kind, path
set -- $(unit_listen ivshmem-daemon@.socket "$EINST")
[ "$1" = seqpacket ] && ok "ivshmem-daemon@.socket listens on a seqpacket socket (the daemon protocol)" ||
	nok "ivshmem-daemon@.socket listens on a seqpacket socket" "$*"
DSOCK=$2
mkdir -p "${DSOCK%/*}"
: >"$T/notify.log"
CMD=$(unit_cmd ivshmem-daemon@.service "$EINST" "$(systemd-escape --unescape "$EINST")" "")
echo "# daemon: $CMD"
# shellcheck disable=SC2086
systemd-socket-activate --seqpacket -l "$DSOCK" -E NOTIFY_SOCKET="$T/notify.sock" $CMD >"$T/daemon.log" 2>&1 &
D=$!
PIDS="$PIDS $D"
until_true test -S "$DSOCK" || bail "systemd-socket-activate made no socket: $(cat "$T/daemon.log")"
out=$("$CLI" read "daemon:$DSOCK" --length 9 2>&1)
check "the first client starts the daemon and reads the file through it" test "$out" = activated
check "the daemon serves the passed socket" hasf "$T/daemon.log" "serving $DEV on $DSOCK, passed by the service manager,"
check "the daemon tells the manager READY=1" until_true has "$T/notify.log" "^$D READY=1$"
check "no lock file beside the manager's socket" test ! -e "$DSOCK.lock"
kill -TERM "$D"
wait "$D"
check "SIGTERM: the daemon exits 0, after STOPPING=1, leaving the socket" \
	sh -c "test $? -eq 0 && grep -q '^$D STOPPING=1$' '$T/notify.log' && test -S '$DSOCK'"

# ---- a passed socket that can't be served: one line, exit 1 --------------
# ACTIVATE_FLAGS, the command's arguments, the line expected.  The client
# that triggers the start fails; what counts is the service's answer.
wrong() {
	_flags=$1 _expect=$2; shift 2
	_addr=${WADDR:-$T/w.sock}
	rm -f "$T/w.sock"
	# shellcheck disable=SC2086
	systemd-socket-activate $_flags -l "$_addr" "$@" >"$T/w.log" 2>&1 &
	_p=$!
	PIDS="$PIDS $_p"
	until_true has "$T/w.log" "^Listening on $_addr" || { nok "$_expect" "no socket"; return; }
	"$PY" -c 'import socket,sys
a = sys.argv[1].replace("@", "\0", 1) if sys.argv[1][0] == "@" else sys.argv[1]
for t in (socket.SOCK_STREAM, socket.SOCK_SEQPACKET, socket.SOCK_DGRAM):
    try:
        s = socket.socket(socket.AF_UNIX, t); s.connect(a) if t != socket.SOCK_DGRAM else s.sendto(b"x", a); break
    except OSError: pass' "$_addr"
	if [ "$_flags" = --accept ]; then
		# It forks a child per connection and stays; it logs the
		# child's status.
		until_true grep -q '^Child [0-9]* died with code' "$T/w.log"
		kill "$_p"
		wait "$_p" 2>/dev/null
		_rc=$(sed -n 's/^Child [0-9]* died with code \([0-9]*\)$/\1/p' "$T/w.log")
	else
		until_true gone "$_p"
		wait "$_p"
		_rc=$?
	fi
	_lines=$(grep -v '^Listening on \|^Communication attempt\|^Execing \|^Spawned \|^Child [0-9]* died\|^Connection from' "$T/w.log")
	if [ "$_rc" -eq 1 ] && [ "$(printf '%s\n' "$_lines" | wc -l)" -eq 1 ] && printf '%s' "$_lines" | grep -q -- "$_expect"; then
		ok "$*: '$_expect', exit 1"
	else
		nok "$*: '$_expect', exit 1" "exit $_rc: $_lines"
	fi
}
wrong --seqpacket "ivshmem: the socket the service manager passed (LISTEN_FDS) is of another type: the .socket unit needs ListenStream=PATH" \
	"$CLI" server -F -M "w$$"
wrong "" "is of another type: the .socket unit needs ListenSequentialPacket=PATH" "$CLI" daemon "$DEV"
wrong --datagram "is of another type: the .socket unit needs ListenStream=PATH" "$CLI" server -F -M "w$$"
WADDR=@ivs-activation-$$ wrong "" "has no path (@ivs-activation-$$): any local user could connect and map the memory: give the .socket unit ListenStream=" \
	"$CLI" server -F -M "w$$"
WADDR=
wrong --accept "is not listening (Accept=yes?): set Accept=no in the .socket unit" "$CLI" server -F -M "w$$"
wrong "-l $T/w2.sock" "passed 2 sockets (LISTEN_FDS); one is served: give the .socket unit a single ListenStream=PATH" \
	"$CLI" server -F -M "w$$"
wrong "" "don't apply to the socket the service manager passed: set SocketMode=, SocketUser=, SocketGroup=" \
	"$CLI" server -F -M "w$$" --socket-mode 0600
wrong "" "-S $T/other.sock is not the socket the service manager passed ($T/w.sock)" \
	"$CLI" server -F -M "w$$" -S "$T/other.sock"
wrong --seqpacket "--socket $T/other.sock is not the socket the service manager passed ($T/w.sock)" \
	"$CLI" daemon --socket "$T/other.sock" "$DEV"
check "no shared memory left by the refused servers" test ! -e "/dev/shm/w$$"

# ---- variables that are not ours -----------------------------------------
out=$(env LISTEN_PID=1 LISTEN_FDS=1 "$CLI" daemon --socket "$T/own.sock" "$DEV" 2>&1 &
	_p=$!; until_true test -S "$T/own.sock" && "$CLI" read "daemon:$T/own.sock" --length 9; kill "$_p"; wait "$_p")
check "LISTEN_PID of another process: not ours, the daemon makes its own socket" test "$(printf '%s' "$out" | tail -1)" = activated
# shellcheck disable=SC2016 # $$ is the inner shell's: the pid that execs the server
out=$(timeout 20 sh -c 'LISTEN_PID=$$ LISTEN_FDS=one exec "$0" server -F -M "$1" -S "$2"' "$CLI" "o$$" "$T/own2.sock" 2>&1
	echo "rc=$?")
check "LISTEN_FDS not a number: one line naming it, exit 1" \
	test "$out" = "ivshmem: LISTEN_PID or LISTEN_FDS is not a decimal number: start it from a service manager's socket unit, or unset them
rc=1"

echo "1..$n"
[ "$failed" -eq 0 ]
