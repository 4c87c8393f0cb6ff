/* SPDX-License-Identifier: MIT */
/*
 * Proves the rule of the adaptive spin (stack/wait.h, xio_spin_adapt_us and
 * xio_spin_adapt_learn): with nothing learned a wait spins the plain spin;
 * waits that end with data within the cap teach their length (a longer one
 * at once, a shorter one a quarter of the way down), and the spin becomes
 * twice that, never less than the plain spin, never more than the cap; one
 * wait longer than the cap, or without data (a timeout), forgets it all at
 * once; a plain spin of 0 (XIO_SPIN_US=0, one CPU, the peer on our CPU) and
 * a cap of 0 (XIO_SPIN_ADAPT_US=0) or below the plain spin keep the plain
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
	xio_spin_adapt_learn(&a, 60 * US, true, 200);
	ck_assert_int_eq(xio_spin_adapt_us(&a, 20, 200), 120);
	/* a longer wait is taken at once */
	xio_spin_adapt_learn(&a, 90 * US, true, 200);
	ck_assert_int_eq(xio_spin_adapt_us(&a, 20, 200), 180);
	/* never more than the cap */
	xio_spin_adapt_learn(&a, 150 * US, true, 200);
	ck_assert_int_eq(xio_spin_adapt_us(&a, 20, 200), 200);
	/* never less than the plain spin */
	struct xio_spin_adapt b = {0};
	xio_spin_adapt_learn(&b, 4 * US, true, 200);
	ck_assert_int_eq(xio_spin_adapt_us(&b, 20, 200), 20);
}
END_TEST

START_TEST(test_shorter_waits_come_down_slowly)
{
	struct xio_spin_adapt a = {0};
	xio_spin_adapt_learn(&a, 100 * US, true, 200);
	xio_spin_adapt_learn(&a, 20 * US, true, 200); /* 100 - 80/4 = 80 */
	ck_assert_int_eq(xio_spin_adapt_us(&a, 20, 200), 160);
	for (int i = 0; i < 40; i++)
		xio_spin_adapt_learn(&a, 5 * US, true, 200);
	ck_assert_int_eq(xio_spin_adapt_us(&a, 20, 200), 20);
}
END_TEST

START_TEST(test_one_long_wait_forgets)
{
	struct xio_spin_adapt a = {0};
	xio_spin_adapt_learn(&a, 90 * US, true, 200);
	ck_assert_int_eq(xio_spin_adapt_us(&a, 20, 200), 180);
	xio_spin_adapt_learn(&a, 201 * US, true, 200);
	ck_assert_int_eq(xio_spin_adapt_us(&a, 20, 200), 20);
	/* exactly the cap still counts */
	xio_spin_adapt_learn(&a, 200 * US, true, 200);
	ck_assert_int_eq(xio_spin_adapt_us(&a, 20, 200), 200);
	xio_spin_adapt_learn(&a, 10 * 1000 * US, true, 200);
	ck_assert_int_eq(xio_spin_adapt_us(&a, 20, 200), 20);
}
END_TEST

START_TEST(test_no_data_forgets)
{
	struct xio_spin_adapt a = {0};
	xio_spin_adapt_learn(&a, 90 * US, true, 200);
	xio_spin_adapt_learn(&a, 30 * US, false, 200); /* a timeout or an error */
	ck_assert_int_eq(xio_spin_adapt_us(&a, 20, 200), 20);
}
END_TEST

START_TEST(test_off_stays_off)
{
	struct xio_spin_adapt a = {0};
	xio_spin_adapt_learn(&a, 90 * US, true, 200);
	ck_assert_int_eq(xio_spin_adapt_us(&a, 0, 200), 0);	/* no spin: none learned either */
	ck_assert_int_eq(xio_spin_adapt_us(&a, 20, 0), 20);	/* XIO_SPIN_ADAPT_US=0 */
	ck_assert_int_eq(xio_spin_adapt_us(&a, 500, 200), 500); /* a plain spin above the cap */
	/* with a cap of 0 nothing is learned */
	struct xio_spin_adapt b = {0};
	xio_spin_adapt_learn(&b, 90 * US, true, 0);
	ck_assert_int_eq(xio_spin_adapt_us(&b, 20, 200), 20);
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
	tcase_add_test(tc, test_cap_from_environment);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	xio_sys_use_libc();
	return xt_run(spin_adapt_suite());
}
