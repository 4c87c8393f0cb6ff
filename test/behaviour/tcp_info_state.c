/* SPDX-License-Identifier: MIT */
/*
 * Proves: TCP_INFO's tcpi_state follows the FINs as on TCP: ESTABLISHED;
 * after one side's shutdown(SHUT_WR) that side is FIN_WAIT2 and the other
 * CLOSE_WAIT (lighttpd tells a half-closed client from a gone one this
 * way); after the second FIN both open sockets are CLOSE (TIME_WAIT lives
 * in the kernel's separate mini-socket).
 */
#include "helpers.h"

static int state(int fd)
{
	struct tcp_info ti;
	socklen_t l = sizeof(ti);
	OK(getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &l));
	return ti.tcpi_state;
}

/* The kernel's state changes with the ACK that follows: give it a moment. */
static void want_state(int fd, int want)
{
	int64_t t0 = now_ms();
	while (state(fd) != want && now_ms() - t0 < 2000)
		sleep_ms(5);
	CHECK_EQ(state(fd), want);
}

int main(void)
{
	char buf[8];
	int c, s;
	watchdog(20);
	make_pair(&c, &s);
	CHECK_EQ(state(c), TCP_ESTABLISHED);
	CHECK_EQ(state(s), TCP_ESTABLISHED);

	write_all(c, "req", 3);
	OK(shutdown(c, SHUT_WR));
	read_all(s, buf, 3);
	want_state(s, TCP_CLOSE_WAIT); /* with or without unread bytes: the FIN is in */
	CHECK_EQ(read(s, buf, sizeof(buf)), 0);
	want_state(s, TCP_CLOSE_WAIT);
	want_state(c, TCP_FIN_WAIT2);

	write_all(s, "resp", 4); /* a half-closed client still gets its answer */
	OK(shutdown(s, SHUT_WR));
	read_all(c, buf, 4);
	CHECK_EQ(read(c, buf, sizeof(buf)), 0);
	want_state(c, TCP_CLOSE);
	want_state(s, TCP_CLOSE);
	close(c);
	close(s);
	printf("ok\n");
	return 0;
}
