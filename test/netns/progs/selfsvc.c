/* SPDX-License-Identifier: MIT */
/*
 * selfsvc: one process that reaches its own listener through a Service
 * address (test/netns/self_service.sh). A pod that calls its own Service
 * is common (a health check, a client library that always goes through
 * the Service); the node DNATs the connection back to the pod and, for the
 * hairpin, masquerades it. Between network namespaces X-IO pairs such a
 * connection through the manager: the connecting thread offers it, the
 * accepting thread claims it, both in this one process.
 *
 *   selfsvc LISTEN_PORT VIP VIP_PORT COUNT
 *       Listens on 0.0.0.0:LISTEN_PORT; a second thread accepts (a
 *       non-blocking accept() in a loop, so that it takes each connection
 *       the moment the kernel has it: the window between the connecting
 *       thread's SYN and its offer is a few microseconds), reads
 *       64 bytes, writes them back and closes, COUNT times. The main thread
 *       connects to VIP:VIP_PORT (blocking), writes 64 bytes, reads them
 *       back and closes, COUNT times, one connection at a time. Prints
 *         "done=N client_carried=C server_carried=S"
 *       (carried: xio_fd_kind() says X-IO connection; looked up at run
 *       time, 0 without the library). Every connect and read is bounded:
 *       a connection that does not finish within 10 s prints
 *       "hang at=I" and exits 4 (the accepting thread may be holding what
 *       the connecting thread needs).
 *
 * Exit: 0 all COUNT done, 4 a hang, 3 an error, 1 usage.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MSG 64

static int listener;
static int count;
static atomic_int server_carried;
static atomic_int current = -1;

/* 1 if X-IO carries @fd, 0 otherwise or without the library. */
static int carried(int fd)
{
	int (*kind)(int) = (int (*)(int))dlsym(RTLD_DEFAULT, "xio_fd_kind");
	return kind && kind(fd) == 1;
}

static int full(ssize_t (*op)(int, void *, size_t), int fd, char *buf)
{
	size_t got = 0;
	while (got < MSG) {
		ssize_t n = op(fd, buf + got, MSG - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return 0;
}

static ssize_t rd(int fd, void *b, size_t n)
{
	return read(fd, b, n);
}

static ssize_t wr(int fd, void *b, size_t n)
{
	return write(fd, b, n);
}

static void *server(void *arg)
{
	char buf[MSG];
	(void)arg;
	for (int i = 0; i < count; i++) {
		int c;
		while ((c = accept(listener, NULL, NULL)) < 0 &&
		       (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			;
		if (c < 0) {
			perror("selfsvc: accept");
			exit(3);
		}
		int fl = fcntl(c, F_GETFL);
		if (fl < 0 || fcntl(c, F_SETFL, fl & ~O_NONBLOCK) < 0 || full(rd, c, buf) < 0 ||
		    full(wr, c, buf) < 0) {
			fprintf(stderr, "selfsvc: server i/o failed at %d: %s\n", i,
				strerror(errno));
			exit(3);
		}
		atomic_fetch_add(&server_carried, carried(c));
		close(c);
	}
	return NULL;
}

static void on_alarm(int sig)
{
	char line[64];
	(void)sig;
	int n = snprintf(line, sizeof(line), "hang at=%d\n", atomic_load(&current));
	if (n > 0)
		(void)!write(1, line, (size_t)n);
	_exit(4);
}

int main(int argc, char **argv)
{
	struct sockaddr_in la = {.sin_family = AF_INET}, va = {.sin_family = AF_INET};
	pthread_t t;
	int one = 1, client_carried = 0;
	char out[MSG], in[MSG];

	if (argc != 5 || inet_pton(AF_INET, argv[2], &va.sin_addr) != 1) {
		fprintf(stderr, "usage: selfsvc LISTEN_PORT VIP VIP_PORT COUNT\n");
		return 1;
	}
	la.sin_port = htons((uint16_t)atoi(argv[1]));
	va.sin_port = htons((uint16_t)atoi(argv[3]));
	count = atoi(argv[4]);
	listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (listener < 0 || setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(listener, (struct sockaddr *)&la, sizeof(la)) < 0 || listen(listener, 64) < 0) {
		perror("selfsvc: listen");
		return 3;
	}
	if (pthread_create(&t, NULL, server, NULL) != 0)
		return 3;
	signal(SIGALRM, on_alarm);
	for (int i = 0; i < count; i++) {
		atomic_store(&current, i);
		alarm(10);
		int c = socket(AF_INET, SOCK_STREAM, 0);
		if (c < 0 || connect(c, (struct sockaddr *)&va, sizeof(va)) < 0) {
			fprintf(stderr, "selfsvc: connect %d: %s\n", i, strerror(errno));
			return 3;
		}
		memset(out, 'a' + i % 26, sizeof(out));
		if (full(wr, c, out) < 0 || full(rd, c, in) < 0 || memcmp(in, out, MSG) != 0) {
			fprintf(stderr, "selfsvc: client i/o failed at %d\n", i);
			return 3;
		}
		client_carried += carried(c);
		close(c);
	}
	alarm(10);
	pthread_join(t, NULL);
	alarm(0);
	printf("done=%d client_carried=%d server_carried=%d\n", count, client_carried,
	       atomic_load(&server_carried));
	return 0;
}
