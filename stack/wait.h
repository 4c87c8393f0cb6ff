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
 *      what only the kernel can tell (a peer's close). Not at all while the
 *      thread is crowded, and a yield that lost a slice ends it
 *      (xio_spin_yield).
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

#include <stdatomic.h>
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

/*
 * sched_yield() for a spinner that read the clock at @now (ns): the clock
 * after it, or 0 when it was slow (the CPU went to a task that kept it for
 * a slice) and the spin should end; this thread then does not spin for a
 * while: xio_spin_crowded() says so (stack/wait.c).
 */
int64_t xio_spin_yield(int64_t now);
bool xio_spin_crowded(void);

/*
 * The adaptive spin (docs/DESIGN.md, "Spin, then block"): how long step 2
 * spins when a connection's data comes at a steady pace that outlasts the
 * plain spin (a stage of a service chain whose next message comes after the
 * others' work, ~100 us). Learned per connection, from how long recent waits
 * took until their data came; used by the waits for data of a connection
 * read with the native zero-copy API (xio_rx, xio_recv_peek).
 *
 * The rule, as KVM's halt polling grows and resets its window: a wait that
 * ended with data within @cap_us (XIO_SPIN_ADAPT_US, default 200) teaches
 * its length (a longer one at once, a shorter one a quarter of the way
 * down); the next wait spins for XIO_ADAPT_MULT times what was learned,
 * never less than the plain spin and never more than @cap_us. A wait that
 * outlasted @cap_us, or ended without data (timeout, error), forgets it all:
 * back to the plain spin at once. One exception, the try: a wait that slept
 * after the plain spin and ended within twice the cap buys the next wait one
 * spin of the whole cap, and no second try until a wait within the cap has
 * succeeded (or one beyond twice the cap has started afresh). A stage of a
 * chain that sleeps waits longer than one that spins (its wait contains the
 * other stages' wake-ups), so without the try a chain could stay asleep. So
 * a connection whose data comes less often than the cap spins as before
 * (after at most one try), an idle one costs one spin of at most @cap_us,
 * and where spinning is off (XIO_SPIN_US=0, one CPU, the peer on our CPU) it
 * stays off.
 */
#define XIO_ADAPT_MULT 2

struct xio_spin_adapt {
	_Atomic int32_t learned_ns; /* 0: nothing learned (the plain spin) */
	_Atomic bool tried;	    /* a try was given: none again until a success */
};

/* How long to spin: @base_us (the plain spin) or more, as learned. */
int xio_spin_adapt_us(struct xio_spin_adapt *a, int base_us, int cap_us);

/*
 * A wait is over: it took @waited_ns, @satisfied says whether data (or news)
 * came, @spun_us is what it was allowed to spin and @base_us the plain spin.
 */
void xio_spin_adapt_learn(struct xio_spin_adapt *a, int64_t waited_ns, bool satisfied, int spun_us,
			  int base_us, int cap_us);

#endif
