/* SPDX-License-Identifier: MIT */
/*
 * The readiness engine (docs/DESIGN.md, "Waiting"): the one algorithm by
 * which every waiting call sleeps until an X-IO connection (or a kernel fd
 * beside it) is ready — a blocking read, write or accept, poll/ppoll/select/
 * pselect, epoll_wait/epoll_pwait/epoll_pwait2. A front-end owns its items
 * and their translation (pollfd sets, epoll items and their ET/ONESHOT
 * bookkeeping); the engine owns the order of the steps, which is what makes
 * a lost wake-up impossible (stack/model/ring_wakeup.pml):
 *
 *   1. look (scan): ready already? Then only a zero-timeout merge with the
 *      kernel's fds, without the caller's signal mask.
 *   2. spin for spin_us, looking again (the peer is probably about to
 *      answer); after the first 5 us a peek at the kernel now and then, for
 *      what only the kernel can tell (a peer's close).
 *   3. announce the sleep in shared memory (from now on the peer rings a
 *      doorbell for what it does), then look again: what happened before
 *      the announcement rings no doorbell.
 *   4. sleep in the kernel on the front-end's set (a ppoll set, the caller's
 *      epoll instance, a connection's socket), bounded by the deadline, by
 *      5 ms slices when another waiter may take our doorbell (company), and
 *      by 1-10 ms slices when a socket that reads EOF for good can no
 *      longer be rung (quiet EOF).
 *   5. withdraw the announcement, drain the doorbells the kernel reported,
 *      and collect; nothing new (a stale doorbell, another waiter's) means
 *      back to 3 without spinning.
 */
#ifndef XIO_WAIT_H
#define XIO_WAIT_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct xio_waiter {
	/* X-IO items ready now (written into the front-end's results); how many. */
	int (*scan)(struct xio_waiter *w);
	/* Optional, while spinning: a zero-timeout look at the kernel (learn a close). */
	void (*peek)(struct xio_waiter *w);
	/* Announce the sleep on every item; whether another waiter may take our doorbell. */
	bool (*announce)(struct xio_waiter *w);
	/* Items whose socket reads EOF for good, watched for HUP only; whether one needs slices.
	 */
	bool (*quiet_eof)(struct xio_waiter *w);
	/*
	 * Sleep in the kernel until @tp (NULL: no limit). @ready X-IO items are
	 * ready already: a merge pass, without the caller's signal mask, that
	 * returns 0 if interrupted. The kernel's count, or -1 and errno.
	 */
	int (*sleep)(struct xio_waiter *w, const struct timespec *tp, int ready);
	/*
	 * After sleep (@k its result, -1 on error): withdraw the announcement if
	 * @announced, drain what the kernel reported, and write the final
	 * results after the @ready ones; how many in all (0: nothing new).
	 */
	int (*finish)(struct xio_waiter *w, int ready, int k, bool announced);
	int spin_us;	     /* 0: no spin */
	int64_t deadline_ns; /* CLOCK_MONOTONIC; -1: none */
};

/* Wait as the steps above say: how many results, 0 at the deadline, or -1 and errno. */
int xio_wait(struct xio_waiter *w);

#endif
