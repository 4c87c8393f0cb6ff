/* SPDX-License-Identifier: MIT */
/*
 * Record parsing of a ring full of arbitrary bytes: xio_ring_get() (read and
 * peek, with arbitrary read sizes and partial-read offset) and
 * xio_ring_readable() on an SP/SC ring of 4-byte elements whose contents and
 * indices come from the input (the header stays as rte_ring_init made it:
 * checking it is the caller's job, see fuzz_conn). Every copy must stay in
 * the ring and in the caller's buffer; a corrupt record is -EPROTO.
 */
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ring.h"

/* Always checked (assert() is compiled out with NDEBUG in RelWithDebInfo builds). */
#define FZ_CHECK(c)                                                                       \
	do {                                                                              \
		if (!(c)) {                                                               \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); \
			abort();                                                          \
		}                                                                         \
	} while (0)

#define COUNT 64 /* elements */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct rte_ring *r;
	static size_t memsz;
	if (!r) {
		memsz = (size_t)rte_ring_get_memsize_elem(4, COUNT);
		r = aligned_alloc(64, (memsz + 63) & ~(size_t)63);
		if (rte_ring_init(r, "fz", COUNT, RING_F_SP_ENQ | RING_F_SC_DEQ) < 0)
			abort();
	}
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
	memcpy(elems, data, size < COUNT * 4 ? size : COUNT * 4);

	size_t len = in.len % 1024;
	uint8_t *out = malloc(len ? len : 1); /* exact size: an overflow is an ASan report */
	struct iovec iov[2] = {{out, len / 2}, {out + len / 2, len - len / 2}};
	struct xio_iov_cursor cur;
	uint32_t off = in.rd_off % 512;
	uint32_t before = rte_ring_count(r);

	xio_cursor_init(&cur, iov, 2);
	ssize_t n = xio_ring_get(r, &off, &cur, len, in.flags & 1);
	FZ_CHECK(n == -EPROTO || (n >= 0 && (size_t)n <= len));
	if (n < 0 || (in.flags & 1))
		FZ_CHECK(rte_ring_count(r) == before); /* nothing consumed */
	ssize_t k = xio_ring_readable(r, off);
	FZ_CHECK(k == -EPROTO || (k >= 0 && (size_t)k <= (size_t)COUNT * 4));
	free(out);
	return 0;
}
