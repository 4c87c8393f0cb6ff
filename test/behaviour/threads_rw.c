/* SPDX-License-Identifier: MIT */
/*
 * Proves: one connection used by two threads at once on each end — one
 * thread reading while another writes the same fd — carries 32 MiB in each
 * direction intact (position-dependent pattern, random write and read sizes,
 * blocking calls sleeping and waking each other), and EOF arrives on both
 * sides after both writers shut down.
 */
#include <pthread.h>

#include "helpers.h"

#define TOTAL (32u << 20)

struct job {
	int fd;
	unsigned seed;
	int shut; /* writer: shutdown(SHUT_WR) when done */
};

static void *writer(void *arg)
{
	struct job *j = arg;
	static __thread char buf[70000];
	unsigned r = j->seed;
	for (uint64_t off = 0; off < TOTAL;) {
		r = r * 1103515245u + 12345u;
		size_t n = 1 + (r >> 8) % sizeof(buf);
		if (n > TOTAL - off)
			n = TOTAL - off;
		pat_fill(buf, n, off, j->seed);
		write_all(j->fd, buf, n);
		off += n;
	}
	if (j->shut)
		OK(shutdown(j->fd, SHUT_WR));
	return NULL;
}

static void *reader(void *arg)
{
	struct job *j = arg;
	static __thread char buf[70000];
	unsigned r = j->seed ^ 0x5555u;
	uint64_t off = 0;
	for (;;) {
		r = r * 1103515245u + 12345u;
		size_t n = 1 + (r >> 8) % sizeof(buf);
		ssize_t k = read(j->fd, buf, n);
		if (k < 0 && errno == EINTR)
			continue;
		CHECK(k >= 0);
		if (k == 0)
			break;
		pat_check(buf, (size_t)k, off, j->seed);
		off += (uint64_t)k;
	}
	CHECK_EQ(off, TOTAL);
	return NULL;
}

int main(void)
{
	int c, s;

	watchdog(28);
	setvbuf(stdout, NULL, _IONBF, 0);
	make_pair(&c, &s);
	/* c -> s with seed 1, s -> c with seed 2; reader and writer of an fd are different threads.
	 */
	struct job cw = {c, 1, 1}, sr = {s, 1, 0}, sw = {s, 2, 1}, cr = {c, 2, 0};
	pthread_t t[4];
	pthread_create(&t[0], NULL, writer, &cw);
	pthread_create(&t[1], NULL, reader, &sr);
	pthread_create(&t[2], NULL, writer, &sw);
	pthread_create(&t[3], NULL, reader, &cr);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	require_xio(c);
	require_xio(s);
	close(c);
	close(s);
	printf("threads_rw: ok\n");
	return 0;
}
