#!/bin/sh
# fetch-kernel.sh [CACHE_DIR]
#
# Fetch Debian's current amd64 kernel package (the one behind the
# linux-image-amd64 meta package) WITHOUT installing it, unpack it into
# CACHE_DIR and print the path of its vmlinuz on stdout.  Used by the guest
# test rig (tests/guest/run.sh) to boot QEMU guests.
#
# CACHE_DIR defaults to $IVSHMEM_GUEST_CACHE, else build/guest-cache.
# Idempotent: a package already unpacked in the cache is reused as it is, and a
# .deb already in the cache is not downloaded again.
#
# Layout:  CACHE_DIR/<package>.deb           the downloaded package
#          CACHE_DIR/<package>/              dpkg-deb -x of it
#          CACHE_DIR/<package>/.unpacked     stamp: unpacking completed
#          CACHE_DIR/kernel                  symlink to the current <package>/
#
# Environment: IVSHMEM_KERNEL_PKG overrides the package name (e.g.
# linux-image-6.1.0-56-amd64).  Diagnostics go to stderr; exit 1 on failure.
set -eu

cache=${1:-${IVSHMEM_GUEST_CACHE:-build/guest-cache}}
log() { echo "fetch-kernel: $*" >&2; }
die() { log "$*"; exit 1; }

mkdir -p "$cache"
cache=$(cd "$cache" && pwd)

resolve_pkg() {
	# "Depends: linux-image-6.1.0-56-amd64" (skip virtual "<...>" entries)
	apt-cache depends linux-image-amd64 2>/dev/null |
		sed -n 's/^[ |]*Depends: *\(linux-image-[^ <>]*\).*/\1/p' | head -n 1
}

pkg=${IVSHMEM_KERNEL_PKG:-}
if [ -z "$pkg" ]; then
	pkg=$(resolve_pkg || true)
	if [ -z "$pkg" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		log "apt lists have no linux-image-amd64: running apt-get update"
		apt-get update -qq >&2 || true
		pkg=$(resolve_pkg || true)
	fi
fi
if [ -z "$pkg" ]; then
	# No apt information: fall back to whatever is already unpacked.
	if [ -e "$cache/kernel/.unpacked" ]; then
		pkg=$(basename "$(readlink "$cache/kernel")")
		log "cannot resolve linux-image-amd64; reusing cached $pkg"
	else
		die "cannot resolve the package behind linux-image-amd64 (apt-cache depends)"
	fi
fi

dir=$cache/$pkg
find_vmlinuz() { ls "$dir"/boot/vmlinuz-* 2>/dev/null | head -n 1; }

if [ ! -e "$dir/.unpacked" ]; then
	deb=$(ls "$cache/$pkg"_*.deb 2>/dev/null | head -n 1 || true)
	if [ -z "$deb" ]; then
		command -v apt-get >/dev/null 2>&1 || die "apt-get not found"
		log "downloading $pkg"
		tmp=$(mktemp -d "$cache/.dl.XXXXXX")
		# let apt's sandbox user write there (avoids an "unsandboxed" warning)
		chown _apt "$tmp" 2>/dev/null || true
		# apt-get download writes into the current directory.  As root it may
		# warn that the download is unsandboxed; that's harmless.
		if ! (cd "$tmp" && apt-get download -q "$pkg" >&2); then
			rm -rf "$tmp"
			die "apt-get download $pkg failed"
		fi
		mv "$tmp"/*.deb "$cache/"
		rm -rf "$tmp"
		deb=$(ls "$cache/$pkg"_*.deb | head -n 1)
	fi
	log "unpacking $(basename "$deb")"
	rm -rf "$dir" "$dir.tmp"
	mkdir -p "$dir.tmp"
	dpkg-deb -x "$deb" "$dir.tmp" || { rm -rf "$dir.tmp"; die "dpkg-deb -x failed"; }
	mv "$dir.tmp" "$dir"
	[ -n "$(find_vmlinuz)" ] || die "no boot/vmlinuz-* in $deb"
	: >"$dir/.unpacked"
fi

ln -sfn "$pkg" "$cache/kernel"
vmlinuz=$(find_vmlinuz)
[ -n "$vmlinuz" ] || die "no vmlinuz in $dir"
echo "$vmlinuz"
