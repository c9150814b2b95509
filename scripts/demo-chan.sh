#!/bin/sh
# make demo, part 3: a channel between two host processes, and its figures.
set -eu
B=$1 D=$2
IV=$B/src/cli/ivshmem
R=$D/chan-region
truncate -s 4M "$R"
echo "  ivshmem chan create file:$R demo --size 64K --max-message 1K"
"$IV" chan create "file:$R" demo --size 64K --max-message 1K
"$IV" chan recv "file:$R" demo --count 3 --timeout 10 >"$D/recv.out" &
RECV=$!
printf 'first message\nsecond message\nthird message\n' | "$IV" chan send "file:$R" demo
wait $RECV
sed 's/^/  received: /' "$D/recv.out"
"$IV" chan stat "file:$R" demo | sed 's/^/  /'
echo "  ivshmem bench chan --seconds 0.3 --runs 1   (host processes; see README for a full run)"
"$IV" bench chan --seconds 0.3 --runs 1 | sed 's/^/  /'
