#!/bin/sh
# static-public.sh INTERNAL.a OUT.a: the installed static library.  Links
# the internal library's objects into one relocatable object and makes
# every hidden symbol (the library's ivs_* internals: built with
# -fvisibility=hidden) local to it, so that applications linking OUT.a see
# only the IVSHMEM_API symbols of ivshmem.h.
set -eu
in=$(realpath "$1")
out=$(realpath -m "$2")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ "$(head -c 7 "$in")" = '!<thin>' ]; then
	# A thin archive (meson's, for libraries it doesn't install) holds
	# paths; ar prints them relative to the current directory.
	for m in $(ar t "$in"); do
		realpath "$m"
	done >"$tmp/objs"
else
	mkdir "$tmp/x"
	(cd "$tmp/x" && ar x "$in")
	ls "$tmp"/x/*.o >"$tmp/objs"
fi
# Built with LTO, the objects carry IR too (-ffat-lto-objects): drop it,
# the machine code beside it is what gets linked and localised.
i=0
for o in $(cat "$tmp/objs"); do
	i=$((i + 1))
	objcopy --wildcard --remove-section='.gnu.lto_*' --remove-section='.gnu.debuglto_*' \
		"$o" "$tmp/$i.o"
done
ld -r -o "$tmp/libivshmem.o" "$tmp"/[0-9]*.o
objcopy --localize-hidden "$tmp/libivshmem.o"
rm -f "$out"
ar rcsD "$out" "$tmp/libivshmem.o"
