/* SPDX-License-Identifier: MIT */
/*
 * The domain memory: one memzone holding struct xio_domain_hdr and the
 * slots, then the zero-copy buffer pool (one state word per buffer, then the
 * buffers: stack/bufpool.h). Attaching processes get it as (fd, offset,
 * length), so we check at start-up that mapping that fd really shows the
 * zone.
 *
 * The rings live apart, in the ring file: a sparse memfd of 4 KiB pages,
 * backed only where a ring was written. Attaching processes map it right
 * after the zone. The sweep gives back the pages of a ring's free space
 * (mgr_ring_trim) and a reclaimed slot gives back all of its rings' data
 * pages, so a connection costs what it carries, not its ring size.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <fcntl.h>
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
#include "ring.h"

#define ZONE_NAME "xio_dom"

#define ROUND_UP(x, a) (((x) + (a)-1) / (a) * (a))
#define BOARDS_MAX     256
#define BOARDS_MIN     16

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
	/* the ring file, as we map it */
	char *rings;
	int rings_fd;
	uint64_t ring_stride, ring_mem;
	uint32_t ring_count;
} pool = {.rings_fd = -1};

int mgr_layout(struct mgr *m)
{
	uint32_t count = m->o.ring_bytes / XIO_RING_ESIZE;
	ssize_t rs = rte_ring_get_memsize_elem(XIO_RING_ESIZE, count);
	uint64_t stride;

	if (rs < 0)
		return (int)rs;
	stride = ROUND_UP(sizeof(struct xio_slot), XIO_CACHELINE);
	m->slot_size = (uint32_t)stride;
	m->ring_stride = ROUND_UP((uint64_t)rs, 4096);
	m->rings_len = (uint64_t)m->o.nslots * 2 * m->ring_stride;
	m->slots_off = ROUND_UP(sizeof(struct xio_domain_hdr), XIO_CACHELINE);
	m->zone_raw = m->slots_off + (uint64_t)m->o.nslots * stride;
	/* The buffer pool: state words, then the buffers on their own pages. */
	m->bufs_meta_off = ROUND_UP(m->zone_raw, XIO_CACHELINE);
	m->bufs_off =
	    ROUND_UP(m->bufs_meta_off + (uint64_t)m->o.nbufs * sizeof(struct xio_buf_meta), 4096);
	if (m->o.nbufs)
		m->zone_raw = m->bufs_off + (uint64_t)m->o.nbufs * m->o.buf_size;
	/*
	 * epoll news boards (stack/board.h): one per epoll set that holds X-IO
	 * connections, 256 of them, or fewer when a board is large (many
	 * slots): at most 16 MiB in all, at least 16.
	 */
	uint64_t bb = xio_board_bytes(m->o.nslots), nb = (16ull << 20) / bb;
	m->board_size = (uint32_t)bb;
	m->nboards = nb > BOARDS_MAX ? BOARDS_MAX : nb < BOARDS_MIN ? BOARDS_MIN : (uint32_t)nb;
	m->boards_off = ROUND_UP(m->zone_raw, 4096);
	m->zone_raw = m->boards_off + (uint64_t)m->nboards * m->board_size;
	return 0;
}

static void dir_init_locks(struct xio_dir *d)
{
	pthread_mutex_init(&d->wlock, &robust_attr);
	pthread_mutex_init(&d->rlock, &robust_attr);
}

/* Slot number of @s from its address (ours, trusted), or UINT32_MAX. */
static uint32_t slot_number(const struct xio_slot *s)
{
	uint64_t d = (uint64_t)((const char *)s - pool.slots);
	if ((const char *)s < pool.slots || !pool.slot_size || d % pool.slot_size ||
	    d / pool.slot_size >= pool.nslots)
		return UINT32_MAX;
	return (uint32_t)(d / pool.slot_size);
}

struct rte_ring *mgr_ring(const struct xio_slot *s, int dir)
{
	uint32_t i = slot_number(s);
	if (!pool.rings) /* no ring file (tests): the rings follow the slot */
		return (struct rte_ring *)((char *)s + s->ring_off[dir]);
	if (i == UINT32_MAX)
		return NULL;
	return (struct rte_ring *)(pool.rings +
				   (2 * (uint64_t)i + (uint64_t)dir) * pool.ring_stride);
}

/* Give back the whole pages of ring bytes [from, to) (offsets in the ring's data). */
static uint64_t punch(const struct rte_ring *r, uint64_t from, uint64_t to)
{
	uint64_t base = (uint64_t)((const char *)r - pool.rings) + sizeof(struct rte_ring);
	uint64_t a = ROUND_UP(base + from, 4096), b = (base + to) / 4096 * 4096;

	if (!pool.rings || b <= a)
		return 0;
	if (fallocate(pool.rings_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)a,
		      (off_t)(b - a)) < 0)
		return 0;
	return b - a;
}

/*
 * Take a direction lock without waiting. A dead holder's half operation is
 * rolled back as the stack does it (stack/conn.c lock_dir).
 */
static bool trylock_dir(pthread_mutex_t *mx, struct rte_ring_headtail *ht)
{
	int e = pthread_mutex_trylock(mx);
	if (e == EOWNERDEAD) {
		pthread_mutex_consistent(mx);
		ht->head = ht->tail;
		return true;
	}
	return e == 0;
}

uint64_t mgr_ring_trim(struct xio_slot *s, int dir, bool busy)
{
	struct rte_ring *r = mgr_ring(s, dir);
	struct xio_dir *x = &s->dir[dir];
	uint64_t freed = 0;

	if (!r || pool.rings_fd < 0 || !trylock_dir(&x->wlock, &r->prod))
		return 0;
	/*
	 * We hold the producer's lock: nobody writes. Readers only read
	 * [cons.tail, prod.tail) and only ever move cons.tail on, so the free
	 * space from a snapshot of cons.tail stays free while we punch it. The
	 * page the writer goes on with is kept.
	 */
	uint32_t size = pool.ring_count, prod = r->prod.tail;
	uint32_t cons =
	    atomic_load_explicit((_Atomic uint32_t *)&r->cons.tail, memory_order_acquire);
	uint32_t used = prod - cons, keep = 4096 / XIO_RING_ESIZE;
	/*
	 * The writer goes on after prod (keep that page), or at the ring's
	 * start when the ring rewinds (stack/ring.h: empty, past its first
	 * page; it rewinds only when the reader is not in the ring, so keep
	 * both). A busy ring keeps its first MGR_RING_BUSY_LOW bytes as well:
	 * one that rewinds comes back to them soon.
	 */
	uint32_t at = prod & (size - 1);
	bool rewinds = used == 0 && at >= XIO_RING_REWIND;
	uint64_t low = busy ? MGR_RING_BUSY_LOW : 0;
	if (rewinds && !busy) {
		uint64_t ahead = (uint64_t)at + keep < size ? (uint64_t)at + keep : size;
		freed += punch(r, (uint64_t)keep * XIO_RING_ESIZE, (uint64_t)at * XIO_RING_ESIZE);
		freed += punch(r, ahead * XIO_RING_ESIZE, (uint64_t)size * XIO_RING_ESIZE);
	} else if (used < size && size - used > keep + 1) {
		uint32_t from = prod + keep, n = size - used - keep - 1;
		uint32_t a = from & (size - 1);
		uint32_t first = n < size - a ? n : size - a;
		uint64_t lo = (uint64_t)a * XIO_RING_ESIZE;
		freed += punch(r, lo > low ? lo : low, ((uint64_t)a + first) * XIO_RING_ESIZE);
		if (n > first)
			freed += punch(r, low, (uint64_t)(n - first) * XIO_RING_ESIZE);
	}
	pthread_mutex_unlock(&x->wlock);
	return freed;
}

uint64_t mgr_rings_resident(void)
{
	struct stat st;
	return pool.rings_fd >= 0 && fstat(pool.rings_fd, &st) == 0 ? (uint64_t)st.st_blocks * 512
								    : 0;
}

/*
 * Give back every page of a free slot's rings, the headers' too. Not done
 * at reclaim: a short connection that takes the slot again soon would pay a
 * page fault per page in each of its processes, and the zeroing of new pages
 * (the 12 us of a short connection's 15 that 16384 slots cost). The caller
 * holds the slot away from clients meanwhile.
 */
void mgr_slot_release_rings(struct xio_slot *s)
{
	for (int d = 0; d < 2 && pool.rings; d++) {
		struct rte_ring *r = mgr_ring(s, d);
		if (!r)
			continue;
		uint64_t at = (uint64_t)((char *)r - pool.rings);
		(void)fallocate(pool.rings_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				(off_t)at, (off_t)pool.ring_stride);
	}
}

void mgr_slot_clear(struct xio_slot *s)
{
	uint32_t index = s->index;
	uint64_t off0 = s->ring_off[0], off1 = s->ring_off[1];
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
	for (int d = 0; d < 2; d++) {
		struct rte_ring *r = mgr_ring(s, d);
		if (!r)
			continue;
		/*
		 * The ring's pages stay for now (mgr_slot_release_rings): whoever
		 * takes the slot next writes a new header (stack/connect.c).
		 */
		if (!pool.rings)
			rte_ring_reset(r);
	}
	/* Buffers sent on this connection and never received: nobody can reach them now. */
	uint32_t i = slot_number(s);
	if (pool.nbufs && i != UINT32_MAX) {
		uint32_t n = xio_pool_reclaim_slot(pool.meta, pool.nbufs, i);
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

/*
 * A free slot. Its rings stay holes in the ring file until a client takes
 * the slot and writes their headers (stack/connect.c): an idle domain holds
 * no ring memory at all.
 */
static void slot_init(struct mgr *m, struct xio_slot *s, uint32_t index, uint32_t token)
{
	/* Where a member sees the ring file: right after its map_len bytes of zone
	 * (stack/domain.c). */
	uint64_t slot_at = m->mem.hdr_delta + m->slots_off + (uint64_t)index * m->slot_size;

	memset(s, 0, sizeof(*s));
	s->index = index;
	s->ring_bytes = m->o.ring_bytes;
	for (int d = 0; d < 2; d++) {
		uint64_t in_file = (2 * (uint64_t)index + (uint64_t)d) * m->ring_stride;
		s->ring_off[d] = m->mem.map_len - slot_at + in_file;
		dir_init_locks(&s->dir[d]);
	}
	atomic_store_explicit(&s->state, XIO_SLOT_WORD(token, XIO_SLOT_FREE), memory_order_release);
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

/* The sparse ring file: reserved, not backed; pages come as rings are written. */
static int rings_init(struct mgr *m)
{
	int fd = memfd_create("xio_rings", MFD_CLOEXEC);

	if (fd < 0 || ftruncate(fd, (off_t)m->rings_len) < 0) {
		int e = errno;
		mgr_err("cannot create the ring file (%llu MB): %s",
			(unsigned long long)(m->rings_len >> 20), strerror(e));
		if (fd >= 0)
			close(fd);
		return -e;
	}
	void *p =
	    mmap(NULL, m->rings_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
	if (p == MAP_FAILED) {
		int e = errno;
		close(fd);
		return -e;
	}
	m->rings_fd = pool.rings_fd = fd;
	pool.rings = p;
	pool.ring_stride = m->ring_stride;
	pool.ring_count = m->o.ring_bytes / XIO_RING_ESIZE;
	return 0;
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
	h->boards_off = m->boards_off;
	h->board_size = m->board_size;
	h->nboards = m->nboards;
	memset((char *)h + m->boards_off, 0, (size_t)m->nboards * m->board_size);
	pool.hdr = h;
	pool.slots = (char *)h + m->slots_off;
	pool.slot_size = m->slot_size;
	pool.nslots = m->o.nslots;
	r = rings_init(m);
	if (r < 0)
		return r;
	h->rings_len = m->rings_len;
	h->ring_stride = m->ring_stride;

	r = find_fd(m); /* the slots' ring offsets depend on how members map the zone */
	if (r < 0)
		return r;
	tokens = calloc(m->o.nslots, sizeof(*tokens));
	if (!tokens)
		return -ENOMEM;
	r = mgr_random(tokens, m->o.nslots * sizeof(*tokens));
	for (uint32_t i = 0; r == 0 && i < m->o.nslots; i++)
		slot_init(m, xio_slot_at(h, i), i, tokens[i]);
	free(tokens);
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
