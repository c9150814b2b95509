#!/bin/sh
# Long fuzzing runs with libFuzzer (make check runs every target for a few
# seconds with tests/fuzz/driver.c instead).
#   scripts/fuzz.sh TARGET [SECONDS]    TARGET: parse, server-proto, chan, topic, daemon-proto
set -eu
cd "$(dirname "$0")/.."
target=${1:?usage: scripts/fuzz.sh parse|server-proto|chan|topic|daemon-proto [SECONDS]}
secs=${2:-600}
case $target in
parse) src=tests/unit/fuzz-parse.c ;;
server-proto) src=tests/server/fuzz-server-proto.c ;;
chan) src=tests/chan/fuzz-chan.c ;;
topic) src=tests/topic/fuzz-topic.c ;;
daemon-proto) src=tests/daemon/fuzz-daemon-proto.c ;;
*) echo "fuzz.sh: unknown target '$target': use parse, server-proto, chan, topic or daemon-proto" >&2; exit 1 ;;
esac
command -v clang >/dev/null || { echo "fuzz.sh: needs clang and libclang-rt-14-dev (apt-get install clang libclang-rt-14-dev)" >&2; exit 1; }
out=build-fuzz
mkdir -p "$out/corpus-$target"
clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -DIVSHMEM_VERSION='"fuzz"' \
	-Iinclude -Isrc/lib -Itests "$src" src/lib/*/*.c -lpthread -o "$out/fuzz-$target"
exec "$out/fuzz-$target" -max_total_time="$secs" "$out/corpus-$target"
