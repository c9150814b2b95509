#!/bin/sh
# SPDX-License-Identifier: MIT
# CLI tests of `ivshmem chan` over a file: region (TAP).
IVSHMEM=${1:-ivshmem}
# A setup failure is a failure (not ok), never a skip.
setup_failed() { echo "not ok 1 - setup: $1"; echo "1..1"; exit 1; }
dir=$(mktemp -d "${TMPDIR:-/tmp}/ivs-chan-cli.XXXXXX") || setup_failed "mktemp -d"
trap 'rm -rf "$dir"' EXIT
R="$dir/region"
D="file:$R"
truncate -s 1M "$R" || setup_failed "truncate -s 1M $R"
n=0
fail=0
t() { # t DESCRIPTION COMMAND...: pass if the command succeeds
	desc=$1; shift
	n=$((n + 1))
	if "$@"; then echo "ok $n - $desc"; else echo "not ok $n - $desc"; fail=1; fi
}
# one_line FILE PATTERN: FILE holds exactly one line, matching PATTERN
one_line() { [ "$(wc -l < "$1")" -eq 1 ] && grep -q "$2" "$1"; }

t "create" "$IVSHMEM" chan create "$D" c1 --size 4K --max-message 100
"$IVSHMEM" chan create "$D" c1 2> "$dir/err"; rc=$?
t "create again: exit 1" [ $rc -eq 1 ]
t "create again: one line naming it" one_line "$dir/err" "already exists"
printf 'one\ntwo\n\nfour\n' | "$IVSHMEM" chan send "$D" c1; rc=$?
t "send lines" [ $rc -eq 0 ]
"$IVSHMEM" chan stat "$D" c1 > "$dir/stat"
t "stat: 4 queued" grep -q "queued *4 message" "$dir/stat"
"$IVSHMEM" chan stat "$D" c1 --json > "$dir/json"
t "stat --json" grep -q '"name":"c1".*"queued":4' "$dir/json"
"$IVSHMEM" chan recv "$D" c1 --count 4 --timeout 5 > "$dir/out"; rc=$?
t "recv --count 4" [ $rc -eq 0 ]
printf 'one\ntwo\n\nfour\n' > "$dir/want"
t "messages in order, one per line" cmp -s "$dir/out" "$dir/want"
"$IVSHMEM" chan recv "$D" c1 --timeout 0.2 > /dev/null 2> "$dir/err"; rc=$?
t "recv on empty: exit 2 on timeout" [ $rc -eq 2 ]
t "timeout: one line" one_line "$dir/err" "within the timeout"
# a reader that went away (| head -n 1): done, exit 0, nothing on stderr.
# The pipe's read end is closed before recv starts, so its first write
# fails (EPIPE; SIGPIPE stays ignored across the exec)
printf 'x\n' | "$IVSHMEM" chan send "$D" c1
python3 -c 'import os, sys; r, w = os.pipe(); os.close(r); os.dup2(w, 1); os.execvp(sys.argv[1], sys.argv[1:])' \
	"$IVSHMEM" chan recv "$D" c1 --timeout 5 2> "$dir/err"; rc=$?
t "recv to a reader that went away: exit 0, quiet" sh -c "[ $rc -eq 0 ] && [ ! -s '$dir/err' ]"
printf 'a\nb' | "$IVSHMEM" chan send "$D" c1 --raw
"$IVSHMEM" chan recv "$D" c1 --count 1 --timeout 5 > "$dir/out"
printf 'a\nb\n' > "$dir/want"
t "--raw sends stdin as one message" cmp -s "$dir/out" "$dir/want"
head -c 200 /dev/zero | tr '\0' x | "$IVSHMEM" chan send "$D" c1 2> "$dir/err"; rc=$?
t "line above max message: exit 1, one line" sh -c "[ $rc -eq 1 ] && [ \$(wc -l < '$dir/err') -eq 1 ] && grep -q 'max-message' '$dir/err'"
"$IVSHMEM" chan recv "$D" nope --timeout 0.1 2> "$dir/err"; rc=$?
t "unknown channel: exit 1, one line" sh -c "[ $rc -eq 1 ] && grep -q 'no channel' '$dir/err' && [ \$(wc -l < '$dir/err') -eq 1 ]"
"$IVSHMEM" chan list "$D" > "$dir/list"
t "list" grep -q "^c1 " "$dir/list"

# A concurrent producer and consumer.
"$IVSHMEM" chan create "$D" c2 --size 64K
seq 1 2000 > "$dir/want"
"$IVSHMEM" chan recv "$D" c2 --count 2000 --timeout 10 > "$dir/out" &
pid=$!
"$IVSHMEM" chan send "$D" c2 < "$dir/want"
wait $pid; rc=$?
t "2000 lines through a concurrent pair" sh -c "[ $rc -eq 0 ] && cmp -s '$dir/out' '$dir/want'"

# Delete.
"$IVSHMEM" chan delete "$D" nope 2> "$dir/err"; rc=$?
t "delete unknown: exit 1, one line" sh -c "[ $rc -eq 1 ] && grep -q 'no channel' '$dir/err' && [ \$(wc -l < '$dir/err') -eq 1 ]"
"$IVSHMEM" chan delete "$D" 2> /dev/null; rc=$?
t "delete without NAME: usage error" [ $rc -ne 0 ]
"$IVSHMEM" chan create "$D" c3 --size 4K
"$IVSHMEM" chan delete "$D" c3; rc=$?
t "delete" [ $rc -eq 0 ]
"$IVSHMEM" chan list "$D" > "$dir/list"
t "deleted channel not listed" sh -c "! grep -q '^c3 ' '$dir/list' && grep -q '^c2 ' '$dir/list'"
"$IVSHMEM" chan recv "$D" c2 --timeout 30 > /dev/null 2>&1 &
pid=$!
# Until it is attached (bounded by its own --timeout: a hang guard).
attached=no i=0
while [ $i -lt 600 ]; do
	if "$IVSHMEM" chan stat "$D" c2 --json | grep -q '"consumer":{"attached":true'; then attached=yes; break; fi
	sleep 0.05; i=$((i + 1)) # poll interval
done
t "the consumer is attached" [ $attached = yes ]
"$IVSHMEM" chan delete "$D" c2 2> "$dir/err"; rc=$?
t "delete while a consumer is attached: exit 1, one line" sh -c "[ $rc -eq 1 ] && one_line() { [ \$(wc -l < \"\$1\") -eq 1 ] && grep -q \"\$2\" \"\$1\"; } && one_line '$dir/err' 'in use'"
kill -9 $pid; wait $pid 2> /dev/null
"$IVSHMEM" chan delete "$D" c2; rc=$?
t "delete after the consumer died (no detach)" [ $rc -eq 0 ]
"$IVSHMEM" chan create "$D" c2 --size 64K && echo again | "$IVSHMEM" chan send "$D" c2
t "re-created in the freed space" sh -c "[ \"\$('$IVSHMEM' chan recv '$D' c2 --count 1 --timeout 5)\" = again ]"

# Corrupt queue: the first channel's tail (block at 4096, tail at +64).
printf '\377\377\377\377\377\377\377\177' | "$IVSHMEM" write "$D" --offset 4160
"$IVSHMEM" chan recv "$D" c1 --timeout 1 2> "$dir/err"; rc=$?
t "corrupt queue: exit 1" [ $rc -eq 1 ]
t "corrupt queue: one line saying so" one_line "$dir/err" "corrupt"
# Corrupt layout: garbage over the header.
head -c 4096 /dev/urandom | "$IVSHMEM" write "$D" --offset 0
for cmd in "recv $D c1 --timeout 1" "stat $D c1" "create $D c3" "list $D"; do
	# shellcheck disable=SC2086
	"$IVSHMEM" chan $cmd > /dev/null 2> "$dir/err"; rc=$?
	t "corrupt layout: chan ${cmd%% *}: exit 1, one line" sh -c "[ $rc -eq 1 ] && [ \$(wc -l < '$dir/err') -eq 1 ] && grep -q 'valid channel layout' '$dir/err'"
done
"$IVSHMEM" chan init "$D"; rc=$?
t "init re-formats" [ $rc -eq 0 ]
"$IVSHMEM" chan create "$D" c1 && echo hi | "$IVSHMEM" chan send "$D" c1
t "usable again" sh -c "[ \"\$('$IVSHMEM' chan recv '$D' c1 --count 1 --timeout 5)\" = hi ]"
"$IVSHMEM" chan bogus "$D" 2> "$dir/err"; rc=$?
t "unknown subcommand: exit 1" [ $rc -eq 1 ]
echo "1..$n"
exit $fail
