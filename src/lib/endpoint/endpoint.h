/* SPDX-License-Identifier: MIT */
/* Endpoints: the one API over a guest PCI device, a host file, a peer of an
 * ivshmem server and a client of the broker daemon.  This header is what
 * the rest of the tree (channels, the daemon, the CLI, tests) may use
 * beyond ivshmem.h; the handle stays opaque outside src/lib/endpoint/
 * (its struct and the kinds' ops tables are in ep-impl.h, for this
 * directory only). */
#ifndef IVS_ENDPOINT_H
#define IVS_ENDPOINT_H

#include "util/util.h"

/* ivshmem_open with flags of the library's own (not in ivshmem.h, whose
 * open refuses them): IVS_OPEN_REGS_NO_MAP, for tests: PCI endpoints don't
 * map BAR0 and reach the registers with ivshmem_pci_bar_read/_write, as
 * they do when the backend can't map it. */
#define IVS_OPEN_REGS_NO_MAP (1u << 0)

/* The wait for IVPosition, a server or a daemon when the open options
 * leave it at 0 or below (ivshmem_open_opts.ready_timeout_ms). */
#define IVS_READY_TIMEOUT_MS 5000

int ivs_ep_open(const char *spec, const struct ivshmem_open_opts *opts, unsigned ivs_flags,
		ivshmem_ep **out);

/* The kind of an endpoint, as a value (ivshmem_kind() names it). */
enum ivs_ep_kind { IVS_EP_PCI, IVS_EP_FILE, IVS_EP_SERVER, IVS_EP_DAEMON };
enum ivs_ep_kind ivs_ep_kind(const ivshmem_ep *ep);

/* A DEV string: its kind and what follows the prefix ("file:PATH",
 * "server:SOCKET", "daemon:SOCKET", "pci:ADDR"; a bare PCI address or
 * "auto" is PCI, or FILE when backend is IVSHMEM_BACKEND_FILE).  target
 * points into spec; it may be empty ("file:"), which ivshmem_open refuses.
 * -EINVAL for NULL or "" (*out untouched).  Pure (no I/O), any thread. */
struct ivs_ep_spec {
	enum ivs_ep_kind kind;
	const char *target;
};
int ivs_ep_spec_parse(const char *spec, enum ivshmem_backend backend, struct ivs_ep_spec *out);

/* The vectors this endpoint receives on: ivshmem_vectors() when it has
 * their fds, else 0 (ivs_ep_irq_error() says why). */
unsigned ivs_ep_rx_vectors(const ivshmem_ep *ep);
/* 0 if the endpoint receives interrupts, else why not (-ENOTSUP: the kind
 * or backend can't; -EACCES: a daemon's policy; ...). */
int ivs_ep_irq_error(const ivshmem_ep *ep);

/* The fd behind ivshmem_mem() if the kind keeps one (borrowed: valid until
 * ivshmem_close), else -1.  Lets a broker reopen the memory read-only
 * without /proc/self/map_files. */
int ivs_ep_mem_fd(const ivshmem_ep *ep);

/* The server or daemon behind the endpoint went away (ivshmem_event_fd()
 * stays valid until close); and whether its interrupts stopped with it
 * (daemon) or keep working (server: the eventfds are the peers'). */
bool ivs_ep_disconnected(ivshmem_ep *ep);
bool ivs_ep_disconnect_fatal(const ivshmem_ep *ep);

/* Whether ivshmem_ring() can succeed here: the kind has doorbells and
 * nothing (a daemon's policy) forbids ringing them. */
bool ivs_ep_can_ring(const ivshmem_ep *ep);

/* The fd that rings another peer's vector directly, for a broker to hand
 * on: borrowed, valid until that peer leaves and the endpoint has read so
 * (ivs_ep_pump), or until close.  Server endpoints only (-ENOTSUP
 * otherwise); -ENOENT for an unknown peer, -EINVAL for a vector it lacks or
 * our own ID (that is our own interrupt, not a doorbell).  Any thread. */
int ivs_ep_doorbell_fd(ivshmem_ep *ep, unsigned peer, unsigned vector);

/* Read what is pending on the control socket (server, daemon) without
 * blocking: peer joins and leaves update ivshmem_peers() and are queued
 * for ivshmem_next_event(), none is taken from that queue.  0 (also when
 * there is no control socket, or it is gone) or -errno. */
int ivs_ep_pump(ivshmem_ep *ep);

/* Is a peer gone?  Judged by the endpoint's server or daemon, for a
 * channel's other side on another machine.  Only positive answers act (the
 * side is detached on its behalf), so a wrong "gone" is the error to avoid,
 * and only evidence counts: the service said the peer left.
 *   - the peer list lags behind an endpoint that hasn't read its socket
 *     for a while (a server sends at most a message or two with an fd
 *     ahead of the reader: docs/server.md), and a stopped server looks
 *     quiet: a peer missing from the list is no proof;
 *   - a service with no vectors announces nobody (-n 0): no verdict.
 * Gone = not listed, and a leave of its ID read since ivs_ep_watch_peer()
 * began the watch; or a leave read before, with the peer not listed when
 * the watch began (it died before we looked), confirmed after reading the
 * socket until quiet for quiet_ms (at most max_ms).  careful: confirm any
 * leave that way (a server that reuses IDs, `--ids lowest`, may have a new
 * peer with that ID still on its way).  1 gone, 0 listed or can't tell (no
 * list, no vectors, our own ID, the service is gone or still talking, no
 * leave seen), -errno on a read error. */
struct ivs_peer_watch {
	unsigned id;
	uint8_t leaves;	   /* leaves of id read when the watch began */
	bool listed_at_start; /* id was listed then */
};
void ivs_ep_watch_peer(ivshmem_ep *ep, unsigned id, struct ivs_peer_watch *w);
int ivs_ep_peer_gone(ivshmem_ep *ep, struct ivs_peer_watch *w, bool careful, int quiet_ms, int max_ms);

#endif
