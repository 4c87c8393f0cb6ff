/* SPDX-License-Identifier: MIT */
/*
 * Proves: a writer that small SO_SNDBUF/SO_RCVBUF stopped (not a full ring)
 * is woken when the reader consumes, as on TCP, whichever way it waits:
 * - a blocking send of 256 KiB from a thread does not complete while the
 *   reader does not read (4 KiB buffers hold far less), and completes, every
 *   byte in order, once it reads;
 * - a non-blocking writer that got EAGAIN and sleeps in poll(POLLOUT) or in
 *   epoll_wait(EPOLLOUT), level or edge triggered, is woken when the reader
 *   drains, and can send again.
 */
#include <poll.h>
#include <pthread.h>
#include <sys/epoll.h>

#include "helpers.h"

#define BIG (256 * 1024)
#define BUF 4096

static unsigned char wbuf[BIG], rbuf[BIG];
static _Atomic int sent_all;

static void *writer(void *arg)
{
	int fd = *(int *)arg;
	pat_fill(wbuf, BIG, 0, 7);
	write_all(fd, wbuf, BIG);
	sent_all = 1;
	return NULL;
}

/* A pair whose client sends with SO_SNDBUF = BUF to a server with SO_RCVBUF = BUF. */
static void small_pair(int *c, int *s)
{
	/* Set before the connection exists, as TCP wants (its window is negotiated then). */
	uint16_t port;
	int l = listen_lo(&port), v = BUF;
	OK(setsockopt(l, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v)));
	*c = OK(socket(AF_INET, SOCK_STREAM, 0));
	OK(setsockopt(*c, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v)));
	struct sockaddr_in a = sin_of("127.0.0.1", port);
	OK(connect(*c, (struct sockaddr *)&a, sizeof(a)));
	*s = OK(accept(l, NULL, NULL));
	require_xio(*c);
	require_xio(*s);
	close(l);
}

/* The reader drains what is there, after @delay_ms, from a thread. */
struct drainer {
	int fd, delay_ms;
	long got;
};

static void *drain_later(void *arg)
{
	struct drainer *d = arg;
	sleep_ms(d->delay_ms);
	d->got = (long)drain_now(d->fd);
	return NULL;
}

/* A non-blocking writer filled to EAGAIN waits with @how (0 poll, 1 epoll LT, 2 epoll ET). */
static void wait_for_room(int how)
{
	int c, s;
	small_pair(&c, &s);
	set_nonblock(c, 1);
	int ep = -1;
	if (how) {
		ep = OK(epoll_create1(0));
		struct epoll_event ev = {.events = EPOLLOUT | (how == 2 ? EPOLLET : 0)};
		OK(epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev));
		struct epoll_event out;
		CHECK_EQ(epoll_wait(ep, &out, 1, 1000), 1); /* writable at first */
	}
	size_t filled = fill_until_eagain(c);
	CHECK(filled > 0 && filled < 64 * 1024);
	struct drainer d = {.fd = s, .delay_ms = 150};
	pthread_t t;
	CHECK_EQ(pthread_create(&t, NULL, drain_later, &d), 0);
	int64_t t0 = now_ms();
	if (how == 0) {
		struct pollfd p = {.fd = c, .events = POLLOUT};
		CHECK_EQ(poll(&p, 1, 5000), 1);
		CHECK_EVENTS(p.revents, POLLOUT);
	} else {
		struct epoll_event out;
		CHECK_EQ(epoll_wait(ep, &out, 1, 5000), 1);
		CHECK(out.events & EPOLLOUT);
	}
	int64_t waited = now_ms() - t0;
	pthread_join(t, NULL);
	if (waited < 100)
		FAIL("wait %d: writable after %lld ms, before the reader read", how,
		     (long long)waited);
	if (waited > 2000)
		FAIL("wait %d: woken only after %lld ms", how, (long long)waited);
	CHECK(d.got > 0);
	CHECK(fill_until_eagain(c) > 0);
	if (ep >= 0)
		close(ep);
	close(c);
	close(s);
}

int main(void)
{
	watchdog(25);
	setvbuf(stdout, NULL, _IONBF, 0);

	/* A blocking writer. */
	int c, s;
	small_pair(&c, &s);
	pthread_t t;
	CHECK_EQ(pthread_create(&t, NULL, writer, &c), 0);
	sleep_ms(200);
	if (sent_all)
		FAIL("a %d-byte send completed with %d-byte buffers and nobody reading", BIG, BUF);
	int64_t t0 = now_ms();
	read_all(s, rbuf, BIG);
	pthread_join(t, NULL);
	CHECK(sent_all);
	pat_check(rbuf, BIG, 0, 7);
	printf("blocking writer: the reader took %d bytes in %lld ms\n", BIG,
	       (long long)(now_ms() - t0));
	close(c);
	close(s);

	for (int how = 0; how < 3; how++)
		wait_for_room(how);

	printf("sockbuf_wakeup: ok\n");
	return 0;
}
