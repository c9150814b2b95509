/* SPDX-License-Identifier: MIT */
/* QEMU ivshmem server protocol: the codec (8 bytes <-> int64) and the
 * client-side decoder, pure (no I/O, fuzzed).  The transport is
 * server-transport.c.  See server-proto.h and docs/server.md. */
#include "proto/server-proto.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void ivs_srv_encode(int64_t value, uint8_t out[IVS_SRV_MSG_LEN])
{
	uint64_t v = (uint64_t)value;
	for (int i = 0; i < IVS_SRV_MSG_LEN; i++)
		out[i] = (uint8_t)(v >> (8 * i));
}

int64_t ivs_srv_decode(const uint8_t in[IVS_SRV_MSG_LEN])
{
	uint64_t v = 0;
	for (int i = 0; i < IVS_SRV_MSG_LEN; i++)
		v |= (uint64_t)in[i] << (8 * i);
	return (int64_t)v;
}

/* ---- decoder ----------------------------------------------------------- */

void ivs_srv_dec_init(struct ivs_srv_dec *d)
{
	memset(d, 0, sizeof(*d));
	d->state = IVS_SRV_DEC_VERSION;
	d->id = -1;
	d->shm_fd = -1;
}

static void close_peer(struct ivs_srv_dec_peer *p)
{
	for (unsigned i = 0; i < p->nvec; i++)
		close(p->fds[i]);
	p->nvec = 0;
}

void ivs_srv_dec_free(struct ivs_srv_dec *d)
{
	d->shm_fd = ivs_close(d->shm_fd);
	for (unsigned i = 0; i < d->own_nvec; i++)
		close(d->own_fds[i]);
	d->own_nvec = 0;
	for (size_t i = 0; i < d->npeers; i++)
		close_peer(&d->peers[i]);
	free(d->peers);
	d->peers = NULL;
	d->npeers = d->cap = 0;
}

/* Index of the first peer with id >= id. */
static size_t lower_bound(const struct ivs_srv_dec *d, unsigned id)
{
	size_t lo = 0, hi = d->npeers;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (d->peers[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const struct ivs_srv_dec_peer *ivs_srv_dec_find(const struct ivs_srv_dec *d, unsigned id)
{
	size_t i = lower_bound(d, id);
	return i < d->npeers && d->peers[i].id == id ? &d->peers[i] : NULL;
}

int ivs_srv_dec_take_shm(struct ivs_srv_dec *d)
{
	int fd = d->shm_fd;
	d->shm_fd = -1;
	return fd;
}

static int fail(struct ivs_srv_dec *d, int fd)
{
	ivs_close(fd);
	d->state = IVS_SRV_DEC_FAILED;
	return -EPROTO;
}

static int peer_vector(struct ivs_srv_dec *d, uint16_t id, int fd, struct ivs_srv_dec_out *out)
{
	size_t i = lower_bound(d, id);
	if (i == d->npeers || d->peers[i].id != id) {
		if (d->npeers == d->cap) {
			size_t cap = d->cap ? d->cap * 2 : 8;
			struct ivs_srv_dec_peer *np = realloc(d->peers, cap * sizeof(*np));
			if (!np) {
				ivs_close(fd);
				return -ENOMEM;
			}
			d->peers = np;
			d->cap = cap;
		}
		memmove(&d->peers[i + 1], &d->peers[i], (d->npeers - i) * sizeof(*d->peers));
		d->npeers++;
		d->peers[i].id = id;
		d->peers[i].nvec = 0;
	}
	struct ivs_srv_dec_peer *p = &d->peers[i];
	if (p->nvec >= IVSHMEM_MAX_VECTORS)
		return fail(d, fd);
	p->fds[p->nvec] = fd;
	*out = (struct ivs_srv_dec_out){IVS_SRV_GOT_PEER_VECTOR, id, p->nvec};
	p->nvec++;
	return 0;
}

static int peer_gone(struct ivs_srv_dec *d, uint16_t id, struct ivs_srv_dec_out *out)
{
	size_t i = lower_bound(d, id);
	if (i == d->npeers || d->peers[i].id != id) {
		/* A peer without vectors is never announced, so its leave may
		 * be the first we hear of it: harmless, ignored. */
		*out = (struct ivs_srv_dec_out){IVS_SRV_GOT_UNKNOWN_GONE, id, 0};
		return 0;
	}
	*out = (struct ivs_srv_dec_out){IVS_SRV_GOT_PEER_GONE, id, d->peers[i].nvec};
	close_peer(&d->peers[i]);
	memmove(&d->peers[i], &d->peers[i + 1], (d->npeers - i - 1) * sizeof(*d->peers));
	d->npeers--;
	return 0;
}

int ivs_srv_dec_feed(struct ivs_srv_dec *d, int64_t value, int fd, struct ivs_srv_dec_out *out)
{
	switch (d->state) {
	case IVS_SRV_DEC_VERSION:
		if (value != IVS_SRV_PROTO_VERSION || fd >= 0)
			return fail(d, fd);
		d->state = IVS_SRV_DEC_ID;
		*out = (struct ivs_srv_dec_out){IVS_SRV_GOT_VERSION, 0, 0};
		return 0;
	case IVS_SRV_DEC_ID:
		if (value == IVS_SRV_FULL_ID && fd < 0) {
			fail(d, fd);
			return -EUSERS; /* the server turned us away: it is full */
		}
		if (value < 0 || value >= IVSHMEM_MAX_PEERS || fd >= 0)
			return fail(d, fd);
		d->id = (int)value;
		d->state = IVS_SRV_DEC_SHM;
		*out = (struct ivs_srv_dec_out){IVS_SRV_GOT_ID, (uint16_t)value, 0};
		return 0;
	case IVS_SRV_DEC_SHM:
		if (value != IVS_SRV_SHM_ID || fd < 0)
			return fail(d, fd);
		d->shm_fd = fd;
		d->shm_seen = true;
		d->state = IVS_SRV_DEC_RUN;
		*out = (struct ivs_srv_dec_out){IVS_SRV_GOT_SHM, 0, 0};
		return 0;
	case IVS_SRV_DEC_RUN:
		/* A second shm message, or anything outside 0..65535. */
		if (value < 0 || value >= IVSHMEM_MAX_PEERS)
			return fail(d, fd);
		if (value == d->id) {
			/* Our own vectors; "we left" makes no sense. */
			if (fd < 0 || d->own_nvec >= IVSHMEM_MAX_VECTORS)
				return fail(d, fd);
			d->own_fds[d->own_nvec] = fd;
			*out = (struct ivs_srv_dec_out){IVS_SRV_GOT_OWN_VECTOR, (uint16_t)value,
							(uint16_t)d->own_nvec};
			d->own_nvec++;
			return 0;
		}
		if (fd >= 0)
			return peer_vector(d, (uint16_t)value, fd, out);
		return peer_gone(d, (uint16_t)value, out);
	case IVS_SRV_DEC_FAILED:
	default:
		return fail(d, fd);
	}
}
