/* SPDX-License-Identifier: MIT */
/*
 * Proves that there is one domain-name rule and that it refuses every name
 * that is not a plain directory name of the run directory: "", ".", "..",
 * anything with "/" or another character outside [A-Za-z0-9_.-], and names
 * longer than 32 characters; and that the library applies that same rule to
 * XIO_DOMAIN (a refused name means kernel TCP, never a directory outside
 * the run directory). xio-run, xio-manager and xio-stat call the same
 * function (stack.h), so what is proved here holds for all of them.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "stack.h"
#include "sys.h"

static const char *const good[] = {
    "xio",
    "a",
    "A",
    "0",
    "_",
    "-",
    "...",
    ".a",
    "a.",
    "a..b",
    "t_bad_input",
    "fx-11.v2",
    "abcdefghijklmnopqrstuvwxyz012345", /* 32 */
};

static const char *const bad[] = {
    "",
    ".",
    "..",
    "/",
    "a/b",
    "../etc",
    "./",
    "/xio",
    "xio/",
    "a b",
    "a\tb",
    "a\nb",
    "abcdefghijklmnopqrstuvwxyz0123456", /* 33 */
    "x\xc3\xa9",
    "*",
    "?",
    "~",
    "$HOME",
    "a:b",
    "a\\b",
};

START_TEST(test_good_names)
{
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		ck_assert_msg(xio_domain_name_ok(good[i]), "'%s' refused", good[i]);
}
END_TEST

START_TEST(test_bad_names)
{
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(!xio_domain_name_ok(bad[i]), "'%s' accepted", bad[i]);
}
END_TEST

/* Every single byte: exactly the 65 of [A-Za-z0-9_.-] make a name alone ("." excepted). */
START_TEST(test_every_byte)
{
	int ok = 0;
	for (int c = 1; c < 256; c++) {
		char name[3] = {'a', (char)c, 0};
		bool want = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
		ck_assert_msg(xio_domain_name_ok(name) == want, "byte 0x%02x", c);
		ok += want;
	}
	ck_assert_int_eq(ok, 65);
}
END_TEST

START_TEST(test_length_limit)
{
	char name[XIO_DOMAIN_MAX + 2];
	memset(name, 'd', sizeof(name));
	name[XIO_DOMAIN_MAX] = 0;
	ck_assert(xio_domain_name_ok(name));
	name[XIO_DOMAIN_MAX] = 'd';
	name[XIO_DOMAIN_MAX + 1] = 0;
	ck_assert(!xio_domain_name_ok(name));
}
END_TEST

/*
 * The configuration is read once per process: look at it in a child of our
 * own, so that the answer is fresh also when Check does not fork (CK_FORK=no,
 * as under valgrind).
 */
static void config_with_domain(const char *d, bool want_disabled, const char *want_domain)
{
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		setenv("XIO_DOMAIN", d, 1);
		setenv("XIO_RUNDIR", "/nonexistent-xio-unit", 1);
		unsetenv("XIO_DISABLE");
		unsetenv("XIO_LOG");
		const struct xio_config *c = xio_config();
		_exit(c->disabled == want_disabled &&
			      (!want_domain || !strcmp(c->domain, want_domain))
			  ? 0
			  : 1);
	}
	int st = 0;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		      "XIO_DOMAIN='%s': disabled should be %d", d, want_disabled);
}

START_TEST(test_library_refuses_dot)
{
	config_with_domain(".", true, NULL);
}
END_TEST

START_TEST(test_library_refuses_dotdot)
{
	config_with_domain("..", true, NULL);
}
END_TEST

START_TEST(test_library_refuses_slash)
{
	config_with_domain("../etc", true, NULL);
}
END_TEST

START_TEST(test_library_accepts_name)
{
	config_with_domain("fx_unit", false, "fx_unit");
}
END_TEST

static Suite *domain_name_suite(void)
{
	Suite *s = suite_create("domain_name");
	TCase *tc = tcase_create("rule");
	tcase_add_test(tc, test_good_names);
	tcase_add_test(tc, test_bad_names);
	tcase_add_test(tc, test_every_byte);
	tcase_add_test(tc, test_length_limit);
	tcase_add_test(tc, test_library_refuses_dot);
	tcase_add_test(tc, test_library_refuses_dotdot);
	tcase_add_test(tc, test_library_refuses_slash);
	tcase_add_test(tc, test_library_accepts_name);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	xio_sys_use_libc();
	return xt_run(domain_name_suite());
}
