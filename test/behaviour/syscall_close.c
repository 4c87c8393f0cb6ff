/* SPDX-License-Identifier: MIT */
/*
 * Proves: calls made through syscall(2) (libuv, hence node.js, closes fds
 * with syscall(SYS_close) to avoid a cancellation point) act on a TCP
 * connection as the libc calls do: bytes written with SYS_write arrive and
 * SYS_read reads them; SYS_close of a connection gives the peer EOF and the
 * number, reused by a file or a new socket, is that new file; SYS_close of
 * a listener refuses new connects.
 */
#include <sys/syscall.h>

#include "helpers.h"

int main(void)
{
	char buf[64];
	watchdog(20);

	int c, s, l;
	make_pair_l(&c, &s, &l);
	CHECK_EQ(syscall(SYS_write, c, "raw", 3), 3);
	CHECK_EQ(syscall(SYS_read, s, buf, sizeof(buf)), 3);
	CHECK(memcmp(buf, "raw", 3) == 0);

	/* SYS_close: the peer reads EOF; the number is a file now. */
	CHECK_EQ(syscall(SYS_close, s), 0);
	CHECK_EQ(read(c, buf, sizeof(buf)), 0);
	int f = OK(open("/proc/self/cmdline", O_RDONLY));
	CHECK_EQ(f, s);
	CHECK(read(f, buf, sizeof(buf)) > 0);
	close(f);

	/* The number again, as a socket to a fresh connection. */
	struct sockaddr_in a;
	socklen_t al = sizeof(a);
	OK(getsockname(l, (struct sockaddr *)&a, &al));
	int c2 = OK(socket(AF_INET, SOCK_STREAM, 0));
	CHECK_EQ(c2, s);
	OK(connect(c2, (struct sockaddr *)&a, sizeof(a)));
	int s2 = OK(accept(l, NULL, NULL));
	require_xio(c2);
	write_all(c2, "again", 5);
	read_all(s2, buf, 5);
	CHECK(memcmp(buf, "again", 5) == 0);
	close(c2);
	close(s2);
	close(c);

	/* SYS_close of the listener: the port refuses connects. */
	CHECK_EQ(syscall(SYS_close, l), 0);
	int c3 = OK(socket(AF_INET, SOCK_STREAM, 0));
	CHECK_ERR(connect(c3, (struct sockaddr *)&a, sizeof(a)), ECONNREFUSED);
	close(c3);
	printf("ok\n");
	return 0;
}
