/* SPDX-License-Identifier: MIT */
/* The channel's wakeup protocol (docs/channels.md, "Notification
 * suppression"), on x86's memory model (TSO: every store waits in its
 * CPU's store buffer, in order, and a later load may run before it is
 * visible), checked by spin for every interleaving.
 *
 * A producer P sends N messages through a ring of K slots to a consumer;
 * each side sleeps when it cannot go on (ring empty / full) and kicks the
 * other after publishing an index that crosses the other's event index.
 * Sleeps here have no timeout (the library's 100 ms slices): a lost wakeup
 * is a state where both wait for ever, which spin reports as an invalid
 * end state; the assertions check that every message arrives once, in
 * order.
 *
 * What each side does, as in src/lib/channel/channel.c:
 *   publish:  store our index; [fence]; load the peer's event index; kick
 *             if we crossed it (virtio's vring_need_event)
 *   sleep:    snapshot the wake word (futex) or drain the doorbell; store
 *             our event index; fence [and membarrier]; [ack check]; look
 *             again; sleep until the wake word moves (futex) or the
 *             doorbell rings; withdraw the index after
 * The fence on the publish side is skipped when the sleeper issues a
 * membarrier (MEMBARRIER_CMD_GLOBAL_EXPEDITED) instead: the kernel makes
 * every CPU running a registered process execute a full barrier, so the
 * publisher's store is visible before the sleeper looks, or the
 * publisher's load runs after the sleeper's index is visible.
 *
 * Configurations (spin -D...), see tests/model/test-model.sh:
 *   MB=0      both sides fence after every publish (peers in other VMs)
 *   MB=1      both sides are same-host membarrier users: no fence on
 *             publish, a membarrier before each sleep
 *   DOORBELL  the sleep is on a doorbell (eventfd) instead of a futex
 *   TAKEOVER  consumer 1 (a membarrier user on P's host) takes TAKE_AT
 *             messages and detaches; consumer 2, in another VM (no
 *             membarrier), takes over the role and the rest.  P skips its
 *             fence only while its view of the consumer says membarrier,
 *             and acknowledges each consumer epoch it has seen; a sleeper
 *             without membarrier sleeps for real only once its epoch is
 *             acknowledged (before: it polls).
 * Mutations that must FAIL (the test checks that spin finds them):
 *   BUG_NO_MB       publishers skip the fence, sleepers don't membarrier
 *   BUG_NO_SLEEP_FENCE  the sleeper neither fences nor membarriers
 *   BUG_NO_ACK      TAKEOVER without the acknowledgement
 */

/* ADV: the same-host parties are membarrier users and say so in their
 * caps (so a publisher may skip its fence); USE_MB: their sleeps do issue
 * the membarrier. */
#ifndef MB
#define MB 0
#endif
#ifdef BUG_NO_MB
#define ADV 1
#define USE_MB 0
#else
#define ADV MB
#define USE_MB MB
#endif

#ifndef N
#define N 3		/* messages */
#endif
#ifndef K
#define K 1		/* ring slots */
#endif
#define SB 2		/* store buffer entries per CPU */
#define NONE 255	/* event index: not armed */
#define TAKE_AT 1	/* TAKEOVER: consumer 1 takes this many */

/* Shared memory: addresses */
#define TAIL 0		/* producer's published index (messages) */
#define HEAD 1		/* consumer's published index */
#define CIDX 2		/* consumer's event index: wake me when TAIL passes it */
#define PIDX 3		/* producer's event index: wake me when HEAD passes it */
#define CFUT 4		/* consumer's wake word (futex) or doorbell count */
#define PFUT 5		/* producer's */
#define CEPOCH 6	/* consumer side's epoch: odd = attached */
#define CINFO 7		/* the epoch the consumer's attach info is for */
#define CCAPS 8		/* the consumer's caps: 1 = membarrier user on P's host */
#define PACKED 9	/* the consumer epoch P's wakeups follow (P's ack) */
#define NADDR 10

byte mem[NADDR];
byte sba[3 * SB];	/* per CPU (0 P, 1 C1, 2 C2): pending stores, oldest first */
byte sbv[3 * SB];
byte sbn[3];
byte got = 0;		/* messages received so far, over all consumers */
bool c1_done = false;

/* ---- TSO ---------------------------------------------------------------- */

inline store(p, a, v) {
	atomic { (sbn[p] < SB) -> sba[p * SB + sbn[p]] = a; sbv[p * SB + sbn[p]] = v; sbn[p]++ }
}

/* A load sees the CPU's own newest pending store to a, else memory. */
inline load(p, a, r) {
	atomic {
		r = mem[a];
		i = 0;
		do
		:: i < sbn[p] -> if :: sba[p * SB + i] == a -> r = sbv[p * SB + i] :: else -> skip fi; i++
		:: else -> break
		od
	}
}

inline fence(p) {
	(sbn[p] == 0)
}

/* A locked read-modify-write (fetch_add, CAS): drains the buffer first. */
inline rmw_inc(p, a) {
	atomic { sbn[p] == 0 -> mem[a] = mem[a] + 1 }
}

/* membarrier(GLOBAL_EXPEDITED) from CPU p: its own barrier, then one on
 * the CPU of every registered process, each at some instant: the producer
 * (CPU 0) and consumer 1 (CPU 1); consumer 2 is in another VM. */
inline membarrier(p) {
	fence(p);
	(sbn[0] == 0);
	(sbn[1] == 0)
}

/* The store buffers drain, oldest first, at any time. */
proctype drain(byte p) {
	byte j;
end:	do
	:: atomic {
		sbn[p] > 0 ->
		mem[sba[p * SB]] = sbv[p * SB];
		j = 0;
		do
		:: j + 1 < sbn[p] -> sba[p * SB + j] = sba[p * SB + j + 1]; sbv[p * SB + j] = sbv[p * SB + j + 1]; j++
		:: else -> break
		od;
		sbn[p]--;
		j = 0
	}
	od
}

/* ---- waking and sleeping -------------------------------------------------- */

/* Kick the side whose wake word is w: a futex wake after bumping the word
 * (a locked add), or a doorbell (the kernel's eventfd write: a locked
 * operation too). */
inline kick(p, w) {
	rmw_inc(p, w)
}

/* Before arming: what the sleep will compare against (futex) or the
 * doorbell drained (a read of the eventfd, locked in the kernel). */
inline pre_sleep(p, w, fv) {
#ifdef DOORBELL
	atomic { sbn[p] == 0 -> mem[w] = 0 }; fv = 0
#else
	load(p, w, fv)
#endif
}

/* Sleep until woken: FUTEX_WAIT (a barrier in the kernel, then: while the
 * word holds fv, sleep until a wake), or poll() on the doorbell. */
inline sleep(p, w, fv) {
	fence(p);
#ifdef DOORBELL
	(mem[w] > 0)
#else
	(mem[w] != fv)
#endif
}

/* The barrier between arming and looking again. */
inline arm_barrier(p, mb) {
#ifdef BUG_NO_SLEEP_FENCE
	skip
#else
	if
	:: (mb) -> membarrier(p)
	:: else -> fence(p)
	fi
#endif
}

/* Publish-side: after storing our index (old -> now), kick if the peer's
 * event index is in [old, now). */
inline notify(p, skip_fence, ev_addr, w, old, now) {
	if
	:: !(skip_fence) -> fence(p)
	:: else -> skip
	fi;
	load(p, ev_addr, ev);
	if
	:: ev != NONE && (old) <= ev && ev < (now) -> kick(p, w)
	:: else -> skip
	fi
}

/* ---- the producer --------------------------------------------------------- */

/* P's view of the consumer, refreshed at the start of every operation
 * (check_epochs): a new epoch with its info published sets whether P may
 * skip its fence, and P acknowledges that epoch. */
inline p_refresh() {
	load(0, CEPOCH, e);
	if
	:: e != seen_epoch && (e % 2) == 1 ->
		load(0, CINFO, info);
		if
		:: info == e ->
			load(0, CCAPS, caps);
			skip_fence = (ADV && caps == 1);
			seen_epoch = e;
			store(0, PACKED, e)
		:: else -> skip_fence = false	/* info not published yet: fence */
		fi
	:: else -> skip
	fi
}


proctype producer() {
	byte i, tail = 0, head_cache = 0, h, e, info, caps, ev, fv, seen_epoch = 0;
	bool skip_fence = false, sent;
	do
	:: tail == N -> break
	:: else ->
		sent = false;
		do
		:: sent -> break
		:: else ->
			p_refresh();
			if
			:: tail - head_cache < K -> skip
			:: else -> load(0, HEAD, h); head_cache = h
			fi;
			if
			:: tail - head_cache < K ->
				/* commit: publish the tail, then notify */
				tail++;
				store(0, TAIL, tail);
				notify(0, skip_fence, CIDX, CFUT, tail - 1, tail);
				sent = true
			:: else ->
				/* full: arm "wake me when head passes tail - K", look again */
				pre_sleep(0, PFUT, fv);
				store(0, PIDX, tail - K);
				arm_barrier(0, USE_MB);
				load(0, HEAD, h); head_cache = h;
				if
				:: tail - head_cache < K -> skip	/* room after all: loop sends */
				:: else -> sleep(0, PFUT, fv)
				fi;
				store(0, PIDX, NONE)
			fi
		od
	od
}

/* ---- consumers -------------------------------------------------------------- */

/* Consumer on CPU c: attach as epoch `ep` with caps `mbcap`, take messages
 * until `until` were taken in all, publish the head after each, detach.
 * needs_ack: without membarrier, sleep only once P acknowledged our epoch. */
inline consume(c, ep, mbcap, until, needs_ack) {
	/* attach: claim the epoch (a CAS), publish the info, withdraw any
	 * stale event index, fence */
	rmw_inc(c, CEPOCH);
	store(c, CCAPS, mbcap);
	store(c, CIDX, NONE);
	store(c, CINFO, ep);
	fence(c);
	load(c, HEAD, head);
	tail_cache = head;
	do
	:: head == until -> break
	:: else ->
		if
		:: tail_cache == head -> load(c, TAIL, t); tail_cache = t
		:: else -> skip
		fi;
		if
		:: tail_cache != head ->
			/* release: take it, publish the head, notify */
			assert(head == got);
progress:		got++;
			head++;
			store(c, HEAD, head);
			notify(c, !needs_ack && ADV, PIDX, PFUT, head - 1, head)
		:: else ->
			pre_sleep(c, CFUT, fv);
			store(c, CIDX, head);
			arm_barrier(c, mbcap && USE_MB);
			acked = true;
#ifndef BUG_NO_ACK
			if
			:: needs_ack -> load(c, PACKED, ackv); acked = (ackv == ep)
			:: else -> skip
			fi;
#endif
			load(c, TAIL, t); tail_cache = t;
			if
			:: tail_cache != head -> skip
			:: tail_cache == head && !acked -> skip	/* poll: look again */
			:: tail_cache == head && acked -> sleep(c, CFUT, fv)
			fi;
			store(c, CIDX, NONE)
		fi
	od;
	/* detach: a CAS on the epoch (drains the buffer) */
	rmw_inc(c, CEPOCH)
}

proctype consumer1() {
	byte i, head, tail_cache, t, ev, fv, ackv;
	bool acked;
#ifdef TAKEOVER
	consume(1, 1, ADV, TAKE_AT, false);
	c1_done = true
#else
	consume(1, 1, ADV, N, false)
#endif
}

/* In another VM: no membarrier reaches P's CPU. */
proctype consumer2() {
	byte i, head, tail_cache, t, ev, fv, ackv;
	bool acked;
	c1_done;
	consume(2, 3, 0, N, true)
}

init {
	mem[CIDX] = NONE;
	mem[PIDX] = NONE;
	atomic {
		run drain(0); run drain(1); run drain(2);
		run producer();
		run consumer1();
#ifdef TAKEOVER
		run consumer2()
#endif
	}
}
