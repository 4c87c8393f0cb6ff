/* SPDX-License-Identifier: MIT */
/*
 * Proves: 8 threads, each with its own connections made concurrently
 * (listen, connect, accept inside the thread) and an echo thread per
 * connection, run 2000 request/echo round trips of varying sizes each at the
 * same time, every byte intact and every connection X-IO; then all close and
 * every echo thread sees EOF.
 */
#include <pthread.h>

#include "helpers.h"

#define THREADS 8
#define ROUNDS	2000

static void *echo(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[4096];
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		CHECK(n >= 0);
		if (n == 0)
			break;
		write_all(fd, buf, (size_t)n);
	}
	close(fd);
	return NULL;
}

static void *client(void *arg)
{
	unsigned id = (unsigned)(intptr_t)arg;
	int c, s;
	make_pair(&c, &s);
	pthread_t e;
	pthread_create(&e, NULL, echo, (void *)(intptr_t)s);
	char out[3000], in[3000];
	uint64_t off = 0;
	for (unsigned i = 0; i < ROUNDS; i++) {
		size_t n = 1 + (i * 7919u + id * 31u) % sizeof(out);
		pat_fill(out, n, off, id);
		write_all(c, out, n);
		read_all(c, in, n);
		pat_check(in, n, off, id);
		off += n;
	}
	require_xio(c);
	OK(shutdown(c, SHUT_WR));
	char b;
	CHECK_EQ(read(c, &b, 1), 0);
	pthread_join(e, NULL);
	close(c);
	return NULL;
}

int main(void)
{
	pthread_t t[THREADS];

	watchdog(28);
	setvbuf(stdout, NULL, _IONBF, 0);
	for (int i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, client, (void *)(intptr_t)(i + 1));
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	printf("threads_many: ok\n");
	return 0;
}
