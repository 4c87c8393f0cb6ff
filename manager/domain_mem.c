/* SPDX-License-Identifier: MIT */
/*
 * The domain memory: one memzone holding struct xio_domain_hdr and the
 * slots, each slot followed by its two rings, then the zero-copy buffer pool
 * (one state word per buffer, then the buffers: stack/bufpool.h). Attaching
 * processes get it as (fd, offset, length), so we check at start-up that
 * mapping that fd really shows the zone.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rte_errno.h>
#include <rte_memory.h>
#include <rte_memzone.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "bufpool.h"
#include "manager.h"

#define ZONE_NAME "xio_dom"
#define ESIZE	  4 /* ring element size; the stack uses the *_elem API with it */

#define ROUND_UP(x, a) (((x) + (a)-1) / (a) * (a))

static pthread_mutexattr_t robust_attr;

/* Our own copies of the pool geometry: members can scribble on the header, not on these. */
static struct {
	char *slots;
	uint32_t slot_size, nslots;
	struct xio_buf_meta *meta;
	uint32_t nbufs;
	uint64_t *seen; /* per buffer: state word of the last sweep */
	uint64_t own_pidns;
	struct xio_domain_hdr *hdr;
} pool;

int mgr_layout(struct mgr *m)
{
	uint32_t count = m->o.ring_bytes / ESIZE;
	ssize_t rs = rte_ring_get_memsize_elem(ESIZE, count);
	uint64_t stride;

	if (rs < 0)
		return (int)rs;
	stride = ROUND_UP(sizeof(struct xio_slot), XIO_CACHELINE) +
		 2 * ROUND_UP((uint64_t)rs, XIO_CACHELINE);
	if (stride > UINT32_MAX)
		return -E2BIG;
	m->slot_size = (uint32_t)stride;
	m->slots_off = ROUND_UP(sizeof(struct xio_domain_hdr), XIO_CACHELINE);
	m->zone_raw = m->slots_off + (uint64_t)m->o.nslots * stride;
	/* The buffer pool: state words, then the buffers on their own pages. */
	m->bufs_meta_off = ROUND_UP(m->zone_raw, XIO_CACHELINE);
	m->bufs_off =
	    ROUND_UP(m->bufs_meta_off + (uint64_t)m->o.nbufs * sizeof(struct xio_buf_meta), 4096);
	if (m->o.nbufs)
		m->zone_raw = m->bufs_off + (uint64_t)m->o.nbufs * m->o.buf_size;
	return 0;
}

static void dir_init_locks(struct xio_dir *d)
{
	pthread_mutex_init(&d->wlock, &robust_attr);
	pthread_mutex_init(&d->rlock, &robust_attr);
}

void mgr_slot_clear(struct xio_slot *s)
{
	uint32_t index = s->index, off0 = s->ring_off[0], off1 = s->ring_off[1];
	uint32_t rb = s->ring_bytes;
	uint16_t port = s->port; /* held by the manager for the slot's whole life */
	size_t from = offsetof(struct xio_slot, index);

	memset((char *)s + from, 0, sizeof(*s) - from);
	s->index = index;
	s->ring_off[0] = off0;
	s->ring_off[1] = off1;
	s->ring_bytes = rb;
	s->port = port;
	dir_init_locks(&s->dir[0]);
	dir_init_locks(&s->dir[1]);
	rte_ring_reset((struct rte_ring *)((char *)s + off0));
	rte_ring_reset((struct rte_ring *)((char *)s + off1));
	/* Buffers sent on this connection and never received: nobody can reach them now. */
	uint64_t d = (uint64_t)((char *)s - pool.slots);
	if (pool.nbufs && pool.slot_size && d % pool.slot_size == 0 &&
	    d / pool.slot_size < pool.nslots) {
		uint32_t n =
		    xio_pool_reclaim_slot(pool.meta, pool.nbufs, (uint32_t)(d / pool.slot_size));
		if (n)
			atomic_fetch_add_explicit(&pool.hdr->stats.bufs_reclaimed, n,
						  memory_order_relaxed);
	}
}

/* A pid of our namespace that no longer exists. */
static bool owner_dead(uint32_t pid, uint64_t ns, void *arg)
{
	(void)arg;
	/* Another pid namespace: its pids mean nothing here; those buffers wait for a restart. */
	if (ns != pool.own_pidns || pid == 0)
		return false;
	return kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

uint32_t mgr_pool_sweep(struct mgr *m)
{
	uint32_t held = 0;

	(void)m;
	if (!pool.nbufs || !pool.seen)
		return 0;
	uint32_t n =
	    xio_pool_reclaim_dead(pool.meta, pool.nbufs, pool.seen, owner_dead, NULL, &held);
	if (n)
		atomic_fetch_add_explicit(&pool.hdr->stats.bufs_reclaimed, n, memory_order_relaxed);
	return held;
}

static int slot_init(struct mgr *m, struct xio_slot *s, uint32_t index, uint32_t token)
{
	uint32_t count = m->o.ring_bytes / ESIZE;
	uint32_t off = ROUND_UP(sizeof(struct xio_slot), XIO_CACHELINE);
	uint32_t rs = (uint32_t)ROUND_UP(rte_ring_get_memsize_elem(ESIZE, count), XIO_CACHELINE);
	char name[RTE_RING_NAMESIZE];

	memset(s, 0, sizeof(*s));
	s->index = index;
	s->ring_bytes = m->o.ring_bytes;
	for (int d = 0; d < 2; d++) {
		s->ring_off[d] = off + (uint32_t)d * rs;
		/* rte_ring_init only writes the header: names need not be unique */
		snprintf(name, sizeof(name), "x%u_%d", index, d);
		int r = rte_ring_init((struct rte_ring *)((char *)s + s->ring_off[d]), name, count,
				      RING_F_SP_ENQ | RING_F_SC_DEQ);
		if (r < 0)
			return r;
		dir_init_locks(&s->dir[d]);
	}
	atomic_store_explicit(&s->state, XIO_SLOT_WORD(token, XIO_SLOT_FREE), memory_order_release);
	return 0;
}

/* Where the zone lives in its segment file, as a HELLO reply describes it. */
static int find_fd(struct mgr *m)
{
	const struct rte_memzone *mz = m->mz;
	struct rte_memseg *ms = rte_mem_virt2memseg(mz->addr, NULL);
	size_t off = 0;
	uint64_t pg;

	if (!ms)
		return -ENOENT;
	m->mem.fd = rte_memseg_get_fd(ms);
	if (m->mem.fd < 0 || rte_memseg_get_fd_offset(ms, &off) < 0) {
		mgr_err("the EAL gives no file descriptor for the domain memory: %s",
			rte_strerror(rte_errno));
		return -(rte_errno ? rte_errno : ENOTSUP);
	}
	pg = ms->hugepage_sz;
	m->mem.page_size = (uint32_t)pg;
	m->mem.map_offset = off / pg * pg;
	m->mem.hdr_delta =
	    (uint64_t)((char *)mz->addr - (char *)ms->addr) + (off - m->mem.map_offset);
	m->mem.map_len = ROUND_UP(m->mem.hdr_delta + m->hdr->total_len, pg);
	return 0;
}

/* Map the fd the way a client will and compare both ends of the zone. */
static int verify_fd(struct mgr *m)
{
	struct xio_domain_hdr *h = m->hdr, *c;
	void *p =
	    mmap(NULL, m->mem.map_len, PROT_READ, MAP_SHARED, m->mem.fd, (off_t)m->mem.map_offset);
	int r = 0;

	if (p == MAP_FAILED)
		return -errno;
	c = (struct xio_domain_hdr *)((char *)p + m->mem.hdr_delta);
	if (c->magic != XIO_MAGIC || c->generation != h->generation || c->total_len != h->total_len)
		r = -EIO;
	else if (xio_slot_at(c, h->nslots - 1)->index != h->nslots - 1 ||
		 xio_slot_at(c, h->nslots - 1)->ring_bytes != h->ring_bytes)
		r = -EIO; /* the zone does not lie contiguously in the file */
	munmap(p, m->mem.map_len);
	return r;
}

int mgr_mem_init(struct mgr *m)
{
	uint64_t page = m->hugepages ? m->hugepage_size : (uint64_t)sysconf(_SC_PAGESIZE);
	uint64_t len = ROUND_UP(m->zone_raw, page);
	struct xio_domain_hdr *h;
	uint32_t *tokens;
	int r;

	pthread_mutexattr_init(&robust_attr);
	pthread_mutexattr_setpshared(&robust_attr, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&robust_attr, PTHREAD_MUTEX_ROBUST);
	/* A thread that holds a direction (reserve/peek) and sends again gets EDEADLK, not a hang.
	 */
	pthread_mutexattr_settype(&robust_attr, PTHREAD_MUTEX_ERRORCHECK);

	m->mz = rte_memzone_reserve_aligned(ZONE_NAME, len, SOCKET_ID_ANY, 0, (unsigned)page);
	if (!m->mz) {
		mgr_err("cannot reserve %llu MB for domain '%s': %s",
			(unsigned long long)(len >> 20), m->o.domain, rte_strerror(rte_errno));
		return -ENOMEM;
	}
	h = m->hdr = m->mz->addr;
	memset(h, 0, m->slots_off);
	h->magic = XIO_MAGIC;
	h->layout_version = XIO_LAYOUT_VERSION;
	do {
		r = mgr_random(&h->generation, sizeof(h->generation));
		if (r < 0)
			return r;
	} while (!h->generation);
	h->total_len = len;
	h->slots_off = m->slots_off;
	h->nslots = m->o.nslots;
	h->slot_size = m->slot_size;
	h->ring_bytes = m->o.ring_bytes;
	/*
	 * Our liveness for the members (layout.h): locked by this, the main
	 * thread, and never unlocked; the kernel marks it when we are gone.
	 */
	pthread_mutex_init(&h->alive, &robust_attr);
	r = pthread_mutex_lock(&h->alive);
	if (r != 0) {
		mgr_err("cannot lock the liveness mutex: %s", strerror(r));
		return -r;
	}
	if (m->o.nbufs) {
		struct stat st;
		h->bufs_meta_off = m->bufs_meta_off;
		h->bufs_off = m->bufs_off;
		h->nbufs = m->o.nbufs;
		h->buf_size = m->o.buf_size;
		pool.meta = (struct xio_buf_meta *)((char *)h + m->bufs_meta_off);
		pool.nbufs = m->o.nbufs;
		pool.seen = calloc(m->o.nbufs, sizeof(*pool.seen));
		pool.own_pidns = stat("/proc/self/ns/pid", &st) == 0 ? (uint64_t)st.st_ino : 0;
		if (!pool.seen)
			return -ENOMEM;
		/* FREE, generation 0 */
		memset(pool.meta, 0, (size_t)m->o.nbufs * sizeof(struct xio_buf_meta));
	}
	pool.hdr = h;
	pool.slots = (char *)h + m->slots_off;
	pool.slot_size = m->slot_size;
	pool.nslots = m->o.nslots;

	tokens = calloc(m->o.nslots, sizeof(*tokens));
	if (!tokens)
		return -ENOMEM;
	r = mgr_random(tokens, m->o.nslots * sizeof(*tokens));
	for (uint32_t i = 0; r == 0 && i < m->o.nslots; i++)
		r = slot_init(m, xio_slot_at(h, i), i, tokens[i]);
	free(tokens);
	if (r < 0)
		return r;

	r = find_fd(m);
	if (r < 0)
		return r;
	if (m->mem.page_size > (uint32_t)sysconf(_SC_PAGESIZE))
		h->flags |= XIO_DOMAIN_HUGEPAGES;
	r = verify_fd(m);
	if (r < 0) {
		mgr_err("domain memory fd does not map the zone (offset %llu, length %llu): %s",
			(unsigned long long)m->mem.map_offset, (unsigned long long)m->mem.map_len,
			strerror(-r));
		return r;
	}
	/*
	 * Nothing attaches before the control socket opens (after this), so the
	 * order of the stores above does not matter; the fence keeps it so.
	 */
	atomic_thread_fence(memory_order_release);
	return 0;
}
