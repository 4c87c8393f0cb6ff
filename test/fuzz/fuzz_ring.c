/* SPDX-License-Identifier: MIT */
/*
 * Record parsing of a ring full of arbitrary bytes: xio_ring_get() (read and
 * peek, with arbitrary read sizes and partial-read offset) and
 * xio_ring_readable() on an SP/SC ring of 4-byte elements whose contents and
 * indices come from the input (the header stays as rte_ring_init made it:
 * checking it is the caller's job, see fuzz_conn). Every copy must stay in
 * the ring and in the caller's buffer; a corrupt record is -EPROTO.
 *
 * The ring lies in slot 0 of a small domain with a zero-copy buffer pool
 * (bufpool.h) of NBUFS buffers, so that descriptor records (XIO_REC_DESC:
 * length, index, generation, offset) can name real buffers: buffer i is in
 * flight on slot 0 with generation i + 1, unless bit i + 1 of the flags
 * makes it FREE. A buffer is released only when its record was consumed
 * whole, and never by a peek or a failed read. The elements are written
 * from the consumer index on, so records cross the end of the array
 * (wrap-around) whenever the indices put them there. Padding records
 * (XIO_REC_PAD) anywhere are passed over or rejected; xio_ring_skip_pad
 * takes a head padding whole or leaves the ring as it was.
 */
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "bufpool.h"
#include "layout.h"
#include "ring.h"

#define COUNT 128 /* elements: room for more than XIO_RING_MAX_RELEASE descriptor records */
#define NBUFS 8
#define BUFSZ 128

#define ALIGN64(x) (((size_t)(x) + 63) & ~(size_t)63)

static struct rte_ring *r;
static struct xio_pool pool;

/* [header][slot 0: the ring][NBUFS meta words][NBUFS buffers], the data last: ASan sees past it. */
static void setup(void)
{
	size_t slots_off = ALIGN64(sizeof(struct xio_domain_hdr));
	size_t slot_size = ALIGN64(rte_ring_get_memsize_elem(4, COUNT));
	size_t meta_off = slots_off + slot_size;
	size_t data_off = ALIGN64(meta_off + NBUFS * sizeof(struct xio_buf_meta));
	size_t total = data_off + NBUFS * BUFSZ;
	struct xio_domain_hdr *h = aligned_alloc(64, total);
	memset(h, 0, total);
	h->bufs_meta_off = meta_off;
	h->bufs_off = data_off;
	h->nbufs = NBUFS;
	h->buf_size = BUFSZ;
	if (xio_pool_init(&pool, h, h, (char *)h + total, slots_off, 1, (uint32_t)slot_size) < 0)
		abort();
	r = (struct rte_ring *)((char *)h + slots_off);
	if (rte_ring_init(r, "fz", COUNT, RING_F_SP_ENQ | RING_F_SC_DEQ) < 0)
		abort();
	for (size_t i = 0; i < NBUFS * BUFSZ; i++)
		pool.data[i] = (char)i;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!r)
		setup();
	struct {
		uint32_t head, count, rd_off, len;
		uint8_t flags;
	} in;
	if (size < sizeof(in))
		return 0;
	memcpy(&in, data, sizeof(in));
	data += sizeof(in);
	size -= sizeof(in);
	/* indices: any position, any fill up to capacity (and beyond: the count is capped) */
	r->cons.head = r->cons.tail = in.head;
	r->prod.head = r->prod.tail = in.head + (in.count % (2 * COUNT));
	uint32_t *elems = (uint32_t *)(r + 1);
	memset(elems, 0, COUNT * 4);
	/* the records from where the reader starts, wrapping at the array's end */
	size_t ne = size / 4 < COUNT ? size / 4 : COUNT, at = in.head % COUNT;
	size_t first = ne < COUNT - at ? ne : COUNT - at;
	memcpy(elems + at, data, first * 4);
	memcpy(elems, data + first * 4, (ne - first) * 4);
	uint64_t words[NBUFS];
	for (uint32_t i = 0; i < NBUFS; i++) {
		bool is_free = i < 7 && (in.flags >> (i + 1)) & 1;
		words[i] = XIO_BUF_WORD(i + 1, is_free ? XIO_BUF_FREE : XIO_BUF_SENT, 0);
		atomic_store(&pool.meta[i].word, words[i]);
	}

	size_t len = in.len % 1024;
	uint8_t *out = malloc(len ? len : 1); /* exact size: an overflow is an ASan report */
	struct iovec iov[2] = {{out, len / 2}, {out + len / 2, len - len / 2}};
	struct xio_iov_cursor cur;
	uint32_t off = in.rd_off % 512;
	uint32_t before = rte_ring_count(r);

	xio_cursor_init(&cur, iov, 2);
	ssize_t n = xio_ring_get(r, &off, &cur, len, in.flags & 1);
	FZ_CHECK(n == -EPROTO || (n >= 0 && (size_t)n <= len));
	if (n < 0 || (in.flags & 1)) {
		FZ_CHECK(rte_ring_count(r) == before); /* nothing consumed */
		for (uint32_t i = 0; i < NBUFS; i++)   /* nothing released */
			FZ_CHECK(atomic_load(&pool.meta[i].word) == words[i]);
	}
	for (uint32_t i = 0; i < NBUFS; i++) { /* in flight, or released by this read */
		uint64_t w = atomic_load(&pool.meta[i].word);
		FZ_CHECK(w == words[i] || (XIO_BUF_STATE(words[i]) == XIO_BUF_SENT &&
					   w == XIO_BUF_WORD(i + 2, XIO_BUF_FREE, 0)));
	}
	ssize_t k = xio_ring_readable(r, off);
	FZ_CHECK(k == -EPROTO || (k >= 0 && (size_t)k <= (size_t)COUNT * 4));
	(void)xio_ring_unread(r, off); /* the lock-free count: in bounds (ASan) */
	/* padding at the head: taken whole or not at all, never past what is published */
	uint32_t c0 = rte_ring_count(r), pad = xio_ring_head_pad(r);
	FZ_CHECK(pad <= c0);
	if (xio_ring_skip_pad(r, off))
		FZ_CHECK(pad > 0 && off == 0 && rte_ring_count(r) == c0 - pad);
	else
		FZ_CHECK(rte_ring_count(r) == c0);
	free(out);
	return 0;
}
