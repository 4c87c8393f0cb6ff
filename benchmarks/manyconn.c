/*
 * Many persistent connections doing ping-pong, both ends on epoll (the X-IO
 * paper's Fig. 10: message rate against the number of connections).
 *
 *   xio-bench-manyconn server ENDPOINT
 *   xio-bench-manyconn client ENDPOINT CONNS SIZE SECONDS [hold]
 *   xio-bench-manyconn idle ENDPOINT CONNS
 *
 * The server is one thread: a level-triggered epoll loop that accepts and
 * echoes whatever it reads. The client is one thread: it opens CONNS
 * connections, keeps one SIZE-byte message in flight on each, and counts
 * completed round trips for SECONDS after a warm-up (0.1 s and three round
 * trips per connection, whichever is later). It prints
 *   conns=N msgs=M secs=S rate=R p50_us=X p99_us=Y bytes=B connect_us=C
 * rate is round trips per second over all connections; the percentiles are
 * of one message's round trip, of the messages sent after the warm-up; bytes counts payload both
 * ways; connect_us is the mean time of one connect (with its epoll_ctl) while opening them. With
 * `hold` the client then prints "holding CONNS" and keeps its connections open, idle, until it is
 * killed (tests look at the domain's memory meanwhile).
 *
 * `idle` opens CONNS connections, makes one 64-byte round trip on each (so the
 * server has accepted them all), prints "idle CONNS" and then waits in
 * epoll_wait on all of them until it is killed: the idle-cost measurement
 * reads its CPU time (and the server's) from /proc.
 */
#include "bench.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/epoll.h>

static void set_nonblock(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* Write all of @buf to a non-blocking socket, waiting in poll() when full. */
static int write_all_nb(int fd, const char *buf, size_t n)
{
	while (n) {
		ssize_t w = write(fd, buf, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				struct pollfd p = {.fd = fd, .events = POLLOUT};
				poll(&p, 1, 1000);
				continue;
			}
			return -1;
		}
		buf += w;
		n -= (size_t)w;
	}
	return 0;
}

static int server(const struct bench_ep *ep)
{
	bench_raise_nofile();
	int lfd = bench_listen(ep, 4096);
	set_nonblock(lfd);
	int ep_fd = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd}, evs[256];
	epoll_ctl(ep_fd, EPOLL_CTL_ADD, lfd, &ev);
	static char buf[1 << 16];
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		int n = epoll_wait(ep_fd, evs, 256, -1);
		if (n < 0 && errno != EINTR)
			bench_die("epoll_wait");
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == lfd) {
				int c;
				while ((c = accept4(lfd, NULL, NULL,
						    SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
					bench_nodelay(c, ep);
					struct epoll_event ce = {.events = EPOLLIN, .data.fd = c};
					epoll_ctl(ep_fd, EPOLL_CTL_ADD, c, &ce);
				}
				continue;
			}
			ssize_t r = read(fd, buf, sizeof(buf));
			if (r < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (r <= 0 || write_all_nb(fd, buf, (size_t)r) < 0) {
				epoll_ctl(ep_fd, EPOLL_CTL_DEL, fd, NULL);
				close(fd);
			}
		}
	}
}

struct cconn {
	int fd;
	size_t got;
	uint64_t sent_ns;
};

static int client(const struct bench_ep *ep, int nconns, size_t size, double secs, bool hold)
{
	bench_raise_nofile();
	struct cconn *c = calloc((size_t)nconns, sizeof(*c));
	char *msg = malloc(size), *buf = malloc(1 << 16);
	memset(msg, 'm', size);
	int ep_fd = epoll_create1(EPOLL_CLOEXEC);
	uint64_t t_conn = bench_now_ns();
	for (int i = 0; i < nconns; i++) {
		c[i].fd = bench_connect(ep);
		if (c[i].fd < 0)
			bench_die("connect");
		set_nonblock(c[i].fd);
		struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
		if (epoll_ctl(ep_fd, EPOLL_CTL_ADD, c[i].fd, &ev) < 0)
			bench_die("epoll_ctl");
	}
	t_conn = bench_now_ns() - t_conn;
	for (int i = 0; i < nconns; i++) {
		c[i].sent_ns = bench_now_ns();
		if (write_all_nb(c[i].fd, msg, size) < 0)
			bench_die("write");
	}
	struct bench_samples s = {0};
	struct epoll_event evs[256];
	/*
	 * Warm-up: 100 ms and three round trips per connection, whichever is
	 * later. At 10,000 connections one kernel TCP round trip takes ~60 ms, so
	 * 100 ms alone ended inside the start (the connect flood, every ring's
	 * and socket's first touch), and that start was measured. Only messages
	 * sent after the warm-up are measured.
	 */
	uint64_t warm_end = bench_now_ns() + 100000000u, t_meas = 0, end = 0, turns = 0;
	uint64_t warm_turns = 3 * (uint64_t)nconns, counted = 0;
	for (;;) {
		int n = epoll_wait(ep_fd, evs, 256, 1000);
		if (n < 0 && errno != EINTR)
			bench_die("epoll_wait");
		uint64_t now = bench_now_ns();
		for (int k = 0; k < n; k++) {
			struct cconn *cc = &c[evs[k].data.u32];
			ssize_t r = read(cc->fd, buf, 1 << 16);
			if (r < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (r <= 0) {
				if (r == 0)
					errno = ECONNRESET;
				bench_die("read");
			}
			cc->got += (size_t)r;
			while (cc->got >= size) {
				cc->got -= size;
				turns++;
				if (end)
					counted++; /* the rate: every round trip ending in the
						      window */
				if (end && cc->sent_ns >= t_meas)
					bench_sample(&s, now - cc->sent_ns);
				cc->sent_ns = now;
				if (write_all_nb(cc->fd, msg, size) < 0)
					bench_die("write");
			}
		}
		if (!end && now >= warm_end && turns >= warm_turns) {
			t_meas = now;
			end = now + (uint64_t)(secs * 1e9);
		} else if (end && now >= end) {
			break;
		}
	}
	double el = (double)(bench_now_ns() - t_meas) / 1e9;
	double p50 = bench_pct_us(&s, 50, 0);
	printf("conns=%d msgs=%zu secs=%.3f rate=%.1f p50_us=%.2f p99_us=%.2f bytes=%llu "
	       "connect_us=%.1f\n",
	       nconns, (size_t)counted, el, (double)counted / el, p50, bench_pct_us(&s, 99, 1),
	       (unsigned long long)(turns * size * 2), (double)t_conn / 1e3 / nconns);
	if (hold) {
		/* the answers to the last messages, so that every connection is idle */
		for (int i = 0; i < nconns; i++) {
			while (c[i].got < size) {
				ssize_t r = read(c[i].fd, buf, size - c[i].got);
				if (r > 0)
					c[i].got += (size_t)r;
				else if (r == 0 || (errno != EAGAIN && errno != EINTR))
					bench_die("read");
				else
					poll(&(struct pollfd){.fd = c[i].fd, .events = POLLIN}, 1,
					     1000);
			}
		}
		printf("holding %d\n", nconns);
		fflush(stdout);
		for (;;)
			pause();
	}
	for (int i = 0; i < nconns; i++)
		close(c[i].fd);
	return 0;
}

static int idle(const struct bench_ep *ep, int nconns)
{
	bench_raise_nofile();
	int ep_fd = epoll_create1(EPOLL_CLOEXEC);
	char msg[64];
	memset(msg, 'i', sizeof(msg));
	for (int i = 0; i < nconns; i++) {
		int fd = bench_connect(ep);
		if (fd < 0)
			bench_die("connect");
		if (bench_write_all(fd, msg, sizeof(msg)) < 0 ||
		    bench_read_all(fd, msg, sizeof(msg)) != 1)
			bench_die("round trip");
		struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
		epoll_ctl(ep_fd, EPOLL_CTL_ADD, fd, &ev);
	}
	printf("idle %d\n", nconns);
	fflush(stdout);
	for (;;) {
		struct epoll_event ev;
		if (epoll_wait(ep_fd, &ev, 1, -1) > 0) {
			fprintf(stderr, "idle: a connection became readable\n");
			return 1;
		}
	}
}

int main(int argc, char **argv)
{
	struct bench_ep ep;
	signal(SIGPIPE, SIG_IGN);
	if (argc >= 3 && bench_parse_ep(argv[2], &ep) == 0) {
		if (strcmp(argv[1], "server") == 0 && argc == 3)
			return server(&ep);
		if (strcmp(argv[1], "client") == 0 && (argc == 6 || argc == 7))
			return client(&ep, atoi(argv[3]), (size_t)atol(argv[4]), atof(argv[5]),
				      argc == 7 && strcmp(argv[6], "hold") == 0);
		if (strcmp(argv[1], "idle") == 0 && argc == 4)
			return idle(&ep, atoi(argv[3]));
	}
	fprintf(
	    stderr,
	    "usage: %s server ENDPOINT | client ENDPOINT CONNS SIZE SECONDS [hold] | idle ENDPOINT "
	    "CONNS\n",
	    argv[0]);
	return 2;
}
