/*
 * Bulk stream throughput, like iperf3 -c/-s but also over AF_UNIX (iperf3
 * has no Unix-socket mode), so the Unix-socket column of the iperf3 table can
 * be measured with the same write sizes and stream counts.
 *
 *   xio-bench-stream server ENDPOINT
 *   xio-bench-stream client ENDPOINT STREAMS LEN SECONDS
 *
 * ENDPOINT is tcp:HOST:PORT (or PORT) or unix:PATH. The client opens STREAMS
 * connections (one thread each), sends a 4-byte header with LEN, then writes
 * LEN-byte buffers for SECONDS, shuts its side down and waits for the
 * server's 8-byte count of the bytes it read (with LEN-byte reads), so the
 * time includes draining everything buffered. It prints
 *   streams=P len=L bytes=B secs=S gbps=G
 * The server handles any number of connections, one thread each.
 */
#include "bench.h"

#include <pthread.h>
#include <signal.h>

struct job {
	struct bench_ep ep;
	int fd;
	uint32_t len;
	uint64_t end_ns, bytes;
};

static void *serve_one(void *arg)
{
	struct job *j = arg;
	uint32_t len;
	if (bench_read_all(j->fd, &len, sizeof(len)) == 1 && len > 0 && len <= (64u << 20)) {
		char *buf = malloc(len);
		uint64_t total = 0;
		for (;;) {
			ssize_t r = read(j->fd, buf, len);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				break;
			total += (uint64_t)r;
		}
		bench_write_all(j->fd, &total, sizeof(total));
		free(buf);
	}
	close(j->fd);
	free(j);
	return NULL;
}

/* Serves until killed. */
static _Noreturn void server(const struct bench_ep *ep)
{
	int lfd = bench_listen(ep, 64);
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		int fd = bench_accept(lfd);
		struct job *j = calloc(1, sizeof(*j));
		pthread_t t;
		j->fd = fd;
		if (pthread_create(&t, NULL, serve_one, j) != 0)
			bench_die("pthread_create");
		pthread_detach(t);
	}
}

static void *send_one(void *arg)
{
	struct job *j = arg;
	char *buf = malloc(j->len);
	memset(buf, 's', j->len);
	if (bench_write_all(j->fd, &j->len, sizeof(j->len)) < 0)
		bench_die("write");
	while (bench_now_ns() < j->end_ns)
		if (bench_write_all(j->fd, buf, j->len) < 0)
			bench_die("write");
	shutdown(j->fd, SHUT_WR);
	if (bench_read_all(j->fd, &j->bytes, sizeof(j->bytes)) != 1)
		bench_die("read count");
	close(j->fd);
	free(buf);
	return NULL;
}

static int client(const struct bench_ep *ep, int streams, uint32_t len, double secs)
{
	struct job jobs[64];
	pthread_t t[64];
	if (streams < 1 || streams > 64)
		return 2;
	for (int i = 0; i < streams; i++) {
		jobs[i].fd = bench_connect(ep);
		if (jobs[i].fd < 0)
			bench_die("connect");
		/* Bulk transfer: Nagle on, as iperf3 leaves it (bench_connect sets TCP_NODELAY). */
		int zero = 0;
		if (ep->family == AF_INET)
			setsockopt(jobs[i].fd, IPPROTO_TCP, TCP_NODELAY, &zero, sizeof(zero));
		jobs[i].len = len;
	}
	uint64_t t0 = bench_now_ns();
	for (int i = 0; i < streams; i++) {
		jobs[i].end_ns = t0 + (uint64_t)(secs * 1e9);
		if (pthread_create(&t[i], NULL, send_one, &jobs[i]) != 0)
			bench_die("pthread_create");
	}
	uint64_t bytes = 0;
	for (int i = 0; i < streams; i++) {
		pthread_join(t[i], NULL);
		bytes += jobs[i].bytes;
	}
	double el = (double)(bench_now_ns() - t0) / 1e9;
	printf("streams=%d len=%u bytes=%llu secs=%.3f gbps=%.3f\n", streams, len,
	       (unsigned long long)bytes, el, (double)bytes * 8 / el / 1e9);
	return 0;
}

int main(int argc, char **argv)
{
	struct bench_ep ep;
	signal(SIGPIPE, SIG_IGN);
	if (argc >= 3 && bench_parse_ep(argv[2], &ep) == 0) {
		if (strcmp(argv[1], "server") == 0 && argc == 3)
			server(&ep);
		if (strcmp(argv[1], "client") == 0 && argc == 6)
			return client(&ep, atoi(argv[3]), (uint32_t)atol(argv[4]), atof(argv[5]));
	}
	fprintf(stderr, "usage: %s server ENDPOINT | client ENDPOINT STREAMS LEN SECONDS\n",
		argv[0]);
	return 2;
}
