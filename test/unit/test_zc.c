/* SPDX-License-Identifier: MIT */
/*
 * Zero-copy buffers and calls (stack/bufpool.c, stack/zc.c, descriptor
 * records in stack/ring.h) on a fake domain with a buffer pool: ownership
 * rules and misuse, exhaustion, a killed owner, xio_tx/xio_rx round trips,
 * and zero-copy mixed with the copying socket path on one connection.
 */
#include <errno.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bufpool.h"
#include "conn.h"
#include "demote.h"
#include "fake_domain.h"
#include "helpers.h"
#include "ring.h"
#include "sys.h"
#include "zc.h"

#define NSLOTS	   4
#define RING_ELEMS 1024 /* 4 KiB per direction */
#define NBUFS	   24
#define BUF_SIZE   4096

static struct xio_domain_hdr *h;
static struct xio_domain dom;
static size_t total;
static struct xio_conn *cli, *srv;
static int sv[2]; /* AF_UNIX pair: the connection's doorbells and liveness */
static uint32_t me;

/* A domain as manager/domain_mem.c lays it out: header, slots, pool state words, buffers. */
static void dom_setup(void)
{
	struct xio_domain_hdr *tmp = xt_domain_new(NSLOTS, RING_ELEMS, 0x1234);
	size_t slots_end = tmp->slots_off + (size_t)NSLOTS * tmp->slot_size;
	size_t meta_off = xt_align64(slots_end);
	size_t data_off = (meta_off + NBUFS * sizeof(struct xio_buf_meta) + 4095) & ~(size_t)4095;

	total = data_off + (size_t)NBUFS * BUF_SIZE;
	/* Shared, as the real domain is: a forked child's writes (a killed sender) reach us. */
	h = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(h, MAP_FAILED);
	memcpy(h, tmp, slots_end);
	free(tmp);
	pthread_mutexattr_t ma;
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST);
	for (uint32_t i = 0; i < NSLOTS; i++)
		for (int d = 0; d < 2; d++) {
			pthread_mutex_init(&xio_slot_at(h, i)->dir[d].wlock, &ma);
			pthread_mutex_init(&xio_slot_at(h, i)->dir[d].rlock, &ma);
		}
	pthread_mutexattr_destroy(&ma);
	/* rte_ring keeps no pointers to itself: the copied rings work where they are now */
	h->total_len = total;
	h->bufs_meta_off = meta_off;
	h->bufs_off = data_off;
	h->nbufs = NBUFS;
	h->buf_size = BUF_SIZE;

	memset(&dom, 0, sizeof(dom));
	dom.hdr = h;
	dom.map = h;
	dom.map_len = total;
	dom.generation = h->generation;
	dom.nslots = h->nslots;
	dom.slot_size = h->slot_size;
	dom.ring_bytes = h->ring_bytes;
	dom.slots_off = h->slots_off;
	ck_assert_int_eq(xio_pool_init(&dom.pool, h, h, (char *)h + total, dom.slots_off,
				       dom.nslots, dom.slot_size),
			 0);

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	struct xio_slot *s = xio_slot_at(h, 2);
	atomic_store(&s->state, XIO_SLOT_WORD(XT_FIRST_TOKEN(2), XIO_SLOT_ESTABLISHED));
	cli = xio_conn_new(&dom, s, false);
	srv = xio_conn_new(&dom, s, true);
	ck_assert_ptr_nonnull(cli);
	ck_assert_ptr_nonnull(srv);
	me = xio_pool_self(NULL);
}

static void dom_teardown(void)
{
	xio_conn_put(cli);
	xio_conn_put(srv);
	close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	munmap(h, total);
}

static uint64_t word(uint32_t i)
{
	return atomic_load(&dom.pool.meta[i].word);
}

/* A buffer held by this process, via the pool directly (xio_zc_malloc needs a manager). */
static char *take(void)
{
	uint64_t ns;
	uint32_t pid = xio_pool_self(&ns);
	int64_t i = xio_pool_alloc(&dom.pool, pid, ns);
	ck_assert_int_ge(i, 0);
	return xio_pool_buf(&dom.pool, (uint32_t)i);
}

static uint32_t idx_of(const void *p)
{
	uint32_t i, off;
	ck_assert_int_eq(xio_pool_locate(&dom.pool, p, &i, &off), 0);
	return i;
}

static ssize_t cli_write(const void *b, size_t n)
{
	struct iovec v = {(void *)b, n};
	return xio_conn_send(cli, sv[0], &v, 1, 0, true);
}

static ssize_t srv_read(void *b, size_t n, int flags)
{
	struct iovec v = {b, n};
	return xio_conn_recv(srv, sv[1], &v, 1, flags, true);
}

/* ---- the pool ------------------------------------------------------------------ */

START_TEST(test_pool_geometry_checked)
{
	struct xio_pool p;
	uint32_t saved = h->nbufs;

	h->nbufs = 1u << 20; /* would run past the mapping */
	ck_assert_int_eq(
	    xio_pool_init(&p, h, h, (char *)h + total, dom.slots_off, dom.nslots, dom.slot_size),
	    -ENOENT);
	ck_assert_uint_eq(p.nbufs, 0);
	h->nbufs = saved;
	h->bufs_meta_off = h->slots_off; /* overlaps the slots */
	ck_assert_int_eq(
	    xio_pool_init(&p, h, h, (char *)h + total, dom.slots_off, dom.nslots, dom.slot_size),
	    -ENOENT);
}
END_TEST

START_TEST(test_alloc_all_then_enomem)
{
	char *got[NBUFS];

	for (int i = 0; i < NBUFS; i++) {
		got[i] = take();
		ck_assert_uint_eq((uintptr_t)got[i] % 64, 0);
		for (int j = 0; j < i; j++)
			ck_assert_ptr_ne(got[i], got[j]);
		ck_assert_uint_eq(XIO_BUF_STATE(word(idx_of(got[i]))), XIO_BUF_HELD);
		ck_assert_uint_eq(XIO_BUF_OWNER(word(idx_of(got[i]))), me);
	}
	ck_assert_int_eq(xio_pool_alloc(&dom.pool, me, 1), -ENOMEM);
	ck_assert_int_eq(xio_zc_free(got[3]), 0);
	char *again = take();
	ck_assert_ptr_eq(again, got[3]);
}
END_TEST

START_TEST(test_free_misuse)
{
	char *b = take();
	uint32_t i = idx_of(b);
	uint32_t gen = XIO_BUF_GEN(word(i));
	char local[16];

	ck_assert_int_eq(xio_zc_free(NULL), -EINVAL);
	ck_assert_int_eq(xio_zc_free(local), -EINVAL);		   /* not shared memory */
	ck_assert_int_eq(xio_zc_free(xio_slot_at(h, 1)), -EINVAL); /* domain, not a buffer */
	ck_assert_int_eq(xio_zc_free((char *)h + total - 1 + 1), -EINVAL); /* one past the end */
	ck_assert_int_eq(xio_zc_free(b + 100), 0); /* any address inside the buffer */
	ck_assert_uint_eq(word(i), XIO_BUF_WORD(gen + 1, XIO_BUF_FREE, 0));
	ck_assert_int_eq(xio_zc_free(b), -EALREADY); /* double free */
	ck_assert_uint_eq(word(i), XIO_BUF_WORD(gen + 1, XIO_BUF_FREE, 0));
}
END_TEST

START_TEST(test_foreign_buffer)
{
	/* A buffer another process holds: neither freed nor sent by us. */
	int64_t i = xio_pool_alloc(&dom.pool, me + 1, 1);
	ck_assert_int_ge(i, 0);
	char *b = xio_pool_buf(&dom.pool, (uint32_t)i);
	uint64_t w = word((uint32_t)i);

	ck_assert_int_eq(xio_zc_free(b), -EPERM);
	ck_assert_int_eq(xio_zc_tx(cli, sv[0], b, 10, true), -EPERM);
	ck_assert_uint_eq(word((uint32_t)i), w);
	ck_assert_uint_eq(rte_ring_count(cli->tx), 0);
}
END_TEST

static bool dead_pid;
static bool judge(uint32_t pid, uint64_t ns, void *arg)
{
	(void)ns;
	return dead_pid && pid == *(uint32_t *)arg;
}

START_TEST(test_killed_owner_reclaimed)
{
	uint64_t seen[NBUFS] = {0};
	uint32_t victim = 424242, held = 99;
	int64_t a = xio_pool_alloc(&dom.pool, victim, 7);
	int64_t b =
	    xio_pool_alloc(&dom.pool, victim, 0); /* died before it recorded its namespace */
	char *mine = take();
	ck_assert_int_ge(a, 0);
	ck_assert_int_ge(b, 0);
	atomic_store(&dom.pool.meta[b].owner_ns, 0);

	/* alive: nothing happens */
	ck_assert_uint_eq(xio_pool_reclaim_dead(dom.pool.meta, NBUFS, seen, judge, &victim, &held),
			  0);
	ck_assert_uint_eq(held, 3);
	dead_pid = true;
	/* dead, but the first sweep that sees it dead only remembers the word */
	ck_assert_uint_eq(xio_pool_reclaim_dead(dom.pool.meta, NBUFS, seen, judge, &victim, &held),
			  1);
	ck_assert_uint_eq(XIO_BUF_STATE(word((uint32_t)a)), XIO_BUF_FREE);
	ck_assert_uint_eq(XIO_BUF_STATE(word((uint32_t)b)), XIO_BUF_HELD); /* ns unknown: kept */
	ck_assert_uint_eq(XIO_BUF_STATE(word(idx_of(mine))), XIO_BUF_HELD);
	ck_assert_uint_eq(held, 2);
	/* the freed one is usable again, and the dead owner's late free would be refused */
	ck_assert_int_eq(xio_pool_free(&dom.pool, (uint32_t)a, victim), -EALREADY);
}
END_TEST

START_TEST(test_reclaim_waits_one_sweep)
{
	uint64_t seen[NBUFS] = {0};
	uint32_t victim = 515151, held;
	dead_pid = true;
	int64_t a = xio_pool_alloc(&dom.pool, victim, 7);
	ck_assert_int_ge(a, 0);
	/* seen for the first time: not judged yet (its owner may be mid-transition) */
	ck_assert_uint_eq(xio_pool_reclaim_dead(dom.pool.meta, NBUFS, seen, judge, &victim, &held),
			  0);
	ck_assert_uint_eq(xio_pool_reclaim_dead(dom.pool.meta, NBUFS, seen, judge, &victim, &held),
			  1);
	ck_assert_uint_eq(held, 0);
}
END_TEST

START_TEST(test_inflight_freed_with_slot)
{
	char *b = take(), *c = take();
	ck_assert_int_eq(xio_zc_tx(cli, sv[0], b, 100, true), 100);
	uint32_t gen = 0;
	/* c is in flight on another slot */
	ck_assert_int_eq(xio_pool_send(&dom.pool, idx_of(c), me, 3, &gen), 0);
	ck_assert_uint_eq(XIO_BUF_STATE(word(idx_of(b))), XIO_BUF_SENT);
	ck_assert_uint_eq(XIO_BUF_OWNER(word(idx_of(b))), 2);
	ck_assert_uint_eq(xio_pool_reclaim_slot(dom.pool.meta, NBUFS, 2), 1);
	ck_assert_uint_eq(XIO_BUF_STATE(word(idx_of(b))), XIO_BUF_FREE);
	ck_assert_uint_eq(XIO_BUF_STATE(word(idx_of(c))), XIO_BUF_SENT);
}
END_TEST

START_TEST(test_sender_killed_mid_tx)
{
	char *orphan = take(), *next = take();
	uint32_t slot = 2;
	/* A sender dies holding the send lock, its buffer already SENT, no record published. */
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		uint32_t gen;
		pthread_mutex_lock(&cli->txd->wlock);
		struct rte_ring_zc_data z;
		rte_ring_enqueue_zc_bulk_elem_start(cli->tx, 4, 4, &z, NULL); /* half a record */
		xio_pool_send(&dom.pool, idx_of(orphan), me, slot, &gen);
		_exit(0);
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	/* The next sender takes over the dead lock, rolls the half record back and goes on. */
	memcpy(next, "after", 5);
	ck_assert_int_eq(xio_zc_tx(cli, sv[0], next, 5, true), 5);
	void *got;
	ck_assert_int_eq(xio_zc_rx(srv, sv[1], &got, true), 5);
	ck_assert_ptr_eq(got, next);
	ck_assert_int_eq(xio_zc_rx(srv, sv[1], &got, true), -EAGAIN);
	/* The orphan is nobody's to use; it comes back with the slot. */
	ck_assert_uint_eq(XIO_BUF_STATE(word(idx_of(orphan))), XIO_BUF_SENT);
	ck_assert_uint_eq(xio_pool_reclaim_slot(dom.pool.meta, NBUFS, slot), 1);
	ck_assert_uint_eq(XIO_BUF_STATE(word(idx_of(orphan))), XIO_BUF_FREE);
}
END_TEST

/* ---- xio_tx / xio_rx ---------------------------------------------------------------- */

START_TEST(test_tx_rx_round_trip)
{
	char *b = take();
	for (int i = 0; i < BUF_SIZE; i++)
		b[i] = (char)(i * 7);
	uint64_t before = cli->txd->bytes;

	ck_assert_int_eq(xio_zc_tx(cli, sv[0], b, BUF_SIZE, true), BUF_SIZE);
	ck_assert_uint_eq(cli->txd->bytes - before, BUF_SIZE);
	ck_assert_uint_eq(XIO_BUF_STATE(word(idx_of(b))), XIO_BUF_SENT);
	/* once sent the buffer is not ours: no free, no second send */
	ck_assert_int_eq(xio_zc_free(b), -EPERM);
	ck_assert_int_eq(xio_zc_tx(cli, sv[0], b, 1, true), -EPERM);

	void *got = NULL;
	ck_assert_int_eq(xio_zc_rx(srv, sv[1], &got, true), BUF_SIZE);
	ck_assert_ptr_eq(got, b); /* the same bytes, not a copy */
	for (int i = 0; i < BUF_SIZE; i++)
		ck_assert_int_eq(((char *)got)[i], (char)(i * 7));
	ck_assert_uint_eq(XIO_BUF_STATE(word(idx_of(b))), XIO_BUF_HELD);
	ck_assert_int_eq(xio_zc_free(got), 0);
	ck_assert_int_eq(xio_zc_rx(srv, sv[1], &got, true), -EAGAIN);
}
END_TEST

START_TEST(test_tx_sub_range_and_bounds)
{
	char *b = take();
	memcpy(b + 1000, "hello", 5);
	ck_assert_int_eq(xio_zc_tx(cli, sv[0], b + 1000, BUF_SIZE - 999, true), -EINVAL);
	char stackbuf[8];
	ck_assert_int_eq(xio_zc_tx(cli, sv[0], stackbuf, 8, true), -EINVAL);
	ck_assert_int_eq(xio_zc_tx(cli, sv[0], b, 0, true), 0); /* nothing sent, still ours */
	ck_assert_uint_eq(XIO_BUF_STATE(word(idx_of(b))), XIO_BUF_HELD);
	ck_assert_int_eq(xio_zc_tx(cli, sv[0], b + 1000, 5, true), 5);
	void *got;
	ck_assert_int_eq(xio_zc_rx(srv, sv[1], &got, true), 5);
	ck_assert_ptr_eq(got, b + 1000);
	ck_assert_mem_eq(got, "hello", 5);
	ck_assert_int_eq(xio_zc_free(got), 0); /* an address inside the buffer frees it */
}
END_TEST

START_TEST(test_read_of_descriptor_copies_and_frees)
{
	char *b = take();
	memcpy(b, "0123456789", 10);
	uint32_t i = idx_of(b), gen = XIO_BUF_GEN(word(i));
	char out[16] = {0};

	ck_assert_int_eq(xio_zc_tx(cli, sv[0], b, 10, true), 10);
	ck_assert_int_eq(srv_read(out, 3, MSG_PEEK), 3);
	ck_assert_mem_eq(out, "012", 3);
	ck_assert_int_eq(srv_read(out, 4, 0), 4);
	ck_assert_mem_eq(out, "0123", 4);
	ck_assert_uint_eq(XIO_BUF_STATE(word(i)), XIO_BUF_SENT); /* partly read: still in flight */
	struct xio_conn *c = srv;
	ck_assert_int_eq(xio_conn_inq(c), 6);
	ck_assert_int_eq(srv_read(out, sizeof(out), 0), 6);
	ck_assert_mem_eq(out, "456789", 6);
	ck_assert_uint_eq(word(i), XIO_BUF_WORD(gen + 2, XIO_BUF_FREE, 0)); /* sent, freed */
}
END_TEST

START_TEST(test_read_many_descriptors)
{
	char *b[20];
	for (int i = 0; i < 20; i++) {
		b[i] = take();
		b[i][0] = (char)('a' + i);
		ck_assert_int_eq(xio_zc_tx(cli, sv[0], b[i], 1, true), 1);
	}
	ck_assert_int_eq(xio_conn_inq(srv), 20);
	char out[64] = {0};
	/* one read frees at most XIO_RING_MAX_RELEASE buffers; the rest come next time */
	ssize_t n = srv_read(out, sizeof(out), 0);
	ck_assert_int_eq(n, XIO_RING_MAX_RELEASE);
	ck_assert_int_eq(srv_read(out + n, sizeof(out) - (size_t)n, 0), 20 - n);
	ck_assert_str_eq(out, "abcdefghijklmnopqrst");
	for (int i = 0; i < 20; i++)
		ck_assert_uint_eq(XIO_BUF_STATE(word(idx_of(b[i]))), XIO_BUF_FREE);
}
END_TEST

START_TEST(test_rx_rest_after_partial_read)
{
	char *b = take();
	memcpy(b, "abcdef", 6);
	char out[4];
	ck_assert_int_eq(xio_zc_tx(cli, sv[0], b, 6, true), 6);
	ck_assert_int_eq(srv_read(out, 2, 0), 2);
	void *got;
	ck_assert_int_eq(xio_zc_rx(srv, sv[1], &got, true), 4);
	ck_assert_ptr_eq(got, b + 2);
	ck_assert_mem_eq(got, "cdef", 4);
	ck_assert_int_eq(xio_zc_free(got), 0);
}
END_TEST

START_TEST(test_mixed_stream)
{
	char *b1 = take(), *b2 = take();
	memcpy(b1, "defg", 4);
	memcpy(b2, "jk", 2);
	ck_assert_int_eq(cli_write("abc", 3), 3);
	ck_assert_int_eq(xio_zc_tx(cli, sv[0], b1, 4, true), 4);
	ck_assert_int_eq(cli_write("hi", 2), 2);
	ck_assert_int_eq(xio_zc_tx(cli, sv[0], b2, 2, true), 2);
	ck_assert_uint_eq(xio_ring_unread(srv->rx, srv->rxd->rd_off), 11);

	char out[32] = {0};
	ck_assert_int_eq(srv_read(out, sizeof(out), 0), 11);
	ck_assert_str_eq(out, "abcdefghijk");
	ck_assert_uint_eq(XIO_BUF_STATE(word(idx_of(b1))), XIO_BUF_FREE);
	ck_assert_uint_eq(XIO_BUF_STATE(word(idx_of(b2))), XIO_BUF_FREE);
}
END_TEST

START_TEST(test_rx_of_bytes_copies_into_buffer)
{
	ck_assert_int_eq(cli_write("plain bytes", 11), 11);
	void *got;
	ck_assert_int_eq(xio_zc_rx(srv, sv[1], &got, true), 11);
	ck_assert_mem_eq(got, "plain bytes", 11);
	ck_assert_uint_eq(XIO_BUF_STATE(word(idx_of(got))), XIO_BUF_HELD);
	ck_assert_int_eq(xio_zc_free(got), 0);
}
END_TEST

START_TEST(test_rx_of_bytes_when_pool_exhausted)
{
	for (int i = 0; i < NBUFS; i++)
		take();
	ck_assert_int_eq(cli_write("xyz", 3), 3);
	void *got = (void *)1;
	ck_assert_int_eq(xio_zc_rx(srv, sv[1], &got, true), -ENOMEM);
	char out[4] = {0};
	ck_assert_int_eq(srv_read(out, 3, 0), 3); /* the bytes are still there */
	ck_assert_str_eq(out, "xyz");
}
END_TEST

START_TEST(test_tx_full_ring_keeps_buffer)
{
	char big[RING_ELEMS * 4];
	memset(big, 'f', sizeof(big));
	ck_assert_int_gt(cli_write(big, sizeof(big)), 0); /* fills the ring */
	char *b = take();
	ck_assert_int_eq(xio_zc_tx(cli, sv[0], b, 10, true), -EAGAIN);
	ck_assert_uint_eq(XIO_BUF_STATE(word(idx_of(b))), XIO_BUF_HELD);
	ck_assert_int_eq(xio_zc_free(b), 0);
}
END_TEST

START_TEST(test_forged_descriptor_resets)
{
	char *b = take();
	uint32_t i = idx_of(b);
	uint64_t w = word(i);
	struct rte_ring_zc_data z;
	/* a record naming a buffer that is not in flight here (stale generation) */
	ck_assert_uint_eq(rte_ring_enqueue_zc_bulk_elem_start(cli->tx, 4, 4, &z, NULL), 4);
	uint32_t rec[4] = {XIO_REC_DESC | 10, i, XIO_BUF_GEN(w), 0};
	memcpy(z.ptr1, rec, sizeof(rec)); /* an empty ring does not wrap */
	rte_ring_enqueue_zc_elem_finish(cli->tx, 4);

	char out[16];
	ck_assert_int_eq(srv_read(out, sizeof(out), 0), -ECONNRESET);
	ck_assert_uint_eq(word(i), w); /* untouched */
}
END_TEST

START_TEST(test_desc_out_of_pool_resets)
{
	struct rte_ring_zc_data z;
	ck_assert_uint_eq(rte_ring_enqueue_zc_bulk_elem_start(cli->tx, 4, 4, &z, NULL), 4);
	uint32_t rec[4] = {XIO_REC_DESC | 10, NBUFS + 5, 0, 0};
	memcpy(z.ptr1, rec, sizeof(rec));
	rte_ring_enqueue_zc_elem_finish(cli->tx, 4);
	void *got;
	ck_assert_int_eq(xio_zc_rx(srv, sv[1], &got, true), -ECONNRESET);
}
END_TEST

/*
 * FIONREAD on the peer end of a demoted connection counts what the ring still
 * holds as the socket path does: a forged descriptor length or indices far
 * apart (the peer can write anything there) count nothing. Found by fuzz_conn:
 * the count was negative or larger than anything queued.
 */
static void demote_by_client(void)
{
	atomic_store(&cli->slot->demote.who, 0); /* the client demoted: srv is the peer */
	atomic_store(&cli->slot->demote.state, XIO_DEMOTE_ACTIVE);
}

START_TEST(test_demoted_inq_forged_descriptor)
{
	ck_assert_int_eq(cli_write("0123456789", 10), 10);
	struct rte_ring_zc_data z;
	ck_assert_uint_eq(rte_ring_enqueue_zc_bulk_elem_start(cli->tx, 4, 4, &z, NULL), 4);
	ck_assert_uint_eq(z.n1, 4); /* after 4 elements of a 1024-element ring: no wrap */
	uint32_t rec[4] = {XIO_REC_DESC | 0x7fffffff, 0, 1, 0};
	memcpy(z.ptr1, rec, sizeof(rec));
	rte_ring_enqueue_zc_elem_finish(cli->tx, 4);
	ck_assert_int_eq(xio_conn_inq(srv), 0); /* not demoted: the record is checked */
	demote_by_client();
	ck_assert_int_eq(xio_conn_inq(srv), 0);
}
END_TEST

START_TEST(test_demoted_inq_indices_apart)
{
	ck_assert_int_eq(cli_write("0123456789", 10), 10);
	/* the producer index 16 elements behind the consumer's: 2^32 - 16 elements "queued" */
	cli->tx->prod.head = cli->tx->prod.tail = cli->tx->cons.tail - 16;
	demote_by_client();
	int n = xio_conn_inq(srv);
	ck_assert_int_eq(n, 0);
}
END_TEST

/* ---- reserve/commit, peek/consume ------------------------------------------------------- */

START_TEST(test_reserve_commit)
{
	void *p;
	ssize_t n = xio_zc_send_reserve(cli, sv[0], 100, &p, true);
	ck_assert_int_eq(n, 100);
	void *q;
	ck_assert_int_eq(xio_zc_send_reserve(cli, sv[0], 10, &q, true), -EBUSY);
	memcpy(p, "reserved bytes", 14);
	ck_assert_int_eq(xio_zc_send_commit(cli, sv[0], (char *)p + 1, 14), -EINVAL);
	ck_assert_int_eq(xio_zc_send_commit(cli, sv[0], p, 101), -EINVAL);
	ck_assert_int_eq(xio_zc_send_commit(srv, sv[1], p, 14), -EINVAL);
	ck_assert_int_eq(xio_zc_send_commit(cli, sv[0], p, 14), 0);
	ck_assert_int_eq(xio_zc_send_commit(cli, sv[0], p, 14), -EINVAL); /* nothing held now */

	/* cancel */
	ck_assert_int_eq(xio_zc_send_reserve(cli, sv[0], 50, &p, true), 50);
	ck_assert_int_eq(xio_zc_send_commit(cli, sv[0], p, 0), 0);

	char out[32] = {0};
	ck_assert_int_eq(srv_read(out, sizeof(out), 0), 14);
	ck_assert_str_eq(out, "reserved bytes");
	/* the lock was released: an ordinary write works */
	ck_assert_int_eq(cli_write("x", 1), 1);
}
END_TEST

START_TEST(test_reserve_wraps_short)
{
	char fill[RING_ELEMS * 4 - 64];
	char out[sizeof(fill)];
	memset(fill, 'a', sizeof(fill));
	ck_assert_int_eq(cli_write(fill, sizeof(fill)), (ssize_t)sizeof(fill));
	ck_assert_int_eq(srv_read(out, sizeof(out), 0), (ssize_t)sizeof(fill));
	/* the producer now sits 60 bytes before the ring's end */
	void *p;
	ssize_t n = xio_zc_send_reserve(cli, sv[0], 1000, &p, true);
	ck_assert_int_gt(n, 0);
	ck_assert_int_lt(n, 1000); /* only the part before the wrap */
	memset(p, 'w', (size_t)n);
	ck_assert_int_eq(xio_zc_send_commit(cli, sv[0], p, (size_t)n), 0);
	ck_assert_int_eq(xio_zc_send_reserve(cli, sv[0], 1000, &p, true), 1000);
	memset(p, 'v', 1000);
	ck_assert_int_eq(xio_zc_send_commit(cli, sv[0], p, 1000), 0);
	ck_assert_int_eq(srv_read(out, sizeof(out), 0), n + 1000);
	ck_assert_int_eq(out[0], 'w');
	ck_assert_int_eq(out[n], 'v');
}
END_TEST

START_TEST(test_peek_consume)
{
	const void *p;
	ck_assert_int_eq(xio_zc_recv_peek(srv, sv[1], &p, true), -EAGAIN);
	ck_assert_int_eq(cli_write("0123456789", 10), 10);
	ck_assert_int_eq(xio_zc_recv_peek(srv, sv[1], &p, true), 10);
	ck_assert_mem_eq(p, "0123456789", 10);
	const void *q;
	ck_assert_int_eq(xio_zc_recv_peek(srv, sv[1], &q, true), -EBUSY);
	ck_assert_int_eq(xio_zc_recv_consume(srv, sv[1], 11), -EINVAL);
	ck_assert_int_eq(xio_zc_recv_consume(srv, sv[1], 4), 0);
	ck_assert_int_eq(xio_zc_recv_consume(srv, sv[1], 1), -EINVAL); /* nothing held */
	ck_assert_int_eq(xio_zc_recv_peek(srv, sv[1], &p, true), 6);
	ck_assert_mem_eq(p, "456789", 6);
	ck_assert_int_eq(xio_zc_recv_consume(srv, sv[1], 0), 0); /* release, consume nothing */
	char out[8] = {0};
	ck_assert_int_eq(srv_read(out, 2, 0), 2); /* read() continues where consume left */
	ck_assert_mem_eq(out, "45", 2);
	ck_assert_int_eq(xio_zc_recv_peek(srv, sv[1], &p, true), 4);
	ck_assert_int_eq(xio_zc_recv_consume(srv, sv[1], 4), 0);
	ck_assert_uint_eq(rte_ring_count(srv->rx), 0);
}
END_TEST

START_TEST(test_peek_descriptor_in_place)
{
	char *b = take();
	memcpy(b, "zero-copy", 9);
	ck_assert_int_eq(xio_zc_tx(cli, sv[0], b, 9, true), 9);
	const void *p;
	ck_assert_int_eq(xio_zc_recv_peek(srv, sv[1], &p, true), 9);
	ck_assert_ptr_eq(p, b);
	ck_assert_int_eq(xio_zc_recv_consume(srv, sv[1], 9), 0);
	ck_assert_uint_eq(XIO_BUF_STATE(word(idx_of(b))), XIO_BUF_FREE);
}
END_TEST

START_TEST(test_eof)
{
	ck_assert_int_eq(xio_conn_shutdown(cli, sv[0], SHUT_WR), 0);
	void *got = (void *)1;
	ck_assert_int_eq(xio_zc_rx(srv, sv[1], &got, false), 0);
	const void *p;
	ck_assert_int_eq(xio_zc_recv_peek(srv, sv[1], &p, false), 0);
	char *b = take();
	ck_assert_int_eq(xio_zc_tx(cli, sv[0], b, 1, true), -EPIPE);
	ck_assert_uint_eq(XIO_BUF_STATE(word(idx_of(b))), XIO_BUF_HELD);
	void *q;
	ck_assert_int_eq(xio_zc_send_reserve(cli, sv[0], 1, &q, true), -EPIPE);
}
END_TEST

START_TEST(test_tx_to_dead_peer)
{
	char *b = take();
	close(sv[1]); /* the peer's process died: its socket is gone */
	sv[1] = -1;
	usleep(2000); /* the send path looks at the socket at most once a millisecond */
	ck_assert_int_eq(xio_zc_tx(cli, sv[0], b, 10, true), -EPIPE);
	ck_assert_uint_eq(XIO_BUF_STATE(word(idx_of(b))), XIO_BUF_HELD); /* still ours */
	void *p;
	ck_assert_int_eq(xio_zc_send_reserve(cli, sv[0], 10, &p, true), -EPIPE);
}
END_TEST

/* ---- forwarding: a received buffer sent on (service chains) ------------------------- */

/* A second connection, on slot 1: the next hop of a chain. */
static struct xio_conn *cli2, *srv2;
static int sv2[2];

static void fwd_setup(void)
{
	dom_setup();
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv2), 0);
	struct xio_slot *s = xio_slot_at(h, 1);
	atomic_store(&s->state, XIO_SLOT_WORD(XT_FIRST_TOKEN(1), XIO_SLOT_ESTABLISHED));
	cli2 = xio_conn_new(&dom, s, false);
	srv2 = xio_conn_new(&dom, s, true);
	ck_assert_ptr_nonnull(cli2);
	ck_assert_ptr_nonnull(srv2);
}

static void fwd_teardown(void)
{
	xio_conn_put(cli2);
	xio_conn_put(srv2);
	close(sv2[0]);
	close(sv2[1]);
	dom_teardown();
}

/* Put a descriptor record on @c's send ring by hand (a forger, or a replay). */
static void put_record(struct xio_conn *c, uint32_t idx, uint32_t gen, uint32_t off, uint32_t len)
{
	struct rte_ring_zc_data z;
	ck_assert_uint_eq(rte_ring_enqueue_zc_bulk_elem_start(c->tx, 4, 4, &z, NULL), 4);
	uint32_t rec[4] = {XIO_REC_DESC | len, idx, gen, off};
	ck_assert_uint_eq(z.n1, 4); /* the tests' rings do not wrap here */
	memcpy(z.ptr1, rec, sizeof(rec));
	rte_ring_enqueue_zc_elem_finish(c->tx, 4);
}

START_TEST(test_forward_chain)
{
	/* A -> B on slot 2, B -> C on slot 1, C -> D on slot 2 again: one buffer, no copy. */
	char *b = take();
	uint32_t i = idx_of(b), gen = XIO_BUF_GEN(word(i));
	for (int k = 0; k < BUF_SIZE; k++)
		b[k] = (char)(k * 13 + 1);
	struct {
		struct xio_conn *tx, *rx;
		int txfd, rxfd;
		uint32_t slot;
	} hop[3] = {{cli, srv, sv[0], sv[1], 2},
		    {cli2, srv2, sv2[0], sv2[1], 1},
		    {cli, srv, sv[0], sv[1], 2}};
	void *cur = b;
	for (int k = 0; k < 3; k++) {
		uint64_t before = hop[k].tx->txd->bytes;
		ck_assert_int_eq(xio_zc_tx(hop[k].tx, hop[k].txfd, cur, BUF_SIZE, true), BUF_SIZE);
		ck_assert_uint_eq(hop[k].tx->txd->bytes - before, BUF_SIZE);
		ck_assert_uint_eq(word(i), XIO_BUF_WORD(gen + 1 + k, XIO_BUF_SENT, hop[k].slot));
		/* in flight: not ours to free or send again */
		ck_assert_int_eq(xio_zc_free(cur), -EPERM);
		void *got = NULL;
		ck_assert_int_eq(xio_zc_rx(hop[k].rx, hop[k].rxfd, &got, true), BUF_SIZE);
		ck_assert_ptr_eq(got, b); /* the very same bytes */
		ck_assert_uint_eq(word(i), XIO_BUF_WORD(gen + 1 + k, XIO_BUF_HELD, me));
		((char *)got)[0]++; /* each hop may amend it in place */
		cur = got;
	}
	for (int k = 1; k < BUF_SIZE; k++)
		ck_assert_int_eq(b[k], (char)(k * 13 + 1));
	ck_assert_int_eq(b[0], (char)4);
	ck_assert_int_eq(xio_zc_free(cur), 0);
	ck_assert_uint_eq(word(i), XIO_BUF_WORD(gen + 4, XIO_BUF_FREE, 0));
	void *got;
	ck_assert_int_eq(xio_zc_rx(srv, sv[1], &got, true), -EAGAIN);
	ck_assert_int_eq(xio_zc_rx(srv2, sv2[1], &got, true), -EAGAIN);
}
END_TEST

START_TEST(test_forward_sub_range)
{
	char *b = take();
	memcpy(b + 100, "header:payload", 14);
	ck_assert_int_eq(xio_zc_tx(cli, sv[0], b + 100, 14, true), 14);
	void *got;
	ck_assert_int_eq(xio_zc_rx(srv, sv[1], &got, true), 14);
	ck_assert_ptr_eq(got, b + 100);
	/* past the buffer's end: refused, still ours */
	ck_assert_int_eq(xio_zc_tx(cli2, sv2[0], (char *)got + 7, BUF_SIZE - 100, true), -EINVAL);
	ck_assert_uint_eq(XIO_BUF_STATE(word(idx_of(b))), XIO_BUF_HELD);
	/* the payload only, then an earlier part of the same buffer: any range inside it */
	ck_assert_int_eq(xio_zc_tx(cli2, sv2[0], (char *)got + 7, 7, true), 7);
	void *got2;
	ck_assert_int_eq(xio_zc_rx(srv2, sv2[1], &got2, true), 7);
	ck_assert_ptr_eq(got2, b + 107);
	ck_assert_mem_eq(got2, "payload", 7);
	memcpy(b, "front", 5);
	ck_assert_int_eq(xio_zc_tx(cli, sv[0], b, 5, true), 5);
	ck_assert_int_eq(xio_zc_rx(srv, sv[1], &got, true), 5);
	ck_assert_ptr_eq(got, b);
	ck_assert_mem_eq(got, "front", 5);
	ck_assert_int_eq(xio_zc_free(got2), 0); /* any address inside frees it */
	ck_assert_uint_eq(XIO_BUF_STATE(word(idx_of(b))), XIO_BUF_FREE);
}
END_TEST

START_TEST(test_forward_after_free_and_reuse)
{
	char *b = take();
	uint32_t i = idx_of(b);
	memcpy(b, "first", 5);
	ck_assert_int_eq(xio_zc_tx(cli, sv[0], b, 5, true), 5);
	uint32_t gen1 = XIO_BUF_GEN(word(i));
	void *got;
	ck_assert_int_eq(xio_zc_rx(srv, sv[1], &got, true), 5);
	ck_assert_int_eq(xio_zc_free(got), 0);
	/* the stale pointer is nobody's now */
	ck_assert_int_eq(xio_zc_tx(cli2, sv2[0], got, 5, true), -EALREADY);
	ck_assert_uint_eq(rte_ring_count(cli2->tx), 0);
	/* allocated again (the pool hands it out anew) and forwarded again */
	char *all[NBUFS];
	int n = 0, found = -1;
	for (; n < NBUFS; n++) {
		all[n] = take();
		if (all[n] == b)
			found = n;
		if (found >= 0)
			break;
	}
	ck_assert_int_ge(found, 0);
	memcpy(b, "second", 6);
	ck_assert_int_eq(xio_zc_tx(cli, sv[0], b, 6, true), 6);
	ck_assert_int_eq(xio_zc_rx(srv, sv[1], &got, true), 6);
	ck_assert_int_eq(xio_zc_tx(cli2, sv2[0], got, 6, true), 6);
	/* the first life's descriptor, replayed, is refused: the connection resets */
	put_record(cli, i, gen1, 0, 5);
	void *g2;
	ck_assert_int_eq(xio_zc_rx(srv, sv[1], &g2, true), -ECONNRESET);
	ck_assert_int_eq(xio_zc_rx(srv2, sv2[1], &g2, true), 6);
	ck_assert_mem_eq(g2, "second", 6);
	ck_assert_int_eq(xio_zc_free(g2), 0);
	for (int k = 0; k < found; k++)
		ck_assert_int_eq(xio_zc_free(all[k]), 0);
}
END_TEST

START_TEST(test_replayed_hop_refused)
{
	/* A buffer forwarded back onto a connection it crossed before (A -> B -> A). */
	char *b = take();
	uint32_t i = idx_of(b);
	memcpy(b, "ping", 4);
	ck_assert_int_eq(xio_zc_tx(cli, sv[0], b, 4, true), 4);
	uint32_t gen1 = XIO_BUF_GEN(word(i));
	void *got;
	ck_assert_int_eq(xio_zc_rx(srv, sv[1], &got, true), 4);
	ck_assert_int_eq(xio_zc_tx(srv, sv[1], got, 4, true), 4); /* back on the same slot */
	uint64_t w = word(i);
	ck_assert_uint_eq(XIO_BUF_STATE(w), XIO_BUF_SENT);
	/* hop 1's record replayed on hop 1's ring names a buffer no longer in flight there */
	put_record(cli, i, gen1, 0, 4);
	void *g2;
	ck_assert_int_eq(xio_zc_rx(srv, sv[1], &g2, true), -ECONNRESET);
	ck_assert_uint_ne(XIO_BUF_GEN(w), gen1); /* each hop has its own generation */
	ck_assert_uint_eq(word(i), w);		 /* untouched, still on its way back */
	ck_assert_int_eq(xio_zc_rx(cli, sv[0], &g2, true), 4);
	ck_assert_ptr_eq(g2, b);
	ck_assert_int_eq(xio_zc_free(g2), 0);
}
END_TEST

START_TEST(test_fanout_refused)
{
	/* One buffer to two consumers: the second send finds it in flight and is refused. */
	char *b = take();
	uint32_t i = idx_of(b);
	memcpy(b, "once", 4);
	ck_assert_int_eq(xio_zc_tx(cli, sv[0], b, 4, true), 4);
	uint64_t w = word(i);
	ck_assert_int_eq(xio_zc_tx(cli2, sv2[0], b, 4, true), -EPERM);
	ck_assert_int_eq(xio_zc_tx(cli, sv[0], b, 4, true), -EPERM);
	ck_assert_uint_eq(word(i), w);
	ck_assert_uint_eq(rte_ring_count(cli2->tx), 0);
	/* received, forwarded once, then again: the same refusal */
	void *got;
	ck_assert_int_eq(xio_zc_rx(srv, sv[1], &got, true), 4);
	ck_assert_int_eq(xio_zc_tx(cli2, sv2[0], got, 4, true), 4);
	ck_assert_int_eq(xio_zc_tx(cli, sv[0], got, 4, true), -EPERM);
	ck_assert_int_eq(xio_zc_free(got), -EPERM);
	ck_assert_int_eq(xio_zc_rx(srv, sv[1], &got, true), -EAGAIN);
	/* fan-out is a copy: a second buffer for the second consumer */
	ck_assert_int_eq(xio_zc_rx(srv2, sv2[1], &got, true), 4);
	char *copy = take();
	memcpy(copy, got, 4);
	ck_assert_int_eq(xio_zc_tx(cli, sv[0], got, 4, true), 4);
	ck_assert_int_eq(xio_zc_tx(cli2, sv2[0], copy, 4, true), 4);
}
END_TEST

START_TEST(test_forward_after_fork)
{
	/* A relay in another process: a forked child receives on slot 2 and forwards on slot 1. */
	char *b = take();
	memcpy(b, "across a fork", 13);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		void *got;
		int rc = 0;
		/* the parent's buffer is not the child's to send */
		if (xio_zc_tx(cli2, sv2[0], b, 13, true) != -EPERM)
			rc |= 1;
		ssize_t n;
		while ((n = xio_zc_rx(srv, sv[1], &got, true)) == -EAGAIN)
			usleep(100);
		if (n != 13 || got != b)
			rc |= 2;
		else if (XIO_BUF_OWNER(word(idx_of(got))) != (uint32_t)getpid())
			rc |= 4;
		else if (xio_zc_tx(cli2, sv2[0], got, 13, true) != 13)
			rc |= 8;
		_exit(rc);
	}
	ck_assert_int_eq(xio_zc_tx(cli, sv[0], b, 13, true), 13);
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st));
	ck_assert_int_eq(WEXITSTATUS(st), 0);
	void *got;
	ck_assert_int_eq(xio_zc_rx(srv2, sv2[1], &got, true), 13);
	ck_assert_ptr_eq(got, b);
	ck_assert_mem_eq(got, "across a fork", 13);
	ck_assert_uint_eq(XIO_BUF_OWNER(word(idx_of(got))), me);
	ck_assert_int_eq(xio_zc_free(got), 0);
}
END_TEST

START_TEST(test_relay_killed_holding)
{
	/* A relay dies holding a received buffer: the manager's sweep gives it back. */
	char *b = take();
	uint32_t i = idx_of(b);
	ck_assert_int_eq(xio_zc_tx(cli, sv[0], b, 10, true), 10);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		void *got;
		_exit(xio_zc_rx(srv, sv[1], &got, true) == 10 ? 0 : 1);
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_int_eq(WEXITSTATUS(st), 0);
	ck_assert_uint_eq(XIO_BUF_STATE(word(i)), XIO_BUF_HELD);
	ck_assert_uint_eq(XIO_BUF_OWNER(word(i)), (uint32_t)pid);
	uint64_t seen[NBUFS] = {0};
	uint32_t victim = (uint32_t)pid, held;
	dead_pid = true;
	xio_pool_reclaim_dead(dom.pool.meta, NBUFS, seen, judge, &victim, &held);
	ck_assert_uint_eq(xio_pool_reclaim_dead(dom.pool.meta, NBUFS, seen, judge, &victim, &held),
			  1);
	ck_assert_uint_eq(XIO_BUF_STATE(word(i)), XIO_BUF_FREE);
	dead_pid = false;
}
END_TEST

static Suite *zc_suite(void)
{
	Suite *s = suite_create("zc");
	TCase *pool = tcase_create("pool");
	TCase *io = tcase_create("txrx");
	TCase *inplace = tcase_create("inplace");

	tcase_add_checked_fixture(pool, dom_setup, dom_teardown);
	tcase_add_test(pool, test_pool_geometry_checked);
	tcase_add_test(pool, test_alloc_all_then_enomem);
	tcase_add_test(pool, test_free_misuse);
	tcase_add_test(pool, test_foreign_buffer);
	tcase_add_test(pool, test_killed_owner_reclaimed);
	tcase_add_test(pool, test_reclaim_waits_one_sweep);
	tcase_add_test(pool, test_inflight_freed_with_slot);
	tcase_add_test(pool, test_sender_killed_mid_tx);
	suite_add_tcase(s, pool);

	tcase_add_checked_fixture(io, dom_setup, dom_teardown);
	tcase_add_test(io, test_tx_rx_round_trip);
	tcase_add_test(io, test_tx_sub_range_and_bounds);
	tcase_add_test(io, test_read_of_descriptor_copies_and_frees);
	tcase_add_test(io, test_rx_rest_after_partial_read);
	tcase_add_test(io, test_read_many_descriptors);
	tcase_add_test(io, test_mixed_stream);
	tcase_add_test(io, test_rx_of_bytes_copies_into_buffer);
	tcase_add_test(io, test_rx_of_bytes_when_pool_exhausted);
	tcase_add_test(io, test_tx_full_ring_keeps_buffer);
	tcase_add_test(io, test_forged_descriptor_resets);
	tcase_add_test(io, test_desc_out_of_pool_resets);
	tcase_add_test(io, test_demoted_inq_forged_descriptor);
	tcase_add_test(io, test_demoted_inq_indices_apart);
	tcase_add_test(io, test_eof);
	tcase_add_test(io, test_tx_to_dead_peer);
	suite_add_tcase(s, io);

	tcase_add_checked_fixture(inplace, dom_setup, dom_teardown);
	tcase_add_test(inplace, test_reserve_commit);
	tcase_add_test(inplace, test_reserve_wraps_short);
	tcase_add_test(inplace, test_peek_consume);
	tcase_add_test(inplace, test_peek_descriptor_in_place);
	suite_add_tcase(s, inplace);

	TCase *fwd = tcase_create("forward");
	tcase_add_checked_fixture(fwd, fwd_setup, fwd_teardown);
	tcase_add_test(fwd, test_forward_chain);
	tcase_add_test(fwd, test_forward_sub_range);
	tcase_add_test(fwd, test_forward_after_free_and_reuse);
	tcase_add_test(fwd, test_replayed_hop_refused);
	tcase_add_test(fwd, test_fanout_refused);
	tcase_add_test(fwd, test_forward_after_fork);
	tcase_add_test(fwd, test_relay_killed_holding);
	suite_add_tcase(s, fwd);
	return s;
}

int main(void)
{
	xio_sys_use_libc();
	return xt_run(zc_suite());
}
