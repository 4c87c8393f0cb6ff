/* SPDX-License-Identifier: MIT */
/*
 * Proves: urgent data (send/recv MSG_OOB, telnet's and ftp's ABOR) behaves
 * as on TCP, without losing a byte. A client sends "abc", the urgent byte
 * "!" (MSG_OOB), then "def"; the receiver sees POLLPRI (poll, epoll,
 * select's exceptfds) and SIGURG (F_SETOWN) on its arrival, a read stops at
 * the mark ("abc"), SIOCATMARK is 0 before it and 1 there, recv(MSG_OOB)
 * gives "!" once (then EINVAL), and the stream goes on with "def". With
 * SO_OOBINLINE the byte stays in the stream ("!def") and recv(MSG_OOB) is
 * EINVAL. A receiver blocked in recv when the urgent byte comes: its read
 * ends at the mark, poll then reports POLLPRI but not POLLIN; a lone urgent
 * byte that a blocked read passes over is gone, as on TCP. A second urgent
 * byte replaces the first, which stays in the stream. Also across
 * processes (the sender is a forked child), and the connection keeps
 * carrying bytes in both directions afterwards.
 */
#include <poll.h>
#include <stdbool.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/select.h>

#include "helpers.h"

static volatile sig_atomic_t sigurgs;

static void on_urg(int sig)
{
	(void)sig;
	sigurgs++;
}

static int atmark(int fd)
{
	int m = -1;
	OK(ioctl(fd, SIOCATMARK, &m));
	return m;
}

/* poll() for @fd; SIGURG may interrupt it (on TCP too), then it waits on. */
static int inq(int fd)
{
	int n = -1;
	OK(ioctl(fd, FIONREAD, &n));
	return n;
}

static unsigned revents(int fd, short events, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = events};
	int64_t end = now_ms() + timeout_ms;
	while (poll(&p, 1, timeout_ms) < 0) {
		CHECK_EQ(errno, EINTR);
		timeout_ms = (int)(end - now_ms());
		if (timeout_ms < 0)
			timeout_ms = 0;
	}
	return (unsigned)p.revents;
}

static unsigned epoll_events(int ep)
{
	struct epoll_event ev = {0};
	int n = (int)OK(epoll_wait(ep, &ev, 1, 0));
	return n == 1 ? ev.events : 0;
}

static bool select_exception(int fd)
{
	fd_set ex;
	FD_ZERO(&ex);
	FD_SET(fd, &ex);
	struct timeval tv = {0, 0};
	int n = (int)OK(select(fd + 1, NULL, NULL, &ex, &tv));
	return n == 1 && FD_ISSET(fd, &ex);
}

/* Wait until urgent data is announced on @s (POLLPRI), then let the rest arrive. */
static void wait_urgent(int s)
{
	CHECK(revents(s, POLLPRI, 5000) & POLLPRI);
	sleep_ms(50);
}

static void send_abc_urgent_def(int c)
{
	write_all(c, "abc", 3);
	CHECK_EQ(send(c, "!", 1, MSG_OOB), 1);
	write_all(c, "def", 3);
}

static void expect_recv(int s, int flags, const char *want)
{
	char buf[64];
	size_t len = strlen(want);
	ssize_t n = recv(s, buf, sizeof(buf), flags | MSG_DONTWAIT);
	CHECK_EQ(n, (ssize_t)len);
	if (n == (ssize_t)len && memcmp(buf, want, len) != 0)
		FAIL("recv gave '%.*s', want '%s'", (int)n, buf, want);
}

/* Bytes still go both ways on @a and @b after urgent data, none lost or reordered. */
static void still_carries(int a, int b)
{
	static char out[131072], in[sizeof(out)];
	pat_fill(out, sizeof(out), 0, 7);
	write_all(a, out, sizeof(out) / 2);
	read_all(b, in, sizeof(out) / 2);
	pat_check(in, sizeof(out) / 2, 0, 7);
	write_all(b, out + sizeof(out) / 2, sizeof(out) / 2);
	read_all(a, in + sizeof(out) / 2, sizeof(out) / 2);
	pat_check(in + sizeof(out) / 2, sizeof(out) / 2, sizeof(out) / 2, 7);
}

/* The receiver's view of "abc" "!"(urgent) "def", not inline. */
static void receive_urgent(int s)
{
	int ep = (int)OK(epoll_create1(EPOLL_CLOEXEC));
	struct epoll_event ev = {.events = EPOLLIN | EPOLLPRI};
	OK(epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev));

	wait_urgent(s);
	CHECK_EQ(sigurgs, 1);
	CHECK_EVENTS(revents(s, POLLIN | POLLPRI, 0), POLLIN | POLLPRI);
	CHECK_EVENTS(epoll_events(ep), EPOLLIN | EPOLLPRI);
	CHECK(select_exception(s));
	CHECK_EQ(atmark(s), 0);
	CHECK_EQ(inq(s), 3);	  /* FIONREAD counts up to the mark */
	expect_recv(s, 0, "abc"); /* a read stops at the mark */
	CHECK_EQ(atmark(s), 1);
	CHECK_EQ(inq(s), 0);
	CHECK_EVENTS(revents(s, POLLIN | POLLPRI, 0), POLLIN | POLLPRI);
	expect_recv(s, MSG_OOB | MSG_PEEK, "!");
	char b = 0;
	struct iovec v = {.iov_base = &b, .iov_len = 1};
	struct msghdr m = {.msg_iov = &v, .msg_iovlen = 1, .msg_flags = -1};
	CHECK_EQ(recvmsg(s, &m, MSG_OOB | MSG_DONTWAIT), 1);
	CHECK_EQ(b, '!');
	CHECK_EQ(m.msg_flags, MSG_OOB);
	CHECK_ERR(recv(s, (char[4]){0}, 4, MSG_OOB | MSG_DONTWAIT), EINVAL);
	CHECK_EVENTS(revents(s, POLLIN | POLLPRI, 0), POLLIN);
	CHECK_EVENTS(epoll_events(ep), EPOLLIN);
	CHECK(!select_exception(s));
	CHECK_EQ(atmark(s), 1);
	CHECK_EQ(inq(s), 0);
	expect_recv(s, 0, "def");
	CHECK_EQ(atmark(s), 0);
	CHECK_EQ(inq(s), 0);
	CHECK_ERR(recv(s, (char[4]){0}, 4, MSG_DONTWAIT), EAGAIN);
	CHECK_EQ(sigurgs, 1);
	close(ep);
}

static int blocked_fd;
static char blocked_buf[64];
static ssize_t blocked_n;

static void *blocked_reader(void *arg)
{
	(void)arg;
	blocked_n = recv(blocked_fd, blocked_buf, sizeof(blocked_buf), 0);
	return NULL;
}

int main(void)
{
	int c, s, one = 1, v;
	socklen_t len = sizeof(v);

	watchdog(20);
	setvbuf(stdout, NULL, _IONBF, 0);
	struct sigaction sa = {.sa_handler = on_urg, .sa_flags = SA_RESTART};
	sigemptyset(&sa.sa_mask);
	OK(sigaction(SIGURG, &sa, NULL));

	/* 1. Within one process. No urgent data yet: not at the mark, nothing to read. */
	make_pair(&c, &s);
	OK(fcntl(s, F_SETOWN, getpid()));
	CHECK_EQ(atmark(s), 0);
	CHECK_ERR(recv(s, (char[4]){0}, 4, MSG_OOB | MSG_DONTWAIT), EINVAL);
	CHECK_EVENTS(revents(s, POLLIN | POLLPRI, 0), 0);
	sigurgs = 0;
	send_abc_urgent_def(c);
	receive_urgent(s);
	still_carries(c, s);
	close(c);
	close(s);

	/* 2. SO_OOBINLINE: the urgent byte stays in the stream, at the mark. */
	make_pair(&c, &s);
	OK(setsockopt(s, SOL_SOCKET, SO_OOBINLINE, &one, sizeof(one)));
	OK(getsockopt(s, SOL_SOCKET, SO_OOBINLINE, &v, &len));
	CHECK_EQ(v, 1);
	send_abc_urgent_def(c);
	wait_urgent(s);
	CHECK_EVENTS(revents(s, POLLIN | POLLPRI, 0), POLLIN | POLLPRI);
	CHECK_EQ(atmark(s), 0);
	CHECK_EQ(inq(s), 7); /* inline: every byte */
	expect_recv(s, 0, "abc");
	CHECK_EQ(atmark(s), 1);
	CHECK_EQ(inq(s), 4);
	CHECK_ERR(recv(s, (char[4]){0}, 4, MSG_OOB | MSG_DONTWAIT), EINVAL);
	expect_recv(s, 0, "!def");
	CHECK_EQ(atmark(s), 0);
	still_carries(s, c);
	close(c);
	close(s);

	/* 3. The receiver is blocked in recv when "ab" and the urgent "!" come. */
	make_pair(&c, &s);
	pthread_t t;
	blocked_fd = s;
	pthread_create(&t, NULL, blocked_reader, NULL);
	sleep_ms(100);
	CHECK_EQ(send(c, "ab!", 3, MSG_OOB), 3); /* the last byte is the urgent one */
	pthread_join(t, NULL);
	CHECK_EQ(blocked_n, 2);
	CHECK(memcmp(blocked_buf, "ab", 2) == 0);
	sleep_ms(50);
	CHECK_EQ(atmark(s), 1);
	/* Only the urgent byte is left: urgent, but nothing to read in band. */
	CHECK_EVENTS(revents(s, POLLIN | POLLPRI, 0), POLLPRI);
	expect_recv(s, MSG_OOB, "!");
	write_all(c, "def", 3);
	sleep_ms(50);
	expect_recv(s, 0, "def");
	/* A lone urgent byte that a blocked read passes over is gone, as on TCP. */
	pthread_create(&t, NULL, blocked_reader, NULL);
	sleep_ms(100);
	CHECK_EQ(send(c, "?", 1, MSG_OOB), 1);
	sleep_ms(100);
	write_all(c, "ghi", 3);
	pthread_join(t, NULL);
	CHECK_EQ(blocked_n, 3);
	CHECK(memcmp(blocked_buf, "ghi", 3) == 0);
	CHECK_ERR(recv(s, (char[4]){0}, 4, MSG_OOB | MSG_DONTWAIT), EINVAL);
	CHECK_EQ(atmark(s), 0);
	still_carries(c, s);
	close(c);
	close(s);

	/* 4. A second urgent byte before the first is read takes its place. */
	make_pair(&c, &s);
	write_all(c, "abc", 3);
	CHECK_EQ(send(c, "!", 1, MSG_OOB), 1);
	write_all(c, "de", 2);
	CHECK_EQ(send(c, "?", 1, MSG_OOB), 1);
	write_all(c, "f", 1);
	wait_urgent(s);
	expect_recv(s, MSG_OOB, "?");
	expect_recv(s, 0, "abc!de"); /* the first one is now an ordinary byte */
	CHECK_EQ(atmark(s), 1);
	expect_recv(s, 0, "f");
	still_carries(c, s);
	close(c);
	close(s);

	/* 5. Across processes: a forked child sends, the parent waits in poll. */
	make_pair(&c, &s);
	pid_t pid = fork_child();
	if (pid == 0) {
		close(s);
		send_abc_urgent_def(c);
		char buf[8];
		read_all(c, buf, 3); /* the parent's answer */
		if (memcmp(buf, "bye", 3) != 0)
			FAIL("child read '%.3s'", buf);
		CHECK_EQ(read(c, buf, sizeof(buf)), 0);
		_exit(beh_failures ? 1 : 0);
	}
	close(c);
	OK(fcntl(s, F_SETOWN, getpid()));
	sigurgs = 0;
	receive_urgent(s);
	write_all(s, "bye", 3);
	shutdown(s, SHUT_WR);
	wait_ok(pid);
	close(s);

	printf("urgent_data: ok\n");
	return 0;
}
