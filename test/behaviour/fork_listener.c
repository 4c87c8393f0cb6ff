/* SPDX-License-Identifier: MIT */
/*
 * Proves the nginx model: a master opens a listener and forks 3 workers
 * that inherit it and accept from it (the listener non-blocking, worker 0
 * sleeping in poll, the others in epoll, accept/accept4 getting EAGAIN when
 * another worker won the race). Three clients held open at once are served
 * by three different workers, each over an X-IO connection; after the master
 * closes its own copy of the listener the workers go on accepting, again one
 * client each.
 */
#include <poll.h>
#include <sys/epoll.h>

#include "helpers.h"

#define WORKERS 3

struct reply {
	uint32_t id;
	int32_t pid;
	int32_t kind; /* xio_fd_kind of the accepted fd in the worker */
};

/* Serve one connection: read an id, answer, wait for the client's EOF. */
static void serve(int fd)
{
	struct reply r;
	char b;
	read_all(fd, &r.id, sizeof(r.id));
	r.pid = getpid();
	r.kind = fd_kind(fd);
	write_all(fd, &r, sizeof(r));
	CHECK_EQ(read(fd, &b, 1), 0);
	close(fd);
}

static void worker(int l, int n)
{
	/* Worker 0 sleeps in poll, the others in epoll; all accept without blocking. */
	int ep = OK(epoll_create1(0));
	struct epoll_event e = {.events = EPOLLIN}, ev;
	OK(epoll_ctl(ep, EPOLL_CTL_ADD, l, &e));
	for (;;) {
		int k;
		if (n == 0) {
			struct pollfd p = {.fd = l, .events = POLLIN};
			k = poll(&p, 1, -1);
		} else {
			k = epoll_wait(ep, &ev, 1, -1);
		}
		if (k < 0 && errno == EINTR)
			continue;
		CHECK_EQ(k, 1);
		int fd = n == 0 ? accept(l, NULL, NULL) : accept4(l, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			continue; /* another worker took it */
		CHECK(fd >= 0);
		if (n == 0)
			CHECK_EQ(fcntl(fd, F_GETFL) & O_NONBLOCK,
				 0); /* accept() does not inherit it */
		serve(fd);
	}
}

/* Three clients at once: three different workers, all X-IO. */
static void round_of_three(uint16_t port, uint32_t base, pid_t *pids)
{
	int fds[WORKERS];
	struct reply r[WORKERS];
	for (int i = 0; i < WORKERS; i++) {
		fds[i] = connect_lo(port);
		require_xio(fds[i]);
		uint32_t id = base + (uint32_t)i;
		write_all(fds[i], &id, sizeof(id));
	}
	for (int i = 0; i < WORKERS; i++) {
		read_all(fds[i], &r[i], sizeof(r[i]));
		CHECK_EQ(r[i].id, base + (uint32_t)i);
		if (xio_expected())
			CHECK_EQ(r[i].kind, 1);
		int known = 0;
		for (int w = 0; w < WORKERS; w++)
			known |= r[i].pid == pids[w];
		CHECK(known);
		for (int j = 0; j < i; j++)
			if (r[j].pid == r[i].pid)
				FAIL("clients %d and %d both served by worker %d", j, i, r[i].pid);
	}
	for (int i = 0; i < WORKERS; i++)
		close(fds[i]);
}

int main(void)
{
	uint16_t port;
	pid_t pids[WORKERS];

	watchdog(25);
	setvbuf(stdout, NULL, _IONBF, 0);
	int l = listen_lo(&port);
	set_nonblock(l, 1); /* as nginx does before it forks */
	for (int i = 0; i < WORKERS; i++) {
		pids[i] = fork_child();
		CHECK(pids[i] >= 0);
		if (pids[i] == 0) {
			watchdog(25);
			worker(l, i);
			_exit(0);
		}
	}
	for (uint32_t round = 0; round < 3; round++)
		round_of_three(port, 100 * round, pids);

	/* The master lets go of its copy: the workers' copies keep it published. */
	OK(close(l));
	for (uint32_t round = 3; round < 6; round++)
		round_of_three(port, 100 * round, pids);

	for (int i = 0; i < WORKERS; i++) {
		int st;
		/* A worker that failed a check has exited already: report it. */
		CHECK_EQ(waitpid(pids[i], &st, WNOHANG), 0);
		kill(pids[i], SIGKILL);
		CHECK_EQ(waitpid(pids[i], &st, 0), pids[i]);
	}
	printf("fork_listener: ok\n");
	return 0;
}
