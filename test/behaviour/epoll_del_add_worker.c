/* SPDX-License-Identifier: MIT */
/*
 * Proves: the way apache's mpm_event serves keep-alive connections works. A
 * listener thread sleeps in level-triggered epoll_wait (no timeout) on a set
 * that holds only a listening socket; the connections (made on another
 * listener) are added to the set while it sleeps. A readable connection is taken out of the set
 * (EPOLL_CTL_DEL) and handed to a worker thread, which reads the request,
 * writes a 10 kB answer and puts the connection back (EPOLL_CTL_ADD) while
 * the listener sleeps. Four clients, each on its own connection, ask and
 * read the answer 2000 times in all; the next request often comes before
 * the worker's ADD. Every request is answered, each within a second.
 * (X-IO: the news board. The set takes its board when the first connection
 * joins, with a thread asleep already: that sleeper must count on the board,
 * or producers see no sleeper and ring no doorbell. And an item that leaves
 * and rejoins a set gives its claim back and takes it again.)
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "epoll_pairs.h"

#define N	 4
#define REQUESTS 2000
#define ANSWER	 10240
#define WORKERS	 2

static int c[N], s[N], ep;
static _Atomic int served, asked;
static int queue[N + 1], qn;
static pthread_mutex_t qlock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t qcv = PTHREAD_COND_INITIALIZER;

static void *listener(void *arg)
{
	(void)arg;
	for (;;) {
		struct epoll_event ev[8];
		int n = epoll_wait_some(ep, ev, 8);
		for (int i = 0; i < n; i++) {
			int k = (int)ev[i].data.u32;
			if (k == N)
				return NULL; /* the stop request */
			CHECK_EVENTS(ev[i].events, EPOLLIN);
			OK(epoll_ctl(ep, EPOLL_CTL_DEL, s[k], NULL));
			pthread_mutex_lock(&qlock);
			queue[qn++] = k;
			pthread_cond_signal(&qcv);
			pthread_mutex_unlock(&qlock);
		}
	}
}

static void *worker(void *arg)
{
	(void)arg;
	static char answer[ANSWER];
	for (;;) {
		pthread_mutex_lock(&qlock);
		while (!qn)
			pthread_cond_wait(&qcv, &qlock);
		int k = queue[--qn];
		if (k == N) {
			queue[qn++] = N; /* for the other workers */
			pthread_cond_broadcast(&qcv);
			pthread_mutex_unlock(&qlock);
			return NULL;
		}
		pthread_mutex_unlock(&qlock);
		char req[16];
		ssize_t r = read(s[k], req, sizeof(req));
		CHECK_EQ(r, 1);
		atomic_fetch_add(&served, 1); /* before the client can read the answer */
		write_all(s[k], answer, sizeof(answer));
		struct epoll_event e = {.events = EPOLLIN, .data.u32 = (uint32_t)k};
		OK(epoll_ctl(ep, EPOLL_CTL_ADD, s[k], &e));
	}
}

static void *client(void *arg)
{
	int k = (int)(intptr_t)arg;
	static char buf[N][ANSWER];
	while (atomic_fetch_add(&asked, 1) < REQUESTS) {
		int64_t t0 = now_ms();
		write_all(c[k], "?", 1);
		read_all(c[k], buf[k], ANSWER);
		if (now_ms() - t0 > 1000)
			FAIL("connection %d: a request took %lld ms", k,
			     (long long)(now_ms() - t0));
	}
	return NULL;
}

int main(void)
{
	watchdog(25);
	ep = OK(epoll_create1(0));
	/* The set holds only a listening socket (nobody connects) while the listener falls asleep.
	 */
	uint16_t port;
	int lfd = listen_lo(&port);
	struct epoll_event le = {.events = EPOLLIN, .data.u32 = N + 1};
	OK(epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &le));
	pthread_t l, w[WORKERS], cl[N];
	pthread_create(&l, NULL, listener, NULL);
	sleep_ms(100);
	epoll_pairs_open(ep, N, c, s);
	for (int i = 0; i < WORKERS; i++)
		pthread_create(&w[i], NULL, worker, NULL);
	for (int i = 0; i < N; i++)
		pthread_create(&cl[i], NULL, client, (void *)(intptr_t)i);
	for (int i = 0; i < N; i++)
		pthread_join(cl[i], NULL);
	CHECK_EQ(atomic_load(&served), REQUESTS);
	/* Stop: a pipe in the set wakes the listener, a queued N the workers. */
	int p[2];
	OK(pipe(p));
	struct epoll_event e = {.events = EPOLLIN, .data.u32 = N};
	OK(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &e));
	write_all(p[1], "x", 1);
	pthread_join(l, NULL);
	pthread_mutex_lock(&qlock);
	queue[qn++] = N;
	pthread_cond_broadcast(&qcv);
	pthread_mutex_unlock(&qlock);
	for (int i = 0; i < WORKERS; i++)
		pthread_join(w[i], NULL);
	epoll_pairs_close(N, c, s);
	close(lfd);
	close(ep);
	printf("ok: %d requests\n", atomic_load(&served));
	return 0;
}
