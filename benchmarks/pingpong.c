/*
 * Ping-pong round-trip time over one stream connection, blocking calls.
 *
 *   xio-bench-pingpong server ENDPOINT
 *   xio-bench-pingpong client ENDPOINT SIZE SECONDS
 *
 * ENDPOINT is tcp:HOST:PORT (or just PORT) or unix:PATH. The server accepts
 * connections one after another and echoes every byte back. The client sends
 * SIZE bytes, reads SIZE bytes back, and repeats for SECONDS (after a warm-up
 * of 1000 round trips or 0.1 s), timing every round trip. It prints one line:
 *   size=64 rtts=N p50_us=X p99_us=Y mean_us=Z min_us=W bytes=B
 * where bytes counts both directions of the measured and warm-up turns.
 * Run both ends under `xio-run` to measure X-IO.
 */
#include "bench.h"

#include <signal.h>

/* Serves until killed. */
static _Noreturn void server(const struct bench_ep *ep)
{
	int lfd = bench_listen(ep, 16);
	char *buf = malloc(1 << 20);
	if (!buf)
		bench_die("malloc");
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		int fd = bench_accept(lfd);
		bench_nodelay(fd, ep);
		for (;;) {
			ssize_t r = read(fd, buf, 1 << 20);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				break;
			if (bench_write_all(fd, buf, (size_t)r) < 0)
				break;
		}
		close(fd);
	}
}

static int client(const struct bench_ep *ep, size_t size, double secs)
{
	char *buf = malloc(size);
	if (!buf)
		bench_die("malloc");
	memset(buf, 'p', size);
	int fd = bench_connect(ep);
	if (fd < 0)
		bench_die("connect");

	struct bench_rtt rt;
	bench_rtt_init(&rt, secs);
	for (;;) {
		uint64_t t0 = bench_now_ns();
		if (bench_write_all(fd, buf, size) < 0)
			bench_die("write");
		int r = bench_read_all(fd, buf, size);
		if (r <= 0) {
			if (r == 0)
				errno = ECONNRESET;
			bench_die("read");
		}
		if (bench_rtt_add(&rt, t0, bench_now_ns()))
			break;
	}
	close(fd);

	bench_rtt_print(&rt, size);
	printf("\n");
	return 0;
}

int main(int argc, char **argv)
{
	struct bench_ep ep;
	signal(SIGPIPE, SIG_IGN);
	if (argc >= 3 && bench_parse_ep(argv[2], &ep) == 0) {
		if (strcmp(argv[1], "server") == 0 && argc == 3)
			server(&ep);
		if (strcmp(argv[1], "client") == 0 && argc == 5)
			return client(&ep, (size_t)atol(argv[3]), atof(argv[4]));
	}
	fprintf(stderr, "usage: %s server ENDPOINT | client ENDPOINT SIZE SECONDS\n", argv[0]);
	return 2;
}
