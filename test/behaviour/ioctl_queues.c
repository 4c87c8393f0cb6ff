/* SPDX-License-Identifier: MIT */
/*
 * Proves: the queue ioctls and the receive low-water mark answer as on TCP:
 * FIONREAD / SIOCINQ give the unread byte count (0, 100, 70 after reading
 * 30, 0 after the rest); SIOCOUTQ is 0 on a fresh connection and drops back
 * to 0 once the peer's stack has taken the bytes — even before the peer's
 * application reads them; SO_RCVLOWAT = 10 reads back as 10, keeps poll and
 * epoll from reporting POLLIN while fewer than 10 bytes wait and reports it
 * at 10. (A blocking read below the mark is not tested: the kernel's wake-up
 * then counts only unread bytes and may sleep past the mark.)
 */
#include <linux/sockios.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>

#include "helpers.h"

static int c, s;

static int ioc(int fd, unsigned long req)
{
	int v = -1;
	OK(ioctl(fd, req, &v));
	return v;
}

int main(void)
{
	char buf[256];

	watchdog(20);
	setvbuf(stdout, NULL, _IONBF, 0);
	make_pair(&c, &s);

	CHECK_EQ(ioc(s, FIONREAD), 0);
	CHECK_EQ(ioc(c, SIOCOUTQ), 0);
	pat_fill(buf, 100, 0, 1);
	write_all(c, buf, 100);
	sleep_ms(20);
	CHECK_EQ(ioc(s, FIONREAD), 100);
	CHECK_EQ(ioc(s, SIOCINQ), 100);
	CHECK_EQ(read(s, buf, 30), 30);
	CHECK_EQ(ioc(s, FIONREAD), 70);
	/* Taken by the peer's stack (acknowledged) although its application has not read. */
	int64_t end = now_ms() + 1000;
	int outq;
	while ((outq = ioc(c, SIOCOUTQ)) != 0 && now_ms() < end)
		sleep_ms(5);
	CHECK_EQ(outq, 0);
	CHECK_EQ(read(s, buf, sizeof(buf)), 70);
	CHECK_EQ(ioc(s, FIONREAD), 0);
	CHECK_EQ(ioc(c, SIOCOUTQ), 0);

	/* SO_RCVLOWAT */
	int lowat = 10;
	OK(setsockopt(s, SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof(lowat)));
	lowat = 0;
	socklen_t len = sizeof(lowat);
	OK(getsockopt(s, SOL_SOCKET, SO_RCVLOWAT, &lowat, &len));
	CHECK_EQ(lowat, 10);
	int ep = OK(epoll_create1(0));
	struct epoll_event e = {.events = EPOLLIN}, ev;
	OK(epoll_ctl(ep, EPOLL_CTL_ADD, s, &e));
	write_all(c, "12345", 5);
	sleep_ms(20);
	struct pollfd p = {.fd = s, .events = POLLIN};
	CHECK_EQ(poll(&p, 1, 50), 0);
	CHECK_EQ(epoll_wait(ep, &ev, 1, 50), 0);
	CHECK_EQ(ioc(s, FIONREAD), 5);
	/* At the mark: readable, and a read returns all 10. */
	write_all(c, "67890", 5);
	CHECK_EQ(poll(&p, 1, 1000), 1);
	CHECK_EVENTS(p.revents, POLLIN);
	CHECK_EQ(epoll_wait(ep, &ev, 1, 1000), 1);
	CHECK_EQ(read(s, buf, sizeof(buf)), 10);
	CHECK(memcmp(buf, "1234567890", 10) == 0);
	/* Below the mark again: not readable. */
	write_all(c, "abc", 3);
	sleep_ms(20);
	CHECK_EQ(poll(&p, 1, 50), 0);
	write_all(c, "defghij", 7);
	write_all(c, "abcdefghij", 10);
	CHECK_EQ(poll(&p, 1, 1000), 1);
	CHECK_EVENTS(p.revents, POLLIN);
	CHECK_EQ(epoll_wait(ep, &ev, 1, 1000), 1);

	close(ep);
	close(c);
	close(s);
	printf("ioctl_queues: ok\n");
	return 0;
}
