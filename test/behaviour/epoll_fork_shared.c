/* SPDX-License-Identifier: MIT */
/*
 * Proves: one epoll instance shared by a parent and its forked child (the fd
 * inherited, as in pre-fork servers that create the loop first) reports a
 * connection level-triggered to both: with both asleep in epoll_wait on it,
 * one write of the peer wakes both within a second; once the bytes are read,
 * neither reports anything.
 */
#include <sys/epoll.h>

#include "helpers.h"

int main(void)
{
	struct epoll_event ev;
	int c, s, go[2], res[2];
	char buf[16];

	watchdog(20);
	setvbuf(stdout, NULL, _IONBF, 0);
	make_pair(&c, &s);
	int ep = OK(epoll_create1(0));
	struct epoll_event e = {.events = EPOLLIN, .data.u64 = 77};
	OK(epoll_ctl(ep, EPOLL_CTL_ADD, s, &e));
	OK(pipe(go));
	OK(pipe(res));

	pid_t pid = fork_child();
	if (pid == 0) {
		char cmd;
		for (int round = 0; round < 2; round++) {
			read_all(go[0], &cmd, 1);
			int n = epoll_wait(ep, &ev, 1, cmd == 'w' ? 5000 : 50);
			int64_t r[2] = {n, n == 1 ? (int64_t)ev.data.u64 : 0};
			write_all(res[1], r, sizeof(r));
		}
		_exit(0);
	}

	/* Both asleep, one write: both wake. */
	write_all(go[1], "w", 1);
	sleep_ms(200);
	int64_t t0 = now_ms();
	pid_t w = fork_child();
	if (w == 0) {
		sleep_ms(100);
		write_all(c, "x", 1);
		_exit(0);
	}
	CHECK_EQ(epoll_wait(ep, &ev, 1, 5000), 1);
	CHECK_EQ(ev.data.u64, 77);
	int64_t r[2];
	read_all(res[0], r, sizeof(r));
	if (r[0] != 1 || r[1] != 77 || now_ms() - t0 > 1500)
		FAIL("child: epoll_wait returned %lld (data %lld) after %lld ms", (long long)r[0],
		     (long long)r[1], (long long)(now_ms() - t0));
	wait_ok(w);

	/* Read: nothing reported on either side. */
	CHECK_EQ(read(s, buf, sizeof(buf)), 1);
	CHECK_EQ(epoll_wait(ep, &ev, 1, 50), 0);
	write_all(go[1], "z", 1);
	read_all(res[0], r, sizeof(r));
	CHECK_EQ(r[0], 0);
	wait_ok(pid);
	close(ep);
	close(c);
	close(s);
	printf("epoll_fork_shared: ok\n");
	return 0;
}
