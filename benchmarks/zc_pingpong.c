/*
 * Ping-pong round-trip time over one X-IO connection with X-IO's native
 * zero-copy calls (include/xio.h), the counterpart of pingpong.c.
 *
 *   xio-bench-zc-pingpong server ENDPOINT [MODE]
 *   xio-bench-zc-pingpong client ENDPOINT SIZE SECONDS [MODE]
 *
 * Same arguments, same timing (after a warm-up of 1000 round trips or
 * 0.1 s) and same output line as pingpong.c:
 *   size=64 rtts=N p50_us=X p99_us=Y mean_us=Z min_us=W bytes=B
 * MODE (or $XIO_ZC_MODE; default txrx) picks the calls on both ends:
 *   txrx  xio_malloc'd buffer, xio_tx / xio_rx: only a descriptor moves; the
 *         server echoes the very buffer it received;
 *   ring  xio_send_reserve/xio_send_commit to write the message in place in
 *         the ring, xio_recv_peek/xio_recv_consume to read it in place; the
 *         server copies from its receive ring into its send ring.
 * Every receiver reads every byte of every message (sums it), so the
 * comparison with pingpong.c's read()/write() copies is fair; the client
 * also stamps each message with its turn number and checks the echo.
 *
 * Both ends must run under `xio-run` with an X-IO connection: the xio_*
 * symbols are looked up at run time (dlsym), and a connection that X-IO does
 * not carry is an error, not a silent measurement of kernel TCP.
 */
#include "xio.h"

#include "bench.h"

#include <signal.h>

static struct bench_xio X;
static volatile uint64_t sink; /* what the receivers read, kept so the reads stay */

/* Read every byte of [@p, @p + @n): a sum over 8-byte words (the speed of a copy's reads). */
static uint64_t sum_bytes(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint64_t s = 0, w;
	size_t i = 0;
	for (; i + sizeof(w) <= n; i += sizeof(w)) {
		memcpy(&w, b + i, sizeof(w));
		s += w;
	}
	for (; i < n; i++)
		s += b[i];
	return s;
}

static int ring_mode(const char *arg)
{
	const char *m = arg ? arg : getenv("XIO_ZC_MODE");
	if (!m || !strcmp(m, "txrx"))
		return 0;
	if (!strcmp(m, "ring"))
		return 1;
	fprintf(stderr, "unknown mode '%s' (txrx or ring)\n", m);
	exit(2);
}

/* Echo records until EOF: 0, or -1 on error. */
static int serve_txrx(int fd)
{
	for (;;) {
		void *b;
		ssize_t n = X.rx(fd, &b);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return (int)n;
		sink += sum_bytes(b, (size_t)n);
		if (X.tx(fd, b, (size_t)n) < 0) {
			X.free(b);
			return -1;
		}
	}
}

static int serve_ring(int fd)
{
	for (;;) {
		const void *p;
		ssize_t n = X.recv_peek(fd, &p);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return (int)n;
		for (size_t done = 0; done < (size_t)n;) {
			void *w;
			ssize_t m = X.send_reserve(fd, (size_t)n - done, &w);
			if (m < 0) {
				X.recv_consume(fd, 0);
				return -1;
			}
			memcpy(w, (const char *)p + done, (size_t)m); /* reads every byte */
			X.send_commit(fd, w, (size_t)m);
			done += (size_t)m;
		}
		X.recv_consume(fd, (size_t)n);
	}
}

/* Serves until killed. */
static _Noreturn void server(const struct bench_ep *ep, int ring)
{
	int lfd = bench_listen(ep, 16);
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		int fd = bench_accept(lfd);
		bench_nodelay(fd, ep);
		if (X.fd_kind(fd) != 1) {
			fprintf(stderr, "accepted a connection X-IO does not carry: closed\n");
			close(fd);
			continue;
		}
		if ((ring ? serve_ring(fd) : serve_txrx(fd)) < 0)
			fprintf(stderr, "echo: %s\n", strerror(errno));
		close(fd);
	}
}

/* One turn with xio_tx/xio_rx; *@buf is the buffer to send, the echoed one on return. */
static void turn_txrx(int fd, void **buf, size_t size, uint64_t turn)
{
	if (!*buf && !(*buf = X.malloc(size)))
		bench_die("xio_malloc");
	if (size >= sizeof(turn))
		memcpy(*buf, &turn, sizeof(turn));
	if (X.tx(fd, *buf, size) < 0)
		bench_die("xio_tx");
	*buf = NULL;
	for (size_t got = 0; got < size;) {
		void *b;
		ssize_t n = X.rx(fd, &b);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = ECONNRESET;
			bench_die("xio_rx");
		}
		sink += sum_bytes(b, (size_t)n);
		if (got == 0 && (size_t)n == size) {
			uint64_t echoed = turn;
			if (size >= sizeof(turn))
				memcpy(&echoed, b, sizeof(echoed));
			if (echoed != turn) {
				fprintf(stderr, "echo of turn %llu carried turn %llu\n",
					(unsigned long long)turn, (unsigned long long)echoed);
				exit(1);
			}
			*buf = b; /* the same buffer goes out again next turn */
		} else {
			X.free(b);
		}
		got += (size_t)n;
	}
}

/* One turn writing in place into the send ring and reading in place from the receive ring. */
static void turn_ring(int fd, size_t size, uint64_t turn)
{
	for (size_t sent = 0; sent < size;) {
		void *w;
		ssize_t m = X.send_reserve(fd, size - sent, &w);
		if (m < 0) {
			if (errno == EINTR)
				continue;
			bench_die("xio_send_reserve");
		}
		memset(w, 'p', (size_t)m); /* writes every byte, as the copy of a write() would */
		if (sent == 0 && (size_t)m >= sizeof(turn))
			memcpy(w, &turn, sizeof(turn));
		if (X.send_commit(fd, w, (size_t)m) < 0)
			bench_die("xio_send_commit");
		sent += (size_t)m;
	}
	for (size_t got = 0; got < size;) {
		const void *p;
		ssize_t n = X.recv_peek(fd, &p);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = ECONNRESET;
			bench_die("xio_recv_peek");
		}
		if (got == 0 && (size_t)n >= sizeof(turn)) {
			uint64_t echoed;
			memcpy(&echoed, p, sizeof(echoed));
			if (echoed != turn) {
				fprintf(stderr, "echo of turn %llu carried turn %llu\n",
					(unsigned long long)turn, (unsigned long long)echoed);
				exit(1);
			}
		}
		sink += sum_bytes(p, (size_t)n);
		if (X.recv_consume(fd, (size_t)n) < 0)
			bench_die("xio_recv_consume");
		got += (size_t)n;
	}
}

static int client(const struct bench_ep *ep, size_t size, double secs, int ring)
{
	if (size == 0) {
		fprintf(stderr, "SIZE must be at least 1\n");
		return 2;
	}
	int fd = bench_connect(ep);
	if (fd < 0)
		bench_die("connect");
	bench_xio_must_carry(&X, fd);
	if (!ring && size > X.buf_size()) {
		fprintf(stderr,
			"SIZE %zu is larger than X-IO's buffers (%zu: xio-manager --buf-kb)\n",
			size, X.buf_size());
		return 1;
	}

	struct bench_rtt rt;
	bench_rtt_init(&rt, secs);
	void *buf = NULL;
	for (;;) {
		uint64_t t0 = bench_now_ns();
		if (ring)
			turn_ring(fd, size, rt.turns);
		else
			turn_txrx(fd, &buf, size, rt.turns);
		if (bench_rtt_add(&rt, t0, bench_now_ns()))
			break;
	}
	if (buf)
		X.free(buf);
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
		if (strcmp(argv[1], "server") == 0 && (argc == 3 || argc == 4)) {
			int ring = ring_mode(argc == 4 ? argv[3] : NULL);
			bench_xio_resolve(&X, "");
			server(&ep, ring);
		}
		if (strcmp(argv[1], "client") == 0 && (argc == 5 || argc == 6)) {
			int ring = ring_mode(argc == 6 ? argv[5] : NULL);
			bench_xio_resolve(&X, "");
			return client(&ep, (size_t)atol(argv[3]), atof(argv[4]), ring);
		}
	}
	fprintf(
	    stderr,
	    "usage: %s server ENDPOINT [txrx|ring] | client ENDPOINT SIZE SECONDS [txrx|ring]\n",
	    argv[0]);
	return 2;
}
