/* SPDX-License-Identifier: MIT */
/*
 * Proves: closing the only descriptor of a registered connection removes it
 * from the epoll set (no event ever again, even when the peer writes), and
 * the fd number can be registered again at once for a new connection (ADD
 * succeeds, no EEXIST) with its own data. Closing one of two descriptors of
 * the connection (dup) does not: epoll keeps reporting the still-open file
 * with the data it was registered with — the kernel's documented gotcha —
 * and EPOLL_CTL_DEL through the closed number is EBADF.
 */
#include <sys/epoll.h>

#include "helpers.h"

static int wait_all(int ep, int ms, struct epoll_event *ev, int max)
{
	return (int)OK(epoll_wait(ep, ev, max, ms));
}

int main(void)
{
	struct epoll_event e, ev[8];
	char buf[16];
	int c, s;

	watchdog(20);
	setvbuf(stdout, NULL, _IONBF, 0);
	int ep = OK(epoll_create1(0));

	/* 1. The only descriptor closed while registered. */
	make_pair(&c, &s);
	int num = s;
	e = (struct epoll_event){.events = EPOLLIN, .data.u64 = 100};
	OK(epoll_ctl(ep, EPOLL_CTL_ADD, s, &e));
	write_all(c, "x", 1);
	CHECK_EQ(wait_all(ep, 1000, ev, 8), 1);
	OK(close(s));
	CHECK_EQ(wait_all(ep, 50, ev, 8), 0);
	(void)!write(c, "y", 1);
	CHECK_EQ(wait_all(ep, 100, ev, 8), 0);
	close(c);
	CHECK_EQ(wait_all(ep, 50, ev, 8), 0);

	/* The number comes back for a new connection and registers like new. */
	int c2, s2;
	make_pair(&c2, &s2);
	int reused = (s2 == num) ? s2 : (c2 == num ? c2 : -1);
	CHECK(reused >= 0); /* lowest free number: the closed one */
	int other = reused == s2 ? c2 : s2;
	e = (struct epoll_event){.events = EPOLLIN, .data.u64 = 200};
	OK(epoll_ctl(ep, EPOLL_CTL_ADD, reused, &e));
	CHECK_EQ(wait_all(ep, 50, ev, 8), 0);
	write_all(other, "z", 1);
	CHECK_EQ(wait_all(ep, 1000, ev, 8), 1);
	CHECK_EQ(ev[0].data.u64, 200);
	CHECK_EVENTS(ev[0].events, EPOLLIN);
	CHECK_EQ(read(reused, buf, sizeof(buf)), 1);
	OK(epoll_ctl(ep, EPOLL_CTL_DEL, reused, NULL));
	close(c2);
	close(s2);

	/* Same without any epoll_wait between the close and the new ADD. */
	make_pair(&c, &s);
	e = (struct epoll_event){.events = EPOLLIN, .data.u64 = 150};
	OK(epoll_ctl(ep, EPOLL_CTL_ADD, s, &e));
	num = s;
	OK(close(s));
	make_pair(&c2, &s2);
	reused = (s2 == num) ? s2 : (c2 == num ? c2 : -1);
	CHECK(reused >= 0);
	other = reused == s2 ? c2 : s2;
	e = (struct epoll_event){.events = EPOLLIN, .data.u64 = 250};
	OK(epoll_ctl(ep, EPOLL_CTL_ADD, reused, &e));
	write_all(other, "z", 1);
	(void)!write(c, "y", 1);
	CHECK_EQ(wait_all(ep, 1000, ev, 8), 1);
	CHECK_EQ(ev[0].data.u64, 250);
	CHECK_EQ(read(reused, buf, sizeof(buf)), 1);
	OK(epoll_ctl(ep, EPOLL_CTL_DEL, reused, NULL));
	close(c);
	close(c2);
	close(s2);

	/* 2. One of two descriptors closed: the registration lives on with the file. */
	make_pair(&c, &s);
	e = (struct epoll_event){.events = EPOLLIN, .data.u64 = 300};
	OK(epoll_ctl(ep, EPOLL_CTL_ADD, s, &e));
	int d = OK(dup(s));
	int closed = s;
	OK(close(s));
	write_all(c, "q", 1);
	CHECK_EQ(wait_all(ep, 1000, ev, 8), 1);
	CHECK_EQ(ev[0].data.u64, 300);
	CHECK_EVENTS(ev[0].events, EPOLLIN);
	CHECK_ERR(epoll_ctl(ep, EPOLL_CTL_DEL, closed, NULL), EBADF);
	CHECK_ERR(epoll_ctl(ep, EPOLL_CTL_DEL, d, NULL), ENOENT);
	CHECK_EQ(read(d, buf, sizeof(buf)), 1);
	CHECK_EQ(wait_all(ep, 50, ev, 8), 0);
	/* Closing the last descriptor finally removes it. */
	OK(close(d));
	write_all(c, "r", 1);
	CHECK_EQ(wait_all(ep, 100, ev, 8), 0);
	close(c);

	/* 3. Many registered fds, half closed: the rest still report, exactly. */
	int cs[8], ss[8];
	for (int i = 0; i < 8; i++) {
		make_pair(&cs[i], &ss[i]);
		e = (struct epoll_event){.events = EPOLLIN, .data.u64 = 1000 + (uint64_t)i};
		OK(epoll_ctl(ep, EPOLL_CTL_ADD, ss[i], &e));
	}
	for (int i = 0; i < 8; i += 2)
		OK(close(ss[i]));
	for (int i = 0; i < 8; i++)
		(void)!write(cs[i], "m", 1);
	sleep_ms(20);
	int n = wait_all(ep, 1000, ev, 8);
	CHECK_EQ(n, 4);
	unsigned seen = 0;
	for (int i = 0; i < n; i++) {
		uint64_t k = ev[i].data.u64 - 1000;
		CHECK(k < 8 && k % 2 == 1);
		seen |= 1u << k;
	}
	CHECK_EQ(seen, 0xaa);

	close(ep);
	printf("epoll_close_registered: ok\n");
	return 0;
}
