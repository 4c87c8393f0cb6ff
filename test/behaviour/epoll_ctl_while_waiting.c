/* SPDX-License-Identifier: MIT */
/*
 * Proves: epoll_ctl from one thread while another sleeps in epoll_wait on
 * the same set takes effect in that sleep, as the kernel's does (a thread
 * pool hands a socket to its event thread this way, e.g. apache mpm_event):
 * an fd added ready is reported; EPOLLOUT added on a full socket is reported
 * once the peer reads; a MOD from EPOLLIN to EPOLLOUT likewise; and the
 * first connection added to a set that held only kernel fds is reported
 * with the application's data when bytes arrive.
 */
#include <pthread.h>
#include <sys/epoll.h>

#include "helpers.h"

static int ep;
static struct epoll_event got;
static int nready;

static void *waiter(void *arg)
{
	(void)arg;
	struct epoll_event ev[4];
	nready = epoll_wait(ep, ev, 4, 5000);
	if (nready > 0)
		got = ev[0];
	return NULL;
}

/* A set holding only a pipe, and a thread asleep in epoll_wait on it. */
static pthread_t start_waiter(int *pipefd)
{
	ep = OK(epoll_create1(EPOLL_CLOEXEC));
	OK(pipe(pipefd));
	struct epoll_event e = {.events = EPOLLIN, .data.u64 = 0xdead};
	OK(epoll_ctl(ep, EPOLL_CTL_ADD, pipefd[0], &e));
	nready = -2;
	pthread_t t;
	pthread_create(&t, NULL, waiter, NULL);
	sleep_ms(100); /* asleep by now */
	return t;
}

static void finish(pthread_t t, int *pipefd, uint64_t data, uint32_t want)
{
	pthread_join(t, NULL);
	CHECK_EQ(nready, 1);
	CHECK_EQ(got.data.u64, data);
	CHECK(got.events & want);
	close(pipefd[0]);
	close(pipefd[1]);
	close(ep);
}

static void read_n(int fd, size_t n)
{
	static char junk[65536];
	while (n) {
		ssize_t r = read(fd, junk, n < sizeof(junk) ? n : sizeof(junk));
		CHECK(r > 0);
		n -= (size_t)r;
	}
}

int main(void)
{
	int c, s, p[2];
	char buf[16];
	watchdog(30);

	/* 1. The first connection of the set, added after its bytes arrived. */
	make_pair(&c, &s);
	pthread_t t = start_waiter(p);
	write_all(c, "hello", 5);
	sleep_ms(50);
	struct epoll_event e = {.events = EPOLLIN, .data.u64 = 0x1001};
	OK(epoll_ctl(ep, EPOLL_CTL_ADD, s, &e));
	finish(t, p, 0x1001, EPOLLIN);
	read_all(s, buf, 5);

	/* 2. Added to a set that already holds a connection, bytes arriving later. */
	int c2, s2;
	make_pair(&c2, &s2);
	ep = OK(epoll_create1(EPOLL_CLOEXEC));
	OK(pipe(p));
	e = (struct epoll_event){.events = EPOLLIN, .data.u64 = 0xdead};
	OK(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &e));
	e = (struct epoll_event){.events = EPOLLIN, .data.u64 = 0xbeef};
	OK(epoll_ctl(ep, EPOLL_CTL_ADD, s2, &e));
	nready = -2;
	pthread_create(&t, NULL, waiter, NULL);
	sleep_ms(100);
	e = (struct epoll_event){.events = EPOLLIN, .data.u64 = 0x1002};
	OK(epoll_ctl(ep, EPOLL_CTL_ADD, s, &e));
	sleep_ms(50);
	write_all(c, "x", 1);
	finish(t, p, 0x1002, EPOLLIN);
	read_all(s, buf, 1);

	/* 3. EPOLLOUT added on a full socket; the peer then reads everything. */
	set_nonblock(s, 1);
	t = start_waiter(p);
	size_t queued = fill_until_eagain(s);
	e = (struct epoll_event){.events = EPOLLOUT, .data.u64 = 0x1003};
	OK(epoll_ctl(ep, EPOLL_CTL_ADD, s, &e));
	sleep_ms(50);
	read_n(c, queued);
	finish(t, p, 0x1003, EPOLLOUT);

	/* 4. MOD from EPOLLIN to EPOLLOUT while the waiter sleeps. */
	t = start_waiter(p);
	e = (struct epoll_event){.events = EPOLLIN, .data.u64 = 0x1004};
	OK(epoll_ctl(ep, EPOLL_CTL_ADD, s, &e));
	sleep_ms(50);
	queued = fill_until_eagain(s);
	e = (struct epoll_event){.events = EPOLLOUT, .data.u64 = 0x1005};
	OK(epoll_ctl(ep, EPOLL_CTL_MOD, s, &e));
	sleep_ms(50);
	read_n(c, queued);
	finish(t, p, 0x1005, EPOLLOUT);

	/* The connection still works both ways. */
	write_all(c, "ping", 4);
	set_nonblock(s, 0);
	read_all(s, buf, 4);
	CHECK(memcmp(buf, "ping", 4) == 0);
	close(c);
	close(s);
	close(c2);
	close(s2);
	printf("ok\n");
	return 0;
}
