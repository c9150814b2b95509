#!/bin/sh
# tests/unit/test-layers.sh SRCROOT: the layers of docs/design.md hold.
# The compiler keeps the endpoint and the PCI device opaque wherever their
# private headers are not included; this checks who includes them, and
# that the facts a layer owns (kinds as strings, sysfs paths) stay there.
# Prints TAP.
set -u
root=${1:?usage: test-layers.sh SRCROOT}
cd "$root" || { echo "Bail out! no $root"; exit 1; }
n=0 failed=0
check() { # check DESCRIPTION OFFENDERS
	n=$((n + 1))
	if [ -z "$2" ]; then
		echo "ok $n - $1"
	else
		echo "not ok $n - $1"
		printf '%s\n' "$2" | sed 's/^/#   /'
		failed=$((failed + 1))
	fi
}
sources=$(find src tests examples -name '*.[ch]' | sort)
[ -n "$sources" ] || { echo "Bail out! no sources under $root"; exit 1; }

# includers FILE ALLOWED_REGEX: who includes FILE outside ALLOWED_REGEX
includers() {
	grep -l "#include \"[a-z/]*$1\"" $sources | grep -Ev "$2" || true
}

check "the endpoint's struct and ops tables (ep-impl.h) are included only in src/lib/endpoint/" \
	"$(includers ep-impl.h '^src/lib/endpoint/')"
check "the PCI backends' header (pci-backend.h) only in src/lib/pci/ (and the fuzz target of its resource parser)" \
	"$(includers pci-backend.h '^src/lib/pci/|^tests/unit/fuzz-parse\.c$')"
check "no endpoint kind compared as a string in src/ (ivs_ep_kind() is the value)" \
	"$(grep -nE 'str(n|case)?cmp\(ivshmem_kind' $(echo "$sources" | grep '^src/') || true)"
check "DEV prefixes parsed only in src/lib/endpoint/spec.c (ivs_ep_spec_parse)" \
	"$(grep -nE 'str(n|case)?cmp\([^,]*, *"(file|server|daemon|pci):"' $(echo "$sources" | grep '^src/' | grep -v '^src/lib/endpoint/spec\.c$') || true)"
check "no sysfs path written outside src/lib/pci/ (the PCI layer opens BARs again: ivs_pci_bar_open)" \
	"$(grep -nE '"/sys/|resource%' $(echo "$sources" | grep '^src/' | grep -v '^src/lib/pci/') || true)"
check "the library reads its environment in one place (IVSHMEM_SYSFS_ROOT, pci/scan.c) and has no test hooks in the header" \
	"$( (grep -nE '\<(secure_)?getenv\(' $(echo "$sources" | grep '^src/lib/' | grep -v '^src/lib/pci/scan\.c$'); grep -nE 'sysfs_root|_TEST_' include/ivshmem.h) || true)"

echo "1..$n"
[ $failed -eq 0 ]
