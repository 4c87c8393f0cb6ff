/* SPDX-License-Identifier: MIT */
/*
 * Shared by the demote_* behaviour tests: the two ends of a checksummed
 * two-way transfer that crosses the moment a connection leaves for a
 * program that does not know X-IO.
 */
#ifndef XIO_BEHAVIOUR_DEMOTE_STREAM_H
#define XIO_BEHAVIOUR_DEMOTE_STREAM_H

#include <poll.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/syscall.h>

#include "helpers.h"

/* Bytes each way: written before the fd leaves (in flight), and after. */
#define PRE_C2S	 60000u
#define POST_C2S (3u << 20)
#define PRE_S2C	 50000u
#define POST_S2C (2u << 20)
#define SEED_C2S 11u
#define SEED_S2C 22u

/* Write @len bytes of pattern @seed from stream offset @off. */
/*
 * Fork a receiver that runs this program again as "SELF plain U" without the
 * preload, through the raw system call (the shim re-injects LD_PRELOAD into
 * exec*()). The parent keeps u[0].
 */
static inline pid_t spawn_plain_receiver(const char *self, int u[2])
{
	pid_t pid = fork_child();
	if (pid == 0) {
		char a[16];
		close(u[0]);
		snprintf(a, sizeof(a), "%d", u[1]);
		unsetenv("LD_PRELOAD");
		char *args[] = {(char *)self, "plain", a, NULL};
		syscall(SYS_execve, "/proc/self/exe", args, environ);
		_exit(127);
	}
	close(u[1]);
	return pid;
}

/*
 * The parent's start: a socket pair u to the receiver, the receiver running,
 * and its "ready" byte read.
 */
static inline pid_t start_plain_receiver(const char *self, int u[2])
{
	char r;
	watchdog(28);
	setvbuf(stdout, NULL, _IONBF, 0);
	OK(socketpair(AF_UNIX, SOCK_STREAM, 0, u));
	pid_t pid = spawn_plain_receiver(self, u);
	CHECK_EQ(read(u[0], &r, 1), 1);
	return pid;
}

/*
 * The receiver's start ("SELF plain U"): check that it runs without X-IO and
 * tell the parent it is ready; returns U.
 */
static inline int plain_ready(const char *arg)
{
	int uu = atoi(arg);
	watchdog(25);
	CHECK_EQ(fd_kind(0), -1);
	CHECK_EQ(write(uu, "R", 1), 1);
	return uu;
}

static inline void pat_write(int fd, uint64_t off, size_t len, unsigned seed)
{
	static __thread char buf[65536];
	while (len) {
		size_t k = len < sizeof(buf) ? len : sizeof(buf);
		pat_fill(buf, k, off, seed);
		write_all(fd, buf, k);
		off += k;
		len -= k;
	}
}

/* Read @len bytes and check them against pattern @seed from offset @off. */
static inline void pat_read(int fd, uint64_t off, size_t len, unsigned seed)
{
	static __thread char buf[65536];
	while (len) {
		ssize_t n = read(fd, buf, len < sizeof(buf) ? len : sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			FAIL("pat_read fd %d: %zd (errno %d %s) with %zu bytes missing", fd, n,
			     errno, strerror(errno), len);
			return;
		}
		pat_check(buf, (size_t)n, off, seed);
		off += (uint64_t)n;
		len -= (size_t)n;
	}
}

struct pat_job {
	int fd;
	uint64_t off;
	size_t len;
	unsigned seed;
};

static inline void *pat_write_thread(void *arg)
{
	struct pat_job *j = arg;
	pat_write(j->fd, j->off, j->len, j->seed);
	return NULL;
}

/*
 * The client end's side, preloaded: a writer thread sends the rest of the
 * client-to-server stream while this thread reads the whole server-to-client
 * stream; then a half-close and the peer's EOF.
 */
static inline void client_side(int c)
{
	pthread_t w;
	struct pat_job j = {c, PRE_C2S, POST_C2S, SEED_C2S};
	CHECK_EQ(pthread_create(&w, NULL, pat_write_thread, &j), 0);
	pat_read(c, 0, PRE_S2C + POST_S2C, SEED_S2C);
	pthread_join(w, NULL);
	OK(shutdown(c, SHUT_WR));
	char b;
	CHECK_EQ(read(c, &b, 1), 0);
}

/*
 * The server end's side with plain non-blocking kernel calls and poll, as a
 * program that does not know X-IO: read the whole client-to-server stream
 * while writing the rest of the server-to-client one; half-close; EOF.
 */
static inline void server_side_plain(int s)
{
	static char buf[65536];
	uint64_t rd = 0, wr = 0, rtotal = PRE_C2S + POST_C2S, wtotal = POST_S2C;
	OK(fcntl(s, F_SETFL, O_RDWR | O_NONBLOCK));
	while (rd < rtotal || wr < wtotal) {
		struct pollfd p = {
		    .fd = s,
		    .events = (short)((rd < rtotal ? POLLIN : 0) | (wr < wtotal ? POLLOUT : 0))};
		if (poll(&p, 1, 10000) <= 0) {
			FAIL("stalled: read %llu/%llu written %llu/%llu", (unsigned long long)rd,
			     (unsigned long long)rtotal, (unsigned long long)wr,
			     (unsigned long long)wtotal);
			return;
		}
		if (rd < rtotal && (p.revents & (POLLIN | POLLHUP | POLLERR))) {
			ssize_t n =
			    read(s, buf, rtotal - rd < sizeof(buf) ? rtotal - rd : sizeof(buf));
			if (n == 0) {
				FAIL("EOF after %llu of %llu bytes", (unsigned long long)rd,
				     (unsigned long long)rtotal);
				return;
			}
			if (n < 0 && errno != EAGAIN && errno != EINTR) {
				FAIL("read: errno %d %s", errno, strerror(errno));
				return;
			}
			if (n > 0) {
				pat_check(buf, (size_t)n, rd, SEED_C2S);
				rd += (uint64_t)n;
			}
		}
		if (wr < wtotal && (p.revents & POLLOUT)) {
			size_t k = wtotal - wr < sizeof(buf) ? wtotal - wr : sizeof(buf);
			pat_fill(buf, k, PRE_S2C + wr, SEED_S2C);
			ssize_t n = write(s, buf, k);
			if (n < 0 && errno != EAGAIN && errno != EINTR) {
				FAIL("write: errno %d %s", errno, strerror(errno));
				return;
			}
			if (n > 0)
				wr += (uint64_t)n;
		}
	}
	OK(shutdown(s, SHUT_WR));
	OK(fcntl(s, F_SETFL, O_RDWR));
	CHECK_EQ(read(s, buf, 1), 0);
}

/*
 * The client end's side again, as an event loop: one thread, non-blocking
 * fd, level-triggered epoll for reading and (while there is some left) writing.
 */
static inline void client_side_epoll(int c)
{
	static char buf[65536];
	uint64_t rd = 0, wr = 0, rtotal = PRE_S2C + POST_S2C, wtotal = POST_C2S;
	int ep = OK(epoll_create1(0));
	struct epoll_event e = {.events = EPOLLIN | EPOLLOUT, .data.fd = c}, ev;
	set_nonblock(c, 1);
	OK(epoll_ctl(ep, EPOLL_CTL_ADD, c, &e));
	while (rd < rtotal || wr < wtotal) {
		int n = epoll_wait(ep, &ev, 1, 10000);
		if (n < 0 && errno == EINTR)
			continue;
		if (n != 1) {
			FAIL("epoll stalled: read %llu/%llu written %llu/%llu",
			     (unsigned long long)rd, (unsigned long long)rtotal,
			     (unsigned long long)wr, (unsigned long long)wtotal);
			return;
		}
		if (ev.events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
			ssize_t k = read(c, buf, sizeof(buf));
			if (k == 0 || (k < 0 && errno != EAGAIN)) {
				FAIL("read: %zd errno %d %s after %llu bytes", k, errno,
				     strerror(errno), (unsigned long long)rd);
				return;
			}
			if (k > 0) {
				pat_check(buf, (size_t)k, rd, SEED_S2C);
				rd += (uint64_t)k;
			}
		}
		if ((ev.events & EPOLLOUT) && wr < wtotal) {
			size_t k = wtotal - wr < sizeof(buf) ? wtotal - wr : sizeof(buf);
			pat_fill(buf, k, PRE_C2S + wr, SEED_C2S);
			ssize_t m = write(c, buf, k);
			if (m < 0 && errno != EAGAIN) {
				FAIL("write: errno %d %s", errno, strerror(errno));
				return;
			}
			if (m > 0)
				wr += (uint64_t)m;
			if (wr == wtotal) {
				e.events = EPOLLIN;
				OK(epoll_ctl(ep, EPOLL_CTL_MOD, c, &e));
			}
		}
		if (rd == rtotal && wr < wtotal && !(ev.events & EPOLLOUT)) {
			e.events = EPOLLOUT;
			OK(epoll_ctl(ep, EPOLL_CTL_MOD, c, &e));
		}
	}
	close(ep);
	set_nonblock(c, 0);
	OK(shutdown(c, SHUT_WR));
	char b;
	CHECK_EQ(read(c, &b, 1), 0);
}

#endif
