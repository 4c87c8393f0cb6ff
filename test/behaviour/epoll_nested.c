/* SPDX-License-Identifier: MIT */
/*
 * Proves: an epoll fd that holds a connection is itself readable when the
 * connection is: reported by an outer epoll set (level: on every call, until
 * the inner set has nothing to report), by poll and by select; a thread
 * asleep in the outer epoll_wait, in poll or in select on the inner epoll fd
 * is woken by the peer's write; and after the bytes are read the inner fd is
 * no longer readable.
 */
#include <poll.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/select.h>

#include "helpers.h"

static int c, s, inner, outer;

static int outer_events(int ms, uint32_t *events)
{
	struct epoll_event ev[4];
	int n = OK(epoll_wait(outer, ev, 4, ms));
	CHECK(n <= 1);
	if (n == 1) {
		CHECK_EQ(ev[0].data.u64, 0x1e);
		*events = ev[0].events;
	}
	return n;
}

static short poll_inner(int ms)
{
	struct pollfd p = {.fd = inner, .events = POLLIN};
	int n = OK(poll(&p, 1, ms));
	CHECK_EQ(n, p.revents ? 1 : 0);
	return p.revents;
}

static int select_inner(int ms)
{
	fd_set rd;
	FD_ZERO(&rd);
	FD_SET(inner, &rd);
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	int n = OK(select(inner + 1, &rd, NULL, NULL, &tv));
	CHECK_EQ(n, FD_ISSET(inner, &rd) ? 1 : 0);
	return n;
}

/* Inner set reports the connection? */
static int inner_events(int ms)
{
	struct epoll_event ev[4];
	int n = OK(epoll_wait(inner, ev, 4, ms));
	if (n)
		CHECK_EQ(ev[0].data.u64, 0x5e);
	return n;
}

struct sleeper {
	int how; /* 0 outer epoll, 1 poll, 2 select */
	int n;
	int64_t woke_ms;
};

static void *sleep_on_inner(void *arg)
{
	struct sleeper *z = arg;
	uint32_t evs;
	if (z->how == 0)
		z->n = outer_events(5000, &evs);
	else if (z->how == 1)
		z->n = poll_inner(5000) ? 1 : 0;
	else
		z->n = select_inner(5000);
	z->woke_ms = now_ms();
	return NULL;
}

static void woken_by_write(int how)
{
	char b;
	struct sleeper z = {.how = how};
	pthread_t t;
	pthread_create(&t, NULL, sleep_on_inner, &z);
	sleep_ms(200);
	int64_t t0 = now_ms();
	write_all(c, "w", 1);
	pthread_join(t, NULL);
	if (z.n != 1 || z.woke_ms - t0 > 1000)
		FAIL("sleeper %d (0 epoll, 1 poll, 2 select): returned %d after %lld ms", how, z.n,
		     (long long)(z.woke_ms - t0));
	CHECK_EQ(read(s, &b, 1), 1);
}

int main(void)
{
	char buf[16];
	uint32_t evs = 0;

	watchdog(25);
	setvbuf(stdout, NULL, _IONBF, 0);
	make_pair(&c, &s);
	inner = OK(epoll_create1(0));
	outer = OK(epoll_create1(0));
	struct epoll_event e = {.events = EPOLLIN, .data.u64 = 0x5e};
	OK(epoll_ctl(inner, EPOLL_CTL_ADD, s, &e));
	e = (struct epoll_event){.events = EPOLLIN, .data.u64 = 0x1e};
	OK(epoll_ctl(outer, EPOLL_CTL_ADD, inner, &e));

	/* Nothing pending anywhere. */
	CHECK_EQ(outer_events(50, &evs), 0);
	CHECK_EQ(poll_inner(50), 0);
	CHECK_EQ(select_inner(50), 0);

	/* Bytes arrive: the inner set is readable from every side, repeatedly. */
	write_all(c, "abc", 3);
	sleep_ms(20);
	CHECK_EQ(outer_events(0, &evs), 1);
	CHECK_EVENTS(evs, EPOLLIN);
	CHECK_EQ(outer_events(0, &evs), 1);
	CHECK_EVENTS(poll_inner(0), POLLIN);
	CHECK_EQ(select_inner(0), 1);
	CHECK_EQ(inner_events(0), 1);
	CHECK_EQ(outer_events(0, &evs), 1); /* level: still there after the inner wait */

	/* Read everything: nothing is readable any more. */
	CHECK_EQ(read(s, buf, sizeof(buf)), 3);
	CHECK_EQ(inner_events(0), 0);
	CHECK_EQ(outer_events(50, &evs), 0);
	CHECK_EQ(poll_inner(50), 0);
	CHECK_EQ(select_inner(50), 0);

	/* A sleeper on the inner set, through each interface, is woken. */
	woken_by_write(0);
	woken_by_write(1);
	woken_by_write(2);

	/* An epoll fd inside itself or in a loop is refused. */
	CHECK_ERR(epoll_ctl(inner, EPOLL_CTL_ADD, outer, &e), ELOOP);

	close(outer);
	close(inner);
	close(c);
	close(s);
	printf("epoll_nested: ok\n");
	return 0;
}
