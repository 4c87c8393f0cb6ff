/* SPDX-License-Identifier: MIT */
/*
 * Proves: two threads in level-triggered epoll_wait (no timeout, 3 events at
 * a time) on one set of 48 connections, while a third thread polls one of
 * them (and so drains doorbells the set may be waiting for), see every one
 * of 3000 messages sent to connections picked at random, one to five at a
 * time, each within a second: no readiness is lost while one thread takes
 * what became ready and the other sleeps. (X-IO: the news board, where a
 * producer posts only on a 0 -> 1 change of a connection's news word and a
 * sleeping set is rung only through the board; a lost post or a doorbell
 * taken by the poller would leave a thread asleep with data waiting.) A
 * kernel eventfd in the same set ends the test.
 */
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/eventfd.h>

#include "epoll_pairs.h"

#define N	 48
#define MESSAGES 3000
#define POLLED	 0 /* the connection a third thread polls too */

static int c[N], s[N], ep, stop;
static _Atomic uint64_t got;

static void *reader(void *arg)
{
	(void)arg;
	char buf[4096];
	for (;;) {
		struct epoll_event ev[3];
		int n = epoll_wait_some(ep, ev, 3);
		for (int i = 0; i < n; i++) {
			if (ev[i].data.u32 == N)
				return NULL; /* the eventfd: done */
			CHECK_EVENTS(ev[i].events, EPOLLIN);
			int fd = s[ev[i].data.u32];
			ssize_t k;
			while ((k = read(fd, buf, sizeof(buf))) > 0)
				atomic_fetch_add(&got, (uint64_t)k);
			CHECK(k < 0 && errno == EAGAIN); /* the other thread may have read it */
		}
	}
}

static void *poller(void *arg)
{
	(void)arg;
	for (;;) {
		struct pollfd p[2] = {{.fd = s[POLLED], .events = POLLIN},
				      {.fd = stop, .events = POLLIN}};
		int n = poll(p, 2, -1);
		if (n < 0 && errno == EINTR)
			continue;
		CHECK(n > 0);
		if (p[1].revents)
			return NULL;
		sleep_ms(1); /* the readers take the bytes; poll again after */
	}
}

int main(void)
{
	watchdog(60);
	ep = OK(epoll_create1(0));
	stop = OK(eventfd(0, EFD_NONBLOCK));
	epoll_pairs_open(ep, N, c, s);
	struct epoll_event e = {.events = EPOLLIN, .data.u32 = N};
	OK(epoll_ctl(ep, EPOLL_CTL_ADD, stop, &e));
	pthread_t r[2], p;
	for (int i = 0; i < 2; i++)
		pthread_create(&r[i], NULL, reader, NULL);
	pthread_create(&p, NULL, poller, NULL);
	srand(15);
	uint64_t sent = 0;
	for (int m = 0; m < MESSAGES;) {
		int burst = 1 + rand() % 5;
		for (int b = 0; b < burst && m < MESSAGES; b++, m++) {
			char msg[100];
			size_t len = 1 + (size_t)(rand() % (int)sizeof(msg));
			memset(msg, 'a' + m % 26, len);
			write_all(c[rand() % N], msg, len);
			sent += len;
		}
		int64_t t0 = now_ms();
		while (atomic_load(&got) < sent) {
			if (now_ms() - t0 > 1000)
				FAIL("message %d: %llu of %llu bytes read after 1 s", m,
				     (unsigned long long)atomic_load(&got),
				     (unsigned long long)sent);
			struct timespec ts = {0, 20000};
			nanosleep(&ts, NULL);
		}
		if (rand() % 4 == 0)
			sleep_ms(1); /* let both readers fall asleep */
	}
	uint64_t one = 1;
	CHECK_EQ(write(stop, &one, sizeof(one)), (ssize_t)sizeof(one));
	for (int i = 0; i < 2; i++)
		pthread_join(r[i], NULL);
	pthread_join(p, NULL);
	CHECK_EQ(atomic_load(&got), sent);
	epoll_pairs_close(N, c, s);
	close(ep);
	printf("ok\n");
	return 0;
}
