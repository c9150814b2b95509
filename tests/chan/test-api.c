/* SPDX-License-Identifier: MIT */
/* The header's rules for channel calls: output parameters are untouched on
 * failure.  ivshmem_chan_stat on a deleted channel (-ESTALE) and on a
 * queue whose indices are corrupt (-EBADMSG) leaves *st as it was.
 * ivshmem_chan_list on a file: endpoint: 0 for a fresh region, the count
 * and as many infos as there is room for, -EPROTO and nothing written for
 * a region that is not a channel layout. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
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

static void test_list(void)
{
	char path[64], spec[80];
	snprintf(path, sizeof(path), "/dev/shm/ivs-test-api-%d", (int)getpid());
	snprintf(spec, sizeof(spec), "file:%s", path);
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	ivshmem_ep *ep = NULL;
	ok(fd >= 0 && ftruncate(fd, 1 << 20) == 0 && ivshmem_open(spec, NULL, &ep) == 0, "a file: endpoint");
	if (fd >= 0)
		close(fd);
	if (!ep) {
		unlink(path);
		return;
	}
	/* Reserved fields are room to grow: they must be zero. */
	struct ivshmem_open_opts oo = {.ready_timeout_ms = -1};
	oo.reserved[7] = 1;
	ivshmem_ep *ep2 = (ivshmem_ep *)&oo;
	is(ivshmem_open(spec, &oo, &ep2), -EINVAL, "open with a reserved field set: -EINVAL");
	ok(ep2 == (ivshmem_ep *)&oo, "and *out untouched");
	struct ivshmem_open_opts hidden = {.ready_timeout_ms = -1, .flags = 1u << 31};
	is(ivshmem_open(spec, &hidden, &ep2), -EINVAL, "open with an unknown flag (bit 31): -EINVAL");
	struct ivshmem_chan_opts co = {0};
	co.reserved[0] = 1;
	ivshmem_chan *ch = NULL;
	ok(ivshmem_chan_create(ep, "r", 4096, 0) == 0, "a channel r");
	is(ivshmem_chan_open(ep, "r", IVSHMEM_CHAN_MONITOR, &co, &ch), -EINVAL,
	   "chan_open with a reserved field set: -EINVAL");
	co.reserved[0] = 0;
	is(ivshmem_chan_open(ep, "r", IVSHMEM_CHAN_MONITOR, &co, &ch), 0, "all zero: opens");
	ivshmem_chan_close(ch);
	ok(ivshmem_chan_delete(ep, "r") == 0, "r deleted");

	struct ivshmem_chan_info info[4];
	memset(info, 0xa5, sizeof(info));
	is(ivshmem_chan_list(ep, info, 4), 0, "list of a fresh (zero) region: 0");
	is(ivshmem_chan_list(NULL, info, 4), -EINVAL, "list(NULL): -EINVAL");
	is(ivshmem_chan_list(ep, NULL, 1), -EINVAL, "no room given but max 1: -EINVAL");
	ok(ivshmem_chan_create(ep, "a", 4096, 0) == 0 && ivshmem_chan_create(ep, "bb", 8192, 100) == 0 &&
		   ivshmem_chan_create(ep, "c", 4096, 0) == 0,
	   "three channels created");
	is(ivshmem_chan_list(ep, NULL, 0), 3, "list with no room counts them: 3");
	memset(info, 0xa5, sizeof(info));
	is(ivshmem_chan_list(ep, info, 1), 3, "room for one: still 3");
	ok(!strcmp(info[0].name, "a") && info[1].name[0] == (char)0xa5, "only the first filled");
	is(ivshmem_chan_list(ep, info, 4), 3, "room for all: 3");
	ok(!strcmp(info[1].name, "bb") && info[1].ring_size == 8192 && info[1].max_msg == 100 &&
		   info[1].offset > 0 && info[1].reserved[0] == 0,
	   "\"bb\": ring 8192, max 100, at %llu", (unsigned long long)info[1].offset);
	/* Not a channel layout: garbage over the header. */
	memset(ivshmem_mem(ep), 0x5a, 64);
	memset(info, 0xa5, sizeof(info));
	is(ivshmem_chan_list(ep, info, 4), -EPROTO, "garbage header: -EPROTO");
	ok(info[0].name[0] == (char)0xa5, "and nothing written");
	ivshmem_close(ep);

	/* Opened without a mapping: every layout call says it can't. */
	struct ivshmem_open_opts nm = {.ready_timeout_ms = -1, .flags = IVSHMEM_OPEN_NO_MAP};
	ep = NULL;
	if (ivshmem_open(spec, &nm, &ep) != 0 || ivshmem_mem(ep))
		fail_all("setup: open %s with IVSHMEM_OPEN_NO_MAP", spec);
	ch = (ivshmem_chan *)&nm;
	is(ivshmem_layout_init(ep), -ENOTSUP, "no mapping: layout_init -ENOTSUP");
	is(ivshmem_chan_create(ep, "x", 4096, 0), -ENOTSUP, "no mapping: chan_create -ENOTSUP");
	is(ivshmem_chan_delete(ep, "x"), -ENOTSUP, "no mapping: chan_delete -ENOTSUP");
	is(ivshmem_chan_open(ep, "x", IVSHMEM_CHAN_MONITOR, NULL, &ch), -ENOTSUP,
	   "no mapping: chan_open -ENOTSUP");
	ok(ch == (ivshmem_chan *)&nm, "  and *out untouched");
	is(ivshmem_chan_list(ep, info, 4), -ENOTSUP, "no mapping: chan_list -ENOTSUP");
	ivshmem_close(ep);
	unlink(path);
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

	/* The region formatted again under the handle. */
	ok(ivs_layout_create(m, REGION, "s", 4096, 200, -1) == 0 &&
		   ivs_chan_open_mem(m, REGION, "s", IVSHMEM_CHAN_MONITOR, 0, &c) == 0,
	   "the channel again, a monitor");
	ok(ivs_layout_format(m, REGION) == 0, "the region is formatted again");
	memset(&st, 0xa5, sizeof(st));
	is(ivshmem_chan_stat(c, &st), -ESTALE, "stat after a new format: -ESTALE");
	ok(untouched(&st), "and *st untouched");
	ivshmem_chan_close(c);
	free(m);
	test_list();
	return tap_done();
}
