/* SPDX-License-Identifier: MIT */
/*
 * Attaching to a domain: a process connects to the manager's control socket
 * on first need, receives the domain memory as a file descriptor and maps
 * it. No EAL, no thread. A mapping is never unmapped while the process
 * lives: connections of an older generation keep using theirs after a
 * manager restart.
 */
#ifndef XIO_DOMAIN_H
#define XIO_DOMAIN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "bufpool.h"
#include "layout.h"
#include "proto.h"

struct xio_domain {
	struct xio_domain_hdr *hdr;
	void *map;
	size_t map_len;
	uint64_t generation;
	/* Copies taken at attach: shared memory can be scribbled on, these cannot. */
	uint32_t nslots, slot_size, ring_bytes;
	uint64_t slots_off;
	/* The ring file, mapped right after map_len bytes of domain; NULL: rings follow slots. */
	char *rings;
	uint64_t rings_len, ring_stride;
	struct xio_pool pool; /* zero-copy buffers (bufpool.h); nbufs 0 when the domain has none */
	/* epoll news boards (board.h); nboards 0: none */
	uint64_t boards_off;
	uint32_t nboards, board_size, board_sum, board_words;
	struct xio_domain *next; /* the generation mapped before this one */
};

/*
 * The current domain, attaching first if needed. Returns NULL (with
 * *@why set to a fallback reason) when there is no usable manager.
 */
struct xio_domain *xio_domain_get(enum xio_fallback *why);

/* The current domain if already attached, else NULL. Never attaches. */
struct xio_domain *xio_domain_peek(void);

/*
 * Address space this process holds for X-IO: the length of every
 * generation it mapped (domain and ring file; inherited ones too), what
 * RLIMIT_AS counts for X-IO. 0 before the first attach; it only grows
 * (nothing is unmapped while the process lives). Lock-free.
 */
uint64_t xio_domain_mapped_bytes(void);

/*
 * The mapped domain of generation @generation (this process mapped it, or
 * inherited it through fork), or NULL. Never attaches. An offer or an
 * inherited connection of an old generation belongs in that generation's
 * memory, never in the current one's.
 */
struct xio_domain *xio_domain_by_generation(uint64_t generation);

/*
 * One request/reply exchange with the manager on this process's control
 * connection. @fds are sent with the request; a reply fd (HELLO) lands in
 * *@reply_fd if non-NULL. Returns reply bytes or -errno; the reply's status
 * is left for the caller to check.
 */
ssize_t xio_control_call(const void *req, size_t req_len, const int *fds, int nfds, void *reply,
			 size_t reply_len, int *reply_fd);

/*
 * The same, but looking for the reply for up to @spin_us before sleeping
 * for it: where the answer usually comes within microseconds and a sleep
 * would leave our CPU idle, for the answer's wake-up to pay to bring back
 * (a pairing's claim, pair.c).
 */
ssize_t xio_control_call_spin(const void *req, size_t req_len, const int *fds, int nfds,
			      void *reply, size_t reply_len, int *reply_fd, int spin_us);

/*
 * A request the manager answers with no reply (PAIR_OFFER), on the same
 * control connection, so it is read before any later request of this
 * process. Returns 0 or -errno.
 */
int xio_control_send(const void *req, size_t req_len, const int *fds, int nfds);

/*
 * Make sure this process has an offer channel to the manager of @d: a
 * second, send-only connection for PAIR_OFFER and PAIR_ABANDON, which waits
 * for nothing (the main control connection may be held by a thread whose
 * claim the manager parks until our offer comes). Made once per process and
 * manager, through a request on the control connection, so it must be called
 * before the SYN, never between it and the offer. Returns 0 or -errno (then
 * offer before the SYN, on the control connection).
 */
int xio_offer_channel(const struct xio_domain *d);

/*
 * Send a request without reply on the offer channel xio_offer_channel()
 * made for @d's manager; never opens one. Returns 0 or -errno.
 */
int xio_offer_send(const struct xio_domain *d, const void *req, size_t req_len, const int *fds,
		   int nfds);

/* "<rundir>/<domain>" into @buf. Returns 0 or -ENAMETOOLONG. */
int xio_domain_dir(char *buf, size_t len);

/* Inode of this process's network namespace (cached). */
uint64_t xio_netns_ino(void);

/* In a forked child: reset this process's connection-local locks and waiter state (conn.c). */
void xio_conns_after_fork_child(void);
/* In the parent after fork: its connections are now shared with the child. */
void xio_conns_after_fork_parent(void);

/*
 * Is the manager of @d alive? Reads the futex word of its liveness mutex
 * (layout.h, xio_domain_hdr.alive): no system call.
 */
bool xio_manager_alive(const struct xio_domain *d);

/* This process's pid, read once (reset in a forked child). */
pid_t xio_self_pid(void);

/*
 * Out of file descriptors: close the control connection if nothing needs it
 * now (it is reopened on the next request). Returns true if one was freed.
 */
bool xio_control_give_up_fd(void);

/* Forget the control connection (after fork: the child opens its own). */
void xio_domain_after_fork_child(void);

#endif
