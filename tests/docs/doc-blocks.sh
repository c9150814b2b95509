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
# Fences as CommonMark has them: up to three spaces before ```, the info
# string's first word compared without case ("``` XML" is an xml block), a
# bare ``` closes.  Blocks of other languages are skipped whole.
awk -v lang="$lang" -v want="$want" '
	function info(l) { sub(/^ ? ? ?```[ \t]*/, "", l); sub(/[ \t].*$/, "", l); return tolower(l) }
	!/^ ? ? ?```/ { if (inb && n == want) print; next }
	inb || inother { if (/^ ? ? ?```[ \t]*$/) { inb = inother = 0; next } if (inb && n == want) print; next }
	info($0) == tolower(lang) { inb = 1; n++; next }
	{ inother = 1 }
	END {
		if (inb) { print "doc-blocks.sh: block " n " is not closed" > "/dev/stderr"; exit 1 }
		if (want == 0) { print n + 0; exit 0 }
		if (want > n) { print "doc-blocks.sh: no block " want " (" n + 0 " in all)" > "/dev/stderr"; exit 1 }
	}' "$doc"
