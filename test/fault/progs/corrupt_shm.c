/* SPDX-License-Identifier: MIT */
/*
 * A misbehaving domain member writes garbage into shared memory: ring
 * indices, record headers, the partial-read offset, ring headers, slot
 * header fields, the wake-up words and the direction locks. The other end's
 * xio_conn_recv/xio_conn_send must return an error (ECONNRESET, EPROTO, or
 * EAGAIN/a timeout for a call that had to wait) or in-bounds bytes, and must
 * never crash, read or write outside the domain, or hang.
 *
 * The stack is linked statically; the domain is built in this process's
 * memory as the manager lays it out (like test/unit/fake_domain.h) but with
 * PROT_NONE guard pages right before and after it, so an access outside the
 * domain is a SIGSEGV even without AddressSanitizer. Each case runs in its
 * own Check child with a timeout: a crash or a hang fails that case only.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "fake_domain.h"
#include "ring.h"
#include "slot.h"
#include "sys.h"

#define GEN	 0x5eed5eed5eed5eedull
#define NSLOTS	 2
#define RINGCNT	 1024 /* elements: 4 KiB rings */
#define CASE_TMO 8    /* seconds before Check calls it a hang */

static struct xio_domain_hdr *h;
static void *map;
static size_t map_len;
static struct xio_domain dom;
static struct xio_slot *s;
static struct xio_conn *cli, *srv; /* client end writes C2S, server end reads it */
static int cfd, sfd;		   /* AF_UNIX pair: doorbells and liveness */

/* A domain whose first and last byte touch PROT_NONE pages. */
static void setup(void)
{
	size_t ring_mem = xt_ring_memsize(RINGCNT, 0);
	size_t slot_size = xt_align64(sizeof(struct xio_slot)) + 2 * ring_mem;
	size_t slots_off = xt_align64(sizeof(struct xio_domain_hdr));
	size_t total = slots_off + NSLOTS * slot_size;
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	size_t body = (total + pg - 1) / pg * pg;

	map_len = body + 2 * pg;
	map = mmap(NULL, map_len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(map, MAP_FAILED);
	ck_assert_int_eq(mprotect((char *)map + pg, body, PROT_READ | PROT_WRITE), 0);
	h = (struct xio_domain_hdr *)((char *)map + pg + (body - total));
	memset(h, 0, total);
	h->magic = XIO_MAGIC;
	h->layout_version = XIO_LAYOUT_VERSION;
	h->generation = GEN;
	h->total_len = total;
	h->slots_off = slots_off;
	h->nslots = NSLOTS;
	h->slot_size = (uint32_t)slot_size;
	h->ring_bytes = RINGCNT * 4;
	for (uint32_t i = 0; i < NSLOTS; i++) {
		struct xio_slot *x = xio_slot_at(h, i);
		x->index = i;
		x->ring_off[0] = (uint32_t)xt_align64(sizeof(struct xio_slot));
		x->ring_off[1] = (uint32_t)(x->ring_off[0] + ring_mem);
		x->ring_bytes = RINGCNT * 4;
		for (int d = 0; d < 2; d++) {
			pthread_mutexattr_t a;
			pthread_mutexattr_init(&a);
			pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
			pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
			pthread_mutex_init(&x->dir[d].wlock, &a);
			pthread_mutex_init(&x->dir[d].rlock, &a);
			xt_ring_init((struct rte_ring *)((char *)x + x->ring_off[d]), RINGCNT, 0);
		}
		atomic_store(&x->state, XIO_SLOT_WORD(0x100 + i, XIO_SLOT_FREE));
	}
	dom = (struct xio_domain){.hdr = h, .map = h, .map_len = total, .generation = GEN};
#ifdef FAULT_DOMAIN_HAS_COPIES
	/* what attach copies out of the header (stack/domain.c) */
	dom.nslots = h->nslots;
	dom.slot_size = h->slot_size;
	dom.ring_bytes = h->ring_bytes;
	dom.slots_off = h->slots_off;
#endif
	s = xio_slot_at(h, 0);
	atomic_store(&s->state, XIO_SLOT_WORD(0x100, XIO_SLOT_ESTABLISHED));

	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	cfd = sv[0];
	sfd = sv[1];
	cli = xio_conn_new(&dom, s, false);
	srv = xio_conn_new(&dom, s, true);
	ck_assert_ptr_nonnull(cli);
	ck_assert_ptr_nonnull(srv);
	cli->token = srv->token = 0x100;
	/* blocking calls give up after 1 s (SO_RCVTIMEO/SO_SNDTIMEO) */
	cli->rcvtimeo = cli->sndtimeo = (struct timeval){.tv_sec = 1};
	srv->rcvtimeo = srv->sndtimeo = (struct timeval){.tv_sec = 1};
}

static void teardown(void)
{
	/* children exit right after: nothing to free that matters */
}

static struct rte_ring *c2s(void)
{
	return xio_slot_ring(s, XIO_DIR_C2S);
}

static uint32_t *ring_elems(struct rte_ring *r)
{
	return (uint32_t *)(r + 1); /* rte_ring's storage follows its header */
}

static ssize_t csend(const void *buf, size_t n, bool nonblock)
{
	struct iovec iov = {(void *)buf, n};
	return xio_conn_send(cli, cfd, &iov, 1, MSG_NOSIGNAL, nonblock);
}

static ssize_t srecv(void *buf, size_t n, int flags, bool nonblock)
{
	struct iovec iov = {buf, n};
	return xio_conn_recv(srv, sfd, &iov, 1, flags, nonblock);
}

/* Send @n pattern bytes as one record from the client. */
static void put_record(size_t n, uint8_t seed)
{
	uint8_t b[4096];
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(seed + i);
	ck_assert_int_eq(csend(b, n, true), (ssize_t)n);
}

/*
 * Read until error, EOF or EAGAIN, at most @max calls, non-blocking. The
 * bytes returned must fit the buffer. Returns the last result.
 */
static ssize_t drain_reads(int max, size_t *total)
{
	uint8_t buf[8192];
	ssize_t r = 0;
	*total = 0;
	for (int i = 0; i < max; i++) {
		r = srecv(buf, sizeof(buf), 0, true);
		if (r <= 0)
			return r;
		ck_assert_int_le(r, (ssize_t)sizeof(buf));
		*total += (size_t)r;
	}
	ck_abort_msg("recv returned data %d times in a row from a %u-byte ring", max, RINGCNT * 4);
	return r;
}

#define ck_assert_reset(r)                                                                         \
	ck_assert_msg((r) == -ECONNRESET || (r) == -EPROTO, "expected ECONNRESET/EPROTO, got %zd", \
		      (ssize_t)(r))

/* Run a blocking call in a thread; give it @ms milliseconds. */
struct blocking {
	bool send;
	size_t n;
	ssize_t r;
	_Atomic bool done;
};

static void *blocking_main(void *arg)
{
	struct blocking *b = arg;
	uint8_t buf[4096] = {0};
	b->r = b->send ? csend(buf, b->n, false) : srecv(buf, b->n, 0, false);
	atomic_store(&b->done, true);
	return NULL;
}

/* Returns true when the call returned within @ms (result in b->r). */
static bool run_blocking(struct blocking *b, int ms)
{
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, blocking_main, b), 0);
	for (int i = 0; i < ms && !atomic_load(&b->done); i++)
		usleep(1000);
	if (!atomic_load(&b->done))
		return false;
	pthread_join(t, NULL);
	return true;
}

/* ---- record headers ---------------------------------------------------------- */

static void corrupt_head_len(uint32_t v)
{
	put_record(100, 1);
	put_record(50, 2);
	ring_elems(c2s())[c2s()->cons.tail & c2s()->mask] = v;
	uint8_t buf[512];
	ck_assert_reset(srecv(buf, sizeof(buf), 0, true));
	/* and it stays reset: no garbage on the next call */
	ssize_t r = srecv(buf, sizeof(buf), 0, true);
	ck_assert_msg(r < 0 && r != -EAGAIN, "second recv after corruption returned %zd", r);
	ck_assert_reset(srecv(buf, sizeof(buf), MSG_PEEK, true));
}

START_TEST(rec_len_zero)
{
	corrupt_head_len(0);
}
END_TEST

START_TEST(rec_len_huge)
{
	corrupt_head_len(0xffffffffu);
}
END_TEST

START_TEST(rec_len_past_tail)
{
	corrupt_head_len(4 * 2000);
}
END_TEST

START_TEST(rec_len_short)
{
	/* a shorter length makes payload bytes the next header: parse them, stay in bounds */
	put_record(400, 0xf0);
	put_record(400, 0x10);
	ring_elems(c2s())[c2s()->cons.tail & c2s()->mask] = 3;
	size_t total;
	ssize_t r = drain_reads(100, &total);
	ck_assert_msg(r <= 0, "%zd", r);
}
END_TEST

START_TEST(rd_off_huge)
{
	put_record(100, 1);
	s->dir[XIO_DIR_C2S].rd_off = 0xfffffff0u;
	uint8_t buf[256];
	ck_assert_reset(srecv(buf, sizeof(buf), 0, true));
	ck_assert_int_ge(xio_conn_inq(srv), 0);
}
END_TEST

START_TEST(rd_off_peek)
{
	put_record(100, 1);
	s->dir[XIO_DIR_C2S].rd_off = 100;
	uint8_t buf[256];
	ck_assert_reset(srecv(buf, sizeof(buf), MSG_PEEK, true));
}
END_TEST

START_TEST(ring_data_garbage)
{
	/* every element of the ring is random, indices say the ring is full */
	struct rte_ring *r = c2s();
	uint64_t x = 0x9e3779b97f4a7c15ull;
	for (uint32_t i = 0; i < r->size; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		ring_elems(r)[i] = (uint32_t)x % 64 ? (uint32_t)x : (uint32_t)x % 97;
	}
	r->prod.head = r->prod.tail = r->cons.tail + r->capacity;
	size_t total;
	drain_reads(1000, &total);
	ck_assert_int_le(total, RINGCNT * 4);
}
END_TEST

/* ---- ring indices ---------------------------------------------------------------- */

START_TEST(prod_tail_far)
{
	put_record(100, 1);
	c2s()->prod.tail += 0x80000000u;
	c2s()->prod.head = c2s()->prod.tail;
	size_t total;
	drain_reads(1000, &total);
}
END_TEST

START_TEST(cons_tail_ahead)
{
	put_record(100, 1);
	c2s()->cons.tail = c2s()->prod.tail + 7;
	c2s()->cons.head = c2s()->cons.tail;
	size_t total;
	drain_reads(1000, &total);
}
END_TEST

START_TEST(cons_head_stale_nonblock)
{
	put_record(100, 1);
	c2s()->cons.head = c2s()->prod.tail; /* the consumer's head says: all taken */
	size_t total;
	ssize_t r = drain_reads(1000, &total);
	ck_assert_msg(r <= 0, "%zd", r);
}
END_TEST

START_TEST(cons_head_stale_blocking)
{
	put_record(100, 1);
	c2s()->cons.head = c2s()->prod.tail;
	struct blocking b = {.n = 256};
	ck_assert_msg(run_blocking(&b, 3000),
		      "blocking recv (SO_RCVTIMEO 1 s) still runs after 3 s");
	ck_assert_msg(b.r == 100 || b.r < 0, "%zd", b.r);
}
END_TEST

START_TEST(prod_head_ahead_send_nonblock)
{
	/* our own producer head moved by someone else: the ring looks full to enqueue */
	struct rte_ring *r = c2s();
	r->prod.head = r->prod.tail + r->capacity;
	uint8_t buf[64] = {0};
	for (int i = 0; i < 3; i++) {
		ssize_t n = csend(buf, sizeof(buf), true);
		ck_assert_msg(n == 64 || n == -EAGAIN || n == -ECONNRESET || n == -EPROTO ||
				  n == -EPIPE,
			      "%zd", n);
	}
	/* a poll() loop would spin forever if it said POLLOUT and send said EAGAIN */
	ssize_t n = csend(buf, sizeof(buf), true);
	unsigned ev = xio_conn_ready(cli);
	ck_assert_msg(!(n == -EAGAIN && (ev & POLLOUT)),
		      "send says EAGAIN while readiness says POLLOUT (busy loop for epoll users)");
}
END_TEST

START_TEST(prod_head_ahead_send_blocking)
{
	struct rte_ring *r = c2s();
	r->prod.head = r->prod.tail + r->capacity;
	struct blocking b = {.send = true, .n = 64};
	ck_assert_msg(run_blocking(&b, 3000),
		      "blocking send (SO_SNDTIMEO 1 s) still runs after 3 s (busy loop: the ring "
		      "looks writable to readiness, full to enqueue)");
	ck_assert_msg(b.r == 64 || b.r < 0, "%zd", b.r);
}
END_TEST

START_TEST(tx_cons_tail_garbage)
{
	struct rte_ring *r = c2s();
	r->cons.tail = r->prod.tail - 3 * r->size;
	uint8_t buf[512] = {0};
	for (int i = 0; i < 20; i++) {
		ssize_t n = csend(buf, sizeof(buf), true);
		ck_assert_msg(n > 0 || n == -EAGAIN || n == -ECONNRESET || n == -EPROTO ||
				  n == -EPIPE,
			      "%zd", n);
	}
}
END_TEST

/* ---- ring header (mask, size, capacity live in shared memory too) ------------------ */

START_TEST(ring_mask_garbage_recv)
{
	/* a ring that has carried 4 GiB: indices far from 0, as in a long-lived connection */
	c2s()->prod.head = c2s()->prod.tail = c2s()->cons.head = c2s()->cons.tail = 0x40000000u;
	put_record(100, 1);
	c2s()->mask = 0xffffffffu;
	c2s()->size = 0x80000000u;
	c2s()->capacity = 0x7fffffffu;
	c2s()->prod.tail += 0x100000;
	c2s()->prod.head = c2s()->prod.tail;
	size_t total;
	drain_reads(1000, &total);
}
END_TEST

START_TEST(ring_mask_garbage_send)
{
	c2s()->mask = 0xffffffffu;
	c2s()->size = 0x80000000u;
	c2s()->capacity = 0x7fffffffu;
	c2s()->prod.head = c2s()->prod.tail = 0x40000000u;
	c2s()->cons.head = c2s()->cons.tail = 0x40000000u;
	uint8_t buf[4000] = {0};
	for (int i = 0; i < 4; i++) {
		ssize_t n = csend(buf, sizeof(buf), true);
		ck_assert_msg(n > 0 || n == -EAGAIN || n == -ECONNRESET || n == -EPROTO ||
				  n == -EPIPE,
			      "%zd", n);
	}
}
END_TEST

/* ---- slot header: fields read when a connection is set up (accept, adopt) -------- */

START_TEST(slot_ring_off_garbage)
{
	s->ring_off[XIO_DIR_C2S] = 0xfffff000u;
	s->ring_off[XIO_DIR_S2C] = 0x7ffff000u;
	struct xio_conn *c = xio_conn_new(&dom, s, true);
	if (!c)
		return; /* refused: fine */
	uint8_t buf[64];
	struct iovec iov = {buf, sizeof(buf)};
	ssize_t r = xio_conn_recv(c, sfd, &iov, 1, 0, true);
	ck_assert_msg(r < 0, "%zd", r);
	r = xio_conn_send(c, sfd, &iov, 1, MSG_NOSIGNAL, true);
	ck_assert_msg(r < 0, "%zd", r);
}
END_TEST

/* ---- wake-up words and locks ----------------------------------------------------- */

static void *late_writer(void *arg)
{
	(void)arg;
	usleep(200 * 1000);
	put_record(10, 9);
	return NULL;
}

START_TEST(bell_pending_stuck)
{
	/*
	 * Garbage 1 in data_bell_pending: the producer believes a doorbell is on
	 * its way and never rings. A reader blocked without a timeout must still
	 * see the record (here within 5 s).
	 */
	srv->rcvtimeo = (struct timeval){0};
	atomic_store(&s->dir[XIO_DIR_C2S].data_bell_pending, 1);
	pthread_t t;
	pthread_create(&t, NULL, late_writer, NULL);
	struct blocking b = {.n = 64};
	ck_assert_msg(run_blocking(&b, 5000),
		      "recv still blocked 5 s after a record was published (no doorbell: "
		      "data_bell_pending was garbage 1)");
	ck_assert_int_eq(b.r, 10);
	pthread_join(t, NULL);
}
END_TEST

static void *sleeper(void *arg)
{
	*(pid_t *)arg = gettid();
	for (;;)
		pause();
	return NULL;
}

START_TEST(lock_word_garbage)
{
	/*
	 * The consumer lock's word names a thread that lives but will never
	 * unlock (garbage that happens to be a valid tid). A receive with
	 * SO_RCVTIMEO=1s must not block forever.
	 */
	volatile pid_t tid = 0;
	pthread_t t;
	pthread_create(&t, NULL, sleeper, (void *)&tid);
	while (!tid)
		usleep(1000);
	put_record(10, 1);
	s->dir[XIO_DIR_C2S].rlock.__data.__lock = tid;
	s->dir[XIO_DIR_C2S].rlock.__data.__owner = tid;
	struct blocking b = {.n = 64};
	ck_assert_msg(run_blocking(&b, 3000),
		      "recv (SO_RCVTIMEO 1 s) blocked > 3 s on a garbage lock word");
	ck_assert_msg(b.r == 10 || b.r < 0, "%zd", b.r);
}
END_TEST

START_TEST(lock_kind_garbage)
{
	put_record(10, 1);
	s->dir[XIO_DIR_C2S].rlock.__data.__kind = 0x7fffffff;
	s->dir[XIO_DIR_C2S].wlock.__data.__kind = 0x7fffffff;
	uint8_t buf[64];
	ssize_t r = srecv(buf, sizeof(buf), 0, true);
	ck_assert_msg(r == 10 || r < 0, "%zd", r);
	r = csend(buf, 10, true);
	ck_assert_msg(r == 10 || r < 0, "%zd", r);
}
END_TEST

static Suite *suite(void)
{
	Suite *su = suite_create("corrupt_shm");
	struct {
		const char *name;
		const TTest *tests[8];
	} groups[] = {
	    {"record",
	     {rec_len_zero, rec_len_huge, rec_len_past_tail, rec_len_short, rd_off_huge,
	      rd_off_peek, ring_data_garbage}},
	    {"indices",
	     {prod_tail_far, cons_tail_ahead, cons_head_stale_nonblock, cons_head_stale_blocking,
	      prod_head_ahead_send_nonblock, prod_head_ahead_send_blocking, tx_cons_tail_garbage}},
	    {"ring_header", {ring_mask_garbage_recv, ring_mask_garbage_send}},
	    {"slot_header", {slot_ring_off_garbage}},
	    {"wakeup_lock", {bell_pending_stuck, lock_word_garbage, lock_kind_garbage}},
	};
	for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
		TCase *tc = tcase_create(groups[g].name);
		tcase_add_checked_fixture(tc, setup, teardown);
		tcase_set_timeout(tc, CASE_TMO);
		for (int i = 0; i < 8 && groups[g].tests[i]; i++)
			_tcase_add_test(tc, groups[g].tests[i], 0, 0, 0, 1);
		suite_add_tcase(su, tc);
	}
	return su;
}

int main(void)
{
	xio_sys_use_libc();
	signal(SIGPIPE, SIG_IGN);
	SRunner *sr = srunner_create(suite());
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_VERBOSE);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
