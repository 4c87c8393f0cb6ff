/* SPDX-License-Identifier: MIT */
/*
 * nspeer: the client and the server of the network-namespace tests
 * (test/netns). The same binary runs with and without X-IO, so a test can
 * require the same outcome from both.
 *
 *   nspeer server IP PORT --id ID [--ready FILE] [--max N]
 *       Listens on IP:PORT. For each connection, one at a time: reads until
 *       EOF, hashing what arrives, then answers one line
 *         "id=ID peer=ADDR:PORT bytes=N sum=HEX"
 *       (ADDR:PORT: the client as accept() reports it) and closes. The same
 *       line plus " xio=KIND" goes to stdout (flushed), so a test can count
 *       which server saw which connection. Exits after N connections
 *       (default: never).
 *
 *   nspeer client IP PORT [--send BYTES] [--seed S] [--timeout-ms T] [--blocking]
 *       Connects within T ms (default 2000): a non-blocking connect() and
 *       poll() as curl does, or with --blocking a blocking connect() bounded
 *       by SO_SNDTIMEO (with T = 0: by the kernel's own SYN timeout, whose
 *       ETIMEDOUT is a timeout too). Sends BYTES (suffix K/M/G, default 0) of a pattern
 *       given by S, shuts down its write side, reads the server's line (at
 *       most 10 s) and checks that the server got exactly what it sent.
 *       Prints one line:
 *         "result=ok sent=N sum=HEX id=... peer=... bytes=N sum=HEX"
 *         "result=refused" | "result=timeout" | "result=error errno=NAME"
 *         "result=mismatch ..." | "result=io-error ..."
 *       followed by " xio=KIND".
 *
 * KIND says how X-IO saw the socket: "none" (the X-IO library is not
 * loaded), "tcp" (loaded, the kernel carries the socket), "carried" (an
 * X-IO connection), from xio_fd_kind() looked up at run time, so the same
 * binary runs with and without the library. The client asks once the
 * transfer is over, the server once it has read EOF.
 *
 * Exit: 0 ok, 10 refused (ECONNREFUSED), 11 connect timed out, 12 another
 * connect error, 2 the server's count or hash differs, 3 an error after
 * connect, 1 usage.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

enum { RC_OK = 0, RC_USAGE = 1, RC_MISMATCH = 2, RC_IO = 3 };
enum { RC_REFUSED = 10, RC_TIMEOUT = 11, RC_CONNERR = 12 };

#define CHUNK (256u * 1024u)

/* FNV-1a, 64 bit, over a byte stream in any chunking. */
static uint64_t fnv(uint64_t h, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}
#define FNV_INIT 0xcbf29ce484222325ull

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* Bytes [off, off+len) of the stream of @seed; @off is a multiple of 8. */
static void fill(unsigned char *buf, uint64_t seed, uint64_t off, size_t len)
{
	for (size_t i = 0; i < len; i += 8) {
		uint64_t v = mix(seed * 0x9e3779b97f4a7c15ull ^ ((off + i) >> 3));
		memcpy(buf + i, &v, len - i < 8 ? len - i : 8);
	}
}

static long long parse_size(const char *s)
{
	char *end;
	long long v = strtoll(s, &end, 10);
	switch (*end) {
	case 'G':
		v <<= 10; /* fall through */
	case 'M':
		v <<= 10; /* fall through */
	case 'K':
		v <<= 10;
		end++;
		break;
	default:
		break;
	}
	if (*end || v < 0) {
		fprintf(stderr, "nspeer: bad size %s\n", s);
		exit(RC_USAGE);
	}
	return v;
}

/* How X-IO sees @fd: "none" without the library, else what xio_fd_kind() says. */
static const char *xio_kind(int fd)
{
	int (*kind)(int) = (int (*)(int))dlsym(RTLD_DEFAULT, "xio_fd_kind");
	if (!kind)
		return "none";
	switch (kind(fd)) {
	case 0:
		return "tcp";
	case 1:
		return "carried";
	case 2:
		return "listener";
	default:
		return "unknown";
	}
}

static int make_addr(const char *ip, int port, struct sockaddr_in *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, ip, &sa->sin_addr) == 1 ? 0 : -1;
}

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: nspeer server IP PORT --id ID [--ready FILE] [--max N]\n"
			"       nspeer client IP PORT [--send BYTES] [--seed S] [--timeout-ms T] "
			"[--blocking]\n");
	return RC_USAGE;
}

static int run_server(const char *ip, int port, const char *id, const char *ready, long max)
{
	struct sockaddr_in sa;
	static unsigned char buf[CHUNK];
	int one = 1;

	if (make_addr(ip, port, &sa))
		return usage();
	int ls = socket(AF_INET, SOCK_STREAM, 0);
	if (ls < 0 || setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(ls, (struct sockaddr *)&sa, sizeof(sa)) || listen(ls, 64)) {
		fprintf(stderr, "nspeer server %s:%d: %s\n", ip, port, strerror(errno));
		return RC_IO;
	}
	if (ready) {
		int fd = open(ready, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd >= 0)
			close(fd);
	}
	for (long done = 0; max <= 0 || done < max; done++) {
		struct sockaddr_in peer;
		socklen_t plen = sizeof(peer);
		int c = accept(ls, (struct sockaddr *)&peer, &plen);
		if (c < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			fprintf(stderr, "nspeer server: accept: %s\n", strerror(errno));
			return RC_IO;
		}
		struct timeval tv = {.tv_sec = 30};
		setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		uint64_t h = FNV_INIT, bytes = 0;
		ssize_t n;
		while ((n = read(c, buf, sizeof(buf))) != 0) {
			if (n < 0) {
				if (errno == EINTR)
					continue;
				break;
			}
			h = fnv(h, buf, (size_t)n);
			bytes += (uint64_t)n;
		}
		char addr[INET_ADDRSTRLEN] = "?", line[256];
		inet_ntop(AF_INET, &peer.sin_addr, addr, sizeof(addr));
		int len = snprintf(line, sizeof(line), "id=%s peer=%s:%u bytes=%llu sum=%016llx%s",
				   id, addr, ntohs(peer.sin_port), (unsigned long long)bytes,
				   (unsigned long long)h, n < 0 ? " read-error" : "");
		const char *kind = xio_kind(c);
		line[len++] = '\n';
		/* logged before the client can see the answer: a test that counts
		 * log lines once its client is done never misses this one */
		printf("%.*s xio=%s\n", len - 1, line, kind);
		fflush(stdout);
		if (write_all(c, line, (size_t)len))
			fprintf(stderr, "nspeer server: write: %s\n", strerror(errno));
		close(c);
	}
	close(ls);
	return RC_OK;
}

static int connect_bounded(int fd, const struct sockaddr_in *sa, int timeout_ms, bool blocking)
{
	if (blocking) {
		struct timeval tv = {.tv_sec = timeout_ms / 1000,
				     .tv_usec = (timeout_ms % 1000) * 1000};
		/* 0: no SO_SNDTIMEO, the kernel's own SYN timeout (tcp_syn_retries) */
		if (timeout_ms > 0)
			setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0)
			return 0;
		/* a blocking connect that SO_SNDTIMEO interrupts fails with EINPROGRESS */
		return errno == EINPROGRESS ? -ETIMEDOUT : -errno;
	}
	int fl = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0)
		goto connected;
	if (errno != EINPROGRESS)
		return -errno;
	struct pollfd p = {.fd = fd, .events = POLLOUT};
	int r;
	do
		r = poll(&p, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	if (r == 0)
		return -ETIMEDOUT;
	int err = 0;
	socklen_t elen = sizeof(err);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen))
		return -errno;
	if (err)
		return -err;
connected:
	fcntl(fd, F_SETFL, fl);
	return 0;
}

static int run_client(const char *ip, int port, long long send, uint64_t seed, int timeout_ms,
		      bool blocking)
{
	struct sockaddr_in sa;
	static unsigned char buf[CHUNK];
	char reply[512];

	if (make_addr(ip, port, &sa))
		return usage();
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0) {
		printf("result=error errno=%s\n", strerrorname_np(errno));
		return RC_CONNERR;
	}
	int r = connect_bounded(fd, &sa, timeout_ms, blocking);
	if (r == -ECONNREFUSED) {
		printf("result=refused xio=%s\n", xio_kind(fd));
		return RC_REFUSED;
	}
	if (r == -ETIMEDOUT) {
		printf("result=timeout xio=%s\n", xio_kind(fd));
		return RC_TIMEOUT;
	}
	if (r) {
		printf("result=error errno=%s xio=%s\n", strerrorname_np(-r), xio_kind(fd));
		return RC_CONNERR;
	}
	uint64_t h = FNV_INIT;
	for (long long off = 0; off < send;) {
		size_t n = send - off < CHUNK ? (size_t)(send - off) : CHUNK;
		fill(buf, seed, (uint64_t)off, n);
		h = fnv(h, buf, n);
		if (write_all(fd, buf, n)) {
			const char *e = strerrorname_np(errno);
			printf("result=io-error op=write errno=%s sent=%lld xio=%s\n", e ? e : "0",
			       off, xio_kind(fd));
			return RC_IO;
		}
		off += (long long)n;
	}
	shutdown(fd, SHUT_WR);
	struct timeval tv = {.tv_sec = 10};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	size_t got = 0;
	ssize_t n;
	while (got < sizeof(reply) - 1 &&
	       (n = read(fd, reply + got, sizeof(reply) - 1 - got)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			const char *e = strerrorname_np(errno);
			printf("result=io-error op=read errno=%s sent=%lld xio=%s\n", e ? e : "0",
			       send, xio_kind(fd));
			return RC_IO;
		}
		got += (size_t)n;
	}
	reply[got] = 0;
	reply[strcspn(reply, "\n")] = 0;
	/* after the transfer: a connection that moves to X-IO after the
	 * handshake has moved by now */
	const char *kind = xio_kind(fd);
	close(fd);

	char want[128];
	snprintf(want, sizeof(want), " bytes=%lld sum=%016llx", send, (unsigned long long)h);
	const char *tail = strstr(reply, " bytes=");
	bool same = tail && strcmp(tail, want) == 0;
	printf("result=%s sent=%lld sum=%016llx %s xio=%s\n", same ? "ok" : "mismatch", send,
	       (unsigned long long)h, got ? reply : "(no-reply)", kind);
	return same ? RC_OK : RC_MISMATCH;
}

int main(int argc, char **argv)
{
	const char *id = NULL, *ready = NULL;
	long long send = 0;
	long max = 0;
	uint64_t seed = 1;
	int timeout_ms = 2000;
	bool blocking = false;

	if (argc < 4)
		return usage();
	signal(SIGPIPE, SIG_IGN);
	for (int i = 4; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--blocking")) {
			blocking = true;
			continue;
		}
		if (!v)
			return usage();
		if (!strcmp(a, "--id"))
			id = v;
		else if (!strcmp(a, "--ready"))
			ready = v;
		else if (!strcmp(a, "--max"))
			max = atol(v);
		else if (!strcmp(a, "--send"))
			send = parse_size(v);
		else if (!strcmp(a, "--seed"))
			seed = strtoull(v, NULL, 0);
		else if (!strcmp(a, "--timeout-ms"))
			timeout_ms = atoi(v);
		else
			return usage();
		i++;
	}
	int port = atoi(argv[3]);
	if (!strcmp(argv[1], "server"))
		return id ? run_server(argv[2], port, id, ready, max) : usage();
	if (!strcmp(argv[1], "client"))
		return run_client(argv[2], port, send, seed, timeout_ms, blocking);
	return usage();
}
