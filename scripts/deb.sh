#!/bin/sh
# make deb: build the Debian packages (libivshmem0.1, libivshmem-dev,
# ivshmem-tools) and the native source package into OUT (build/deb).
# The build runs in a copy of the tree under OUT, so that neither the
# tree nor its meson build directories are touched.  As root, installs
# the build dependencies of debian/control that are missing.
set -eu
cd "$(dirname "$0")/.."
OUT=${1:-build/deb}
VERSION=$(dpkg-parsechangelog -l debian/changelog -S Version 2>/dev/null) || {
	echo "deb: dpkg-parsechangelog failed; install dpkg-dev (apt-get install dpkg-dev)" >&2; exit 1; }
SRC=$OUT/ivshmem-kit-$VERSION

if ! missing=$(dpkg-checkbuilddeps 2>&1); then
	if [ "$(id -u)" != 0 ]; then
		echo "deb: ${missing#dpkg-checkbuilddeps: error: }; install them (apt-get build-dep ./) or run as root" >&2
		exit 1
	fi
	echo "deb: installing the build dependencies"
	mkdir -p "$(dirname "$OUT")"
	DEBIAN_FRONTEND=noninteractive apt-get build-dep -y -q ./ >"$OUT.build-dep.log" 2>&1 || {
		tail -5 "$OUT.build-dep.log" >&2; echo "deb: apt-get build-dep ./ failed" >&2; exit 1; }
fi

# The tree as it is, less what git ignores (the build directories) and
# .git itself; without git, the same by name.
rm -rf "$OUT"
mkdir -p "$SRC"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	git ls-files -z --cached --others --exclude-standard | xargs -0 sh -c '
		for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh |
		tar --null -T - -cf - | tar -xf - -C "$SRC"
else
	tar --exclude=./.git --exclude='./build' --exclude='./build-*' -cf - . | tar -xf - -C "$SRC"
fi

cd "$SRC"
echo "deb: dpkg-buildpackage in $SRC (log: $OUT/build.log)"
if ! DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:+$DEB_BUILD_OPTIONS }parallel=$(nproc)" \
	dpkg-buildpackage -us -uc --build=full >../build.log 2>&1; then
	tail -30 ../build.log >&2
	echo "deb: dpkg-buildpackage failed; the whole log is $OUT/build.log" >&2
	exit 1
fi
cd - >/dev/null
rm -rf "$SRC"
ls "$OUT"/*.deb
