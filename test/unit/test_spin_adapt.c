/* SPDX-License-Identifier: MIT */
/*
 * Proves the rule of the adaptive spin (stack/wait.h, xio_spin_adapt_us and
 * xio_spin_adapt_learn): with nothing learned a wait spins the plain spin;
 * waits that end with data within the cap teach their length (a longer one
 * at once, a shorter one a quarter of the way down), and the spin becomes
 * twice that, never less than the plain spin, never more than the cap; one
 * wait longer than the cap, or without data (a timeout), forgets it all at
 * once, except that a wait after the plain spin within twice the cap buys
 * one try of the whole cap, and no second one until a wait within the cap
 * succeeds or one beyond twice the cap starts afresh; a plain spin of 0 (XIO_SPIN_US=0, one CPU,
 * the peer on our CPU) and a cap of 0 (XIO_SPIN_ADAPT_US=0) or below the plain spin keep the plain
 * spin whatever was learned; and the cap's default is 200 us, which
 * XIO_SPIN_ADAPT_US changes.
 */
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "stack.h"
#include "sys.h"
#include "wait.h"

#define US 1000

/* A wait of @us that ended with data (@sat), after the spin @a allowed (plain spin 20, cap 200). */
static void wait_took(struct xio_spin_adapt *a, int us, bool sat)
{
	xio_spin_adapt_learn(a, (int64_t)us * US, sat, xio_spin_adapt_us(a, 20, 200), 20, 200);
}

START_TEST(test_nothing_learned)
{
	struct xio_spin_adapt a = {0};
	ck_assert_int_eq(xio_spin_adapt_us(&a, 20, 200), 20);
	ck_assert_int_eq(xio_spin_adapt_us(&a, 50, 200), 50);
}
END_TEST

START_TEST(test_grows_to_twice_the_wait)
{
	struct xio_spin_adapt a = {0};
	wait_took(&a, 60, true);
	ck_assert_int_eq(xio_spin_adapt_us(&a, 20, 200), 120);
	/* a longer wait is taken at once */
	wait_took(&a, 90, true);
	ck_assert_int_eq(xio_spin_adapt_us(&a, 20, 200), 180);
	/* never more than the cap */
	wait_took(&a, 150, true);
	ck_assert_int_eq(xio_spin_adapt_us(&a, 20, 200), 200);
	/* never less than the plain spin */
	struct xio_spin_adapt b = {0};
	wait_took(&b, 4, true);
	ck_assert_int_eq(xio_spin_adapt_us(&b, 20, 200), 20);
}
END_TEST

START_TEST(test_shorter_waits_come_down_slowly)
{
	struct xio_spin_adapt a = {0};
	wait_took(&a, 100, true);
	wait_took(&a, 20, true); /* 100 - 80/4 = 80 */
	ck_assert_int_eq(xio_spin_adapt_us(&a, 20, 200), 160);
	for (int i = 0; i < 40; i++)
		wait_took(&a, 5, true);
	ck_assert_int_eq(xio_spin_adapt_us(&a, 20, 200), 20);
}
END_TEST

START_TEST(test_one_long_wait_forgets)
{
	struct xio_spin_adapt a = {0};
	wait_took(&a, 90, true);
	ck_assert_int_eq(xio_spin_adapt_us(&a, 20, 200), 180);
	wait_took(&a, 201, true);
	ck_assert_int_eq(xio_spin_adapt_us(&a, 20, 200), 20);
	/* exactly the cap still counts */
	wait_took(&a, 200, true);
	ck_assert_int_eq(xio_spin_adapt_us(&a, 20, 200), 200);
	wait_took(&a, 10 * 1000, true);
	ck_assert_int_eq(xio_spin_adapt_us(&a, 20, 200), 20);
}
END_TEST

START_TEST(test_no_data_forgets)
{
	struct xio_spin_adapt a = {0};
	wait_took(&a, 90, true);
	wait_took(&a, 30, false); /* a timeout or an error */
	ck_assert_int_eq(xio_spin_adapt_us(&a, 20, 200), 20);
}
END_TEST

START_TEST(test_off_stays_off)
{
	struct xio_spin_adapt a = {0};
	wait_took(&a, 90, true);
	ck_assert_int_eq(xio_spin_adapt_us(&a, 0, 200), 0);	/* no spin: none learned either */
	ck_assert_int_eq(xio_spin_adapt_us(&a, 20, 0), 20);	/* XIO_SPIN_ADAPT_US=0 */
	ck_assert_int_eq(xio_spin_adapt_us(&a, 500, 200), 500); /* a plain spin above the cap */
	/* with a cap of 0 nothing is learned */
	struct xio_spin_adapt b = {0};
	xio_spin_adapt_learn(&b, 90 * US, true, 20, 20, 0);
	ck_assert_int_eq(xio_spin_adapt_us(&b, 20, 200), 20);
}
END_TEST

START_TEST(test_one_try)
{
	struct xio_spin_adapt a = {0};
	/* slept after the plain spin, within twice the cap: one spin of the whole cap */
	wait_took(&a, 300, true);
	ck_assert_int_eq(xio_spin_adapt_us(&a, 20, 200), 200);
	/* the try missed: back, and no second try while waits stay beyond the cap */
	wait_took(&a, 300, true);
	ck_assert_int_eq(xio_spin_adapt_us(&a, 20, 200), 20);
	wait_took(&a, 300, true);
	ck_assert_int_eq(xio_spin_adapt_us(&a, 20, 200), 20);
	/* a wait within the cap succeeds: learned, and a try is possible again */
	wait_took(&a, 150, true);
	ck_assert_int_eq(xio_spin_adapt_us(&a, 20, 200), 200);
	wait_took(&a, 300, true); /* after an adaptive spin: a miss, no try */
	ck_assert_int_eq(xio_spin_adapt_us(&a, 20, 200), 20);
	wait_took(&a, 300, true); /* after the plain spin: the try */
	ck_assert_int_eq(xio_spin_adapt_us(&a, 20, 200), 200);
	/* beyond twice the cap: no try, and a fresh start */
	struct xio_spin_adapt b = {0};
	wait_took(&b, 401, true);
	ck_assert_int_eq(xio_spin_adapt_us(&b, 20, 200), 20);
	wait_took(&b, 300, true);
	ck_assert_int_eq(xio_spin_adapt_us(&b, 20, 200), 200);
	wait_took(&b, 300, true);
	wait_took(&b, 5000, true); /* idle: starts afresh */
	wait_took(&b, 300, true);
	ck_assert_int_eq(xio_spin_adapt_us(&b, 20, 200), 200);
	/* no spin at all: no try either */
	struct xio_spin_adapt c = {0};
	xio_spin_adapt_learn(&c, 300 * US, true, 0, 0, 200);
	ck_assert_int_eq(xio_spin_adapt_us(&c, 0, 200), 0);
}
END_TEST

/* The cap from the environment: a child per value (the configuration is read once). */
static int cap_with(const char *v)
{
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (v)
			setenv("XIO_SPIN_ADAPT_US", v, 1);
		else
			unsetenv("XIO_SPIN_ADAPT_US");
		_exit(xio_spin_adapt_cap_us() / 10 & 0xff);
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st));
	return WEXITSTATUS(st) * 10;
}

START_TEST(test_cap_from_environment)
{
	ck_assert_int_eq(cap_with(NULL), 200);
	ck_assert_int_eq(cap_with("0"), 0);
	ck_assert_int_eq(cap_with("500"), 500);
	ck_assert_int_eq(cap_with("junk"), 200);
}
END_TEST

static Suite *spin_adapt_suite(void)
{
	Suite *s = suite_create("spin_adapt");
	TCase *tc = tcase_create("rule");
	tcase_add_test(tc, test_nothing_learned);
	tcase_add_test(tc, test_grows_to_twice_the_wait);
	tcase_add_test(tc, test_shorter_waits_come_down_slowly);
	tcase_add_test(tc, test_one_long_wait_forgets);
	tcase_add_test(tc, test_no_data_forgets);
	tcase_add_test(tc, test_off_stays_off);
	tcase_add_test(tc, test_one_try);
	tcase_add_test(tc, test_cap_from_environment);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	xio_sys_use_libc();
	return xt_run(spin_adapt_suite());
}
