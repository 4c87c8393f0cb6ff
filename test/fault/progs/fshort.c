/* SPDX-License-Identifier: MIT */
/*
 * fshort: many short connections, and connections held open.
 *
 *   fshort server IP PORT [--ready F]
 *       echo server: one thread per connection, echoes until EOF.
 *   fshort short IP PORT N [--warmup W]
 *       N times: connect, write 64 B (pattern, different per connection),
 *       read the 64 B echo and check it, close. Prints the VmRSS of this
 *       process after W connections (default N/10) and at the end:
 *       "fshort: conns=N failed=F rss_warm_kb=A rss_end_kb=B ms=T".
 *   fshort hold IP PORT K [--ready F]
 *       open K connections, ping each one (64 B echo), create F, then keep
 *       them open until stdin reaches EOF; ping each again, close, exit.
 *
 * Exit: 0 ok, 2 an echo was wrong, 1 connection errors.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>

#include "pattern.h"

#define MSG 64

static int write_all(int fd, const uint8_t *b, size_t n)
{
	while (n) {
		ssize_t r = write(fd, b, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

static int read_all(int fd, uint8_t *b, size_t n)
{
	while (n) {
		ssize_t r = read(fd, b, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

static void *echo_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	uint8_t buf[4096];
	for (;;) {
		ssize_t r = read(fd, buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 || write_all(fd, buf, (size_t)r) < 0)
			break;
	}
	close(fd);
	return NULL;
}

static int serve(const char *ip, int port, const char *ready)
{
	int l = fp_listen(ip, port);
	if (l < 0) {
		fprintf(stderr, "fshort server: listen: %s\n", strerror(-l));
		return 1;
	}
	pthread_attr_t a;
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	fp_mark(ready, "listening\n");
	for (;;) {
		int c = accept(l, NULL, NULL);
		if (c < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			fprintf(stderr, "fshort server: accept: %s\n", strerror(errno));
			return 1;
		}
		pthread_t t;
		if (pthread_create(&t, &a, echo_conn, (void *)(intptr_t)c) != 0)
			close(c);
	}
}

/* One ping on @fd with message number @k. Returns 0, 1 (I/O error) or 2 (bad echo). */
static int ping(int fd, uint64_t k)
{
	uint8_t out[MSG], in[MSG];
	fp_fill(out, 77, k * MSG, MSG);
	if (write_all(fd, out, MSG) < 0 || read_all(fd, in, MSG) < 0)
		return 1;
	return memcmp(in, out, MSG) ? 2 : 0;
}

static int run_short(const char *ip, int port, long n, long warm)
{
	long failed = 0, rss_warm = 0;
	int last_err = 0;
	uint64_t t0 = fp_now_us();
	for (long i = 0; i < n; i++) {
		if (i == warm)
			rss_warm = fp_rss_kb();
		int fd = fp_connect(ip, port);
		if (fd < 0) {
			failed++;
			last_err = -fd;
			continue;
		}
		int r = ping(fd, (uint64_t)i);
		if (r == 2) {
			printf("fshort: CORRUPT echo on connection %ld\n", i);
			return 2;
		}
		if (r) {
			failed++;
			last_err = errno;
		}
		close(fd);
	}
	printf("fshort: conns=%ld failed=%ld rss_warm_kb=%ld rss_end_kb=%ld ms=%llu%s%s\n", n,
	       failed, rss_warm, fp_rss_kb(), (unsigned long long)((fp_now_us() - t0) / 1000),
	       failed ? " last_error=" : "", failed ? strerror(last_err) : "");
	return failed ? 1 : 0;
}

static int run_hold(const char *ip, int port, int k, const char *ready)
{
	int *fds = calloc((size_t)k, sizeof(int));
	for (int i = 0; i < k; i++) {
		fds[i] = fp_connect(ip, port);
		if (fds[i] < 0) {
			fprintf(stderr, "fshort hold: connect %d: %s\n", i, strerror(-fds[i]));
			return 1;
		}
		int r = ping(fds[i], (uint64_t)i);
		if (r) {
			fprintf(stderr, "fshort hold: ping %d failed (%d)\n", i, r);
			return r;
		}
	}
	fp_mark(ready, "holding\n");
	char c;
	while (read(0, &c, 1) > 0 || errno == EINTR)
		;
	int rc = 0;
	for (int i = 0; i < k; i++) {
		int r = ping(fds[i], (uint64_t)(k + i));
		if (r) {
			fprintf(stderr, "fshort hold: second ping %d failed (%d)\n", i, r);
			rc = r;
		}
		close(fds[i]);
	}
	printf("fshort hold: %d connections, rc=%d\n", k, rc);
	return rc;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 4)
		goto usage;
	const char *ready = NULL;
	long warm = -1;
	for (int i = 4; i + 1 < argc; i++) {
		if (!strcmp(argv[i], "--ready"))
			ready = argv[++i];
		else if (!strcmp(argv[i], "--warmup"))
			warm = atol(argv[++i]);
	}
	if (!strcmp(argv[1], "server"))
		return serve(argv[2], atoi(argv[3]), ready);
	if (argc < 5)
		goto usage;
	if (!strcmp(argv[1], "short")) {
		long n = atol(argv[4]);
		return run_short(argv[2], atoi(argv[3]), n, warm >= 0 ? warm : n / 10);
	}
	if (!strcmp(argv[1], "hold"))
		return run_hold(argv[2], atoi(argv[3]), atoi(argv[4]), ready);
usage:
	fprintf(stderr, "usage: fshort server IP PORT [--ready F] | short IP PORT N [--warmup W] |"
			" hold IP PORT K [--ready F]\n");
	return 1;
}
