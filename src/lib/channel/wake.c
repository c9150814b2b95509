/* SPDX-License-Identifier: MIT */
/* Wakeups and liveness between the parties of a region (wake.h). */
#include "channel/wake.h"

#include <limits.h>
#include <linux/futex.h>
#include <linux/membarrier.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define RLX memory_order_relaxed
#define ACQ memory_order_acquire
#define SC memory_order_seq_cst

long ivs_futex(_Atomic uint32_t *addr, int op, uint32_t val, const struct timespec *ts)
{
	return syscall(SYS_futex, (uint32_t *)addr, op, val, ts, NULL, 0);
}

/* 0 unknown, 1 registered, -1 not available (or disabled by a test). */
static _Atomic int membarrier_state;

bool ivs_membarrier_ready(void)
{
	int st = atomic_load_explicit(&membarrier_state, ACQ);
	if (st)
		return st > 0;
	long cmds = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
	st = -1;
	/* Registering twice (two threads' first opens) is harmless. */
	if (cmds > 0 && (cmds & MEMBARRIER_CMD_GLOBAL_EXPEDITED) &&
	    (cmds & MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED) &&
	    syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED, 0, 0) == 0)
		st = 1;
	int unknown = 0;
	if (!atomic_compare_exchange_strong_explicit(&membarrier_state, &unknown, st, SC, ACQ))
		st = unknown; /* a test disabled it meanwhile, or another thread decided */
	return st > 0;
}

int ivs_membarrier(void)
{
	return syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0, 0) == 0 ? 0 : -errno;
}

void ivs_membarrier_disable(void)
{
	atomic_store_explicit(&membarrier_state, -1, SC);
}

int ivs_wake_method(uint32_t my_caps, uint64_t my_host, struct ivs_side *p, bool for_sleep)
{
	uint32_t e = atomic_load_explicit(&p->epoch, ACQ);
	if (!(e & 1) || atomic_load_explicit(&p->info_epoch, ACQ) != e)
		return IVSHMEM_CHAN_WAKE_POLL;
	uint32_t caps = atomic_load_explicit(&p->caps, RLX);
	uint64_t host = atomic_load_explicit(&p->host, RLX);
	if ((my_caps & IVS_SIDE_FUTEX) && (caps & IVS_SIDE_FUTEX) && host == my_host)
		return IVSHMEM_CHAN_WAKE_FUTEX;
	if (for_sleep && (my_caps & IVS_SIDE_DOORBELL) && (caps & IVS_SIDE_CAN_RING))
		return IVSHMEM_CHAN_WAKE_DOORBELL;
	if (!for_sleep && (my_caps & IVS_SIDE_CAN_RING) && (caps & IVS_SIDE_DOORBELL))
		return IVSHMEM_CHAN_WAKE_DOORBELL;
	return IVSHMEM_CHAN_WAKE_POLL;
}

bool ivs_wake_kick(ivshmem_ep *ep, int m, struct ivs_side *p, struct ivs_event *ev)
{
	if (m == IVSHMEM_CHAN_WAKE_FUTEX) {
		atomic_fetch_add_explicit(&ev->futex, 1, SC);
		ivs_futex(&ev->futex, FUTEX_WAKE, INT_MAX, NULL);
		return true;
	}
	if (m != IVSHMEM_CHAN_WAKE_DOORBELL)
		return false;
	uint32_t id = atomic_load_explicit(&p->id, RLX);
	uint32_t vec = atomic_load_explicit(&p->vector, RLX);
	if (id >= IVSHMEM_MAX_PEERS || vec >= IVSHMEM_MAX_VECTORS)
		return false;
	int r = ivshmem_ring(ep, id, vec);
	if (r == -ENOENT && ivs_ep_pump(ep) == 0) /* a peer that joined after us */
		r = ivshmem_ring(ep, id, vec);
	return r == 0;
}

void ivs_wake_sleep(int m, _Atomic uint32_t *futex_word, uint32_t fv, int vec_fd, int slice_ms,
		    struct ivs_chan_wait_stats *ws)
{
	if (m == IVSHMEM_CHAN_WAKE_FUTEX) {
		struct timespec ts = {slice_ms / 1000, (long)(slice_ms % 1000) * 1000000};
		if (ivs_futex(futex_word, FUTEX_WAIT, fv, &ts) == 0)
			ws->woken++;
		else if (errno == ETIMEDOUT)
			ws->timeouts++;
		else if (errno == EAGAIN)
			ws->raced++;
	} else if (m == IVSHMEM_CHAN_WAKE_DOORBELL) {
		int pr = ivs_poll1(vec_fd, POLLIN, slice_ms);
		if (pr > 0)
			ws->woken++;
		else if (pr == 0)
			ws->timeouts++;
	}
}

/* Same host: its pid is gone.  Another machine: its peer ID is our server
 * connection's own (IDs are unique among a server's live peers: it is an
 * earlier incarnation's), or the endpoint's server/daemon said it left
 * (ivs_ep_peer_gone).  A side that is still attaching (info_epoch != e),
 * or that cannot be checked (no server, no leave seen), counts as alive. */
bool ivs_side_dead(ivshmem_ep *ep, uint64_t my_host, struct ivs_side *s, uint32_t e, struct ivs_peer_watch *w,
		   uint32_t *w_epoch, int max_ms)
{
	if (!(e & 1) || atomic_load_explicit(&s->info_epoch, ACQ) != e)
		return false;
	uint32_t pid = atomic_load_explicit(&s->pid, RLX);
	uint64_t host = atomic_load_explicit(&s->host, RLX);
	uint32_t id = atomic_load_explicit(&s->id, RLX);
	if (my_host && host == my_host)
		return pid > 0 && pid <= INT_MAX && (pid_t)pid != getpid() && kill((pid_t)pid, 0) < 0 &&
		       errno == ESRCH;
	if (!ep || !w || id >= IVSHMEM_MAX_PEERS)
		return false;
	/* Our own ID, on another machine: only a server connection's ID is
	 * ours alone (a daemon's clients share the daemon's, a VM's processes
	 * the VM's), and a token of 0 can't say "another machine". */
	if (my_host && host && ivs_ep_kind(ep) == IVS_EP_SERVER && (int)id == ivshmem_id(ep))
		return true;
	bool careful = !w_epoch; /* no watch of ours: confirm any leave */
	if (w_epoch && (*w_epoch != e || w->id != id)) {
		ivs_ep_watch_peer(ep, id, w);
		*w_epoch = e;
	}
	return ivs_ep_peer_gone(ep, w, careful, IVS_CATCH_UP_QUIET_MS, max_ms) == 1;
}

uint32_t ivs_side_caps(ivshmem_ep *ep, unsigned vector, uint64_t host, bool no_futex, int *vec_fd)
{
	uint32_t caps = 0;
	*vec_fd = -1;
	if (!ep)
		return host && !no_futex ? IVS_SIDE_FUTEX : 0;
	if (ivs_ep_can_ring(ep) && ivshmem_id(ep) >= 0)
		caps |= IVS_SIDE_CAN_RING;
	int fd = ivshmem_vector_fd(ep, vector);
	if (fd >= 0 && ivshmem_id(ep) >= 0) {
		*vec_fd = fd;
		caps |= IVS_SIDE_DOORBELL;
	}
	if (host && ivs_ep_kind(ep) != IVS_EP_PCI && !no_futex)
		caps |= IVS_SIDE_FUTEX;
	return caps;
}

int ivs_side_claim(struct ivs_side *s, bool exclusive, uint32_t *epoch)
{
	uint32_t e = atomic_load_explicit(&s->epoch, ACQ), next;
	for (int tries = 0; tries < 1000; tries++) {
		if ((e & 1) && exclusive)
			return -EBUSY;
		next = e + ((e & 1) ? 2 : 1);
		if (atomic_compare_exchange_strong_explicit(&s->epoch, &e, next, SC, ACQ)) {
			*epoch = next;
			return 0;
		}
	}
	return -EBUSY;
}

void ivs_side_publish(struct ivs_side *s, struct ivs_event *ev, ivshmem_ep *ep, unsigned vector, uint32_t caps,
		      uint64_t host, uint32_t epoch)
{
	int id = ep ? ivshmem_id(ep) : -1;
	atomic_store_explicit(&s->id, id >= 0 ? (uint32_t)id : IVS_NO_PEER, RLX);
	atomic_store_explicit(&s->vector, vector, RLX);
	atomic_store_explicit(&s->caps, caps, RLX);
	atomic_store_explicit(&s->pid, (uint32_t)getpid(), RLX);
	atomic_store_explicit(&s->host, host, RLX);
	atomic_store_explicit(&ev->idx, UINT64_MAX, RLX);
	atomic_store_explicit(&s->info_epoch, epoch, memory_order_release);
}

bool ivs_side_leave(struct ivs_side *s, uint32_t e)
{
	uint32_t want = e;
	return atomic_compare_exchange_strong_explicit(&s->epoch, &want, e + 1, SC, RLX);
}

/* An epoch only moves forward, by one attach or detach at a time.  Seen
 * going back, it is corrupt memory, not a peer.  Far ahead (more restarts
 * than a waiting side sees between two looks, 100 ms apart; but a side
 * that doesn't call for minutes sees many), it is believed only with the
 * attach info of that epoch. */
#define EPOCH_JUMP_MAX (1u << 16)

int ivs_peer_epoch(struct ivs_side *p, uint32_t *epoch, bool *seen)
{
	uint32_t e = atomic_load_explicit(&p->epoch, ACQ);
	if (e == *epoch)
		return 0;
	uint32_t d = e - *epoch;
	if (d > UINT32_MAX / 2)
		return -EPROTO; /* went back */
	if (d > EPOCH_JUMP_MAX) {
		/* A long history, or a scribble: the info says which.
		 * Attached: its info is of that epoch; detached: of the one
		 * before.  Mid-attach: look again later. */
		uint32_t info = atomic_load_explicit(&p->info_epoch, ACQ);
		if (info != ((e & 1) ? e : e - 1) || atomic_load_explicit(&p->epoch, ACQ) != e)
			return 0;
	}
	uint32_t old = *epoch;
	*epoch = e;
	bool restarted = (e & 1) && (old & 1) && *seen;
	/* Odd: attached now.  Even and moved: a peer came and went between
	 * two looks (what it sent is queued, then the end). */
	*seen = true;
	return restarted ? -ECONNRESET : 0;
}

#define DEFAULT_SPIN_NS 20000ull
#define SPIN_GROW_MAX 16

void ivs_spin_init(struct ivs_spin *sp, bool have_opts, int spin_us)
{
	sp->ns = !have_opts || spin_us == 0 ? DEFAULT_SPIN_NS : spin_us < 0 ? 0 : (uint64_t)spin_us * 1000;
	sp->cur = sp->ns;
}

void ivs_spin_adapt(struct ivs_spin *sp, uint64_t slept_from)
{
	if (!sp->ns)
		return;
	uint64_t d = ivs_now_ns() - slept_from, max = sp->ns * SPIN_GROW_MAX;
	if (d < sp->cur)
		sp->cur = sp->cur * 2 < max ? sp->cur * 2 : max;
	else if (d > 4 * max)
		sp->cur = sp->cur / 2 > sp->ns ? sp->cur / 2 : sp->ns;
}
