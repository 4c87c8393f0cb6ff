/* SPDX-License-Identifier: MIT */
/* The zero-copy buffer pool: one CAS per change of ownership (see bufpool.h). */
#include <errno.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bufpool.h"

#define MAX_POOLS 16 /* domains never unmap: one per manager generation seen */

static struct xio_pool *pools[MAX_POOLS];
static _Atomic unsigned npools;
static pthread_mutex_t pools_lock = PTHREAD_MUTEX_INITIALIZER;

int xio_pool_init(struct xio_pool *p, struct xio_domain_hdr *h, const void *lo, const void *hi,
		  uint64_t slots_off, uint32_t nslots, uint32_t slot_size)
{
	uint64_t span = (uint64_t)((const char *)hi - (const char *)h);
	uint64_t meta_off = h->bufs_meta_off, data_off = h->bufs_off;
	uint32_t n = h->nbufs, size = h->buf_size;

	*p = (struct xio_pool){.hdr = h, .lo = lo, .hi = hi};
	p->slots = (const char *)h + slots_off;
	p->nslots = nslots;
	p->slot_size = slot_size;
	if (n == 0 || size == 0 || size % XIO_CACHELINE || n > (1u << 24))
		return -ENOENT;
	/* Both areas inside the mapping, after the slots, not overlapping. */
	uint64_t slots_end = slots_off + (uint64_t)nslots * slot_size;
	uint64_t meta_end = meta_off + (uint64_t)n * sizeof(struct xio_buf_meta);
	if (meta_off % XIO_CACHELINE || data_off % XIO_CACHELINE || meta_off < slots_end ||
	    data_off < meta_end || data_off + (uint64_t)n * size > span)
		return -ENOENT;
	p->meta = (struct xio_buf_meta *)((char *)h + meta_off);
	p->data = (char *)h + data_off;
	p->nbufs = n;
	p->buf_size = size;

	pthread_mutex_lock(&pools_lock);
	unsigned k = atomic_load(&npools);
	for (unsigned i = 0; i < k; i++)
		if (pools[i] == p)
			k = MAX_POOLS; /* already registered (re-initialised in place) */
	if (k < MAX_POOLS) {
		pools[k] = p;
		atomic_store_explicit(&npools, k + 1, memory_order_release);
	}
	pthread_mutex_unlock(&pools_lock);
	return 0;
}

struct xio_pool *xio_pool_find(const void *addr)
{
	unsigned n = atomic_load_explicit(&npools, memory_order_acquire);
	const char *a = addr;

	for (unsigned i = n; i-- > 0;)
		if ((a >= pools[i]->lo && a < pools[i]->hi) ||
		    (pools[i]->rings && a >= pools[i]->rings &&
		     (uint64_t)(a - pools[i]->rings) < pools[i]->rings_len))
			return pools[i];
	return NULL;
}

int xio_pool_locate(const struct xio_pool *p, const void *ptr, uint32_t *idx, uint32_t *off)
{
	const char *a = ptr;

	if (!p || p->nbufs == 0 || a < p->data ||
	    (uint64_t)(a - p->data) >= (uint64_t)p->nbufs * p->buf_size)
		return -EINVAL;
	uint64_t d = (uint64_t)(a - p->data);
	*idx = (uint32_t)(d / p->buf_size);
	*off = (uint32_t)(d % p->buf_size);
	return 0;
}

/* ---- who we are ------------------------------------------------------------ */

static uint32_t self_pid;
static uint64_t self_ns;
static pthread_once_t self_once = PTHREAD_ONCE_INIT;

static void self_refresh(void)
{
	struct stat st;
	self_pid = (uint32_t)getpid();
	self_ns = stat("/proc/self/ns/pid", &st) == 0 ? (uint64_t)st.st_ino : 0;
}

static void self_init(void)
{
	self_refresh();
	pthread_atfork(NULL, NULL, self_refresh);
}

uint32_t xio_pool_self(uint64_t *ns)
{
	pthread_once(&self_once, self_init);
	if (ns)
		*ns = self_ns;
	return self_pid;
}

/* ---- transitions -------------------------------------------------------------- */

static _Thread_local uint32_t hint;
static _Thread_local bool hint_set;

int64_t xio_pool_alloc(struct xio_pool *p, uint32_t pid, uint64_t ns)
{
	uint32_t n = p->nbufs;

	if (n == 0)
		return -ENOMEM;
	if (!hint_set) {
		/* Spread processes and threads over the pool: fewer CAS collisions. */
		hint = (uint32_t)(((uint64_t)pid * 2654435761u + (uintptr_t)&hint) % n);
		hint_set = true;
	}
	if (hint >= n)
		hint %= n; /* last used on a bigger pool (another generation) */
	for (uint32_t k = 0; k < n; k++) {
		uint32_t i = hint + k;
		if (i >= n)
			i -= n;
		struct xio_buf_meta *m = &p->meta[i];
		uint64_t w = atomic_load_explicit(&m->word, memory_order_relaxed);
		if (XIO_BUF_STATE(w) != XIO_BUF_FREE)
			continue;
		uint64_t nw = XIO_BUF_WORD(XIO_BUF_GEN(w), XIO_BUF_HELD, pid);
		if (!atomic_compare_exchange_strong_explicit(&m->word, &w, nw, memory_order_acquire,
							     memory_order_relaxed))
			continue;
		atomic_store_explicit(&m->owner_ns, ns, memory_order_release);
		hint = i + 1 < n ? i + 1 : 0;
		return i;
	}
	return -ENOMEM;
}

/* Why HELD(@pid) is not what @w says. */
static int not_held(uint64_t w)
{
	return XIO_BUF_STATE(w) == XIO_BUF_FREE ? -EALREADY : -EPERM;
}

int xio_pool_free(struct xio_pool *p, uint32_t idx, uint32_t pid)
{
	if (idx >= p->nbufs)
		return -EINVAL;
	struct xio_buf_meta *m = &p->meta[idx];
	uint64_t w = atomic_load_explicit(&m->word, memory_order_acquire);
	if (XIO_BUF_STATE(w) != XIO_BUF_HELD || XIO_BUF_OWNER(w) != (pid & XIO_BUF_OWNER_MAX))
		return not_held(w);
	/* Clear the owner's namespace while we still own it: the manager never sees a stale one. */
	atomic_store_explicit(&m->owner_ns, 0, memory_order_relaxed);
	uint64_t nw = XIO_BUF_WORD(XIO_BUF_GEN(w) + 1, XIO_BUF_FREE, 0);
	if (!atomic_compare_exchange_strong_explicit(&m->word, &w, nw, memory_order_release,
						     memory_order_relaxed))
		return not_held(w); /* another thread of ours got there first */
	return 0;
}

int xio_pool_send(struct xio_pool *p, uint32_t idx, uint32_t pid, uint32_t slot, uint32_t *gen)
{
	if (idx >= p->nbufs || slot > XIO_BUF_OWNER_MAX)
		return -EINVAL;
	struct xio_buf_meta *m = &p->meta[idx];
	uint64_t w = atomic_load_explicit(&m->word, memory_order_acquire);
	if (XIO_BUF_STATE(w) != XIO_BUF_HELD || XIO_BUF_OWNER(w) != (pid & XIO_BUF_OWNER_MAX))
		return not_held(w);
	atomic_store_explicit(&m->owner_ns, 0, memory_order_relaxed);
	/*
	 * Every hop moves the generation: the descriptor of this hop names it
	 * alone. A buffer forwarded on (A -> B -> A, or round a ring of
	 * services) can come back in flight on a slot it crossed before; the
	 * descriptor of that earlier hop, replayed, must not match it then.
	 */
	uint32_t g = XIO_BUF_GEN(w) + 1;
	uint64_t nw = XIO_BUF_WORD(g, XIO_BUF_SENT, slot);
	if (!atomic_compare_exchange_strong_explicit(&m->word, &w, nw, memory_order_release,
						     memory_order_relaxed))
		return not_held(w);
	*gen = g;
	return 0;
}

int xio_pool_take(struct xio_pool *p, uint32_t idx, uint32_t gen, uint32_t slot, uint32_t pid,
		  uint64_t ns)
{
	if (idx >= p->nbufs)
		return -EPROTO;
	struct xio_buf_meta *m = &p->meta[idx];
	uint64_t w = XIO_BUF_WORD(gen, XIO_BUF_SENT, slot);
	if (!atomic_compare_exchange_strong_explicit(&m->word, &w,
						     XIO_BUF_WORD(gen, XIO_BUF_HELD, pid),
						     memory_order_acquire, memory_order_relaxed))
		return -EPROTO;
	atomic_store_explicit(&m->owner_ns, ns, memory_order_release);
	return 0;
}

int xio_pool_release(struct xio_pool *p, uint32_t idx, uint32_t gen, uint32_t slot)
{
	if (idx >= p->nbufs)
		return -EPROTO;
	uint64_t w = XIO_BUF_WORD(gen, XIO_BUF_SENT, slot);
	return atomic_compare_exchange_strong_explicit(&p->meta[idx].word, &w,
						       XIO_BUF_WORD(gen + 1, XIO_BUF_FREE, 0),
						       memory_order_release, memory_order_relaxed)
		   ? 0
		   : -EPROTO;
}

const char *xio_pool_desc(const struct xio_pool *p, uint32_t idx, uint32_t gen, uint32_t off,
			  uint32_t len, uint32_t slot)
{
	if (!p || idx >= p->nbufs || off >= p->buf_size || len > p->buf_size - off || len == 0)
		return NULL;
	uint64_t w = atomic_load_explicit(&p->meta[idx].word, memory_order_acquire);
	if (w != XIO_BUF_WORD(gen, XIO_BUF_SENT, slot))
		return NULL;
	return xio_pool_buf(p, idx) + off;
}

struct xio_pool *xio_pool_of_ring(const struct rte_ring *r, uint32_t *slot)
{
	struct xio_pool *p = xio_pool_find(r);
	const char *a = (const char *)r;

	if (p && p->rings && a >= p->rings && (uint64_t)(a - p->rings) < p->rings_len) {
		/* in the ring file: slot i's rings are the (2i)th and (2i + 1)th */
		uint64_t i = (uint64_t)(a - p->rings) / p->ring_stride / 2;
		if (i >= p->nslots)
			return NULL;
		*slot = (uint32_t)i;
		return p;
	}
	if (!p || a < p->slots || p->slot_size == 0)
		return NULL;
	uint64_t i = (uint64_t)(a - p->slots) / p->slot_size;
	if (i >= p->nslots)
		return NULL;
	*slot = (uint32_t)i;
	return p;
}

/* ---- manager side ------------------------------------------------------------- */

uint32_t xio_pool_reclaim_slot(struct xio_buf_meta *meta, uint32_t nbufs, uint32_t slot)
{
	uint32_t freed = 0;

	for (uint32_t i = 0; i < nbufs; i++) {
		uint64_t w = atomic_load_explicit(&meta[i].word, memory_order_acquire);
		if (XIO_BUF_STATE(w) != XIO_BUF_SENT || XIO_BUF_OWNER(w) != slot)
			continue;
		if (atomic_compare_exchange_strong(
			&meta[i].word, &w, XIO_BUF_WORD(XIO_BUF_GEN(w) + 1, XIO_BUF_FREE, 0)))
			freed++;
	}
	return freed;
}

uint32_t xio_pool_reclaim_dead(struct xio_buf_meta *meta, uint32_t nbufs, uint64_t *seen,
			       bool (*dead)(uint32_t pid, uint64_t ns, void *arg), void *arg,
			       uint32_t *held)
{
	uint32_t freed = 0, still = 0;

	for (uint32_t i = 0; i < nbufs; i++) {
		uint64_t w = atomic_load_explicit(&meta[i].word, memory_order_acquire);
		if (XIO_BUF_STATE(w) != XIO_BUF_HELD) {
			seen[i] = 0;
			continue;
		}
		uint64_t ns = atomic_load_explicit(&meta[i].owner_ns, memory_order_acquire);
		bool stable = seen[i] == w;
		seen[i] = w;
		/* ns 0: the owner is between two steps (or died there): leave it. */
		if (!stable || ns == 0 || !dead(XIO_BUF_OWNER(w), ns, arg)) {
			still++;
			continue;
		}
		atomic_store_explicit(&meta[i].owner_ns, 0, memory_order_relaxed);
		if (atomic_compare_exchange_strong(
			&meta[i].word, &w, XIO_BUF_WORD(XIO_BUF_GEN(w) + 1, XIO_BUF_FREE, 0))) {
			freed++;
			seen[i] = 0;
		} else {
			still++;
		}
	}
	if (held)
		*held = still;
	return freed;
}
