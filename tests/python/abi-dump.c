/* SPDX-License-Identifier: MIT */
/* Print the size of each struct of ivshmem.h and the offset of each field,
 * as JSON, for the Python binding's test that its ctypes structs match. */
#include <stddef.h>
#include <stdio.h>

#include "ivshmem.h"

#define S(t) printf("%s\"%s\": {\"sizeof\": %zu", first ? "" : ", ", #t, sizeof(struct t)), first = 0
#define F(t, f) printf(", \"%s\": %zu", #f, offsetof(struct t, f))
#define E() printf("}")

int main(void)
{
	int first = 1;
	printf("{");
	S(ivshmem_open_opts); F(ivshmem_open_opts, backend); F(ivshmem_open_opts, cache);
	F(ivshmem_open_opts, flags); F(ivshmem_open_opts, ready_timeout_ms); F(ivshmem_open_opts, reserved); E();
	S(ivshmem_peer); F(ivshmem_peer, id); F(ivshmem_peer, vectors); E();
	S(ivshmem_event); F(ivshmem_event, type); F(ivshmem_event, peer); F(ivshmem_event, vectors); E();
	S(ivshmem_pci_info); F(ivshmem_pci_info, addr); F(ivshmem_pci_info, vendor); F(ivshmem_pci_info, device);
	F(ivshmem_pci_info, subsystem_vendor); F(ivshmem_pci_info, subsystem_device);
	F(ivshmem_pci_info, class_code); F(ivshmem_pci_info, revision); F(ivshmem_pci_info, driver);
	F(ivshmem_pci_info, iommu_group); F(ivshmem_pci_info, reserved); E();
	S(ivshmem_chan_info); F(ivshmem_chan_info, name); F(ivshmem_chan_info, offset);
	F(ivshmem_chan_info, ring_size); F(ivshmem_chan_info, max_msg); F(ivshmem_chan_info, kind);
	F(ivshmem_chan_info, reserved); E();
	S(ivshmem_chan_opts); F(ivshmem_chan_opts, flags); F(ivshmem_chan_opts, vector);
	F(ivshmem_chan_opts, spin_us); F(ivshmem_chan_opts, reserved); E();
	S(ivshmem_chan_msg); F(ivshmem_chan_msg, data); F(ivshmem_chan_msg, cap); F(ivshmem_chan_msg, len); E();
	S(ivshmem_chan_stat); F(ivshmem_chan_stat, name); F(ivshmem_chan_stat, role);
	F(ivshmem_chan_stat, ring_size); F(ivshmem_chan_stat, max_msg); F(ivshmem_chan_stat, used);
	F(ivshmem_chan_stat, queued); F(ivshmem_chan_stat, head); F(ivshmem_chan_stat, tail);
	F(ivshmem_chan_stat, sent); F(ivshmem_chan_stat, received); F(ivshmem_chan_stat, producer_attached);
	F(ivshmem_chan_stat, consumer_attached); F(ivshmem_chan_stat, producer_id);
	F(ivshmem_chan_stat, consumer_id); F(ivshmem_chan_stat, producer_epoch);
	F(ivshmem_chan_stat, consumer_epoch); F(ivshmem_chan_stat, producer_rings);
	F(ivshmem_chan_stat, consumer_rings); F(ivshmem_chan_stat, producer_sleeps);
	F(ivshmem_chan_stat, consumer_sleeps); F(ivshmem_chan_stat, messages); F(ivshmem_chan_stat, bytes);
	F(ivshmem_chan_stat, rings); F(ivshmem_chan_stat, sleeps); F(ivshmem_chan_stat, spins);
	F(ivshmem_chan_stat, wake); F(ivshmem_chan_stat, fence_skipped); F(ivshmem_chan_stat, reserved); E();
	S(ivshmem_topic_config); F(ivshmem_topic_config, size); F(ivshmem_topic_config, max_msg);
	F(ivshmem_topic_config, subscribers); F(ivshmem_topic_config, mode);
	F(ivshmem_topic_config, stall_timeout_ms); F(ivshmem_topic_config, reserved); E();
	S(ivshmem_topic_opts); F(ivshmem_topic_opts, flags); F(ivshmem_topic_opts, vector);
	F(ivshmem_topic_opts, spin_us); F(ivshmem_topic_opts, reserved); E();
	S(ivshmem_topic_sub_stat); F(ivshmem_topic_sub_stat, state); F(ivshmem_topic_sub_stat, id);
	F(ivshmem_topic_sub_stat, epoch); F(ivshmem_topic_sub_stat, pid); F(ivshmem_topic_sub_stat, head);
	F(ivshmem_topic_sub_stat, received); F(ivshmem_topic_sub_stat, lag); F(ivshmem_topic_sub_stat, sleeps);
	F(ivshmem_topic_sub_stat, rings); F(ivshmem_topic_sub_stat, skipped);
	F(ivshmem_topic_sub_stat, reserved); E();
	S(ivshmem_topic_stat); F(ivshmem_topic_stat, name); F(ivshmem_topic_stat, role);
	F(ivshmem_topic_stat, mode); F(ivshmem_topic_stat, ring_size); F(ivshmem_topic_stat, max_msg);
	F(ivshmem_topic_stat, subscribers); F(ivshmem_topic_stat, stall_timeout_ms);
	F(ivshmem_topic_stat, publisher_attached); F(ivshmem_topic_stat, publisher_id);
	F(ivshmem_topic_stat, publisher_epoch); F(ivshmem_topic_stat, buffers); F(ivshmem_topic_stat, tail);
	F(ivshmem_topic_stat, published); F(ivshmem_topic_stat, floor); F(ivshmem_topic_stat, evictions);
	F(ivshmem_topic_stat, sub); F(ivshmem_topic_stat, messages); F(ivshmem_topic_stat, bytes);
	F(ivshmem_topic_stat, rings); F(ivshmem_topic_stat, sleeps); F(ivshmem_topic_stat, slot);
	F(ivshmem_topic_stat, wake); F(ivshmem_topic_stat, skipped); F(ivshmem_topic_stat, reserved); E();
	printf("}\n");
	return 0;
}
