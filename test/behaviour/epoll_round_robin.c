/* SPDX-License-Identifier: MIT */
/*
 * Proves: level-triggered epoll_wait with fewer slots than ready fds reports
 * them in turn, oldest readiness first, as the kernel's ready list does:
 * four connections made readable in order a, b, c, d, polled with
 * maxevents 1 and never read, come back a, b, c, d, a, b, c, d. (A server
 * whose results always start at the same fd starves the others; ab against
 * gunicorn deadlocked when new connections were reported out of connect
 * order.)
 */
#include <sys/epoll.h>

#include "helpers.h"

#define N 4

int main(void)
{
	int c[N], s[N];
	watchdog(20);
	int ep = OK(epoll_create1(0));
	for (int i = 0; i < N; i++) {
		make_pair(&c[i], &s[i]);
		struct epoll_event e = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
		OK(epoll_ctl(ep, EPOLL_CTL_ADD, s[i], &e));
	}
	for (int i = 0; i < N; i++) {
		write_all(c[i], "x", 1);
		sleep_ms(5);
	}
	for (int round = 0; round < 2 * N; round++) {
		struct epoll_event ev;
		CHECK_EQ(epoll_wait(ep, &ev, 1, 1000), 1);
		if (ev.data.u32 != (uint32_t)(round % N))
			FAIL("call %d reported connection %u, want %d", round, ev.data.u32,
			     round % N);
	}
	for (int i = 0; i < N; i++) {
		close(c[i]);
		close(s[i]);
	}
	close(ep);
	printf("ok\n");
	return 0;
}
