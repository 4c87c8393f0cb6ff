/* SPDX-License-Identifier: MIT */
/*
 * Native zero-copy calls (zc.h): pool buffers handed through a connection's
 * ring as descriptor records, and in-place access to a ring's bytes.
 *
 * Waiting, EOF and error reporting are the socket path's own: before taking
 * a record we wait with a one-byte MSG_PEEK through xio_conn_recv(), and a
 * sender that finds the ring full waits with xio_conn_wait(), so the
 * wake-up protocol of conn.c is used unchanged.
 *
 * Order of steps, so that a kill at any instruction never lets a buffer be
 * used twice: the sender moves the buffer to SENT(slot) before its record
 * is published; a reader publishes the consumption of a record before it
 * frees or takes the buffer. A kill in between leaves a SENT buffer that no
 * record names; the manager frees it with the slot.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "conn.h"
#include "demote.h"
#include "ring.h"
#include "sys.h"
#include "zc.h"

/* ---- helpers on a connection ---------------------------------------------------- */

static int lock_tx(struct xio_conn *c)
{
	return xio_conn_lock(c, true);
}

static int lock_rx(struct xio_conn *c)
{
	return xio_conn_lock(c, false);
}

/* May we send at all? 0 or the error a write would give (never SIGPIPE here). */
static int send_check(struct xio_conn *c, int fd)
{
	xio_conn_check_abort(c);
	xio_conn_check_peer(c, fd);
	int e = atomic_exchange(&c->error, 0); /* as send: a pending error (a reset) first */
	if (e)
		return -e;
	if (atomic_load(&c->shut_wr))
		return -EPIPE;
	if (atomic_load(&c->reset) || atomic_load(&c->peer_gone))
		return -EPIPE;
	return 0;
}

/* The ring is full: flush our doorbell, then wait for room. 0 to retry or -errno. */
static int wait_room(struct xio_conn *c, int fd, bool nonblock)
{
	xio_conn_push(c, fd);
	if (nonblock) {
		atomic_fetch_add_explicit(&c->nospace, 1, memory_order_relaxed);
		return -EAGAIN;
	}
	int timeout = xio_timeval_ms(&c->sndtimeo);
	int r = xio_conn_wait(c, fd, POLLOUT, timeout);
	if (r == -EINTR && timeout < 0 && xio_signal_restarts())
		return 0;
	return r;
}

/* Something other than data to report (EOF, an error, a reset)? */
static bool news(struct xio_conn *c)
{
	return atomic_load_explicit(&c->peer_eof, memory_order_relaxed) ||
	       atomic_load_explicit(&c->error, memory_order_relaxed) ||
	       atomic_load_explicit(&c->rxd->reset, memory_order_relaxed);
}

/*
 * Wait until a record (or EOF, or an error) is there: 1, 0 at EOF, or -errno.
 * Only the look that needs no lock is ours; spinning, sleeping, doorbells,
 * EOF, errors and timeouts are the socket path's (a one-byte recv(MSG_PEEK)),
 * so xio_rx spins exactly as read() does: once, in the readiness engine's
 * spin() (wait.c). A spin of our own in front of it doubled the spin and, on
 * CPUs shared by stages of a chain, the time a spinning stage takes from one
 * that has work (benchmarks/RESULTS.md). How long that one spin lasts is
 * learned: a connection read with the native API spins adaptively (wait.h,
 * xio_spin_adapt_us), whichever call waits, xio_rx or read().
 */
static ssize_t wait_data(struct xio_conn *c, int fd, bool nonblock)
{
	/* Our waits for data spin adaptively from now on (wait.h, xio_spin_adapt_us). */
	if (!atomic_load_explicit(&c->zc_reader, memory_order_relaxed))
		atomic_store_explicit(&c->zc_reader, true, memory_order_relaxed);
	if (!atomic_load_explicit(&c->shut_rd, memory_order_relaxed) && !news(c) &&
	    !xio_ring_empty(c->rx))
		return 1;
	char b;
	struct iovec v = {&b, 1};
	return xio_conn_recv(c, fd, &v, 1, MSG_PEEK, nonblock);
}

/* The connection's slot index, from this process's own pointers. */
static int conn_slot(const struct xio_conn *c, uint32_t *slot)
{
	const struct xio_pool *p = &c->dom->pool;
	const char *s = (const char *)c->slot;

	if (p->slot_size == 0 || s < p->slots)
		return -EINVAL;
	uint64_t d = (uint64_t)(s - p->slots);
	if (d % p->slot_size || d / p->slot_size >= p->nslots)
		return -EINVAL;
	*slot = (uint32_t)(d / p->slot_size);
	return 0;
}

/* What a thread holds between reserve and commit, peek and consume (its lock included). */
struct tx_hold {
	struct xio_conn *c;
	char *ptr, *hdr;
	size_t max;
};

struct rx_hold {
	struct xio_conn *c;
	const char *ptr;
	size_t max;
	uint32_t rlen, relems, desc, idx, gen, slot;
};

static _Thread_local struct tx_hold tx_hold;
static _Thread_local struct rx_hold rx_hold;

/* ---- buffers ---------------------------------------------------------------------- */

static struct xio_domain *zc_domain(void)
{
	struct xio_domain *d = xio_domain_peek();
	if (!d && !xio_config()->disabled) {
		enum xio_fallback why;
		d = xio_domain_get(&why);
	}
	return d && d->pool.nbufs ? d : NULL;
}

size_t xio_zc_buf_size(int *err)
{
	struct xio_domain *d = zc_domain();
	if (!d) {
		*err = -ENOTSUP;
		return 0;
	}
	return d->pool.buf_size;
}

void *xio_zc_malloc(size_t size, int *err)
{
	struct xio_domain *d = zc_domain();
	if (!d) {
		*err = -ENOTSUP;
		return NULL;
	}
	if (size > d->pool.buf_size) {
		*err = -EINVAL;
		return NULL;
	}
	uint64_t ns;
	uint32_t pid = xio_pool_self(&ns);
	int64_t i = xio_pool_alloc(&d->pool, pid, ns);
	if (i < 0) {
		*err = (int)i;
		return NULL;
	}
	return xio_pool_buf(&d->pool, (uint32_t)i);
}

int xio_zc_free(void *ptr)
{
	struct xio_pool *p = xio_pool_find(ptr);
	uint32_t idx, off;

	if (!p || xio_pool_locate(p, ptr, &idx, &off) < 0)
		return -EINVAL;
	return xio_pool_free(p, idx, xio_pool_self(NULL));
}

/* Publish a descriptor record (producer lock held). */
static bool put_desc(struct rte_ring *r, uint32_t idx, uint32_t gen, uint32_t off, uint32_t len,
		     bool rewind)
{
	struct rte_ring_zc_data z = {0};
	int64_t at = xio_ring_put_start(r, XIO_DESC_ELEMS, &z, rewind);

	if (at < 0)
		return false;
	xio_zc_set_elem(&z, (uint32_t)at, XIO_REC_DESC | len);
	xio_zc_set_elem(&z, (uint32_t)at + 1, idx);
	xio_zc_set_elem(&z, (uint32_t)at + 2, gen);
	xio_zc_set_elem(&z, (uint32_t)at + 3, off);
	rte_ring_enqueue_zc_elem_finish(r, (unsigned)at + XIO_DESC_ELEMS);
	return true;
}

/* ---- xio_tx / xio_rx ----------------------------------------------------------------- */

ssize_t xio_zc_tx(struct xio_conn *c, int fd, void *buf, size_t len, bool nonblock)
{
	struct xio_pool *p = &c->dom->pool;
	uint32_t idx, off, slot, gen;

	if (p->nbufs == 0 || xio_conn_in_band(c))
		return -ENOTSUP;
	if (xio_pool_locate(p, buf, &idx, &off) < 0)
		return xio_pool_find(buf) ? -EXDEV : -EINVAL; /* another generation's pool */
	if (len > p->buf_size - off || conn_slot(c, &slot) < 0)
		return -EINVAL;
	uint32_t pid = xio_pool_self(NULL);
	uint64_t w = atomic_load_explicit(&p->meta[idx].word, memory_order_acquire);
	if (XIO_BUF_STATE(w) != XIO_BUF_HELD || XIO_BUF_OWNER(w) != (pid & XIO_BUF_OWNER_MAX))
		return XIO_BUF_STATE(w) == XIO_BUF_FREE ? -EALREADY : -EPERM;
	if (len == 0)
		return 0; /* like write(fd, buf, 0): nothing sent, the buffer stays ours */
	if (tx_hold.c == c)
		return -EBUSY; /* our own reservation holds the send side: waiting would deadlock */
	for (;;) {
		int r = send_check(c, fd);
		if (r == 0)
			r = lock_tx(c);
		if (r < 0)
			return r;
		if (rte_ring_free_count(c->tx) >= XIO_DESC_ELEMS) {
			r = xio_pool_send(p, idx, pid, slot, &gen);
			bool rw = r == 0 && xio_conn_rewind_lock(c);
			bool put = r == 0 && put_desc(c->tx, idx, gen, off, (uint32_t)len, rw);
			if (rw)
				xio_conn_rewind_unlock(c);
			if (r == 0 && !put) {
				/* impossible under our lock; the buffer goes with the slot */
				pthread_mutex_unlock(&c->txd->wlock);
				xio_conn_corrupt(c);
				return -ECONNRESET;
			}
			if (r == 0)
				c->txd->bytes += len;
			pthread_mutex_unlock(&c->txd->wlock);
			if (r < 0)
				return r;
			xio_conn_push(c, fd);
			return (ssize_t)len;
		}
		pthread_mutex_unlock(&c->txd->wlock);
		r = wait_room(c, fd, nonblock);
		if (r < 0)
			return r;
	}
}

/*
 * Under the consumer lock: take the head record as a buffer. A descriptor
 * record hands its buffer over; bytes (a peer's write()) are copied into a
 * new buffer. Returns the length, 0 if the ring is empty, or -errno.
 */
static ssize_t take_head(struct xio_conn *c, struct xio_pool *p, uint32_t slot, void **out)
{
	struct rte_ring_zc_data z = {0};
	(void)xio_ring_skip_pad(c->rx, c->rxd->rd_off); /* the head record is the one to take */
	unsigned avail = rte_ring_count(c->rx);
	uint64_t ns;
	uint32_t pid = xio_pool_self(&ns);

	if (avail == 0)
		return 0;
	avail = rte_ring_dequeue_zc_burst_elem_start(c->rx, XIO_RING_ESIZE, avail, &z, NULL);
	if (avail == 0)
		return 0;
	uint32_t rec = xio_zc_elem(&z, 0), rlen = XIO_REC_LEN(rec), off = c->rxd->rd_off;
	uint32_t relems = xio_rec_elems(rec, avail);
	/* padding still at the head is corrupt: xio_ring_skip_pad took any other */
	if (relems == 0 || off >= rlen || (rec & XIO_REC_PAD))
		goto bad;
	if (rec & XIO_REC_DESC) {
		uint32_t idx = xio_zc_elem(&z, 1), gen = xio_zc_elem(&z, 2);
		const char *src = xio_pool_desc(p, idx, gen, xio_zc_elem(&z, 3), rlen, slot);
		if (!src)
			goto bad;
		rte_ring_dequeue_zc_elem_finish(c->rx, relems);
		c->rxd->rd_off = 0;
		if (xio_pool_take(p, idx, gen, slot, pid, ns) < 0) {
			xio_conn_corrupt(c); /* changed under us: someone scribbles on the pool */
			return -ECONNRESET;
		}
		*out = (void *)(uintptr_t)(src + off);
		return (ssize_t)(rlen - off);
	}
	int64_t i = xio_pool_alloc(p, pid, ns);
	if (i < 0) {
		rte_ring_dequeue_zc_elem_finish(c->rx, 0);
		return -ENOMEM; /* the bytes stay for read() or a later xio_rx */
	}
	char *buf = xio_pool_buf(p, (uint32_t)i);
	size_t k = rlen - off < p->buf_size ? rlen - off : p->buf_size;
	struct iovec v = {buf, k};
	struct xio_iov_cursor cur;
	xio_cursor_init(&cur, &v, 1);
	xio_zc_copy(&z, XIO_RING_ESIZE + (size_t)off, k, &cur, false);
	off += (uint32_t)k;
	rte_ring_dequeue_zc_elem_finish(c->rx, off == rlen ? relems : 0);
	c->rxd->rd_off = off == rlen ? 0 : off;
	*out = buf;
	return (ssize_t)k;
bad:
	rte_ring_dequeue_zc_elem_finish(c->rx, 0);
	xio_conn_corrupt(c);
	return -ECONNRESET;
}

ssize_t xio_zc_rx(struct xio_conn *c, int fd, void **buf, bool nonblock)
{
	struct xio_pool *p = &c->dom->pool;
	uint32_t slot;

	if (p->nbufs == 0 || xio_conn_in_band(c))
		return -ENOTSUP;
	if (conn_slot(c, &slot) < 0)
		return -EINVAL;
	if (rx_hold.c == c)
		return -EBUSY; /* our own peek holds the receive side: waiting would deadlock */
	for (;;) {
		ssize_t n = wait_data(c, fd, nonblock);
		if (n <= 0)
			return n;
		int r = lock_rx(c);
		if (r < 0)
			return r;
		n = take_head(c, p, slot, buf);
		pthread_mutex_unlock(&c->rxd->rlock);
		if (n > 0)
			xio_conn_bell_space(c, fd);
		if (n != 0)
			return n;
		/* another reader took it first: wait again */
	}
}

/* ---- in-place access to the ring ------------------------------------------------------- */

ssize_t xio_zc_send_reserve(struct xio_conn *c, int fd, size_t len, void **ptr, bool nonblock)
{
	if (tx_hold.c)
		return -EBUSY; /* one reservation per thread */
	if (xio_conn_in_band(c))
		return -ENOTSUP; /* a plain byte stream on the socket now: no ring to write into */
	if (len == 0)
		return -EINVAL;
	for (;;) {
		int r = send_check(c, fd);
		if (r == 0)
			r = lock_tx(c);
		if (r < 0)
			return r;
		unsigned f = rte_ring_free_count(c->tx);
		if (f >= 2) {
			size_t room = (size_t)(f - 1) * XIO_RING_ESIZE;
			size_t want = len < room ? len : room;
			unsigned elems =
			    1 + (unsigned)((want + XIO_RING_ESIZE - 1) / XIO_RING_ESIZE);
			struct rte_ring_zc_data z;
			/* Never rewinds (ring.h): the reader's lock cannot be held until the
			 * commit. */
			if (rte_ring_enqueue_zc_bulk_elem_start(c->tx, XIO_RING_ESIZE, elems, &z,
								NULL) != elems) {
				pthread_mutex_unlock(&c->txd->wlock);
				xio_conn_corrupt(c);
				return -ECONNRESET;
			}
			/* The payload in one piece: up to the ring's end if the record wraps. */
			char *pay;
			size_t contig;
			if (z.n1 > 1) {
				pay = (char *)z.ptr1 + XIO_RING_ESIZE;
				contig = (size_t)(z.n1 - 1) * XIO_RING_ESIZE;
			} else {
				pay = z.ptr2;
				contig = (size_t)(elems - 1) * XIO_RING_ESIZE;
			}
			tx_hold = (struct tx_hold){.c = c, .ptr = pay, .hdr = z.ptr1};
			tx_hold.max = want < contig ? want : contig;
			xio_conn_get(c);
			*ptr = pay;
			return (ssize_t)tx_hold.max;
		}
		pthread_mutex_unlock(&c->txd->wlock);
		r = wait_room(c, fd, nonblock);
		if (r < 0)
			return r;
	}
}

int xio_zc_send_commit(struct xio_conn *c, int fd, void *ptr, size_t len)
{
	if (!tx_hold.c || tx_hold.c != c || ptr != tx_hold.ptr || len > tx_hold.max)
		return -EINVAL;
	if (len > 0) {
		*(uint32_t *)tx_hold.hdr = (uint32_t)len;
		rte_ring_enqueue_zc_elem_finish(
		    c->tx, 1 + (unsigned)((len + XIO_RING_ESIZE - 1) / XIO_RING_ESIZE));
		c->txd->bytes += len;
	} else {
		rte_ring_enqueue_zc_elem_finish(c->tx, 0);
	}
	pthread_mutex_unlock(&c->txd->wlock);
	tx_hold = (struct tx_hold){0};
	if (len > 0)
		xio_conn_push(c, fd);
	xio_conn_put(c);
	return 0;
}

ssize_t xio_zc_recv_peek(struct xio_conn *c, int fd, const void **ptr, bool nonblock)
{
	struct xio_pool *p = &c->dom->pool;
	uint32_t slot = 0;

	if (rx_hold.c)
		return -EBUSY; /* one peek per thread */
	if (xio_conn_in_band(c))
		return -ENOTSUP;
	if (p->nbufs && conn_slot(c, &slot) < 0)
		return -EINVAL;
	for (;;) {
		ssize_t n = wait_data(c, fd, nonblock);
		if (n <= 0)
			return n;
		int r = lock_rx(c);
		if (r < 0)
			return r;
		struct rte_ring_zc_data z = {0};
		(void)xio_ring_skip_pad(c->rx, c->rxd->rd_off);
		unsigned avail = rte_ring_count(c->rx);
		if (avail == 0) {
			pthread_mutex_unlock(&c->rxd->rlock);
			continue; /* another reader took it first */
		}
		avail =
		    rte_ring_dequeue_zc_burst_elem_start(c->rx, XIO_RING_ESIZE, avail, &z, NULL);
		if (avail == 0) {
			pthread_mutex_unlock(&c->rxd->rlock);
			continue;
		}
		uint32_t rec = xio_zc_elem(&z, 0), rlen = XIO_REC_LEN(rec), off = c->rxd->rd_off;
		struct rx_hold h = {.c = c, .rlen = rlen, .relems = xio_rec_elems(rec, avail)};
		if (rec & XIO_REC_PAD)
			h.relems = 0; /* left at the head: corrupt */
		if (h.relems && off < rlen && (rec & XIO_REC_DESC)) {
			h.desc = 1;
			h.idx = xio_zc_elem(&z, 1);
			h.gen = xio_zc_elem(&z, 2);
			h.slot = slot;
			const char *src = xio_pool_desc(p->nbufs ? p : NULL, h.idx, h.gen,
							xio_zc_elem(&z, 3), rlen, slot);
			if (src) {
				h.ptr = src + off;
				h.max = rlen - off;
			}
		} else if (h.relems && off < rlen) {
			size_t b = XIO_RING_ESIZE + (size_t)off,
			       span1 = (size_t)z.n1 * XIO_RING_ESIZE;
			h.max = rlen - off;
			if (b < span1) {
				h.ptr = (const char *)z.ptr1 + b;
				if (h.max > span1 - b)
					h.max = span1 -
						b; /* the rest after the ring's end, next time */
			} else {
				h.ptr = (const char *)z.ptr2 + (b - span1);
			}
		}
		rte_ring_dequeue_zc_elem_finish(c->rx, 0); /* nothing consumed yet */
		if (!h.ptr) {
			pthread_mutex_unlock(&c->rxd->rlock);
			xio_conn_corrupt(c);
			return -ECONNRESET;
		}
		rx_hold = h;
		xio_conn_get(c);
		*ptr = h.ptr;
		return (ssize_t)h.max;
	}
}

int xio_zc_recv_consume(struct xio_conn *c, int fd, size_t n)
{
	if (!rx_hold.c || rx_hold.c != c || n > rx_hold.max)
		return -EINVAL;
	struct rx_hold h = rx_hold;
	int r = 0;
	uint32_t off = c->rxd->rd_off + (uint32_t)n;

	if (off >= h.rlen) {
		struct rte_ring_zc_data z;
		if (rte_ring_dequeue_zc_bulk_elem_start(c->rx, XIO_RING_ESIZE, h.relems, &z,
							NULL) == h.relems) {
			rte_ring_dequeue_zc_elem_finish(c->rx, h.relems);
			c->rxd->rd_off = 0;
			if (h.desc)
				(void)xio_pool_release(&c->dom->pool, h.idx, h.gen, h.slot);
		} else {
			r = -ECONNRESET; /* the ring changed under our lock */
		}
	} else {
		c->rxd->rd_off = off;
	}
	pthread_mutex_unlock(&c->rxd->rlock);
	rx_hold = (struct rx_hold){0};
	if (r < 0)
		xio_conn_corrupt(c);
	else if (n > 0)
		xio_conn_bell_space(c, fd);
	xio_conn_put(c);
	return r;
}
