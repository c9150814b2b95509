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
awk -v lang="$lang" -v want="$want" '
	inb && /^```[[:space:]]*$/ { inb = 0; next }
	inb { if (n == want) print; next }
	$0 == "```" lang { inb = 1; n++; next }
	END {
		if (inb) { print "doc-blocks.sh: block " n " is not closed" > "/dev/stderr"; exit 1 }
		if (want == 0) { print n; exit 0 }
		if (want > n) { print "doc-blocks.sh: no block " want " (" n " in all)" > "/dev/stderr"; exit 1 }
	}' "$doc"
