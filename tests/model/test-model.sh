#!/bin/sh
# The wakeup protocol's model (wakeup.pml), checked by spin in every
# configuration the library uses, and its mutations, each of which must
# be caught: a model that cannot fail proves nothing.  TAP.
#   usage: test-model.sh MODEL
set -u
model=$1
n=0
fails=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; }
for tool in spin cc; do
	if ! command -v $tool >/dev/null 2>&1; then
		echo "1..1"
		echo "not ok 1 - $tool is not installed (apt-get install spin gcc, or run make check as root)"
		exit 1
	fi
done
T=$(mktemp -d /tmp/ivshmem-model.XXXXXX) || exit 1
trap 'rm -rf "$T"' EXIT
cp "$model" "$T/wakeup.pml" || exit 1
cd "$T" || exit 1

# run WANT NAME PAN-FLAGS CC-FLAGS -- SPIN-DEFINES...
# WANT: clean (no error in the whole state space) or caught (an invalid
# end state: both sides asleep for ever, i.e. a lost wakeup).
run() {
	want=$1 name=$2 panflags=$3 ccflags=$4
	shift 5
	rm -f pan pan.* wakeup.pml.trail
	if ! spin -a "$@" wakeup.pml >spin.log 2>&1; then
		nok "$name: spin -a failed: $(head -1 spin.log)"
		return
	fi
	# shellcheck disable=SC2086
	if ! cc -O2 -w $ccflags -o pan pan.c 2>cc.log; then
		nok "$name: compiling the verifier failed: $(head -1 cc.log)"
		return
	fi
	# shellcheck disable=SC2086
	./pan -m200000 $panflags >pan.log 2>&1
	states=$(sed -n 's/^ *\([0-9.e+]*\) states, stored.*/\1/p' pan.log | head -1)
	errors=$(sed -n 's/.*errors: \([0-9]*\)$/\1/p' pan.log | head -1)
	if grep -q "max search depth too small" pan.log; then
		nok "$name: search depth exceeded (incomplete)"
	elif [ "$want" = clean ] && [ "$errors" = 0 ]; then
		ok "$name ($states states)"
	elif [ "$want" = caught ] && [ "${errors:-0}" -gt 0 ] && grep -q "invalid end state" pan.log; then
		ok "$name: caught, a lost wakeup after $(sed -n 's/.*invalid end state (at depth \([0-9]*\)).*/\1/p' pan.log) steps"
	else
		nok "$name: expected $want, spin said: $(grep -m1 -E 'pan:|errors:' pan.log)"
		sed 's/^/# /' pan.log | head -20
	fi
}

echo "1..11"
S="-DSAFETY -DCOLLAPSE"
run clean "fences on both sides (peers in other VMs), futex: no interleaving loses a wakeup or a message" "" "$S" -- -DMB=0
run clean "fences on both sides, doorbell" "" "$S" -- -DMB=0 -DDOORBELL
run clean "membarrier instead of the publisher's fence (same host), futex" "" "$S" -- -DMB=1
run clean "membarrier, doorbell" "" "$S" -- -DMB=1 -DDOORBELL
run clean "membarrier, 3 messages in 3 slots (the producer never waits)" "" "$S" -- -DMB=1 -DN=3 -DK=3
run clean "takeover by a consumer in another VM, acknowledged" "" "$S" -- -DMB=1 -DTAKEOVER -DN=2
run clean "takeover, 2 slots" "" "$S" -- -DMB=1 -DTAKEOVER -DN=2 -DK=2
run clean "takeover, 2 slots: the consumer polling until acknowledged always ends (no non-progress cycle, weak fairness)" \
	"-l -f" "-DNP -DNFAIR=3 -DCOLLAPSE" -- -DMB=1 -DTAKEOVER -DN=2 -DK=2
run caught "mutation: publishers skip the fence, sleepers issue no membarrier" "" "$S" -- -DBUG_NO_MB
run caught "mutation: the sleeper's barrier removed" "" "$S" -- -DMB=0 -DBUG_NO_SLEEP_FENCE
run caught "mutation: takeover without the acknowledgement" "" "$S" -- -DMB=1 -DTAKEOVER -DN=2 -DBUG_NO_ACK
[ $fails -eq 0 ]
