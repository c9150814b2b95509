#!/bin/sh
# The files the system's managers read, as installed by `meson install` into
# a DESTDIR: systemd's units pass `systemd-analyze verify` (their commands,
# settings, dependencies and man pages), systemd-tmpfiles makes the socket
# directories and systemd-sysusers the group from our entries, and udev's
# rule is where udev looks.  That the units' commands serve their sockets is
# tests/service/test-activation.sh.
set -u
BUILD=${1:?build dir}
T=$(mktemp -d /tmp/ivshmem-units.XXXXXX)
trap 'rm -rf "$T"' EXIT
n=0; failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; [ -n "${2:-}" ] && printf '#   %s\n' "$2"; }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }

if ! meson install -C "$BUILD" --destdir "$T/root" --no-rebuild >"$T/install.log" 2>&1; then
	echo "Bail out! setup: meson install into a DESTDIR failed: $(tail -1 "$T/install.log")"
	exit 1
fi
R=$T/root
opt() { meson introspect "$BUILD" --buildoptions | /usr/bin/python3 -c "import json,sys; print([o['value'] for o in json.load(sys.stdin) if o['name']=='$1'][0])"; }
PREFIX=$(opt prefix)
BINDIR=$PREFIX/$(opt bindir)
found() { find "$R" -path "*/$1" -type f | head -1; }

UNITDIR=
for f in ivshmem-server@.service ivshmem-server@.socket ivshmem-daemon@.service ivshmem-daemon@.socket; do
	p=$(found "systemd/system/$f")
	if [ -n "$p" ]; then UNITDIR=${p%/*}; ok "$f installed in ${UNITDIR#"$R"}"; else nok "$f installed in systemd's unit directory"; fi
done
for f in ivshmem-server@.service ivshmem-daemon@.service 70-ivshmem.rules; do
	p=$(find "$R" -name "$f" -type f | head -1)
	if [ -n "$p" ] && ! grep -q '@[a-z]*@' "$p" && grep -q "$BINDIR/ivshmem " "$p"; then
		ok "$f runs $BINDIR/ivshmem (nothing left unsubstituted)"
	else
		nok "$f runs $BINDIR/ivshmem (nothing left unsubstituted)" "$(grep -n 'ivshmem \|@' "$p" 2>&1 | head -2)"
	fi
done
# udev reads PREFIX/lib/udev/rules.d for /usr/local; for /usr, udev.pc's.
want=$PREFIX/lib/udev/rules.d
[ "$PREFIX" = /usr ] && want=$(pkg-config --variable=udevdir udev 2>/dev/null || echo /usr/lib/udev)/rules.d
if [ -f "$R$want/70-ivshmem.rules" ]; then ok "70-ivshmem.rules installed in $want, where udev reads it"
else nok "70-ivshmem.rules installed in $want, where udev reads it" "$(find "$R" -name 70-ivshmem.rules)"; fi

# systemd-analyze verify, offline, in the DESTDIR as root directory: the
# manager's own units (sockets.target...) are copied from this system's
# (verify resolves their links inside the root).  Units are named, and
# found where systemd looks under the root.
if ! command -v systemd-analyze >/dev/null 2>&1; then
	skip "systemd-analyze verify" "systemd-analyze not installed (package systemd)"
elif [ -z "$UNITDIR" ]; then
	nok "systemd-analyze verify" "no units installed"
else
	[ -e "$R/lib/systemd/system/sockets.target" ] || { mkdir -p "$R/lib/systemd/system" && cp -a /lib/systemd/system/. "$R/lib/systemd/system/"; }
	verify() { MANPATH=$R$PREFIX/share/man SYSTEMD_LOG_COLOR=0 systemd-analyze verify --root="$R" "$@" 2>&1; }
	# The daemon's instance as documented, a PCI address, escaped: verify
	# itself takes a ':' in its arguments for a separator.
	for u in ivshmem-server@vm1.service ivshmem-server@vm1.socket 'ivshmem-daemon@0000\x3a00\x3a04.0.service' \
		'ivshmem-daemon@0000\x3a00\x3a04.0.socket' ivshmem-daemon@vm1.service; do
		if out=$(verify "$u") && [ -z "$out" ]; then
			ok "systemd-analyze verify $u: silent (commands, settings, man pages)"
		else
			nok "systemd-analyze verify $u: silent" "$(echo "$out" | head -3 | tr '\n' ' ')"
		fi
	done
	# verify can fail here: a unit naming a missing program, a bad setting
	# and a missing page each make it speak.
	for bad in 's|ivshmem server|ivshmem-missing server|' 's|^Type=notify|Type=notifyy|' 's|man:ivshmem-server(8)|man:ivshmem-missing(8)|'; do
		sed "$bad" "$UNITDIR/ivshmem-server@.service" >"$UNITDIR/ivshmem-broken@.service"
		out=$(verify ivshmem-broken@vm1.service)
		if [ -n "$out" ]; then ok "verify catches a broken unit ($bad)"; else nok "verify catches a broken unit ($bad)" "it said nothing"; fi
	done
	rm -f "$UNITDIR/ivshmem-broken@.service"
fi

# tmpfiles.d: the socket directories, root's, 0755.
TF=$(found "tmpfiles.d/ivshmem.conf")
if ! command -v systemd-tmpfiles >/dev/null 2>&1; then
	skip "systemd-tmpfiles makes /run/ivshmem" "systemd-tmpfiles not installed (package systemd)"
elif [ "$(id -u)" != 0 ]; then
	skip "systemd-tmpfiles makes /run/ivshmem and /run/ivshmem/server (0755, root)" "needs root (it gives the directories to root)"
elif [ -n "$TF" ] && mkdir -p "$T/tmpfiles" && systemd-tmpfiles --create --root="$T/tmpfiles" "$TF" >"$T/tf.log" 2>&1 &&
	[ "$(stat -c '%a %u %F' "$T/tmpfiles/run/ivshmem" "$T/tmpfiles/run/ivshmem/server" | sort -u)" = "755 0 directory" ]; then
	ok "systemd-tmpfiles makes /run/ivshmem and /run/ivshmem/server (0755, root)"
else
	nok "systemd-tmpfiles makes /run/ivshmem and /run/ivshmem/server (0755, root)" "${TF:-no tmpfiles.d/ivshmem.conf} $(cat "$T/tf.log" 2>/dev/null)"
fi

# sysusers.d: the group the servers' sockets belong to.
SU=$(found "sysusers.d/ivshmem.conf")
if ! command -v systemd-sysusers >/dev/null 2>&1; then
	skip "systemd-sysusers makes the group ivshmem" "systemd-sysusers not installed (package systemd)"
elif [ -n "$SU" ] && mkdir -p "$T/sysusers/etc" && systemd-sysusers --root="$T/sysusers" "$SU" >"$T/su.log" 2>&1 &&
	grep -q '^ivshmem:x:[0-9]*:$' "$T/sysusers/etc/group"; then
	ok "systemd-sysusers makes the system group ivshmem"
else
	nok "systemd-sysusers makes the system group ivshmem" "${SU:-no sysusers.d/ivshmem.conf} $(cat "$T/su.log" 2>/dev/null)"
fi
# ...which the server's socket unit names.
S=$(found "systemd/system/ivshmem-server@.socket")
grep -q '^SocketGroup=ivshmem$' "${S:-/dev/null}" && grep -q '^SocketMode=0660$' "$S" &&
	ok "the server's socket: group ivshmem, mode 0660" || nok "the server's socket: group ivshmem, mode 0660"

echo "1..$n"
[ "$failed" -eq 0 ]
