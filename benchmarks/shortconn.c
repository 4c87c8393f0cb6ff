/*
 * Short connections: connect, 64-byte request, 64-byte response, close.
 *
 *   xio-bench-shortconn server ENDPOINT
 *   xio-bench-shortconn client ENDPOINT SECONDS
 *   xio-bench-shortconn first ENDPOINT
 *
 * One client process loops (blocking calls) for SECONDS after a 0.1 s
 * warm-up; one single-threaded server accepts, reads the request, writes the
 * response and closes once the client has closed (the client closes first, as
 * an HTTP/1.0-style client would). The client prints
 *   conns=N secs=S rate=R p50_us=X p99_us=Y bytes=B errors=E
 * rate is connections per second; the percentiles are of one whole
 * connect..close cycle; bytes counts payload both ways of all cycles.
 *
 * "first" times this process's first cycle and its second one and prints
 *   first_us=X second_us=Y
 * Under X-IO the first connect also attaches the process to the domain, so
 * the difference is the attach cost as a program sees it.
 */
#include "bench.h"

#include <signal.h>

#define MSG 64

/* Serves until killed. */
static _Noreturn void server(const struct bench_ep *ep)
{
	int lfd = bench_listen(ep, 1024);
	char buf[MSG];
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		int fd = bench_accept(lfd);
		bench_nodelay(fd, ep);
		if (bench_read_all(fd, buf, MSG) == 1 && bench_write_all(fd, buf, MSG) == 0)
			while (read(fd, buf, MSG) > 0) /* wait for the client's close */
				;
		close(fd);
	}
}

/* One connect, request, response, close; returns its duration in ns. */
static uint64_t one_cycle(const struct bench_ep *ep)
{
	char buf[MSG];
	memset(buf, 'q', sizeof(buf));
	uint64_t t0 = bench_now_ns();
	int fd = bench_connect(ep);
	if (fd < 0)
		bench_die("connect");
	if (bench_write_all(fd, buf, MSG) < 0 || bench_read_all(fd, buf, MSG) != 1)
		bench_die("request");
	close(fd);
	return bench_now_ns() - t0;
}

static int first(const struct bench_ep *ep)
{
	uint64_t a = one_cycle(ep), b = one_cycle(ep);
	printf("first_us=%.2f second_us=%.2f\n", (double)a / 1e3, (double)b / 1e3);
	return 0;
}

static int client(const struct bench_ep *ep, double secs)
{
	char buf[MSG];
	memset(buf, 'q', sizeof(buf));
	struct bench_samples s = {0};
	uint64_t start = bench_now_ns(), warm_end = start + 100000000u, end = 0, t_meas = 0;
	unsigned long long errors = 0, cycles = 0;
	for (;;) {
		uint64_t t0 = bench_now_ns();
		int fd = bench_connect(ep);
		if (fd < 0) {
			if (++errors > 1000)
				bench_die("connect");
			usleep(1000);
			continue;
		}
		if (bench_write_all(fd, buf, MSG) < 0 || bench_read_all(fd, buf, MSG) != 1) {
			errors++;
			close(fd);
			continue;
		}
		close(fd);
		uint64_t t1 = bench_now_ns();
		cycles++;
		if (!end) {
			if (t1 >= warm_end) {
				end = t1 + (uint64_t)(secs * 1e9);
				t_meas = t1;
			}
			continue;
		}
		bench_sample(&s, t1 - t0);
		if (t1 >= end)
			break;
	}
	double el = (double)(bench_now_ns() - t_meas) / 1e9;
	double p50 = bench_pct_us(&s, 50, 0);
	printf("conns=%zu secs=%.3f rate=%.1f p50_us=%.2f p99_us=%.2f bytes=%llu errors=%llu\n",
	       s.n, el, (double)s.n / el, p50, bench_pct_us(&s, 99, 1), cycles * 2 * MSG, errors);
	return 0;
}

int main(int argc, char **argv)
{
	struct bench_ep ep;
	signal(SIGPIPE, SIG_IGN);
	if (argc >= 3 && bench_parse_ep(argv[2], &ep) == 0) {
		if (strcmp(argv[1], "server") == 0 && argc == 3)
			server(&ep);
		if (strcmp(argv[1], "client") == 0 && argc == 4)
			return client(&ep, atof(argv[3]));
		if (strcmp(argv[1], "first") == 0 && argc == 3)
			return first(&ep);
	}
	fprintf(stderr, "usage: %s server ENDPOINT | client ENDPOINT SECONDS | first ENDPOINT\n",
		argv[0]);
	return 2;
}
