/* SPDX-License-Identifier: MIT */
/*
 * fpeer: one end of a checksummed TCP stream, for fault tests.
 *
 *   fpeer client|server IP PORT [options]
 *
 * Each direction carries a deterministic pattern (pattern.h): client->server
 * uses seed S+1, server->client seed S+2, so the receiver checks every byte
 * it gets against the offset it arrived at. A byte that was never sent (wrong
 * value, duplicate, reordering, bytes past the announced length) is
 * corruption: exit 2 at once.
 *
 * Options:
 *   --send N|inf      bytes to send, then shutdown(SHUT_WR) (default 0)
 *   --recv N|eof      bytes expected before EOF (default eof: any count)
 *   --seed S          base seed (default 1)
 *   --rand SEED       random write/read sizes and call variants (default 1);
 *   --plain           fixed 64 KiB write()/read() instead
 *   --progress FILE   "sent recv" rewritten every 20 ms
 *   --ready FILE      created once listening (server) / connected (client)
 *   --accepted FILE   server: created after accept
 *   --hold            after connect/accept do nothing until killed
 *   --multi           server: accept forever, one thread per connection
 *   --pause-at B --resume FILE
 *                     the sender stops after B bytes until FILE exists
 *   --timeout-ms T    SO_RCVTIMEO/SO_SNDTIMEO (a stall becomes an error)
 *   --chunk B --delay-us U
 *                     the sender writes B bytes at a time and sleeps U us
 *                     after each write (a slow, chatty writer thread)
 *
 * Exit: 0 all as expected, 2 corruption, 3 the peer went away early
 * (EOF before the expected length, ECONNRESET, EPIPE), 1 anything else.
 * Last line on stdout: "fpeer ROLE: sent=.. recv=.. tx=END rx=END ms=..".
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/uio.h>

#include "pattern.h"

#define BUF_MAX (1u << 20)

enum { RC_OK = 0, RC_ERR = 1, RC_CORRUPT = 2, RC_EARLY = 3 };

struct opts {
	bool server, hold, multi, plain;
	const char *ip;
	int port;
	long long send; /* -1: endless */
	long long recv; /* -1: until EOF */
	uint64_t seed, rseed;
	const char *progress, *ready, *accepted, *resume;
	long long pause_at;
	int timeout_ms;
	long chunk, delay_us;
};

static struct opts o = {.seed = 1, .rseed = 1, .recv = -1, .pause_at = -1};
static _Atomic unsigned long long g_sent, g_recv;
static _Atomic bool g_done;

struct xfer {
	int fd;
	unsigned long long sent, recvd;
	int tx_rc, rx_rc;
	const char *tx_end, *rx_end;
	uint64_t rs_tx, rs_rx;
	bool count_global;
};

static const char *end_name(int e)
{
	switch (e) {
	case 0:
		return "ok";
	case ECONNRESET:
		return "ECONNRESET";
	case EPIPE:
		return "EPIPE";
	case ETIMEDOUT:
		return "ETIMEDOUT";
	case EAGAIN:
		return "EAGAIN";
	default:
		return strerror(e);
	}
}

static long long parse_len(const char *s, const char *inf_word)
{
	if (!strcmp(s, inf_word))
		return -1;
	char *end;
	long long v = strtoll(s, &end, 10);
	if (*end == 'K')
		v <<= 10, end++;
	else if (*end == 'M')
		v <<= 20, end++;
	else if (*end == 'G')
		v <<= 30, end++;
	if (*end || v < 0) {
		fprintf(stderr, "fpeer: bad length '%s'\n", s);
		exit(RC_ERR);
	}
	return v;
}

static void wait_resume(void)
{
	struct stat st;
	while (stat(o.resume, &st) < 0)
		usleep(2000);
}

static void *sender(void *arg)
{
	struct xfer *x = arg;
	uint8_t *buf = malloc(BUF_MAX);
	uint64_t seed = o.seed + (o.server ? 2 : 1);
	bool paused = false;

	x->tx_end = "ok";
	x->tx_rc = RC_OK;
	while (o.send < 0 || x->sent < (unsigned long long)o.send) {
		if (o.pause_at >= 0 && !paused && x->sent >= (unsigned long long)o.pause_at) {
			wait_resume();
			paused = true;
		}
		size_t n = o.chunk > 0 ? (size_t)o.chunk
			   : o.plain   ? 65536
				       : fp_rand_size(&x->rs_tx, BUF_MAX);
		if (o.delay_us > 0 && x->sent > 0)
			usleep((useconds_t)o.delay_us);
		if (o.send >= 0 && n > (unsigned long long)o.send - x->sent)
			n = (size_t)((unsigned long long)o.send - x->sent);
		if (o.pause_at >= 0 && !paused && x->sent + n > (unsigned long long)o.pause_at)
			n = (size_t)((unsigned long long)o.pause_at - x->sent);
		if (n == 0)
			continue;
		fp_fill(buf, seed, x->sent, n);
		ssize_t r;
		unsigned how = o.plain ? 0 : (unsigned)(fp_rand(&x->rs_tx) % 4);
		if (how == 0) {
			r = write(x->fd, buf, n);
		} else if (how == 1) {
			r = send(x->fd, buf, n, MSG_NOSIGNAL);
		} else {
			struct iovec iov[3];
			size_t a = n / 3, b = n / 2;
			iov[0] = (struct iovec){buf, a};
			iov[1] = (struct iovec){buf + a, b - a};
			iov[2] = (struct iovec){buf + b, n - b};
			if (how == 2) {
				r = writev(x->fd, iov, 3);
			} else {
				struct msghdr m = {.msg_iov = iov, .msg_iovlen = 3};
				r = sendmsg(x->fd, &m, MSG_NOSIGNAL);
			}
		}
		if (r < 0) {
			if (errno == EINTR)
				continue;
			x->tx_end = end_name(errno);
			x->tx_rc = (errno == EPIPE || errno == ECONNRESET) ? RC_EARLY : RC_ERR;
			free(buf);
			return NULL;
		}
		x->sent += (size_t)r;
		if (x->count_global)
			atomic_fetch_add(&g_sent, (size_t)r);
	}
	if (shutdown(x->fd, SHUT_WR) < 0 && errno != ENOTCONN) {
		x->tx_end = end_name(errno);
		x->tx_rc = (errno == EPIPE || errno == ECONNRESET) ? RC_EARLY : RC_ERR;
	}
	free(buf);
	return NULL;
}

/* Verify @n bytes at the current receive offset; exits on corruption. */
static void verify(struct xfer *x, const uint8_t *buf, size_t n, uint64_t seed)
{
	if (o.recv >= 0 && x->recvd + n > (unsigned long long)o.recv) {
		printf("fpeer %s: CORRUPT: %zu bytes past the %lld announced\n",
		       o.server ? "server" : "client", (size_t)(x->recvd + n - o.recv), o.recv);
		fflush(stdout);
		_exit(RC_CORRUPT);
	}
	long bad = fp_check(buf, seed, x->recvd, n);
	if (bad >= 0) {
		printf("fpeer %s: CORRUPT at stream offset %llu: got 0x%02x, sent 0x%02x\n",
		       o.server ? "server" : "client", x->recvd + (unsigned long long)bad, buf[bad],
		       fp_byte(seed, x->recvd + (uint64_t)bad));
		fflush(stdout);
		_exit(RC_CORRUPT);
	}
}

static void receiver(struct xfer *x)
{
	uint8_t *buf = malloc(BUF_MAX), *peekbuf = malloc(BUF_MAX);
	uint64_t seed = o.seed + (o.server ? 1 : 2);

	x->rx_end = "ok";
	x->rx_rc = RC_OK;
	for (;;) {
		size_t n = o.plain ? 65536 : fp_rand_size(&x->rs_rx, BUF_MAX);
		unsigned how = o.plain ? 0 : (unsigned)(fp_rand(&x->rs_rx) % 6);
		ssize_t r;
		if (how == 0) {
			r = read(x->fd, buf, n);
		} else if (how == 1) {
			r = recv(x->fd, buf, n, 0);
		} else if (how == 2 || how == 3) {
			struct iovec iov[3];
			size_t a = n / 4, b = n / 2;
			iov[0] = (struct iovec){buf, a};
			iov[1] = (struct iovec){buf + a, b - a};
			iov[2] = (struct iovec){buf + b, n - b};
			if (how == 2) {
				r = readv(x->fd, iov, 3);
			} else {
				struct msghdr m = {.msg_iov = iov, .msg_iovlen = 3};
				r = recvmsg(x->fd, &m, 0);
			}
		} else if (how == 4) {
			/* peek, then read what was peeked: both must be the stream's bytes */
			r = recv(x->fd, peekbuf, n, MSG_PEEK);
			if (r > 0) {
				verify(x, peekbuf, (size_t)r, seed);
				ssize_t k = recv(x->fd, buf, (size_t)r, 0);
				if (k >= 0 && k != r) {
					printf("fpeer: CORRUPT: peeked %zd bytes, then read %zd\n",
					       r, k);
					fflush(stdout);
					_exit(RC_CORRUPT);
				}
				r = k;
			}
		} else {
			size_t want = n;
			if (o.recv >= 0 && want > (unsigned long long)o.recv - x->recvd)
				want = (size_t)((unsigned long long)o.recv - x->recvd);
			if (want == 0)
				want = 1; /* expect EOF */
			r = recv(x->fd, buf, want, MSG_WAITALL);
		}
		if (r < 0) {
			if (errno == EINTR)
				continue;
			x->rx_end = end_name(errno);
			x->rx_rc = (errno == ECONNRESET || errno == EPIPE) ? RC_EARLY : RC_ERR;
			break;
		}
		if (r == 0) {
			x->rx_end = "EOF";
			if (o.recv >= 0 && x->recvd < (unsigned long long)o.recv)
				x->rx_rc = RC_EARLY;
			break;
		}
		verify(x, buf, (size_t)r, seed);
		x->recvd += (size_t)r;
		if (x->count_global)
			atomic_fetch_add(&g_recv, (size_t)r);
	}
	free(buf);
	free(peekbuf);
}

static int worst(int a, int b)
{
	static const int rank[] = {[RC_OK] = 0, [RC_EARLY] = 1, [RC_ERR] = 2, [RC_CORRUPT] = 3};
	return rank[a] >= rank[b] ? a : b;
}

/* One whole connection: send and receive at once. Returns the exit code. */
static int run_conn(struct xfer *x)
{
	pthread_t t;
	bool both = o.send != 0;

	if (o.timeout_ms > 0) {
		struct timeval tv = {.tv_sec = o.timeout_ms / 1000,
				     .tv_usec = (o.timeout_ms % 1000) * 1000};
		setsockopt(x->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(x->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	x->tx_end = "none";
	x->rx_end = "none";
	if (!both)
		shutdown(x->fd, SHUT_WR); /* nothing to send: the peer sees EOF at once */
	if (both && pthread_create(&t, NULL, sender, x) != 0)
		return RC_ERR;
	if (o.recv != 0)
		receiver(x);
	if (both)
		pthread_join(t, NULL);
	return worst(x->tx_rc, o.recv != 0 ? x->rx_rc : RC_OK);
}

static void *progress_thread(void *arg)
{
	(void)arg;
	char text[64];
	while (!atomic_load(&g_done)) {
		snprintf(text, sizeof(text), "%llu %llu\n", atomic_load(&g_sent),
			 atomic_load(&g_recv));
		fp_mark(o.progress, text);
		usleep(20000);
	}
	return NULL;
}

static void *multi_conn(void *arg)
{
	struct xfer *x = arg;
	int rc = run_conn(x);
	if (rc == RC_CORRUPT || rc == RC_ERR)
		fprintf(stderr, "fpeer server: connection ended tx=%s rx=%s\n", x->tx_end,
			x->rx_end);
	close(x->fd);
	free(x);
	return NULL;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: fpeer client|server IP PORT [--send N|inf] [--recv N|eof] [--seed S]\n"
		"       [--rand SEED|--plain] [--progress F] [--ready F] [--accepted F] [--hold]\n"
		"       [--multi] [--pause-at B --resume F] [--timeout-ms T]\n"
		"       [--chunk B --delay-us U]\n");
	exit(RC_ERR);
}

int main(int argc, char **argv)
{
	if (argc < 4)
		usage();
	o.server = !strcmp(argv[1], "server");
	if (!o.server && strcmp(argv[1], "client"))
		usage();
	o.ip = argv[2];
	o.port = atoi(argv[3]);
	for (int i = 4; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define ARG(name) (!strcmp(a, name) && v && (i++, 1))
		if (ARG("--send"))
			o.send = parse_len(v, "inf");
		else if (ARG("--recv"))
			o.recv = parse_len(v, "eof");
		else if (ARG("--seed"))
			o.seed = strtoull(v, NULL, 0);
		else if (ARG("--rand"))
			o.rseed = strtoull(v, NULL, 0);
		else if (!strcmp(a, "--plain"))
			o.plain = true;
		else if (ARG("--progress"))
			o.progress = v;
		else if (ARG("--ready"))
			o.ready = v;
		else if (ARG("--accepted"))
			o.accepted = v;
		else if (!strcmp(a, "--hold"))
			o.hold = true;
		else if (!strcmp(a, "--multi"))
			o.multi = true;
		else if (ARG("--pause-at"))
			o.pause_at = parse_len(v, "never");
		else if (ARG("--resume"))
			o.resume = v;
		else if (ARG("--timeout-ms"))
			o.timeout_ms = atoi(v);
		else if (ARG("--chunk"))
			o.chunk = atol(v);
		else if (ARG("--delay-us"))
			o.delay_us = atol(v);
		else
			usage();
#undef ARG
	}
	if (o.pause_at >= 0 && !o.resume)
		usage();
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);

	pthread_t pt;
	if (o.progress)
		pthread_create(&pt, NULL, progress_thread, NULL);

	int fd;
	uint64_t t0;
	if (o.server) {
		int l = fp_listen(o.ip, o.port);
		if (l < 0) {
			fprintf(stderr, "fpeer server: listen %s:%d: %s\n", o.ip, o.port,
				strerror(-l));
			return RC_ERR;
		}
		fp_mark(o.ready, "listening\n");
		if (o.multi) {
			for (uint64_t k = 0;; k++) {
				int c = accept(l, NULL, NULL);
				if (c < 0) {
					if (errno == EINTR || errno == ECONNABORTED)
						continue;
					fprintf(stderr, "fpeer server: accept: %s\n",
						strerror(errno));
					return RC_ERR;
				}
				struct xfer *x = calloc(1, sizeof(*x));
				x->fd = c;
				x->rs_tx = o.rseed * 7 + k;
				x->rs_rx = o.rseed * 13 + k;
				x->count_global = true;
				pthread_t t;
				if (pthread_create(&t, NULL, multi_conn, x) != 0) {
					close(c);
					free(x);
					continue;
				}
				pthread_detach(t);
			}
		}
		do
			fd = accept(l, NULL, NULL);
		while (fd < 0 && errno == EINTR);
		if (fd < 0) {
			fprintf(stderr, "fpeer server: accept: %s\n", strerror(errno));
			return RC_ERR;
		}
		close(l);
		fp_mark(o.accepted, "accepted\n");
	} else {
		fd = fp_connect(o.ip, o.port);
		if (fd < 0) {
			fprintf(stderr, "fpeer client: connect %s:%d: %s\n", o.ip, o.port,
				strerror(-fd));
			return RC_ERR;
		}
		fp_mark(o.ready, "connected\n");
	}
	if (o.hold)
		for (;;)
			pause();
	t0 = fp_now_us();
	struct xfer x = {
	    .fd = fd, .rs_tx = o.rseed * 7, .rs_rx = o.rseed * 13, .count_global = true};
	int rc = run_conn(&x);
	atomic_store(&g_done, true);
	if (o.progress) {
		pthread_join(pt, NULL);
		char text[64];
		snprintf(text, sizeof(text), "%llu %llu\n", x.sent, x.recvd);
		fp_mark(o.progress, text);
	}
	printf("fpeer %s: sent=%llu recv=%llu tx=%s rx=%s ms=%llu\n",
	       o.server ? "server" : "client", x.sent, x.recvd, x.tx_end, x.rx_end,
	       (unsigned long long)((fp_now_us() - t0) / 1000));
	close(fd);
	return rc;
}
