#!/bin/sh
# Every XML block of docs/libvirt.md (and of the README) is valid libvirt
# domain XML, as libvirt's own schema (virt-xml-validate) says: a whole
# <domain> as it is, a <shmem> element inside a minimal domain.  The page
# must show the three setups it promises (ivshmem-plain with a size,
# ivshmem-doorbell with a server path and MSI vectors, a complete domain),
# and every doorbell socket must be the one ivshmem-server@.socket makes.  A broken element must fail the validator, so
# that its silence means something.
#
#   test-libvirt-xml.sh SOURCE_DIR
#
# Without virt-xml-validate (Debian: libvirt-clients) the test skips, except
# in CI as root, where scripts/deps.sh installs it and its absence is a
# failure.
set -u
SRC=${1:?source dir}
DOC=$SRC/docs/libvirt.md
BLOCKS=$SRC/tests/docs/doc-blocks.sh
UNIT=$SRC/data/ivshmem-server@.socket.in
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); echo "not ok $n - $1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/#   /'; }

if ! command -v virt-xml-validate >/dev/null 2>&1; then
	if [ -n "${CI:-}" ] && [ "$(id -u)" = 0 ]; then
		echo "Bail out! virt-xml-validate not found: apt-get install libvirt-clients (scripts/deps.sh check does)"
		exit 1
	fi
	echo "1..0 # SKIP virt-xml-validate not found (apt-get install libvirt-clients)"
	exit 0
fi
T=$(mktemp -d /tmp/ivshmem-docs.XXXXXX) || { echo "Bail out! mktemp failed"; exit 1; }
trap 'rm -rf "$T"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# in_domain FILE: a <shmem> snippet wrapped in the smallest valid domain
in_domain() {
	printf '%s\n' "<domain type='qemu'>" "  <name>doc-check</name>" \
		"  <memory unit='MiB'>256</memory>" "  <os><type>hvm</type></os>" "  <devices>"
	cat "$1"
	printf '%s\n' "  </devices>" "</domain>"
}
# schema FILE: 0 if libvirt's schema takes FILE (a <domain>, or a <shmem>
# snippet in_domain wraps), as $T/check.xml; the validator's words in $T/out
schema() {
	if grep -q '<domain' "$1"; then cp "$1" "$T/check.xml"; else in_domain "$1" >"$T/check.xml"; fi
	virt-xml-validate "$T/check.xml" domain >"$T/out" 2>&1
}
# unit_socket FILE NAME: every <server path> in FILE is where
# ivshmem-server@NAME.socket listens, NAME being the <shmem>'s name
listen=$(sed -n 's/^ListenStream=//p' "$UNIT")
unit_socket() {
	local name path want
	name=$(sed -n "s/.*<shmem name='\([^']*\)'.*/\1/p" "$1" | head -n 1)
	path=$(sed -n "s/.*<server path='\([^']*\)'.*/\1/p" "$1" | head -n 1)
	want=$(echo "$listen" | sed "s/%i/$name/")
	if [ -n "$listen" ] && [ "$path" = "$want" ]; then
		ok "$2: the doorbell's <server path> is ivshmem-server@$name.socket's ListenStream ($want)"
	else
		nok "$2: the doorbell's <server path> is ivshmem-server@$name.socket's ListenStream" \
			"XML: '$path', unit: '$want'"
	fi
}

plain= door= dom=
for doc in "$DOC" "$SRC/README.md"; do
	rel=${doc#"$SRC/"}
	count=$(sh "$BLOCKS" xml "$doc") || { echo "Bail out! cannot read the XML blocks of $doc"; exit 1; }
	i=1
	while [ "$i" -le "$count" ]; do
		f=$T/block.xml what="$rel: XML block $i"
		sh "$BLOCKS" xml "$doc" "$i" >"$f" || { nok "$what extracted"; i=$((i + 1)); continue; }
		if schema "$f"; then
			ok "$what ($(sed -n '1s/^[[:space:]]*<\([a-z]*\).*/\1/p' "$f")) is valid domain XML"
		else
			nok "$what is valid domain XML" "$(cat "$T/out"; echo '--- as checked:'; cat "$T/check.xml")"
		fi
		grep -q '<server path=' "$f" && unit_socket "$f" "$what"
		if [ "$doc" = "$DOC" ]; then
			grep -q '<domain' "$f" && dom=$i
			if grep -q "type='ivshmem-plain'" "$f" && grep -q '<size' "$f"; then plain=$i; fi
			if [ -z "$door" ] && grep -q "type='ivshmem-doorbell'" "$f" &&
				grep -q '<server path=' "$f" && grep -q '<msi vectors=' "$f"; then
				door=$i
			fi
		fi
		i=$((i + 1))
	done
done
[ -n "$plain" ] && ok "docs/libvirt.md shows ivshmem-plain with <size> (block $plain)" ||
	nok "docs/libvirt.md shows ivshmem-plain with <size>"
[ -n "$door" ] && ok "docs/libvirt.md shows ivshmem-doorbell with <server path> and <msi vectors> (block $door)" ||
	nok "docs/libvirt.md shows ivshmem-doorbell with <server path> and <msi vectors>"
[ -n "$dom" ] && ok "docs/libvirt.md shows a complete <domain> (block $dom)" ||
	nok "docs/libvirt.md shows a complete <domain>"

# the validator must refuse what libvirt would: an unknown model, a size that
# is not a number
printf '%s\n' "<shmem name='x'>" "  <model type='ivshmem-bogus'/>" "</shmem>" >"$T/bad1.xml"
printf '%s\n' "<shmem name='x'>" "  <model type='ivshmem-plain'/>" "  <size unit='M'>lots</size>" "</shmem>" >"$T/bad2.xml"
for b in 1 2; do
	case $b in 1) what="an unknown model" ;; 2) what="a size that is not a number" ;; esac
	if schema "$T/bad$b.xml"; then
		nok "a <shmem> with $what fails validation" "$(cat "$T/out")"
	else
		ok "a <shmem> with $what fails validation"
	fi
done
echo "1..$n"
