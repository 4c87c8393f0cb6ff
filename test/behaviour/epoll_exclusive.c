/* SPDX-License-Identifier: MIT */
/*
 * Proves the nginx worker model with EPOLLEXCLUSIVE: three forked workers,
 * each with its own epoll set holding the inherited, non-blocking listener
 * with EPOLLIN|EPOLLEXCLUSIVE, sleep in epoll_wait; each of 12 connections
 * made one after another wakes at least one worker, which accepts it (X-IO)
 * and answers within a second — no connection is left waiting.
 */
#include <sys/epoll.h>

#include "helpers.h"

#define WORKERS 3
#define CONNS	12

static void worker(int l)
{
	int ep = OK(epoll_create1(0));
	struct epoll_event e = {.events = EPOLLIN | EPOLLEXCLUSIVE}, ev;
	OK(epoll_ctl(ep, EPOLL_CTL_ADD, l, &e));
	for (;;) {
		int n = epoll_wait(ep, &ev, 1, -1);
		if (n < 0 && errno == EINTR)
			continue;
		CHECK_EQ(n, 1);
		for (;;) {
			int fd = accept4(l, NULL, NULL, SOCK_NONBLOCK);
			if (fd < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				break;
			CHECK(fd >= 0);
			int32_t r[2] = {getpid(), fd_kind(fd)};
			write_all(fd, r, sizeof(r));
			close(fd);
		}
	}
}

int main(void)
{
	uint16_t port;
	pid_t pids[WORKERS];

	watchdog(25);
	setvbuf(stdout, NULL, _IONBF, 0);
	int l = listen_lo(&port);
	set_nonblock(l, 1);
	for (int i = 0; i < WORKERS; i++) {
		pids[i] = fork_child();
		if (pids[i] == 0) {
			worker(l);
			_exit(0);
		}
	}
	sleep_ms(200); /* all asleep in epoll_wait */
	for (int i = 0; i < CONNS; i++) {
		int c = connect_lo(port);
		require_xio(c);
		int64_t t0 = now_ms();
		int32_t r[2];
		read_all(c, r, sizeof(r));
		if (now_ms() - t0 > 1000)
			FAIL("connection %d answered after %lld ms", i, (long long)(now_ms() - t0));
		int known = 0;
		for (int w = 0; w < WORKERS; w++)
			known |= r[0] == pids[w];
		CHECK(known);
		if (xio_expected())
			CHECK_EQ(r[1], 1);
		close(c);
		sleep_ms(20); /* the worker goes back to sleep */
	}
	for (int i = 0; i < WORKERS; i++) {
		int st;
		CHECK_EQ(waitpid(pids[i], &st, WNOHANG), 0);
		kill(pids[i], SIGKILL);
		waitpid(pids[i], &st, 0);
	}
	close(l);
	printf("epoll_exclusive: ok\n");
	return 0;
}
