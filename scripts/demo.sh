#!/bin/sh
# make demo: the main job on one host, no VM, no root.
set -eu
B=${1:-build}
IV=$B/src/cli/ivshmem
D=$(mktemp -d /dev/shm/ivshmem-demo.XXXXXX 2>/dev/null || mktemp -d)
cleanup() { rm -rf "$D"; }
trap cleanup EXIT INT TERM

echo "== 1. Two processes share a region through the file: endpoint"
truncate -s 1M "$D/region"
"$B/examples/ivshmem-example-share" "file:$D/region"
printf 'written by the CLI' | "$IV" write "file:$D/region" --offset 4096
printf '  ivshmem read --offset 4096 --length 18: '
"$IV" read "file:$D/region" --offset 4096 --length 18
echo
"$IV" info "file:$D/region" | sed 's/^/  /'

if [ -x scripts/demo-doorbell.sh ]; then
	echo
	echo "== 2. An ivshmem server and two host peers ring each other"
	scripts/demo-doorbell.sh "$B" "$D"
fi
if [ -x scripts/demo-chan.sh ]; then
	echo
	echo "== 3. A channel between two host processes"
	scripts/demo-chan.sh "$B" "$D"
fi
if [ -x scripts/demo-topic.sh ]; then
	echo
	echo "== 4. A topic: one publisher, three subscribers, one killed and one stalled"
	scripts/demo-topic.sh "$B" "$D"
fi
