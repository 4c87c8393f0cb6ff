/* SPDX-License-Identifier: MIT */
/*
 * Proves: after shutdown(SHUT_WR) a connection is half open, as on TCP: the
 * side that shut down can no longer write (EPIPE) but keeps reading; the
 * other side reads the bytes sent before the shutdown, then EOF (repeatable),
 * and can still send 1 MiB back, all of which arrives; EOF reaches the first
 * side only once everything is read and the other side shuts down too;
 * shutdown twice is fine, on an unconnected socket ENOTCONN, a bad "how"
 * EINVAL.
 */
#include <pthread.h>

#include "helpers.h"

#define BACK (1u << 20)

static int c, s;

static void *send_back(void *arg)
{
	(void)arg;
	static char buf[BACK];
	pat_fill(buf, BACK, 0, 14);
	write_all(s, buf, BACK);
	OK(shutdown(s, SHUT_WR));
	return NULL;
}

int main(void)
{
	static char buf[65536];

	watchdog(25);
	setvbuf(stdout, NULL, _IONBF, 0);
	signal(SIGPIPE, SIG_IGN);
	make_pair(&c, &s);

	write_all(c, "request", 7);
	OK(shutdown(c, SHUT_WR));
	OK(shutdown(c, SHUT_WR)); /* twice is fine */
	CHECK_ERR(write(c, "x", 1), EPIPE);

	read_all(s, buf, 7);
	CHECK(memcmp(buf, "request", 7) == 0);
	CHECK_EQ(read(s, buf, sizeof(buf)), 0);
	CHECK_EQ(read(s, buf, sizeof(buf)), 0);

	/* The other direction is still open: 1 MiB back. */
	pthread_t t;
	pthread_create(&t, NULL, send_back, NULL);
	uint64_t off = 0;
	for (;;) {
		ssize_t n = read(c, buf, sizeof(buf));
		CHECK(n >= 0);
		if (n == 0)
			break;
		pat_check(buf, (size_t)n, off, 14);
		off += (uint64_t)n;
	}
	CHECK_EQ(off, BACK);
	pthread_join(t, NULL);
	CHECK_EQ(read(c, buf, sizeof(buf)), 0);
	require_xio(c);
	require_xio(s);

	CHECK_ERR(shutdown(c, 7), EINVAL);
	close(c);
	close(s);
	int u = OK(socket(AF_INET, SOCK_STREAM, 0));
	CHECK_ERR(shutdown(u, SHUT_WR), ENOTCONN);
	close(u);
	printf("half_close: ok\n");
	return 0;
}
