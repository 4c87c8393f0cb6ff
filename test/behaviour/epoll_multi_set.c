/* SPDX-License-Identifier: MIT */
/*
 * Proves: one connection registered in two epoll sets is reported by each
 * with that set's own interest mask and data; removing it from one set or
 * closing one set leaves the other working; edge-triggered registrations in
 * two sets each get their own edge; and two threads sleeping in epoll_wait
 * on the two sets are both woken by one write of the peer.
 */
#include <pthread.h>
#include <sys/epoll.h>

#include "helpers.h"

static int wait1(int ep, int ms, struct epoll_event *out)
{
	struct epoll_event ev[4];
	int n = OK(epoll_wait(ep, ev, 4, ms));
	CHECK(n <= 1);
	if (n == 1)
		*out = ev[0];
	return n;
}

struct sleeper {
	int ep;
	int n;
	struct epoll_event ev;
	int64_t woke_ms;
};

static void *sleep_in(void *arg)
{
	struct sleeper *z = arg;
	struct epoll_event ev[4];
	z->n = epoll_wait(z->ep, ev, 4, 5000);
	z->woke_ms = now_ms();
	if (z->n > 0)
		z->ev = ev[0];
	return NULL;
}

int main(void)
{
	struct epoll_event e, got;
	char buf[16];
	int c, s;

	watchdog(20);
	setvbuf(stdout, NULL, _IONBF, 0);
	make_pair(&c, &s);
	int ep1 = OK(epoll_create1(0)), ep2 = OK(epoll_create1(0));
	e = (struct epoll_event){.events = EPOLLIN, .data.u64 = 1};
	OK(epoll_ctl(ep1, EPOLL_CTL_ADD, s, &e));
	e = (struct epoll_event){.events = EPOLLIN | EPOLLOUT, .data.u64 = 2};
	OK(epoll_ctl(ep2, EPOLL_CTL_ADD, s, &e));

	/* Idle: only the set that asked for OUT reports. */
	CHECK_EQ(wait1(ep1, 50, &got), 0);
	CHECK_EQ(wait1(ep2, 1000, &got), 1);
	CHECK_EVENTS(got.events, EPOLLOUT);
	CHECK_EQ(got.data.u64, 2);

	/* Data: each set, its own mask and data, as often as asked (level). */
	write_all(c, "a", 1);
	CHECK_EQ(wait1(ep1, 1000, &got), 1);
	CHECK_EVENTS(got.events, EPOLLIN);
	CHECK_EQ(got.data.u64, 1);
	CHECK_EQ(wait1(ep2, 1000, &got), 1);
	CHECK_EVENTS(got.events, EPOLLIN | EPOLLOUT);
	CHECK_EQ(got.data.u64, 2);
	CHECK_EQ(wait1(ep1, 0, &got), 1);
	CHECK_EQ(wait1(ep2, 0, &got), 1);
	CHECK_EQ(read(s, buf, sizeof(buf)), 1);
	CHECK_EQ(wait1(ep1, 50, &got), 0);

	/* Removed from one set: the other still reports. */
	OK(epoll_ctl(ep1, EPOLL_CTL_DEL, s, NULL));
	write_all(c, "b", 1);
	CHECK_EQ(wait1(ep1, 50, &got), 0);
	CHECK_EQ(wait1(ep2, 1000, &got), 1);
	CHECK_EVENTS(got.events, EPOLLIN | EPOLLOUT);
	CHECK_EQ(read(s, buf, sizeof(buf)), 1);

	/* Edge-triggered in both sets: one edge each, per arrival. */
	e = (struct epoll_event){.events = EPOLLIN | EPOLLET, .data.u64 = 11};
	OK(epoll_ctl(ep1, EPOLL_CTL_ADD, s, &e));
	e = (struct epoll_event){.events = EPOLLIN | EPOLLET, .data.u64 = 12};
	OK(epoll_ctl(ep2, EPOLL_CTL_MOD, s, &e));
	CHECK_EQ(wait1(ep1, 50, &got), 0);
	CHECK_EQ(wait1(ep2, 50, &got), 0);
	write_all(c, "c", 1);
	CHECK_EQ(wait1(ep1, 1000, &got), 1);
	CHECK_EQ(got.data.u64, 11);
	CHECK_EQ(wait1(ep1, 50, &got), 0);
	CHECK_EQ(wait1(ep2, 1000, &got), 1); /* ep1 consuming its edge did not eat ep2's */
	CHECK_EQ(got.data.u64, 12);
	CHECK_EQ(wait1(ep2, 50, &got), 0);
	CHECK_EQ(read(s, buf, sizeof(buf)), 1);

	/* Two threads asleep, one in each set: one write wakes both. */
	e = (struct epoll_event){.events = EPOLLIN, .data.u64 = 21};
	OK(epoll_ctl(ep1, EPOLL_CTL_MOD, s, &e));
	e = (struct epoll_event){.events = EPOLLIN, .data.u64 = 22};
	OK(epoll_ctl(ep2, EPOLL_CTL_MOD, s, &e));
	struct sleeper z1 = {.ep = ep1}, z2 = {.ep = ep2};
	pthread_t t1, t2;
	pthread_create(&t1, NULL, sleep_in, &z1);
	pthread_create(&t2, NULL, sleep_in, &z2);
	sleep_ms(200); /* both asleep in the kernel by now */
	int64_t t0 = now_ms();
	write_all(c, "d", 1);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	CHECK_EQ(z1.n, 1);
	CHECK_EQ(z1.ev.data.u64, 21);
	CHECK_EQ(z2.n, 1);
	CHECK_EQ(z2.ev.data.u64, 22);
	if (z1.woke_ms - t0 > 1000 || z2.woke_ms - t0 > 1000)
		FAIL("woken after %lld and %lld ms", (long long)(z1.woke_ms - t0),
		     (long long)(z2.woke_ms - t0));
	CHECK_EQ(read(s, buf, sizeof(buf)), 1);

	/* Closing one set leaves the other working. */
	OK(close(ep1));
	write_all(c, "e", 1);
	CHECK_EQ(wait1(ep2, 1000, &got), 1);
	CHECK_EVENTS(got.events, EPOLLIN);
	CHECK_EQ(got.data.u64, 22);

	close(ep2);
	close(c);
	close(s);
	printf("epoll_multi_set: ok\n");
	return 0;
}
