/* SPDX-License-Identifier: MIT */
/*
 * Proves that slots (stack/slot.h) are allocated once each, also under
 * 4 racing threads, and freed by abort with a new token; that the handshake
 * state machine allows exactly FREE->ALLOCATED->OFFERED->ESTABLISHED and
 * ALLOCATED->FREE, each only with the slot's current token, so a stale or
 * foreign token (also after a reclaim and reuse of the slot) changes
 * nothing; that exactly one of several servers claims an offer; that the
 * two rings of a slot are distinct and in the slot; and that a server
 * validating offers with xio_msg_check + xio_offer_check refuses every
 * truncated or malformed offer without touching the slot, and completes a
 * good one end to end over an AF_UNIX stream.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fake_domain.h"
#include "helpers.h"
#include "proto.h"
#include "slot.h"
#include "sys.h"

#define GEN	0x0123456789abcdefull
#define NSLOTS	8
#define RINGCNT 64

static struct xio_domain_hdr *dom;

static void dom_setup(void)
{
	dom = xt_domain_new(NSLOTS, RINGCNT, GEN);
}

static void dom_teardown(void)
{
	free(dom);
	dom = NULL;
}

static uint64_t word(struct xio_slot *s)
{
	return atomic_load(&s->state);
}

/* Functions, not atomic_load() in assertions: failure messages stay readable. */
static uint64_t client_ino_of(struct xio_slot *s)
{
	return atomic_load(&s->client_ino);
}

static uint64_t server_ino_of(struct xio_slot *s)
{
	return atomic_load(&s->server_ino);
}

static uint32_t hint(void)
{
	return atomic_load(&dom->alloc_hint);
}

static uint64_t in_use(void)
{
	return atomic_load(&dom->stats.slots_in_use);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- allocation ------------------------------------------------------------ */

START_TEST(test_alloc_one)
{
	uint32_t tok = 0;
	uint64_t t0 = mono_ns();
	struct xio_slot *s = xio_slot_alloc(dom, 4242, &tok);
	uint64_t t1 = mono_ns();

	ck_assert_ptr_nonnull(s);
	ck_assert_ptr_eq(s, xio_slot_at(dom, s->index));
	/* The token is the one the free slot carried; the state word holds it. */
	ck_assert_uint_eq(tok, XT_FIRST_TOKEN(s->index));
	ck_assert_uint_eq(word(s), XIO_SLOT_WORD(tok, XIO_SLOT_ALLOCATED));
	ck_assert_uint_eq(client_ino_of(s), 4242);
	ck_assert_uint_eq(server_ino_of(s), 0);
	ck_assert(s->alloc_ns >= t0 && s->alloc_ns <= t1);
	ck_assert_uint_eq(in_use(), 1);
	/* The next search starts after this slot. */
	ck_assert_uint_eq(hint(), (s->index + 1) % NSLOTS);
}
END_TEST

START_TEST(test_alloc_all)
{
	bool seen[NSLOTS] = {false};
	uint32_t tok;

	for (int i = 0; i < NSLOTS; i++) {
		struct xio_slot *s = xio_slot_alloc(dom, 100 + (uint64_t)i, &tok);
		ck_assert_ptr_nonnull(s);
		ck_assert_uint_lt(s->index, NSLOTS);
		ck_assert_msg(!seen[s->index], "slot %u handed out twice", s->index);
		seen[s->index] = true;
	}
	ck_assert_uint_eq(in_use(), NSLOTS);
	tok = 0x5555;
	/* Full domain: NULL, and no slot changed hands. */
	ck_assert_ptr_null(xio_slot_alloc(dom, 999, &tok));
	ck_assert_uint_eq(in_use(), NSLOTS);
	for (uint32_t i = 0; i < NSLOTS; i++)
		ck_assert_uint_ne(client_ino_of(xio_slot_at(dom, i)), 999);
}
END_TEST

START_TEST(test_alloc_skips_busy)
{
	uint32_t tok;

	/* Slots in any non-free state are not taken, wherever the search starts. */
	atomic_store(&xio_slot_at(dom, 0)->state, XIO_SLOT_WORD(1, XIO_SLOT_ALLOCATED));
	atomic_store(&xio_slot_at(dom, 1)->state, XIO_SLOT_WORD(2, XIO_SLOT_OFFERED));
	atomic_store(&xio_slot_at(dom, 2)->state, XIO_SLOT_WORD(3, XIO_SLOT_ESTABLISHED));
	atomic_store(&dom->alloc_hint, 0);
	struct xio_slot *s = xio_slot_alloc(dom, 1, &tok);
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(s->index, 3);

	/* The search wraps from the hint round to the start. */
	atomic_store(&dom->alloc_hint, NSLOTS - 1);
	s = xio_slot_alloc(dom, 2, &tok);
	ck_assert_uint_eq(s->index, NSLOTS - 1);
	ck_assert_uint_eq(hint(), 0);
	s = xio_slot_alloc(dom, 3, &tok);
	ck_assert_uint_eq(s->index, 4);
}
END_TEST

START_TEST(test_alloc_empty_domain)
{
	struct xio_domain_hdr *h = xt_domain_new(0, RINGCNT, GEN);
	uint32_t tok;

	ck_assert_ptr_null(xio_slot_alloc(h, 1, &tok));
	free(h);
}
END_TEST

START_TEST(test_abort_and_reuse)
{
	uint32_t tok, tok2;
	struct xio_slot *s = xio_slot_alloc(dom, 77, &tok);

	ck_assert_ptr_nonnull(s);
	xio_slot_abort(dom, s, tok);
	/* Free again, with a token nobody has seen. */
	ck_assert_uint_eq(XIO_SLOT_STATE(word(s)), XIO_SLOT_FREE);
	ck_assert_uint_ne(XIO_SLOT_TOKEN(word(s)), tok);
	ck_assert_uint_eq(in_use(), 0);

	/* Reallocated: the old token is worthless. */
	atomic_store(&dom->alloc_hint, s->index);
	ck_assert_ptr_eq(xio_slot_alloc(dom, 78, &tok2), s);
	ck_assert_uint_ne(tok2, tok);
	ck_assert_int_eq(xio_slot_offer(s, tok), -ESTALE);
	xio_slot_abort(dom, s, tok);
	ck_assert_uint_eq(word(s), XIO_SLOT_WORD(tok2, XIO_SLOT_ALLOCATED));
	ck_assert_uint_eq(in_use(), 1);
	ck_assert_int_eq(xio_slot_offer(s, tok2), 0);
}
END_TEST

START_TEST(test_stale_abort_keeps_owner)
{
	/*
	 * An abort that loses its CAS (stale token, or the slot moved on) must
	 * leave the slot exactly as it was: the current owner's client inode is
	 * what the manager's sweep uses to decide whether the slot is alive.
	 */
	uint32_t old, cur;
	struct xio_slot *s = xio_slot_alloc(dom, 77, &old);

	xio_slot_abort(dom, s, old);
	atomic_store(&dom->alloc_hint, s->index);
	ck_assert_ptr_eq(xio_slot_alloc(dom, 78, &cur), s);
	xio_slot_abort(dom, s, old);
	ck_assert_uint_eq(word(s), XIO_SLOT_WORD(cur, XIO_SLOT_ALLOCATED));
	ck_assert_uint_eq(client_ino_of(s), 78);

	ck_assert_int_eq(xio_slot_offer(s, cur), 0);
	xio_slot_abort(dom, s, cur); /* too late: offered */
	ck_assert_uint_eq(word(s), XIO_SLOT_WORD(cur, XIO_SLOT_OFFERED));
	ck_assert_uint_eq(client_ino_of(s), 78);
}
END_TEST

/* ---- the state machine, exhaustively ---------------------------------------- */

enum op { OP_OFFER, OP_CLAIM, OP_ABORT, NOPS };

START_TEST(test_transitions)
{
	static const char *names[] = {"offer", "claim", "abort"};
	/* For each state, which op (with the right token) moves it, and where to. */
	static const struct {
		uint32_t from;
		int op;
		uint32_t to;
	} allowed[] = {
	    {XIO_SLOT_ALLOCATED, OP_OFFER, XIO_SLOT_OFFERED},
	    {XIO_SLOT_OFFERED, OP_CLAIM, XIO_SLOT_ESTABLISHED},
	    {XIO_SLOT_ALLOCATED, OP_ABORT, XIO_SLOT_FREE},
	};
	const uint32_t tok = 0xabcd0001;
	struct xio_slot *s = xio_slot_at(dom, 5);

	for (uint32_t st = XIO_SLOT_FREE; st <= XIO_SLOT_ESTABLISHED; st++)
		for (int op = 0; op < NOPS; op++)
			for (int right = 0; right < 2; right++) {
				uint32_t use = right ? tok : tok ^ 0x10000;
				int ok = -1;
				uint32_t to = st;

				for (size_t k = 0; k < sizeof(allowed) / sizeof(allowed[0]); k++)
					if (right && allowed[k].from == st && allowed[k].op == op) {
						ok = 0;
						to = allowed[k].to;
					}
				atomic_store(&s->state, XIO_SLOT_WORD(tok, st));
				atomic_store(&s->server_ino, 0);
				atomic_store(&dom->stats.slots_in_use, 10);

				int rc = 0;
				if (op == OP_OFFER)
					rc = xio_slot_offer(s, use);
				else if (op == OP_CLAIM)
					rc = xio_slot_claim(s, use, 555, 66);
				else
					xio_slot_abort(dom, s, use);

				uint64_t w = word(s);
				const char *what = names[op];
				if (op != OP_ABORT)
					ck_assert_msg(rc == (ok == 0 ? 0 : -ESTALE),
						      "%s in state %u, %s token: %d", what, st,
						      right ? "right" : "wrong", rc);
				ck_assert_msg(XIO_SLOT_STATE(w) == to,
					      "%s in state %u, %s token: state %u, want %u", what,
					      st, right ? "right" : "wrong", XIO_SLOT_STATE(w), to);
				if (ok == 0 && op == OP_ABORT) {
					ck_assert_uint_ne(XIO_SLOT_TOKEN(w), tok);
					ck_assert_uint_eq(in_use(), 9);
				} else {
					ck_assert_uint_eq(XIO_SLOT_TOKEN(w), tok);
					ck_assert_uint_eq(in_use(), 10);
				}
				/* Only a successful claim records the server. */
				ck_assert_uint_eq(server_ino_of(s),
						  ok == 0 && op == OP_CLAIM ? 555 : 0);
				if (ok == 0 && op == OP_CLAIM)
					ck_assert_int_eq(s->server_pid, 66);
			}
}
END_TEST

START_TEST(test_stale_claim_after_reclaim)
{
	/*
	 * A server accepts an offer late: meanwhile the manager reclaimed the
	 * slot and another client reached OFFERED on it. The old token must
	 * not claim the new connection.
	 */
	uint32_t old, cur;
	struct xio_slot *s = xio_slot_alloc(dom, 1, &old);

	ck_assert_int_eq(xio_slot_offer(s, old), 0);
	/* Manager's reclaim: FREE with a new token. */
	atomic_store(&s->state, XIO_SLOT_WORD(old + 1, XIO_SLOT_FREE));
	atomic_store(&dom->alloc_hint, s->index);
	ck_assert_ptr_eq(xio_slot_alloc(dom, 2, &cur), s);
	ck_assert_int_eq(xio_slot_offer(s, cur), 0);

	ck_assert_int_eq(xio_slot_claim(s, old, 9, 9), -ESTALE);
	ck_assert_uint_eq(word(s), XIO_SLOT_WORD(cur, XIO_SLOT_OFFERED));
	ck_assert_int_eq(xio_slot_claim(s, cur, 10, 10), 0);
	ck_assert_uint_eq(server_ino_of(s), 10);
}
END_TEST

/* ---- threads ----------------------------------------------------------------- */

enum { NTHREADS = 4, BIG = 256 };

struct worker {
	struct xio_domain_hdr *h;
	struct xio_slot *s;
	pthread_barrier_t *go;
	uint32_t id, token;
	uint32_t got[BIG];
	int ngot, rc;
};

static void *alloc_until_full(void *arg)
{
	struct worker *w = arg;
	uint32_t tok;
	struct xio_slot *s;

	pthread_barrier_wait(w->go);
	while ((s = xio_slot_alloc(w->h, w->id, &tok)) != NULL)
		w->got[w->ngot++] = s->index;
	return NULL;
}

START_TEST(test_alloc_race)
{
	struct xio_domain_hdr *h = xt_domain_new(BIG, 16, GEN);
	pthread_barrier_t go;
	pthread_t th[NTHREADS];
	static struct worker w[NTHREADS];
	int owner[BIG], total = 0;

	for (int i = 0; i < BIG; i++)
		owner[i] = -1;
	ck_assert_int_eq(pthread_barrier_init(&go, NULL, NTHREADS), 0);
	for (uint32_t i = 0; i < NTHREADS; i++) {
		w[i] = (struct worker){.h = h, .go = &go, .id = 1000 + i};
		ck_assert_int_eq(pthread_create(&th[i], NULL, alloc_until_full, &w[i]), 0);
	}
	for (int i = 0; i < NTHREADS; i++)
		ck_assert_int_eq(pthread_join(th[i], NULL), 0);
	pthread_barrier_destroy(&go);

	/* Every slot went to exactly one thread, and that thread's inode is in it. */
	for (int i = 0; i < NTHREADS; i++)
		for (int k = 0; k < w[i].ngot; k++) {
			uint32_t idx = w[i].got[k];
			ck_assert_msg(owner[idx] < 0, "slot %u to threads %d and %d", idx,
				      owner[idx], i);
			owner[idx] = i;
			ck_assert_uint_eq(client_ino_of(xio_slot_at(h, idx)), w[i].id);
			total++;
		}
	ck_assert_int_eq(total, BIG);
	uint64_t used = atomic_load(&h->stats.slots_in_use);
	ck_assert_uint_eq(used, BIG);
	free(h);
}
END_TEST

static void *claim(void *arg)
{
	struct worker *w = arg;

	pthread_barrier_wait(w->go);
	w->rc = xio_slot_claim(w->s, w->token, w->id, (int32_t)w->id);
	return NULL;
}

START_TEST(test_claim_race)
{
	/* Several accept()s on one rendezvous see the same offer: one wins. */
	pthread_barrier_t go;
	pthread_t th[NTHREADS];
	static struct worker w[NTHREADS];

	for (int round = 0; round < 200; round++) {
		uint32_t tok;
		struct xio_slot *s = xio_slot_alloc(dom, 1, &tok);
		int winners = 0, winner = -1;

		ck_assert_ptr_nonnull(s);
		ck_assert_int_eq(xio_slot_offer(s, tok), 0);
		ck_assert_int_eq(pthread_barrier_init(&go, NULL, NTHREADS), 0);
		for (uint32_t i = 0; i < NTHREADS; i++) {
			w[i] = (struct worker){.s = s, .go = &go, .id = 7000 + i, .token = tok};
			ck_assert_int_eq(pthread_create(&th[i], NULL, claim, &w[i]), 0);
		}
		for (int i = 0; i < NTHREADS; i++) {
			ck_assert_int_eq(pthread_join(th[i], NULL), 0);
			if (w[i].rc == 0) {
				winners++;
				winner = i;
			} else {
				ck_assert_int_eq(w[i].rc, -ESTALE);
			}
		}
		pthread_barrier_destroy(&go);
		ck_assert_int_eq(winners, 1);
		ck_assert_uint_eq(word(s), XIO_SLOT_WORD(tok, XIO_SLOT_ESTABLISHED));
		ck_assert_uint_eq(server_ino_of(s), w[winner].id);
		ck_assert_int_eq(s->server_pid, (int32_t)w[winner].id);
		/* Give the slot back for the next round, as the manager's sweep would. */
		atomic_store(&s->state, XIO_SLOT_WORD(tok + 1, XIO_SLOT_FREE));
		atomic_store(&s->server_ino, 0);
	}
}
END_TEST

/* ---- rings of a slot ---------------------------------------------------------- */

START_TEST(test_slot_rings)
{
	struct xio_slot *s = xio_slot_at(dom, 3);
	struct rte_ring *c2s = xio_slot_ring(s, XIO_DIR_C2S), *s2c = xio_slot_ring(s, XIO_DIR_S2C);
	char *lo = (char *)s, *hi = lo + dom->slot_size;
	uint32_t v = 0xfeedf00d, out = 0;

	ck_assert_ptr_ne(c2s, s2c);
	ck_assert((char *)c2s > lo && (char *)c2s < hi);
	ck_assert((char *)s2c > lo && (char *)s2c < hi);
	/* Each ring lies wholly after the slot header and before the next slot. */
	ck_assert((char *)c2s >= lo + sizeof(*s));
	ck_assert((char *)c2s + xt_ring_memsize(RINGCNT, 0) <= (char *)s2c);
	ck_assert((char *)s2c + xt_ring_memsize(RINGCNT, 0) <= hi);

	/* A value put into one direction comes out of it and not of the other. */
	ck_assert_int_eq(rte_ring_enqueue_elem(c2s, &v, 4), 0);
	ck_assert_int_eq(rte_ring_count(s2c), 0);
	ck_assert_int_eq(rte_ring_dequeue_elem(s2c, &out, 4), -ENOENT);
	ck_assert_int_eq(rte_ring_dequeue_elem(c2s, &out, 4), 0);
	ck_assert_uint_eq(out, v);
}
END_TEST

/* ---- offers on the wire ------------------------------------------------------- */

/* What a server does with an offer it read: validate, then claim. */
static int server_take_offer(struct xio_domain_hdr *h, const void *buf, size_t n,
			     uint64_t server_ino, struct xio_hs_offer *out)
{
	struct xio_hs_offer o;
	int rc = xio_msg_check(buf, n, XIO_HS_OFFER, sizeof(o));

	if (rc)
		return rc;
	memcpy(&o, buf, sizeof(o));
	rc = xio_offer_check(&o, h->generation, h->nslots);
	if (rc)
		return rc;
	rc = xio_slot_claim(xio_slot_at(h, o.slot), o.token, server_ino, getpid());
	if (rc == 0 && out)
		*out = o;
	return rc;
}

/* A client up to the point of sending: slot allocated and offered. */
static struct xio_hs_offer client_offer(struct xio_slot **sp)
{
	struct xio_hs_offer o;
	uint32_t tok;
	struct xio_slot *s = xio_slot_alloc(dom, 31337, &tok);

	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(xio_slot_offer(s, tok), 0);
	memset(&o, 0, sizeof(o));
	xio_msg_init(&o.hdr, XIO_HS_OFFER, sizeof(o));
	o.generation = dom->generation;
	o.slot = s->index;
	o.token = tok;
	o.layout_version = XIO_LAYOUT_VERSION;
	o.pid = getpid();
	o.client = xt_ep("127.0.0.1", 40001);
	o.server = xt_ep("127.0.0.1", 5201);
	*sp = s;
	return o;
}

START_TEST(test_bad_offers)
{
	struct xio_slot *s;
	struct xio_hs_offer good = client_offer(&s), o;
	const uint64_t before = word(s);
	int rc;

	/* Every truncation. */
	for (size_t n = 0; n < sizeof(good); n++) {
		rc = server_take_offer(dom, &good, n, 1, NULL);
		ck_assert_msg(rc == (n < sizeof(good.hdr) ? -ENODATA : -EMSGSIZE), "len %zu: %d", n,
			      rc);
	}
	/* Header damage. */
	o = good;
	o.hdr.magic ^= 1;
	ck_assert_int_eq(server_take_offer(dom, &o, sizeof(o), 1, NULL), -EPROTO);
	o = good;
	o.hdr.version++;
	ck_assert_int_eq(server_take_offer(dom, &o, sizeof(o), 1, NULL), -EPROTONOSUPPORT);
	o = good;
	o.hdr.type = XIO_CTL_HELLO;
	ck_assert_int_eq(server_take_offer(dom, &o, sizeof(o), 1, NULL), -EPROTO);
	o = good;
	o.hdr.len = sizeof(o) - 4;
	ck_assert_int_eq(server_take_offer(dom, &o, sizeof(o), 1, NULL), -EMSGSIZE);
	/* Body damage. */
	o = good;
	o.generation ^= 1;
	ck_assert_int_eq(server_take_offer(dom, &o, sizeof(o), 1, NULL), -ESTALE);
	o = good;
	o.layout_version++;
	ck_assert_int_eq(server_take_offer(dom, &o, sizeof(o), 1, NULL), -EPROTO);
	o = good;
	o.slot = NSLOTS;
	ck_assert_int_eq(server_take_offer(dom, &o, sizeof(o), 1, NULL), -ERANGE);
	o = good;
	o.token ^= 0x80000000u;
	ck_assert_int_eq(server_take_offer(dom, &o, sizeof(o), 1, NULL), -ESTALE);
	/* Another slot's (free) token pointed at another slot. */
	o = good;
	o.slot = (good.slot + 1) % NSLOTS;
	o.token = XT_FIRST_TOKEN(o.slot);
	ck_assert_int_eq(server_take_offer(dom, &o, sizeof(o), 1, NULL), -ESTALE);
	ck_assert_uint_eq(XIO_SLOT_STATE(word(xio_slot_at(dom, o.slot))), XIO_SLOT_FREE);

	/* None of that touched the offered slot. */
	ck_assert_uint_eq(word(s), before);
	ck_assert_uint_eq(server_ino_of(s), 0);

	/* The good offer still works, once. */
	ck_assert_int_eq(server_take_offer(dom, &good, sizeof(good), 2, NULL), 0);
	ck_assert_int_eq(server_take_offer(dom, &good, sizeof(good), 3, NULL), -ESTALE);
	ck_assert_uint_eq(server_ino_of(s), 2);
}
END_TEST

START_TEST(test_offer_before_offered)
{
	/* A server must not claim a slot whose client has not marked it offered yet. */
	uint32_t tok;
	struct xio_slot *s = xio_slot_alloc(dom, 5, &tok);
	struct xio_hs_offer o;

	memset(&o, 0, sizeof(o));
	xio_msg_init(&o.hdr, XIO_HS_OFFER, sizeof(o));
	o.generation = GEN;
	o.slot = s->index;
	o.token = tok;
	o.layout_version = XIO_LAYOUT_VERSION;
	ck_assert_int_eq(server_take_offer(dom, &o, sizeof(o), 1, NULL), -ESTALE);
	ck_assert_uint_eq(word(s), XIO_SLOT_WORD(tok, XIO_SLOT_ALLOCATED));
}
END_TEST

START_TEST(test_handshake_end_to_end)
{
	int sv[2];
	struct xio_slot *s;
	struct xio_hs_offer o, got;
	char buf[sizeof(o) + 16];
	int nfds = -1;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);

	/* Client: slot, offer, send. */
	o = client_offer(&s);
	ck_assert_int_eq(xio_send_with_fds(sv[0], &o, sizeof(o), NULL, 0), (ssize_t)sizeof(o));

	/* Server: read, validate, claim (the claim is the answer). */
	ssize_t n = xio_recv_with_fds(sv[1], buf, sizeof(buf), NULL, &nfds, 0);
	ck_assert_int_eq(n, (ssize_t)sizeof(o));
	ck_assert_int_eq(server_take_offer(dom, buf, (size_t)n, 8888, &got), 0);
	ck_assert_uint_eq(got.slot, s->index);
	ck_assert_mem_eq(&got.client, &o.client, sizeof(o.client));

	/* Client: its slot is established under its token, and nothing travelled back in-band. */
	ck_assert_uint_eq(word(s), XIO_SLOT_WORD(o.token, XIO_SLOT_ESTABLISHED));
	ck_assert_int_eq(recv(sv[0], buf, sizeof(buf), MSG_DONTWAIT), -1);
	ck_assert_int_eq(errno, EAGAIN);
	ck_assert_uint_eq(client_ino_of(s), 31337);
	ck_assert_uint_eq(server_ino_of(s), 8888);
	ck_assert_int_eq(s->server_pid, getpid());
	close(sv[0]);
	close(sv[1]);
}
END_TEST

static Suite *handshake_suite(void)
{
	Suite *s = suite_create("handshake");
	TCase *tc = tcase_create("slots");

	tcase_add_checked_fixture(tc, dom_setup, dom_teardown);
	tcase_add_test(tc, test_alloc_one);
	tcase_add_test(tc, test_alloc_all);
	tcase_add_test(tc, test_alloc_skips_busy);
	tcase_add_test(tc, test_alloc_empty_domain);
	tcase_add_test(tc, test_abort_and_reuse);
	tcase_add_test(tc, test_stale_abort_keeps_owner);
	tcase_add_test(tc, test_transitions);
	tcase_add_test(tc, test_stale_claim_after_reclaim);
	tcase_add_test(tc, test_slot_rings);
	suite_add_tcase(s, tc);

	tc = tcase_create("threads");
	tcase_set_timeout(tc, 30);
	tcase_add_checked_fixture(tc, dom_setup, dom_teardown);
	tcase_add_test(tc, test_alloc_race);
	tcase_add_test(tc, test_claim_race);
	suite_add_tcase(s, tc);

	tc = tcase_create("offers");
	tcase_add_checked_fixture(tc, dom_setup, dom_teardown);
	tcase_add_test(tc, test_bad_offers);
	tcase_add_test(tc, test_offer_before_offered);
	tcase_add_test(tc, test_handshake_end_to_end);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	xio_sys_use_libc();
	return xt_run(handshake_suite());
}
