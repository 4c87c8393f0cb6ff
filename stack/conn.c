/* SPDX-License-Identifier: MIT */
/*
 * Data path of an X-IO connection: send, receive, readiness and waiting.
 *
 * Wake-up protocol (one per direction, words in struct xio_dir):
 * - A consumer about to sleep increments readers_sleeping, issues a full
 *   fence and re-checks the ring before it blocks in poll() on its AF_UNIX
 *   fd. A producer, after publishing a record, fences and, if someone sleeps
 *   and no doorbell is pending (data_bell_pending exchanged 0 -> 1), writes
 *   one byte on its own AF_UNIX end: the consumer's fd becomes readable.
 *   The woken consumer drains the bytes, then clears data_bell_pending, then
 *   re-checks the ring, so a record published in between is never missed.
 * - The same with writers_waiting / space_bell_pending when a producer waits
 *   for room; consumers ring once a third of the ring is free, or a third of
 *   the bytes in flight SO_SNDBUF/SO_RCVBUF allow when that is less (dir_room).
 * Both ends spin for xio_spin_us() before they block. No syscall happens
 * while both sides are awake.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "board.h"
#include "conn.h"
#include "demote.h"
#include "ring.h"
#include "slot.h"
#include "sys.h"
#include "wait.h"

static struct xio_conntab conntab;
static pthread_once_t conntab_once = PTHREAD_ONCE_INIT;

static void conntab_init(void)
{
	xio_conntab_init(&conntab, 256);
}

/* Ring offsets of a slot, checked against the trusted geometry of its domain. */
bool xio_slot_sane(const struct xio_domain *d, const struct xio_slot *s)
{
	uint64_t ring_mem = xio_ring_memsize(d->ring_bytes / XIO_RING_ESIZE);
	if (d->rings) {
		/* In the ring file: exactly where the slot's index (from its address) puts them. */
		uint64_t i = (uint64_t)((const char *)s - ((const char *)d->hdr + d->slots_off)) /
			     d->slot_size;
		for (int k = 0; k < 2; k++)
			if (s->ring_off[k] !=
			    (uint64_t)(d->rings + (2 * i + (uint64_t)k) * d->ring_stride -
				       (const char *)s))
				return false;
		return s->ring_bytes == d->ring_bytes;
	}
	for (int i = 0; i < 2; i++)
		if (s->ring_off[i] < sizeof(*s) || s->ring_off[i] % XIO_CACHELINE ||
		    s->ring_off[i] + ring_mem > d->slot_size)
			return false;
	return s->ring_off[0] != s->ring_off[1] && s->ring_bytes == d->ring_bytes;
}

struct xio_conn *xio_conn_new(struct xio_domain *d, struct xio_slot *s, bool server)
{
	if (!xio_slot_sane(d, s))
		return NULL;
	struct xio_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->elems = d->ring_bytes / XIO_RING_ESIZE;
	c->port_holder = -1;
	atomic_init(&c->refs, 1);
	atomic_init(&c->ops, &xio_ring_ops);
	pthread_mutex_init(&c->drain_lock, NULL);
	pthread_mutex_init(&c->wait_lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->wait_cv, &ca);
	pthread_condattr_destroy(&ca);
	c->dom = d;
	c->slot = s;
	c->server = server;
	int txdir = server ? XIO_DIR_S2C : XIO_DIR_C2S;
	c->tx = xio_slot_ring(s, txdir);
	c->rx = xio_slot_ring(s, !txdir);
	c->txd = &s->dir[txdir];
	c->rxd = &s->dir[!txdir];
	return c;
}

void xio_conn_register(struct xio_conn *c)
{
	pthread_once(&conntab_once, conntab_init);
	/* A duplicate 4-tuple only costs us the lookup entry, never the connection. */
	xio_conntab_insert(&conntab, &c->tuple, c);
}

void xio_conns_each(void (*fn)(void *conn))
{
	if (!xio_domain_peek())
		return; /* never attached: no connection, leave the table unallocated */
	pthread_once(&conntab_once, conntab_init);
	pthread_mutex_lock(&conntab.lock);
	xio_conntab_each(&conntab, fn);
	pthread_mutex_unlock(&conntab.lock);
}

bool xio_conn_peer_is_local(struct xio_conn *c)
{
	struct xio_tuple t = {.local = c->tuple.remote, .remote = c->tuple.local};
	pthread_once(&conntab_once, conntab_init);
	void *p = xio_conntab_lookup(&conntab, &t); /* not dereferenced: it may be closing */
	return p && p != c;
}

void xio_conn_get(struct xio_conn *c)
{
	atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
}

void xio_conn_put(struct xio_conn *c)
{
	if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
		return;
	pthread_once(&conntab_once, conntab_init);
	xio_conntab_remove(&conntab, &c->tuple, c);
	if (c->port_holder >= 0) {
		xio_helper_fd(c->port_holder, false);
		xio_sys.close(c->port_holder);
	}
	xio_porthold_put(c->porthold);
	free(c);
}

/* A forked child is single-threaded: locks copied while a parent thread held them are reset. */
static void conn_after_fork(void *value)
{
	struct xio_conn *c = value;
	pthread_mutex_init(&c->drain_lock, NULL);
	pthread_mutex_init(&c->wait_lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->wait_cv, &ca);
	pthread_condattr_destroy(&ca);
	c->local_waiters = 0;
	c->poller = false;
	c->wait_pid = xio_self_pid();
	c->forked = true;
}

static void mark_forked(void *value)
{
	((struct xio_conn *)value)->forked = true;
}

void xio_conns_after_fork_child(void)
{
	pthread_once(&conntab_once, conntab_init);
	xio_conntab_after_fork(&conntab, conn_after_fork);
}

void xio_conns_after_fork_parent(void)
{
	pthread_once(&conntab_once, conntab_init);
	pthread_mutex_lock(&conntab.lock);
	xio_conntab_each(&conntab, mark_forked);
	pthread_mutex_unlock(&conntab.lock);
}

int xio_conn_family(const struct xio_conn *c)
{
	return c->family;
}

/* ---- locks that survive their holder's death ---------------------------- */

/* Shared memory no longer makes sense: reset the connection, touch nothing more. */
static void corrupt(struct xio_conn *c)
{
	if (!atomic_exchange(&c->reset, true))
		atomic_store(&c->error, ECONNRESET);
	atomic_store(&c->peer_eof, true);
	atomic_store(&c->peer_gone, true);
	xio_log(1, "connection reset: its shared ring is corrupt");
}

/*
 * Take a direction's lock (robust: a dead holder's half operation is rolled
 * back), honouring the socket timeout, and check the ring. Returns 0, or
 * -EAGAIN (timeout) / -ECONNRESET (corrupt: the lock is not held then).
 */
static int lock_dir(struct xio_conn *c, pthread_mutex_t *m, struct rte_ring *r,
		    struct rte_ring_headtail *ht, const struct timeval *tmo)
{
	int e;
	if (tmo->tv_sec || tmo->tv_usec) {
		struct timespec ts =
		    xio_deadline_ts(CLOCK_REALTIME, (uint64_t)tmo->tv_sec * 1000000000u +
							(uint64_t)tmo->tv_usec * 1000u);
		e = pthread_mutex_timedlock(m, &ts);
	} else {
		e = pthread_mutex_lock(m);
	}
	if (e == ETIMEDOUT)
		return -EAGAIN;
	if (e == EDEADLK)
		return -EDEADLK; /* this thread holds it: a reserve or peek not yet ended */
	if (e == EOWNERDEAD)
		pthread_mutex_consistent(m);
	else if (e != 0) {
		corrupt(c);
		return -ECONNRESET;
	}
	if (!xio_ring_sane(r, c->elems)) {
		pthread_mutex_unlock(m);
		corrupt(c);
		return -ECONNRESET;
	}
	/* Single producer/consumer: outside an operation head == tail. A dead holder or garbage:
	 * roll back. */
	ht->head = ht->tail;
	return 0;
}

/* For zc.c: the same lock, without the socket timeouts (its calls block like send/recv). */
int xio_conn_lock(struct xio_conn *c, bool tx)
{
	static const struct timeval none;
	return tx ? lock_dir(c, &c->txd->wlock, c->tx, &c->tx->prod, &none)
		  : lock_dir(c, &c->rxd->rlock, c->rx, &c->rx->cons, &none);
}

void xio_conn_corrupt(struct xio_conn *c)
{
	corrupt(c);
}

static int lock_producer(struct xio_conn *c)
{
	return lock_dir(c, &c->txd->wlock, c->tx, &c->tx->prod, &c->sndtimeo);
}

static int lock_consumer(struct xio_conn *c)
{
	return lock_dir(c, &c->rxd->rlock, c->rx, &c->rx->cons, &c->rcvtimeo);
}

/*
 * A ring that empties rewinds to its start (ring.h): the writer puts padding
 * to the ring's end before its record. Until consumed, that padding holds
 * the room between the ring's end and where the writer was, which a reader
 * that waits for more (SO_RCVLOWAT) or does not read might never give back.
 * So we rewind only while we hold the reader's lock as well, taken without
 * waiting (the order of the two locks never matters then), and take the
 * padding away ourselves before we let go. A reader in the ring: no rewind
 * this time. Producer lock held. Returns whether the ring may rewind.
 */
bool xio_conn_rewind_lock(struct xio_conn *c)
{
	pthread_mutex_t *m = &c->txd->rlock;

	if (!xio_ring_may_rewind(c->tx))
		return false;
	int e = pthread_mutex_trylock(m);
	if (e == EOWNERDEAD)
		pthread_mutex_consistent(m);
	else if (e != 0)
		return false;
	if (!xio_ring_sane(c->tx, c->elems) || !xio_ring_may_rewind(c->tx)) {
		pthread_mutex_unlock(m);
		return false;
	}
	/* As lock_dir: roll back a dead reader's step. Empty: no record is partly read. */
	c->tx->cons.head = c->tx->cons.tail;
	c->txd->rd_off = 0;
	return true;
}

void xio_conn_rewind_unlock(struct xio_conn *c)
{
	(void)xio_ring_skip_pad(c->tx, 0);
	pthread_mutex_unlock(&c->txd->rlock);
}

/* ---- room for a writer ------------------------------------------------ */

/*
 * Bytes a writer may queue in direction @d (ring @r) now, and in *@bound the
 * size that room counts against: the ring's capacity, or the bytes in flight
 * the writer's SO_SNDBUF and the reader's SO_RCVBUF allow when that is less
 * (xio_buf_limit; record headers count, as skb overhead counts on TCP).
 * Sending, POLLOUT and the space doorbell all ask here, so a writer the
 * limit stopped is woken as one the full ring stopped.
 */
static size_t dir_room(const struct rte_ring *r, struct xio_dir *d, size_t *bound)
{
	size_t cap = xio_ring_capacity(r), room = xio_ring_room(r);
	uint32_t snd = atomic_load_explicit(&d->sndbuf, memory_order_relaxed);
	uint32_t rcv = atomic_load_explicit(&d->rcvbuf, memory_order_relaxed);
	size_t lim =
	    xio_buf_limit(snd ? snd : xio_default_sndbuf(), rcv ? rcv : xio_default_rcvbuf());
	if (lim >= cap) {
		*bound = cap;
		return room;
	}
	size_t used = xio_ring_used(r) + XIO_RING_ESIZE; /* and the next record's length */
	size_t left = lim > used ? lim - used : 0;
	*bound = lim;
	return left < room ? left : room;
}

/* Room for a writer, as TCP's POLLOUT: a third of the bound is free. */
static bool dir_writable(const struct rte_ring *r, struct xio_dir *d)
{
	size_t bound, room = dir_room(r, d, &bound);
	return room >= bound / 3;
}

/* ---- doorbells -------------------------------------------------------- */

static inline void bell_data(struct xio_conn *c, int fd)
{
	atomic_thread_fence(memory_order_seq_cst);
	/* The peer's epoll set learns from its board (board.h), and rings only if it sleeps. */
	bool ring = xio_board_post(c->dom, c->txd, xio_board_bit(c, true));
	if ((ring || atomic_load_explicit(&c->txd->readers_sleeping, memory_order_relaxed) ||
	     atomic_load_explicit(&c->txd->watchers, memory_order_relaxed)) &&
	    !atomic_exchange(&c->txd->data_bell_pending, 1))
		xio_demote_bell(c, fd, MSG_DONTWAIT | MSG_NOSIGNAL);
}

void xio_conn_bell_space(struct xio_conn *c, int fd)
{
	atomic_thread_fence(memory_order_seq_cst);
	bool ring = false;
	/* The peer's writer hit a full ring: news on its board once there is room. */
	if (__builtin_expect(atomic_load_explicit(&c->rxd->space_watch, memory_order_relaxed), 0) &&
	    dir_writable(c->rx, c->rxd) && atomic_exchange(&c->rxd->space_watch, 0))
		ring = xio_board_post(c->dom, c->txd, xio_board_bit(c, true));
	if ((ring || (atomic_load_explicit(&c->rxd->writers_waiting, memory_order_relaxed) &&
		      dir_writable(c->rx, c->rxd))) &&
	    !atomic_exchange(&c->rxd->space_bell_pending, 1))
		xio_demote_bell(c, fd, MSG_DONTWAIT | MSG_NOSIGNAL);
}

bool xio_board_watch_space(struct xio_conn *c)
{
	atomic_store(&c->txd->space_watch, 1);
	atomic_thread_fence(memory_order_seq_cst);
	/* Room made before the reader could see the flag: the news is ours to post. */
	return dir_writable(c->tx, c->txd) && atomic_exchange(&c->txd->space_watch, 0) &&
	       xio_board_post(c->dom, c->rxd, xio_board_bit(c, false));
}

/*
 * Read what the peer sent on the AF_UNIX socket: doorbell bytes only (the
 * server answers an offer by claiming the slot, not with a message); learn
 * EOF and HUP.
 */
#define LONE_STALE_NS 2000000 /* a lone waiter's doorbell unread this long: is it alive? */

/*
 * May we drain the socket now? Not while a waiter that announced alone is
 * announced, unless we are it (@lone): it sleeps without slices, so a
 * doorbell taken from under it, even one it is only about to poll() for,
 * would leave it asleep for good (stack/model/ring_wakeup.pml, -DPOLLERS).
 * It is awake or about to be (the bytes stay, its socket reads readable);
 * give it the CPU, once drain_lock is released (it will want it). One
 * killed while announced leaves its bit: after 2 ms its process is looked
 * at, and a dead one's announcement dropped.
 */
enum drain_turn { DRAIN_NOW, DRAIN_YIELD, DRAIN_NAP };

static enum drain_turn may_drain(struct xio_conn *c, bool lone)
{
	uint32_t s = atomic_load(&c->rxd->sleepers);
	/* After the peer's close the socket stays readable (EOF) and HUP for everyone. */
	if (lone || !(s & XIO_SLEEPER_LONE) || atomic_load(&c->sock_eof)) {
		atomic_store_explicit(&c->drain_held_ns, 0, memory_order_relaxed);
		return DRAIN_NOW;
	}
	int64_t now = xio_mono_ns(), since = atomic_load(&c->drain_held_ns);
	if (!since) {
		atomic_store(&c->drain_held_ns, now);
	} else if (now - since > LONE_STALE_NS) {
		pid_t pid = atomic_load(&c->rxd->lone_pid);
		if (pid > 0 && xio_pid_dead(pid) &&
		    atomic_compare_exchange_strong(&c->rxd->sleepers, &s,
						   s - 1 - XIO_SLEEPER_LONE)) {
			atomic_store(&c->drain_held_ns, 0);
			return DRAIN_NOW;
		}
		return DRAIN_NAP; /* alive but not running (stopped, or starved) */
	}
	/* a yield to a busy neighbour would hand it the CPU for a slice */
	return xio_spin_crowded() ? DRAIN_NAP : DRAIN_YIELD;
}

/* Give the lone waiter its turn (may_drain): a yield, or a 100 us nap. */
static void drain_wait_turn(enum drain_turn t)
{
	if (t == DRAIN_YIELD) {
		xio_spin_yield(xio_mono_ns());
	} else {
		struct timespec ts = {0, 100000};
		nanosleep(&ts, NULL);
	}
}

static void drain(struct xio_conn *c, int fd, bool lone)
{
	char buf[512];
	ssize_t n = 1;

	pthread_mutex_lock(&c->drain_lock);
	atomic_store_explicit(&c->fd_hint, fd + 1, memory_order_relaxed);
	if (!xio_demote_drain_enter(c)) {
		/* Demoted: what is in the socket is data now, not ours to drain. */
		pthread_mutex_unlock(&c->drain_lock);
		xio_demote_poke(c, fd);
		goto wake;
	}
	enum drain_turn turn = may_drain(c, lone);
	if (turn != DRAIN_NOW) {
		xio_demote_drain_exit(c, 0);
		pthread_mutex_unlock(&c->drain_lock);
		drain_wait_turn(turn);
		return;
	}
	uint64_t drained = 0;
	do {
		n = xio_sys.recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		drained += n > 0 ? (uint64_t)n : 0;
	} while (n == (ssize_t)sizeof(buf));
	xio_demote_drain_exit(c, drained);
	/*
	 * AF_UNIX reports ECONNRESET when the peer closed with our doorbell bytes
	 * unread: that is an ordinary close for us. TCP's reset is "the peer closed
	 * with our data unread", which we see in our send ring.
	 */
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		struct pollfd p = {.fd = fd, .events = 0};
		atomic_store(&c->sock_eof, true);
		atomic_store(&c->peer_eof, true);
		/* The server closed without claiming the slot: refused, a reset for the client. */
		if (!c->server &&
		    XIO_SLOT_STATE(atomic_load(&c->slot->state)) != XIO_SLOT_ESTABLISHED &&
		    !atomic_exchange(&c->reset, true))
			atomic_store(&c->error, ECONNRESET);
		/*
		 * The FIN travels in the slot (xio_conn_shutdown), so EOF here is
		 * the peer's close, or a demoted end's kernel FIN (demote.c). Both
		 * FINs given, a close loses nothing (TIME_WAIT): only then is HUP
		 * not "gone" (F16).
		 */
		bool fin_in = atomic_load(&c->rxd->shut_wr),
		     fin_out = atomic_load(&c->txd->shut_wr);
		if (n < 0 ||
		    (!(fin_in && fin_out) && xio_sys.poll(&p, 1, 0) > 0 && (p.revents & POLLHUP))) {
			atomic_store(&c->peer_gone, true);
			/*
			 * Closed with our data unread: TCP's RST. After both FINs it is
			 * lost (TIME_WAIT); after the peer's FIN only (CLOSE_WAIT) reads
			 * still end in EOF and the next write fails with EPIPE.
			 */
			if (!xio_ring_empty(c->tx) && !(fin_in && fin_out) &&
			    !atomic_exchange(&c->reset, true))
				atomic_store(&c->error, fin_in ? EPIPE : ECONNRESET);
		}
	}
	/* Bytes of both kinds were consumed: let the peer ring again, wake our other waiters. */
	atomic_store(&c->rxd->data_bell_pending, 0);
	atomic_store(&c->txd->space_bell_pending, 0);
	atomic_thread_fence(memory_order_seq_cst);
	pthread_mutex_unlock(&c->drain_lock);
	xio_board_after_drain(c);
wake:
	pthread_mutex_lock(&c->wait_lock);
	c->wake_seq++;
	pthread_cond_broadcast(&c->wait_cv);
	pthread_mutex_unlock(&c->wait_lock);
}

/* ---- waiting ------------------------------------------------------------ */

/* Enough bytes for SO_RCVLOWAT? (Only counted when the program raised it.) */
static bool lowat_met(struct xio_conn *c)
{
	if (c->rcvlowat <= 1)
		return true;
	return xio_ring_unread(c->rx, c->rxd->rd_off) >= (size_t)c->rcvlowat;
}

/*
 * The peer aborted (SO_LINGER {1,0}): a reset, as tcp_reset() makes it. The
 * error is pending at once (SO_ERROR, POLLERR; the next send takes it), and
 * EPIPE when the peer had sent its FIN before (CLOSE_WAIT). What the peer
 * wrote before its reset stays in our ring and is read first: the reset is
 * stored after its last record (xio_conn_abort), and the acquire load here
 * makes those records visible. Only then does a reader see ECONNRESET, then EOF.
 */
void xio_conn_check_abort(struct xio_conn *c)
{
	/*
	 * The peer's FIN, stored after its last record (xio_conn_shutdown): the
	 * acquire load makes those records visible before EOF is believed.
	 */
	if (!atomic_load_explicit(&c->peer_eof, memory_order_relaxed) &&
	    atomic_load_explicit(&c->rxd->shut_wr, memory_order_acquire))
		atomic_store(&c->peer_eof, true);
	if (__builtin_expect(atomic_load_explicit(&c->rxd->reset, memory_order_acquire), 0) &&
	    !atomic_exchange(&c->reset, true)) {
		atomic_store(&c->error, atomic_load(&c->rxd->shut_wr) ? EPIPE : ECONNRESET);
		atomic_store(&c->peer_eof, true);
		atomic_store(&c->peer_gone, true);
	}
}

void xio_conn_note_fd(struct xio_conn *c, int fd)
{
	if (atomic_load_explicit(&c->fd_hint, memory_order_relaxed) != fd + 1)
		atomic_store_explicit(&c->fd_hint, fd + 1, memory_order_relaxed); /* demote.c */
}

/* Readiness; the send side (POLLOUT: the tx ring's lines) only if @out. */
static unsigned ring_ready_for(struct xio_conn *c, bool out)
{
	unsigned ev = 0;
	xio_conn_check_abort(c);
	if (__builtin_expect(
		!xio_ring_sane(c->rx, c->elems) || (out && !xio_ring_sane(c->tx, c->elems)), 0))
		corrupt(c);
	bool eof = atomic_load_explicit(&c->peer_eof, memory_order_relaxed);
	int err = atomic_load_explicit(&c->error, memory_order_relaxed);

	if (eof || c->shut_rd || (!xio_ring_empty(c->rx) && lowat_met(c)))
		ev |= POLLIN | POLLRDNORM;
	if (eof)
		ev |= POLLRDHUP;
	bool reset = atomic_load_explicit(&c->reset, memory_order_relaxed);
	if (err)
		ev |= POLLERR;
	if ((eof && c->shut_wr) || reset)
		ev |= POLLHUP;
	if (out &&
	    (c->shut_wr || reset || atomic_load(&c->peer_gone) || dir_writable(c->tx, c->txd)))
		ev |= POLLOUT | POLLWRNORM;
	return ev;
}

static unsigned ring_ready(struct xio_conn *c)
{
	return ring_ready_for(c, true);
}

bool xio_conn_wait_prepare(struct xio_conn *c, unsigned events)
{
	bool lone = false;
	if (events) {
		/* One step: the count and whether we are alone (then the drain is ours). */
		uint32_t s = atomic_load(&c->rxd->sleepers);
		while (!atomic_compare_exchange_weak(&c->rxd->sleepers, &s,
						     s ? s + 1 : 1 | XIO_SLEEPER_LONE))
			;
		lone = !s;
		if (lone)
			atomic_store(&c->rxd->lone_pid, xio_self_pid());
	}
	if (events & POLLIN)
		atomic_fetch_add(&c->rxd->readers_sleeping, 1);
	if (events & POLLOUT)
		atomic_fetch_add(&c->txd->writers_waiting, 1);
	atomic_thread_fence(memory_order_seq_cst);
	return lone;
}

void xio_conn_wait_finish(struct xio_conn *c, int fd, unsigned events, bool lone)
{
	if (events) {
		/* The bit too if it is still ours (a waiter that took us for dead dropped it). */
		uint32_t s = atomic_load(&c->rxd->sleepers);
		while (!atomic_compare_exchange_weak(
		    &c->rxd->sleepers, &s,
		    s - 1 - (lone && (s & XIO_SLEEPER_LONE) ? XIO_SLEEPER_LONE : 0)))
			;
	}
	if (events & POLLIN)
		atomic_fetch_sub(&c->rxd->readers_sleeping, 1);
	if (events & POLLOUT)
		atomic_fetch_sub(&c->txd->writers_waiting, 1);
	if (fd >= 0)
		drain(c, fd, false);
	if (events & POLLIN)
		atomic_store(&c->rxd->data_bell_pending, 0);
	if (events & POLLOUT)
		atomic_store(&c->txd->space_bell_pending, 0);
	atomic_thread_fence(memory_order_seq_cst);
}

/*
 * Block until @events may be ready or @timeout_ms passes. Another waiter on
 * the same socket may drain the doorbell meant for us, so with company we
 * sleep in short slices and re-check.
 */
void xio_conn_abort(struct xio_conn *c, int fd)
{
	atomic_store(&c->txd->reset, 1);
	atomic_thread_fence(memory_order_seq_cst);
	/* the peer must look even if it is not asleep */
	xio_demote_bell(c, fd, MSG_DONTWAIT | MSG_NOSIGNAL);
}

bool xio_conn_linger_abort(const struct xio_conn *c)
{
	return c->linger_abort;
}

void xio_conn_push(struct xio_conn *c, int fd)
{
	bell_data(c, fd);
}

void xio_conn_set_connect_pending(struct xio_conn *c)
{
	c->connect_pending = true;
}

bool xio_conn_take_connect_pending(struct xio_conn *c)
{
	return __atomic_exchange_n(&c->connect_pending, false, __ATOMIC_ACQ_REL);
}

void xio_conn_drain(struct xio_conn *c, int fd, bool lone)
{
	drain(c, fd, lone);
	atomic_store(&c->rxd->data_bell_pending, 0);
	atomic_store(&c->txd->space_bell_pending, 0);
	atomic_thread_fence(memory_order_seq_cst);
}

void xio_conn_watch(struct xio_conn *c, bool on)
{
	if (on)
		atomic_fetch_add(&c->rxd->watchers, 1);
	else
		atomic_fetch_sub(&c->rxd->watchers, 1);
}

void xio_conn_fd_count(struct xio_conn *c, int delta)
{
	atomic_fetch_add(&c->fds, delta);
}

bool xio_conn_fd_open(struct xio_conn *c)
{
	return atomic_load(&c->fds) > 0;
}

bool xio_conn_fd_shared(struct xio_conn *c)
{
	return atomic_load(&c->fds) > 1;
}

unsigned xio_conn_waiters(struct xio_conn *c)
{
	return atomic_load(&c->rxd->sleepers) & ~XIO_SLEEPER_LONE;
}

static bool ring_has_company(struct xio_conn *c)
{
	/* Waiters on our end's socket, whatever each waits for (a reader and a writer thread too).
	 */
	return xio_conn_waiters(c) > 1;
}

int xio_conn_spin_us(struct xio_conn *c)
{
	int spin = xio_spin_us();
	if (spin) {
		/* Spinning against a peer on our own CPU only delays it (benchmarks/RESULTS.md). */
		int cpu = sched_getcpu() + 1; /* 0: not known yet */
		/* Both ends' words share a line: write ours only when it changes. */
		if (atomic_load_explicit(&c->slot->last_cpu[c->server], memory_order_relaxed) !=
		    cpu)
			atomic_store_explicit(&c->slot->last_cpu[c->server], cpu,
					      memory_order_relaxed);
		if (cpu ==
		    atomic_load_explicit(&c->slot->last_cpu[!c->server], memory_order_relaxed))
			spin = 0;
	}
	return spin;
}

/*
 * The blocking calls' front-end of the readiness engine (wait.h): one
 * connection, its socket, one event. Every waiter announces its interest in
 * shared memory, but within this process only one thread at a time (the
 * poller) sleeps in poll() on the socket and drains it; the others wait on
 * the connection's condition variable and are woken after every drain. A
 * doorbell consumed by one thread can therefore never leave another asleep
 * (a reader and a writer thread on one fd). A waiter in another process
 * sharing the socket still could: with such company the engine sleeps in
 * short slices.
 */
struct conn_waiter {
	struct xio_waiter w;
	struct xio_conn *c;
	int fd;
	unsigned events, want;
	bool hup;  /* the socket said HUP: final, and it cannot be masked */
	bool lone; /* announced alone: the drain is ours (xio_conn_wait_prepare) */
};

static void learn_peer_state(struct xio_conn *c, int fd);

/*
 * Could @want be ready? Only the words that can make it so, each of them on
 * a line the peer writes only when it matters: a spinning reader must not
 * pull the lines the peer writes on every send or receive (its ring's other
 * end, its lock) away from it. ring_ready() decides when this says maybe.
 */
static bool ring_maybe_ready(struct xio_conn *c, unsigned want)
{
	/* Garbage in the ring we read says maybe too: ring_ready() resets the connection. */
	if (((want & POLLIN) && !xio_ring_empty(c->rx)) || !xio_ring_sane(c->rx, c->elems))
		return true;
	if ((want & POLLOUT) && dir_writable(c->tx, c->txd))
		return true;
	return atomic_load_explicit(&c->rxd->shut_wr, memory_order_relaxed) ||
	       atomic_load_explicit(&c->rxd->reset, memory_order_relaxed) ||
	       atomic_load_explicit(&c->peer_eof, memory_order_relaxed) ||
	       atomic_load_explicit(&c->peer_gone, memory_order_relaxed) ||
	       atomic_load_explicit(&c->error, memory_order_relaxed) || c->shut_rd || c->shut_wr;
}

static int cw_scan(struct xio_waiter *w)
{
	struct conn_waiter *q = (struct conn_waiter *)w;
	/* Demoted: the caller goes in-band (we may hold the lock its switch needs). */
	if (xio_conn_in_band(q->c))
		return 1;
	return ring_maybe_ready(q->c, q->want) && (ring_ready(q->c) & q->want);
}

/* A close shows in the kernel only: a reader waiting for EOF must not spin for nothing. */
static void cw_peek(struct xio_waiter *w)
{
	struct conn_waiter *q = (struct conn_waiter *)w;
	if (q->events & POLLIN)
		learn_peer_state(q->c, q->fd);
}

static bool cw_announce(struct xio_waiter *w)
{
	struct conn_waiter *q = (struct conn_waiter *)w;
	struct xio_conn *c = q->c;
	q->lone = xio_conn_wait_prepare(c, q->events);
	pthread_mutex_lock(&c->wait_lock);
	if (c->wait_pid != xio_self_pid()) {
		/* Inherited through fork: the parent's waiters are not ours. */
		c->wait_pid = xio_self_pid();
		c->local_waiters = 0;
		c->poller = false;
		atomic_store(&c->cw_lone, false);
	}
	/* Our poller's drain wakes every local waiter: the lone one too, if it is ours. */
	if (q->lone)
		atomic_store(&c->cw_lone, true);
	int local = ++c->local_waiters; /* read under the lock (F15) */
	bool forked = c->forked;
	pthread_mutex_unlock(&c->wait_lock);
	/*
	 * A waiter in another process could steal our doorbell (no condvar spans
	 * processes): with such company, or on a connection inherited across
	 * fork, sleep in slices.
	 */
	return forked || xio_conn_waiters(c) > (unsigned)local;
}

static bool cw_quiet_eof(struct xio_waiter *w)
{
	return atomic_load(&((struct conn_waiter *)w)->c->sock_eof);
}

/* Sleep as the poller, or as a follower until the poller's next drain. */
static int cw_sleep(struct xio_waiter *w, const struct timespec *tp, int ready)
{
	struct conn_waiter *q = (struct conn_waiter *)w;
	struct xio_conn *c = q->c;
	int fd = q->fd;
	if (ready)
		return 0;
	int ms = tp ? (int)((tp->tv_sec * 1000000000LL + tp->tv_nsec + 999999) / 1000000) : -1;
	pthread_mutex_lock(&c->wait_lock);
	/* Under the lock: a drain by the poller is either seen here or wakes us below. */
	if (cw_scan(w)) {
		pthread_mutex_unlock(&c->wait_lock);
		return 0;
	}
	if (c->poller) {
		uint64_t seq = c->wake_seq;
		struct timespec ts =
		    xio_deadline_ts(CLOCK_MONOTONIC, (ms >= 0 ? (uint64_t)ms : 100) * 1000000u);
		while (c->poller && seq == c->wake_seq &&
		       pthread_cond_timedwait(&c->wait_cv, &c->wait_lock, &ts) == 0)
			;
		pthread_mutex_unlock(&c->wait_lock);
		return 0;
	}
	c->poller = true;
	pthread_mutex_unlock(&c->wait_lock);
	/*
	 * A doorbell flag left set with no byte in the socket (a peer killed
	 * between the two, or garbage) would silence the peer for good: clear it.
	 */
	int pr = 0, e = 0;
	if (atomic_load(&c->rxd->data_bell_pending) || atomic_load(&c->txd->space_bell_pending)) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (xio_sys.poll(&p, 1, 0) == 0) {
			atomic_store(&c->rxd->data_bell_pending, 0);
			atomic_store(&c->txd->space_bell_pending, 0);
			atomic_thread_fence(memory_order_seq_cst);
			if (cw_scan(w))
				goto done;
		}
	}
	/* After the peer's close only HUP is news (POLLIN would say EOF forever). */
	bool eof = atomic_load(&c->sock_eof);
	struct pollfd p = {.fd = q->hup ? -1 : fd, .events = eof ? 0 : POLLIN};
	pr = xio_sys.poll(&p, 1, ms);
	e = errno;
	if (pr > 0)
		drain(c, fd, atomic_load(&c->cw_lone));
	/* Once drained to its EOF (a drain may stop at doorbell bytes before it). */
	q->hup = q->hup || (pr > 0 && (p.revents & POLLHUP) && atomic_load(&c->sock_eof));
done:
	pthread_mutex_lock(&c->wait_lock);
	c->poller = false;
	c->wake_seq++;
	pthread_cond_broadcast(&c->wait_cv);
	pthread_mutex_unlock(&c->wait_lock);
	errno = e;
	return pr < 0 ? -1 : 0;
}

static int cw_finish(struct xio_waiter *w, int ready, int k, bool announced)
{
	struct conn_waiter *q = (struct conn_waiter *)w;
	struct xio_conn *c = q->c;
	(void)ready;
	(void)k;
	if (announced) {
		pthread_mutex_lock(&c->wait_lock);
		if (--c->local_waiters > 0)
			pthread_cond_broadcast(&c->wait_cv); /* a follower takes over polling */
		if (q->lone)
			atomic_store(&c->cw_lone, false);
		pthread_mutex_unlock(&c->wait_lock);
		xio_conn_wait_finish(c, -1, q->events, q->lone);
	}
	return cw_scan(w);
}

/*
 * Block until @events may be ready (0), @timeout_ms passes (-EAGAIN), or a signal (-EINTR).
 * A wait for data on a connection read with the native API spins as its
 * recent waits teach (wait.h, xio_spin_adapt_us), and teaches in turn.
 */
static int wait_for(struct xio_conn *c, int fd, unsigned events, int timeout_ms)
{
	int base = xio_conn_spin_us(c), spin = base, cap = 0;
	int64_t start = 0;
	if (events == POLLIN && atomic_load_explicit(&c->zc_reader, memory_order_relaxed) &&
	    (cap = xio_spin_adapt_cap_us()) > 0) {
		spin = xio_spin_adapt_us(&c->rx_adapt, base, cap);
		start = xio_mono_ns();
	}
	struct conn_waiter q = {
	    .w = {.scan = cw_scan,
		  .peek = cw_peek,
		  .announce = cw_announce,
		  .quiet_eof = cw_quiet_eof,
		  .sleep = cw_sleep,
		  .finish = cw_finish,
		  .spin_us = spin,
		  .deadline_ns =
		      timeout_ms >= 0 ? xio_mono_ns() + (int64_t)timeout_ms * 1000000 : -1},
	    .c = c,
	    .fd = fd,
	    .events = events,
	    .want = events | POLLERR | POLLHUP};
	int r = xio_wait(&q.w);
	if (start)
		xio_spin_adapt_learn(&c->rx_adapt, xio_mono_ns() - start, r > 0, spin, base, cap);
	return r > 0 ? 0 : r == 0 ? -EAGAIN : -errno;
}

static int ring_wait(struct xio_conn *c, int fd, unsigned events, int timeout_ms)
{
	return wait_for(c, fd, events & (POLLIN | POLLOUT), timeout_ms);
}

/* ---- send / receive ----------------------------------------------------- */

static size_t iov_total(const struct iovec *iov, int n)
{
	size_t t = 0;
	for (int i = 0; i < n; i++)
		t += iov[i].iov_len;
	return t;
}

/* EPIPE as the kernel gives it, SIGPIPE included unless MSG_NOSIGNAL. */
static ssize_t epipe(struct xio_conn *c, int fd, int flags)
{
	/* A send on the shut or orphaned AF_UNIX end makes the kernel raise SIGPIPE itself. */
	if (!(flags & MSG_NOSIGNAL) && xio_demote_bell(c, fd, MSG_DONTWAIT) >= 0)
		raise(SIGPIPE); /* the peer only half-closed: a stray doorbell, then the signal */
	return -EPIPE;
}

/*
 * Paths that do not wait (send's liveness check, a non-blocking recv) need
 * only EOF and HUP. They must leave doorbell bytes to the waiters: a byte
 * taken here could be the one a thread about to poll() is counting on.
 */
static void learn_peer_state(struct xio_conn *c, int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLRDHUP};
	/* The lone waiter's doorbells too: its socket reads EOF from now on, it will wake. */
	if (xio_sys.poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)))
		drain(c, fd, true);
}

/*
 * TCP learns that the peer is gone from the reset its next segment provokes.
 * We learn it from the kernel (HUP on the AF_UNIX socket), checked at most
 * once a millisecond on the send path so the fast path stays syscall free.
 */
#define COVER_MAX 256
static _Atomic uint64_t cover_clock[COVER_MAX]; /* µs; 0: free */

int xio_cover_take(void)
{
	for (int i = 0; i < COVER_MAX; i++) {
		uint64_t free_ = 0;
		if (atomic_compare_exchange_strong(&cover_clock[i], &free_, 1))
			return i;
	}
	return -1;
}

void xio_cover_give(int clock)
{
	if (clock >= 0 && clock < COVER_MAX)
		atomic_store(&cover_clock[clock], 0);
}

void xio_cover_mark(int clock, uint64_t us)
{
	if (clock >= 0 && clock < COVER_MAX && us > 1)
		atomic_store_explicit(&cover_clock[clock], us, memory_order_release);
}

void xio_conn_set_cover(struct xio_conn *c, int clock, int old)
{
	if (clock >= 0) {
		atomic_store(&c->cover, clock + 1);
		return;
	}
	int mine = old + 1;
	atomic_compare_exchange_strong(&c->cover, &mine, 0);
}

/*
 * Sends on many slow connections (10,000 each sending a few times a second)
 * would each poll() here: an epoll set that watches the connection looks
 * at every socket it holds at most every half millisecond and marks its
 * clock (shim/epoll.c), which stands for our own look.
 */
void xio_conn_check_peer(struct xio_conn *c, int fd)
{
	uint64_t now = xio_mono_us();
	uint64_t last = atomic_load_explicit(&c->peer_checked_us, memory_order_relaxed);
	int cv = atomic_load_explicit(&c->cover, memory_order_relaxed);
	if (cv > 0 && cv <= COVER_MAX) {
		uint64_t t = atomic_load_explicit(&cover_clock[cv - 1], memory_order_acquire);
		last = t > last && t <= now ? t : last;
	}
	if (atomic_load_explicit(&c->peer_gone, memory_order_relaxed) || now - last < 1000)
		return;
	atomic_store_explicit(&c->peer_checked_us, now, memory_order_relaxed);
	learn_peer_state(c, fd);
}

static ssize_t ring_send(struct xio_conn *c, int fd, const struct iovec *iov, int iovcnt, int flags,
			 bool nonblock)
{
	size_t total = iov_total(iov, iovcnt), done = 0;
	struct xio_iov_cursor cur;
	ssize_t err = 0;
	int timeout = xio_timeval_ms(&c->sndtimeo);

	atomic_store_explicit(&c->fd_hint, fd + 1, memory_order_relaxed); /* demote.c */
	xio_conn_check_abort(c);
	xio_conn_check_peer(c, fd);
	/* As tcp_sendmsg: a pending error first (a reset is ECONNRESET once), then EPIPE. */
	int e = atomic_exchange(&c->error, 0);
	if (e)
		return e == EPIPE ? epipe(c, fd, flags) : -e;
	if (c->shut_wr)
		return epipe(c, fd, flags);
	if (atomic_load(&c->reset))
		return epipe(c, fd, flags);
	if (atomic_load(&c->peer_gone)) {
		/*
		 * Like TCP, which cannot tell a close from a half-close: the first write
		 * after the peer went is accepted and provokes the reset, which after
		 * the peer's FIN (CLOSE_WAIT) reads as EPIPE.
		 */
		atomic_store(&c->reset, true);
		atomic_store(&c->error, EPIPE);
		return (ssize_t)total;
	}
	if (__builtin_expect(flags & MSG_OOB, 0)) {
		/*
		 * Urgent data: the connection becomes the AF_UNIX stream it is
		 * anyway (demote.c), whose MSG_OOB, SIOCATMARK, SO_OOBINLINE,
		 * POLLPRI and SIGURG behave as TCP's urgent byte. Nothing is lost:
		 * what is in the rings is read first.
		 */
		int r = xio_conn_demote(c, fd);
		if (r < 0)
			return r;
		if (xio_conn_in_band(c))
			return xio_demote_send(c, fd, iov, iovcnt, flags, nonblock);
		flags &= ~MSG_OOB; /* XIO_DEMOTE=0: in band, as before */
	}
	if (total == 0)
		return 0;
	nonblock = nonblock || (flags & MSG_DONTWAIT);
	bool defer = (flags & MSG_MORE) || c->cork;
	xio_cursor_init(&cur, iov, iovcnt);
	int lr = lock_producer(c);
	if (lr < 0)
		return lr;
	if (xio_conn_in_band(c)) {
		/* Demoted by another thread or process of our end while we took the lock. */
		pthread_mutex_unlock(&c->txd->wlock);
		return xio_demote_send(c, fd, iov, iovcnt, flags, nonblock);
	}
	while (done < total) {
		size_t bound, room = dir_room(c->tx, c->txd, &bound), n = 0;
		if (room) {
			bool rw = xio_conn_rewind_lock(c);
			n = xio_ring_put(c->tx, &cur, total - done < room ? total - done : room,
					 rw);
			if (rw)
				xio_conn_rewind_unlock(c);
		}
		if (n > 0) {
			done += n;
			c->txd->bytes += n;
			if (!defer)
				bell_data(c, fd);
			continue;
		}
		bell_data(c, fd); /* flush a deferred doorbell before we wait */
		if (nonblock) {
			atomic_fetch_add_explicit(&c->nospace, 1, memory_order_relaxed);
			/* EPOLLOUT's edge comes as news; a set asleep already is kicked. */
			if (atomic_load_explicit(&c->rxd->board, memory_order_relaxed) &&
			    xio_board_watch_space(c))
				xio_board_kick_set(c);
			err = -EAGAIN;
			break;
		}
		int r = wait_for(c, fd, POLLOUT, timeout);
		if (xio_conn_in_band(c)) {
			/* Demoted while we waited: the rest goes in-band after the ring's bytes. */
			pthread_mutex_unlock(&c->txd->wlock);
			ssize_t k = xio_demote_send_rest(c, fd, &cur, flags, nonblock);
			return k >= 0 ? (ssize_t)done + k : done ? (ssize_t)done : k;
		}
		if (r == -EINTR && done == 0 && timeout < 0 && xio_signal_restarts())
			continue;
		xio_conn_check_abort(c);
		if (atomic_load(&c->peer_gone) || atomic_load(&c->error)) {
			/*
			 * The peer is gone with our data unread: reset, as TCP would.
			 * As tcp_sendmsg, a short count keeps the error for the next
			 * call; otherwise this call takes it (ECONNRESET for a reset).
			 */
			atomic_store(&c->reset, true);
			if (done)
				break;
			e = atomic_exchange(&c->error, 0);
			err = e && e != EPIPE ? -e : epipe(c, fd, flags);
			break;
		}
		if (r < 0) {
			err = r;
			break;
		}
	}
	pthread_mutex_unlock(&c->txd->wlock);
	if (done > 0)
		return (ssize_t)done;
	return err;
}

static ssize_t ring_recv(struct xio_conn *c, int fd, const struct iovec *iov, int iovcnt, int flags,
			 bool nonblock)
{
	size_t total = iov_total(iov, iovcnt), done = 0;
	struct xio_iov_cursor cur;
	bool peek = flags & MSG_PEEK, waitall = (flags & MSG_WAITALL) && !peek;
	ssize_t err = 0;
	int timeout = xio_timeval_ms(&c->rcvtimeo);

	if (flags & MSG_OOB)
		return -EINVAL; /* urgent data is only ever sent on a demoted connection (send) */
	atomic_store_explicit(&c->fd_hint, fd + 1, memory_order_relaxed); /* demote.c */
	if (c->shut_rd)
		return 0;
	nonblock = nonblock || (flags & MSG_DONTWAIT);
	xio_cursor_init(&cur, iov, iovcnt);
	/* A reset: what the peer wrote before it is read first (tcp_reset keeps the queue). */
	xio_conn_check_abort(c);
	int lr = lock_consumer(c);
	if (lr < 0)
		return lr;
	if (xio_conn_in_band(c)) {
		/* Demoted by another thread or process of our end while we took the lock. */
		pthread_mutex_unlock(&c->rxd->rlock);
		return xio_demote_recv(c, fd, iov, iovcnt, flags, nonblock);
	}
	for (;;) {
		ssize_t n = xio_ring_get(c->rx, &c->rxd->rd_off, &cur, total - done, peek);
		if (n < 0) {
			/* corrupt shared state: reset the connection, never read out of bounds */
			atomic_store(&c->error, ECONNRESET);
			atomic_store(&c->peer_eof, true);
			err = -ECONNRESET;
			break;
		}
		if (n > 0) {
			done += (size_t)n;
			if (!peek)
				xio_conn_bell_space(c, fd);
			/* Like tcp_recvmsg: wait for min(SO_RCVLOWAT, len) bytes, all with WAITALL.
			 */
			size_t target =
			    waitall ? total : (size_t)(c->rcvlowat > 1 ? c->rcvlowat : 1);
			if (done >= total || done >= target || peek || nonblock)
				break;
			continue;
		}
		if (total == 0)
			break;
		/*
		 * As tcp_recvmsg: a reset without FIN (the peer closed with our data
		 * unread, or aborted) is ECONNRESET once, after the bytes that came
		 * before it; a call that has bytes returns them and leaves the error
		 * to the next one. After a FIN, EOF wins and a pending error (EPIPE
		 * of a later write) stays for SO_ERROR and send.
		 */
		int e = atomic_load(&c->error);
		if (e == ECONNRESET && done)
			break;
		if (e == ECONNRESET && atomic_compare_exchange_strong(&c->error, &e, 0)) {
			err = -ECONNRESET;
			break;
		}
		if (atomic_load(&c->peer_eof)) {
			if (xio_ring_empty(c->rx))
				break; /* EOF: return what we have, 0 if nothing */
			continue;
		}
		if (e && atomic_compare_exchange_strong(&c->error, &e, 0)) {
			err = -e;
			break;
		}
		if (nonblock) {
			learn_peer_state(c, fd);
			if (atomic_load(&c->peer_eof) || atomic_load(&c->error) ||
			    !xio_ring_empty(c->rx))
				continue;
			err = -EAGAIN;
			break;
		}
		int r = wait_for(c, fd, POLLIN, timeout);
		if (xio_conn_in_band(c)) {
			/* Demoted while we waited: the socket carries the bytes from now on. */
			pthread_mutex_unlock(&c->rxd->rlock);
			if (done > 0 && !waitall)
				return (ssize_t)done;
			ssize_t k = xio_demote_recv_rest(c, fd, &cur, flags, nonblock);
			return k >= 0 ? (ssize_t)done + k : done ? (ssize_t)done : k;
		}
		if (r == -EINTR && timeout < 0 && xio_signal_restarts())
			continue;
		if (r < 0) {
			err = r;
			break;
		}
	}
	pthread_mutex_unlock(&c->rxd->rlock);
	if (done > 0)
		return (ssize_t)done;
	return err;
}

static int ring_shutdown(struct xio_conn *c, int fd, int how)
{
	if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR)
		return -EINVAL;
	if (how != SHUT_WR)
		c->shut_rd = true;
	if (how != SHUT_RD && !atomic_exchange(&c->shut_wr, true)) {
		/*
		 * The FIN travels in the slot, after our last record (release), with
		 * a doorbell for a sleeping reader. Not the kernel's shutdown: a
		 * socket at EOF can no longer carry the peer's doorbells to us, and
		 * a writer to a half-closed peer would have to poll in slices.
		 */
		atomic_store_explicit(&c->txd->shut_wr, 1, memory_order_release);
		bell_data(c, fd);
		/* Demoted meanwhile: the peer reads the socket now, give it the kernel's FIN. */
		if (xio_conn_in_band(c))
			return xio_demote_shutdown(c, fd, SHUT_WR);
		/*
		 * Between pods the kernel's TCP connection stays open beside ours: its FIN
		 * goes in the same order as the application's, so TIME-WAIT lands on the
		 * side TCP puts it on (an unconnected port holder just says ENOTCONN).
		 */
		if (c->port_holder >= 0)
			xio_sys.shutdown(c->port_holder, SHUT_WR);
	}
	return 0;
}

bool xio_conn_sock_eof(struct xio_conn *c)
{
	return atomic_load_explicit(&c->sock_eof, memory_order_relaxed);
}

static int ring_inq(struct xio_conn *c)
{
	if (lock_consumer(c) < 0)
		return 0;
	ssize_t n = xio_ring_readable(c->rx, c->rxd->rd_off);
	pthread_mutex_unlock(&c->rxd->rlock);
	return n < 0 ? 0 : (int)n;
}

static void ring_edges(struct xio_conn *c, uint32_t *in_seq, uint32_t *nospace_seq)
{
	xio_conn_check_abort(c); /* a FIN in the slot is an edge now, not at the next look */
	*in_seq = c->rx->prod.tail ^ (atomic_load(&c->peer_eof) ? 0x80000000u : 0);
	*nospace_seq = atomic_load_explicit(&c->nospace, memory_order_relaxed);
}

int xio_conn_outq(struct xio_conn *c)
{
	/*
	 * SIOCOUTQ counts bytes the peer's stack has not acknowledged. Over
	 * loopback TCP that is ~0 as soon as the bytes sit in the peer's receive
	 * queue, which for us is the ring: nothing is ever in flight.
	 */
	(void)c;
	return 0;
}

/* Urgent data exists only on a demoted connection (ring_send). */
static int ring_atmark(struct xio_conn *c, int fd)
{
	(void)c;
	(void)fd;
	return 0;
}

/* ---- the entry points: through the connection's operations (conn.h) ---- */

const struct xio_conn_ops xio_ring_ops = {
    .send = ring_send,
    .recv = ring_recv,
    .ready = ring_ready,
    .wait = ring_wait,
    .shutdown = ring_shutdown,
    .inq = ring_inq,
    .atmark = ring_atmark,
    .edges = ring_edges,
    .has_company = ring_has_company,
};

ssize_t xio_conn_send(struct xio_conn *c, int fd, const struct iovec *iov, int iovcnt, int flags,
		      bool nonblock)
{
	return xio_conn_ops(c)->send(c, fd, iov, iovcnt, flags, nonblock);
}

ssize_t xio_conn_recv(struct xio_conn *c, int fd, const struct iovec *iov, int iovcnt, int flags,
		      bool nonblock)
{
	return xio_conn_ops(c)->recv(c, fd, iov, iovcnt, flags, nonblock);
}

unsigned xio_conn_ready(struct xio_conn *c)
{
	return xio_conn_ops(c)->ready(c);
}

void xio_conn_prefetch(const struct xio_conn *c)
{
	const struct rte_ring *r = c->rx, *t = c->tx;
	const uint32_t *td = (const uint32_t *)&t[1];
	__builtin_prefetch(&c->rxd->shut_wr);
	__builtin_prefetch(&r->size);
	__builtin_prefetch(&r->prod);
	__builtin_prefetch(&r->cons);
	/*
	 * For writing: the locks the read and the answer take, our producer
	 * index and the line the answer goes to (found from our own index: no
	 * miss). The answer's fence (bell_data) otherwise waits for each of
	 * these lines from the other CPU in turn: 10,000 ping-pong connections
	 * made 12-35% more round trips a second with them (benchmarks/FINDINGS.md).
	 */
	__builtin_prefetch(&c->rxd->rlock, 1);
	__builtin_prefetch(&c->txd->wlock, 1);
	__builtin_prefetch(&t->prod, 1);
	__builtin_prefetch(&td[t->prod.tail & t->mask], 1);
}

unsigned xio_conn_ready_for(struct xio_conn *c, unsigned events)
{
	const struct xio_conn_ops *o = xio_conn_ops(c);
	if (o == &xio_ring_ops)
		return ring_ready_for(c, events & POLLOUT);
	return o->ready(c);
}

int xio_conn_wait(struct xio_conn *c, int fd, unsigned events, int timeout_ms)
{
	return xio_conn_ops(c)->wait(c, fd, events, timeout_ms);
}

int xio_conn_shutdown(struct xio_conn *c, int fd, int how)
{
	return xio_conn_ops(c)->shutdown(c, fd, how);
}

int xio_conn_inq(struct xio_conn *c)
{
	return xio_conn_ops(c)->inq(c);
}

int xio_conn_atmark(struct xio_conn *c, int fd)
{
	return xio_conn_ops(c)->atmark(c, fd);
}

void xio_conn_edges(struct xio_conn *c, uint32_t *in_seq, uint32_t *nospace_seq)
{
	xio_conn_ops(c)->edges(c, in_seq, nospace_seq);
}

bool xio_conn_has_company(struct xio_conn *c)
{
	return xio_conn_ops(c)->has_company(c);
}

bool xio_conn_is_demoted(struct xio_conn *c)
{
	return xio_conn_in_band(c);
}
