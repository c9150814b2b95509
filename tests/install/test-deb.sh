#!/bin/sh
# The Debian packages as an administrator meets them: `make deb`'s build
# (scripts/deb.sh) from this tree, lintian on the source and binary
# packages, then, as root, installed into this machine with apt, used (the
# tool, its man pages, a server and a channel, an application built with
# pkg-config against the installed library), and purged, leaving nothing.
set -u
BUILD=${1:?build dir}
SRC=${2:?source dir}
BUILD=$(cd "$BUILD" && pwd) || { echo "Bail out! setup: no build directory $1"; exit 1; }
OUT=$BUILD/deb-test
T=$(mktemp -d /tmp/ivshmem-deb.XXXXXX)
PKGS="ivshmem-tools libivshmem-dev libivshmem0.1 python3-ivshmem"
installed_by_us=0
cleanup() {
	[ -n "${W:-}" ] && kill "$W" 2>/dev/null
	[ -n "${SRV:-}" ] && kill "$SRV" 2>/dev/null
	[ $installed_by_us = 1 ] && DEBIAN_FRONTEND=noninteractive apt-get purge -y -q $PKGS >/dev/null 2>&1
	rm -rf "$T" "$OUT"
}
trap cleanup EXIT
# (dash runs the EXIT trap on exit only: meson's timeout sends TERM)
trap 'exit 143' TERM; trap 'exit 130' INT; trap 'exit 129' HUP
n=0; failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/#   /'; }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
finish() { echo "1..$n"; [ $failed -eq 0 ]; exit $?; }
# One lintian call for the packages and for the probe that must fail it
lint() { lintian --pedantic -I --fail-on error,warning "$@"; }
# pkg-config as an application on this system calls it
pc() { env -u PKG_CONFIG_PATH pkg-config "$@"; }

# The build.  As root, deb.sh installs what debian/control's Build-Depends
# lacks; as another user, the test runs only when they are all there.
if [ "$(id -u)" != 0 ] && ! (cd "$SRC" && dpkg-checkbuilddeps >/dev/null 2>&1); then
	skip "the packages build and pass lintian" "not root, and the build dependencies are missing (apt-get build-dep ./)"
	finish
fi
if "$SRC/scripts/deb.sh" "$OUT" >"$T/deb.log" 2>&1; then
	ok "make deb builds the packages ($(cd "$OUT" && ls ./*.deb | grep -vc dbgsym) .deb and the native source)"
else
	nok "make deb builds the packages" "$(tail -15 "$T/deb.log")"
	finish
fi
ARCH=$(dpkg-architecture -qDEB_HOST_ARCH)
MA=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
VERSION=$(dpkg-parsechangelog -l "$SRC/debian/changelog" -S Version)
debs=""
for p in $PKGS; do
	f=$OUT/${p}_${VERSION}_$ARCH.deb
	[ "$p" = python3-ivshmem ] && f=$OUT/${p}_${VERSION}_all.deb
	if [ -f "$f" ]; then ok "$p ${VERSION} built"; debs="$debs $f"; else nok "$p ${VERSION} built" "$(ls "$OUT")"; fi
done
[ -f "$OUT/ivshmem-kit_$VERSION.dsc" ] && ok "the source package built" || nok "the source package built"

# lintian on everything the build made (.changes: source, binaries, dbgsym),
# at pedantic level with the informational tags shown: no error and no
# warning; an override needs a comment saying why.
lint "$OUT/ivshmem-kit_${VERSION}_$ARCH.changes" >"$T/lintian" 2>&1
r=$?
grep -v 'running with root privileges' "$T/lintian" >"$T/tags"
if [ $r -eq 0 ]; then
	ok "lintian: no error and no warning ($(grep -c . "$T/tags") informational or pedantic tags)"
else
	nok "lintian: no error and no warning" "$(head -20 "$T/tags")"
fi
[ -s "$T/tags" ] && sed 's/^/# lintian: /' "$T/tags"
# ... and the same lintian call fails on a package with faults it must
# see (no copyright file, a binary in /usr/bin without a man page), so the
# pass above is lintian's judgement, not a call that checks nothing.
mkdir -p "$T/bad/DEBIAN" "$T/bad/usr/bin"
printf 'Package: ivshmem-lintian-probe\nVersion: 1\nArchitecture: all\nMaintainer: Nobody <nobody@example.org>\nDescription: probe\n' >"$T/bad/DEBIAN/control"
printf '#!/bin/sh\n' >"$T/bad/usr/bin/ivshmem-lintian-probe"
chmod 755 "$T/bad/usr/bin/ivshmem-lintian-probe"
if dpkg-deb --root-owner-group -b "$T/bad" "$T/bad.deb" >/dev/null 2>&1; then
	if lint "$T/bad.deb" >"$T/bad.tags" 2>&1; then
		nok "lintian, called so, fails a faulty package" "$(head -3 "$T/bad.tags")"
	else
		ok "lintian, called so, fails a faulty package ($(grep -c '^[EW]:' "$T/bad.tags") errors and warnings)"
	fi
else
	nok "setup: dpkg-deb builds the faulty package for lintian"
fi
bare=""
for o in "$SRC"/debian/*lintian-overrides "$SRC"/debian/source/lintian-overrides; do
	[ -f "$o" ] || continue
	bare=$bare$(awk -v f="${o#"$SRC"/}" '/^[^#[:space:]]/ && prev !~ /^#/ {print f ": " $0 "; "} {prev = $0}' "$o")
done
[ -z "$bare" ] && ok "every lintian override says why, in a comment above it" || nok "every lintian override says why" "$bare"

# The symbols file against what the packaged library exports.  The build
# checks it at level 4, but dpkg-gensymbols lets a listed symbol the
# library lacks pass while its version is the one being built.
mkdir -p "$T/lib"
dpkg-deb -x "$OUT/libivshmem0.1_${VERSION}_$ARCH.deb" "$T/lib"
nm -D --defined-only "$T/lib/usr/lib/$MA"/libivshmem.so.0.1 | awk '{print $3}' | sed 's/@@*/@/; /@/!s/.*/&@&/' | sort >"$T/exported"
awk '/^ / {print $1}' "$SRC/debian/libivshmem0.1.symbols" | sort >"$T/listed"
if [ -s "$T/exported" ] && cmp -s "$T/exported" "$T/listed"; then
	ok "debian/libivshmem0.1.symbols lists exactly the $(wc -l <"$T/exported") exported symbols"
else
	nok "debian/libivshmem0.1.symbols lists exactly the exported symbols" "$(diff "$T/listed" "$T/exported" | grep '^[<>]' | head -5)"
fi

if [ "$(id -u)" != 0 ]; then
	skip "install, use and purge the packages" "installing packages into this machine needs root"
	finish
fi
for p in $PKGS; do
	if dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^.[^n]'; then
		nok "setup: $p is not installed here already" "the test installs and purges it; remove it first (apt-get purge $PKGS)"
		finish
	fi
done

# What the filesystem holds, by name, outside what apt, dpkg, man-db and
# this test change themselves.
snapshot() {
	find / -xdev \( -path /proc -o -path /sys -o -path /dev -o -path /tmp -o -path /var/tmp \
		-o -path /var/log -o -path /var/cache -o -path /var/lib/apt -o -path /var/lib/dpkg \
		-o -path /root -o -path /home -o -path /work -o -path "$SRC" -o -path "$BUILD" \) \
		-prune -o -print 2>/dev/null | sort
}
snapshot >"$T/before"
getent group ivshmem >/dev/null && group_before=1 || group_before=0
[ -e /run/ivshmem ] && run_before=1 || run_before=0

# shellcheck disable=SC2086
installed_by_us=1 # (a failed install may still leave some: cleanup purges)
if DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $debs >"$T/apt.log" 2>&1; then
	ok "apt-get install of the four packages"
else
	nok "apt-get install of the packages" "$(tail -5 "$T/apt.log")"
	finish
fi

# The snapshot sees what an install adds (so that its silence after the
# purge means something).
snapshot >"$T/installed"
diff "$T/before" "$T/installed" | grep -qx '> /usr/bin/ivshmem' && ok "the filesystem snapshot sees the installed /usr/bin/ivshmem" ||
	nok "the filesystem snapshot sees the installed /usr/bin/ivshmem"

IV=/usr/bin/ivshmem
if v=$($IV --version 2>&1) && [ "$v" = "ivshmem $VERSION" ]; then ok "$IV --version: $v"; else nok "$IV --version says ivshmem $VERSION" "$v"; fi
for page in 1:ivshmem 1:ivshmem-chan 3:libivshmem 5:ivshmem-daemon.conf 8:ivshmem-server 8:ivshmem-daemon; do
	sec=${page%%:*} name=${page#*:}
	if w=$(env -u MANPATH man -w "$sec" "$name" 2>&1) && [ "$w" = "/usr/share/man/man$sec/$name.$sec.gz" ]; then
		ok "man -w $sec $name: $w"
	else
		nok "man -w $sec $name finds the packaged page" "$w"
	fi
done
if env -u MANPATH MANWIDTH=80 man -P cat ivshmem 2>"$T/man.err" | grep -q '^SYNOPSIS' && [ ! -s "$T/man.err" ]; then
	ok "man ivshmem renders, silently"
else
	nok "man ivshmem renders, silently" "$(head -3 "$T/man.err")"
fi

# The maintainer scripts' work: the group from sysusers.d, then the
# runtime directories from tmpfiles.d.
getent group ivshmem >/dev/null && ok "postinst: systemd-sysusers made the group ivshmem" ||
	nok "postinst: systemd-sysusers made the group ivshmem"
if [ "$(stat -c '%U:%G %a' /run/ivshmem/server 2>&1)" = "root:root 755" ]; then
	ok "postinst: systemd-tmpfiles made /run/ivshmem/server"
else
	nok "postinst: systemd-tmpfiles made /run/ivshmem/server" "$(stat -c '%U:%G %a' /run/ivshmem/server 2>&1)"
fi
for f in /lib/systemd/system/ivshmem-server@.socket /lib/systemd/system/ivshmem-daemon@.service \
	/lib/udev/rules.d/70-ivshmem.rules /usr/share/bash-completion/completions/ivshmem; do
	[ -f "$f" ] && ok "installed: $f" || nok "installed: $f"
done

# An administrator enables a server instance, as the README says; the
# purge must take the link with the package.
WANTS=/etc/systemd/system/sockets.target.wants/ivshmem-server@deb-test.socket
if systemctl enable ivshmem-server@deb-test.socket >"$T/enable.log" 2>&1 && [ -L "$WANTS" ]; then
	ok "systemctl enable ivshmem-server@deb-test.socket (offline: the link in sockets.target.wants)"
else
	nok "systemctl enable ivshmem-server@deb-test.socket" "$(cat "$T/enable.log")"
fi

# A short host demo with the installed tool: a region through file:, a
# server with a peer that waits for a ring, a channel.
R=$T/region
truncate -s 1M "$R"
printf 'from the package' | $IV write "file:$R" --offset 4096 2>"$T/err" &&
	got=$($IV read "file:$R" --offset 4096 --length 16 2>>"$T/err")
[ "${got:-}" = "from the package" ] && ok "ivshmem write, then read, through file:" ||
	nok "ivshmem write, then read, through file:" "${got:-} $(cat "$T/err")"

S=$T/sock
$IV server -F -S "$S" --shm-dir "$T" -l 1M -n 2 2>"$T/server.log" &
SRV=$!
i=0; while [ ! -S "$S" ] && kill -0 $SRV 2>/dev/null && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
$IV wait "server:$S" 1 --timeout 20 >"$T/wait.out" 2>&1 &
W=$!
WID=""; i=0
while [ -z "$WID" ] && kill -0 $W 2>/dev/null && [ $i -lt 400 ]; do
	WID=$($IV peers "server:$S" --json 2>/dev/null | sed -n 's/.*"peers":\[{"id":\([0-9]*\).*/\1/p')
	[ -z "$WID" ] && sleep 0.05; i=$((i + 1))
done
if [ -n "$WID" ] && $IV ring "server:$S" "$WID" 1 2>"$T/ring.err" && wait $W; then
	ok "ivshmem server: a peer rings another on vector 1 ($(head -1 "$T/wait.out"))"
else
	kill $W 2>/dev/null
	nok "ivshmem server: a peer rings another on vector 1" "peer '$WID': $(cat "$T/ring.err" "$T/wait.out" "$T/server.log" | head -5)"
fi
kill $SRV
i=0; while kill -0 $SRV 2>/dev/null && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
kill -0 $SRV 2>/dev/null && { nok "ivshmem server stops on SIGTERM"; kill -9 $SRV; }
wait $SRV 2>/dev/null; SRV=; W=

C=$T/chan
truncate -s 4M "$C"
if $IV chan create "file:$C" deb --size 64K --max-message 1K 2>"$T/chan.err" &&
	printf 'one\ntwo\nthree\n' | $IV chan send "file:$C" deb 2>>"$T/chan.err" &&
	$IV chan recv "file:$C" deb --count 3 --timeout 10 >"$T/recv" 2>>"$T/chan.err" &&
	[ "$(cat "$T/recv")" = "$(printf 'one\ntwo\nthree')" ]; then
	ok "ivshmem chan: three messages sent and received in order"
else
	nok "ivshmem chan: three messages sent and received in order" "$(cat "$T/recv" "$T/chan.err" | head -5)"
fi

# The Python binding of python3-ivshmem, as Debian's interpreter finds it,
# on the packaged library: a message from Python to the packaged tool, and
# python3 -m ivshmem info.
out=$(cd / && env -u PYTHONPATH -u IVSHMEM_LIBRARY /usr/bin/python3 -c '
import sys, ivshmem
print(ivshmem.__file__, ivshmem.library_version)
with ivshmem.open("file:" + sys.argv[1]) as ep, ep.chan_open("deb", "producer") as ch:
    ch.send(b"from python", timeout=10)' "$C" 2>&1)
if [ "$out" = "/usr/lib/python3/dist-packages/ivshmem/__init__.py ${VERSION%%-*}" ] &&
	[ "$($IV chan recv "file:$C" deb --count 1 --timeout 10 2>&1)" = "from python" ]; then
	ok "python3-ivshmem: /usr/bin/python3 imports it from dist-packages and sends to the packaged tool"
else
	nok "python3-ivshmem: /usr/bin/python3 imports it from dist-packages and sends to the packaged tool" "$out"
fi
if out=$(cd / && env -u PYTHONPATH /usr/bin/python3 -m ivshmem info "file:$C" 2>&1) &&
	printf '%s\n' "$out" | grep -q '^channel deb: ring 65536, max message 1024$'; then
	ok "python3 -m ivshmem info shows the region's channel"
else
	nok "python3 -m ivshmem info shows the region's channel" "$out"
fi

# An application built against the installed files: the header, the
# pkg-config file and the libraries of libivshmem-dev, the example it ships.
EX=/usr/share/doc/libivshmem-dev/examples/map.c
found=$(pc --path libivshmem 2>&1)
if [ "$found" = "/usr/lib/$MA/pkgconfig/libivshmem.pc" ]; then
	ok "pkg-config finds the packaged libivshmem.pc"
else
	nok "pkg-config finds the packaged libivshmem.pc" "it finds '$found' (a meson install under /usr/local shadows the package: remove it)"
fi
printf 'installed!' | dd of="$R" conv=notrunc 2>/dev/null
# shellcheck disable=SC2046
if cc -Wall -Werror -o "$T/map" "$EX" $(pc --cflags --libs libivshmem) 2>"$T/cc.err" &&
	"$T/map" "file:$R" >"$T/map.out" 2>&1 && grep -q "installed!" "$T/map.out" &&
	ldd "$T/map" | grep -q "libivshmem.so.0.1 => /[a-z/]*lib/$MA/libivshmem.so.0.1 "; then
	ok "examples/map.c from libivshmem-dev builds with pkg-config, runs on libivshmem.so.0.1"
else
	nok "examples/map.c builds with pkg-config and runs on the packaged library" "$(cat "$T/cc.err" "$T/map.out" | head -5; ldd "$T/map" 2>&1 | grep ivshmem)"
fi
# shellcheck disable=SC2046
if cc -Wall -Werror -o "$T/map-static" "$EX" $(pc --cflags --static --libs libivshmem |
	sed 's/-livshmem\b/-l:libivshmem.a/') 2>"$T/cc.err" &&
	"$T/map-static" "file:$R" 2>&1 | grep -q "installed!" && ! ldd "$T/map-static" | grep -q libivshmem; then
	ok "... and links statically with the packaged libivshmem.a"
else
	nok "examples/map.c links statically with the packaged libivshmem.a" "$(head -5 "$T/cc.err")"
fi

# Purge, then nothing of the packages is left: no file they shipped, and
# the filesystem as it was before, but for the group ivshmem (Debian leaves
# system groups: files anywhere may still carry its id).
dpkg-query -L $PKGS 2>/dev/null | sort -u >"$T/shipped"
# shellcheck disable=SC2086
if DEBIAN_FRONTEND=noninteractive apt-get purge -y -q $PKGS >"$T/purge.log" 2>&1; then
	installed_by_us=0
	ok "apt-get purge $PKGS"
else
	nok "apt-get purge $PKGS" "$(tail -5 "$T/purge.log")"
fi
left=""
for p in $PKGS; do
	s=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null)
	case $s in "" | "un"* | "pn"*) ;; *) left="$left $p($s)" ;; esac
done
[ -z "$left" ] && ok "dpkg knows none of them any more" || nok "dpkg knows none of them any more" "$left"
still=""
while read -r f; do
	[ -d "$f" ] && continue # directories (and /lib, a link to one): others' too
	[ -e "$f" ] || [ -L "$f" ] && still="$still $f"
done <"$T/shipped"
[ -z "$still" ] && ok "none of the $(wc -l <"$T/shipped") paths they shipped is left but directories" ||
	nok "none of the paths they shipped is left but directories" "$still"
[ ! -e "$WANTS" ] && [ ! -L "$WANTS" ] && ok "purge took the administrator's enablement link of the template" ||
	nok "purge took the administrator's enablement link of the template" "$(ls -l "$WANTS")"
if [ $run_before = 0 ]; then
	[ ! -e /run/ivshmem ] && ok "purge took /run/ivshmem (a tmpfs on most hosts: outside the snapshot)" ||
		nok "purge took /run/ivshmem" "$(ls -la /run/ivshmem 2>&1 | head -3)"
fi
snapshot >"$T/after"
if cmp -s "$T/before" "$T/after"; then
	ok "the filesystem holds what it held before the install, path for path"
else
	nok "the filesystem holds what it held before the install, path for path" "$(diff "$T/before" "$T/after" | grep '^[<>]' | head -10)"
fi
[ $group_before = 0 ] && getent group ivshmem >/dev/null && echo "# kept on purge, as Debian does: the system group ivshmem"
finish
