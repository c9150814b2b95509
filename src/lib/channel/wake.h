/* SPDX-License-Identifier: MIT */
/* Waking and sleeping between parties of one region, shared by channels
 * and topics (docs/channels.md, "Notification suppression"): how a side
 * published in a struct ivs_side can be woken (futex on one host, its
 * doorbell, or not at all: it polls), the kick itself, the bounded sleep,
 * and whether an attached side is known to be dead. */
#ifndef IVS_WAKE_H
#define IVS_WAKE_H

#include "channel/channel.h"
#include "endpoint/endpoint.h"

static inline void ivs_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

/* Prefetch a ring line for writing (prefetchw is a NOP hint on x86-64
 * CPUs without it): the producer asks for lines a reader on another core
 * read last before it stores into them. */
static inline void ivs_prefetch_w(const void *p)
{
#if defined(__x86_64__)
	__asm__ __volatile__("prefetchw %0" ::"m"(*(const char *)p));
#else
	__builtin_prefetch(p, 1, 3);
#endif
}

/* How a side with caps/host (ours) and the attached side p reach each
 * other: for_sleep, how we may sleep so that p can wake us; else how we
 * wake p.  IVSHMEM_CHAN_WAKE_POLL while p is not attached or its attach
 * info is not published. */
int ivs_wake_method(uint32_t caps, uint64_t host, struct ivs_side *p, bool for_sleep);

/* Wake side p, sleeping on ev, by method m (ivs_wake_method(.., false)).
 * true if a futex wake or a doorbell went out. */
bool ivs_wake_kick(ivshmem_ep *ep, int m, struct ivs_side *p, struct ivs_event *ev);

/* Sleep at most slice_ms on the futex word (FUTEX: while it holds fv) or
 * on vec_fd (DOORBELL); counts how the sleep ended in ws. */
void ivs_wake_sleep(int m, _Atomic uint32_t *futex_word, uint32_t fv, int vec_fd, int slice_ms,
		    struct ivs_chan_wait_stats *ws);

/* FUTEX_WAIT/WAKE on a shared word. */
long ivs_futex(_Atomic uint32_t *addr, int op, uint32_t val, const struct timespec *ts);

/* Whether the side attached at epoch e (odd) is known to be dead (see
 * side_dead in channel.c's history: docs/channels.md, Liveness).  w: the
 * watch on its peer ID, begun when *w_epoch was first seen (w_epoch NULL:
 * a one-off look that confirms any leave).  max_ms bounds the reading of
 * a server's socket. */
bool ivs_side_dead(ivshmem_ep *ep, uint64_t my_host, struct ivs_side *s, uint32_t e, struct ivs_peer_watch *w,
		   uint32_t *w_epoch, int max_ms);

/* ---- a party's side (struct ivs_side), its attach and its peer ---------- */

/* How this party can be woken and wake others on ep (NULL: raw memory,
 * futex only): IVS_SIDE_*; *vec_fd the fd it sleeps on for `vector`, or
 * -1.  no_futex: the caller's *_NO_FUTEX flag. */
uint32_t ivs_side_caps(ivshmem_ep *ep, unsigned vector, uint64_t host, bool no_futex, int *vec_fd);
/* Claim side s: even -> odd (+1), odd -> the next odd (+2: a takeover)
 * unless exclusive.  0 and *epoch the new one, or -EBUSY. */
int ivs_side_claim(struct ivs_side *s, bool exclusive, uint32_t *epoch);
/* Publish who we are (ID, vector, caps, pid, host), withdraw any stale
 * "wake me" of an earlier incarnation in ev, then info_epoch = epoch
 * (release): peers use the info only when the two epochs match. */
void ivs_side_publish(struct ivs_side *s, struct ivs_event *ev, ivshmem_ep *ep, unsigned vector, uint32_t caps,
		      uint64_t host, uint32_t epoch);
/* Detach at epoch e (-> e + 1) if it is still ours; true if it was. */
bool ivs_side_leave(struct ivs_side *s, uint32_t e);
/* The peer's epoch, against what we saw last (*epoch; *seen: it was
 * attached at some point, or came and went): 0, -ECONNRESET (it
 * restarted: odd to another odd), -EPROTO (it went back).  An epoch far
 * ahead is believed only with the attach info of that epoch. */
int ivs_peer_epoch(struct ivs_side *p, uint32_t *epoch, bool *seen);

/* ---- membarrier: the sleeper's barrier, so the publisher needs none ---- */

/* Whether this process is registered for MEMBARRIER_CMD_GLOBAL_EXPEDITED
 * (registering it on the first call; once per process, thread-safe).  A
 * kernel without it, or a seccomp filter that refuses it: false, and
 * channels fence as before. */
bool ivs_membarrier_ready(void);
/* A full barrier on every CPU running a registered process of this host
 * (and ours).  0 or -errno. */
int ivs_membarrier(void);
/* Tests: behave as a process without membarrier (before any open). */
void ivs_membarrier_disable(void);

/* Spinning before a sleep: the configured spin (opts' spin_us: 0 the
 * default, < 0 none) and the adaptive one. */
struct ivs_spin {
	uint64_t ns, cur;
};
void ivs_spin_init(struct ivs_spin *sp, bool have_opts, int spin_us);
/* After a sleep that began at slept_from ended with what it waited for:
 * woken soon after going to sleep, a longer spin would have saved the
 * other side a wakeup (a syscall or a doorbell): double the spin, up to
 * 16 times the configured one; a long sleep halves it. */
void ivs_spin_adapt(struct ivs_spin *sp, uint64_t slept_from);

/* Reading a server's socket before a leave is believed (docs/channels.md). */
#define IVS_CATCH_UP_QUIET_MS 50
#define IVS_CATCH_UP_MIN_MS 100
#define IVS_CATCH_UP_MAX_MS 1000

#endif
