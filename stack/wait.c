/* SPDX-License-Identifier: MIT */
/* The readiness engine: see wait.h for the steps and why they are in this order. */
#include <errno.h>
#include <rte_pause.h>
#include <sched.h>

#include "clock.h"
#include "wait.h"

#define PEEK_AFTER_NS	 5000	  /* most answers take less than that */
#define PEEK_EVERY_NS	 5000	  /* a poll() is about 1 us: at most a fifth of a spin */
#define COMPANY_SLICE_NS 5000000  /* see xio_conn_has_company() */
#define EOF_SLICE_MIN_NS 1000000  /* a reader draining the ring: keep up */
#define EOF_SLICE_MAX_NS 10000000 /* idle */
#define YIELD_AFTER_NS	 1000	  /* see spin() */

/*
 * A yield that handed the CPU to a task that kept it, a CPU-bound
 * neighbour rather than a stage with a message to pass on (which gives it
 * back within microseconds), cost the spinner a scheduler slice (4 ms on
 * this VM), while a sleeper that its doorbell wakes preempts such a task at
 * once: with a busy loop on the server's CPU, 64 B round trips took 4 ms
 * against kernel TCP's 54 us. So after a slow yield the thread stops
 * spinning and sleeps for a while (xio_spin_crowded), a back-off that
 * doubles from CROWDED_MIN_NS to CROWDED_MAX_NS while its yields stay slow.
 * Slow is longer than 1 ms: a busy task keeps the CPU until the next tick
 * (up to 4 ms at HZ=250; at HZ=1000 a yield loses at most about that and
 * is not always seen); 200 us also caught the manager's short bursts and
 * cost loopback short connections 12%.
 */
#define YIELD_SLOW_NS  1000000
#define CROWDED_MIN_NS 10000000
#define CROWDED_MAX_NS 1000000000

static _Thread_local int64_t crowded_until, crowded_for;

bool xio_spin_crowded(void)
{
	return crowded_for && xio_mono_ns() < crowded_until;
}

int64_t xio_spin_yield(int64_t now)
{
	sched_yield();
	int64_t t = xio_mono_ns();
	if (t - now < YIELD_SLOW_NS) {
		if (crowded_for && t >= crowded_until)
			crowded_for = 0; /* the neighbour is gone */
		return t;
	}
	/* doubled while the slow yields keep coming, afresh after a long quiet time */
	if (!crowded_for || t - crowded_until > crowded_for)
		crowded_for = CROWDED_MIN_NS;
	else if (crowded_for * 2 <= CROWDED_MAX_NS)
		crowded_for *= 2;
	else
		crowded_for = CROWDED_MAX_NS;
	crowded_until = t + crowded_for;
	return 0;
}

/*
 * Step 2: what scan found ready while spinning, 0 once the spin is over. A
 * scan may consume what it reports (epoll's EPOLLET edges, EPOLLONESHOT),
 * so its results are the caller's and must not be scanned again.
 *
 * Every YIELD_AFTER_NS of spinning the CPU is offered to whoever else is
 * runnable on it (sched_yield: a syscall of well under a microsecond when
 * nobody is). A spinner that shares its CPU with the task that has the work
 * (two stages of a chain on one CPU, the peer itself) would otherwise keep it
 * for a scheduler slice; yielding, it costs that task a context switch. A
 * slow yield ends the spin (xio_spin_yield).
 */
static int spin(struct xio_waiter *w, int64_t spin_end)
{
	int64_t start = xio_mono_ns(), now = start, peeked = start, yielded = start;
	while (now < spin_end && (w->deadline_ns < 0 || now < w->deadline_ns)) {
		for (int i = 0; i < 16; i++) {
			int ready = w->scan(w);
			if (ready > 0)
				return ready;
			rte_pause();
		}
		now = xio_mono_ns();
		if (w->peek && now - start >= PEEK_AFTER_NS && now - peeked >= PEEK_EVERY_NS) {
			w->peek(w);
			peeked = now;
		}
		if (now - yielded >= YIELD_AFTER_NS) {
			if (!(now = xio_spin_yield(now)))
				return 0;
			yielded = now;
		}
	}
	return 0;
}

/* Step 4's bound: NULL for none, else @ts filled. */
static struct timespec *sleep_bound(struct xio_waiter *w, int ready, bool company, bool slices,
				    int64_t *eof_slice, struct timespec *ts)
{
	int64_t d = INT64_MAX;
	if (ready)
		d = 0;
	else if (w->deadline_ns >= 0)
		d = w->deadline_ns - xio_mono_ns();
	if (d < 0)
		d = 0;
	if (company && d > COMPANY_SLICE_NS)
		d = COMPANY_SLICE_NS;
	if (slices) {
		if (d > *eof_slice)
			d = *eof_slice;
		*eof_slice = *eof_slice * 2 > EOF_SLICE_MAX_NS ? EOF_SLICE_MAX_NS : *eof_slice * 2;
	}
	if (d == INT64_MAX)
		return NULL;
	*ts = (struct timespec){d / 1000000000, d % 1000000000};
	return ts;
}

int xio_wait(struct xio_waiter *w)
{
	int64_t spin_end =
	    w->spin_us > 0 && !xio_spin_crowded() ? xio_mono_ns() + (int64_t)w->spin_us * 1000 : 0;
	int64_t eof_slice = EOF_SLICE_MIN_NS;

	for (;;) {
		int ready = w->scan(w);
		bool announced = false, company = false, slices = false;
		if (!ready && spin_end)
			ready = spin(w, spin_end);
		if (!ready) {
			company = w->announce(w);
			announced = true;
			ready = w->scan(w);
			slices = w->quiet_eof(w);
		}
		struct timespec ts, *tp = sleep_bound(w, ready, company, slices, &eof_slice, &ts);
		int k = w->sleep(w, tp, ready);
		int saved = errno;
		int r = w->finish(w, ready, k, announced);
		if (k < 0) {
			errno = saved;
			return -1;
		}
		if (r > 0 || (w->deadline_ns >= 0 && xio_mono_ns() >= w->deadline_ns))
			return r;
		spin_end = 0; /* a doorbell without news: sleep again, without spinning */
	}
}

int xio_spin_adapt_us(struct xio_spin_adapt *a, int base_us, int cap_us)
{
	int64_t learned = atomic_load_explicit(&a->learned_ns, memory_order_relaxed);
	if (base_us <= 0 || cap_us <= base_us || learned <= 0)
		return base_us;
	int64_t us = (learned * XIO_ADAPT_MULT + 999) / 1000;
	if (us > cap_us)
		us = cap_us;
	return us > base_us ? (int)us : base_us;
}

void xio_spin_adapt_learn(struct xio_spin_adapt *a, int64_t waited_ns, bool satisfied, int spun_us,
			  int base_us, int cap_us)
{
	/* Relaxed: threads waiting on one connection may race; any of their values will do. */
	int32_t old = atomic_load_explicit(&a->learned_ns, memory_order_relaxed), now = 0;
	int64_t cap = (int64_t)cap_us * 1000;
	if (satisfied && waited_ns >= 0 && waited_ns <= cap) {
		now =
		    waited_ns >= old ? (int32_t)waited_ns : old - (int32_t)((old - waited_ns) / 4);
		atomic_store_explicit(&a->tried, false, memory_order_relaxed);
	} else if (satisfied && waited_ns <= 2 * cap && spun_us <= base_us && base_us > 0 &&
		   !atomic_load_explicit(&a->tried, memory_order_relaxed)) {
		now = (int32_t)((cap + XIO_ADAPT_MULT - 1) /
				XIO_ADAPT_MULT); /* the whole cap, once */
		atomic_store_explicit(&a->tried, true, memory_order_relaxed);
	} else if (!satisfied || waited_ns > 2 * cap) {
		atomic_store_explicit(&a->tried, false, memory_order_relaxed);
	}
	if (now != old)
		atomic_store_explicit(&a->learned_ns, now, memory_order_relaxed);
}
