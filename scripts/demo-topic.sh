#!/bin/sh
# make demo, part 4: a topic with one publisher and three subscribers; one
# subscriber is killed, one is stopped, and the third still gets everything.
# Then a latest topic: its publisher never waits, and a read-only
# subscriber takes the newest value.
set -eu
B=$1 D=$2
IV=$B/src/cli/ivshmem
R=$D/topic-region
N=2000
truncate -s 4M "$R"
echo "  ivshmem topic create file:$R news --subscribers 4 --size 16K --max-message 256 --stall-timeout 300"
"$IV" topic create "file:$R" news --subscribers 4 --size 16K --max-message 256 --stall-timeout 300
"$IV" topic sub "file:$R" news --count $N --timeout 30 >"$D/a.out" 2>"$D/a.err" &
A=$!
"$IV" topic sub "file:$R" news --timeout 30 >/dev/null 2>"$D/b.err" &
KILLED=$!
"$IV" topic sub "file:$R" news --timeout 30 >/dev/null 2>"$D/c.err" &
STALLED=$!
# Until the three have joined (the state is visible in stat).
i=0
until [ "$("$IV" topic stat "file:$R" news --json | grep -o '"state":"live"' | wc -l)" -ge 3 ]; do
	i=$((i + 1))
	if [ $i -gt 300 ]; then echo "demo: the subscribers did not join" >&2; kill $A $KILLED $STALLED; exit 1; fi
	sleep 0.05
done
echo "  three subscribers joined; one is killed (SIGKILL), one is stopped (SIGSTOP)"
kill -KILL $KILLED
kill -STOP $STALLED
echo "  publishing $N lines (more than the 16 KiB ring holds) ..."
seq 1 $N | sed 's/^/message /' | "$IV" topic pub "file:$R" news --timeout 10
wait $A
echo "  the live subscriber got $(wc -l <"$D/a.out") of $N lines, in order: $(seq 1 $N | sed 's/^/message /' | cmp -s - "$D/a.out" && echo yes || echo NO)"
kill -CONT $STALLED
rc=0
wait $STALLED || rc=$?
wait $KILLED 2>/dev/null || true
echo "  the stopped one, after SIGCONT: exit $rc: $(cat "$D/c.err")"
"$IV" topic stat "file:$R" news | grep -E "^(published|evictions)" | sed 's/^/  /'
echo "  ivshmem topic create file:$R pose --mode latest --size 4K --max-message 64"
"$IV" topic create "file:$R" pose --mode latest --size 4K --max-message 64
echo "  seq 100000 | ivshmem topic pub ... pose     (nobody reads: a latest publisher never waits)"
seq 1 100000 | sed 's/^/pose /' | "$IV" topic pub "file:$R" pose --timeout 10
echo "  ivshmem topic sub file:$R pose --read-only --from oldest --count 1   (writes nothing)"
"$IV" topic sub "file:$R" pose --read-only --from oldest --count 1 --timeout 5 | sed 's/^/  -> /'
echo "  ivshmem bench topic --seconds 0.1 --runs 1   (host processes; see README for a full run)"
"$IV" bench topic --seconds 0.1 --runs 1 | sed 's/^/  /'
