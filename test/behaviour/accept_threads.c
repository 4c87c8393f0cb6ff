/* SPDX-License-Identifier: MIT */
/*
 * Proves: 4 threads blocked in accept() on one listener share the incoming
 * connections: 4 clients held open at once are served by 4 different
 * threads, ten rounds in a row, every accepted connection X-IO and every
 * request answered once; a "quit" per thread ends them all.
 */
#include <pthread.h>

#include "helpers.h"

#define THREADS 4
#define ROUNDS	10
#define QUIT	0xffffffffu

static int l;

struct reply {
	uint32_t id;
	uint32_t thread;
	int32_t kind;
};

static void *acceptor(void *arg)
{
	uint32_t me = (uint32_t)(intptr_t)arg;
	for (;;) {
		int fd = accept(l, NULL, NULL);
		if (fd < 0 && errno == EINTR)
			continue;
		CHECK(fd >= 0);
		struct reply r = {.thread = me, .kind = fd_kind(fd)};
		read_all(fd, &r.id, sizeof(r.id));
		write_all(fd, &r, sizeof(r));
		uint32_t id = r.id;
		char b;
		CHECK_EQ(read(fd, &b, 1), 0); /* busy until the client closes */
		close(fd);
		if (id == QUIT)
			return NULL;
	}
}

int main(void)
{
	uint16_t port;
	pthread_t t[THREADS];

	watchdog(25);
	setvbuf(stdout, NULL, _IONBF, 0);
	l = listen_lo(&port);
	for (int i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, acceptor, (void *)(intptr_t)i);

	for (uint32_t round = 0; round <= ROUNDS; round++) {
		int fds[THREADS];
		struct reply r[THREADS];
		for (int i = 0; i < THREADS; i++) {
			fds[i] = connect_lo(port);
			require_xio(fds[i]);
			uint32_t id = round == ROUNDS ? QUIT : round * 100 + (uint32_t)i;
			write_all(fds[i], &id, sizeof(id));
		}
		unsigned seen = 0;
		for (int i = 0; i < THREADS; i++) {
			read_all(fds[i], &r[i], sizeof(r[i]));
			CHECK_EQ(r[i].id, round == ROUNDS ? QUIT : round * 100 + (uint32_t)i);
			CHECK(r[i].thread < THREADS);
			if (xio_expected())
				CHECK_EQ(r[i].kind, 1);
			if (seen & (1u << r[i].thread))
				FAIL("round %u: thread %u served two clients", round, r[i].thread);
			seen |= 1u << r[i].thread;
		}
		for (int i = 0; i < THREADS; i++)
			close(fds[i]);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	close(l);
	printf("accept_threads: ok\n");
	return 0;
}
