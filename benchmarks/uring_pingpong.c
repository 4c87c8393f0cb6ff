/*
 * Ping-pong round-trip time over one kernel TCP (or Unix) connection driven by
 * io_uring with a kernel submission-polling thread: the fastest io_uring setup
 * we know for small round trips, the baseline of benchmark case 7.
 *
 *   xio-bench-uring-pingpong [-s SQ_CPU] [-w spin|yield|wait] [-b] server ENDPOINT
 *   xio-bench-uring-pingpong [-s SQ_CPU] [-w spin|yield|wait] [-b] client ENDPOINT SIZE SECONDS
 *
 * Same protocol, arguments and output as pingpong.c (the server echoes every
 * byte; the client times SIZE bytes out and back for SECONDS after a warm-up
 * of 1000 round trips or 0.1 s), plus:
 *
 *   -s SQ_CPU  pin the ring's SQPOLL thread to this CPU (IORING_SETUP_SQ_AFF,
 *              sq_thread_cpu); -1 (the default) leaves it unpinned
 *   -w MODE    how the program waits for a completion: spin (default) busy-polls
 *              the completion ring with no system call; yield busy-polls but
 *              calls sched_yield() between looks, so an SQPOLL thread sharing
 *              the CPU gets to run; wait sleeps in io_uring_enter
 *   -b         use registered buffers (READ_FIXED/WRITE_FIXED) instead of
 *              SEND/RECV on plain user memory
 *
 * Submission is IORING_SETUP_SQPOLL: the kernel thread picks SQEs up, so the
 * steady state makes no system call (in spin and yield modes). The connected
 * socket is a registered file. The client submits its send and its receive
 * together; the server submits the echo and its next receive together. Every
 * receiver reads every byte it gets: both ends checksum each message, and the
 * client checks the echo against what it sent (exit status 1 on a mismatch),
 * so the numbers are comparable with a zero-copy receiver that has to look at
 * its data.
 *
 * The client prints pingpong.c's line with four more keys:
 *   size=64 rtts=N p50_us=X p99_us=Y mean_us=Z min_us=W bytes=B sq_cpu=S
 *   sq_last_cpu=L cpu=C wait=M
 * sq_cpu is -s, sq_last_cpu the CPU the SQPOLL thread last ran on (from
 * /proc), cpu the CPU the client last ran on, wait 0 spin / 1 yield / 2 wait.
 * The server says the same about itself on stderr after each connection.
 */
#include "bench.h"

#include <dirent.h>
#include <getopt.h>
#include <liburing.h>
#include <sched.h>
#include <signal.h>

#define SERVER_BUF (1 << 20) /* what one receive of the server may take */
#define SQ_IDLE_MS 1000	     /* the SQPOLL thread spins this long without work */
#define TAG_SEND   1u
#define TAG_RECV   2u

enum wait_mode { WAIT_SPIN, WAIT_YIELD, WAIT_SLEEP };

struct opts {
	int sq_cpu;
	enum wait_mode wait;
	int fixed_buf;
};

struct uring_conn {
	struct io_uring ring;
	struct opts o;
	int recv_flags; /* MSG_WAITALL where the receiver knows the message size */
};

static void die_neg(const char *what, int neg)
{
	errno = -neg;
	bench_die(what);
}

/* A ring with an SQPOLL thread (pinned when asked), @fd as registered file 0 and
 * @nbuf buffers of @len bytes registered when -b asked for it. */
static void uring_open(struct uring_conn *c, int fd, void **bufs, int nbuf, size_t len)
{
	struct io_uring_params p;
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_SQPOLL;
	p.sq_thread_idle = SQ_IDLE_MS;
	if (c->o.sq_cpu >= 0) {
		p.flags |= IORING_SETUP_SQ_AFF;
		p.sq_thread_cpu = (unsigned)c->o.sq_cpu;
	}
	int r = io_uring_queue_init_params(64, &c->ring, &p);
	if (r < 0)
		die_neg("io_uring_queue_init_params(SQPOLL)", r);
	r = io_uring_register_files(&c->ring, &fd, 1);
	if (r < 0)
		die_neg("io_uring_register_files", r);
	if (c->o.fixed_buf) {
		struct iovec iov[2];
		for (int i = 0; i < nbuf; i++) {
			iov[i].iov_base = bufs[i];
			iov[i].iov_len = len;
		}
		r = io_uring_register_buffers(&c->ring, iov, (unsigned)nbuf);
		if (r < 0)
			die_neg("io_uring_register_buffers", r);
	}
}

static struct io_uring_sqe *get_sqe(struct uring_conn *c)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&c->ring);
	if (!sqe) {
		/* the SQPOLL thread has not consumed the ring yet: hand it over and retry */
		io_uring_submit(&c->ring);
		while (!(sqe = io_uring_get_sqe(&c->ring)))
			sched_yield();
	}
	return sqe;
}

/* Queue a send (@send) or receive of @len bytes at @buf, buffer index @bi for -b. */
static void queue_io(struct uring_conn *c, int send, char *buf, size_t len, int bi, uint64_t tag)
{
	struct io_uring_sqe *sqe = get_sqe(c);
	if (c->o.fixed_buf) {
		if (send)
			io_uring_prep_write_fixed(sqe, 0, buf, (unsigned)len, 0, bi);
		else
			io_uring_prep_read_fixed(sqe, 0, buf, (unsigned)len, 0, bi);
	} else {
		if (send)
			io_uring_prep_send(sqe, 0, buf, len, MSG_WAITALL);
		else
			io_uring_prep_recv(sqe, 0, buf, len, c->recv_flags);
	}
	sqe->flags |= IOSQE_FIXED_FILE;
	io_uring_sqe_set_data64(sqe, tag);
}

/* The next completion: its tag and result. */
static uint64_t next_cqe(struct uring_conn *c, int *res)
{
	struct io_uring_cqe *cqe;
	int r;
	if (c->o.wait == WAIT_SLEEP) {
		while ((r = io_uring_wait_cqe(&c->ring, &cqe)) == -EINTR)
			;
	} else {
		while ((r = io_uring_peek_cqe(&c->ring, &cqe)) == -EAGAIN)
			if (c->o.wait == WAIT_YIELD)
				sched_yield();
	}
	if (r < 0)
		die_neg("io_uring completion", r);
	uint64_t tag = io_uring_cqe_get_data64(cqe);
	*res = cqe->res;
	io_uring_cqe_seen(&c->ring, cqe);
	return tag;
}

/* Sum of the bytes as 64-bit words (the tail byte by byte): reads every byte. */
static uint64_t checksum(const char *p, size_t n)
{
	uint64_t s = 0, w;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		memcpy(&w, p + i, 8);
		s += w;
	}
	for (; i < n; i++)
		s += (unsigned char)p[i];
	return s;
}

/* The SQPOLL thread of this process ("iou-sqp-PID"): the CPU it last ran on, or -1. */
static int sq_last_cpu(void)
{
	DIR *d = opendir("/proc/self/task");
	int cpu = -1;
	struct dirent *e;
	while (d && (e = readdir(d))) {
		char path[300], buf[1024];
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		int is_sq = fgets(buf, sizeof(buf), f) && strncmp(buf, "iou-sqp", 7) == 0;
		fclose(f);
		if (!is_sq)
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/stat", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = 0;
		/* field 39 "processor", counting from the one after the ")" of comm (field 3) */
		char *q = strrchr(buf, ')');
		int field = 2;
		for (; q && *q; q++)
			if (*q == ' ' && ++field == 39) {
				cpu = atoi(q + 1);
				break;
			}
	}
	if (d)
		closedir(d);
	return cpu;
}

/* Serves until killed. */
static _Noreturn void server(const struct bench_ep *ep, const struct opts *o)
{
	int lfd = bench_listen(ep, 16);
	char *bufs[2];
	for (int i = 0; i < 2; i++)
		if (!(bufs[i] = malloc(SERVER_BUF)))
			bench_die("malloc");
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		int fd = bench_accept(lfd);
		bench_nodelay(fd, ep);
		/* a ring per connection: its SQPOLL thread goes away with the connection
		 * instead of spinning between clients */
		struct uring_conn c = {.o = *o};
		uring_open(&c, fd, (void **)bufs, 2, SERVER_BUF);

		/* Receive into one buffer while the echo of the previous message may still
		 * be sending from the other; a buffer is reused only after its echo is
		 * complete. */
		size_t pend[2] = {0, 0}, off[2] = {0, 0};
		uint64_t sum = 0;
		int cur = 0, open = 1;
		queue_io(&c, 0, bufs[cur], SERVER_BUF, cur, TAG_RECV);
		io_uring_submit(&c.ring);
		while (open || pend[0] || pend[1]) {
			int res;
			uint64_t tag = next_cqe(&c, &res);
			if (tag == TAG_RECV) {
				if (res <= 0) {
					open = 0;
					continue;
				}
				sum += checksum(bufs[cur], (size_t)res);
				pend[cur] = (size_t)res;
				off[cur] = 0;
				queue_io(&c, 1, bufs[cur], pend[cur], cur, TAG_SEND << 8 | cur);
				cur ^= 1;
				if (pend[cur]) {
					io_uring_submit(&c.ring);
					while (pend[cur] && open) {
						uint64_t t = next_cqe(&c, &res);
						int b = (int)(t & 1);
						if (res <= 0) {
							open = 0;
							break;
						}
						off[b] += (size_t)res;
						if (off[b] < pend[b])
							queue_io(&c, 1, bufs[b] + off[b],
								 pend[b] - off[b], b,
								 TAG_SEND << 8 | (uint64_t)b);
						else
							pend[b] = 0;
						io_uring_submit(&c.ring);
					}
					if (!open)
						break;
				}
				queue_io(&c, 0, bufs[cur], SERVER_BUF, cur, TAG_RECV);
				io_uring_submit(&c.ring);
			} else {
				int b = (int)(tag & 1);
				if (res <= 0) {
					open = 0;
					break;
				}
				off[b] += (size_t)res;
				if (off[b] < pend[b]) {
					queue_io(&c, 1, bufs[b] + off[b], pend[b] - off[b], b,
						 TAG_SEND << 8 | (uint64_t)b);
					io_uring_submit(&c.ring);
				} else {
					pend[b] = 0;
				}
			}
		}
		fprintf(stderr,
			"uring server: cpu=%d sq_cpu=%d sq_last_cpu=%d wait=%d fixed_buf=%d "
			"checksum=%llx\n",
			sched_getcpu(), o->sq_cpu, sq_last_cpu(), (int)o->wait, o->fixed_buf,
			(unsigned long long)sum);
		io_uring_queue_exit(&c.ring);
		close(fd);
	}
}

static int client(const struct bench_ep *ep, size_t size, double secs, const struct opts *o)
{
	char *bufs[2];
	for (int i = 0; i < 2; i++)
		if (!size || !(bufs[i] = malloc(size)))
			bench_die("malloc");
	char *sbuf = bufs[0], *rbuf = bufs[1];
	for (size_t i = 0; i < size; i++)
		sbuf[i] = (char)('a' + i % 23);
	uint64_t want = checksum(sbuf, size);
	int fd = bench_connect(ep);
	if (fd < 0)
		bench_die("connect");
	struct uring_conn c = {.o = *o, .recv_flags = MSG_WAITALL};
	uring_open(&c, fd, (void **)bufs, 2, size);

	struct bench_rtt rt;
	bench_rtt_init(&rt, secs);
	for (;;) {
		uint64_t t0 = bench_now_ns();
		size_t sent = 0, got = 0;
		queue_io(&c, 1, sbuf, size, 0, TAG_SEND);
		queue_io(&c, 0, rbuf, size, 1, TAG_RECV);
		io_uring_submit(&c.ring);
		while (sent < size || got < size) {
			int res;
			uint64_t tag = next_cqe(&c, &res);
			if (res <= 0) {
				errno = res ? -res : ECONNRESET;
				bench_die(tag == TAG_SEND ? "send" : "recv");
			}
			if (tag == TAG_SEND) {
				sent += (size_t)res;
				if (sent < size)
					queue_io(&c, 1, sbuf + sent, size - sent, 0, TAG_SEND);
			} else {
				got += (size_t)res;
				if (got < size)
					queue_io(&c, 0, rbuf + got, size - got, 1, TAG_RECV);
			}
			if (sent < size || got < size)
				io_uring_submit(&c.ring);
		}
		if (checksum(rbuf, size) != want) {
			fprintf(stderr,
				"client: echo of round trip %llu differs from what was sent\n",
				(unsigned long long)rt.turns);
			return 1;
		}
		if (bench_rtt_add(&rt, t0, bench_now_ns()))
			break;
	}
	int sq_cpu_seen = sq_last_cpu();
	io_uring_queue_exit(&c.ring);
	close(fd);

	bench_rtt_print(&rt, size);
	printf(" "
	       "sq_cpu=%d sq_last_cpu=%d cpu=%d wait=%d\n",
	       o->sq_cpu, sq_cpu_seen, sched_getcpu(), (int)o->wait);
	return 0;
}

static int usage(const char *argv0)
{
	fprintf(stderr,
		"usage: %s [-s SQ_CPU] [-w spin|yield|wait] [-b] server ENDPOINT\n"
		"       %s [-s SQ_CPU] [-w spin|yield|wait] [-b] client ENDPOINT SIZE SECONDS\n",
		argv0, argv0);
	return 2;
}

int main(int argc, char **argv)
{
	struct opts o = {.sq_cpu = -1, .wait = WAIT_SPIN, .fixed_buf = 0};
	const char *argv0 = argv[0];
	int opt;
	signal(SIGPIPE, SIG_IGN);
	while ((opt = getopt(argc, argv, "+s:w:b")) != -1) {
		if (opt == 's') {
			o.sq_cpu = atoi(optarg);
		} else if (opt == 'w') {
			if (strcmp(optarg, "spin") == 0)
				o.wait = WAIT_SPIN;
			else if (strcmp(optarg, "yield") == 0)
				o.wait = WAIT_YIELD;
			else if (strcmp(optarg, "wait") == 0)
				o.wait = WAIT_SLEEP;
			else
				return usage(argv0);
		} else if (opt == 'b') {
			o.fixed_buf = 1;
		} else {
			return usage(argv0);
		}
	}
	argc -= optind - 1;
	argv += optind - 1;
	struct bench_ep ep;
	if (argc >= 3 && bench_parse_ep(argv[2], &ep) == 0) {
		if (strcmp(argv[1], "server") == 0 && argc == 3)
			server(&ep, &o);
		if (strcmp(argv[1], "client") == 0 && argc == 5)
			return client(&ep, (size_t)atol(argv[3]), atof(argv[4]), &o);
	}
	return usage(argv0);
}
