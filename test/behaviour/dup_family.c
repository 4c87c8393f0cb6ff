/* SPDX-License-Identifier: MIT */
/*
 * Proves: dup, dup2, dup3 (O_CLOEXEC), F_DUPFD and F_DUPFD_CLOEXEC of a
 * connection give descriptors that are the same connection (all X-IO, data
 * written through any reaches the peer in order, data read through any is
 * consumed once, O_NONBLOCK set through one is seen through all, the
 * requested numbers and FD_CLOEXEC flags are as asked); closing some copies
 * gives the peer no EOF, closing the last does; dup2/dup3 of another file
 * over a connection's only descriptor closes that connection (the peer sees
 * EOF) and the number then is that other file; dup2 of a connection over
 * another connection closes the latter; dup2(fd, fd) returns fd; dup3(fd,
 * fd) is EINVAL; bad descriptors are EBADF.
 */
#include <poll.h>

#include "helpers.h"

/* The peer @c sees nothing (no EOF, no data) for @ms. */
static void quiet(int c, int ms)
{
	struct pollfd p = {.fd = c, .events = POLLIN | POLLRDHUP};
	CHECK_EQ(poll(&p, 1, ms), 0);
}

static void eof_on(int c)
{
	char b;
	struct pollfd p = {.fd = c, .events = POLLIN};
	CHECK_EQ(poll(&p, 1, 1000), 1);
	CHECK_EQ(read(c, &b, 1), 0);
}

static int cloexec(int fd)
{
	return (OK(fcntl(fd, F_GETFD)) & FD_CLOEXEC) != 0;
}

int main(void)
{
	char buf[64];
	int c, s;

	watchdog(20);
	setvbuf(stdout, NULL, _IONBF, 0);
	make_pair(&c, &s);

	int d1 = OK(dup(s));
	CHECK_EQ(dup2(s, 100), 100);
	CHECK_EQ(dup3(s, 101, O_CLOEXEC), 101);
	int d4 = OK(fcntl(s, F_DUPFD, 200));
	int d5 = OK(fcntl(s, F_DUPFD_CLOEXEC, 300));
	CHECK(d4 >= 200 && d4 < 300);
	CHECK(d5 >= 300);
	int all[] = {s, d1, 100, 101, d4, d5};
	int want_cloexec[] = {0, 0, 0, 1, 0, 1};
	for (int i = 0; i < 6; i++) {
		require_xio(all[i]);
		CHECK_EQ(cloexec(all[i]), want_cloexec[i]);
	}

	/* Writes through every copy arrive in order; reads through every copy consume once. */
	for (int i = 0; i < 6; i++) {
		char m = (char)('a' + i);
		write_all(all[i], &m, 1);
	}
	read_all(c, buf, 6);
	CHECK(memcmp(buf, "abcdef", 6) == 0);
	write_all(c, "ABCDEF", 6);
	sleep_ms(20);
	for (int i = 0; i < 6; i++) {
		CHECK_EQ(read(all[i], buf + i, 1), 1);
		CHECK_EQ(buf[i], 'A' + i);
	}
	CHECK_ERR(recv(s, buf, 1, MSG_DONTWAIT), EAGAIN);

	/* O_NONBLOCK belongs to the open file: set on one copy, seen on all. */
	set_nonblock(d1, 1);
	for (int i = 0; i < 6; i++) {
		CHECK(OK(fcntl(all[i], F_GETFL)) & O_NONBLOCK);
		CHECK_ERR(read(all[i], buf, 1), EAGAIN);
	}
	set_nonblock(100, 0);
	CHECK_EQ(OK(fcntl(d5, F_GETFL)) & O_NONBLOCK, 0);

	/* dup2(fd, fd) is fd; dup3(fd, fd) is EINVAL; bad descriptors EBADF. */
	CHECK_EQ(dup2(s, s), s);
	CHECK_ERR(dup3(s, s, 0), EINVAL);
	CHECK_ERR(dup(999), EBADF);
	CHECK_ERR(dup2(999, 400), EBADF);

	/* Close all copies but one: no EOF. */
	OK(close(s));
	OK(close(d1));
	OK(close(100));
	OK(close(101));
	OK(close(d4));
	quiet(c, 100);
	write_all(d5, "z", 1);
	read_all(c, buf, 1);
	CHECK_EQ(buf[0], 'z');
	/* The last one: EOF. */
	OK(close(d5));
	eof_on(c);
	close(c);

	/* dup2 of another file over a connection's only descriptor closes the connection. */
	make_pair(&c, &s);
	int null = OK(open("/dev/null", O_RDWR));
	CHECK_EQ(dup2(null, s), s);
	eof_on(c);
	CHECK_EQ(fd_kind(s) > 0, 0);
	CHECK_EQ(write(s, "xyz", 3), 3); /* /dev/null now */
	CHECK_EQ(read(s, buf, sizeof(buf)), 0);
	close(s);
	close(c);

	/* dup3 the same way. */
	make_pair(&c, &s);
	CHECK_EQ(dup3(null, s, O_CLOEXEC), s);
	eof_on(c);
	CHECK_EQ(cloexec(s), 1);
	CHECK_EQ(write(s, "xyz", 3), 3);
	close(s);
	close(c);

	/* dup2 of one connection over another: the overwritten one is closed, the other lives. */
	int c1, s1, c2, s2;
	make_pair(&c1, &s1);
	make_pair(&c2, &s2);
	CHECK_EQ(dup2(s1, s2), s2);
	eof_on(c2);
	require_xio(s2);
	write_all(s2, "via-s2", 6);
	read_all(c1, buf, 6);
	CHECK(memcmp(buf, "via-s2", 6) == 0);
	write_all(c1, "to-s1", 5);
	read_all(s1, buf, 5);
	CHECK(memcmp(buf, "to-s1", 5) == 0);
	close(s1);
	quiet(c1, 100);
	close(s2);
	eof_on(c1);
	close(c1);
	close(c2);

	/* dup2 of a connection over a plain file: the number becomes the connection. */
	make_pair(&c, &s);
	int f = OK(open("/dev/null", O_RDONLY));
	CHECK_EQ(dup2(s, f), f);
	require_xio(f);
	write_all(f, "nf", 2);
	read_all(c, buf, 2);
	CHECK(memcmp(buf, "nf", 2) == 0);
	close(s);
	close(f);
	eof_on(c);
	close(c);
	close(null);

	printf("dup_family: ok\n");
	return 0;
}
