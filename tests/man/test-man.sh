#!/bin/sh
# The man pages against the program: every command, subcommand, option and
# environment variable the CLI prints in its --help (or reads), every key the
# daemon's policy file takes and every function the library exports is
# documented in its page, as a term of a definition list, not a passing
# mention or a line of an example; and
# man-db renders every page without a warning and finds its NAME line.
#
#   test-man.sh BUILD_DIR SOURCE_DIR
#
# Pages are checked as man(1) shows them (rendered by man-db and groff), not
# as their scdoc sources.  Without scdoc the pages are not built: the test
# skips, except in CI (CI set) where that is a failure.
set -u
BUILD=${1:?build dir}
SRC=${2:?source dir}
CLI=$BUILD/src/cli/ivshmem
MAN=$BUILD/man
T=$(mktemp -d /tmp/ivshmem-man.XXXXXX)
trap 'rm -rf "$T"' EXIT
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); echo "not ok $n - $1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/#   /'; }

PAGES="ivshmem.1 ivshmem-chan.1 ivshmem-topic.1 ivshmem-bench.1 libivshmem.3
ivshmem-daemon.conf.5 ivshmem-server.8 ivshmem-daemon.8"

if [ ! -f "$MAN/ivshmem.1" ]; then
	if [ -n "${CI:-}" ]; then
		echo "Bail out! $MAN/ivshmem.1 not built: install scdoc and reconfigure (meson setup --reconfigure $BUILD)"
		exit 1
	fi
	echo "1..0 # SKIP man pages not built (scdoc missing: apt-get install scdoc)"
	exit 0
fi
command -v man >/dev/null 2>&1 || { echo "Bail out! man not found: apt-get install man-db"; exit 1; }

# A page as man(1) shows it: plain ASCII text, no overstrike, wide enough
# that no option wraps.
render() {
	LC_ALL=C MANWIDTH=200 man -l "$MAN/$1" 2>/dev/null | col -bx
}

for p in $PAGES; do
	if [ ! -f "$MAN/$p" ]; then
		nok "$p: built"
		continue
	fi
	# groff's warnings (--warnings: all of them, as lintian's check)
	LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l "$MAN/$p" >/dev/null 2>"$T/warn"
	if [ ! -s "$T/warn" ]; then ok "$p: man --warnings is silent"; else nok "$p: man --warnings is silent" "$(head -5 "$T/warn")"; fi
	# whatis/apropos read the NAME line through lexgrog
	name=${p%.*}
	if lexgrog "$MAN/$p" 2>&1 | grep -q ": \"$name - "; then ok "$p: NAME parses for whatis ($name - ...)"
	else nok "$p: NAME parses for whatis ($name - ...)" "$(lexgrog "$MAN/$p" 2>&1)"; fi
	render "$p" >"$T/$p.txt"
	# the terms of its definition lists: in scdoc's roff, the text line
	# just before an indented description (.RS); not synopsis, literal
	# blocks (.nf) or running text
	awk 'prev != "" && prev !~ /^[.]/ && /^[.]RS/ { print prev } { prev = $0 }' "$MAN/$p" |
		sed 's/\\f[BIRP]//g; s/\\&//g; s/\\-/-/g' >"$T/$p.terms"
done

# defined PAGE WORD: WORD begins a term of PAGE, alone or after other
# spellings of the same thing ("-S, --socket PATH", "--ring, --no-ring").
defined() {
	grep -qE -- "^([^[:space:],]+( [^[:space:],]+)?, )*$2([ =,[]|\$)" "$T/$1.terms"
}
page_of() {
	case $1 in
	chan | topic | bench) echo "ivshmem-$1.1" ;;
	server | daemon) echo "ivshmem-$1.8" ;;
	*) echo ivshmem.1 ;;
	esac
}
options_of() { # the options a usage text names, one per line
	grep -oE -- '(^|[][ |])--?[A-Za-z][A-Za-z0-9-]*' | sed 's/^[][ |]//' | sort -u
}

# ivshmem --help: the commands, the common options, the environment
"$CLI" --help >"$T/help" 2>&1
cmds=$(sed -n '/^commands:/,/^$/s/^  \([a-z][a-z]*\) .*/\1/p' "$T/help")
[ -n "$cmds" ] && ok "ivshmem --help lists commands ($(echo $cmds))" || nok "ivshmem --help lists commands"
for c in $cmds; do
	p=$(page_of "$c")
	if defined ivshmem.1 "(ivshmem )?$c"; then ok "ivshmem.1: command $c"; else nok "ivshmem.1: command $c"; fi
	if [ "$p" != ivshmem.1 ]; then
		ref="${p%.*}(${p##*.})"
		if grep -qF "$ref" "$T/ivshmem.1.txt"; then ok "ivshmem.1: $c refers to $ref"; else nok "ivshmem.1: $c refers to $ref"; fi
	fi
done
for o in $(options_of <"$T/help"); do
	if defined ivshmem.1 "$o"; then ok "ivshmem.1: option $o"; else nok "ivshmem.1: option $o"; fi
done
for v in $(grep -ohE 'getenv\("[A-Z_]+"\)' -r "$SRC/src" | sed 's/getenv("\(.*\)")/\1/' | sort -u); do
	if cat "$T"/*.terms | grep -qE "^$v\b"; then ok "environment $v documented"
	else nok "environment $v documented" "the program reads it (getenv in src/): give it a term under ENVIRONMENT"; fi
done

# ivshmem COMMAND --help: its subcommands and options, in its page
for c in $cmds; do
	p=$(page_of "$c")
	"$CLI" "$c" --help >"$T/help.$c" 2>&1
	grep -q "usage: ivshmem $c" "$T/help.$c" || { nok "ivshmem $c --help prints a usage" "$(head -3 "$T/help.$c")"; continue; }
	for s in $(grep -oE "(^|[ |])$c [a-z]+( |\$)" "$T/help.$c" | awk '{print $2}' | sort -u); do
		if defined "$p" "(ivshmem )?($c )?$s"; then ok "$p: $c $s"; else nok "$p: $c $s"; fi
	done
	for o in $(options_of <"$T/help.$c"); do
		if defined "$p" "$o"; then ok "$p: $c $o"; else nok "$p: $c $o" "ivshmem $c --help names it; give it a term in $p"; fi
	done
done

# ivshmem-daemon.conf(5): every key the policy file takes.  The daemon
# names them all when it meets one it doesn't know.
printf 'no-such-key yes\n' >"$T/bad.conf"
keys=$("$CLI" daemon file:/nonexistent --config "$T/bad.conf" 2>&1 | sed -n 's/.*(keys: \(.*\)).*/\1/p' | tr -d ,)
[ -n "$keys" ] && ok "the daemon names its policy keys ($(echo $keys | wc -w))" || nok "the daemon names its policy keys"
for k in $keys; do
	if defined ivshmem-daemon.conf.5 "$k"; then ok "ivshmem-daemon.conf.5: key $k"; else nok "ivshmem-daemon.conf.5: key $k"; fi
done

# libivshmem(3): every function the shared library exports
so=$(ls "$BUILD"/src/lib/libivshmem.so.*.* 2>/dev/null | head -n 1)
syms=$([ -n "$so" ] && nm -D --defined-only "$so" | awk '$2 == "T" { print $3 }' | sed 's/@.*//' | sort -u)
[ -n "$syms" ] && ok "libivshmem exports functions ($(echo $syms | wc -w))" || nok "libivshmem exports functions"
for f in $syms; do
	if grep -qE "\b$f\(" "$T/libivshmem.3.txt"; then ok "libivshmem.3: $f"; else nok "libivshmem.3: $f"; fi
done

echo "1..$n"
