#!/bin/sh
# make demo, part 2: an ivshmem server and two host peers ring each other.
set -eu
B=$1 D=$2
IV=$B/src/cli/ivshmem
S=$D/sock
NAME=ivshmem-demo-$$
"$IV" server -F -S "$S" -M "$NAME" -l 1M -n 2 2>"$D/server.log" &
SRV=$!
trap 'kill $SRV 2>/dev/null; wait $SRV 2>/dev/null || true' EXIT
i=0; while [ ! -S "$S" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
echo "  ivshmem server -F -S $S -M $NAME -l 1M -n 2   (pid $SRV)"
"$IV" wait "server:$S" 1 --timeout 10 >"$D/wait.out" &
W=$!
i=0; while ! "$IV" peers "server:$S" 2>/dev/null | grep -q "^peer [0-9]"; do
	sleep 0.05; i=$((i + 1)); [ $i -gt 100 ] && break
done
"$IV" peers "server:$S" | sed 's/^/  ivshmem peers: /'
WID=$("$IV" peers "server:$S" --json | sed -n 's/.*"peers":\[{"id":\([0-9]*\).*/\1/p')
echo "  ivshmem ring server:$S $WID 1"
"$IV" ring "server:$S" "$WID" 1
wait $W && sed 's/^/  waiting peer: /' "$D/wait.out"
"$B/examples/ivshmem-example-pingpong" "server:$S" 2000
kill $SRV; wait $SRV 2>/dev/null || true
trap - EXIT
echo "  server log:"; sed 's/^/    /' "$D/server.log" | head -12
