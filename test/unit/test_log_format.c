/* SPDX-License-Identifier: MIT */
/*
 * Proves the one log line format of every X-IO program (stack/log.c):
 * "<who>: <message>\n", cut to the buffer but always one whole line ending
 * in a newline, whatever the lengths of the prefix and the message; and
 * that xio_log_vline() writes exactly that line to stderr in one write
 * (the manager's mgr_err() and the library's xio_log() both go through it).
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "stack.h"
#include "sys.h"

static size_t fmt(char *buf, size_t len, const char *who, const char *f, ...)
{
	va_list ap;
	va_start(ap, f);
	size_t n = xio_log_format(buf, len, who, f, ap);
	va_end(ap);
	return n;
}

START_TEST(test_plain)
{
	char buf[128];
	size_t n = fmt(buf, sizeof(buf), "xio-manager", "domain '%s' has %d", "fx", 3);
	ck_assert_str_eq(buf, "xio-manager: domain 'fx' has 3\n");
	ck_assert_uint_eq(n, strlen(buf));
}
END_TEST

START_TEST(test_cut_message)
{
	char buf[16], big[100];
	memset(big, 'm', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	size_t n = fmt(buf, sizeof(buf), "xio[7]", "%s", big);
	ck_assert_uint_eq(n, sizeof(buf) - 2 + 1);
	ck_assert_uint_eq(strlen(buf), n);
	ck_assert_int_eq(buf[n - 1], '\n');
	ck_assert(!strncmp(buf, "xio[7]: mmmmmm", 14));
}
END_TEST

START_TEST(test_cut_prefix)
{
	char buf[8];
	size_t n = fmt(buf, sizeof(buf), "a-very-long-program-name", "x");
	ck_assert_uint_eq(n, sizeof(buf) - 1);
	ck_assert_str_eq(buf, "a-very\n");
}
END_TEST

START_TEST(test_every_length)
{
	/* No buffer size (>= 2) and message length gives anything but one terminated line. */
	for (size_t len = 2; len < 40; len++)
		for (int m = 0; m < 50; m++) {
			char buf[48], msg[64];
			memset(buf, '#', sizeof(buf));
			memset(msg, 'z', (size_t)m);
			msg[m] = 0;
			size_t n = fmt(buf, len, "w", "%s", msg);
			ck_assert_uint_lt(n, len);
			ck_assert_uint_eq(strlen(buf), n);
			ck_assert_int_eq(buf[n - 1], '\n');
			ck_assert_msg(memchr(buf, '\n', n - 1) == NULL, "two lines");
			ck_assert_int_eq(buf[len], '#'); /* nothing written past the buffer */
		}
}
END_TEST

static void vline(const char *who, const char *f, ...)
{
	va_list ap;
	va_start(ap, f);
	xio_log_vline(who, f, ap);
	va_end(ap);
}

START_TEST(test_vline_writes_stderr)
{
	int p[2];
	ck_assert_int_eq(pipe(p), 0);
	int saved = dup(STDERR_FILENO);
	ck_assert_int_ge(saved, 0);
	ck_assert_int_eq(dup2(p[1], STDERR_FILENO), STDERR_FILENO);
	vline("xio-manager", "refusing %s", "it");
	dup2(saved, STDERR_FILENO);
	close(p[1]);
	char got[128] = {0};
	ssize_t n = read(p[0], got, sizeof(got) - 1);
	ck_assert_int_gt(n, 0);
	ck_assert_str_eq(got, "xio-manager: refusing it\n");
	close(p[0]);
	close(saved);
}
END_TEST

static Suite *log_format_suite(void)
{
	Suite *s = suite_create("log_format");
	TCase *tc = tcase_create("format");
	tcase_add_test(tc, test_plain);
	tcase_add_test(tc, test_cut_message);
	tcase_add_test(tc, test_cut_prefix);
	tcase_add_test(tc, test_every_length);
	tcase_add_test(tc, test_vline_writes_stderr);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	xio_sys_use_libc();
	return xt_run(log_format_suite());
}
