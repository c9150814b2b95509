#!/bin/sh
# shellcheck disable=SC2086 # the benchmarks' arguments are split on purpose
# Smoke tests of `ivshmem bench`: tiny runs, structure only (exit status,
# lines, JSON fields), never timings.  As root, also fork failing at each of
# the benchmark's forks: one stderr line, exit 1, nothing left behind, and no
# other process of the user killed.
set -u
IVSHMEM=${IVSHMEM:?path to the ivshmem binary}
IVS_FAILFORK=${IVS_FAILFORK:?path to failfork.so}
PY=/usr/bin/python3
T=$(mktemp -d /tmp/ivshmem-bench-test.XXXXXX)
BIN_DIR=""
sentinel=""
cleanup() {
	[ -n "$sentinel" ] && kill "$sentinel" 2>/dev/null
	rm -rf "$T"
	[ -n "$BIN_DIR" ] && rm -rf "$BIN_DIR"
}
trap cleanup EXIT
n=0; failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; [ -n "${2:-}" ] && echo "#   $2"; }
check() { # name, condition...
	name=$1; shift
	if "$@"; then ok "$name"; else nok "$name" "rc=$rc err=$(head -c 500 "$T/err")"; fi
}
# run CMD...: rc, $T/out, $T/err; every run is bounded
run() { timeout 60 "$@" >"$T/out" 2>"$T/err" </dev/null; rc=$?; }
has() { grep -qF -- "$1" "$T/out"; }
json() { # python expression on d, the parsed stdout
	"$PY" -c "import json,sys; d=json.load(sys.stdin); sys.exit(0 if ($1) else 1)" <"$T/out"
}

# The three benchmarks, briefly.  Short names for the fork-failure runs.
DOORBELL="doorbell --iterations 10 --repetitions 1"
DAEMON="daemon --iterations 10 --repetitions 1"
CHAN="chan --seconds 0.05 --runs 1 --no-pin"
TOPIC="topic --seconds 0.02 --runs 1"

run "$IVSHMEM" bench $DOORBELL
check "doorbell: exit 0, no stderr" test "$rc" -eq 0 -a ! -s "$T/err"
check "doorbell: text names the three methods and the ratios" sh -c "
	grep -q '^round trip between two processes, 1 x 10 iterations' '$T/out' &&
	grep -q 'doorbell (server peers) .* us .* us' '$T/out' && grep -q 'raw eventfd .* us' '$T/out' &&
	grep -q 'unix socketpair (8 B) .* us' '$T/out' && grep -q 'doorbell / eventfd: .*x' '$T/out'"
run "$IVSHMEM" bench $DOORBELL --json
check "doorbell --json: exit 0, parses, has every field" json "d['benchmark'] == 'doorbell' and
	d['iterations'] == 10 and d['repetitions'] == 1 and
	all(set(d[k]) == {'median_ns', 'p99_ns'} for k in ('doorbell', 'eventfd', 'unix')) and
	'ratio_doorbell_eventfd' in d and 'ratio_doorbell_unix' in d"

run "$IVSHMEM" bench $DAEMON
if [ "$rc" -ne 0 ] && [ "$(id -u)" -ne 0 ] && grep -q "needs root" "$T/err"; then
	ok "daemon: text # SKIP needs root here ($(cat "$T/err"))"
	ok "daemon --json # SKIP needs root here"
else
	check "daemon: exit 0, no stderr" test "$rc" -eq 0 -a ! -s "$T/err"
	check "daemon: text names both paths and the ratio" sh -c "
		grep -q '^doorbell round trip between two processes, 1 x 10 iterations' '$T/out' &&
		grep -q 'direct (server peers A <-> B) .* us' '$T/out' &&
		grep -q 'through the daemon (client -> D <-> B) .* us' '$T/out' &&
		grep -q 'daemon fast path (client <-> B, D aside) .* us' '$T/out' &&
		grep -q 'daemon / direct: .*x median' '$T/out' &&
		grep -q 'fast path / direct: .*x median.*(target <= 1.2x median: \(met\|not met\))' '$T/out'"
	run "$IVSHMEM" bench $DAEMON --json
	check "daemon --json: exit 0, parses, has every field" json "d['benchmark'] == 'daemon' and
		all(set(d[k]) == {'median_ns', 'p99_ns'} for k in ('direct', 'daemon', 'fast')) and
		all(k in d for k in ('ratio_median', 'ratio_p99', 'ratio_fast_median', 'ratio_fast_p99'))"
fi

run "$IVSHMEM" bench $CHAN
check "chan: exit 0, no stderr" test "$rc" -eq 0 -a ! -s "$T/err"
check "chan: text has every section, floors first" sh -c "
	grep -q '^ivshmem bench chan: file endpoint, two processes, 1 runs' '$T/out' &&
	grep -q '^not pinned (--no-pin' '$T/out' &&
	grep -q '^  run 1: \\(near\\|far\\) ([0-9]* ns) at the start, \\(near\\|far\\) ([0-9]* ns) at the end, \\(stable\\|CHANGED\\)' '$T/out' &&
	grep -q '^floors (same processes, CPUs, memory, time)  *near  *far  *n$' '$T/out' &&
	grep -q '^  64 B msgs/s: ring, 72 B slots, consumer 16 pauses ' '$T/out' &&
	grep -q '^  round trip p50/p99 ns: one cache line ' '$T/out' &&
	grep -q '^channel  *near  */floor  *far  */floor  *n$' '$T/out' &&
	grep -q '^  64 B msgs/s, recv timeout 0 (polling) ' '$T/out' &&
	grep -q '^  64 KiB B/s, zero copy (read in place) ' '$T/out' &&
	grep -q '^64 KiB channel by ring size, B/s' '$T/out' &&
	[ \$(sed -n '/^64 KiB channel by ring size/,/^  best copy/p' '$T/out' | grep -c '^  [0-9]* [KM]iB') -eq 6 ] &&
	[ \$(grep -c '^  1 MiB (default) ' '$T/out') -eq 1 ] &&
	grep -q '^  best zero copy: \(- near\|[0-9]* [KM]iB near (\(-\|[0-9.]*x\) the default)\); \(- far\|[0-9]* [KM]iB far (\(-\|[0-9.]*x\) the default)\)$' '$T/out' &&
	grep -q '^  best copy: \(- near\|[0-9]* [KM]iB near (\(-\|[0-9.]*x\) the default)\); ' '$T/out' &&
	grep -q '^alternatives  *near  *chan/x' '$T/out' && grep -q '^  eventfd ping-pong ' '$T/out' &&
	grep -q '^wakeups per message at saturation' '$T/out' &&
	grep -q '^targets (ratios of the medians of one mode)' '$T/out' &&
	[ \$(sed -n '/^targets/,\$p' '$T/out' | grep -c ' \\(met\\|NOT met\\|not measured\\)') -eq 8 ] &&
	[ \$(grep -n '^floors' '$T/out' | cut -d: -f1) -lt \$(grep -n '^channel ' '$T/out' | cut -d: -f1) ] &&
	[ \$(grep -n '^channel ' '$T/out' | cut -d: -f1) -lt \$(grep -n '^64 KiB channel by ring' '$T/out' | cut -d: -f1) ] &&
	[ \$(grep -n '^64 KiB channel by ring' '$T/out' | cut -d: -f1) -lt \$(grep -n '^alternatives' '$T/out' | cut -d: -f1) ] &&
	[ \$(grep -n '^alternatives' '$T/out' | cut -d: -f1) -lt \$(grep -n '^targets' '$T/out' | cut -d: -f1) ]"
run "$IVSHMEM" bench $CHAN --json
# Every measure, floors included, with its mode in the one run; the ratios
# and targets; the 64 KiB channel at six ring sizes (the library's default,
# 1 MiB, among them), zero copy and copying; the machine mode probed before
# the first measure and after each of the 21 and the 12 of the ring sizes.
CHAN_MEASURES="{'floor_ring_64b', 'chan_64b', 'chan_64b_batch', 'chan_64b_zerocopy_batch', 'floor_ring_64b_poll', 'chan_64b_poll', 'unix_64b', 'pipe_64b',
	'floor_ring_64k', 'chan_64k_zerocopy', 'chan_64k_copy', 'unix_64k', 'pipe_64k', 'memcpy_resident',
	'memcpy_256m', 'floor_rt_line', 'floor_rt_rings', 'chan_rt_poll', 'chan_rt_futex', 'chan_rt_doorbell',
	'eventfd_rt'}"
CHAN_TARGETS="{'chan_64b_vs_floor', 'chan_64b_poll_vs_floor', 'rt_poll_vs_line', 'zerocopy_64k_vs_floor',
	'zerocopy_64k_vs_unix', 'copy_64k_vs_zerocopy', 'chan_64b_vs_unix'}"
check "chan --json: exit 0, parses, has every measure, ratio and target" json "d['benchmark'] == 'chan' and
	d['endpoint'] == 'file' and d['runs'] == 1 and d['floor_memory'].startswith('the region') and
	set(d['measures']) == $CHAN_MEASURES and
	all(set(m) == {'unit', 'near', 'far', 'all', 'per_run'} and len(m['per_run']) == 1 and
	    m['all']['median'] > 0 and m['all']['runs'] == 1 and
	    m['per_run'][0]['mode'] in ('near', 'far', 'changed') and m['per_run'][0]['mode_before_ns'] > 0 and
	    (m['per_run'][0]['mode'] == 'changed') == m['per_run'][0]['flagged'] and
	    (m['near'] is None) == (m['per_run'][0]['mode'] != 'near') for m in d['measures'].values()) and
	all(d['measures'][k]['all']['p99'] >= d['measures'][k]['all']['median'] for k in d['measures']
	    if d['measures'][k]['unit'] == 'ns') and
	'wakeups_per_msg' in d['measures']['chan_64b_poll']['all'] and
	'sleeps_per_round_trip' in d['measures']['chan_rt_futex']['all'] and
	set(d['targets']) == $CHAN_TARGETS and set(d['targets']) < set(d['ratios']) and
	all(isinstance(t['met'], bool) and t['limit'] > 0 and t['from'] in ('modes', 'all runs, modes mixed')
	    for t in d['targets'].values()) and
	all((d['targets'][k]['floor_beaten'] is None) == (k in ('zerocopy_64k_vs_unix', 'copy_64k_vs_zerocopy', 'chan_64b_vs_unix'))
	    for k in d['targets']) and
	all(r['all'] > 0 for r in d['ratios'].values()) and
	isinstance(d['wakeups']['met'], bool) and d['wakeups']['limit'] == 0.001 and
	len(d['run_modes']) == 1 and len(d['run_modes'][0]['probes_ns']) == 34 and
	d['ring_64k'] == 1048576 and d['ring_sweep']['main_ring'] == 1048576 and d['ring_sweep']['main_is_library_default'] and
	[r['ring'] for r in d['ring_sweep']['rings']] == [256 << 10, 512 << 10, 1 << 20, 2 << 20, 4 << 20, 8 << 20] and
	[r['main'] for r in d['ring_sweep']['rings']] == [False, False, True, False, False, False] and
	all(set(r[w]) == {'near', 'far', 'all', 'per_run'} and r[w]['all']['median'] > 0 and len(r[w]['per_run']) == 1 and
	    r[w]['per_run'][0]['mode'] in ('near', 'far', 'changed') and r[w]['per_run'][0]['mode_before_ns'] > 0 and
	    (r[w]['per_run'][0]['mode'] == 'changed') == r[w]['per_run'][0]['flagged'] and
	    (r[w]['near'] is None) == (r[w]['per_run'][0]['mode'] != 'near')
	    for r in d['ring_sweep']['rings'] for w in ('zerocopy', 'copy')) and
	all(d['ring_sweep']['best'][w]['all']['vs_main'] >= 1 and
	    d['ring_sweep']['best'][w]['all']['ring'] in [r['ring'] for r in d['ring_sweep']['rings']] for w in ('zerocopy', 'copy')) and
	{d['run_modes'][0]['first'], d['run_modes'][0]['last']} <= {'near', 'far'} and
	set(d['modes_seen']) <= {'near', 'far'} and d['mode_probe']['near_below_ns'] == 250"

run "$IVSHMEM" bench $TOPIC
check "topic: exit 0, no stderr" test "$rc" -eq 0 -a ! -s "$T/err"
check "topic: text has every section" sh -c "
	grep -q '^ivshmem bench topic: file endpoint, 1 publisher and N subscriber processes, 1 runs' '$T/out' &&
	grep -q '^64 B messages: delivered msgs/s' '$T/out' && grep -q '^64 KiB messages: delivered B/s' '$T/out' &&
	grep -q '^  8 .*x .*x ' '$T/out' && grep -q '^targets at N = 4' '$T/out' &&
	grep -q 'topic >= 5x the UNIX-socket fan-out' '$T/out' &&
	grep -q '^Latest mode: the publisher never waits' '$T/out' &&
	grep -q '^machine mode: \(near\|far\) before ([0-9]* ns cache-line round trip), \(near\|far\) after' '$T/out' &&
	grep -q '^64 B latest: msgs/s' '$T/out' && grep -q '^4 KiB latest: age of what a subscriber reads' '$T/out'"
run "$IVSHMEM" bench $TOPIC --json
check "topic --json: exit 0, parses, has every size and N" json "d['benchmark'] == 'topic' and d['runs'] == 1 and
	set(d['sizes']) == {'64', '65536'} and all(set(d['sizes'][z]) == {'1', '2', '4', '8'} for z in d['sizes']) and
	all(k in d['sizes']['64']['4'] for k in ('topic_msgs_s', 'chan_msgs_s', 'sock_msgs_s',
	'wakeups_per_msg_sub', 'ratio_topic_chan', 'ratio_topic_sock'))"
# Latest mode: every size and N, topic and floor; publishers published,
# every subscriber took messages, none bad; the machine mode around it.
check "topic --json: latest mode present and plausible" json "(lambda L: L['runs'] == 1 and
	L['pingpong_ns_before'] > 0 and L['pingpong_ns_after'] > 0 and
	{L['mode_before'], L['mode_after']} <= {'near', 'far'} and isinstance(L['mode_changed'], bool) and
	set(L['sizes']) == {'64', '4096'} and all(set(L['sizes'][z]) == {'1', '2', '4', '8'} for z in L['sizes']) and
	all(x[m]['publish_msgs_s'] > 0 and len(x[m]['subscribers']) == int(n) and
	    all(s['taken_msgs_s'] > 0 and s['bad'] == 0 and 0 <= s['skipped_frac'] < 1 and
	        0 < s['age_p50_ns'] <= s['age_p99_ns'] for s in x[m]['subscribers']) and
	    0 < x[m]['age_p50_ns'] <= x[m]['age_p99_ns'] and x[m]['bad'] == 0
	    for z in L['sizes'] for n, x in L['sizes'][z].items() for m in ('topic', 'floor')) and
	all(x['ratio_publish'] > 0 and x['ratio_age_p50'] > 0 for z in L['sizes'] for x in L['sizes'][z].values()))(d['latest'])"

run "$IVSHMEM" bench mode
check "mode: exit 0, one line with the round trip and the mode" sh -c "[ $rc -eq 0 ] && [ ! -s '$T/err' ] &&
	[ \$(wc -l <'$T/out') -eq 1 ] && grep -Eq '^cache-line ping-pong round trip: [0-9]+ ns: (near|far)\$' '$T/out'"
run "$IVSHMEM" bench mode --json
check "mode --json: exit 0, parses, round trip and mode agree" json "d['benchmark'] == 'mode' and
	d['pingpong_ns'] > 0 and d['mode'] == ('near' if d['pingpong_ns'] < 250 else 'far')"
run "$IVSHMEM" bench mode --seconds 1
check "mode: an option it does not take is a usage error" sh -c "[ $rc -eq 1 ] && grep -q 'seconds' '$T/err'"

run "$IVSHMEM" bench nope
check "unknown benchmark: exit 1, names the choices" sh -c "[ $rc -eq 1 ] && grep -q 'doorbell, chan, topic, daemon or mode' '$T/err'"

# ---- fork failing -----------------------------------------------------------
# The benchmark runs as a user of its own whose process limit (RLIMIT_NPROC,
# counted per real user) is its current process count plus k: its k-th fork
# fails.  Forks that follow others with the same process count are made to
# fail by failfork.so instead.  A sentinel process of that user must survive
# the run: a kill(-1) would have taken it (run as root, it takes every
# process on the machine: hence the user of its own).
TU=ivs-bench
AS_USER="setpriv --reuid $TU --regid $TU --clear-groups"
skip_fork() { # reason
	for b in doorbell daemon chan topic mode; do ok "$b: fork failing # SKIP $1"; done
}
setup_failed() { # reason: the set-up of a round that should run failed
	for b in doorbell daemon chan topic mode; do nok "$b: fork failing: set-up" "$1"; done
}
fork_setup() { # 0, or 1 after skip_fork or setup_failed
	if [ "$(id -u)" -ne 0 ]; then skip_fork "needs root"; return 1; fi
	for p in setpriv prlimit flock ps useradd; do
		command -v $p >/dev/null || { skip_fork "needs $p"; return 1; }
	done
	if ! id -u "$TU" >/dev/null 2>&1 && ! useradd -M -s /bin/sh "$TU" >"$T/err" 2>&1; then
		setup_failed "cannot create the user $TU: $(cat "$T/err")"; return 1
	fi
	# One instance at a time (e.g. the build and build-asan suites at once):
	# the user's process count is shared.
	exec 9>/tmp/ivshmem-bench-test.lock
	if ! flock -w 200 9; then setup_failed "another instance held /tmp/ivshmem-bench-test.lock for 200 s"; return 1; fi
	if [ -n "$(ps -L -o lwp= -U "$TU")" ]; then
		nok "the user $TU has no processes" "$(ps -L -o pid,lwp,args -U "$TU")"
		skip_fork "$TU has processes"; return 1
	fi
	# Leftovers of an earlier failed run would fail every check below.
	find /tmp /dev/shm -maxdepth 1 -user "$TU" -name 'ivshmem*' -exec rm -rf {} + 2>/dev/null
	# The binary and the shim must be reachable by the user; the build
	# tree may not be.
	BIN=$IVSHMEM SHIM=$IVS_FAILFORK
	if ! $AS_USER test -x "$BIN" -a -r "$SHIM"; then
		if ! { BIN_DIR=$(mktemp -d /tmp/ivshmem-bench-bin.XXXXXX) && chmod 755 "$BIN_DIR" &&
			cp "$IVSHMEM" "$BIN_DIR/ivshmem" && cp "$IVS_FAILFORK" "$BIN_DIR/failfork.so" &&
			chmod 755 "$BIN_DIR/ivshmem" "$BIN_DIR/failfork.so"; }; then
			setup_failed "cannot copy the binary where $TU can run it"; return 1
		fi
		BIN=$BIN_DIR/ivshmem SHIM=$BIN_DIR/failfork.so
	fi
	# Does the limit stop fork here (no CAP_SYS_RESOURCE or CAP_SYS_ADMIN)?
	out=$(timeout 10 $AS_USER prlimit --nproc=1 -- sh -c 'true & wait; echo forked' 2>/dev/null)
	if [ "$out" = forked ]; then skip_fork "RLIMIT_NPROC does not stop fork for $TU here"; return 1; fi
	return 0
}
# The sentinel: a process of the user; it reports once it runs as the user.
start_sentinel() {
	rm -f "$T/ready" && mkfifo "$T/ready" || return 1
	$AS_USER sh -c 'echo up >&3; exec sleep 300 3>&-' 3>"$T/ready" &
	sentinel=$!
	[ "$(timeout 10 head -n 1 "$T/ready")" = up ]
}
sentinel_alive() {
	st=$(sed -n 's/^State:[[:space:]]*\(.\).*/\1/p' "/proc/$sentinel/status" 2>/dev/null)
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}
stop_sentinel() {
	kill -9 "$sentinel" 2>/dev/null
	wait "$sentinel" 2>/dev/null # it is dead: returns at once
	sentinel=""
}
# What the user has left (after the sentinel): processes, files in /tmp
# and /dev/shm.
leftovers() {
	ps -L -o pid=,args= -U "$TU"
	find /tmp /dev/shm -maxdepth 1 -user "$TU"
}
fork_fails() { # name, k (RLIMIT_NPROC) or @k (failfork.so), bench args...
	name=$1; k=$2; shift 2
	if ! start_sentinel; then
		nok "$name: fork $k fails" "the sentinel did not start"; stop_sentinel; return
	fi
	asan=${ASAN_OPTIONS:-}
	case $k in
	@*)	# ASan wants to come first in the libraries; the shim is first.
		asan=${asan:+$asan:}verify_asan_link_order=0
		run env ASAN_OPTIONS="$asan" $AS_USER \
			env LD_PRELOAD="$SHIM" IVS_FAILFORK_AT="${k#@}" "$BIN" bench "$@" ;;
	*)	# LeakSanitizer's exit-time tracer is one more task: no room
		# for it when the very first fork fails.
		[ "$k" -eq 1 ] && asan=${asan:+$asan:}detect_leaks=0
		# the sentinel, this process, and k - 1 children
		run env ASAN_OPTIONS="$asan" $AS_USER prlimit --nproc=$((k + 1)) -- "$BIN" bench "$@" ;;
	esac
	alive=no; sentinel_alive && alive=yes
	stop_sentinel
	left=$(leftovers)
	why="rc=$rc sentinel alive: $alive err=$(head -c 500 "$T/err") left: $left"
	if [ "$rc" -eq 1 ] && [ "$(wc -l <"$T/err")" -eq 1 ] && grep -q "^ivshmem: bench .*fork: " "$T/err" &&
		[ $alive = yes ] && [ -z "$left" ]; then
		ok "$name: fork $k fails: exit 1, one line ($(cat "$T/err")), sentinel alive, nothing left"
	else
		nok "$name: fork $k fails: exit 1, one line, sentinel alive, nothing left" "$why"
	fi
}
if fork_setup; then
	fork_fails doorbell 1 $DOORBELL	 # the server
	fork_fails doorbell 2 $DOORBELL	 # the echo peer
	fork_fails doorbell @3 $DOORBELL # the eventfd ping-pong's child
	fork_fails daemon 1 $DAEMON	 # the server
	fork_fails daemon 2 $DAEMON	 # the relaying daemon
	fork_fails daemon 3 $DAEMON	 # the fast-path daemon
	fork_fails daemon 4 $DAEMON	 # the echo peer
	fork_fails chan 1 $CHAN		 # the server
	fork_fails chan 2 $CHAN		 # the first mode probe (a cache-line ping-pong)
	# After the server, the probe before the first measure and after each
	# (odd forks from 3 on: the measures' children; even: the probes).
	fork_fails chan @3 $CHAN	 # the raw 64 B ring's producer
	fork_fails chan @4 $CHAN	 # the probe after it
	fork_fails chan @5 $CHAN	 # the channel's first producer
	fork_fails chan @7 $CHAN	 # the channel's producer of batches
	fork_fails chan @9 $CHAN	 # the channel's producer of zero-copy batches
	fork_fails chan @11 $CHAN	 # the raw 64 B ring's producer, consumer polling
	fork_fails chan @13 $CHAN	 # the channel's producer, consumer polling (timeout 0)
	fork_fails chan @19 $CHAN	 # the raw 64 KiB ring's producer
	# forks 29 and 30: the probes after the two memcpy measures (no child)
	fork_fails chan @30 $CHAN	 # the probe after the second memcpy
	fork_fails chan @31 $CHAN	 # the raw cache-line round trip's child
	fork_fails chan @33 $CHAN	 # the raw rings' echo
	fork_fails chan @35 $CHAN	 # polling round trip (kill(-1) when unchecked)
	fork_fails chan @39 $CHAN	 # doorbells, between server peers
	fork_fails chan @41 $CHAN	 # eventfd (a hang when unchecked)
	fork_fails chan @42 $CHAN	 # the probe after eventfd
	fork_fails chan @43 $CHAN	 # the 64 KiB channel's producer, the first ring size
	fork_fails chan @55 $CHAN	 # the fourth ring size's (2 MiB, after the default), zero copy
	fork_fails chan @66 $CHAN	 # the last probe, after everything
	fork_fails topic 1 $TOPIC	 # the first subscriber
	fork_fails topic @3 $TOPIC	 # the socket fan-out's subscriber (socket pairs open)
	fork_fails topic @5 $TOPIC	 # the second of two topic subscribers (one running)
	# Latest mode, after the lossless part's 90 forks (2 sizes x 15
	# subscribers x 3 methods): the ping-pong, then per size and N a topic's
	# subscribers and the seqlock's readers (2 sizes x 15 x 2), the ping-pong.
	fork_fails topic @91 $TOPIC	 # the ping-pong's child, before
	fork_fails topic @92 $TOPIC	 # the first latest-mode subscriber
	fork_fails topic @95 $TOPIC	 # the second of two latest-mode subscribers (one running)
	fork_fails topic @97 $TOPIC	 # the second of two seqlock readers (one running)
	fork_fails topic @152 $TOPIC	 # the ping-pong's child, after
	fork_fails mode 1 mode		 # the ping-pong's child
	# With room for every child: success, and nothing left behind either.
	for b in "$DOORBELL" "$DAEMON" "$CHAN" "$TOPIC" mode; do
		run $AS_USER "$BIN" bench $b
		left=$(leftovers)
		if [ "$rc" -eq 0 ] && [ ! -s "$T/err" ] && [ -z "$left" ]; then
			ok "${b%% *} as $TU: exit 0, no stderr, nothing left behind"
		else
			nok "${b%% *} as $TU: exit 0, no stderr, nothing left behind" \
				"rc=$rc err=$(head -c 500 "$T/err") left: $left"
		fi
	done
fi

echo "1..$n"
[ "$failed" -eq 0 ]
