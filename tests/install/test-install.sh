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

# The man pages, where man(1) looks for them under the prefix
if [ -f "$BUILD/man/ivshmem.1" ]; then
	for page in ivshmem:1 ivshmem-server:8 ivshmem-daemon:8 ivshmem-daemon.conf:5 libivshmem:3; do
		if w=$(MANPATH="$ROOT/share/man" man -w "${page#*:}" "${page%:*}" 2>&1) && [ -f "$w" ]; then
			ok "man -w ${page%:*}(${page#*:}) finds the installed page"
		else
			nok "man -w ${page%:*}(${page#*:}) finds the installed page" "$w"
		fi
	done
fi

# The bash completion, where bash-completion loads it for "ivshmem"
BC=$(find "$T/root" -path '*/bash-completion/completions/ivshmem' -type f | head -1)
if [ -n "$BC" ] && bash -n "$BC" && grep -q 'complete -F _ivshmem ivshmem' "$BC"; then
	ok "bash completion installed as ${BC#"$T/root"}"
else
	nok "bash completion installed in bash-completion's completions dir"
fi

# The Python binding: every module of python/ivshmem installed, in the
# dist-packages of the interpreter the build names (-Dpython), and it
# imports from there on the installed library.
PYEXE=$(meson introspect "$BUILD" --buildoptions | python3 -c "import json,sys; print([o['value'] for o in json.load(sys.stdin) if o['name']=='python'][0])")
if [ "$PYEXE" = no ]; then
	ok "the Python binding # SKIP -Dpython=no"
else
	PYINIT=$(find "$T/root" -path '*/ivshmem/__init__.py' | head -1)
	PYPKG=${PYINIT%/__init__.py}
	missing=""
	for f in "$SRC"/python/ivshmem/*.py "$SRC"/python/ivshmem/py.typed; do
		[ -f "$PYPKG/$(basename "$f")" ] || missing="$missing $(basename "$f")"
	done
	if [ -n "$PYINIT" ] && [ -z "$missing" ]; then
		ok "the Python package installed, every module (${PYPKG#"$T/root"})"
	else
		nok "the Python package installed, every module" "not installed:${missing:- the package}"
	fi
	PY=$(command -v "$PYEXE" || echo "$PYEXE")
	if [ -n "$PYINIT" ] && v=$(cd "$T" && env PYTHONPATH="$(dirname "$PYPKG")" IVSHMEM_LIBRARY="$SO" \
		"$PY" -c 'import ivshmem; print(ivshmem.__file__, ivshmem.library_version)' 2>&1) &&
		[ "${v%% *}" = "$PYINIT" ]; then
		ok "it imports from there, on the installed library ($v)"
	else
		nok "it imports from there, on the installed library" "$v"
	fi
fi

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

# Exported symbols: every public function of the header, nothing internal,
# each of the version node of the header's major.minor (ivshmem.h, Versions).
grep -o '\bivshmem_[a-z_0-9]*(' "$SRC/include/ivshmem.h" | tr -d '(' | sort -u >"$T/declared"
MAJOR=$(sed -n 's/^#define IVSHMEM_VERSION_MAJOR \([0-9]*\)$/\1/p' "$SRC/include/ivshmem.h")
MINOR=$(sed -n 's/^#define IVSHMEM_VERSION_MINOR \([0-9]*\)$/\1/p' "$SRC/include/ivshmem.h")
NODE=IVSHMEM_$MAJOR.$MINOR
nm -D --defined-only "$SO" | awk '$2 != "A" {print $3}' | sort >"$T/exported-v"
sed 's/@.*//' "$T/exported-v" | sort >"$T/exported"
if cmp -s "$T/exported" "$T/declared"; then
	ok "libivshmem.so exports exactly the $(wc -l <"$T/declared") functions of ivshmem.h"
else
	nok "libivshmem.so exports exactly the functions of ivshmem.h" "$(diff "$T/declared" "$T/exported" | tr '\n' ' ')"
fi
if grep -q '^ivs_' "$T/exported"; then nok "no internal ivs_* symbol exported"; else ok "no internal ivs_* symbol exported"; fi
if [ -s "$T/exported-v" ] && ! grep -v "@@$NODE\$" "$T/exported-v" >/dev/null; then
	ok "every exported symbol has the version $NODE"
else
	nok "every exported symbol has the version $NODE" "$(grep -v "@@$NODE\$" "$T/exported-v" | head -3 | tr '\n' ' ')"
fi
SONAME=$(readelf -d "$SO" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
WANT=libivshmem.so.$MAJOR; [ "$MAJOR" = 0 ] && WANT=libivshmem.so.0.$MINOR
[ "$SONAME" = "$WANT" ] && ok "soname $SONAME (before 1.0 each minor version is its own ABI)" ||
	nok "soname $WANT" "got '$SONAME'"

# The static library: the same API and nothing else visible to a program
# linking it (the internals are local symbols of one object).
A=$(find "$T/root" -name libivshmem.a | head -1)
[ -n "$A" ] && ok "static library installed" || nok "static library installed"
nm -g --defined-only "$A" 2>/dev/null | awk 'NF == 3 {print $3}' | sort >"$T/a-global"
if cmp -s "$T/a-global" "$T/declared"; then
	ok "libivshmem.a defines exactly the $(wc -l <"$T/declared") functions of ivshmem.h as global symbols"
else
	nok "libivshmem.a defines exactly the functions of ivshmem.h as global symbols" \
		"$(diff "$T/declared" "$T/a-global" | head -5 | tr '\n' ' ')"
fi
cat >"$T/clash.c" <<'C'
/* An application with a function named like a library internal. */
#include <ivshmem.h>
#include <stdio.h>
int ivs_close(int fd) { return fd; }
int main(void)
{
	ivshmem_ep *ep; /* ivshmem_open pulls in the library's own ivs_close */
	int r = ivshmem_open("file:/nonexistent/ivshmem-install-test", NULL, &ep);
	printf("%d %s\n", ivs_close(7), ivshmem_version_check(IVSHMEM_VERSION_HEX) == 0 && r < 0 ? "ok" : "bad");
	return 0;
}
C
if cc -Wall -o "$T/clash" "$T/clash.c" -I"$ROOT/include" "$A" -pthread 2>"$T/cc2.log" && "$T/clash" >"$T/clash.out" &&
	grep -q '^7 ok$' "$T/clash.out"; then
	ok "a program linking libivshmem.a statically may name its own functions like the library's internals"
else
	nok "a program linking libivshmem.a statically may name its own functions like the library's internals" \
		"$(head -3 "$T/cc2.log" "$T/clash.out" 2>/dev/null | tr '\n' ' ')"
fi
if cc -Wall -Werror -static-libgcc -o "$T/map-static" "$SRC/examples/map.c" -I"$ROOT/include" "$A" -pthread 2>"$T/cc3.log" &&
	"$T/map-static" "file:$T/region" >"$T/out2" 2>&1 && grep -q "installed!" "$T/out2"; then
	ok "examples/map.c linked with libivshmem.a maps a region"
else
	nok "examples/map.c linked with libivshmem.a maps a region" "$(head -3 "$T/cc3.log" "$T/out2" | tr '\n' ' ')"
fi
echo "1..$n"
[ "$failed" -eq 0 ]
