/* SPDX-License-Identifier: MIT */
/* Hostile memory has one meaning (row 12 of docs/security.md).  Each round:
 * a fresh region with a channel, a producer and a consumer attached (raw
 * handles), messages sent and received; then random writes (seeded)
 * into the header, the table, the channel block or anywhere; then the
 * consumer receives and the producer sends.  No thread: what each side
 * sees is what the memory says.
 *
 * Whatever the bytes, a side may end cleanly (-EPIPE) only if the memory
 * still says, validly, that the other side detached: the layout, the
 * entry and the block as at open, and the other side's epoch one past the
 * one it was attached at, with its info of that epoch.  A "restart"
 * (-ECONNRESET) needs a plausible epoch (odd, a little ahead).  No message
 * was sent after the scribble, so none may be received.  Everything else
 * must be an error naming the corruption (-EBADMSG, -EPROTO, -ESTALE), a
 * death (-EOWNERDEAD: the pid in the peer's attach info is gone; a
 * scribbled pid can say that, and it is still no clean end), or nothing at
 * all (a timeout: the bytes changed nothing that matters). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "channel/channel.h"
#include "tap.h"

#define REGION (64 * 1024)
#define ROUNDS 4000
#define EPOCH_JUMP_MAX (1u << 16) /* as in channel.c */

static uint64_t rng(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

struct snap {
	uint64_t gen, off, instance;
	uint32_t prod_epoch, cons_epoch;
};

/* Does the memory still say, validly, that side s (attached at epoch e
 * when the round began) detached?  The same rule as the channel's. */
static bool valid_detach(unsigned char *m, const struct snap *sn, struct ivs_side *s, uint32_t e)
{
	struct ivs_layout_view v;
	struct ivs_entry_view en;
	if (ivs_layout_read(m, REGION, &v) < 0 || v.generation != sn->gen ||
	    ivs_layout_find(m, REGION, &v, "s", &en) < 0 || en.offset != sn->off)
		return false;
	struct ivs_chan_ctrl *c = (struct ivs_chan_ctrl *)(m + sn->off);
	if (atomic_load(&c->magic) != IVS_CHAN_MAGIC || atomic_load(&c->instance) != sn->instance ||
	    atomic_load(&c->ring_size) != en.ring_size || atomic_load(&c->max_msg) != en.max_msg ||
	    atomic_load(&c->index) != en.index || atomic_load(&c->gen) != v.generation)
		return false;
	uint32_t now = atomic_load(&s->epoch), info = atomic_load(&s->info_epoch);
	return !(now & 1) && now - e <= EPOCH_JUMP_MAX && now != e && info == now - 1;
}

/* A plausible restart of side s, attached at e when the round began. */
static bool plausible_restart(struct ivs_side *s, uint32_t e)
{
	uint32_t now = atomic_load(&s->epoch);
	return (now & 1) && now != e && now - e <= EPOCH_JUMP_MAX;
}

static void scribble(unsigned char *m, uint64_t off, uint64_t *seed)
{
	unsigned n = 1 + (unsigned)(rng(seed) % 8);
	for (unsigned k = 0; k < n; k++) {
		uint64_t r = rng(seed);
		size_t at, len = 1 + (size_t)((r >> 40) % 16);
		switch (r % 8) {
		case 0:
		case 1: /* the header and the table */
			at = (size_t)((r >> 8) % IVS_LAYOUT_SIZE);
			break;
		case 2:
		case 3:
		case 4: /* the channel's control lines */
			at = (size_t)(off + (r >> 8) % IVS_CHAN_CTRL);
			break;
		case 5: /* one aligned word of a side record or an index */
			at = (size_t)(off + 64 * (1 + (r >> 8) % 6) + 4 * ((r >> 20) % 4));
			len = 4;
			break;
		default: /* anywhere */
			at = (size_t)((r >> 8) % REGION);
		}
		if (at + len > REGION)
			len = REGION - at;
		for (size_t i = 0; i < len; i++)
			m[at + i] = (unsigned char)rng(seed);
	}
}

int main(void)
{
	unsigned char *m = aligned_alloc(4096, REGION);
	uint64_t seed = 0x2545f4914f6cdd1dull;
	unsigned long by[2][9] = {{0}}; /* [side][outcome] */
	enum { DATA, PIPE, RESET, BADMSG, PROTO, STALE, DIED, NOTHING, OTHER, NKINDS };
	int bad_pipe = 0, bad_reset = 0, bad_data = 0, other = 0, setup = 0;
	char msg[64];
	for (int round = 0; round < ROUNDS; round++) {
		memset(m, 0, REGION);
		ivshmem_chan *p = NULL, *c = NULL;
		if (ivs_layout_create(m, REGION, "s", 4096, 200, -1) < 0 ||
		    ivs_chan_open_mem(m, REGION, "s", IVSHMEM_CHAN_PRODUCER, 0, &p) < 0 ||
		    ivs_chan_open_mem(m, REGION, "s", IVSHMEM_CHAN_CONSUMER, 0, &c) < 0) {
			setup++;
			ivshmem_chan_close(p);
			ivshmem_chan_close(c);
			continue;
		}
		/* Some traffic first, so the indices are anywhere in the ring. */
		int sent = (int)(rng(&seed) % 120);
		for (int i = 0; i < sent; i++) {
			if (ivshmem_chan_send(p, msg, 1 + (size_t)i % 60, 0) < 0 ||
			    ivshmem_chan_recv(c, msg, sizeof(msg), 0) < 0)
				setup++;
		}
		struct ivs_layout_view v;
		struct ivs_entry_view en;
		struct snap sn = {0};
		if (ivs_layout_read(m, REGION, &v) < 0 || ivs_layout_find(m, REGION, &v, "s", &en) < 0) {
			setup++;
			continue;
		}
		struct ivs_chan_ctrl *ctl = (struct ivs_chan_ctrl *)(m + en.offset);
		sn.gen = v.generation;
		sn.off = en.offset;
		sn.instance = atomic_load(&ctl->instance);
		sn.prod_epoch = atomic_load(&ctl->prod.epoch);
		sn.cons_epoch = atomic_load(&ctl->cons.epoch);

		scribble(m, en.offset, &seed);
		/* What the memory says now, before either side acts on it. */
		bool prod_detached = valid_detach(m, &sn, &ctl->prod, sn.prod_epoch);
		bool cons_detached = valid_detach(m, &sn, &ctl->cons, sn.cons_epoch);
		bool prod_restart = plausible_restart(&ctl->prod, sn.prod_epoch);
		bool cons_restart = plausible_restart(&ctl->cons, sn.cons_epoch);

		for (int side = 0; side < 2; side++) {
			ssize_t r = side == 0 ? ivshmem_chan_recv(c, msg, sizeof(msg), 1)
					      : ivshmem_chan_send(p, msg, 8, 1);
			bool detached = side == 0 ? prod_detached : cons_detached;
			bool restart = side == 0 ? prod_restart : cons_restart;
			int k = r >= 0		    ? DATA
				: r == -EPIPE	    ? PIPE
				: r == -ECONNRESET  ? RESET
				: r == -EBADMSG	    ? BADMSG
				: r == -EPROTO	    ? PROTO
				: r == -ESTALE	    ? STALE
				: r == -EOWNERDEAD  ? DIED
				: r == -ETIMEDOUT || r == -EAGAIN ? NOTHING
								 : OTHER;
			by[side][k]++;
			if (k == PIPE && !detached && bad_pipe++ < 5)
				printf("# round %d: %s: a clean end the memory doesn't say (prod epoch %u -> %u info %u, "
				       "cons %u -> %u info %u)\n", round, side ? "producer" : "consumer", sn.prod_epoch,
				       atomic_load(&ctl->prod.epoch), atomic_load(&ctl->prod.info_epoch), sn.cons_epoch,
				       atomic_load(&ctl->cons.epoch), atomic_load(&ctl->cons.info_epoch));
			if (k == RESET && !restart)
				bad_reset++;
			if (k == DATA && side == 0)
				bad_data++; /* nothing was sent since the scribble */
			if (k == OTHER && other++ < 5)
				printf("# round %d: %s: %s\n", round, side ? "send" : "recv", strerror((int)-r));
		}
		ivshmem_chan_close(p);
		ivshmem_chan_close(c);
	}
	static const char *const names[] = {"data",	"EPIPE",   "ECONNRESET", "EBADMSG", "EPROTO",
					    "ESTALE", "EOWNERDEAD", "nothing", "other"};
	for (int side = 0; side < 2; side++) {
		printf("# %s:", side ? "producer (send)" : "consumer (recv)");
		for (int k = 0; k < NKINDS; k++)
			printf(" %s %lu", names[k], by[side][k]);
		printf("\n");
	}
	is(setup, 0, "%d rounds set up (channel, both sides, traffic)", ROUNDS);
	is(bad_pipe, 0, "no clean end (EPIPE) unless the memory validly says the other side detached");
	is(bad_reset, 0, "no restart (ECONNRESET) unless the other side's epoch is a plausible one");
	is(bad_data, 0, "no message received that was not sent");
	is(other, 0, "no error but EBADMSG, EPROTO, ESTALE, EOWNERDEAD (its pid says it died) or a timeout");
	ok(by[0][BADMSG] + by[0][PROTO] + by[0][STALE] > ROUNDS / 10,
	   "the scribbles reach what matters: the consumer names corruption in %lu of %d rounds",
	   by[0][BADMSG] + by[0][PROTO] + by[0][STALE], ROUNDS);
	free(m);
	return tap_done();
}
