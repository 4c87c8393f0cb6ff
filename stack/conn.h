/* SPDX-License-Identifier: MIT */
/* Private to the stack: the process-local state of one X-IO connection. */
#ifndef XIO_CONN_H
#define XIO_CONN_H

#include <stdbool.h>
#include <sys/time.h>

#include "conntab.h"
#include "domain.h"
#include "layout.h"
#include "stack.h"
#include "wait.h"

struct rte_ring;
struct xio_conn_ops;

struct xio_conn {
	_Atomic int refs;
	/* What its calls do: the ring's, or once demoted the in-band stream's (xio_conn_ops()). */
	const struct xio_conn_ops *_Atomic ops;
	struct xio_domain *dom;
	struct xio_slot *slot;
	struct rte_ring *tx, *rx;
	struct xio_dir *txd, *rxd;
	uint32_t elems;	 /* ring size the manager made: shared headers are checked against it */
	int port_holder; /* client: the bound TCP socket that keeps our port from kernel TCP, or -1
			  */
	struct xio_porthold *porthold; /* server: its listener's (porthold.c), or NULL */
	bool server;
	int family;		/* AF_INET or AF_INET6, as the application's socket */
	struct xio_tuple tuple; /* local, remote */
	uint32_t token;

	/* What the kernel told us about the AF_UNIX peer (learned while draining). */
	_Atomic bool peer_eof;		  /* peer will send nothing more (FIN) */
	_Atomic bool sock_eof;		  /* our socket reads EOF: the peer's end is closed */
	_Atomic bool peer_gone;		  /* peer's socket closed entirely (HUP) */
	_Atomic int error;		  /* pending error for SO_ERROR / next call */
	_Atomic bool reset;		  /* the connection is reset (TCP RST): HUP */
	_Atomic uint32_t nospace;	  /* sends that hit a full ring (EAGAIN): EPOLLOUT edges */
	_Atomic int fds;		  /* fds of this process that refer to the connection */
	_Atomic uint64_t peer_checked_us; /* last liveness check on the send path */
	_Atomic int cover; /* 1 + the liveness clock of the epoll set that watches it, 0 none */
	_Atomic bool shut_rd, shut_wr; /* our own shutdown(2); read by other threads' polls */
	pthread_mutex_t drain_lock;    /* one drainer at a time */
	_Atomic int64_t drain_held_ns; /* since when a lone waiter's doorbell waits for it */
	_Atomic bool cw_lone;	       /* the lone waiter is one of our blocking waiters */
	/* Blocking waiters of this process: one polls the socket, the rest wait here. */
	pthread_mutex_t wait_lock;
	pthread_cond_t wait_cv;
	int local_waiters;
	pid_t wait_pid; /* the process these fields describe */
	bool forked;	/* existed at a fork: another process may wait on it too */
	bool poller;
	uint64_t wake_seq;
	/*
	 * Read with the native API (xio_rx, xio_recv_peek) in this process: its
	 * waits for data spin adaptively, as learned in rx_adapt (wait.h).
	 */
	_Atomic bool zc_reader;
	struct xio_spin_adapt rx_adapt;

	/* Socket options we answer ourselves. */
	int nodelay, keepalive, cork;
	int rcvlowat; /* SO_RCVLOWAT, 0 = 1 */
	struct timeval rcvtimeo, sndtimeo;
	struct {
		int name, value;
	} tcp_opts[16]; /* other IPPROTO_TCP options set, read back as set */
	int ntcp_opts;
	struct {
		int level, name, value;
	} ip_opts[8]; /* IPPROTO_IP/IPV6 options set (IP_TOS, IP_TTL...) */
	int nip_opts;
	bool connect_pending; /* a non-blocking connect said EINPROGRESS */
	bool linger_abort;    /* SO_LINGER {1, 0}: the last close resets the peer */

	/* Demotion (demote.c): 1 + an fd of this process on our socket, 0 = none seen yet. */
	_Atomic int fd_hint;
	/* Demoted and settled at this end (xio_conn_plain): stays true once true. */
	_Atomic bool plain;
};

/*
 * The operations of a connection (docs/DESIGN.md, "Demotion"): the ring's
 * (conn.c) until the connection is demoted, then the in-band stream's on its
 * AF_UNIX socket (demote.c). The public xio_conn_* entry points call through
 * the table; the ring's operations contain no demotion branch except where
 * a demotion can happen while they are inside (after taking a lock, after
 * waiting), and those go through xio_conn_ops() too.
 */
struct xio_conn_ops {
	ssize_t (*send)(struct xio_conn *c, int fd, const struct iovec *iov, int iovcnt, int flags,
			bool nonblock);
	ssize_t (*recv)(struct xio_conn *c, int fd, const struct iovec *iov, int iovcnt, int flags,
			bool nonblock);
	unsigned (*ready)(struct xio_conn *c);
	int (*wait)(struct xio_conn *c, int fd, unsigned events, int timeout_ms);
	int (*shutdown)(struct xio_conn *c, int fd, int how);
	int (*inq)(struct xio_conn *c);
	int (*atmark)(struct xio_conn *c, int fd); /* SIOCATMARK: 1, 0 or -errno */
	void (*edges)(struct xio_conn *c, uint32_t *in_seq, uint32_t *nospace_seq);
	bool (*has_company)(struct xio_conn *c);
};

extern const struct xio_conn_ops xio_ring_ops;	 /* conn.c */
extern const struct xio_conn_ops xio_demote_ops; /* demote.c */

/*
 * The one place where a connection becomes in-band. The demoter switches
 * its own table when it publishes the demotion (demote.c); every other
 * process and every fork sees the slot's shared state change here, on its
 * next call: one load of a line that stays in the cache while nothing changes.
 * The switch is one-way.
 */
static inline const struct xio_conn_ops *xio_conn_ops(struct xio_conn *c)
{
	const struct xio_conn_ops *o = atomic_load_explicit(&c->ops, memory_order_acquire);
	if (__builtin_expect(o == &xio_ring_ops, 1) &&
	    __builtin_expect(atomic_load_explicit(&c->slot->demote.state, memory_order_acquire) !=
				 XIO_DEMOTE_NONE,
			     0)) {
		atomic_store_explicit(&c->ops, &xio_demote_ops, memory_order_release);
		o = &xio_demote_ops;
	}
	return o;
}

/* Has the connection been demoted (or failed to be)? Switches its operations if it has. */
static inline bool xio_conn_in_band(struct xio_conn *c)
{
	return __builtin_expect(xio_conn_ops(c) != &xio_ring_ops, 0);
}

/* connect.c, shared with pair.c: the client's steps once a connection is X-IO's. */
struct xio_sock_opts;
void xio_connect_inherit_options(struct xio_conn *c, int fd, const struct xio_sock_opts *known);
int xio_connect_hold_port(int fd);
/* A free slot for a client end of inode @client_ino, after a sweep if the domain looked full. */
struct xio_slot *xio_connect_alloc_slot(struct xio_domain *d, uint64_t client_ino, uint32_t *token);
/* Are the slot's ring offsets where the trusted geometry of @d puts them? (conn.c) */
bool xio_slot_sane(const struct xio_domain *d, const struct xio_slot *s);
int xio_connect_take_over_fd(int fd, int u, bool *nonblock);

/*
 * pair.c: connect @fd to @dst in another network namespace of this node.
 * The kernel makes the TCP connection (its routing and filters decide),
 * then the manager proves the server's accepted socket is its other end.
 * Returns 0 with *@out (carried), XIO_TCP_CONNECTED or XIO_TCP_FAILED
 * (the kernel connect was made here; errno says how it failed) or
 * XIO_NOT_CARRIED (connect over TCP; *@why is changed if the reason is
 * one of ours rather than the caller's).
 */
int xio_pair_connect(int fd, const struct sockaddr *sa, socklen_t len,
		     const struct xio_endpoint *dst, int family, const struct xio_sock_opts *known,
		     struct xio_conn **out, bool *nonblock, enum xio_fallback *why);

/*
 * pair.c: the server's half. @t is a TCP connection just accepted from
 * @peer; if a client of domain @d waits to be paired with it and the
 * manager proves it, returns the server's AF_UNIX end (close-on-exec) with
 * the slot in *@s and its token in *@token; else -errno (keep @t as TCP).
 */
int xio_pair_claim(struct xio_domain *d, int t, const struct xio_endpoint *peer,
		   struct xio_slot **s, uint32_t *token);

/* New connection object with one reference. */
struct xio_conn *xio_conn_new(struct xio_domain *d, struct xio_slot *s, bool server);

/* Register/unregister in the process's 4-tuple table. */
void xio_conn_register(struct xio_conn *c);

/* The abstract AF_UNIX name that marks the client end of a connection (adopt.c). */
struct sockaddr_un;
int xio_conn_abstract_name(struct sockaddr_un *sa, socklen_t *len, uint64_t generation,
			   uint32_t slot, uint32_t token);

/*
 * Take a direction's robust lock (tx: the send side) and check its ring: 0, or
 * -EDEADLK (this thread holds it) / -ECONNRESET (corrupt, not held).
 */
int xio_conn_lock(struct xio_conn *c, bool tx);

/*
 * With the send side's lock held: take the reader's lock too, without
 * waiting, when the next record may rewind the ring (ring.h); then put with
 * rewinding allowed and end with xio_conn_rewind_unlock, which takes the
 * padding away. Returns false (nothing held) when the ring may not rewind.
 */
bool xio_conn_rewind_lock(struct xio_conn *c);
void xio_conn_rewind_unlock(struct xio_conn *c);

/* Shared memory no longer makes sense: reset the connection. */
void xio_conn_corrupt(struct xio_conn *c);

/* Did the peer abort (SO_LINGER {1, 0})? Then the connection is reset, its error pending. */
void xio_conn_check_abort(struct xio_conn *c);

/*
 * Bytes in flight one direction allows: the writer's SO_SNDBUF plus the
 * reader's SO_RCVBUF (@sndbuf, @rcvbuf: what getsockopt reports, the set
 * value doubled), less a quarter of the sum but never more than 16 KiB.
 * Measured on kernel TCP over loopback (6.18, a sender that fills with
 * non-blocking sends a receiver that does not read, settled after 100 ms),
 * both set to 1 KiB gives 5,184 bytes (this: 5,184), 4 KiB 12,288
 * (12,288), 16 KiB 57,344 (49,152), 32 KiB 114,688 (114,688), 64 KiB
 * 255,204 (245,760), 256 KiB 982,669 (1,032,192), 512 KiB 2,030,821
 * (2,080,768): within 15 %. The kernel's own sum is not a formula (skb
 * overhead, receive-window rounding, a send size goal bounded by half the
 * peer's window: a large SO_SNDBUF facing a 1 KiB SO_RCVBUF holds only 43 %
 * of it there). docs/DESIGN.md, "Buffer sizes". The ring's capacity bounds
 * it in any case.
 */
static inline size_t xio_buf_limit(uint32_t sndbuf, uint32_t rcvbuf)
{
	uint64_t sum = (uint64_t)sndbuf + rcvbuf;
	uint64_t cut = sum / 4 < 16384 ? sum / 4 : 16384;
	return (size_t)(sum - cut);
}

/*
 * Publish this end's buffer sizes in slot @s (the writer's SO_SNDBUF of the
 * direction we send, the reader's SO_RCVBUF of the one we receive), taken
 * from kernel TCP socket @kfd: the client's own before connect, the listener
 * (or the accepted kernel socket) on the server, whose options an accepted
 * socket inherits. Sizes the program did not set are the kernel's defaults
 * (net.ipv4.tcp_wmem, tcp_rmem). The client, which writes first, clears the
 * server's until it accepts.
 */
void xio_bufs_publish(struct xio_slot *s, bool server, int kfd);

/* The kernel's default SO_SNDBUF / SO_RCVBUF of an established loopback TCP connection. */
uint32_t xio_default_sndbuf(void);
/* Our direction's send buffer as getsockopt(SO_SNDBUF) answers it: the program's, or TCP's. */
int xio_conn_sndbuf(struct xio_conn *c);
uint32_t xio_default_rcvbuf(void);

/* Room appeared in our receive ring: wake a writer that sleeps for it (a third free). */
void xio_conn_bell_space(struct xio_conn *c, int fd);

/* Is the peer still there? Asks the kernel at most once a millisecond (send paths). */
void xio_conn_check_peer(struct xio_conn *c, int fd);

/* Does this process hold the other end of @c too? (demote.c) */
bool xio_conn_peer_is_local(struct xio_conn *c);

/* Call @fn for every connection of this process (demote.c, at exit). */
void xio_conns_each(void (*fn)(void *conn));

/*
 * Port holders (porthold.c): what keeps a closed listener's port bound while
 * connections accepted from it live, as their TCP sockets would.
 */
struct xio_porthold;
struct xio_porthold_addr {
	struct sockaddr_storage addr; /* the listener's */
	socklen_t len;
	int reuseaddr, reuseport, v6only; /* the listener's options */
};
/* A new holder with one reference (the listener's); NULL when out of memory. */
struct xio_porthold *xio_porthold_new(void);
void xio_porthold_get(struct xio_porthold *p);
/* Drop a reference; the last one releases the port. */
void xio_porthold_put(struct xio_porthold *p);
/*
 * The process closed its last fd of the listener at @a (the kernel socket is
 * closed): while connections hold references, bind a holder to its address.
 */
void xio_porthold_listener_closed(struct xio_porthold *p, const struct xio_porthold_addr *a);

#endif
