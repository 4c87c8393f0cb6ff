/* SPDX-License-Identifier: MIT */
/*
 * A small echo server and client that the tests of test/go build with `gcc -static`:
 * no dynamic loader, so no preload; xio-run carries them with its seccomp
 * supervisor. The client sends a pattern, reads it back and checks every
 * byte, and prints the names the socket calls return (they must be TCP's).
 *
 *   static_echo server PORT [CONNS]     echo CONNS connections (default: forever)
 *   static_echo client PORT BYTES [CONNS [THREADS]]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int port;
static long bytes, conns = 1;

static void die(const char *what)
{
	fprintf(stderr, "static_echo: %s: %s\n", what, strerror(errno));
	exit(1);
}

static char name_buf[64];
static const char *name(const struct sockaddr_in *a)
{
	snprintf(name_buf, sizeof(name_buf), "%s:%d", inet_ntoa(a->sin_addr), ntohs(a->sin_port));
	return name_buf;
}

static void serve(long n)
{
	int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (l < 0 || setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 128) < 0)
		die("listen");
	socklen_t al = sizeof(a);
	if (getsockname(l, (struct sockaddr *)&a, &al) < 0 || a.sin_family != AF_INET)
		die("getsockname of the listener");
	printf("listening %s\n", name(&a));
	fflush(stdout);
	static char buf[65536];
	for (long i = 0; n < 0 || i < n; i++) {
		al = sizeof(a);
		int c = accept(l, (struct sockaddr *)&a, &al);
		if (c < 0)
			die("accept");
		if (a.sin_family != AF_INET)
			fprintf(stderr, "static_echo: accept: family %d\n", a.sin_family), exit(1);
		if (setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
			die("TCP_NODELAY");
		ssize_t k;
		while ((k = read(c, buf, sizeof(buf))) > 0)
			for (ssize_t off = 0; off < k;) {
				ssize_t w = write(c, buf + off, (size_t)(k - off));
				if (w <= 0)
					die("write");
				off += w;
			}
		close(c);
	}
	close(l);
}

static void *client(void *arg)
{
	long id = (long)arg;
	int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)}, me, peer;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof(a)) < 0)
		die("connect");
	socklen_t l1 = sizeof(me), l2 = sizeof(peer);
	if (getsockname(s, (struct sockaddr *)&me, &l1) < 0 ||
	    getpeername(s, (struct sockaddr *)&peer, &l2) < 0)
		die("names");
	if (me.sin_family != AF_INET || peer.sin_family != AF_INET || peer.sin_port != a.sin_port) {
		fprintf(stderr, "static_echo: names are not TCP's: family %d/%d\n", me.sin_family,
			peer.sin_family);
		exit(1);
	}
	if (setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ||
	    setsockopt(s, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one)) < 0)
		die("setsockopt");
	static __thread char out[65536], in[65536];
	long sent = 0, got = 0;
	while (got < bytes) {
		size_t n =
		    (size_t)(bytes - sent < (long)sizeof(out) ? bytes - sent : (long)sizeof(out));
		for (size_t i = 0; i < n; i++)
			out[i] = (char)((sent + (long)i) * 7 + id);
		for (size_t off = 0; off < n;) {
			ssize_t w = write(s, out + off, n - off);
			if (w <= 0)
				die("write");
			off += (size_t)w;
		}
		sent += (long)n;
		while (got < sent) {
			ssize_t k = read(s, in, sizeof(in));
			if (k <= 0)
				fprintf(stderr, "static_echo: early EOF at %ld\n", got), exit(1);
			for (ssize_t i = 0; i < k; i++)
				if (in[i] != (char)((got + i) * 7 + id))
					fprintf(stderr, "static_echo: byte %ld differs\n", got + i),
					    exit(1);
			got += k;
		}
	}
	close(s);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return fprintf(stderr, "usage: static_echo server|client PORT ...\n"), 2;
	port = atoi(argv[2]);
	if (!strcmp(argv[1], "server")) {
		serve(argc > 3 ? atol(argv[3]) : -1);
		return 0;
	}
	bytes = argc > 3 ? atol(argv[3]) : 1 << 20;
	conns = argc > 4 ? atol(argv[4]) : 1;
	long threads = argc > 5 ? atol(argv[5]) : 1;
	for (long i = 0; i < conns; i += threads) {
		pthread_t t[64];
		long k = threads < 64 ? threads : 64;
		for (long j = 0; j < k; j++)
			if (pthread_create(&t[j], NULL, client, (void *)(i + j)))
				die("pthread_create");
		for (long j = 0; j < k; j++)
			pthread_join(t[j], NULL);
	}
	printf("ok %ld connections, %ld bytes each, checked\n", conns, bytes);
	return 0;
}
