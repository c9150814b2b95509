/* SPDX-License-Identifier: MIT */
/* The header's rule for channel calls: output parameters are untouched on
 * failure.  ivshmem_chan_stat on a deleted channel (-ESTALE) and on a
 * queue whose indices are corrupt (-EBADMSG) leaves *st as it was. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "channel/channel.h"
#include "tap.h"

#define REGION (64 * 1024)

static bool untouched(const struct ivshmem_chan_stat *st)
{
	const unsigned char *b = (const unsigned char *)st;
	for (size_t i = 0; i < sizeof(*st); i++)
		if (b[i] != 0xa5)
			return false;
	return true;
}

int main(void)
{
	unsigned char *m = aligned_alloc(4096, REGION);
	memset(m, 0, REGION);
	ivshmem_chan *c = NULL;
	struct ivshmem_chan_stat st;
	ok(ivs_layout_create(m, REGION, "s", 4096, 200, -1) == 0 &&
		   ivs_chan_open_mem(m, REGION, "s", IVSHMEM_CHAN_CONSUMER, 0, &c) == 0,
	   "a channel, a consumer");
	is(ivshmem_chan_stat(c, &st), 0, "stat works");
	is(st.ring_size, 4096, "and fills the snapshot");

	/* A corrupt tail (not a multiple of 8) from the other side. */
	struct ivs_layout_view v;
	struct ivs_entry_view en;
	ok(ivs_layout_read(m, REGION, &v) == 0 && ivs_layout_find(m, REGION, &v, "s", &en) == 0, "its entry");
	struct ivs_chan_ctrl *ctl = (struct ivs_chan_ctrl *)(m + en.offset);
	atomic_store(&ctl->tail, 3);
	memset(&st, 0xa5, sizeof(st));
	is(ivshmem_chan_stat(c, &st), -EBADMSG, "a corrupt tail: -EBADMSG");
	ok(untouched(&st), "and *st untouched");
	atomic_store(&ctl->tail, 0);

	/* Deleted under the handle. */
	ivshmem_chan_close(c);
	ok(ivs_chan_open_mem(m, REGION, "s", IVSHMEM_CHAN_MONITOR, 0, &c) == 0, "a monitor handle");
	is(ivs_chan_delete_mem(m, REGION, "s"), 0, "the channel is deleted");
	memset(&st, 0xa5, sizeof(st));
	is(ivshmem_chan_stat(c, &st), -ESTALE, "stat on the deleted channel: -ESTALE");
	ok(untouched(&st), "and *st untouched");
	ivshmem_chan_close(c);
	free(m);
	return tap_done();
}
