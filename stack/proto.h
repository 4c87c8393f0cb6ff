/* SPDX-License-Identifier: MIT */
/*
 * Wire formats: the control protocol between a process and its domain's
 * manager (SOCK_SEQPACKET on $XIO_RUNDIR/<domain>/control) and the offer of
 * the 2-way connection handshake on a rendezvous AF_UNIX stream. The answer
 * is not a message: the server claims the slot (OFFERED -> ESTABLISHED, one
 * CAS) or closes the stream. Nothing but data (after a demotion) may ever
 * travel in-band on the connection's socket, which several processes may
 * share.
 *
 * Every message starts with struct xio_msg_hdr. Decoders validate magic,
 * version, type and length and return a negative errno on anything else:
 * -EPROTO for garbage, -EPROTONOSUPPORT for another version, -EMSGSIZE or
 * -ENODATA for a truncated message.
 */
#ifndef XIO_PROTO_H
#define XIO_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "layout.h"

#define XIO_PROTO_MAGIC 0x58494f50u /* "XIOP" */
/* 2: PAIR_OFFER has no reply (a client of 1 would wait for one forever) */
#define XIO_PROTO_VERSION 2u

enum xio_msg_type {
	/* control: process -> manager */
	XIO_CTL_HELLO = 1,     /* attach: reply carries the memory fd */
	XIO_CTL_PUBLISH = 2,   /* fds: [AF_UNIX listener, TCP listener] */
	XIO_CTL_UNPUBLISH = 3, /* hint: a listener was closed, check its entries */
	XIO_CTL_STATS = 4,     /* reply: struct xio_ctl_stats */
	XIO_CTL_RECLAIM = 5,   /* domain looked full: sweep now */
	XIO_CTL_CONNS = 6,     /* reply: struct xio_ctl_conn records */
	XIO_CTL_KILL = 7,      /* body: uint32 on/off for the kill switch */
	XIO_CTL_REPUBLISH = 8, /* fds as PUBLISH, the AF_UNIX one already published */
	XIO_CTL_WITHDRAW = 9,  /* as REPUBLISH: remove that entry, clients use TCP */
	/* pairing across network namespaces (stack/pair.c, manager/pair.c) */
	/* client, fds: [its TCP socket, the server's AF_UNIX end]; no reply */
	XIO_CTL_PAIR_OFFER = 10,
	XIO_CTL_PAIR_CLAIM =
	    11, /* server, fds: [the TCP socket it accepted]; reply fd: AF_UNIX end */
	XIO_CTL_PAIR_ABANDON = 12, /* client: gave up waiting, drop the offer */
	/*
	 * fds: [one end of a SOCK_SEQPACKET pair], served from now on as this
	 * process's send-only offer channel: PAIR_OFFER and PAIR_ABANDON only,
	 * never answered on it (stack/domain.c xio_offer_channel)
	 */
	XIO_CTL_PAIR_CHANNEL = 13,
	XIO_CTL_REPLY = 64, /* every reply has this type; status in hdr */
	XIO_DENIED = 80, /* a datagram on <rundir>/<domain>.denied, never on the control socket */
	/*
	 * Also on .denied: a process that maps a generation of this domain but
	 * may not connect to control (a worker that dropped privileges) asks
	 * back in. fd: its end of a SOCK_SEQPACKET pair, served as a control
	 * connection if the manager finds the mapping (manager/denied.c).
	 */
	XIO_REJOIN = 81,
	/* handshake on a rendezvous stream */
	XIO_HS_OFFER = 100,
	XIO_HS_NUDGE = 101, /* from a new manager: re-attach and re-publish */
};

struct xio_msg_hdr {
	uint32_t magic;
	uint16_t version;
	uint16_t type;
	uint32_t len;	/* whole message including this header */
	int32_t status; /* replies: 0 or negative errno */
};

/* HELLO reply body; the fd of the domain memory travels as SCM_RIGHTS. */
struct xio_ctl_hello_reply {
	struct xio_msg_hdr hdr;
	uint64_t generation;
	uint64_t map_offset; /* offset of the first page to map within the fd */
	uint64_t map_len;    /* bytes to map (multiple of the page size) */
	uint64_t hdr_delta;  /* offset of struct xio_domain_hdr within that mapping */
	uint32_t layout_version;
	uint32_t page_size;
	/*
	 * Bytes of the ring file (layout.h), the reply's second fd: mapped from
	 * offset 0 right after the map_len bytes of the first.
	 */
	uint64_t rings_len;
};

/* PUBLISH request body: the manager derives address and netns from the TCP fd. */
struct xio_ctl_publish {
	struct xio_msg_hdr hdr;
	int32_t pid;
	uint32_t reserved;
};

/*
 * REPUBLISH request body. A listener published by an earlier generation (its
 * manager was restarted) is brought into the current one without a new
 * socket: the application may have the AF_UNIX listener in poll and epoll
 * sets. @name is its entry in the rendezvous directory of the TCP listener's
 * address; the manager checks both sockets as for PUBLISH, that the entry is
 * the one the AF_UNIX listener is bound to, and renames it to the current
 * generation. The reply is a struct xio_ctl_publish_reply with the new path.
 */
struct xio_ctl_republish {
	struct xio_msg_hdr hdr;
	int32_t pid;
	uint32_t reserved;
	char name[64];
};

/* PAIR_OFFER, PAIR_CLAIM and PAIR_ABANDON request body. */
struct xio_ctl_pair {
	struct xio_msg_hdr hdr;
	uint32_t slot;
	uint32_t token;
	int32_t pid;
	uint32_t reserved;
};

/* PUBLISH reply body: where the AF_UNIX listener was bound. */
struct xio_ctl_publish_reply {
	struct xio_msg_hdr hdr;
	char path[256];
};

/*
 * STATS reply. @layout_version and @nreasons come first so that xio-stat can
 * tell a manager of another build (another size or reason list) from garbage.
 */
struct xio_ctl_stats {
	struct xio_msg_hdr hdr;
	uint32_t layout_version; /* XIO_LAYOUT_VERSION of the manager */
	uint32_t nreasons;	 /* XIO_FB_MAX of the manager */
	uint64_t generation;
	uint64_t conns_open;
	uint64_t conns_total;
	uint64_t bytes; /* carried by open and closed connections */
	uint64_t fallback[XIO_FB_MAX];
	uint64_t processes; /* attached (open control connections) */
	uint64_t nslots;
	uint64_t slots_in_use;
	uint64_t slots_reclaimed;
	uint64_t publishes;
	uint64_t demoted;	 /* connections turned into plain byte streams */
	uint64_t memory_bytes;	 /* the domain's shared memory, reserved */
	uint64_t ring_bytes;	 /* data capacity of each ring (two per slot) */
	uint64_t nbufs;		 /* zero-copy buffers in the pool */
	uint64_t buf_bytes;	 /* bytes per buffer */
	uint64_t bufs_in_use;	 /* not free: held by a process or in flight */
	uint64_t bufs_reclaimed; /* freed by the manager's sweep */
	uint32_t hugepages;
	uint32_t kill_switch;
	uint64_t rings_in_use; /* bytes of the ring file backed by memory now */
	uint64_t rings_limit;  /* bytes of the ring file: every ring full */
};

/*
 * A process the control socket refused says so on <rundir>/<domain>.denied
 * (manager/denied.c): @reason is XIO_FB_NO_DOMAIN_ACCESS or
 * XIO_FB_LISTENER_NO_DOMAIN_ACCESS. XIO_REJOIN has the same size, @reason 0.
 */
struct xio_denied {
	struct xio_msg_hdr hdr;
	uint32_t reason;
	uint32_t reserved;
};

/* One open connection, for xio-stat --conns. */
struct xio_ctl_conn {
	struct xio_endpoint client, server;
	int32_t client_pid, server_pid;
	uint64_t bytes_c2s, bytes_s2c;
	uint32_t fill_c2s, fill_s2c; /* ring fill, bytes */
	uint32_t slot, state;
	struct xio_endpoint srv_local, srv_peer; /* the server's view */
	uint64_t netns_c, netns_s;		 /* each end's network namespace */
	uint64_t age_ms;			 /* since the client allocated the slot */
};

/*
 * Handshake offer: sent by the client right after its AF_UNIX connect.
 * A manager that starts sends a message of the same size and type
 * XIO_HS_NUDGE (only @generation set, its own) to every rendezvous entry of
 * an older generation: the server learns without waiting for its next
 * connect that it must re-attach and re-publish.
 */
struct xio_hs_offer {
	struct xio_msg_hdr hdr;
	uint64_t generation;
	uint32_t slot;
	uint32_t token;
	uint32_t layout_version;
	int32_t pid;
	struct xio_endpoint client; /* as getpeername() on the server will say */
	struct xio_endpoint server; /* the address the client connected to */
};

/* "no_rendezvous" etc. for @why < XIO_FB_MAX, NULL otherwise (stack/proto.c). */
const char *xio_fallback_name(unsigned why);
/* "client" or "server". */
const char *xio_fallback_side(unsigned why);
/* One line on what the reason means. */
const char *xio_fallback_what(unsigned why);

/* Fill a header. */
void xio_msg_init(struct xio_msg_hdr *h, uint16_t type, uint32_t len);

/*
 * Validate a received message of @n bytes that must be of @type and at least
 * @min_len long. Returns 0, or -ENODATA (shorter than a header), -EPROTO (bad
 * magic or type), -EPROTONOSUPPORT (version), -EMSGSIZE (length field does
 * not match @n or is below @min_len).
 */
int xio_msg_check(const void *buf, size_t n, uint16_t type, size_t min_len);

/*
 * Check an offer against the domain it claims to belong to: generation,
 * layout version, slot index in range. Returns 0, -EPROTO or -ESTALE
 * (generation mismatch) or -ERANGE (slot out of range).
 */
int xio_offer_check(const struct xio_hs_offer *o, uint64_t generation, uint32_t nslots);

/*
 * Send @len bytes and @nfds descriptors as one message (SCM_RIGHTS).
 * Returns bytes sent or -errno. MSG_NOSIGNAL is always used.
 */
ssize_t xio_send_with_fds(int sock, const void *buf, size_t len, const int *fds, int nfds);

/*
 * Receive one message and up to @maxfds descriptors (close-on-exec). *@nfds
 * receives how many arrived; extra descriptors are closed. Returns bytes
 * received (0 on EOF) or -errno; -EMSGSIZE when data or fds were truncated.
 */
ssize_t xio_recv_with_fds(int sock, void *buf, size_t len, int *fds, int *nfds, int maxfds);

#endif
