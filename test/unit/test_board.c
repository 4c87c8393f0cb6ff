/* SPDX-License-Identifier: MIT */
/*
 * Proves the news board's harvest (stack/board.c): every bit posted is
 * handed out exactly once whatever bit a harvest starts at, and no bit is
 * always handed out first. A set reports its connections in the order the
 * harvest hands them out; from bit 0 every time, the connections of the
 * low slots were served first and, at 10,000 connections, half again as
 * often as the last ones, which set the p99 of every round trip.
 */
#include <stdlib.h>

#include "board.h"
#include "helpers.h"
#include "sys.h"

struct harvest {
	uint32_t nbits;
	int *rank;  /* each bit's place in this harvest, -1 not handed out */
	int handed; /* bits handed out so far */
	int twice;  /* bits handed out more than once */
};

static void took(uint32_t bit, void *arg)
{
	struct harvest *h = arg;
	ck_assert_uint_lt(bit, h->nbits);
	if (h->rank[bit] >= 0)
		h->twice++;
	h->rank[bit] = h->handed++;
}

/* A domain of @nslots slots with one board, in this process's memory. */
static struct xio_domain *domain_with_board(uint32_t nslots)
{
	struct xio_domain *d = calloc(1, sizeof(*d));
	ck_assert_ptr_nonnull(d);
	d->nslots = nslots;
	d->board_size = (uint32_t)xio_board_bytes(nslots);
	d->hdr = aligned_alloc(XIO_CACHELINE, d->board_size);
	ck_assert_ptr_nonnull(d->hdr);
	memset((void *)d->hdr, 0, d->board_size);
	d->nboards = 1;
	d->boards_off = 0;
	d->board_words = (uint32_t)(((uint64_t)nslots * 2 + 63) / 64);
	d->board_sum = (d->board_words + 63) / 64;
	return d;
}

static void domain_free(struct xio_domain *d)
{
	free((void *)d->hdr);
	free(d);
}

/* Post the bits @i with @i % @every == 0, harvest once from @from, check each came once. */
static void post_and_harvest(struct xio_domain *d, uint32_t every, uint32_t from, int *rank)
{
	uint32_t nbits = d->nslots * 2, want = 0;
	for (uint32_t i = 0; i < nbits; i++)
		if (i % every == 0) {
			xio_board_post_slow(d, 1, i);
			want++;
		}
	struct harvest h = {.nbits = nbits, .rank = rank};
	for (uint32_t i = 0; i < nbits; i++)
		rank[i] = -1;
	xio_board_harvest(d, 0, &from, took, &h);
	ck_assert_int_eq(h.twice, 0);
	ck_assert_int_eq(h.handed, (int)want);
	for (uint32_t i = 0; i < nbits; i++)
		ck_assert_int_eq(rank[i] >= 0, i % every == 0);
	/* nothing is left: a second harvest hands out nothing */
	h.handed = 0;
	xio_board_harvest(d, 0, &from, took, &h);
	ck_assert_int_eq(h.handed, 0);
}

START_TEST(test_every_bit_once)
{
	/* one summary word, several, and a board whose last word is partly used */
	static const uint32_t sizes[] = {16, 100, 2100};
	static const uint32_t every[] = {1, 3, 64, 1031};
	for (size_t s = 0; s < sizeof(sizes) / sizeof(*sizes); s++) {
		struct xio_domain *d = domain_with_board(sizes[s]);
		int *rank = malloc(sizeof(int) * sizes[s] * 2);
		ck_assert_ptr_nonnull(rank);
		for (size_t e = 0; e < sizeof(every) / sizeof(*every); e++) {
			/* starts at bit 0, inside a word, at a word's last bit, at the last word */
			uint32_t starts[] = {0, 1, 63, 64 * 7 + 5, sizes[s] * 2 - 1, 0x9e3779b1u};
			for (size_t f = 0; f < sizeof(starts) / sizeof(*starts); f++)
				post_and_harvest(d, every[e], starts[f], rank);
		}
		free(rank);
		domain_free(d);
	}
}
END_TEST

START_TEST(test_no_bit_always_first)
{
	/* 2,100 connections' ends (two summary words), every one with news, harvested many times */
	struct xio_domain *d = domain_with_board(2100);
	uint32_t nbits = 4200, from = 0;
	int *rank = malloc(sizeof(int) * nbits);
	ck_assert_ptr_nonnull(rank);
	double first = 0, last = 0, mid = 0;
	const int rounds = 40;
	for (int r = 0; r < rounds; r++) {
		for (uint32_t i = 0; i < nbits; i++) {
			xio_board_post_slow(d, 1, i);
			rank[i] = -1;
		}
		struct harvest h = {.nbits = nbits, .rank = rank};
		xio_board_harvest(d, 0, &from, took, &h);
		ck_assert_int_eq(h.handed, (int)nbits);
		first += rank[0];
		mid += rank[nbits / 2];
		last += rank[nbits - 1];
	}
	/* each one's mean place is near the middle, not always first or last */
	double lo = 0.3 * nbits * rounds, hi = 0.7 * nbits * rounds;
	ck_assert_msg(first > lo && first < hi, "bit 0's mean place %.0f", first / rounds);
	ck_assert_msg(mid > lo && mid < hi, "the middle bit's mean place %.0f", mid / rounds);
	ck_assert_msg(last > lo && last < hi, "the last bit's mean place %.0f", last / rounds);
	free(rank);
	domain_free(d);
}
END_TEST

static Suite *board_suite(void)
{
	Suite *s = suite_create("board");
	TCase *tc = tcase_create("harvest");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_every_bit_once);
	tcase_add_test(tc, test_no_bit_always_first);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	xio_sys_use_libc();
	return xt_run(board_suite());
}
