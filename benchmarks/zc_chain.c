/*
 * A service chain: source -> relay -> ... -> relay -> sink, each stage its
 * own process, each hop its own TCP connection.
 *
 *   xio-bench-zc-chain sink LISTEN HOPS [OPTS]
 *   xio-bench-zc-chain relay LISTEN NEXT [OPTS]
 *   xio-bench-zc-chain source NEXT SIZE COUNT [OPTS]
 *
 * Every message is SIZE bytes: a 32-byte header (magic, length, sequence
 * number, send time, hop count) and a payload whose every byte is a function
 * of the sequence number. Each relay reads the sequence number (checks it is
 * the next one), adds one to the hop count in place and passes the message
 * on; the sink checks the header (HOPS relays passed) and every byte of the
 * payload, and prints one line when the source closes the chain:
 *   chain size=S msgs=N p50_us=X p99_us=Y msgs_per_s=R bytes=B sum=C
 * (latency: sink's receive time minus source's send time, CLOCK_MONOTONIC,
 * after the first 10 % of the messages as warm-up).
 *
 * Modes (the same on every stage):
 *   default  X-IO zero-copy (include/xio.h): the source fills an xio_malloc'd
 *            buffer and sends it with xio_tx; each relay receives it with
 *            xio_rx and sends the very same buffer onwards with xio_tx; the
 *            sink xio_free()s it. Only a descriptor moves; run under xio-run.
 *   --copy   read()/write() of the bytes into private buffers (alias --kernel):
 *            plain kernel TCP when run alone, X-IO's socket path under xio-run.
 * Options:
 *   --offset K      (source) put each message K bytes into its buffer and send
 *                   that sub-range;
 *   --window W      (source; needs --ack) at most W messages not yet acked;
 *   --ack EP        sink: listen on EP (before it takes the chain's
 *                   connection) and acknowledge every message there;
 *                   source: connect to EP after connecting to NEXT;
 *   --secs S        (source) send for S seconds instead of COUNT messages
 *                   (COUNT is then ignored);
 *   --stall-at N    (relay) after receiving message N keep it and stop
 *                   (for tests that kill a relay holding buffers).
 */
#include "xio.h"

#include "bench.h"

#include <poll.h>
#include <sched.h>
#include <signal.h>

#define MAGIC 0x58494f43u /* "XIOC" */

struct hdr {
	uint32_t magic, len;
	uint64_t seq, t_ns;
	uint32_t hops, pad;
};

static struct bench_xio X;

static struct {
	int copy;
	size_t offset;
	uint64_t window, stall_at;
	double secs;
	const char *ack;
} opt = {.window = 1, .stall_at = UINT64_MAX};

static inline uint8_t pattern(uint64_t seq, size_t i)
{
	return (uint8_t)(seq * 131u + i * 7u + (i >> 8));
}

/*
 * Check and sum every payload byte of message @seq: 0, or -1 after saying
 * which byte is wrong. One pass without an early exit, which the compiler
 * vectorizes: a byte-at-a-time loop took ~4 times as long (about 100 us at
 * 64 KiB on the 2-core VM), and the relays of a chain wait through it.
 */
static int check_payload(const uint8_t *p, size_t n, uint64_t seq, uint64_t *sum)
{
	uint8_t bad = 0;
	uint64_t s = 0;
	for (size_t i = sizeof(struct hdr); i < n; i++) {
		bad |= (uint8_t)(p[i] ^ pattern(seq, i));
		s += p[i];
	}
	*sum += s;
	if (!bad)
		return 0;
	for (size_t i = sizeof(struct hdr); i < n; i++)
		if (p[i] != pattern(seq, i)) {
			fprintf(stderr, "sink: message %llu byte %zu is %u, not %u\n",
				(unsigned long long)seq, i, p[i], pattern(seq, i));
			break;
		}
	return -1;
}

/* Connect to @ep, retrying while nobody listens yet (up to 10 s). */
static int connect_retry(const struct bench_ep *ep)
{
	for (int i = 0; i < 1000; i++) {
		int fd = bench_connect(ep);
		if (fd >= 0)
			return fd;
		if (errno != ECONNREFUSED && errno != ENOENT)
			break;
		usleep(10000);
	}
	bench_die("connect");
}

static int accept_one(const struct bench_ep *ep)
{
	int lfd = bench_listen(ep, 4);
	printf("ready\n");
	fflush(stdout);
	int fd = bench_accept(lfd);
	close(lfd);
	bench_nodelay(fd, ep);
	return fd;
}

/* One message into a private buffer (--copy): its length, 0 at EOF, -1 on error. */
static ssize_t read_msg(int fd, char **buf, size_t *cap)
{
	if (*cap < sizeof(struct hdr)) {
		*cap = 65536;
		*buf = realloc(*buf, *cap);
	}
	int r = bench_read_all(fd, *buf, sizeof(struct hdr));
	if (r <= 0)
		return r;
	struct hdr h;
	memcpy(&h, *buf, sizeof(h));
	if (h.magic != MAGIC || h.len < sizeof(h) || h.len > (1u << 24)) {
		fprintf(stderr, "bad header (magic %#x, len %u)\n", h.magic, h.len);
		exit(1);
	}
	if (h.len > *cap) {
		*cap = h.len;
		*buf = realloc(*buf, *cap);
	}
	r = bench_read_all(fd, *buf + sizeof(h), h.len - sizeof(h));
	if (r == 0) {
		fprintf(stderr, "EOF in the middle of message %llu\n", (unsigned long long)h.seq);
		exit(1);
	}
	return r < 0 ? -1 : (ssize_t)h.len;
}

/* One message: its address in *@b (a pool buffer unless --copy), length, 0 at EOF, -1. */
static ssize_t recv_msg(int fd, void **b, char **priv, size_t *cap)
{
	if (opt.copy) {
		ssize_t n = read_msg(fd, priv, cap);
		*b = *priv;
		return n;
	}
	for (;;) {
		ssize_t n = X.rx(fd, b);
		if (n < 0 && errno == EINTR)
			continue;
		return n;
	}
}

static int send_msg(int fd, void *b, size_t n)
{
	if (opt.copy)
		return bench_write_all(fd, b, n);
	for (;;) {
		ssize_t w = X.tx(fd, b, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w >= 0 && (size_t)w != n) {
			errno = EIO;
			return -1;
		}
		return w < 0 ? -1 : 0;
	}
}

static int relay(const struct bench_ep *in, const struct bench_ep *next)
{
	int out = connect_retry(next);
	int fd = accept_one(in);
	if (!opt.copy) {
		bench_xio_must_carry(&X, out);
		bench_xio_must_carry(&X, fd);
	}
	char *priv = NULL;
	size_t cap = 0;
	uint64_t expect = 0;
	for (;;) {
		void *b;
		ssize_t n = recv_msg(fd, &b, &priv, &cap);
		if (n == 0)
			break;
		if (n < 0)
			bench_die("relay: receive");
		struct hdr h;
		if ((size_t)n < sizeof(h))
			goto bad;
		memcpy(&h, b, sizeof(h)); /* the one field we act on: the sequence number */
		if (h.magic != MAGIC || h.len != (uint32_t)n || h.seq != expect)
			goto bad;
		expect++;
		((struct hdr *)b)->hops++; /* amended in place */
		if (h.seq == opt.stall_at) {
			printf("stalled at %llu\n", (unsigned long long)h.seq);
			fflush(stdout);
			for (;;)
				pause();
		}
		if (send_msg(out, b, (size_t)n) < 0) {
			int e = errno;
			if (!opt.copy)
				X.free(b);
			errno = e;
			bench_die("relay: send");
		}
		continue;
	bad:
		fprintf(stderr, "relay: message %llu malformed (len %zd)\n",
			(unsigned long long)expect, n);
		return 1;
	}
	close(out);
	close(fd);
	printf("relayed %llu\n", (unsigned long long)expect);
	return 0;
}

static int source(const struct bench_ep *next, size_t size, uint64_t count)
{
	struct bench_ep aep;
	int ack = -1;
	if (size < sizeof(struct hdr)) {
		fprintf(stderr, "SIZE must be at least %zu\n", sizeof(struct hdr));
		return 2;
	}
	if (opt.ack && bench_parse_ep(opt.ack, &aep) < 0)
		return 2;
	int fd = connect_retry(next);
	if (!opt.copy) {
		bench_xio_must_carry(&X, fd);
		if (size + opt.offset > X.buf_size()) {
			fprintf(stderr, "SIZE + offset %zu > X-IO's buffers (%zu)\n",
				size + opt.offset, X.buf_size());
			return 1;
		}
	}
	if (opt.ack)
		ack = connect_retry(&aep);
	char *priv = opt.copy ? malloc(size) : NULL;
	uint64_t acked = 0, end = opt.secs > 0 ? bench_now_ns() + (uint64_t)(opt.secs * 1e9) : 0;
	uint64_t seq = 0;
	for (; end ? bench_now_ns() < end : seq < count; seq++) {
		while (ack >= 0 && seq - acked >= opt.window) {
			uint64_t a;
			if (bench_read_all(ack, &a, sizeof(a)) <= 0)
				bench_die("source: ack");
			acked = a + 1;
		}
		char *b = priv;
		if (!opt.copy) {
			while (!(b = X.malloc(size + opt.offset))) {
				if (errno != ENOMEM)
					bench_die("xio_malloc");
				/* every buffer is on its way: wait for one back, unless the chain
				 * broke */
				struct pollfd pf = {.fd = fd, .events = POLLOUT};
				if (poll(&pf, 1, 0) == 1 && (pf.revents & (POLLHUP | POLLERR))) {
					errno = ECONNRESET;
					bench_die("source: waiting for a buffer");
				}
				sched_yield();
			}
			b += opt.offset;
		}
		for (size_t i = sizeof(struct hdr); i < size; i++)
			b[i] = (char)pattern(seq, i);
		struct hdr h = {.magic = MAGIC, .len = (uint32_t)size, .seq = seq};
		h.t_ns = bench_now_ns();
		memcpy(b, &h, sizeof(h));
		if (send_msg(fd, b, size) < 0)
			bench_die("source: send");
	}
	close(fd);
	if (ack >= 0) {
		while (acked < seq) { /* the sink has seen all of them */
			uint64_t a;
			if (bench_read_all(ack, &a, sizeof(a)) <= 0)
				break;
			acked = a + 1;
		}
		close(ack);
	}
	printf("sent %llu\n", (unsigned long long)seq);
	return 0;
}

static int sink_stage(const struct bench_ep *in, uint32_t hops)
{
	int ack = -1, alfd = -1;
	struct bench_ep aep;
	if (opt.ack) {
		if (bench_parse_ep(opt.ack, &aep) < 0)
			return 2;
		alfd = bench_listen(&aep, 4);
	}
	int fd = accept_one(in);
	if (!opt.copy)
		bench_xio_must_carry(&X, fd);
	if (alfd >= 0) {
		ack = bench_accept(alfd);
		close(alfd);
		bench_nodelay(ack, &aep);
	}
	struct bench_samples lat = {0};
	char *priv = NULL;
	size_t cap = 0, size = 0;
	uint64_t seq = 0, sum = 0, bytes = 0, t_first = 0, t_last = 0, n_timed = 0;
	for (;;) {
		void *b;
		ssize_t n = recv_msg(fd, &b, &priv, &cap);
		if (n == 0)
			break;
		if (n < 0)
			bench_die("sink: receive");
		uint64_t now = bench_now_ns();
		struct hdr h;
		if ((size_t)n < sizeof(h))
			goto bad;
		memcpy(&h, b, sizeof(h));
		if (h.magic != MAGIC || h.len != (uint32_t)n || h.seq != seq || h.hops != hops)
			goto bad;
		if (check_payload(b, (size_t)n, seq, &sum) < 0)
			return 1;
		if (!opt.copy && X.free(b) < 0)
			bench_die("xio_free");
		if (ack >= 0 && bench_write_all(ack, &seq, sizeof(seq)) < 0)
			bench_die("sink: ack");
		size = (size_t)n;
		bytes += (uint64_t)n;
		if (seq == 0)
			t_first = now;
		/* after a warm-up of 1000 messages or 100 ms */
		if (seq >= 1000 || now - t_first >= 100000000u) {
			if (!n_timed++)
				t_first = now;
			t_last = now;
			bench_sample(&lat, now - h.t_ns);
		}
		seq++;
		continue;
	bad:
		fprintf(
		    stderr,
		    "sink: message %llu malformed (len %zd, magic %#x, seq %llu, hops %u of %u)\n",
		    (unsigned long long)seq, n, h.magic, (unsigned long long)h.seq, h.hops, hops);
		return 1;
	}
	double secs = (double)(t_last - t_first) / 1e9;
	double p50 = bench_pct_us(&lat, 50, 0), p99 = bench_pct_us(&lat, 99, 1);
	printf("chain size=%zu msgs=%llu p50_us=%.3f p99_us=%.3f msgs_per_s=%.0f bytes=%llu "
	       "sum=%llu\n",
	       size, (unsigned long long)seq, p50, p99,
	       n_timed > 1 && secs > 0 ? (double)(n_timed - 1) / secs : 0,
	       (unsigned long long)bytes, (unsigned long long)sum);
	if (ack >= 0)
		close(ack);
	close(fd);
	return 0;
}

static _Noreturn void usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s sink LISTEN HOPS | relay LISTEN NEXT | source NEXT SIZE COUNT\n"
		"  options: --copy|--kernel --offset K --window W --ack EP --secs S "
		"--stall-at N\n",
		prog);
	exit(2);
}

int main(int argc, char **argv)
{
	const char *pos[4];
	int npos = 0;
	signal(SIGPIPE, SIG_IGN);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--copy") || !strcmp(a, "--kernel"))
			opt.copy = 1;
		else if (!strcmp(a, "--offset") && i + 1 < argc)
			opt.offset = (size_t)atol(argv[++i]);
		else if (!strcmp(a, "--window") && i + 1 < argc)
			opt.window = (uint64_t)atoll(argv[++i]);
		else if (!strcmp(a, "--ack") && i + 1 < argc)
			opt.ack = argv[++i];
		else if (!strcmp(a, "--secs") && i + 1 < argc)
			opt.secs = atof(argv[++i]);
		else if (!strcmp(a, "--stall-at") && i + 1 < argc)
			opt.stall_at = (uint64_t)atoll(argv[++i]);
		else if (a[0] == '-' && a[1] == '-')
			usage(argv[0]);
		else if (npos < 4)
			pos[npos++] = a;
		else
			usage(argv[0]);
	}
	if (opt.window == 0)
		opt.window = 1;
	if (!opt.copy)
		bench_xio_resolve(&X, " or use --copy");
	struct bench_ep a, b;
	if (npos == 3 && !strcmp(pos[0], "sink") && bench_parse_ep(pos[1], &a) == 0)
		return sink_stage(&a, (uint32_t)atoi(pos[2]));
	if (npos == 3 && !strcmp(pos[0], "relay") && bench_parse_ep(pos[1], &a) == 0 &&
	    bench_parse_ep(pos[2], &b) == 0)
		return relay(&a, &b);
	if (npos == 4 && !strcmp(pos[0], "source") && bench_parse_ep(pos[1], &a) == 0)
		return source(&a, (size_t)atol(pos[2]), (uint64_t)atoll(pos[3]));
	usage(argv[0]);
}
