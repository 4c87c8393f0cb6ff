/* SPDX-License-Identifier: MIT */
/*
 * Proves that stack/ring.h gives byte-stream semantics over records in an
 * rte_ring: bytes come out in order and unaltered across many wrap-arounds
 * with odd record and read sizes (power-of-two and exact-size rings), empty
 * and full are reported exactly, capacity is bounded and a write is clipped
 * to the room there is, 1-byte and partial reads keep their place in the
 * head record (rd_off), peeking consumes nothing, scattered iovecs work on
 * both sides, a concurrent producer and consumer thread agree on every byte,
 * and a corrupt record length or read offset in shared memory is reported
 * as -EPROTO without consuming anything or reading out of bounds. A ring
 * that rewinds (padding to its end when a writer finds it empty past its
 * first page) keeps a ping-pong stream in its first page, and its padding
 * counts as no bytes and no use, is passed over by peeks, can be taken out
 * of the way by the writer, and is rejected when its length is corrupt.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>

#include "fake_domain.h"
#include "helpers.h"
#include "ring.h"
#include "sys.h"

/* The stream's n-th byte: not periodic in any record or ring size used here. */
static uint8_t stream_byte(uint64_t n)
{
	return (uint8_t)((n * 2654435761u) >> 13 ^ (n >> 9));
}

static size_t put(struct rte_ring *r, const void *buf, size_t len)
{
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	struct xio_iov_cursor c;

	xio_cursor_init(&c, &iov, 1);
	return xio_ring_put(r, &c, len, true);
}

static ssize_t get(struct rte_ring *r, uint32_t *rd_off, void *buf, size_t len, bool peek)
{
	struct iovec iov = {.iov_base = buf, .iov_len = len};
	struct xio_iov_cursor c;

	xio_cursor_init(&c, &iov, 1);
	return xio_ring_get(r, rd_off, &c, len, peek);
}

static size_t put_str(struct rte_ring *r, const char *s)
{
	return put(r, s, strlen(s));
}

/* Records in the ring (elements, not bytes). */
static unsigned elems(struct rte_ring *r)
{
	return rte_ring_count(r);
}

/* The element storage that follows the ring header, and the head record's header. */
static uint32_t *ring_elem(struct rte_ring *r, unsigned k)
{
	uint32_t *base = (uint32_t *)(r + 1);

	return &base[(r->cons.tail + k) & r->mask];
}

START_TEST(test_empty)
{
	struct rte_ring *r = xt_ring_new(64, 0);
	uint32_t rd_off = 0;
	char buf[16];

	ck_assert(xio_ring_empty(r));
	ck_assert_uint_eq(xio_ring_capacity(r), 63 * 4);
	/* One element of every record is its header. */
	ck_assert_uint_eq(xio_ring_room(r), 62 * 4);
	ck_assert_uint_eq(xio_ring_used(r), 0);
	ck_assert_int_eq(xio_ring_readable(r, 0), 0);
	/* Empty is "nothing now", never EOF or an error. */
	ck_assert_int_eq(get(r, &rd_off, buf, sizeof(buf), false), 0);
	ck_assert_int_eq(get(r, &rd_off, buf, sizeof(buf), true), 0);
	ck_assert_uint_eq(rd_off, 0);
	/* A zero-length write writes no record. */
	ck_assert_uint_eq(put(r, "x", 0), 0);
	ck_assert(xio_ring_empty(r));
	free(r);
}
END_TEST

START_TEST(test_simple)
{
	struct rte_ring *r = xt_ring_new(64, 0);
	uint32_t rd_off = 0;
	char buf[16] = {0};

	ck_assert_uint_eq(put_str(r, "hello"), 5);
	ck_assert(!xio_ring_empty(r));
	ck_assert_uint_eq(xio_ring_used(r), 3 * 4); /* header + 2 elements, padded */
	ck_assert_int_eq(xio_ring_readable(r, rd_off), 5);
	ck_assert_int_eq(get(r, &rd_off, buf, sizeof(buf), false), 5);
	ck_assert_str_eq(buf, "hello");
	ck_assert_uint_eq(rd_off, 0);
	ck_assert(xio_ring_empty(r));
	ck_assert_uint_eq(xio_ring_room(r), 62 * 4);
	free(r);
}
END_TEST

START_TEST(test_one_byte_reads)
{
	static const char *recs[] = {"abcde", "f", "ghijklmno", "pqrs"};
	struct rte_ring *r = xt_ring_new(64, 0);
	const char *all = "abcdefghijklmnopqrs";
	size_t total = strlen(all), rec = 0, in_rec = 0;
	uint32_t rd_off = 0;

	for (size_t i = 0; i < 4; i++)
		ck_assert_uint_eq(put_str(r, recs[i]), strlen(recs[i]));
	for (size_t i = 0; i < total; i++) {
		unsigned before = elems(r);
		char c = 0;

		ck_assert_int_eq(xio_ring_readable(r, rd_off), (ssize_t)(total - i));
		ck_assert_int_eq(get(r, &rd_off, &c, 1, false), 1);
		ck_assert_int_eq(c, all[i]);
		in_rec++;
		if (in_rec == strlen(recs[rec])) {
			/* The record's last byte frees the whole record. */
			ck_assert_uint_eq(rd_off, 0);
			ck_assert_uint_eq(elems(r),
					  before - 1 - (unsigned)(strlen(recs[rec]) + 3) / 4);
			rec++;
			in_rec = 0;
		} else {
			ck_assert_uint_eq(rd_off, in_rec);
			ck_assert_uint_eq(elems(r), before);
		}
	}
	ck_assert(xio_ring_empty(r));
	free(r);
}
END_TEST

START_TEST(test_partial_across_records)
{
	struct rte_ring *r = xt_ring_new(64, 0);
	uint32_t rd_off = 0;
	char buf[32] = {0};

	put_str(r, "hello");
	put_str(r, "world!");
	put_str(r, "xyz");
	ck_assert_int_eq(get(r, &rd_off, buf, 8, false), 8);
	ck_assert_mem_eq(buf, "hellowor", 8);
	ck_assert_uint_eq(rd_off, 3);
	ck_assert_int_eq(xio_ring_readable(r, rd_off), 6);
	memset(buf, 0, sizeof(buf));
	/* Continues mid-record, then takes the next record whole. */
	ck_assert_int_eq(get(r, &rd_off, buf, sizeof(buf), false), 6);
	ck_assert_str_eq(buf, "ld!xyz");
	ck_assert_uint_eq(rd_off, 0);
	ck_assert(xio_ring_empty(r));
	free(r);
}
END_TEST

START_TEST(test_peek)
{
	struct rte_ring *r = xt_ring_new(64, 0);
	uint32_t rd_off = 0;
	char buf[32] = {0};

	put_str(r, "abc");
	put_str(r, "defg");
	unsigned n = elems(r);

	ck_assert_int_eq(get(r, &rd_off, buf, 5, true), 5);
	ck_assert_mem_eq(buf, "abcde", 5);
	ck_assert_uint_eq(rd_off, 0);
	ck_assert_uint_eq(elems(r), n);
	/* Peeking twice sees the same bytes. */
	memset(buf, 0, sizeof(buf));
	ck_assert_int_eq(get(r, &rd_off, buf, sizeof(buf), true), 7);
	ck_assert_str_eq(buf, "abcdefg");

	ck_assert_int_eq(get(r, &rd_off, buf, 2, false), 2);
	ck_assert_uint_eq(rd_off, 2);
	/* A peek starts where the last read stopped and leaves that place alone. */
	memset(buf, 0, sizeof(buf));
	ck_assert_int_eq(get(r, &rd_off, buf, sizeof(buf), true), 5);
	ck_assert_str_eq(buf, "cdefg");
	ck_assert_uint_eq(rd_off, 2);
	ck_assert_int_eq(get(r, &rd_off, buf, 0, true), 0);

	memset(buf, 0, sizeof(buf));
	ck_assert_int_eq(get(r, &rd_off, buf, sizeof(buf), false), 5);
	ck_assert_str_eq(buf, "cdefg");
	ck_assert(xio_ring_empty(r));
	free(r);
}
END_TEST

START_TEST(test_iovec)
{
	struct rte_ring *r = xt_ring_new(64, 0);
	char a[] = "012", b[] = "", c[] = "34567";
	struct iovec src[] = {{a, 3}, {b, 0}, {c, 5}};
	char d1[1], d3[2], d4[10];
	struct iovec dst[] = {{NULL, 0}, {d1, 1}, {NULL, 0}, {d3, 2}, {d4, sizeof(d4)}};
	struct xio_iov_cursor cur;
	uint32_t rd_off = 0;

	xio_cursor_init(&cur, src, 3);
	/* Scattered source, one record. */
	ck_assert_uint_eq(xio_ring_put(r, &cur, 8, true), 8);
	ck_assert_uint_eq(xio_ring_used(r), 3 * 4);
	memset(d4, 0, sizeof(d4));
	xio_cursor_init(&cur, dst, 5);
	ck_assert_int_eq(xio_ring_get(r, &rd_off, &cur, 8, false), 8);
	ck_assert_int_eq(d1[0], '0');
	ck_assert_mem_eq(d3, "12", 2);
	ck_assert_mem_eq(d4, "34567", 5);
	ck_assert_int_eq(d4[5], 0);
	free(r);
}
END_TEST

static void check_bounded(struct rte_ring *r)
{
	const size_t cap = xio_ring_capacity(r);
	uint8_t *big = malloc(cap * 2), *back = malloc(cap * 2);
	uint64_t wr = 0;
	uint32_t rd_off = 0;

	ck_assert_ptr_nonnull(big);
	ck_assert_ptr_nonnull(back);
	for (size_t i = 0; i < cap * 2; i++)
		big[i] = stream_byte(i);

	/* Fill with 7-byte records until one does not fit whole. */
	for (;;) {
		size_t n = put(r, big + wr, 7);
		wr += n;
		if (n < 7)
			break;
	}
	ck_assert_uint_le(wr, cap);
	ck_assert_uint_le(xio_ring_used(r), cap);
	/* Full now: no room for even one byte, and a write takes nothing. */
	ck_assert_uint_eq(xio_ring_room(r), 0);
	ck_assert_uint_eq(put(r, big + wr, 1), 0);

	/* Read everything back, in order. */
	ssize_t got = get(r, &rd_off, back, cap * 2, false);
	ck_assert_int_eq(got, (ssize_t)wr);
	ck_assert_mem_eq(back, big, wr);
	ck_assert(xio_ring_empty(r));

	/* One oversized write is clipped to exactly the room there was, and fills the ring. */
	size_t room = xio_ring_room(r);
	ck_assert_uint_eq(room, cap - 4);
	ck_assert_uint_eq(put(r, big, cap * 2), room);
	ck_assert_uint_eq(xio_ring_room(r), 0);
	ck_assert_uint_eq(xio_ring_used(r), cap);

	/* A partial read does not free the record's space... */
	ck_assert_int_eq(get(r, &rd_off, back, 1, false), 1);
	ck_assert_uint_eq(xio_ring_room(r), 0);
	ck_assert_uint_eq(put(r, big, 1), 0);
	/* ...finishing it frees all of it. */
	ck_assert_int_eq(get(r, &rd_off, back + 1, cap * 2, false), (ssize_t)room - 1);
	ck_assert_mem_eq(back, big, room);
	ck_assert_uint_eq(xio_ring_room(r), cap - 4);
	free(big);
	free(back);
}

START_TEST(test_bounded_pow2)
{
	struct rte_ring *r = xt_ring_new(64, 0);

	check_bounded(r);
	free(r);
}
END_TEST

START_TEST(test_bounded_exact)
{
	/* An exact-size ring of an odd element count. */
	struct rte_ring *r = xt_ring_new(37, RING_F_EXACT_SZ);

	ck_assert_uint_eq(xio_ring_capacity(r), 37 * 4);
	check_bounded(r);
	free(r);
}
END_TEST

/*
 * Push a long stream through a small ring with record sizes and read sizes
 * that share no period with the ring, so every payload split at the ring's
 * end and every partial-read offset occurs.
 */
static void stream_through(struct rte_ring *r, uint64_t total)
{
	static const size_t wsz[] = {1, 2, 3, 5, 7, 11, 13, 17, 4, 9, 31};
	static const size_t rsz[] = {1, 3, 4, 6, 17, 64, 2, 29};
	uint8_t wbuf[64], rbuf[128], pbuf[128];
	uint64_t wr = 0, rd = 0;
	uint32_t rd_off = 0, start_tail = r->cons.tail;
	unsigned wi = 0, ri = 0;

	while (rd < total) {
		/* Write a few records. */
		for (int k = 0; k < 3 && wr < total; k++) {
			size_t n = wsz[wi % (sizeof(wsz) / sizeof(wsz[0]))];
			if (n > total - wr)
				n = (size_t)(total - wr);
			for (size_t i = 0; i < n; i++)
				wbuf[i] = stream_byte(wr + i);
			size_t put_n = put(r, wbuf, n);
			ck_assert_uint_le(put_n, n);
			wr += put_n;
			if (put_n < n)
				break; /* full: the rest is written again next round */
			wi++;
		}
		ck_assert_uint_le(xio_ring_used(r), xio_ring_capacity(r));
		ck_assert_int_eq(xio_ring_readable(r, rd_off), (ssize_t)(wr - rd));

		/* Read one chunk, sometimes peeking first. */
		size_t want = rsz[ri % (sizeof(rsz) / sizeof(rsz[0]))];
		ssize_t p = -1;
		if (ri % 3 == 0)
			p = get(r, &rd_off, pbuf, want, true);
		ssize_t n = get(r, &rd_off, rbuf, want, false);
		ck_assert_int_ge(n, 0);
		ck_assert_uint_eq((uint64_t)n, want < wr - rd ? want : wr - rd);
		if (p >= 0) {
			ck_assert_int_eq(p, n);
			ck_assert_mem_eq(pbuf, rbuf, (size_t)n);
		}
		for (ssize_t i = 0; i < n; i++)
			ck_assert_msg(rbuf[i] == stream_byte(rd + (uint64_t)i),
				      "byte %llu: %u, want %u", (unsigned long long)(rd + i),
				      rbuf[i], stream_byte(rd + (uint64_t)i));
		rd += (uint64_t)n;
		ri++;
	}
	ck_assert(xio_ring_empty(r));
	ck_assert_uint_eq(rd_off, 0);
	/* The indices really went round the ring many times. */
	ck_assert_uint_gt(r->cons.tail - start_tail, 50 * rte_ring_get_size(r));
}

START_TEST(test_wrap_pow2)
{
	struct rte_ring *r = xt_ring_new(16, 0);

	stream_through(r, 200000);
	free(r);
}
END_TEST

START_TEST(test_wrap_exact_odd)
{
	struct rte_ring *r = xt_ring_new(13, RING_F_EXACT_SZ);

	stream_through(r, 200000);
	free(r);
}
END_TEST

START_TEST(test_wrap_near_index_overflow)
{
	/* The 32-bit head/tail indices wrap too: start just below 2^32. */
	struct rte_ring *r = xt_ring_new(32, 0);
	uint32_t start = UINT32_MAX - 40;

	r->prod.head = r->prod.tail = r->cons.head = r->cons.tail = start;
	stream_through(r, 20000);
	free(r);
}
END_TEST

/* ---- corruption ---------------------------------------------------------- */

START_TEST(test_corrupt_head_len)
{
	/* Zero, huge, and one byte more than the 6 elements behind the header hold. */
	static const uint32_t bad[] = {0, 0xffffffffu, 0x80000000u, 6 * 4 + 1};
	struct rte_ring *r = xt_ring_new(64, 0);
	uint32_t rd_off = 0;
	char buf[64];

	put_str(r, "hello");	    /* 1 + 2 elements */
	put_str(r, "world, again"); /* 1 + 3 elements */
	unsigned n = elems(r);
	uint32_t *hdr = ring_elem(r, 0), good = *hdr;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		*hdr = bad[i];
		memset(buf, 0x5a, sizeof(buf));
		ck_assert_int_eq(get(r, &rd_off, buf, sizeof(buf), false), -EPROTO);
		ck_assert_int_eq(get(r, &rd_off, buf, sizeof(buf), true), -EPROTO);
		ck_assert_int_eq(xio_ring_readable(r, rd_off), -EPROTO);
		/* Nothing consumed, nothing written into the caller's buffer. */
		ck_assert_uint_eq(elems(r), n);
		ck_assert_uint_eq(rd_off, 0);
		ck_assert_int_eq(buf[0], 0x5a);
	}
	/* Repaired, the stream is intact. */
	*hdr = good;
	memset(buf, 0, sizeof(buf));
	ck_assert_int_eq(get(r, &rd_off, buf, sizeof(buf), false), 17);
	ck_assert_str_eq(buf, "helloworld, again");
	free(r);
}
END_TEST

START_TEST(test_corrupt_second_len)
{
	struct rte_ring *r = xt_ring_new(64, 0);
	uint32_t rd_off = 0;
	char buf[64] = {0};

	put_str(r, "hello");
	put_str(r, "world");
	unsigned n = elems(r);
	*ring_elem(r, 3) = 4000; /* second record's header */

	/* A read that stays inside the good record still works... */
	ck_assert_int_eq(get(r, &rd_off, buf, 5, true), 5);
	/* ...one that reaches the bad header fails and consumes nothing, not even the good one. */
	ck_assert_int_eq(get(r, &rd_off, buf, sizeof(buf), false), -EPROTO);
	ck_assert_uint_eq(elems(r), n);
	ck_assert_uint_eq(rd_off, 0);
	ck_assert_int_eq(xio_ring_readable(r, 0), -EPROTO);
	free(r);
}
END_TEST

START_TEST(test_corrupt_rd_off)
{
	struct rte_ring *r = xt_ring_new(64, 0);
	char buf[64];

	put_str(r, "hello");
	unsigned n = elems(r);
	static const uint32_t bad[] = {5, 6, 1000, UINT32_MAX};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint32_t rd_off = bad[i];
		ck_assert_int_eq(get(r, &rd_off, buf, sizeof(buf), false), -EPROTO);
		ck_assert_uint_eq(rd_off, bad[i]);
		ck_assert_uint_eq(elems(r), n);
	}
	free(r);
}
END_TEST

START_TEST(test_corrupt_rd_off_readable)
{
	/*
	 * FIONREAD reads the same shared offset: a corrupt one must not become
	 * a byte count (0 for an offset at the record's end) or a random errno
	 * (total - off wraps negative: -1 is -EPERM).
	 */
	struct rte_ring *r = xt_ring_new(64, 0);
	static const uint32_t bad[] = {5, 6, 1000, UINT32_MAX};

	put_str(r, "hello");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(xio_ring_readable(r, bad[i]) == -EPROTO, "rd_off %u: %zd", bad[i],
			      xio_ring_readable(r, bad[i]));
	free(r);
}
END_TEST

/* ---- rewinding (padding records) ------------------------------------------ */

enum { RW_ELEMS = 8192 }; /* 32 KiB: past XIO_RING_REWIND, as the domain's rings are */

/* An empty ring whose indices stand at element @at. */
static void move_to(struct rte_ring *r, uint32_t at)
{
	r->prod.head = r->prod.tail = r->cons.head = r->cons.tail = at;
}

START_TEST(test_rewind_pingpong)
{
	/* A request/response stream keeps to the ring's first page or two. */
	struct rte_ring *r = xt_ring_new(RW_ELEMS, 0);
	uint8_t msg[64], in[64];
	uint32_t rd_off = 0, top = 0, start = r->prod.head;
	uint64_t n = 0;

	for (int i = 0; i < 5000; i++) {
		for (size_t k = 0; k < sizeof(msg); k++)
			msg[k] = stream_byte(n + k);
		uint32_t at = r->prod.head & r->mask;
		top = at > top ? at : top;
		ck_assert_uint_eq(put(r, msg, sizeof(msg)), sizeof(msg));
		ck_assert_int_eq(xio_ring_readable(r, rd_off), (ssize_t)sizeof(msg));
		ck_assert_int_eq(get(r, &rd_off, in, sizeof(in), false), (ssize_t)sizeof(in));
		ck_assert_mem_eq(in, msg, sizeof(in));
		n += sizeof(msg);
	}
	ck_assert(xio_ring_empty(r));
	/* 17 elements a record: without rewinding it would have gone round 10 times. */
	ck_assert_uint_lt(top, XIO_RING_REWIND + 17);
	ck_assert_uint_gt(r->prod.head - start, 5000u * 17);
	free(r);
}
END_TEST

START_TEST(test_rewind_pad_held)
{
	/* The reader has not taken the padding yet: it counts as neither bytes nor use. */
	struct rte_ring *r = xt_ring_new(RW_ELEMS, 0);
	uint32_t at = 5000, rd_off = 0;
	struct iovec v = {.iov_base = "0123456789abcdef", .iov_len = 16};
	struct xio_iov_cursor cur;
	char buf[64] = {0};

	move_to(r, at);
	xio_cursor_init(&cur, &v, 1);
	/* Not allowed to rewind (the writer could not take the reader's lock): in place. */
	ck_assert_uint_eq(xio_ring_put(r, &cur, 16, false), 16);
	ck_assert_uint_eq(xio_ring_head_pad(r), 0);
	ck_assert_int_eq(get(r, &rd_off, buf, sizeof(buf), false), 16);
	move_to(r, at);
	xio_cursor_init(&cur, &v, 1);
	ck_assert_uint_eq(xio_ring_put(r, &cur, 16, true), 16);
	ck_assert_uint_eq(xio_ring_head_pad(r), RW_ELEMS - at);
	ck_assert_uint_eq(elems(r), RW_ELEMS - at + 5);
	ck_assert_uint_eq(xio_ring_used(r), 5 * 4);
	ck_assert_int_eq(xio_ring_readable(r, 0), 16);
	ck_assert_uint_eq(xio_ring_unread(r, 0), 16);
	/* The record starts the ring. */
	ck_assert_uint_eq(((uint32_t *)(r + 1))[0], 16);
	ck_assert_uint_eq(((uint32_t *)(r + 1))[at], XIO_REC_PAD | (RW_ELEMS - at));
	/* Room until the padding goes: what lies between the ring's start and it. */
	ck_assert_uint_eq(xio_ring_room(r), (size_t)(at - 1 - 5 - 1) * 4);
	/* Not partly read: a reader with an offset into it is corrupt. */
	uint32_t bad_off = 3;
	ck_assert_int_eq(get(r, &bad_off, buf, sizeof(buf), false), -EPROTO);
	ck_assert_int_eq(xio_ring_readable(r, 3), -EPROTO);
	ck_assert(!xio_ring_skip_pad(r, 3));
	/* Peeking passes over it, consuming nothing. */
	ck_assert_int_eq(get(r, &rd_off, buf, 4, true), 4);
	ck_assert_uint_eq(elems(r), RW_ELEMS - at + 5);
	/* A second write goes behind the first: the ring is not empty, no padding. */
	xio_cursor_init(&cur, &v, 1);
	ck_assert_uint_eq(xio_ring_put(r, &cur, 16, true), 16);
	ck_assert_uint_eq(elems(r), RW_ELEMS - at + 10);
	ck_assert_int_eq(get(r, &rd_off, buf, sizeof(buf), false), 32);
	ck_assert_mem_eq(buf, "0123456789abcdef0123456789abcdef", 32);
	ck_assert(xio_ring_empty(r));
	ck_assert_uint_eq(xio_ring_head_pad(r), 0);
	free(r);
}
END_TEST

START_TEST(test_rewind_skip_pad)
{
	/* The writer takes its padding out of the way: full room again, bytes intact. */
	struct rte_ring *r = xt_ring_new(RW_ELEMS, 0);
	uint32_t rd_off = 0;
	char buf[16] = {0};

	move_to(r, 6000);
	ck_assert(!xio_ring_skip_pad(r, 0)); /* empty */
	put_str(r, "hello");
	ck_assert_uint_eq(xio_ring_head_pad(r), RW_ELEMS - 6000);
	ck_assert(xio_ring_skip_pad(r, 0));
	ck_assert_uint_eq(xio_ring_head_pad(r), 0);
	ck_assert_uint_eq(elems(r), 3);
	ck_assert_uint_eq(xio_ring_room(r), (size_t)(RW_ELEMS - 1 - 3 - 1) * 4);
	ck_assert(!xio_ring_skip_pad(r, 0)); /* a record of bytes is never skipped */
	ck_assert_uint_eq(elems(r), 3);
	ck_assert_int_eq(get(r, &rd_off, buf, sizeof(buf), false), 5);
	ck_assert_str_eq(buf, "hello");
	free(r);
}
END_TEST

START_TEST(test_rewind_when)
{
	struct rte_ring *r = xt_ring_new(RW_ELEMS, 0);
	static uint8_t big[16384];
	uint32_t rd_off = 0;

	/* In the first page: no padding. */
	move_to(r, XIO_RING_REWIND - 1);
	put_str(r, "x");
	ck_assert_uint_eq(xio_ring_head_pad(r), 0);
	ck_assert_int_eq(get(r, &rd_off, big, 8, false), 1);
	/* Empty: padding first; not empty: the record goes behind what is there. */
	move_to(r, 3000);
	put_str(r, "abc");
	uint32_t n = elems(r);
	ck_assert_uint_eq(n, RW_ELEMS - 3000 + 2);
	put_str(r, "def");
	ck_assert_uint_eq(elems(r), n + 2);
	ck_assert_uint_eq(xio_ring_head_pad(r), RW_ELEMS - 3000);
	ck_assert_int_eq(get(r, &rd_off, big, 8, false), 6);
	/* A record larger than half of what the padding would leave goes on in place. */
	move_to(r, 3000);
	ck_assert_uint_eq(put(r, big, 8192), 8192);
	ck_assert_uint_eq(xio_ring_head_pad(r), 0);
	ck_assert_int_eq(get(r, &rd_off, big, sizeof(big), false), 8192);
	/* Half or less: it rewinds. */
	move_to(r, 3000);
	ck_assert_uint_eq(put(r, big, 5996), 5996); /* 1 + 1499 elements */
	ck_assert_uint_eq(xio_ring_head_pad(r), RW_ELEMS - 3000);
	ck_assert_int_eq(get(r, &rd_off, big, sizeof(big), false), 5996);
	free(r);
}
END_TEST

START_TEST(test_corrupt_pad)
{
	/* Padding longer than what is published, or flagged as a descriptor too. */
	struct rte_ring *r = xt_ring_new(RW_ELEMS, 0);
	uint32_t rd_off = 0;
	char buf[64];

	move_to(r, 6000);
	put_str(r, "hello");
	unsigned n = elems(r);
	uint32_t *pad = ring_elem(r, 0), good = *pad;
	/* ...or padding with nothing behind it: a writer always publishes its record with it */
	const uint32_t bad[] = {XIO_REC_PAD | (n + 1), XIO_REC_PAD | n, XIO_REC_PAD | 0x3fffffffu,
				XIO_REC_PAD | XIO_REC_DESC | (RW_ELEMS - 6000)};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		*pad = bad[i];
		ck_assert_int_eq(get(r, &rd_off, buf, sizeof(buf), false), -EPROTO);
		ck_assert_int_eq(get(r, &rd_off, buf, sizeof(buf), true), -EPROTO);
		ck_assert_int_eq(xio_ring_readable(r, 0), -EPROTO);
		ck_assert(!xio_ring_skip_pad(r, 0));
		ck_assert_uint_eq(elems(r), n);
		ck_assert_uint_eq(xio_ring_used(r), n * 4); /* not padding: counted as it is */
	}
	*pad = good;
	ck_assert_int_eq(get(r, &rd_off, buf, sizeof(buf), false), 5);
	free(r);
}
END_TEST

START_TEST(test_wrap_rewind)
{
	/* Odd records, partial reads and peeks, on a ring that rewinds. */
	struct rte_ring *r = xt_ring_new(2 * XIO_RING_REWIND, 0);

	stream_through(r, 300000);
	free(r);
}
END_TEST

/* ---- two threads ---------------------------------------------------------- */

static uint64_t SPSC_BYTES = 4 << 20; /* per test: valgrind runs these too */

static void *producer(void *arg)
{
	struct rte_ring *r = arg;
	uint8_t buf[300];
	uint64_t wr = 0;
	unsigned k = 0;

	while (wr < SPSC_BYTES) {
		size_t n = 1 + (k++ * 37) % sizeof(buf);
		if (n > SPSC_BYTES - wr)
			n = SPSC_BYTES - wr;
		for (size_t i = 0; i < n; i++)
			buf[i] = stream_byte(wr + i);
		size_t done = put(r, buf, n);
		if (done == 0)
			sched_yield();
		wr += done; /* a clipped record: the rest goes in the next one */
	}
	return NULL;
}

static void spsc(unsigned ring_elems)
{
	struct rte_ring *r = xt_ring_new(ring_elems, 0);
	pthread_t th;
	uint8_t buf[512];
	uint64_t rd = 0, bad = 0;
	uint32_t rd_off = 0;
	unsigned k = 0;

	ck_assert_int_eq(pthread_create(&th, NULL, producer, r), 0);
	while (rd < SPSC_BYTES) {
		size_t want = 1 + (k++ * 53) % sizeof(buf);
		ssize_t n = get(r, &rd_off, buf, want, false);
		ck_assert_int_ge(n, 0);
		if (n == 0)
			sched_yield();
		for (ssize_t i = 0; i < n; i++)
			bad += buf[i] != stream_byte(rd + (uint64_t)i);
		rd += (uint64_t)n;
	}
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_uint_eq(bad, 0);
	ck_assert_uint_eq(rd, SPSC_BYTES);
	ck_assert(xio_ring_empty(r));
	free(r);
}

START_TEST(test_spsc_threads)
{
	spsc(256);
}
END_TEST

START_TEST(test_spsc_threads_rewind)
{
	/* The writer's look at an empty ring races with the reader taking the last record. */
	SPSC_BYTES = 1 << 20;
	spsc(4 * XIO_RING_REWIND);
}
END_TEST

static Suite *ring_suite(void)
{
	Suite *s = suite_create("ring");
	TCase *tc = tcase_create("basic");

	tcase_add_test(tc, test_empty);
	tcase_add_test(tc, test_simple);
	tcase_add_test(tc, test_one_byte_reads);
	tcase_add_test(tc, test_partial_across_records);
	tcase_add_test(tc, test_peek);
	tcase_add_test(tc, test_iovec);
	tcase_add_test(tc, test_bounded_pow2);
	tcase_add_test(tc, test_bounded_exact);
	suite_add_tcase(s, tc);

	tc = tcase_create("wrap");
	tcase_add_test(tc, test_wrap_pow2);
	tcase_add_test(tc, test_wrap_exact_odd);
	tcase_add_test(tc, test_wrap_near_index_overflow);
	suite_add_tcase(s, tc);

	tc = tcase_create("corrupt");
	tcase_add_test(tc, test_corrupt_head_len);
	tcase_add_test(tc, test_corrupt_second_len);
	tcase_add_test(tc, test_corrupt_rd_off);
	tcase_add_test(tc, test_corrupt_rd_off_readable);
	tcase_add_test(tc, test_corrupt_pad);
	suite_add_tcase(s, tc);

	tc = tcase_create("rewind");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_rewind_pingpong);
	tcase_add_test(tc, test_rewind_pad_held);
	tcase_add_test(tc, test_rewind_skip_pad);
	tcase_add_test(tc, test_rewind_when);
	tcase_add_test(tc, test_wrap_rewind);
	suite_add_tcase(s, tc);

	tc = tcase_create("threads");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_spsc_threads);
	tcase_add_test(tc, test_spsc_threads_rewind);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	xio_sys_use_libc();
	return xt_run(ring_suite());
}
