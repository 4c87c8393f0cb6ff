/* SPDX-License-Identifier: MIT */
/*
 * Proves: level-triggered epoll reports exactly the mask kernel TCP reports
 * for a connection, from the ring state: EPOLLOUT alone when idle, EPOLLIN
 * while unread bytes remain (and again on every call), EPOLLIN|EPOLLRDHUP
 * once the peer shut down its write side (no EPOLLHUP), EPOLLHUP once both
 * directions are shut, EPOLLRDHUP only when asked for, and after the peer
 * close()d: IN|OUT|RDHUP without HUP, read 0, one more write accepted, then
 * HUP|ERR when the peer's reset comes back.
 */
#include <sys/epoll.h>

#include "helpers.h"

#define ALL (EPOLLIN | EPOLLOUT | EPOLLRDHUP)

/* The one event epoll reports for the only fd in @ep within @ms, or 0 if none. */
static unsigned events_of(int ep, int ms, uint64_t want_data)
{
	struct epoll_event ev[4];
	int n = OK(epoll_wait(ep, ev, 4, ms));
	if (n == 0)
		return 0;
	CHECK_EQ(n, 1);
	CHECK_EQ(ev[0].data.u64, want_data);
	return ev[0].events;
}

/* Wait up to 1 s for the mask to become @want (a FIN or RST may need a moment). */
static void expect_mask(int ep, uint64_t data, unsigned want, int line)
{
	unsigned got = 0;
	int64_t end = now_ms() + 1000;
	do {
		got = events_of(ep, 10, data);
		if (got == want)
			return;
	} while (now_ms() < end);
	FAIL("line %d: epoll mask 0x%x, want 0x%x", line, got, want);
}

#define EXPECT(ep, data, want) expect_mask(ep, data, want, __LINE__)

static int epoll_for(int fd, unsigned events, uint64_t data)
{
	int ep = OK(epoll_create1(EPOLL_CLOEXEC));
	struct epoll_event e = {.events = events, .data.u64 = data};
	OK(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e));
	return ep;
}

int main(void)
{
	char buf[64];
	int c, s;

	watchdog(20);
	setvbuf(stdout, NULL, _IONBF, 0);
	signal(SIGPIPE, SIG_IGN);

	/* 1. Idle connection: writable only, on every call. */
	make_pair(&c, &s);
	int eps = epoll_for(s, ALL, 0x5eull), epc = epoll_for(c, ALL, 0xc1ull);
	EXPECT(eps, 0x5e, EPOLLOUT);
	CHECK_EVENTS(events_of(eps, 0, 0x5e), EPOLLOUT);
	EXPECT(epc, 0xc1, EPOLLOUT);

	/* 2. Unread bytes: IN|OUT, again and again, until every byte is read. */
	write_all(c, "hello", 5);
	EXPECT(eps, 0x5e, EPOLLIN | EPOLLOUT);
	CHECK_EVENTS(events_of(eps, 0, 0x5e), EPOLLIN | EPOLLOUT);
	CHECK_EVENTS(events_of(eps, 0, 0x5e), EPOLLIN | EPOLLOUT);
	CHECK_EQ(read(s, buf, 2), 2);
	CHECK_EVENTS(events_of(eps, 0, 0x5e), EPOLLIN | EPOLLOUT);
	CHECK_EQ(read(s, buf, sizeof(buf)), 3);
	CHECK(memcmp(buf, "llo", 3) == 0);
	CHECK_EVENTS(events_of(eps, 0, 0x5e), EPOLLOUT);

	/* 3. A registration without EPOLLOUT reports nothing for an idle fd. */
	struct epoll_event e = {.events = EPOLLIN, .data.u64 = 0x5e};
	OK(epoll_ctl(eps, EPOLL_CTL_MOD, s, &e));
	CHECK_EQ(events_of(eps, 0, 0x5e), 0);
	CHECK_EQ(events_of(eps, 50, 0x5e), 0);
	e.events = ALL;
	OK(epoll_ctl(eps, EPOLL_CTL_MOD, s, &e));

	/* 4. Peer shut down its write side: IN|OUT|RDHUP, no HUP; read says EOF, repeatedly. */
	write_all(c, "tail", 4);
	OK(shutdown(c, SHUT_WR));
	EXPECT(eps, 0x5e, EPOLLIN | EPOLLOUT | EPOLLRDHUP);
	CHECK_EQ(read(s, buf, sizeof(buf)), 4);
	CHECK(memcmp(buf, "tail", 4) == 0);
	CHECK_EVENTS(events_of(eps, 0, 0x5e), EPOLLIN | EPOLLOUT | EPOLLRDHUP);
	CHECK_EQ(read(s, buf, sizeof(buf)), 0);
	CHECK_EQ(read(s, buf, sizeof(buf)), 0);
	CHECK_EVENTS(events_of(eps, 0, 0x5e), EPOLLIN | EPOLLOUT | EPOLLRDHUP);
	/* The side that shut down stays writable-looking and sees nothing to read. */
	CHECK_EVENTS(events_of(epc, 0, 0xc1), EPOLLOUT);

	/* Without EPOLLRDHUP in the registration the same state is just IN|OUT. */
	e.events = EPOLLIN | EPOLLOUT;
	OK(epoll_ctl(eps, EPOLL_CTL_MOD, s, &e));
	CHECK_EVENTS(events_of(eps, 0, 0x5e), EPOLLIN | EPOLLOUT);
	e.events = ALL;
	OK(epoll_ctl(eps, EPOLL_CTL_MOD, s, &e));

	/* The other direction still works. */
	write_all(s, "back", 4);
	EXPECT(epc, 0xc1, EPOLLIN | EPOLLOUT);
	CHECK_EQ(read(c, buf, sizeof(buf)), 4);

	/* 5. Both directions shut: HUP on both sides, even when not asked for. */
	OK(shutdown(s, SHUT_WR));
	EXPECT(epc, 0xc1, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLHUP);
	EXPECT(eps, 0x5e, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLHUP);
	e.events = EPOLLIN;
	OK(epoll_ctl(eps, EPOLL_CTL_MOD, s, &e));
	CHECK_EVENTS(events_of(eps, 0, 0x5e), EPOLLIN | EPOLLHUP);
	e.events = 0; /* HUP is reported even for an empty interest set */
	OK(epoll_ctl(eps, EPOLL_CTL_MOD, s, &e));
	CHECK_EVENTS(events_of(eps, 0, 0x5e), EPOLLHUP);
	close(eps);
	close(epc);
	close(c);
	close(s);

	/* 6. Peer close()d with nothing unread: IN|OUT|RDHUP, no HUP yet. */
	make_pair(&c, &s);
	eps = epoll_for(s, ALL, 0x77);
	EXPECT(eps, 0x77, EPOLLOUT);
	write_all(c, "last", 4);
	OK(close(c));
	EXPECT(eps, 0x77, EPOLLIN | EPOLLOUT | EPOLLRDHUP);
	CHECK_EQ(read(s, buf, sizeof(buf)), 4);
	CHECK_EQ(read(s, buf, sizeof(buf)), 0);
	CHECK_EVENTS(events_of(eps, 50, 0x77), EPOLLIN | EPOLLOUT | EPOLLRDHUP);
	/* TCP cannot know the peer closed rather than half-closed: one write is accepted... */
	CHECK_EQ(write(s, "x", 1), 1);
	/* ...and the reset it provokes makes the socket HUP|ERR. */
	EXPECT(eps, 0x77, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLHUP | EPOLLERR);
	CHECK_ERR(write(s, "y", 1), EPIPE);
	close(eps);
	close(s);

	printf("epoll_level: ok\n");
	return 0;
}
