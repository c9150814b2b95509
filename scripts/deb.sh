#!/bin/sh
# make deb: build the Debian packages (libivshmem0.1, libivshmem-dev,
# ivshmem-tools) and the native source package into OUT (build/deb).
# The build runs in a copy of the tree under OUT, so that neither the
# tree nor its meson build directories are touched.  As root, installs
# the build dependencies of debian/control that are missing.
#
# OUT is this script's own: made if absent, emptied if it holds the marker
# an earlier run left there, refused otherwise (it is never a directory
# of the user's that happens to have that name).
set -eu
fail() { echo "deb: $*" >&2; exit 1; }
OUT=${1:-build/deb}
TREE=$(cd "$(dirname "$0")/.." && pwd)
case $OUT in /*) ;; *) OUT=$(pwd)/$OUT ;; esac
MARK=.ivshmem-kit-deb
cd "$TREE"
command -v dpkg-buildpackage >/dev/null 2>&1 || fail "dpkg-buildpackage not found; install dpkg-dev (apt-get install dpkg-dev)"
VERSION=$(dpkg-parsechangelog -l debian/changelog -S Version) || fail "debian/changelog does not parse"

if [ -e "$OUT" ] || [ -L "$OUT" ]; then
	[ -d "$OUT" ] && [ ! -L "$OUT" ] || fail "$OUT is not a directory; name another (scripts/deb.sh OUT)"
	if [ -n "$(ls -A "$OUT")" ] && [ ! -f "$OUT/$MARK" ]; then
		fail "$OUT holds files this script did not make; name an empty or new directory (scripts/deb.sh OUT)"
	fi
	case $TREE/ in "$OUT"/*) fail "$OUT holds the source tree; name a directory inside it or elsewhere" ;; esac
	rm -rf "$OUT"
fi
mkdir -p "$OUT"
: >"$OUT/$MARK"
SRC=$OUT/ivshmem-kit-$VERSION

if ! missing=$(dpkg-checkbuilddeps 2>&1); then
	[ "$(id -u)" = 0 ] ||
		fail "${missing#dpkg-checkbuilddeps: error: }; install them (apt-get build-dep ./) or run as root"
	echo "deb: installing the build dependencies"
	DEBIAN_FRONTEND=noninteractive apt-get build-dep -y -q ./ >"$OUT/build-dep.log" 2>&1 || {
		tail -5 "$OUT/build-dep.log" >&2; fail "apt-get build-dep ./ failed (log: $OUT/build-dep.log)"; }
fi

# The tree as it is, less what git ignores (the build directories) and
# .git itself; without git, the same by name.
mkdir "$SRC"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	git ls-files -z --cached --others --exclude-standard >"$OUT/files" || fail "git ls-files failed"
	# (a file deleted but not yet committed is listed: leave it out)
	xargs -0 -r sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done; exit 0' sh <"$OUT/files" >"$OUT/files.present"
	tar --null -T "$OUT/files.present" -cf "$OUT/tree.tar" || fail "tar of the tree failed"
else
	tar --exclude=./.git --exclude=./build --exclude='./build-*' -cf "$OUT/tree.tar" . || fail "tar of the tree failed"
fi
tar -xf "$OUT/tree.tar" -C "$SRC" || fail "unpacking the tree into $SRC failed"
rm -f "$OUT/files" "$OUT/files.present" "$OUT/tree.tar"

opts=${DEB_BUILD_OPTIONS:-}
case " $opts " in *" parallel="*) ;; *) opts="${opts:+$opts }parallel=$(nproc)" ;; esac
echo "deb: dpkg-buildpackage in $SRC (log: $OUT/build.log)"
if ! (cd "$SRC" && DEB_BUILD_OPTIONS=$opts dpkg-buildpackage -us -uc --build=full) >"$OUT/build.log" 2>&1; then
	tail -30 "$OUT/build.log" >&2
	fail "dpkg-buildpackage failed; the whole log is $OUT/build.log"
fi
rm -rf "$SRC"
ls "$OUT"/*.deb
