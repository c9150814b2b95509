/* SPDX-License-Identifier: MIT */
/*
 * libivshmem: use PCI BARs and IVSHMEM devices from user space.
 *
 * Layers (each usable on its own):
 *   1. PCI:      enumerate devices, config space, BAR info, map BARs, MSI-X
 *                eventfds, bind to vfio-pci.  Works for any PCI device.
 *   2. Endpoint: one IVSHMEM "endpoint" API that is the same in a guest (PCI
 *                device), on the host (a file, or a peer of an ivshmem server)
 *                and through the ivshmem broker daemon: shared memory, own peer
 *                ID, doorbells (ring), interrupts (one pollable fd per vector).
 *   3. Channel:  message queues inside the shared memory (see ivshmem_chan_*).
 *
 * Conventions
 *   - Every handle is opaque.  Destructors accept NULL and return NULL.
 *   - Functions return 0 (or a non-negative count) on success and a negative
 *     errno value on failure.  Output parameters are untouched on failure,
 *     except the data buffers of ivshmem_pci_config_read and
 *     ivshmem_pci_bar_read, which (like read(2)) may hold part of the data.
 *   - Errors: each call lists its own.  Besides those, any call that
 *     allocates may give -ENOMEM, and any call on a server: or daemon:
 *     endpoint that talks to it may give -ECONNRESET (it went away),
 *     -ETIMEDOUT (no answer within the open's ready_timeout_ms) and -EPROTO
 *     (it spoke garbage).
 *   - The library never prints, never exits, and opens every fd O_CLOEXEC.
 *   - Threads: an endpoint may be shared by threads.  Every endpoint call
 *     may be made from several threads at once, except ivshmem_open and
 *     ivshmem_close (nothing else may run on that endpoint meanwhile);
 *     requests to a daemon and reads of the control socket are serialised
 *     inside (a thread's doorbell may wait for another's request).  Two
 *     threads acking one vector share its count.  A channel or topic
 *     handle belongs to one thread at a time: a producer thread and a
 *     consumer thread each with its own handle on one endpoint is fine.  PCI device
 *     handles (ivshmem_pci_*) and what an endpoint returns from
 *     ivshmem_pci() are not thread-safe: lock around them.  Functions that
 *     take no handle are thread-safe.
 *   - Stability: pre-1.0; the API may change between minor versions (see
 *     Versions below: the soname and the symbol versions say which).
 */
#ifndef IVSHMEM_H
#define IVSHMEM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(IVSHMEM_BUILDING) && defined(__GNUC__)
#define IVSHMEM_API __attribute__((visibility("default")))
#else
#define IVSHMEM_API
#endif

#define IVSHMEM_VENDOR_ID 0x1af4
#define IVSHMEM_DEVICE_ID 0x1110

/* BAR indices of the IVSHMEM device. */
#define IVSHMEM_BAR_REGS 0 /* registers, 256 bytes */
#define IVSHMEM_BAR_MSIX 1 /* MSI-X table (doorbell device only) */
#define IVSHMEM_BAR_SHM 2  /* shared memory */

/* Register offsets in BAR0 (QEMU docs/specs/ivshmem-spec.rst). */
#define IVSHMEM_REG_INTR_MASK 0
#define IVSHMEM_REG_INTR_STATUS 4
#define IVSHMEM_REG_IV_POSITION 8
#define IVSHMEM_REG_DOORBELL 12

#define IVSHMEM_MAX_PEERS 65536 /* peer IDs are 16 bits */
#define IVSHMEM_MAX_VECTORS 64  /* QEMU's limit; its doorbell uses the low 8 bits */

/* Versions.  The header's own: */
#define IVSHMEM_VERSION_MAJOR 0
#define IVSHMEM_VERSION_MINOR 1
#define IVSHMEM_VERSION_PATCH 0
#define IVSHMEM_VERSION_HEX \
	((IVSHMEM_VERSION_MAJOR << 16) | (IVSHMEM_VERSION_MINOR << 8) | IVSHMEM_VERSION_PATCH)
/* Compatibility.  Before 1.0 each minor version is its own API and ABI: the
 * shared library's soname carries it (libivshmem.so.0.1), and its symbols
 * are versioned IVSHMEM_0.1.  From 1.0 on, the soname is the major version
 * and minor versions only add.  Patch versions never change the API. */
/* The library's version (the one running), "MAJOR.MINOR.PATCH" and as
 * IVSHMEM_VERSION_HEX.  Any thread. */
const char *ivshmem_version(void) IVSHMEM_API;
unsigned ivshmem_version_hex(void) IVSHMEM_API;
/* Does this library serve a program built against the header whose
 * IVSHMEM_VERSION_HEX is header_hex?  0 yes, -ENOTSUP no (another major
 * version; before 1.0 another minor; from 1.0 a newer minor).  Call it
 * as ivshmem_version_check(IVSHMEM_VERSION_HEX).  Any thread. */
int ivshmem_version_check(unsigned header_hex) IVSHMEM_API;

/* ------------------------------------------------------------------------ */
/* Utilities shared by tools and applications                               */
/* ------------------------------------------------------------------------ */

/* Parse "4096", "0x1000", "4K", "16M", "1G", "4KiB" (binary multiples).
 * Decimal unless "0x" (a leading 0 is not octal); no blanks, no sign.
 * Returns 0, -EINVAL (not a number), or -ERANGE (overflows 64 bits). */
int ivshmem_parse_size(const char *s, uint64_t *out) IVSHMEM_API;

/* ------------------------------------------------------------------------ */
/* PCI layer                                                                 */
/* ------------------------------------------------------------------------ */

typedef struct ivshmem_pci_dev ivshmem_pci_dev;

#define IVSHMEM_PCI_ADDR_LEN 16 /* "dddd:bb:dd.f" + NUL */

struct ivshmem_pci_info {
	char addr[IVSHMEM_PCI_ADDR_LEN]; /* canonical "0000:00:04.0" */
	uint16_t vendor, device;
	uint16_t subsystem_vendor, subsystem_device;
	uint32_t class_code; /* 24 bits */
	uint8_t revision;
	char driver[64];  /* bound driver, "" if none */
	int iommu_group;  /* -1 if none */
	uint32_t reserved[4]; /* 0: room to grow */
};

/* Canonicalise a PCI address ("4.0", "00:04.0", "0000:00:04.0") into out
 * (IVSHMEM_PCI_ADDR_LEN bytes).  Returns 0 or -EINVAL. */
int ivshmem_pci_addr_parse(const char *s, char out[IVSHMEM_PCI_ADDR_LEN]) IVSHMEM_API;

/* The PCI calls below find devices under /sys.  The environment variable
 * IVSHMEM_SYSFS_ROOT, when set to an absolute path, replaces /sys (a tree
 * with the same layout: bus/pci/devices/ADDR/..., for tests or a sysfs
 * mounted elsewhere).  It is read at each scan, lookup, open and bind, and
 * ignored in set-uid and other elevated programs (secure_getenv). */

/* Enumerate PCI devices, keeping those whose vendor/device match (0xffff =
 * any).  Fills up to max entries sorted by address; returns the total number
 * of matches (may exceed max) or -errno. */
int ivshmem_pci_scan(uint16_t vendor, uint16_t device, struct ivshmem_pci_info *out,
		     size_t max) IVSHMEM_API;

/* Read one device's identity.  -ENOENT if there is no such device, -EINVAL
 * for a bad address or a malformed identity file, -EACCES. */
int ivshmem_pci_lookup(const char *addr, struct ivshmem_pci_info *out) IVSHMEM_API;

enum ivshmem_backend {
	IVSHMEM_BACKEND_AUTO = 0, /* vfio if bound to vfio-pci, else sysfs */
	IVSHMEM_BACKEND_VFIO,
	IVSHMEM_BACKEND_SYSFS,
	IVSHMEM_BACKEND_FILE, /* a shared-memory file presented as BAR2 */
};
const char *ivshmem_backend_name(enum ivshmem_backend b) IVSHMEM_API;
/* "vfio", "sysfs", "file", "auto" -> value; -EINVAL otherwise.  Any thread. */
int ivshmem_backend_parse(const char *s) IVSHMEM_API;

enum ivshmem_cache {
	IVSHMEM_CACHE_DEFAULT = 0, /* backend's best: wc if prefetchable, else uc */
	IVSHMEM_CACHE_UC,	   /* uncached */
	IVSHMEM_CACHE_WC,	   /* write-combining */
	IVSHMEM_CACHE_WB,	   /* write-back (cached) */
};
const char *ivshmem_cache_name(enum ivshmem_cache c) IVSHMEM_API;
/* "default", "uc", "wc", "wb" -> value; -EINVAL otherwise.  Any thread. */
int ivshmem_cache_parse(const char *s) IVSHMEM_API;

/* Open a PCI device with a backend.  For IVSHMEM_BACKEND_FILE, addr is a file
 * path and the device has a single memory BAR (2) covering the file.
 * Errors: -ENOENT (no such device/file), -EACCES/-EPERM (needs root),
 * -EINVAL (bad address), -ENODEV (backend not usable for this device, e.g.
 * not bound to vfio-pci), -ENXIO (vfio: no IOMMU group), -EBUSY (vfio: the
 * group is in use or not viable), -ENOTSUP (vfio: an IOMMU model or API
 * this kernel lacks), -ENODATA (file: empty), -EISDIR.  A device without
 * resource files opens; mapping its BARs then gives -ENOTSUP. */
int ivshmem_pci_open(const char *addr, enum ivshmem_backend backend,
		     ivshmem_pci_dev **out) IVSHMEM_API;
ivshmem_pci_dev *ivshmem_pci_close(ivshmem_pci_dev *dev) IVSHMEM_API;
enum ivshmem_backend ivshmem_pci_backend(const ivshmem_pci_dev *dev) IVSHMEM_API;
const char *ivshmem_pci_addr(const ivshmem_pci_dev *dev) IVSHMEM_API;

/* Config space.  Returns bytes transferred or -errno: -ENOTSUP (file),
 * -ERANGE (outside config space), -ENOENT (no config file), -EACCES
 * (read-only, or needs root), -EIO. */
int ivshmem_pci_config_read(ivshmem_pci_dev *dev, unsigned off, void *buf, size_t len) IVSHMEM_API;
int ivshmem_pci_config_write(ivshmem_pci_dev *dev, unsigned off, const void *buf, size_t len) IVSHMEM_API;

#define IVSHMEM_BAR_F_PRESENT (1u << 0)
#define IVSHMEM_BAR_F_IO (1u << 1) /* I/O port BAR, else memory */
#define IVSHMEM_BAR_F_64BIT (1u << 2)
#define IVSHMEM_BAR_F_PREFETCH (1u << 3)
#define IVSHMEM_BAR_F_MMAP (1u << 4) /* this backend can map it */

struct ivshmem_bar_info {
	unsigned index;
	uint32_t flags;
	uint64_t size;
	uint64_t bus_addr; /* 0 if unknown */
	uint32_t reserved[4]; /* 0: room to grow */
};
/* BAR 0..5.  A missing BAR gives 0 with flags == 0. -EINVAL for bad index. */
int ivshmem_pci_bar_info(ivshmem_pci_dev *dev, unsigned bar, struct ivshmem_bar_info *out) IVSHMEM_API;

#define IVSHMEM_PCI_ENABLE_MEMORY (1u << 0)
#define IVSHMEM_PCI_ENABLE_BUSMASTER (1u << 1)
/* Set Memory Space and/or Bus Master in the command register.  Errors as
 * for config_read/config_write; -EIO on a short read of the register. */
int ivshmem_pci_enable(ivshmem_pci_dev *dev, unsigned what) IVSHMEM_API;

#define IVSHMEM_MAP_READONLY (1u << 0)
/* Map [off, off+len) of a BAR.  len 0 = to the end of the BAR.  *got receives
 * the cache mode obtained.  -ENOENT if there is no such BAR, -ERANGE if
 * outside the BAR, -ENOTSUP if the mode (or any mapping) can't be had with
 * this backend, -EACCES for a writable mapping of read-only memory, -EFBIG
 * if the range doesn't fit in size_t. */
int ivshmem_pci_map(ivshmem_pci_dev *dev, unsigned bar, uint64_t off, size_t len,
		    enum ivshmem_cache want, unsigned flags, void **addr,
		    enum ivshmem_cache *got) IVSHMEM_API;
int ivshmem_pci_unmap(ivshmem_pci_dev *dev, void *addr, size_t len) IVSHMEM_API;

/* Access [off, off+len) of a BAR without mapping it (IOPCIDevice's
 * MemoryRead32/MemoryWrite32): for registers in a BAR the backend can't map,
 * e.g. a sub-page BAR0 that vfio-pci won't mmap.  A naturally aligned access
 * of 1, 2, 4 or 8 bytes is one access of that width (vfio: 8 bytes only on
 * kernels with 64-bit BAR access, else two of 4); other ranges are split into
 * the widest aligned accesses.  Per backend:
 *   vfio   pread/pwrite on the device fd (any BAR vfio exposes, mappable or
 *          not; reads of the MSI-X table give ~0, writes to it are dropped)
 *   sysfs  a temporary mapping of resourceN (it supports mmap only) per
 *          call: works where ivshmem_pci_map does, -ENOTSUP where it doesn't
 *          (no resource files, I/O BARs)
 *   file   pread/pwrite on the file (BAR2)
 * len is 1..INT_MAX.  Returns bytes transferred (len, or fewer if a file
 * shrank) or -errno: -EINVAL bad arguments, -ENOENT no such BAR, -ERANGE
 * outside the BAR, -ENOTSUP the backend can't, -EACCES read-only, -EIO a
 * short access. */
int ivshmem_pci_bar_read(ivshmem_pci_dev *dev, unsigned bar, uint64_t off, void *buf,
			 size_t len) IVSHMEM_API;
int ivshmem_pci_bar_write(ivshmem_pci_dev *dev, unsigned bar, uint64_t off, const void *buf,
			  size_t len) IVSHMEM_API;

/* MSI-X: number of vectors the device has (0 if none), or -errno as for
 * config_read (-ENOENT: no config space to read it from). */
int ivshmem_pci_msix_count(ivshmem_pci_dev *dev) IVSHMEM_API;
/* Route vectors 0..n-1 to new eventfds (VFIO only, -ENOTSUP otherwise).
 * fds[] receives n eventfds owned by dev (closed by ivshmem_pci_close).
 * -EINVAL if n is 0 or above the count (-ENOTSUP: no MSI-X at all),
 * -EBUSY if already enabled. */
int ivshmem_pci_msix_enable(ivshmem_pci_dev *dev, unsigned n, int *fds) IVSHMEM_API;

/* Bind a device to driver (NULL = "vfio-pci") through driver_override.
 * -ENOENT no device, -EINVAL bad address or driver name, -ENODEV driver
 * module not loaded, -EACCES/-EPERM needs root, -ENXIO device has no IOMMU
 * group (vfio-pci needs one), -ENOTSUP no driver_override (old kernel),
 * -EIO the device did not end up on the driver. */
int ivshmem_pci_bind(const char *addr, const char *driver) IVSHMEM_API;

/* ------------------------------------------------------------------------ */
/* Endpoint layer                                                            */
/* ------------------------------------------------------------------------ */

typedef struct ivshmem_ep ivshmem_ep;

#define IVSHMEM_OPEN_READONLY (1u << 0) /* map the shared memory read-only */
#define IVSHMEM_OPEN_NO_IRQ (1u << 1)	/* don't set up interrupt delivery */
/* PCI and file endpoints: don't map the shared memory (ivshmem_mem() is NULL,
 * the size is still known; the layout and channel calls give -ENOTSUP).  For brokers that hand BAR2 to others through sysfs: once
 * vfio-pci maps a BAR it claims it, and the kernel then refuses sysfs
 * mappings of that BAR (CONFIG_IO_STRICT_DEVMEM). */
#define IVSHMEM_OPEN_NO_MAP (1u << 2)
/* Daemon endpoints: receive the interrupts directly and alone.  The daemon
 * hands over its device's own vector fds (CLAIM, docs/daemon-protocol.md),
 * so it is out of the interrupt path while this endpoint is open, and no
 * other client of it receives those vectors (they get -EBUSY, as does this
 * open if another client receives one).  -EACCES if the daemon's policy
 * doesn't grant direct interrupts.  Other kinds receive directly already
 * and ignore the flag; with IVSHMEM_OPEN_NO_IRQ it does nothing. */
#define IVSHMEM_OPEN_EXCLUSIVE_IRQ (1u << 3)

struct ivshmem_open_opts {
	enum ivshmem_backend backend; /* PCI and file endpoints */
	enum ivshmem_cache cache;     /* PCI and file endpoints (file: wb) */
	unsigned flags;		      /* IVSHMEM_OPEN_* */
	int ready_timeout_ms;	      /* wait for IVPosition / server / daemon (and, for
					 * daemon endpoints, each request); <= 0 = 5000 */
	/* Room to grow: must be 0 (-EINVAL otherwise), so that a later version
	 * can give these bytes a meaning: initialise the struct with = {...}
	 * or memset. */
	uint32_t reserved[8];
};

/* Open an endpoint.  spec is one of
 *   "0000:00:04.0"   an IVSHMEM PCI device (backend vfio or sysfs)
 *   "auto"           the only IVSHMEM PCI device (-ENODEV none, -EBUSY several)
 *   "file:PATH"      an existing file (e.g. /dev/shm/NAME) as shared memory
 *   "server:SOCKET"  a peer of an ivshmem server (QEMU's protocol)
 *   "daemon:SOCKET"  a client of ivshmem daemon
 * opts may be NULL.  Errors: -EINVAL (bad spec, options or flags), -ENOENT,
 * -EACCES, -ENODEV (not an IVSHMEM device, or none for "auto"), -EBUSY
 * ("auto" with several devices; a daemon started --exclusive that serves
 * another client; a VFIO group in use), -EPROTO (the server or daemon
 * spoke garbage), -EPROTONOSUPPORT (a daemon of another protocol version),
 * -ETIMEDOUT, -ECONNREFUSED (nothing listens on the socket), -ECONNRESET
 * (closed during the open), -EUSERS (the server or daemon is full),
 * -ENOTSUP (a cache mode the backend lacks), -ENODATA (an empty file),
 * -EISDIR, and the PCI errors of ivshmem_pci_open. */
int ivshmem_open(const char *spec, const struct ivshmem_open_opts *opts, ivshmem_ep **out) IVSHMEM_API;
ivshmem_ep *ivshmem_close(ivshmem_ep *ep) IVSHMEM_API;

/* "pci", "file", "server", "daemon". */
const char *ivshmem_kind(const ivshmem_ep *ep) IVSHMEM_API;
void *ivshmem_mem(const ivshmem_ep *ep) IVSHMEM_API;
size_t ivshmem_mem_size(const ivshmem_ep *ep) IVSHMEM_API;
int ivshmem_mem_readonly(const ivshmem_ep *ep) IVSHMEM_API;
/* Own peer ID (0..65535), or -ENODATA when the endpoint has none (file,
 * plain device). */
int ivshmem_id(const ivshmem_ep *ep) IVSHMEM_API;
/* Number of interrupt vectors of the endpoint (0 if none).  Receiving them
 * also needs vfio (a PCI device), or a server or daemon endpoint, and no
 * IVSHMEM_OPEN_NO_IRQ: ivshmem_vector_fd() says (-ENOTSUP). */
int ivshmem_vectors(const ivshmem_ep *ep) IVSHMEM_API;
/* The PCI device behind a "pci" or "file" endpoint (for a file: the file
 * backend, BAR2 only), NULL for server and daemon endpoints. */
ivshmem_pci_dev *ivshmem_pci(const ivshmem_ep *ep) IVSHMEM_API;
/* Cache mode of the shared-memory mapping. */
enum ivshmem_cache ivshmem_mem_cache(const ivshmem_ep *ep) IVSHMEM_API;

/* Ring a peer's doorbell.  -ENOTSUP if the endpoint can't ring, -EINVAL if
 * peer/vector out of range, -ENOENT if the peer is known to be absent (a
 * guest can't know: the device drops doorbells to missing peers).  Daemon
 * endpoints also: -EACCES (the daemon's policy doesn't let this user ring),
 * -ECONNRESET (the daemon went away), -ETIMEDOUT (it didn't answer within
 * the open's ready_timeout_ms), -EPROTO (it answered garbage). */
int ivshmem_ring(ivshmem_ep *ep, unsigned peer, unsigned vector) IVSHMEM_API;

/* Pollable fd (POLLIN) for a vector, or -ENOTSUP (cannot receive interrupts,
 * e.g. sysfs backend: use vfio) / -EINVAL.  Owned by ep. */
int ivshmem_vector_fd(ivshmem_ep *ep, unsigned vector) IVSHMEM_API;
/* Consume pending interrupts of a vector: returns the count (0 if none), or
 * the errors of ivshmem_vector_fd.  Never sleeps.  Daemon endpoints that
 * subscribed (no IVSHMEM_OPEN_EXCLUSIVE_IRQ) count the daemon's relays of
 * the vector (one may stand for several of the device's, at most 4096 are
 * kept), and return -ECONNRESET once the daemon has gone (the fd then
 * stays quiet). */
int ivshmem_vector_ack(ivshmem_ep *ep, unsigned vector) IVSHMEM_API;
/* Wait for an interrupt on a vector and consume it.  timeout_ms < 0 waits
 * forever.  Returns the count (>= 1), -ETIMEDOUT, the errors of
 * ivshmem_vector_fd, -EPROTO (the server or daemon spoke garbage), or
 * -ECONNRESET when a daemon endpoint's daemon went away (its interrupts
 * stop with it).  A
 * server endpoint whose server went away keeps waiting: the eventfds are
 * the peers' own, so the peers that had been told of this endpoint can
 * still ring it (no new peer can come).  IVSHMEM_EVENT_DISCONNECT tells:
 * to notice it while waiting, poll ivshmem_event_fd() beside
 * ivshmem_vector_fd() and read ivshmem_next_event(). */
int ivshmem_wait(ivshmem_ep *ep, unsigned vector, int timeout_ms) IVSHMEM_API;

/* Peers (server and daemon endpoints). */
struct ivshmem_peer {
	uint16_t id;
	uint16_t vectors;
};
/* Fill up to max peers (other than self); returns the number of peers, or
 * -ENOTSUP if the endpoint doesn't know its peers, -EINVAL (out NULL with
 * max > 0); daemon endpoints also the errors of talking to it (above).
 *   server  the peers as far as this endpoint has read its socket, each
 *           from its first announced vector on.  When ivshmem_open()
 *           returns, the list has every peer the open read of, including
 *           those that joined while it opened; what changes later comes as
 *           events (ivshmem_next_event()): that list plus the events name
 *           each peer once.  After a long time without
 *           ivshmem_next_event(), the server may still hold announcements
 *           for it (read events until none comes for a while for a current
 *           list).
 *   daemon  asks the daemon: its list now. */
int ivshmem_peers(ivshmem_ep *ep, struct ivshmem_peer *out, size_t max) IVSHMEM_API;

enum ivshmem_event_type {
	IVSHMEM_EVENT_PEER_JOIN = 1,  /* a peer came (see ivshmem_next_event) */
	IVSHMEM_EVENT_PEER_LEAVE = 2, /* a peer went; .vectors: how many it had */
	/* The server/daemon went away; no event follows.  Server endpoints:
	 * doorbells to and from the peers known still work.  Daemon
	 * endpoints: interrupts stopped (ivshmem_wait() gives -ECONNRESET). */
	IVSHMEM_EVENT_DISCONNECT = 3,
};
struct ivshmem_event {
	enum ivshmem_event_type type;
	uint16_t peer;
	uint16_t vectors;
};
/* Control fd to poll (POLLIN) for peer events, or -ENOTSUP. */
int ivshmem_event_fd(ivshmem_ep *ep) IVSHMEM_API;
/* Process the control fd without blocking; returns 1 and fills *ev when an
 * event is available, 0 if none, -ENOTSUP (pci and file endpoints: no
 * control socket), -EPROTO (garbage on it), -errno.
 * Server endpoints report changes since ivshmem_open() returned, each
 * peer once: PEER_JOIN for a peer ivshmem_peers() did not list then, once
 * it has as many vectors as this endpoint (on its first with 0), never for
 * one it listed (a peer that joined while the endpoint opened is listed,
 * not reported; one that joined and left meanwhile is neither); PEER_LEAVE
 * for any peer it knew that leaves (also one that left before its JOIN
 * came, i.e. before all its vectors arrived).  Daemon endpoints pass on the
 * daemon's notices: a JOIN may name a peer an earlier ivshmem_peers()
 * already listed. */
int ivshmem_next_event(ivshmem_ep *ep, struct ivshmem_event *ev) IVSHMEM_API;

/* ------------------------------------------------------------------------ */
/* Channels: see docs/channels.md                                            */
/* ------------------------------------------------------------------------ */

typedef struct ivshmem_chan ivshmem_chan;

/* A channel is a named single-producer single-consumer queue of messages
 * (0..max_msg bytes each) inside the shared memory.  The region starts with
 * a self-describing header and a table of channels; peers find channels by
 * name.  The other side is untrusted: a corrupt or malicious header gives
 * -EPROTO, a corrupt queue -EBADMSG (sticky for the handle), never a crash,
 * an access outside the region, or an endless wait.
 *
 * Several producers: give each its own channel ("log.0", "log.1", ...) and
 * let the consumer serve them all (ivshmem_chan_arm + one vector, below).
 *
 * Liveness errors (see docs/channels.md):
 *   -EPIPE       the peer detached (after the queue is drained, for recv);
 *                only when the layout, the channel and the peer's attach
 *                state are all valid and say so (else -EPROTO)
 *   -EOWNERDEAD  the peer died without detaching (found while waiting: its
 *                process is gone, or its server no longer lists it); it was
 *                detached on its behalf, the next call gives -EPIPE
 *   -ECONNRESET  the peer restarted (new attach without detach): reported
 *                once, nothing was done, the next call proceeds
 *   -ESTALE      (sticky) this handle was taken over by a new attach of its
 *                role, or the region was re-formatted: close it
 * Corruption: -EPROTO (layout or attach state: e.g. an epoch that moved
 * backwards), -EBADMSG (the queue), both sticky. */

/* Format the region: header + empty table.  Destroys every channel; open
 * handles see -ESTALE.  -EROFS (read-only mapping), -ENOSPC (region
 * smaller than 8 KiB), -ENOTSUP (the endpoint doesn't map the memory). */
int ivshmem_layout_init(ivshmem_ep *ep) IVSHMEM_API;

/* Create channel `name` (1..31 bytes, no NUL) with a ring of `size` bytes
 * (0 = 1 MiB, or the largest power of two <= a quarter of the region when
 * that is smaller; rounded up to a power of two, at least 256) for messages of up
 * to `max_msg` bytes (0 = min(64 KiB, ring/2 - 8); at most ring/2 - 8).  An
 * all-zero region is formatted first.  Creating does not attach.
 * Errors: -EEXIST, -ENOSPC (region or table full), -EINVAL, -EPROTO (the
 * region holds something that is not a channel layout: see
 * ivshmem_layout_init), -ETIMEDOUT (another creator holds the lock), -EROFS,
 * -ENOTSUP (the endpoint doesn't map the memory). */
int ivshmem_chan_create(ivshmem_ep *ep, const char *name, size_t size, size_t max_msg) IVSHMEM_API;

/* Delete channel or topic `name`: its table entry is freed and its space can be
 * reused by a later create of an equal or smaller block (the new channel
 * takes the whole freed extent; free neighbours merge; freed space at the
 * end of the allocated area returns to the allocator; nothing is moved or
 * compacted).  Refused while a producer or consumer (for a topic: the
 * publisher or any subscriber) is attached and alive
 * (a side whose process is known to be dead is detached first, as a
 * waiting peer would).  Handles still open on the channel (monitors, a side
 * judged dead) get -ESTALE.  Errors: -ENOENT (no such channel), -EBUSY
 * (attached), -EPROTO, -EROFS, -EINVAL, -ETIMEDOUT (another creator holds
 * the lock), -ENOTSUP (the endpoint doesn't map the memory). */
int ivshmem_chan_delete(ivshmem_ep *ep, const char *name) IVSHMEM_API;

/* One channel of a region, as its table says. */
struct ivshmem_chan_info {
	char name[32];	    /* NUL-terminated */
	uint64_t offset;    /* of the channel's block in the region */
	uint64_t ring_size; /* bytes */
	uint32_t max_msg;   /* bytes */
	uint32_t kind;	    /* IVSHMEM_KIND_CHANNEL or IVSHMEM_KIND_TOPIC */
	uint32_t reserved[6]; /* 0: room to grow */
};
#define IVSHMEM_KIND_CHANNEL 0
#define IVSHMEM_KIND_TOPIC 1
/* List the channels and topics of ep's region in table order: fills up to max infos
 * and returns how many entries there are (more than max: call again with
 * room for all), 0 for a region not formatted yet (all zero).  A snapshot
 * of shared memory another party may change meanwhile.  Errors: -EINVAL,
 * -ENOTSUP (the endpoint doesn't map the memory), -EPROTO (the region
 * holds something that is not a channel layout), -ENOMEM; out is
 * untouched on failure.  Any thread. */
int ivshmem_chan_list(ivshmem_ep *ep, struct ivshmem_chan_info *out, size_t max) IVSHMEM_API;

enum ivshmem_chan_role {
	IVSHMEM_CHAN_MONITOR = 0,  /* attach to nothing: ivshmem_chan_stat only */
	IVSHMEM_CHAN_PRODUCER = 1,
	IVSHMEM_CHAN_CONSUMER = 2,
};

#define IVSHMEM_CHAN_EXCLUSIVE (1u << 0) /* -EBUSY if the role is attached,
					    instead of taking it over */
#define IVSHMEM_CHAN_NO_FUTEX (1u << 1)	 /* don't sleep/wake on a futex even
					    when both sides share a host */

struct ivshmem_chan_opts {
	unsigned flags;	 /* IVSHMEM_CHAN_* */
	unsigned vector; /* vector this side sleeps on (doorbell endpoints) */
	int spin_us;	 /* spin before sleeping: 0 = default (20 us, adapting up to 16x
			    when wakeups come right after sleeping), < 0 = none */
	uint32_t reserved[4]; /* must be 0 (-EINVAL otherwise): room to grow */
};

/* Attach to channel `name` in a role (opts may be NULL).  A role already
 * attached is taken over (the old handle gets -ESTALE): that is how a
 * restarted process resumes.  The producer resumes at the published tail
 * (an uncommitted reservation of a dead producer is dropped); the consumer
 * at the released head (a message peeked but not released is delivered
 * again).  Errors: -ENOENT (no such channel, or no layout), -EPROTO,
 * -EPROTOTYPE (the name is a topic), -EBADMSG, -EBUSY
 * (IVSHMEM_CHAN_EXCLUSIVE), -EROFS, -EINVAL, -ENOMEM,
 * -ENOTSUP (the endpoint doesn't map the memory). */
int ivshmem_chan_open(ivshmem_ep *ep, const char *name, enum ivshmem_chan_role role,
		      const struct ivshmem_chan_opts *opts, ivshmem_chan **out) IVSHMEM_API;
/* Detach (the peer sees -EPIPE) and free.  Returns NULL.  The endpoint must
 * outlive its channels. */
ivshmem_chan *ivshmem_chan_close(ivshmem_chan *ch) IVSHMEM_API;

/* timeout_ms: 0 = don't wait (-EAGAIN), < 0 = wait forever (still ends with
 * -EPIPE/-ECONNRESET when the peer goes), > 0 = at most that long
 * (-ETIMEDOUT), an absolute deadline nothing the peer does extends.  A call
 * that returns -ECONNRESET early leaves the rest of the time to the
 * caller: retry with what remains, not with the whole timeout again.  Waiting spins briefly, then sleeps: on the doorbell vector
 * when the peer can ring it, on a futex when both sides share a host,
 * otherwise in a bounded sleep/poll loop. */

/* Copy one message in.  Returns 0, -EMSGSIZE (len > max_msg), -EAGAIN,
 * -ETIMEDOUT, -EPIPE (no consumer any more), -EOWNERDEAD, -ECONNRESET,
 * -EBADMSG, -EPROTO, -ESTALE, -EPERM (not the producer). */
int ivshmem_chan_send(ivshmem_chan *ch, const void *buf, size_t len, int timeout_ms) IVSHMEM_API;
/* Copy the next message out.  Returns its length, -EMSGSIZE (cap too small:
 * the message stays queued; ivshmem_chan_peek tells its size), -EAGAIN,
 * -ETIMEDOUT, -EPIPE (the producer detached and the queue is empty),
 * -EOWNERDEAD, -ECONNRESET, -EBADMSG, -EPROTO, -ESTALE, -EPERM (not the
 * consumer). */
ssize_t ivshmem_chan_recv(ivshmem_chan *ch, void *buf, size_t cap, int timeout_ms) IVSHMEM_API;

/* Zero copy, producer: reserve room for up to len bytes, write them at
 * *ptr, then commit the bytes actually written (<= len).  Errors as for
 * send.  A new reserve or a close drops an uncommitted reservation;
 * commit without a reservation, or with len above it, is -EINVAL. */
int ivshmem_chan_reserve(ivshmem_chan *ch, size_t len, void **ptr, int timeout_ms) IVSHMEM_API;
int ivshmem_chan_commit(ivshmem_chan *ch, size_t len) IVSHMEM_API;
/* Zero copy, consumer: point *ptr at the next message (returns its length)
 * and keep it until ivshmem_chan_release.  The bytes are in shared memory:
 * a hostile producer may change them while you read; copy what you
 * validate.  Errors as for recv.  Peeking again without release returns the
 * same message.  Release: 0, -EINVAL (nothing peeked), -EPERM (not the
 * consumer), or the handle's sticky error (-ESTALE, -EPROTO, -EBADMSG). */
ssize_t ivshmem_chan_peek(ivshmem_chan *ch, const void **ptr, int timeout_ms) IVSHMEM_API;
int ivshmem_chan_release(ivshmem_chan *ch) IVSHMEM_API;

/* Batches: several messages for one publication of the index (and at most
 * one wakeup), for streams of small messages (docs/channels.md,
 * "Batches").  Each waits as the one-message call does for the first
 * message (or the room for it), then takes what is there without waiting,
 * and returns how many messages it moved (>= 1) or the one-message call's
 * error (nothing moved); n == 0, n > INT_MAX or msgs NULL: -EINVAL.  A
 * corrupt record met after the first ends the batch; the next call
 * reports it.
 *
 * send_batch: msgs[i].data, .len (cap unused).  Arguments are checked
 * before anything is sent: -EINVAL (data NULL with len), -EMSGSIZE (any
 * len > max_msg).  Returns how many of msgs[0..n) went, in order; send
 * the rest again.
 * recv_batch: msgs[i].data holds msgs[i].cap bytes (-EINVAL: data NULL
 * with cap); .len is set to each message's length.  A message longer than
 * its buffer ends the batch before it (the first: -EMSGSIZE, it stays
 * queued).
 * peek_batch: sets msgs[i].data to each message in shared memory (read
 * it as ivshmem_chan_peek's) and .len to its length; ivshmem_chan_release
 * releases all of them.  The batch calls begin at the released head:
 * messages peeked before are returned again.  A single peek or recv after
 * it takes the first message only (a release then releases that one).
 * commit_more: commit, but leave the record unpublished: the next commit,
 * send or send_batch, flush, a reserve that finds the ring full, arm, or
 * close publishes it with the others (a producer that dies before that
 * loses them, as an uncommitted reservation; stat's messages and bytes
 * count them at commit).  flush: publish now: 0, -EINVAL (NULL), -EPERM,
 * or the handle's sticky error.  A peer restart met by commit,
 * commit_more, flush or release does not stop them: the next call that
 * has done nothing returns -ECONNRESET (once).  A handle belongs to one
 * thread at a time (as for every channel call). */
struct ivshmem_chan_msg {
	void *data;
	size_t cap; /* recv_batch: bytes data holds */
	size_t len;
};
int ivshmem_chan_send_batch(ivshmem_chan *ch, const struct ivshmem_chan_msg *msgs, size_t n,
			    int timeout_ms) IVSHMEM_API;
ssize_t ivshmem_chan_recv_batch(ivshmem_chan *ch, struct ivshmem_chan_msg *msgs, size_t n,
				int timeout_ms) IVSHMEM_API;
ssize_t ivshmem_chan_peek_batch(ivshmem_chan *ch, struct ivshmem_chan_msg *msgs, size_t n,
				int timeout_ms) IVSHMEM_API;
int ivshmem_chan_commit_more(ivshmem_chan *ch, size_t len) IVSHMEM_API;
int ivshmem_chan_flush(ivshmem_chan *ch) IVSHMEM_API;

/* Several channels on one vector: for each consumer channel, arm it (returns
 * 1 if a message is already there: don't sleep; 0 when armed, the producer
 * will ring), then sleep on ivshmem_chan_fd / ivshmem_wait, then recv with
 * timeout 0.  Right after a takeover of the producer's or our role, the
 * producer rings from its next call on (docs/channels.md, "Skipping the
 * fence"): sleep with a timeout.  Arm's errors: those of recv (liveness,
 * corruption), -EPERM (a monitor), and the membarrier's if the kernel
 * refuses it after it was registered (seccomp).  ivshmem_chan_fd: the pollable fd this handle
 * sleeps on, or -ENOTSUP (no doorbell from the peer: poll with a timeout). */
int ivshmem_chan_arm(ivshmem_chan *ch) IVSHMEM_API;
int ivshmem_chan_fd(ivshmem_chan *ch) IVSHMEM_API;

#define IVSHMEM_CHAN_WAKE_NONE 0
#define IVSHMEM_CHAN_WAKE_POLL 1     /* bounded sleep/poll loop */
#define IVSHMEM_CHAN_WAKE_FUTEX 2    /* futex on the shared mapping */
#define IVSHMEM_CHAN_WAKE_DOORBELL 3 /* the peer rings our vector */

struct ivshmem_chan_stat {
	char name[32];
	int role;		/* enum ivshmem_chan_role of this handle */
	uint64_t ring_size;	/* bytes */
	uint32_t max_msg;
	uint64_t used;		/* bytes queued (records incl. 8-byte headers) */
	uint64_t queued;	/* messages queued */
	uint64_t head, tail;	/* byte indices */
	uint64_t sent, received; /* messages ever published / consumed */
	int producer_attached, consumer_attached;
	int producer_id, consumer_id; /* peer IDs, -1 unknown */
	uint32_t producer_epoch, consumer_epoch;
	uint64_t producer_rings, consumer_rings;   /* wakeups sent, shared totals */
	uint64_t producer_sleeps, consumer_sleeps; /* shared totals */
	/* This handle: */
	uint64_t messages, bytes; /* sent or received */
	uint64_t rings;		  /* doorbells / futex wakes sent */
	uint64_t sleeps;	  /* times it slept waiting */
	uint64_t spins;		  /* waits that ended while spinning */
	int wake;		  /* IVSHMEM_CHAN_WAKE_* used to sleep */
	int fence_skipped;	  /* 1: a producer that commits without a fence
				     (it and its consumer are membarrier users
				     on one host; docs/channels.md) */
	uint64_t reserved[4];	  /* 0: room to grow */
};
/* Snapshot.  Shared values come from the (untrusted) peer: -EBADMSG if they
 * are inconsistent; -ESTALE (channel deleted, region re-formatted) and the
 * handle's sticky error otherwise.  *st is untouched on failure. */
int ivshmem_chan_stat(ivshmem_chan *ch, struct ivshmem_chan_stat *st) IVSHMEM_API;

/* ------------------------------------------------------------------------ */
/* Topics: see docs/topics.md                                                */
/* ------------------------------------------------------------------------ */

typedef struct ivshmem_topic ivshmem_topic;

/* A topic is a named one-to-many queue in the same layout as the channels
 * (ivshmem_chan_list lists it, kind IVSHMEM_KIND_TOPIC; ivshmem_chan_delete
 * deletes it): one publisher writes each message once into one ring, and
 * every subscriber (up to the number fixed at creation, at most 64) reads
 * the same bytes.  Each subscriber has its own cache lines (position,
 * epoch, wakeup word); the publisher reads them as untrusted.
 *
 * Mode IVSHMEM_TOPIC_LOSSLESS: the publisher waits for the slowest live
 * subscriber.  A subscriber that keeps the publisher waiting for the room
 * of one message for longer than the topic's stall timeout is evicted
 * (so is one whose state is garbage, or whose process on this host is
 * gone): the publisher goes on, and the evicted subscriber's next call
 * returns -ENOBUFS (as netlink's recv does for a listener that fell
 * behind).  Close it and open again to re-subscribe at the current tail.
 *
 * Mode IVSHMEM_TOPIC_LATEST: the publisher never waits.  It writes each
 * message into the next of a few buffers (ring bytes / (64 + max_msg
 * rounded up to 64)), each under a sequence lock; a subscriber takes the
 * newest complete message, checks the lock again after reading it, and
 * never returns a torn one.  It learns how many it skipped from
 * ivshmem_topic_last.  A subscriber whose mapping is read-only (or opened
 * with IVSHMEM_TOPIC_PASSIVE) takes no slot and writes nothing: it polls,
 * and any number of them can read.
 *
 * Errors besides the channels' (-EPIPE: the publisher detached and every
 * message is read; -EOWNERDEAD, -ECONNRESET: publisher died / restarted,
 * once; -ESTALE: deleted or re-formatted; -EPROTO, -EBADMSG: corruption;
 * see "Liveness errors" above):
 *   -ENOBUFS     (sticky) this subscriber was dropped: evicted, or the
 *                publisher overwrote messages it had not read (latest:
 *                its slot was taken from it, as from a dead process)
 *   -EUSERS      every subscriber slot is taken (open; latest: a passive
 *                subscriber needs none)
 *   -EPROTOTYPE  the name is a channel, not a topic (and the channel calls
 *                give it for a topic) */

enum ivshmem_topic_mode {
	IVSHMEM_TOPIC_LOSSLESS = 0,
	IVSHMEM_TOPIC_LATEST = 1,
};

#define IVSHMEM_TOPIC_MAX_SUBSCRIBERS 64

struct ivshmem_topic_config {
	size_t size;	      /* ring bytes: 0 = as ivshmem_chan_create; rounded up
				 to a power of two, 256 .. 16 GiB */
	size_t max_msg;	      /* lossless: 0 = min(64 KiB, ring/2 - 16); at most
				 ring/2 - 16.  latest: 0 = min(64 KiB, ring/4 - 64)
				 (64 for a 256-byte ring); at most what leaves
				 room for 2 buffers */
	unsigned subscribers; /* slots: 0 = 8; 1..IVSHMEM_TOPIC_MAX_SUBSCRIBERS */
	unsigned mode;	      /* enum ivshmem_topic_mode */
	unsigned stall_timeout_ms; /* lossless: 0 = 1000; at most 3600000.  latest: 0 */
	uint32_t reserved[5]; /* must be 0 (-EINVAL otherwise) */
};

/* Create topic `name` (1..31 bytes; cfg may be NULL for the defaults).  An
 * all-zero region is formatted first; creating does not attach.  Errors as
 * ivshmem_chan_create. */
int ivshmem_topic_create(ivshmem_ep *ep, const char *name, const struct ivshmem_topic_config *cfg) IVSHMEM_API;

enum ivshmem_topic_role {
	IVSHMEM_TOPIC_MONITOR = 0, /* attach to nothing: ivshmem_topic_stat only */
	IVSHMEM_TOPIC_PUBLISHER = 1,
	IVSHMEM_TOPIC_SUBSCRIBER = 2,
};

#define IVSHMEM_TOPIC_EXCLUSIVE (1u << 0)   /* publisher: -EBUSY if one is attached,
					       instead of taking over */
#define IVSHMEM_TOPIC_NO_FUTEX (1u << 1)    /* as IVSHMEM_CHAN_NO_FUTEX */
#define IVSHMEM_TOPIC_FROM_OLDEST (1u << 2) /* subscriber: start at the oldest
					       message still in the ring, not
					       at the tail (at the tail if no
					       record starts there); latest:
					       with the newest one published */
#define IVSHMEM_TOPIC_PASSIVE (1u << 3)	    /* latest subscriber: take no slot,
					       write nothing, poll (implied by
					       a read-only mapping; -EINVAL
					       for a lossless topic) */

struct ivshmem_topic_opts {
	unsigned flags;	 /* IVSHMEM_TOPIC_* */
	unsigned vector; /* vector this side sleeps on (doorbell endpoints) */
	int spin_us;	 /* as ivshmem_chan_opts */
	uint32_t reserved[4]; /* must be 0 */
};

/* Attach (opts may be NULL).  A publisher takes over an attached one (the
 * old handle gets -ESTALE; subscribers see -ECONNRESET once) and resumes at
 * the published tail.  A subscriber takes a free slot (or one whose process
 * on this host is gone) and starts at the tail, or at the oldest retained
 * message with IVSHMEM_TOPIC_FROM_OLDEST; it receives only messages
 * published after that point.  On a read-only mapping: a latest-mode
 * subscriber (passive), or -EROFS.  Errors: those of ivshmem_chan_open, -EUSERS,
 * -EPROTOTYPE, -EBUSY (the publisher's role changed hands 1000 times while
 * we tried), -EAGAIN (a subscriber could not find its start in 100 000
 * tries: the publisher raised its floor past it each time; -EBADMSG if the
 * published tail and floor didn't fit together most of those times;
 * latest: -EBADMSG if the published count is garbage, 2^62 or more).
 * Flags that don't apply to the role are ignored. */
int ivshmem_topic_open(ivshmem_ep *ep, const char *name, enum ivshmem_topic_role role,
		       const struct ivshmem_topic_opts *opts, ivshmem_topic **out) IVSHMEM_API;
/* Detach and free (a subscriber's slot becomes free; the publisher's
 * detach gives subscribers -EPIPE once they have read everything).
 * Returns NULL. */
ivshmem_topic *ivshmem_topic_close(ivshmem_topic *t) IVSHMEM_API;

/* Publisher.  timeout_ms as for channels.  Publish copies one message in;
 * reserve/commit is zero copy (as ivshmem_chan_reserve/commit).  With no
 * live subscriber a message is kept only while the ring has room: the
 * publisher never waits for nobody.  In latest mode it never waits at all
 * (timeout_ms is ignored): reserve claims the next buffer, whose readers
 * then see it torn.  Errors: -EMSGSIZE, -EAGAIN,
 * -ETIMEDOUT (a subscriber is within its stall timeout), -ESTALE (taken
 * over, deleted, re-formatted), -EPERM (not the publisher), -EINVAL. */
int ivshmem_topic_publish(ivshmem_topic *t, const void *buf, size_t len, int timeout_ms) IVSHMEM_API;
int ivshmem_topic_reserve(ivshmem_topic *t, size_t len, void **ptr, int timeout_ms) IVSHMEM_API;
int ivshmem_topic_commit(ivshmem_topic *t, size_t len) IVSHMEM_API;

/* Subscriber: receive copies the next message out (its length; -EMSGSIZE
 * if cap is too small, the message stays); peek points *ptr at it in the
 * ring until release (zero copy: another party may change the bytes, copy
 * what you validate).  A release (or a receive) also checks that the
 * publisher had not overwritten the message meanwhile: -ENOBUFS if it had
 * (lossless: sticky); in latest mode -EAGAIN (the message was overwritten
 * while held: discard what was read, peek again for the newest; receive
 * does so itself, and gives -EAGAIN only after 1000 such tries in a row;
 * peek and receive give it too when the publisher overtook each of 64
 * looks for the newest message: it laps the buffers faster than we look).
 * Errors: -EAGAIN, -ETIMEDOUT, -EPIPE, -EOWNERDEAD, -ECONNRESET, -ENOBUFS,
 * -EBADMSG, -EPROTO, -ESTALE, -EPERM (not a subscriber), -EINVAL.  Release:
 * 0, -ENOBUFS, -EAGAIN (latest), -ESTALE (latest: deleted meanwhile),
 * -EINVAL (nothing peeked), -EPERM, or the handle's sticky error. */
ssize_t ivshmem_topic_receive(ivshmem_topic *t, void *buf, size_t cap, int timeout_ms) IVSHMEM_API;
ssize_t ivshmem_topic_peek(ivshmem_topic *t, const void **ptr, int timeout_ms) IVSHMEM_API;
int ivshmem_topic_release(ivshmem_topic *t) IVSHMEM_API;
/* The message this subscriber took last (received, or peeked and
 * released): its sequence number (0 for the first message the topic ever
 * had) and how many published messages it skipped just before it (latest
 * mode; lossless: 0).  0, -ENODATA (none taken yet), -EPERM, -EINVAL.
 * Either pointer may be NULL. */
int ivshmem_topic_last(const ivshmem_topic *t, uint64_t *seq, uint64_t *skipped) IVSHMEM_API;

/* Event loops (subscriber), as ivshmem_chan_arm/fd: arm returns 1 if a
 * message is there, 0 when armed (a publisher that can reach this handle
 * wakes it; with no way to, poll with a timeout), -errno as receive; fd is
 * the pollable fd this handle sleeps on, or -ENOTSUP (no doorbell from the
 * current publisher, or none attached, or a passive subscriber). */
int ivshmem_topic_arm(ivshmem_topic *t) IVSHMEM_API;
int ivshmem_topic_fd(ivshmem_topic *t) IVSHMEM_API;

#define IVSHMEM_TOPIC_SUB_FREE 0     /* slot not in use */
#define IVSHMEM_TOPIC_SUB_JOINING 1  /* attaching: not counted yet */
#define IVSHMEM_TOPIC_SUB_LIVE 2     /* attached, its head in the live window */
#define IVSHMEM_TOPIC_SUB_BAD 3	     /* attached, but its state (or the topic's
					tail and floor) is garbage */

struct ivshmem_topic_sub_stat {
	int state;	   /* IVSHMEM_TOPIC_SUB_* */
	int id;		   /* peer ID, -1 unknown */
	uint32_t epoch;
	uint32_t pid;	   /* as it published it (on its host) */
	uint64_t head;	   /* lossless: byte index it has read up to;
			      latest: messages published when it took its last */
	uint64_t received; /* messages it has taken */
	uint64_t lag;	   /* messages published but not taken (lossless: 0 if
			      unknown; latest: since its last) */
	uint64_t sleeps, rings;
	uint64_t skipped;  /* latest: messages it skipped */
	uint64_t reserved[1];
};

struct ivshmem_topic_stat {
	char name[32];
	int role;		/* enum ivshmem_topic_role of this handle */
	unsigned mode;		/* enum ivshmem_topic_mode */
	uint64_t ring_size;
	uint32_t max_msg;
	unsigned subscribers;	/* slots */
	unsigned stall_timeout_ms;
	int publisher_attached, publisher_id;
	uint32_t publisher_epoch;
	unsigned buffers;	/* latest: its buffers; lossless: 0 */
	uint64_t tail;		/* lossless: byte index: bytes ever published */
	uint64_t published;	/* messages ever published */
	uint64_t floor;		/* lossless: oldest byte index still kept */
	uint64_t evictions;	/* subscribers the publisher dropped */
	struct ivshmem_topic_sub_stat sub[IVSHMEM_TOPIC_MAX_SUBSCRIBERS]; /* [0, subscribers) */
	/* This handle: */
	uint64_t messages, bytes, rings, sleeps;
	int slot;		/* a subscriber's slot, else -1 (publisher,
				   monitor, passive subscriber) */
	int wake;		/* IVSHMEM_CHAN_WAKE_* used to sleep */
	uint64_t skipped;	/* latest: messages this subscriber skipped */
	uint64_t reserved[3];
};
/* Snapshot (shared values from untrusted parties; a slot whose state is
 * garbage shows as IVSHMEM_TOPIC_SUB_BAD).  Errors: -ESTALE, the handle's
 * sticky error, -EINVAL, -ENOMEM; *st untouched on failure. */
int ivshmem_topic_stat(ivshmem_topic *t, struct ivshmem_topic_stat *st) IVSHMEM_API;

#ifdef __cplusplus
}
#endif
#endif /* IVSHMEM_H */
