#!/bin/sh
# doc-blocks.sh LANG DOC [N]: the fenced code blocks of a Markdown DOC
# whose info string is LANG (```xml), in order.  Without N: how many there
# are; with N: block N (from 1) exactly as written, fences left out.  Exit 1
# if DOC cannot be read, if a block is never closed, or if there is no
# block N.
#
# Used by the docs tests (test-libvirt-xml.sh) and by the guest test's
# libvirt scenario, so that both check the XML the documentation shows.
set -u
lang=${1:?usage: doc-blocks.sh LANG DOC [N]}
doc=${2:?usage: doc-blocks.sh LANG DOC [N]}
want=${3:-0}
[ -r "$doc" ] || { echo "doc-blocks.sh: cannot read $doc" >&2; exit 1; }
# Fences as CommonMark has them at the margin (not in lists or quotes): up
# to three spaces, then three or more ` or ~; the block ends at a fence of
# the same character, at least as long, with nothing after it.  The info
# string's first word is compared without case ("``` XML" is an xml
# block); a ` fence whose info string holds a ` is not a fence.  Blocks of
# other languages are skipped whole.
awk -v lang="$lang" -v want="$want" '
	function fence(l) {   # the fence that opens or closes at l, or ""
		if (!match(l, /^ ? ? ?(```+|~~~+)/)) return ""
		return substr(l, RSTART, RLENGTH)
	}
	{ f = fence($0); sub(/^ */, "", f) }
	open != "" {
		rest = substr($0, index($0, f) + length(f))
		if (f != "" && substr(f, 1, 1) == substr(open, 1, 1) && length(f) >= length(open) &&
			rest ~ /^[ \t]*$/) {
			open = ""; inb = 0; next
		}
		if (inb && n == want) print
		next
	}
	f != "" {
		info = substr($0, index($0, f) + length(f))
		if (substr(f, 1, 1) == "`" && index(info, "`")) next
		sub(/^[ \t]*/, "", info); sub(/[ \t].*$/, "", info)
		open = f
		if (tolower(info) == tolower(lang)) { inb = 1; n++ }
	}
	END {
		if (inb) { print "doc-blocks.sh: block " n " is not closed" > "/dev/stderr"; exit 1 }
		if (want == 0) { print n + 0; exit 0 }
		if (want > n) { print "doc-blocks.sh: no block " want " (" n + 0 " in all)" > "/dev/stderr"; exit 1 }
	}' "$doc"
