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

/* Reading a server's socket before a leave is believed (docs/channels.md). */
#define IVS_CATCH_UP_QUIET_MS 50
#define IVS_CATCH_UP_MIN_MS 100
#define IVS_CATCH_UP_MAX_MS 1000

#endif
