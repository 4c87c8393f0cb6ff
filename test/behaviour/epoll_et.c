/* SPDX-License-Identifier: MIT */
/*
 * Proves: edge-triggered epoll on a connection gives one event per new
 * arrival, not one per call: the initial EPOLLOUT once, then nothing while
 * unread bytes sit there, one event for each further write of the peer (with
 * the full current mask, IN|OUT, as the kernel reports it), one for the
 * peer's shutdown (IN|OUT|RDHUP); no EPOLLOUT edge when the peer consumes
 * bytes of a send queue that never filled; and after EAGAIN on a full send
 * path exactly one EPOLLOUT once the peer has read everything.
 */
#include <sys/epoll.h>

#include "helpers.h"

/* Events for the only fd in @ep within @ms: returns the mask, 0 if none. */
static unsigned events_of(int ep, int ms)
{
	struct epoll_event ev[4];
	int n = OK(epoll_wait(ep, ev, 4, ms));
	if (n == 0)
		return 0;
	CHECK_EQ(n, 1);
	CHECK_EQ(ev[0].data.u64, 0xe7);
	return ev[0].events;
}

int main(void)
{
	char buf[64];
	int c, s;

	watchdog(20);
	setvbuf(stdout, NULL, _IONBF, 0);
	make_pair(&c, &s);
	set_nonblock(s, 1);

	int ep = OK(epoll_create1(0));
	struct epoll_event e = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
				.data.u64 = 0xe7};
	OK(epoll_ctl(ep, EPOLL_CTL_ADD, s, &e));

	/* Registration of a writable socket: one EPOLLOUT, then silence. */
	CHECK_EVENTS(events_of(ep, 100), EPOLLOUT);
	CHECK_EVENTS(events_of(ep, 0), 0);
	CHECK_EVENTS(events_of(ep, 50), 0);

	/* One arrival, one event; the unread byte does not repeat it. */
	write_all(c, "a", 1);
	CHECK_EVENTS(events_of(ep, 1000), EPOLLIN | EPOLLOUT);
	CHECK_EVENTS(events_of(ep, 0), 0);
	CHECK_EVENTS(events_of(ep, 50), 0);

	/* A second arrival without reading: a new event. */
	write_all(c, "b", 1);
	CHECK_EVENTS(events_of(ep, 1000), EPOLLIN | EPOLLOUT);
	CHECK_EVENTS(events_of(ep, 50), 0);

	/* Reading gives no event of its own. */
	CHECK_EQ(read(s, buf, 1), 1);
	CHECK_EQ(buf[0], 'a');
	CHECK_EVENTS(events_of(ep, 50), 0);
	CHECK_EQ(read(s, buf, sizeof(buf)), 1);
	CHECK_EQ(buf[0], 'b');
	CHECK_ERR(read(s, buf, sizeof(buf)), EAGAIN);
	CHECK_EVENTS(events_of(ep, 50), 0);

	/* Three writes before one wait collapse into one event. */
	write_all(c, "xyz", 1);
	write_all(c, "y", 1);
	write_all(c, "z", 1);
	sleep_ms(20);
	CHECK_EVENTS(events_of(ep, 1000), EPOLLIN | EPOLLOUT);
	CHECK_EVENTS(events_of(ep, 50), 0);
	CHECK_EQ(read(s, buf, sizeof(buf)), 3);

	/* The peer consuming a little of what we sent (no EAGAIN before) is no edge. */
	write_all(s, "0123456789", 10);
	char in[10];
	read_all(c, in, 10);
	CHECK_EVENTS(events_of(ep, 100), 0);

	/* EAGAIN on a full send path, then exactly one EPOLLOUT once the peer read it all. */
	size_t queued = fill_until_eagain(s);
	CHECK(queued > 0);
	CHECK_EVENTS(events_of(ep, 50), 0);
	static char big[1 << 16];
	for (size_t got = 0; got < queued;) {
		size_t want = queued - got < sizeof(big) ? queued - got : sizeof(big);
		ssize_t n = read(c, big, want);
		CHECK(n > 0);
		got += (size_t)n;
	}
	CHECK_EVENTS(events_of(ep, 1000), EPOLLOUT);
	CHECK_EVENTS(events_of(ep, 0), 0);
	CHECK_EVENTS(events_of(ep, 50), 0);

	/* The peer's shutdown is one more edge: IN|OUT|RDHUP, once. */
	OK(shutdown(c, SHUT_WR));
	CHECK_EVENTS(events_of(ep, 1000), EPOLLIN | EPOLLOUT | EPOLLRDHUP);
	CHECK_EVENTS(events_of(ep, 50), 0);
	CHECK_EQ(read(s, buf, sizeof(buf)), 0);

	close(ep);
	close(c);
	close(s);
	printf("epoll_et: ok\n");
	return 0;
}
