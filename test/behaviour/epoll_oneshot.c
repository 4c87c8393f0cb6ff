/* SPDX-License-Identifier: MIT */
/*
 * Proves: EPOLLONESHOT reports one event and then disables the item (no
 * event for further arrivals, the item stays registered: ADD says EEXIST);
 * EPOLL_CTL_MOD re-arms it and, level-triggered, reports at once what is
 * already pending, with the new mask and the new data; MOD/DEL of an fd that
 * is not registered say ENOENT, ADD twice says EEXIST, an epoll fd cannot
 * watch itself (EINVAL), a bad op is EINVAL, and MOD of an EPOLLEXCLUSIVE
 * registration is EINVAL.
 */
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

int main(void)
{
	struct epoll_event e, got;
	char buf[16];
	int c, s;

	watchdog(20);
	setvbuf(stdout, NULL, _IONBF, 0);
	make_pair(&c, &s);
	int ep = OK(epoll_create1(0));

	e = (struct epoll_event){.events = EPOLLIN | EPOLLONESHOT, .data.u64 = 1};
	OK(epoll_ctl(ep, EPOLL_CTL_ADD, s, &e));
	CHECK_ERR(epoll_ctl(ep, EPOLL_CTL_ADD, s, &e), EEXIST);
	CHECK_EQ(wait1(ep, 50, &got), 0);

	/* One event... */
	write_all(c, "1", 1);
	CHECK_EQ(wait1(ep, 1000, &got), 1);
	CHECK_EVENTS(got.events, EPOLLIN);
	CHECK_EQ(got.data.u64, 1);
	/* ...then silence, although unread bytes remain and more arrive. */
	CHECK_EQ(wait1(ep, 50, &got), 0);
	write_all(c, "2", 1);
	CHECK_EQ(wait1(ep, 100, &got), 0);
	/* Disabled, not removed. */
	CHECK_ERR(epoll_ctl(ep, EPOLL_CTL_ADD, s, &e), EEXIST);

	/* MOD re-arms: pending bytes are reported at once, with the new data. */
	e = (struct epoll_event){.events = EPOLLIN | EPOLLONESHOT, .data.u64 = 2};
	OK(epoll_ctl(ep, EPOLL_CTL_MOD, s, &e));
	CHECK_EQ(wait1(ep, 1000, &got), 1);
	CHECK_EVENTS(got.events, EPOLLIN);
	CHECK_EQ(got.data.u64, 2);
	CHECK_EQ(wait1(ep, 50, &got), 0);
	CHECK_EQ(read(s, buf, sizeof(buf)), 2);
	CHECK(memcmp(buf, "12", 2) == 0);

	/* Re-arm for EPOLLOUT only: reported with OUT alone, once. */
	e = (struct epoll_event){.events = EPOLLOUT | EPOLLONESHOT, .data.u64 = 3};
	OK(epoll_ctl(ep, EPOLL_CTL_MOD, s, &e));
	CHECK_EQ(wait1(ep, 1000, &got), 1);
	CHECK_EVENTS(got.events, EPOLLOUT);
	CHECK_EQ(got.data.u64, 3);
	CHECK_EQ(wait1(ep, 50, &got), 0);

	/* Re-arm while nothing is pending: the next arrival fires it, once. */
	e = (struct epoll_event){.events = EPOLLIN | EPOLLONESHOT, .data.u64 = 4};
	OK(epoll_ctl(ep, EPOLL_CTL_MOD, s, &e));
	CHECK_EQ(wait1(ep, 50, &got), 0);
	write_all(c, "3", 1);
	CHECK_EQ(wait1(ep, 1000, &got), 1);
	CHECK_EVENTS(got.events, EPOLLIN);
	CHECK_EQ(got.data.u64, 4);
	write_all(c, "4", 1);
	CHECK_EQ(wait1(ep, 100, &got), 0);

	/* ONESHOT with ET: the re-arm reports pending data only on a new arrival. */
	e = (struct epoll_event){.events = EPOLLIN | EPOLLONESHOT | EPOLLET, .data.u64 = 5};
	OK(epoll_ctl(ep, EPOLL_CTL_MOD, s, &e));
	CHECK_EQ(wait1(ep, 1000, &got), 1); /* MOD itself polls: pending bytes fire once */
	CHECK_EVENTS(got.events, EPOLLIN);
	CHECK_EQ(got.data.u64, 5);
	CHECK_EQ(wait1(ep, 50, &got), 0);
	CHECK_EQ(read(s, buf, sizeof(buf)), 2);

	/* A plain registration after MOD: level again. */
	e = (struct epoll_event){.events = EPOLLIN, .data.u64 = 6};
	OK(epoll_ctl(ep, EPOLL_CTL_MOD, s, &e));
	CHECK_EQ(wait1(ep, 50, &got), 0);
	write_all(c, "5", 1);
	CHECK_EQ(wait1(ep, 1000, &got), 1);
	CHECK_EQ(wait1(ep, 0, &got), 1);
	CHECK_EQ(got.data.u64, 6);

	/* DEL, then MOD and DEL again: ENOENT. */
	OK(epoll_ctl(ep, EPOLL_CTL_DEL, s, NULL));
	CHECK_EQ(wait1(ep, 50, &got), 0);
	CHECK_ERR(epoll_ctl(ep, EPOLL_CTL_MOD, s, &e), ENOENT);
	CHECK_ERR(epoll_ctl(ep, EPOLL_CTL_DEL, s, NULL), ENOENT);
	CHECK_ERR(epoll_ctl(ep, EPOLL_CTL_MOD, c, &e), ENOENT);
	CHECK_ERR(epoll_ctl(ep, EPOLL_CTL_ADD, ep, &e), EINVAL);
	CHECK_ERR(epoll_ctl(ep, 99, s, &e), EINVAL);
	/* EPOLLEXCLUSIVE cannot be combined with MOD. */
	e = (struct epoll_event){.events = EPOLLIN | EPOLLEXCLUSIVE, .data.u64 = 7};
	OK(epoll_ctl(ep, EPOLL_CTL_ADD, s, &e));
	CHECK_EQ(wait1(ep, 1000, &got), 1);
	CHECK_EQ(got.data.u64, 7);
	CHECK_ERR(epoll_ctl(ep, EPOLL_CTL_MOD, s, &e), EINVAL);
	OK(epoll_ctl(ep, EPOLL_CTL_DEL, s, NULL));

	close(ep);
	close(c);
	close(s);
	printf("epoll_oneshot: ok\n");
	return 0;
}
