/* SPDX-License-Identifier: MIT */
/*
 * Proves the redis BGSAVE model: a server serving a client (another process)
 * from an epoll loop forks children that inherit the connection and the
 * epoll fd but never use them, and the children go away — by exit() (atexit
 * handlers and destructors run), by _exit(), after closing every inherited
 * fd, and by SIGKILL. The client sees no EOF, no reset, no lost or
 * duplicated reply: all 400 request/reply round trips complete, the
 * connection stays X-IO, and EOF arrives only when the server closes.
 */
#include <dirent.h>
#include <sys/epoll.h>

#include "helpers.h"

#define REQUESTS 400

static void client(uint16_t port)
{
	watchdog(25);
	int c = connect_lo(port);
	require_xio(c);
	for (uint32_t i = 0; i < REQUESTS; i++) {
		uint32_t req[2] = {i, 0xbeefu}, rep[2];
		write_all(c, req, sizeof(req));
		read_all(c, rep, sizeof(rep));
		if (rep[0] != i + 1000000u || rep[1] != 0xcafeu)
			FAIL("reply %u: got %u/%x", i, rep[0], rep[1]);
		if (i % 2 == 0)
			sleep_ms(3); /* slow enough for each child to live and die */
	}
	OK(shutdown(c, SHUT_WR));
	char b;
	CHECK_EQ(read(c, &b, 1), 0);
	close(c);
	_exit(0);
}

/* A BGSAVE-like child that leaves in way @kind. */
static void bgsave_child(int kind)
{
	switch (kind) {
	case 0: /* exit(): atexit handlers and library destructors run */
		sleep_ms(80);
		exit(0);
	case 1: /* _exit(): nothing runs */
		sleep_ms(80);
		_exit(0);
	case 2: { /* close every inherited descriptor first */
		DIR *d = opendir("/proc/self/fd");
		int fds[256], n = 0;
		struct dirent *e;
		while (d && (e = readdir(d)) && n < 256)
			if (e->d_name[0] != '.' && atoi(e->d_name) > 2)
				fds[n++] = atoi(e->d_name);
		if (d)
			closedir(d);
		for (int i = 0; i < n; i++)
			close(fds[i]);
		sleep_ms(80);
		exit(0);
	}
	default: /* killed by the parent */
		for (;;)
			pause();
	}
}

int main(void)
{
	uint16_t port;

	watchdog(25);
	setvbuf(stdout, NULL, _IONBF, 0);
	int l = listen_lo(&port);
	pid_t cl = fork_child();
	CHECK(cl >= 0);
	if (cl == 0)
		client(port);
	int s = OK(accept(l, NULL, NULL));
	require_xio(s);
	set_nonblock(s, 1);
	int ep = OK(epoll_create1(EPOLL_CLOEXEC));
	struct epoll_event e = {.events = EPOLLIN | EPOLLRDHUP}, ev;
	OK(epoll_ctl(ep, EPOLL_CTL_ADD, s, &e));

	uint32_t served = 0;
	int next_kind = 0;
	pid_t child = 0;
	int child_kind = -1;
	int64_t child_born = 0;
	char rbuf[8];
	size_t have = 0;
	int eof = 0;

	while (!eof) {
		/* Fork a child at requests 50, 150, 250, 350. */
		if (!child && served >= 50u + 100u * (uint32_t)next_kind && next_kind < 4) {
			child_kind = next_kind++;
			child = fork_child();
			CHECK(child >= 0);
			if (child == 0)
				bgsave_child(child_kind);
			child_born = now_ms();
		}
		if (child && child_kind == 3 && now_ms() - child_born > 50)
			kill(child, SIGKILL);
		if (child) {
			int st;
			pid_t r = waitpid(child, &st, WNOHANG);
			if (r == child) {
				if (child_kind == 3)
					CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
				else
					CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
				child = 0;
			}
		}
		int n = epoll_wait(ep, &ev, 1, 10);
		if (n < 0 && errno == EINTR)
			continue;
		CHECK(n >= 0);
		if (n == 0)
			continue;
		CHECK_EQ(ev.events & (EPOLLERR | EPOLLHUP), 0);
		for (;;) {
			ssize_t k = read(s, rbuf + have, sizeof(rbuf) - have);
			if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				break;
			CHECK(k >= 0);
			if (k == 0) {
				eof = 1;
				break;
			}
			have += (size_t)k;
			if (have < sizeof(rbuf))
				continue;
			uint32_t req[2], rep[2];
			memcpy(req, rbuf, sizeof(req));
			have = 0;
			CHECK_EQ(req[0], served);
			CHECK_EQ(req[1], 0xbeefu);
			rep[0] = req[0] + 1000000u;
			rep[1] = 0xcafeu;
			CHECK_EQ(write(s, rep, sizeof(rep)), sizeof(rep));
			served++;
		}
	}
	CHECK_EQ(served, REQUESTS);
	CHECK_EQ(next_kind, 4);
	require_xio(s);
	close(s);
	wait_ok(cl);
	if (child) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
	}
	printf("fork_child_exit: ok\n");
	return 0;
}
