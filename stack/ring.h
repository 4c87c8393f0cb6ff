/* SPDX-License-Identifier: MIT */
/*
 * A byte stream carried over a DPDK rte_ring of 4-byte elements.
 *
 * Each write becomes one record: a 4-byte length element followed by the
 * payload, padded to whole elements, written in place through rte_ring's
 * zero-copy API (one copy per side, no intermediate buffer). A reader may
 * consume part of the head record; how much is kept in shared memory
 * (xio_dir.rd_off) so that partial, 1-byte and peeking reads keep byte-stream
 * semantics across readers in different processes.
 *
 * The ring must be single-producer/single-consumer (RING_F_SP_ENQ |
 * RING_F_SC_DEQ); callers serialise each side with the direction's lock.
 * Lengths read back from shared memory are validated: a corrupt record makes
 * xio_ring_get() fail with -EPROTO instead of reading out of bounds.
 *
 * A second record kind carries no bytes but a descriptor of a zero-copy
 * buffer (xio_tx, stack/zc.c): a length element with XIO_REC_DESC set, then
 * the buffer's index, generation and offset in the domain's pool. A reader
 * that copies (read/recv) takes the bytes from the buffer and frees it once
 * the record is consumed, so zero-copy and POSIX calls mix on one stream.
 *
 * A third kind, padding (XIO_REC_PAD), carries nothing and runs to the ring's
 * end: a writer that finds the ring empty past its first page puts one before
 * its record, so that the record starts at the ring's start again (the
 * ring "rewinds"). A request/response stream so lives in the ring's first
 * pages instead of walking through all of them: each fresh page is a page
 * fault and a zeroed page in both processes (with 10,000 connections moving
 * together, stalls of 50-150 ms), and a ring that keeps to a few pages keeps
 * them in the caches. A padding record is an ordinary record, written and
 * consumed as the others, so a process killed at any point leaves a ring
 * another process can go on with. Until consumed it holds the room between
 * the ring's end and where the writer was, so a writer rewinds only while it
 * holds the consumer's lock too, and takes the padding away itself before it
 * lets go (stack/conn.c): padding is left behind only by a writer killed in
 * between, and the reader then takes it.
 */
#ifndef XIO_RING_H
#define XIO_RING_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <rte_ring.h>
#include <rte_ring_peek_zc.h>

#include "bufpool.h"

#define XIO_RING_ESIZE 4u

#define XIO_REC_DESC	     0x80000000u /* length element of a descriptor record */
#define XIO_REC_PAD	     0x40000000u /* padding: its elements (header included) to skip */
#define XIO_REC_LEN(w)	     ((w) & ~(XIO_REC_DESC | XIO_REC_PAD))
#define XIO_RING_REWIND	     (4096u / XIO_RING_ESIZE) /* rewind an empty ring from here on */
#define XIO_DESC_ELEMS	     4u			      /* length, buffer index, generation, offset */
#define XIO_RING_MAX_RELEASE 16 /* descriptor records one xio_ring_get() consumes */

/*
 * Elements of the record whose length element is @w, with @left elements
 * published from it on; 0 when @w cannot start a record there (corrupt).
 */
static inline uint32_t xio_rec_elems(uint32_t w, uint32_t left)
{
	uint32_t len = XIO_REC_LEN(w);

	if (len == 0 || left == 0)
		return 0;
	if (w & XIO_REC_PAD)
		return !(w & XIO_REC_DESC) && len <= left ? len : 0;
	if (w & XIO_REC_DESC)
		return left >= XIO_DESC_ELEMS ? XIO_DESC_ELEMS : 0;
	if (len > (left - 1) * XIO_RING_ESIZE)
		return 0;
	return 1 + (len + XIO_RING_ESIZE - 1) / XIO_RING_ESIZE;
}

/* A position inside an iovec array, advanced as bytes are copied. */
struct xio_iov_cursor {
	const struct iovec *iov;
	int cnt;
	size_t off; /* offset inside iov[0] */
};

static inline void xio_cursor_init(struct xio_iov_cursor *c, const struct iovec *iov, int cnt)
{
	c->iov = iov;
	c->cnt = cnt;
	c->off = 0;
	while (c->cnt > 0 && c->iov->iov_len == 0) {
		c->iov++;
		c->cnt--;
	}
}

/* Copy @n bytes between @mem and the cursor (to_mem: cursor -> mem). */
static inline void xio_cursor_copy(struct xio_iov_cursor *c, void *mem, size_t n, bool to_mem)
{
	char *p = mem;

	while (n > 0 && c->cnt > 0) {
		size_t k = c->iov->iov_len - c->off;
		if (k > n)
			k = n;
		char *b = (char *)c->iov->iov_base + c->off;
		if (to_mem)
			memcpy(p, b, k);
		else
			memcpy(b, p, k);
		p += k;
		n -= k;
		c->off += k;
		if (c->off == c->iov->iov_len) {
			c->iov++;
			c->cnt--;
			c->off = 0;
			while (c->cnt > 0 && c->iov->iov_len == 0) {
				c->iov++;
				c->cnt--;
			}
		}
	}
}

/* Copy between the cursor and the byte range [off, off+n) of a zero-copy window. */
static inline void xio_zc_copy(const struct rte_ring_zc_data *z, size_t off, size_t n,
			       struct xio_iov_cursor *c, bool to_ring)
{
	size_t span1 = (size_t)z->n1 * XIO_RING_ESIZE;

	if (off < span1) {
		size_t k = span1 - off < n ? span1 - off : n;
		xio_cursor_copy(c, (char *)z->ptr1 + off, k, to_ring);
		off += k;
		n -= k;
	}
	if (n > 0)
		xio_cursor_copy(c, (char *)z->ptr2 + (off - span1), n, to_ring);
}

static inline uint32_t xio_zc_elem(const struct rte_ring_zc_data *z, uint32_t k)
{
	const uint32_t *p =
	    k < z->n1 ? (const uint32_t *)z->ptr1 + k : (const uint32_t *)z->ptr2 + (k - z->n1);
	return *(const volatile uint32_t *)p;
}

/*
 * Is the ring header what the manager made (@elems elements, SP/SC) and are
 * its indices consistent? Everything here lives in shared memory that any
 * domain member can scribble on; rte_ring's inline code trusts it, so we
 * check before each use and reset the connection instead of reading or
 * writing out of bounds.
 */
static inline bool xio_ring_sane(const struct rte_ring *r, uint32_t elems)
{
	if (r->size != elems || r->mask != elems - 1 || r->capacity != elems - 1 ||
	    r->prod.sync_type != RTE_RING_SYNC_ST || r->cons.sync_type != RTE_RING_SYNC_ST)
		return false;
	/* The other side moves its tail meanwhile: judge only a snapshot in which ours held still.
	 */
	for (int i = 0; i < 4; i++) {
		uint32_t ct = __atomic_load_n(&r->cons.tail, __ATOMIC_ACQUIRE);
		uint32_t pt = __atomic_load_n(&r->prod.tail, __ATOMIC_ACQUIRE);
		if (ct == __atomic_load_n(&r->cons.tail, __ATOMIC_ACQUIRE))
			return pt - ct <= elems - 1;
	}
	return true; /* still moving: someone is making progress, not corruption */
}

/*
 * rte_ring_init() for our rings (single producer, single consumer, empty),
 * inline: the preload links no DPDK library. Only the header is written.
 */
static inline void xio_ring_init(struct rte_ring *r, uint32_t elems)
{
	memset(r, 0, sizeof(*r));
	r->name[0] = 'x';
	r->flags = RING_F_SP_ENQ | RING_F_SC_DEQ;
	r->prod.sync_type = RTE_RING_SYNC_ST;
	r->cons.sync_type = RTE_RING_SYNC_ST;
	r->size = elems;
	r->mask = elems - 1;
	r->capacity = elems - 1;
}

/* rte_ring_get_memsize_elem() for our rings, inline: the preload links no DPDK library. */
static inline size_t xio_ring_memsize(uint32_t elems)
{
	size_t sz = sizeof(struct rte_ring) + (size_t)elems * XIO_RING_ESIZE;
	return (sz + RTE_CACHE_LINE_SIZE - 1) & ~(size_t)(RTE_CACHE_LINE_SIZE - 1);
}

/* Payload bytes one record can take right now (0: full). */
static inline size_t xio_ring_room(const struct rte_ring *r)
{
	unsigned int f = rte_ring_free_count(r);
	return f < 2 ? 0 : (size_t)(f - 1) * XIO_RING_ESIZE;
}

/* Data capacity in bytes, records' headers not counted. */
static inline size_t xio_ring_capacity(const struct rte_ring *r)
{
	return (size_t)rte_ring_get_capacity(r) * XIO_RING_ESIZE;
}

static inline bool xio_ring_empty(const struct rte_ring *r)
{
	return rte_ring_count(r) == 0;
}

static inline void xio_zc_set_elem(const struct rte_ring_zc_data *z, uint32_t k, uint32_t v)
{
	uint32_t *p = k < z->n1 ? (uint32_t *)z->ptr1 + k : (uint32_t *)z->ptr2 + (k - z->n1);
	*p = v;
}

/* Could the next record rewind the ring: is it empty, past its first page? Producer side. */
static inline bool xio_ring_may_rewind(const struct rte_ring *r)
{
	uint32_t head = r->prod.head;

	return (head & r->mask) >= XIO_RING_REWIND &&
	       __atomic_load_n(&r->cons.tail, __ATOMIC_ACQUIRE) == head;
}

/*
 * Padding to put before a record of @elems elements so that it starts at the
 * ring's start: the rest of the ring when it may rewind and the record takes
 * at most half of the room the padding leaves (a large write into an empty
 * ring goes on in place); else 0. Producer side, serialised by the caller.
 */
static inline uint32_t xio_ring_rewind(const struct rte_ring *r, uint32_t elems)
{
	uint32_t at = r->prod.head & r->mask;

	return xio_ring_may_rewind(r) && elems <= at / 2 ? r->size - at : 0;
}

/*
 * Start a record of @elems elements, after padding when @rewind allows it
 * and the ring rewinds (xio_ring_rewind). Producer side. Returns the element
 * at which the record starts in *@z (0, or the padding's length), or -1 when
 * there is no room. End it with rte_ring_enqueue_zc_elem_finish(r, start +
 * elems).
 */
static inline int64_t xio_ring_put_start(struct rte_ring *r, uint32_t elems,
					 struct rte_ring_zc_data *z, bool rewind)
{
	uint32_t pad = rewind ? xio_ring_rewind(r, elems) : 0;

	if (rte_ring_enqueue_zc_bulk_elem_start(r, XIO_RING_ESIZE, pad + elems, z, NULL) !=
	    pad + elems)
		return -1;
	if (pad)
		xio_zc_set_elem(z, 0, XIO_REC_PAD | pad);
	return pad;
}

/*
 * Append one record of up to @len bytes taken from @src, rewinding the ring
 * if @rewind allows it (the caller holds the consumer's lock too, and takes
 * the padding away with xio_ring_skip_pad). Producer side, serialised by
 * the caller. Returns the bytes written (0 when full).
 */
static inline size_t xio_ring_put(struct rte_ring *r, struct xio_iov_cursor *src, size_t len,
				  bool rewind)
{
	size_t room = xio_ring_room(r);
	struct rte_ring_zc_data z = {0};

	if (len > room)
		len = room;
	if (len == 0)
		return 0;
	unsigned int elems = 1 + (unsigned int)((len + XIO_RING_ESIZE - 1) / XIO_RING_ESIZE);
	int64_t at = xio_ring_put_start(r, elems, &z, rewind);
	if (at < 0)
		return 0;
	xio_zc_set_elem(&z, (uint32_t)at, (uint32_t)len);
	xio_zc_copy(&z, ((size_t)at + 1) * XIO_RING_ESIZE, len, src, true);
	rte_ring_enqueue_zc_elem_finish(r, (unsigned int)at + elems);
	return len;
}

/*
 * Consume a padding record at the ring's head, if a record follows it (none
 * is ever partly read: @rd_off must be 0). Consumer side, serialised by the
 * caller: a reader before it parses the head record, or the writer that
 * rewound taking its padding away. Returns true when one was taken.
 */
static inline bool xio_ring_skip_pad(struct rte_ring *r, uint32_t rd_off)
{
	struct rte_ring_zc_data z = {0};
	unsigned int avail = rte_ring_count(r);

	if (avail == 0 || rd_off != 0)
		return false;
	avail = rte_ring_dequeue_zc_burst_elem_start(r, XIO_RING_ESIZE, avail, &z, NULL);
	uint32_t w = avail ? xio_zc_elem(&z, 0) : 0;
	uint32_t n = (w & XIO_REC_PAD) ? xio_rec_elems(w, avail) : 0;
	/* not padding, lone padding or corrupt: left for the reader's parsing to judge */
	n = n < avail ? n : 0;
	rte_ring_dequeue_zc_elem_finish(r, n);
	return n > 0;
}

/*
 * Copy up to @len bytes into @dst, consuming whole records and remembering
 * a partly read head record in *@rd_off. With @peek nothing is consumed.
 * Consumer side, serialised by the caller. Returns bytes copied, or -EPROTO
 * when a record header is corrupt (nothing consumed then).
 */
static inline ssize_t xio_ring_get(struct rte_ring *r, uint32_t *rd_off, struct xio_iov_cursor *dst,
				   size_t len, bool peek)
{
	struct rte_ring_zc_data z;
	unsigned int avail = rte_ring_count(r);
	uint32_t pos = 0, off = *rd_off, slot = 0, nrel = 0;
	uint32_t rel[XIO_RING_MAX_RELEASE][2];
	struct xio_pool *pool = NULL;
	size_t done = 0;

	if (avail == 0 || len == 0)
		return 0;
	avail = rte_ring_dequeue_zc_burst_elem_start(r, XIO_RING_ESIZE, avail, &z, NULL);
	while (pos < avail && done < len) {
		uint32_t rec = xio_zc_elem(&z, pos);
		uint32_t relems = xio_rec_elems(rec, avail - pos), rlen = XIO_REC_LEN(rec);
		if ((rec & XIO_REC_PAD) && relems && off == 0 && pos + relems < avail) {
			pos += relems; /* padding: nothing to copy (alone it is corrupt) */
			continue;
		}
		if (relems == 0 || off >= rlen || (rec & XIO_REC_PAD)) {
			rte_ring_dequeue_zc_elem_finish(r, 0);
			return -EPROTO;
		}
		size_t k = rlen - off;
		if (k > len - done)
			k = len - done;
		if (rec & XIO_REC_DESC) {
			if (!peek && nrel == XIO_RING_MAX_RELEASE)
				break; /* the rest next time */
			uint32_t idx = xio_zc_elem(&z, pos + 1), gen = xio_zc_elem(&z, pos + 2);
			const char *src = NULL;
			if (pool || (pool = xio_pool_of_ring(r, &slot)) != NULL)
				src = xio_pool_desc(pool, idx, gen, xio_zc_elem(&z, pos + 3), rlen,
						    slot);
			if (!src) {
				rte_ring_dequeue_zc_elem_finish(r, 0);
				return -EPROTO;
			}
			xio_cursor_copy(dst, (void *)(uintptr_t)(src + off), k, false);
			if (!peek && off + k == rlen) {
				rel[nrel][0] = idx;
				rel[nrel][1] = gen;
				nrel++;
			}
		} else {
			xio_zc_copy(&z, (size_t)(pos + 1) * XIO_RING_ESIZE + off, k, dst, false);
		}
		done += k;
		off += (uint32_t)k;
		if (off < rlen)
			break;
		pos += relems;
		off = 0;
	}
	rte_ring_dequeue_zc_elem_finish(r, peek ? 0 : pos);
	if (!peek) {
		*rd_off = off;
		/* Only after the records left the ring: a kill in between leaks (until the slot is
		 * reclaimed), never lets a buffer be used twice. */
		for (uint32_t i = 0; i < nrel; i++)
			(void)xio_pool_release(pool, rel[i][0], rel[i][1], slot);
	}
	return (ssize_t)done;
}

/*
 * Unread bytes (FIONREAD). Consumer side, serialised by the caller. Descriptor
 * records count their buffer's bytes once checked against the pool.
 */
static inline ssize_t xio_ring_readable(struct rte_ring *r, uint32_t rd_off)
{
	struct rte_ring_zc_data z;
	unsigned int avail = rte_ring_count(r);
	size_t total = 0;

	if (avail == 0)
		return 0;
	avail = rte_ring_dequeue_zc_burst_elem_start(r, XIO_RING_ESIZE, avail, &z, NULL);
	struct xio_pool *pool = NULL;
	uint32_t slot = 0;
	for (uint32_t pos = 0; pos < avail;) {
		uint32_t rec = xio_zc_elem(&z, pos);
		uint32_t elems = xio_rec_elems(rec, avail - pos);
		bool pad = rec & XIO_REC_PAD;
		bool bad = elems == 0 || (pad && pos + elems == avail) ||
			   (pos == 0 && (pad ? rd_off != 0 : rd_off >= XIO_REC_LEN(rec)));
		if (!bad && (rec & XIO_REC_DESC))
			bad =
			    (!pool && !(pool = xio_pool_of_ring(r, &slot))) ||
			    !xio_pool_desc(pool, xio_zc_elem(&z, pos + 1), xio_zc_elem(&z, pos + 2),
					   xio_zc_elem(&z, pos + 3), XIO_REC_LEN(rec), slot);
		if (bad) {
			rte_ring_dequeue_zc_elem_finish(r, 0);
			return -EPROTO;
		}
		total += pad ? 0 : XIO_REC_LEN(rec);
		pos += elems;
	}
	rte_ring_dequeue_zc_elem_finish(r, 0);
	return (ssize_t)(total - rd_off);
}

/*
 * Unread bytes without the consumer lock, for readiness checks that may run
 * while a reader holds it (SO_RCVLOWAT). Reads the records between the two
 * published tails directly; indices are masked, so a racing consumer or a
 * corrupt length can make the answer stale or short, never out of bounds.
 */
static inline size_t xio_ring_unread(const struct rte_ring *r, uint32_t rd_off)
{
	const uint32_t *ring = (const uint32_t *)&r[1];
	uint32_t cons = __atomic_load_n(&r->cons.tail, __ATOMIC_ACQUIRE);
	uint32_t prod = __atomic_load_n(&r->prod.tail, __ATOMIC_ACQUIRE);
	size_t total = 0;

	for (uint32_t pos = cons, left = prod - cons; left > 0;) {
		uint32_t rec = __atomic_load_n(&ring[pos & r->mask], __ATOMIC_RELAXED);
		uint32_t elems = xio_rec_elems(rec, left);
		if (elems == 0)
			break;
		total += (rec & XIO_REC_PAD) ? 0 : XIO_REC_LEN(rec);
		pos += elems;
		left -= elems;
	}
	return total > rd_off ? total - rd_off : 0;
}

/*
 * Elements of a padding record at the ring's head, with a record behind
 * it, without any lock (an estimate: the reader may be taking it
 * meanwhile); 0 when there is none.
 */
static inline uint32_t xio_ring_head_pad(const struct rte_ring *r)
{
	uint32_t cons = __atomic_load_n(&r->cons.tail, __ATOMIC_ACQUIRE);
	uint32_t prod = __atomic_load_n(&r->prod.tail, __ATOMIC_ACQUIRE);

	/* counted as rte_ring_count does, so that both agree on indices no ring can have */
	uint32_t left = (prod - cons) & r->mask;
	left = left > r->capacity ? r->capacity : left;
	if (left == 0)
		return 0;
	uint32_t w = __atomic_load_n((const uint32_t *)&r[1] + (cons & r->mask), __ATOMIC_RELAXED);
	uint32_t n = (w & XIO_REC_PAD) ? xio_rec_elems(w, left) : 0;
	return n < left ? n : 0; /* alone it is corrupt, not padding */
}

/*
 * Bytes queued and not yet consumed, records' headers included, padding not
 * (SIOCOUTQ estimate, SO_SNDBUF accounting, the ring fill xio-stat shows).
 */
static inline size_t xio_ring_used(const struct rte_ring *r)
{
	uint32_t n = rte_ring_count(r), pad = xio_ring_head_pad(r);
	return (size_t)(n > pad ? n - pad : 0) * XIO_RING_ESIZE;
}

#endif
