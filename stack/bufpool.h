/* SPDX-License-Identifier: MIT */
/*
 * The zero-copy buffer pool of a domain (xio_malloc/xio_free, and the
 * buffers xio_tx hands through a connection's ring).
 *
 * The pool lives in the domain memory the manager reserved (layout.h): a
 * state word per buffer and the buffers themselves. Every change of
 * ownership is one compare-and-swap of a state word:
 *
 *   FREE --alloc--> HELD(pid) --tx--> SENT(slot) --rx--> HELD(pid')
 *   HELD(pid) --free--> FREE         SENT(slot) --read() consumed--> FREE
 *   HELD(dead pid), SENT(reclaimed slot) --manager--> FREE
 *
 * So a process killed at any instruction leaves every buffer either in one
 * owner's hands or free; nothing (no list head, no lcore cache) can be left
 * half updated, and no EAL is needed. Each send and each return to FREE
 * moves the buffer's generation: a descriptor names one hop of one buffer,
 * so a stale or replayed descriptor (even of an earlier hop of a buffer
 * forwarded back onto the same connection) or a second free is recognised.
 *
 * A received buffer is HELD like an allocated one, so it may be sent on
 * (forwarded) any number of times, one hop per HELD -> SENT -> HELD; a
 * buffer is in flight on one connection at a time (no fan-out: a second
 * send of a SENT buffer finds it not HELD and is refused).
 *
 * struct xio_pool is this process's trusted copy of the pool geometry,
 * checked once at attach; indices read from shared memory are checked
 * against it before use.
 */
#ifndef XIO_BUFPOOL_H
#define XIO_BUFPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "layout.h"

struct rte_ring;

struct xio_pool {
	struct xio_domain_hdr *hdr;
	const char *lo, *hi; /* the mapping the pool lives in */
	struct xio_buf_meta *meta;
	char *data;
	uint32_t nbufs, buf_size;
	/* slots, to tell which connection a ring belongs to */
	const char *slots;
	uint32_t nslots, slot_size;
	/* the ring file, when the rings live there (stack/domain.c sets it after init) */
	const char *rings;
	uint64_t rings_len, ring_stride;
};

/*
 * Check the pool geometry of domain @h (mapped in [@lo, @hi)) against the
 * trusted slot geometry and fill @p. Returns 0, or -ENOENT when the domain
 * has no pool (--bufs 0) or its geometry is not sane (then p->nbufs == 0).
 * A pool with buffers is registered for xio_pool_find().
 */
int xio_pool_init(struct xio_pool *p, struct xio_domain_hdr *h, const void *lo, const void *hi,
		  uint64_t slots_off, uint32_t nslots, uint32_t slot_size);

/* The registered pool whose mapping contains @addr, or NULL. */
struct xio_pool *xio_pool_find(const void *addr);

/* Buffer index and offset of @ptr inside @p's data area: 0 or -EINVAL. */
int xio_pool_locate(const struct xio_pool *p, const void *ptr, uint32_t *idx, uint32_t *off);

static inline char *xio_pool_buf(const struct xio_pool *p, uint32_t idx)
{
	return p->data + (size_t)idx * p->buf_size;
}

/* This process's pid and pid-namespace inode (cached; refreshed after fork). */
uint32_t xio_pool_self(uint64_t *ns);

/* Take a FREE buffer for process @pid. Returns its index or -ENOMEM. */
int64_t xio_pool_alloc(struct xio_pool *p, uint32_t pid, uint64_t ns);

/* HELD(@pid) -> FREE. 0, -EALREADY (already free), -EPERM (another owner or in flight). */
int xio_pool_free(struct xio_pool *p, uint32_t idx, uint32_t pid);

/* HELD(@pid) -> SENT(@slot), generation + 1, which goes to *@gen. Errors as xio_pool_free. */
int xio_pool_send(struct xio_pool *p, uint32_t idx, uint32_t pid, uint32_t slot, uint32_t *gen);

/* SENT(@slot, @gen) -> HELD(@pid). 0 or -EPROTO. */
int xio_pool_take(struct xio_pool *p, uint32_t idx, uint32_t gen, uint32_t slot, uint32_t pid,
		  uint64_t ns);

/* SENT(@slot, @gen) -> FREE (a read() copied it out). 0 or -EPROTO. */
int xio_pool_release(struct xio_pool *p, uint32_t idx, uint32_t gen, uint32_t slot);

/*
 * Does the descriptor (@idx, @gen, @off, @len) name a buffer in flight on
 * @slot with the bytes inside it? Returns the first byte or NULL.
 */
const char *xio_pool_desc(const struct xio_pool *p, uint32_t idx, uint32_t gen, uint32_t off,
			  uint32_t len, uint32_t slot);

/* The pool and slot index of ring @r (registered pools only). NULL if unknown. */
struct xio_pool *xio_pool_of_ring(const struct rte_ring *r, uint32_t *slot);

/*
 * Manager side (trusted geometry from its own options): free every buffer
 * in flight on @slot (the slot is being reclaimed: nobody can use its
 * rings). Returns how many.
 */
uint32_t xio_pool_reclaim_slot(struct xio_buf_meta *meta, uint32_t nbufs, uint32_t slot);

/*
 * Free HELD buffers whose owner is gone: @dead(pid, ns, arg) decides. Only
 * buffers whose state word and owner_ns were seen unchanged by the previous
 * call (@seen, nbufs words, kept by the caller) are freed. Returns the
 * number freed; *@held gets how many are still held.
 */
uint32_t xio_pool_reclaim_dead(struct xio_buf_meta *meta, uint32_t nbufs, uint64_t *seen,
			       bool (*dead)(uint32_t pid, uint64_t ns, void *arg), void *arg,
			       uint32_t *held);

#endif
