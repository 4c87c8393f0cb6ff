/* SPDX-License-Identifier: MIT */
/*
 * Proves: after its partner fd left for a process that is not preloaded, a
 * connection whose sending side is full reports EPOLLOUT once that process
 * has read what was written, as TCP does, and every byte arrives in order.
 */
#include <stdlib.h>
#include <sys/syscall.h>

#include "demote_stream.h"

/* Fill @c (non-blocking) until EAGAIN; returns the bytes written (pattern from @off). */
static uint64_t fill(int c, uint64_t off)
{
	static char buf[65536];
	uint64_t n = 0;
	for (;;) {
		pat_fill(buf, sizeof(buf), off + n, SEED_C2S);
		ssize_t k = write(c, buf, sizeof(buf));
		if (k > 0) {
			n += (uint64_t)k;
			continue;
		}
		CHECK(k < 0 && errno == EAGAIN);
		return n;
	}
}

int main(int argc, char **argv)
{
	int u[2], c, s;
	char r;

	if (argc == 3 && strcmp(argv[1], "plain") == 0) {
		int uu = plain_ready(argv[2]);
		uint64_t total;
		s = recv_fd(uu);
		CHECK_EQ(read(uu, &total, sizeof(total)), sizeof(total));
		sleep_ms(300); /* the writer is asleep in epoll_wait by now */
		pat_read(s, 0, total, SEED_C2S);
		CHECK_EQ(read(s, &r, 1), 0);
		return 0;
	}
	pid_t recv = start_plain_receiver(argv[0], u);
	make_pair(&c, &s);
	send_fd(u[0], s);
	OK(close(s));
	set_nonblock(c, 1);
	uint64_t total = fill(c, 0);
	int ep = OK(epoll_create1(0));
	struct epoll_event e = {.events = EPOLLOUT}, ev;
	OK(epoll_ctl(ep, EPOLL_CTL_ADD, c, &e));
	CHECK_EQ(write(u[0], &total, sizeof(total)), sizeof(total));
	int64_t t0 = now_ms();
	CHECK_EQ(epoll_wait(ep, &ev, 1, 5000), 1);
	CHECK(ev.events & EPOLLOUT);
	CHECK(now_ms() - t0 < 3000);
	close(ep);
	close(c);
	wait_ok(recv);
	printf("demote_epoll_out: ok\n");
	return 0;
}
