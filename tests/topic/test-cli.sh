#!/bin/sh
# SPDX-License-Identifier: MIT
# CLI tests of `ivshmem topic` over a file: region (TAP).
IVSHMEM=${1:-ivshmem}
# A setup failure is a failure (not ok), never a skip.
setup_failed() { echo "not ok 1 - setup: $1"; echo "1..1"; exit 1; }
dir=$(mktemp -d "${TMPDIR:-/tmp}/ivs-topic-cli.XXXXXX") || setup_failed "mktemp -d"
pids="" # background subscribers not waited for yet
# A failed check may leave a (stopped) subscriber behind: end it too.
cleanup() {
	for p in $pids; do kill -CONT "$p"; kill "$p"; done 2> /dev/null
	rm -rf "$dir"
}
trap cleanup EXIT
R="$dir/region"
D="file:$R"
truncate -s 4M "$R" || setup_failed "truncate -s 4M $R"
n=0
fail=0
t() { # t DESCRIPTION COMMAND...: pass if the command succeeds
	desc=$1; shift
	n=$((n + 1))
	if "$@"; then echo "ok $n - $desc"; else echo "not ok $n - $desc"; fail=1; fi
}
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
# one_line FILE PATTERN: FILE holds exactly one line, matching PATTERN
one_line() { [ "$(wc -l < "$1")" -eq 1 ] && grep -q "$2" "$1"; }
# fails RC WANT FILE PATTERN: the exit status RC is WANT and FILE one line matching PATTERN
fails() { [ "$1" -eq "$2" ] && one_line "$3" "$4"; }
# live NAME: how many of the topic's subscriber slots are live
live() { "$IVSHMEM" topic stat "$D" "$1" --json 2> /dev/null | grep -o '"state":"live"' | wc -l; }
# wait_live NAME N: until N subscribers of the topic are live (bounded: a hang guard, not a delay)
wait_live() {
	i=0
	while [ $i -lt 400 ]; do
		[ "$(live "$1")" -ge "$2" ] && return 0
		sleep 0.05; i=$((i + 1)) # poll interval
	done
	return 1
}
# wait_json NAME PATTERN: until the topic's `stat --json` matches PATTERN (bounded, as wait_live)
wait_json() {
	i=0
	while [ $i -lt 400 ]; do
		"$IVSHMEM" topic stat "$D" "$1" --json 2> /dev/null | grep -q "$2" && return 0
		sleep 0.05; i=$((i + 1)) # poll interval
	done
	return 1
}
# wait_lines FILE N: until FILE has N lines (a subscriber's output; bounded, as wait_live)
wait_lines() {
	i=0
	while [ $i -lt 400 ]; do
		[ "$(wc -l < "$1")" -ge "$2" ] && return 0
		sleep 0.05; i=$((i + 1)) # poll interval
	done
	return 1
}
# bg PID: a background subscriber to end at exit; reap PID: wait for it (sets rc), and forget it
bg() { pids="$pids $1"; }
reap() { wait "$1"; rc=$?; pids=$(echo "$pids" | sed "s/ $1\b//"); }
# Lines long enough that 200 of them overflow a 4K ring several times.
padded() { awk 'BEGIN { for (i = 1; i <= 200; i++) printf "message %03d, padded to fill the ring\n", i }'; }

# Create, and its refusals.
t "create" "$IVSHMEM" topic create "$D" t1
"$IVSHMEM" topic create "$D" t1 2> "$dir/err"; rc=$?
t "create again: exit 1, one line" fails $rc 1 "$dir/err" "already exists"
for bad in "--subscribers 0:subscribers" "--subscribers 65:subscribers" "--mode bogus:unknown --mode 'bogus'" \
	"--mode foo:use lossless or latest" "--stall-timeout 3600001:stall-timeout" \
	"--size 4K --max-message 4K:max-message" "--mode latest --stall-timeout 5:stall-timeout.*--mode latest" \
	"--stall-timeout 5 --mode latest:drop --stall-timeout" \
	"--mode latest --size 4K --max-message 2K:room for 2 buffers"; do
	opts=${bad%%:*}
	# shellcheck disable=SC2086
	"$IVSHMEM" topic create "$D" tbad $opts 2> "$dir/err"; rc=$?
	t "create $opts: exit 1, one line" fails $rc 1 "$dir/err" "${bad#*:}"
done
"$IVSHMEM" topic stat "$D" tbad > /dev/null 2>&1; rc=$?
t "refused creates made nothing" [ $rc -eq 1 ]
"$IVSHMEM" topic create "$D" t2 --subscribers 2 --mode lossless --size 8K --max-message 1K --stall-timeout 500
t "create with every option" [ $? -eq 0 ]
"$IVSHMEM" topic stat "$D" t2 --json > "$dir/json"
t "stat --json: the options" grep -q '"name":"t2","mode":"lossless","ring_size":8192,"max_msg":1024,"subscribers":2,"stall_timeout_ms":500,' "$dir/json"
t "stat --json: no publisher, no slots" grep -q '"publisher":{"attached":false,.*"published":0,.*"evictions":0,"slots":\[\]}$' "$dir/json"
"$IVSHMEM" topic stat "$D" t2 > "$dir/stat"
t "stat" sh -c "grep -q '^mode *lossless' '$dir/stat' && grep -q '^stall timeout *500 ms' '$dir/stat'"
"$IVSHMEM" topic stat "$D" nope 2> "$dir/err"; rc=$?
t "stat on a missing topic: exit 1, one line" fails $rc 1 "$dir/err" "no topic 'nope'.*topic create"
"$IVSHMEM" topic pub "$D" t1 --count 3 < /dev/null 2> "$dir/err"; rc=$?
t "an option of another subcommand: exit 1, one line" fails $rc 1 "$dir/err" "does not apply"
"$IVSHMEM" topic sub "$D" 2> "$dir/err"; rc=$?
t "sub without NAME: exit 1, one line" fails $rc 1 "$dir/err" "expected DEV NAME"
"$IVSHMEM" topic bogus "$D" t1 2> "$dir/err"; rc=$?
t "unknown subcommand: exit 1, one line" fails $rc 1 "$dir/err" "unknown 'topic' command"

# Round trip: the subscriber attaches first (it gets what is published after).
"$IVSHMEM" topic sub "$D" t1 --count 3 --timeout 20 > "$dir/out" 2> "$dir/err" &
pid=$!; bg $pid
t "the subscriber is live" wait_live t1 1
"$IVSHMEM" topic stat "$D" t1 --json > "$dir/json"
t "stat --json: its slot" grep -q "\"slots\":\[{\"slot\":[0-9]*,\"state\":\"live\",\"id\":-\{0,1\}[0-9]*,\"pid\":$pid,\"epoch\":[0-9]*,\"head\":0,\"received\":0,\"lag\":0,\"sleeps\":[0-9]*,\"rings\":[0-9]*,\"skipped\":0}\]" "$dir/json"
printf 'a\nb\nc\n' | "$IVSHMEM" topic pub "$D" t1; rc=$?
t "pub lines" [ $rc -eq 0 ]
reap $pid
printf 'a\nb\nc\n' > "$dir/want"
t "sub --count 3: exit 0" [ $rc -eq 0 ]
t "messages in order, one per line" cmp -s "$dir/out" "$dir/want"
t "sub: nothing on stderr" [ ! -s "$dir/err" ]
"$IVSHMEM" topic stat "$D" t1 --json > "$dir/json"
t "stat after: published 3, slot freed" grep -q '"published":3,.*"slots":\[\]' "$dir/json"

# Two subscribers get the same messages.
"$IVSHMEM" topic sub "$D" t1 --count 3 --timeout 20 > "$dir/out1" 2> "$dir/err1" &
pid1=$!; bg $pid1
"$IVSHMEM" topic sub "$D" t1 --count 3 --timeout 20 > "$dir/out2" 2> "$dir/err2" &
pid2=$!; bg $pid2
t "both subscribers are live" wait_live t1 2
printf 'a\nb\nc\n' | "$IVSHMEM" topic pub "$D" t1
reap $pid1; rc1=$rc
reap $pid2; rc2=$rc
t "two subscribers: both exit 0" [ $rc1 -eq 0 -a $rc2 -eq 0 ]
t "two subscribers: the same 3 lines each" sh -c "cmp -s '$dir/out1' '$dir/want' && cmp -s '$dir/out2' '$dir/want'"
t "two subscribers: nothing on stderr" [ ! -s "$dir/err1" -a ! -s "$dir/err2" ]

# Nothing published: exit 2 once the (whole command's) timeout is over.
"$IVSHMEM" topic sub "$D" t1 --timeout 0.3 > "$dir/out" 2> "$dir/err"; rc=$?
t "sub on an idle topic: exit 2, one line" fails $rc 2 "$dir/err" "within the timeout"
t "sub on an idle topic: no output" [ ! -s "$dir/out" ]

# Published with nobody subscribed: kept while the ring has room, for --from oldest only.
"$IVSHMEM" topic create "$D" t3
printf 'x\ny\n' | "$IVSHMEM" topic pub "$D" t3 --timeout 5; rc=$?
t "pub with no subscriber does not wait" [ $rc -eq 0 ]
"$IVSHMEM" topic sub "$D" t3 --timeout 0.3 > "$dir/out" 2> /dev/null; rc=$?
t "sub (at the tail) does not get them" sh -c "[ $rc -eq 2 ] && [ ! -s '$dir/out' ]"
"$IVSHMEM" topic sub "$D" t3 --from oldest --count 2 --timeout 5 > "$dir/out" 2> "$dir/err"; rc=$?
printf 'x\ny\n' > "$dir/want"
t "sub --from oldest gets the retained messages" sh -c "[ $rc -eq 0 ] && cmp -s '$dir/out' '$dir/want' && [ ! -s '$dir/err' ]"
"$IVSHMEM" topic sub "$D" t3 --from newest 2> "$dir/err"; rc=$?
t "sub --from newest: exit 1, one line" fails $rc 1 "$dir/err" "tail or oldest"

# --raw: all of stdin is one message; the limit is the topic's max message.
"$IVSHMEM" topic sub "$D" t1 --count 1 --timeout 20 > "$dir/out" &
pid=$!; bg $pid
t "the subscriber is live (--raw)" wait_live t1 1
printf 'a\nb' | "$IVSHMEM" topic pub "$D" t1 --raw
reap $pid
printf 'a\nb\n' > "$dir/want"
t "--raw publishes stdin as one message" sh -c "[ $rc -eq 0 ] && cmp -s '$dir/out' '$dir/want'"
"$IVSHMEM" topic create "$D" t4 --size 4K --max-message 64
head -c 100 /dev/zero | tr '\0' x | "$IVSHMEM" topic pub "$D" t4 --raw 2> "$dir/err"; rc=$?
t "--raw above max message: exit 1, one line" fails $rc 1 "$dir/err" "max-message"
head -c 100 /dev/zero | tr '\0' x | "$IVSHMEM" topic pub "$D" t4 2> "$dir/err"; rc=$?
t "line above max message: exit 1, one line" fails $rc 1 "$dir/err" "max-message"
"$IVSHMEM" topic stat "$D" t4 --json > "$dir/json"
t "nothing published by the refused ones" grep -q '"published":0,' "$dir/json"

# Every slot taken.
"$IVSHMEM" topic create "$D" t5 --subscribers 1
"$IVSHMEM" topic sub "$D" t5 --count 1 --timeout 20 > "$dir/out" &
pid=$!; bg $pid
t "the only subscriber is live" wait_live t5 1
"$IVSHMEM" topic sub "$D" t5 --count 1 --timeout 5 2> "$dir/err"; rc=$?
t "no free slot: exit 1, one line" fails $rc 1 "$dir/err" "all 1 subscriber slot.*topic stat"
echo z | "$IVSHMEM" topic pub "$D" t5
reap $pid
t "the subscriber holding the slot is unaffected" sh -c "[ $rc -eq 0 ] && [ \"\$(cat '$dir/out')\" = z ]"

# Channels and topics share the table, but not their commands.
"$IVSHMEM" chan create "$D" c1 --size 4K
"$IVSHMEM" topic sub "$D" c1 --timeout 1 2> "$dir/err"; rc=$?
t "topic sub on a channel: exit 1, one line" fails $rc 1 "$dir/err" "is a channel, not a topic"
"$IVSHMEM" chan recv "$D" t1 --timeout 1 2> "$dir/err"; rc=$?
t "chan recv on a topic: exit 1, one line" fails $rc 1 "$dir/err" "."
# (The region's path, in the message, has "topic" in it: look at the rest.)
t "chan recv on a topic: says it is a topic" sh -c "sed 's|$R||g' '$dir/err' | grep -q 'is a topic, not a channel'"
"$IVSHMEM" topic create "$D" c1 2> "$dir/err"; rc=$?
t "topic create over a channel's name: exit 1, one line" fails $rc 1 "$dir/err" "already exists"
"$IVSHMEM" chan list "$D" > "$dir/list"
t "chan list lists the topics, with their kind" sh -c "grep -q '^t1  *topic ' '$dir/list' && grep -q '^t5  *topic ' '$dir/list' && grep -q '^c1  *channel ' '$dir/list'"

# Lossless: a subscriber that stops reading (but within its stall timeout) holds the publisher up;
# the publisher's --timeout ends it (exit 2), and the subscriber still gets every message published.
"$IVSHMEM" topic create "$D" t6 --size 4K --max-message 64 --stall-timeout 600000
"$IVSHMEM" topic sub "$D" t6 --timeout 30 > "$dir/out" 2> "$dir/err" &
pid=$!; bg $pid
t "the subscriber is live (full ring)" wait_live t6 1
kill -STOP $pid
padded | "$IVSHMEM" topic pub "$D" t6 --timeout 0.3 2> "$dir/perr"; rc=$?
t "pub into a full ring: exit 2, one line" fails $rc 2 "$dir/perr" "stayed full"
sent=$(sed -n 's/.*; \([0-9]*\) message(s) published$/\1/p' "$dir/perr")
kill -CONT $pid
reap $pid
t "the subscriber ends (exit 0) when the publisher has left" sh -c "[ $rc -eq 0 ] && [ ! -s '$dir/err' ]"
padded | head -n "${sent:-0}" > "$dir/want"
t "it got every message published ($sent), in order" sh -c "[ '${sent:-0}' -gt 0 ] && cmp -s '$dir/out' '$dir/want'"

# Eviction: a subscriber that stalls past the stall timeout is dropped, and the publisher goes on.
"$IVSHMEM" topic create "$D" t7 --size 4K --max-message 64 --stall-timeout 300
"$IVSHMEM" topic sub "$D" t7 --timeout 30 > /dev/null 2> "$dir/err" &
pid=$!; bg $pid
t "the subscriber is live (eviction)" wait_live t7 1
kill -STOP $pid
padded | "$IVSHMEM" topic pub "$D" t7 --timeout 10; rc=$?
t "pub past a stalled subscriber: exit 0" [ $rc -eq 0 ]
"$IVSHMEM" topic stat "$D" t7 --json > "$dir/json"
t "stat: 200 published, 1 eviction" grep -q '"published":200,.*"evictions":1,' "$dir/json"
"$IVSHMEM" topic stat "$D" t7 > "$dir/stat"
t "stat (text): evictions 1" grep -q '^evictions *1$' "$dir/stat"
kill -CONT $pid
reap $pid
t "the evicted subscriber: exit 1, one line" fails $rc 1 "$dir/err" "evicted"
t "... saying it fell behind and how to re-subscribe" grep -q "fell behind.*re-subscribes" "$dir/err"
t "its slot is free again" [ "$(live t7)" -eq 0 ]

# Latest mode: the publisher never waits; a subscriber takes the newest message.
t "create --mode latest" "$IVSHMEM" topic create "$D" l1 --mode latest --size 4K --max-message 64
"$IVSHMEM" topic stat "$D" l1 --json > "$dir/json"
t "stat --json: mode latest, 32 buffers, no stall timeout" grep -q '"name":"l1","mode":"latest","ring_size":4096,"max_msg":64,"subscribers":8,"stall_timeout_ms":0,"buffers":32,' "$dir/json"
"$IVSHMEM" topic stat "$D" l1 > "$dir/stat"
t "stat: mode latest, buffers 32" sh -c "grep -q '^mode *latest$' '$dir/stat' && grep -q '^buffers *32$' '$dir/stat'"
"$IVSHMEM" topic stat "$D" t1 --json > "$dir/json"
t "stat --json of a lossless topic: buffers 0" grep -q '"stall_timeout_ms":1000,"buffers":0,' "$dir/json"
printf 'a\nb\nc\n' | "$IVSHMEM" topic pub "$D" l1; rc=$?
t "latest: pub with no subscriber: exit 0" [ $rc -eq 0 ]
"$IVSHMEM" topic sub "$D" l1 --from oldest --count 1 --timeout 5 > "$dir/out" 2> "$dir/err"; rc=$?
t "latest: sub --from oldest: the newest line only" sh -c "[ $rc -eq 0 ] && [ \"\$(cat '$dir/out')\" = c ] && [ ! -s '$dir/err' ]"
"$IVSHMEM" topic sub "$D" l1 --timeout 0.3 > "$dir/out" 2> "$dir/err"; rc=$?
t "latest: sub at the tail does not get it: exit 2, one line" fails $rc 2 "$dir/err" "within the timeout"
t "latest: sub at the tail does not get it: no output" [ ! -s "$dir/out" ]

# At the tail: what is published after it joined.
"$IVSHMEM" topic sub "$D" l1 --count 1 --timeout 20 > "$dir/out" 2> "$dir/err" &
pid=$!; bg $pid
t "the latest subscriber is live" wait_live l1 1
"$IVSHMEM" topic stat "$D" l1 --json > "$dir/json"
t "stat --json: its slot, at the tail (head 3)" grep -q "\"slots\":\[{\"slot\":[0-9]*,\"state\":\"live\",\"id\":-\{0,1\}[0-9]*,\"pid\":$pid,\"epoch\":[0-9]*,\"head\":3,\"received\":0,\"lag\":0,\"sleeps\":[0-9]*,\"rings\":[0-9]*,\"skipped\":0}\]" "$dir/json"
echo d | "$IVSHMEM" topic pub "$D" l1
reap $pid
t "latest: sub --count 1 gets the line published after it joined" sh -c "[ $rc -eq 0 ] && [ \"\$(cat '$dir/out')\" = d ] && [ ! -s '$dir/err' ]"
t "its slot is free again (latest)" [ "$(live l1)" -eq 0 ]

# A subscriber that does not run meanwhile misses messages: it takes the newest and counts the rest
# as skipped; the publisher never waits for it, not even past its 32 buffers.  The publisher stays
# attached until $dir/go exists (a subscriber that has read everything of a publisher that left ends).
"$IVSHMEM" topic sub "$D" l1 --count 2 --timeout 20 > "$dir/out" 2> "$dir/err" &
pid=$!; bg $pid
t "the latest subscriber is live (skipping)" wait_live l1 1
kill -STOP $pid
{
	seq 1 40
	i=0; while [ -d "$dir" ] && [ ! -e "$dir/go" ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i + 1)); done # poll interval
	echo 41
} | "$IVSHMEM" topic pub "$D" l1 2> "$dir/perr" &
ppid=$!; bg $ppid
t "latest: pub of 40 past a stopped subscriber never waits" wait_json l1 '"published":44,'
"$IVSHMEM" topic stat "$D" l1 --json > "$dir/json"
t "stat --json: published 44; the stopped one at head 4 lags 40" grep -q '"published":44,.*"head":4,"received":0,"lag":40,.*"skipped":0}' "$dir/json"
kill -CONT $pid
t "it takes the newest: received 1, skipped 39, lag 0" wait_json l1 '"head":44,"received":1,"lag":0,.*"skipped":39}'
"$IVSHMEM" topic stat "$D" l1 > "$dir/stat"
t "stat (text): the slot's head, received, lag, skipped" grep -q '^ *[0-9]* live .* 44  *1  *0  *39$' "$dir/stat"
: > "$dir/go"
reap $ppid
t "latest: pub: exit 0" sh -c "[ $rc -eq 0 ] && [ ! -s '$dir/perr' ]"
reap $pid
printf '40\n41\n' > "$dir/want"
t "latest: it got 40 (the newest then) and 41: exit 0" sh -c "[ $rc -eq 0 ] && cmp -s '$dir/out' '$dir/want' && [ ! -s '$dir/err' ]"

# --read-only: a passive subscriber takes no slot and writes nothing; it polls.
sum0=$(cksum < "$R")
"$IVSHMEM" topic sub "$D" l1 --read-only --from oldest --count 1 --timeout 5 > "$dir/out" 2> "$dir/err"; rc=$?
t "latest: sub --read-only --from oldest: the newest line" sh -c "[ $rc -eq 0 ] && [ \"\$(cat '$dir/out')\" = 41 ] && [ ! -s '$dir/err' ]"
t "... and the region is byte for byte as before" [ "$(cksum < "$R")" = "$sum0" ]
"$IVSHMEM" topic sub "$D" l1 --read-only --from oldest --count 2 --timeout 20 > "$dir/out" 2> "$dir/err" &
pid=$!; bg $pid
t "the passive subscriber took the newest" wait_lines "$dir/out" 1
"$IVSHMEM" topic stat "$D" l1 --json > "$dir/json"
t "stat --json: it took no slot" grep -q '"published":45,.*"slots":\[\]}$' "$dir/json"
echo 42 | "$IVSHMEM" topic pub "$D" l1
reap $pid
printf '41\n42\n' > "$dir/want"
t "the passive subscriber gets the line published after (exit 0)" sh -c "[ $rc -eq 0 ] && cmp -s '$dir/out' '$dir/want' && [ ! -s '$dir/err' ]"
"$IVSHMEM" topic sub "$D" t1 --read-only --count 1 --timeout 5 2> "$dir/err"; rc=$?
t "sub --read-only of a lossless topic: exit 1, one line" fails $rc 1 "$dir/err" "is lossless.*drop --read-only"

# Every slot of a latest topic taken: --read-only still subscribes.
"$IVSHMEM" topic create "$D" l5 --mode latest --subscribers 1 --size 4K
"$IVSHMEM" topic sub "$D" l5 --count 1 --timeout 20 > "$dir/out" &
pid=$!; bg $pid
t "the only latest subscriber is live" wait_live l5 1
"$IVSHMEM" topic sub "$D" l5 --count 1 --timeout 5 2> "$dir/err"; rc=$?
t "latest, no free slot: exit 1, one line suggesting --read-only" fails $rc 1 "$dir/err" "all 1 subscriber slot.*--read-only"
echo z | "$IVSHMEM" topic pub "$D" l5
reap $pid
"$IVSHMEM" topic sub "$D" l5 --read-only --from oldest --count 1 --timeout 5 > "$dir/out2" 2> "$dir/err"; rc2=$?
t "the slot holder and a --read-only subscriber both get it" sh -c "[ $rc -eq 0 ] && [ \"\$(cat '$dir/out')\" = z ] && [ $rc2 -eq 0 ] && [ \"\$(cat '$dir/out2')\" = z ]"
echo "1..$n"
exit $fail
