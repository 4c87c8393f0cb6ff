/* SPDX-License-Identifier: MIT */
/*
 * Shared-memory structures for unit tests, laid out the way the manager lays
 * them out (manager/domain_mem.c) but in ordinary memory of this process: a
 * single SP/SC ring of 4-byte elements, or a whole domain (header, slots, two
 * rings per slot).
 *
 * Rings are initialised with DPDK's rte_ring_init(), which needs no EAL, so
 * the inline enqueue/dequeue code under test runs on exactly the ring a
 * real domain has. Tests including this link librte_ring (see CMakeLists).
 */
#ifndef XIO_TEST_FAKE_DOMAIN_H
#define XIO_TEST_FAKE_DOMAIN_H

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <rte_ring.h>

#include "layout.h"

#define XT_RING_FLAGS (RING_F_SP_ENQ | RING_F_SC_DEQ) /* as ring.h requires */

static inline size_t xt_align64(size_t n)
{
	return (n + 63) & ~(size_t)63;
}

/*
 * Bytes for a ring of @count elements. With RING_F_EXACT_SZ the ring holds
 * exactly @count elements but its storage is the next power of two above.
 */
static inline size_t xt_ring_memsize(unsigned count, unsigned flags)
{
	unsigned slots = flags & RING_F_EXACT_SZ ? rte_align32pow2(count + 1) : count;
	ssize_t n = rte_ring_get_memsize_elem(4, slots);

	ck_assert_int_gt(n, 0);
	return xt_align64((size_t)n);
}

static inline void xt_ring_init(struct rte_ring *r, unsigned count, unsigned flags)
{
	ck_assert_int_eq(rte_ring_init(r, "xt", count, XT_RING_FLAGS | flags), 0);
}

/* A ring of @count 4-byte elements; free() it. */
static inline struct rte_ring *xt_ring_new(unsigned count, unsigned flags)
{
	size_t n = xt_ring_memsize(count, flags);
	struct rte_ring *r = aligned_alloc(64, n);

	ck_assert_ptr_nonnull(r);
	memset(r, 0xcc, n); /* no test may depend on zeroed ring memory */
	xt_ring_init(r, count, flags);
	return r;
}

/* The initial token of slot @i: non-zero and different per slot, as after reclaims. */
#define XT_FIRST_TOKEN(i) (0x1000u + 17u * (i))

/*
 * A domain of @nslots slots, each with two rings of @ring_count elements
 * (a power of two). free() the returned header.
 */
static inline struct xio_domain_hdr *xt_domain_new(uint32_t nslots, unsigned ring_count,
						   uint64_t generation)
{
	size_t ring_mem = xt_ring_memsize(ring_count, 0);
	size_t slot_size = xt_align64(sizeof(struct xio_slot)) + 2 * ring_mem;
	size_t slots_off = xt_align64(sizeof(struct xio_domain_hdr));
	size_t total = slots_off + (size_t)nslots * slot_size;
	struct xio_domain_hdr *h = aligned_alloc(64, total);

	ck_assert_ptr_nonnull(h);
	memset(h, 0, total);
	h->magic = XIO_MAGIC;
	h->layout_version = XIO_LAYOUT_VERSION;
	h->generation = generation;
	h->total_len = total;
	h->slots_off = slots_off;
	h->nslots = nslots;
	h->slot_size = (uint32_t)slot_size;
	for (uint32_t i = 0; i < nslots; i++) {
		struct xio_slot *s = xio_slot_at(h, i);

		s->index = i;
		s->ring_off[XIO_DIR_C2S] = (uint32_t)xt_align64(sizeof(struct xio_slot));
		s->ring_off[XIO_DIR_S2C] = (uint32_t)(s->ring_off[XIO_DIR_C2S] + ring_mem);
		for (int d = 0; d < 2; d++)
			xt_ring_init((struct rte_ring *)((char *)s + s->ring_off[d]), ring_count,
				     0);
		s->ring_bytes = ring_count * 4; /* as manager/domain_mem.c records it */
		atomic_store(&s->state, XIO_SLOT_WORD(XT_FIRST_TOKEN(i), XIO_SLOT_FREE));
	}
	h->ring_bytes = ring_count * 4;
	return h;
}

#endif
