#!/bin/sh
# The library as an application sees it: `meson install` into a DESTDIR, the
# pkg-config file, a program built against the installed header and shared
# library only, and the exported symbols (the public API and nothing else).
set -u
BUILD=${1:?build dir}
SRC=${2:?source dir}
T=$(mktemp -d /tmp/ivshmem-install.XXXXXX)
trap 'rm -rf "$T"' EXIT
n=0; failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; [ -n "${2:-}" ] && echo "#   $2"; }

if meson install -C "$BUILD" --destdir "$T/root" --no-rebuild >"$T/install.log" 2>&1; then
	ok "meson install into a DESTDIR"
else
	nok "meson install into a DESTDIR" "$(tail -3 "$T/install.log")"
fi
PREFIX=$(meson introspect "$BUILD" --buildoptions | python3 -c "import json,sys; print([o['value'] for o in json.load(sys.stdin) if o['name']=='prefix'][0])")
LIBDIR=$(meson introspect "$BUILD" --buildoptions | python3 -c "import json,sys; print([o['value'] for o in json.load(sys.stdin) if o['name']=='libdir'][0])")
ROOT=$T/root$PREFIX
PC=$(find "$T/root" -name libivshmem.pc | head -1)
[ -n "$PC" ] && ok "libivshmem.pc installed" || nok "libivshmem.pc installed"
[ -f "$ROOT/include/ivshmem.h" ] && ok "ivshmem.h installed" || nok "ivshmem.h installed"
SO=$(find "$T/root" -name 'libivshmem.so.*' -type f | head -1)
[ -n "$SO" ] && ok "shared library installed" || nok "shared library installed"

# Build examples/map.c with the installed files only.
export PKG_CONFIG_SYSROOT_DIR="$T/root"
export PKG_CONFIG_PATH=$(dirname "$PC")
if cc -Wall -Werror -o "$T/map" "$SRC/examples/map.c" $(pkg-config --cflags --libs libivshmem) 2>"$T/cc.log"; then
	ok "an application builds with pkg-config --cflags --libs libivshmem"
else
	nok "an application builds with pkg-config --cflags --libs libivshmem" "$(head -3 "$T/cc.log")"
fi
head -c 65536 /dev/zero >"$T/region"
printf 'installed!' | dd of="$T/region" conv=notrunc 2>/dev/null
if LD_LIBRARY_PATH=$(dirname "$SO") "$T/map" "file:$T/region" >"$T/out" 2>&1 && grep -q "65536 bytes mapped" "$T/out" && grep -q "installed!" "$T/out"; then
	ok "it maps a region through the installed shared library"
else
	nok "it maps a region through the installed shared library" "$(cat "$T/out")"
fi

# Exported symbols: every public function of the header, nothing internal.
nm -D --defined-only "$SO" | awk '$2 == "T" {print $3}' | sort >"$T/exported"
grep -o '\bivshmem_[a-z_0-9]*(' "$SRC/include/ivshmem.h" | tr -d '(' | sort -u >"$T/declared"
if cmp -s "$T/exported" "$T/declared"; then
	ok "exports exactly the $(wc -l <"$T/declared") functions of ivshmem.h"
else
	nok "exports exactly the functions of ivshmem.h" "$(diff "$T/declared" "$T/exported" | tr '\n' ' ')"
fi
if grep -q '^ivs_' "$T/exported"; then nok "no internal ivs_* symbol exported"; else ok "no internal ivs_* symbol exported"; fi
echo "1..$n"
[ "$failed" -eq 0 ]
