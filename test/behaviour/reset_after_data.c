/* SPDX-License-Identifier: MIT */
/*
 * Proves: bytes that arrived before a reset are not lost. A server answers
 * with 35 bytes and closes with SO_LINGER {1, 0} (a reset, as servers refuse
 * a client). As on kernel TCP:
 *  - the reset is pending as ECONNRESET (SO_ERROR, POLLERR) at once; the
 *    first of send, SO_ERROR or a recv that finds no more data takes it;
 *    later sends fail with EPIPE, later recvs return 0;
 *  - the 35 bytes stay readable first: recv(MSG_PEEK), FIONREAD, recv in
 *    pieces, recv(MSG_WAITALL) returns them short;
 *  - poll and epoll say IN|OUT|HUP|RDHUP, plus ERR while the error is pending;
 *    TCP_INFO says CLOSE;
 *  - a reader blocked in recv gets the bytes, then ECONNRESET; a writer
 *    blocked on a full send path gets ECONNRESET and the bytes stay readable;
 *  - after the server's FIN (CLOSE_WAIT) the reset is EPIPE and the reader
 *    sees the bytes then EOF; after our own FIN it is ECONNRESET again;
 *  - a peer killed with SIGKILL after it sent the bytes: they are read, then
 *    EOF (it had nothing unread: a FIN) or ECONNRESET (it had: a reset).
 */
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>

#include "helpers.h"

static const char reply[] = "HTTP/1.0 403 Forbidden\r\n\r\nrefused\r\n";
#define REPLY_LEN (sizeof(reply) - 1)
_Static_assert(sizeof(reply) - 1 == 35, "the reply is 35 bytes");

/* How long the kernel may take to deliver the reset over loopback. */
#define SETTLE_MS 20

static void abort_close(int s)
{
	struct linger lg = {1, 0};
	OK(setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)));
	OK(close(s));
}

/* The server's answer and its reset. */
static void refuse(int s)
{
	CHECK_EQ(write(s, reply, REPLY_LEN), REPLY_LEN);
	abort_close(s);
}

static unsigned poll_now(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN | POLLOUT | POLLRDHUP};
	CHECK_EQ(poll(&p, 1, 0), 1);
	return (unsigned)p.revents;
}

static unsigned epoll_now(int fd)
{
	int ep = OK(epoll_create1(0));
	struct epoll_event e = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP}, got = {0};
	OK(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e));
	CHECK_EQ(epoll_wait(ep, &got, 1, 0), 1);
	close(ep);
	return got.events;
}

static int so_error(int fd)
{
	int e = -1;
	socklen_t len = sizeof(e);
	OK(getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len));
	return e;
}

static int tcp_state(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	OK(getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len));
	return ti.tcpi_state;
}

/* recv of the whole reply (flags), compared. */
static void recv_reply(int fd, int flags)
{
	char buf[100] = {0};
	CHECK_EQ(recv(fd, buf, sizeof(buf), flags), REPLY_LEN);
	if (memcmp(buf, reply, REPLY_LEN) != 0)
		FAIL("received bytes differ from the reply");
}

#define EV_RESET   (POLLIN | POLLOUT | POLLHUP | POLLRDHUP)
#define EV_PENDING (EV_RESET | POLLERR)

/* 1. The client writes first: ECONNRESET, then EPIPE; the bytes are still there. */
static void send_first(void)
{
	int c, s;
	char buf[100];
	make_pair(&c, &s);
	refuse(s);
	sleep_ms(SETTLE_MS); /* nothing of ours looks at the connection meanwhile */
	CHECK_ERR(send(c, "x", 1, MSG_NOSIGNAL), ECONNRESET);
	CHECK_ERR(send(c, "x", 1, MSG_NOSIGNAL), EPIPE);
	CHECK_EVENTS(poll_now(c), EV_RESET);
	recv_reply(c, MSG_PEEK);
	CHECK_EQ(recv(c, buf, 10, 0), 10);
	CHECK(memcmp(buf, reply, 10) == 0);
	CHECK_EQ(recv(c, buf, sizeof(buf), 0), REPLY_LEN - 10);
	CHECK(memcmp(buf, reply + 10, REPLY_LEN - 10) == 0);
	CHECK_EQ(recv(c, buf, sizeof(buf), 0), 0);
	CHECK_EQ(recv(c, buf, sizeof(buf), 0), 0);
	CHECK_EQ(so_error(c), 0);
	close(c);
}

/* 2. The client reads first: events, FIONREAD, TCP_INFO, the bytes, then ECONNRESET once. */
static void recv_first(void)
{
	int c, s, n = -1;
	char buf[100];
	make_pair(&c, &s);
	refuse(s);
	sleep_ms(SETTLE_MS);
	CHECK_EVENTS(poll_now(c), EV_PENDING);
	CHECK_EVENTS(epoll_now(c), EV_PENDING);
	OK(ioctl(c, FIONREAD, &n));
	CHECK_EQ(n, REPLY_LEN);
	CHECK_EQ(tcp_state(c), TCP_CLOSE);
	recv_reply(c, MSG_PEEK);
	recv_reply(c, MSG_PEEK | MSG_DONTWAIT);
	CHECK_EVENTS(poll_now(c), EV_PENDING);
	recv_reply(c, 0);
	CHECK_EVENTS(poll_now(c), EV_PENDING); /* nothing to read, the error still there */
	CHECK_ERR(recv(c, buf, sizeof(buf), 0), ECONNRESET);
	CHECK_EQ(recv(c, buf, sizeof(buf), 0), 0);
	CHECK_EQ(recv(c, buf, sizeof(buf), MSG_DONTWAIT), 0);
	CHECK_EVENTS(poll_now(c), EV_RESET);
	CHECK_EVENTS(epoll_now(c), EV_RESET);
	CHECK_ERR(send(c, "x", 1, MSG_NOSIGNAL), EPIPE);
	CHECK_EQ(so_error(c), 0);
	close(c);
}

/* 3. SO_ERROR takes the error; MSG_WAITALL returns the bytes short, then EOF. */
static void so_error_first(void)
{
	int c, s;
	char buf[100];
	make_pair(&c, &s);
	refuse(s);
	sleep_ms(SETTLE_MS);
	CHECK_EQ(so_error(c), ECONNRESET);
	CHECK_EQ(so_error(c), 0);
	CHECK_EVENTS(poll_now(c), EV_RESET);
	recv_reply(c, MSG_WAITALL);
	CHECK_EQ(recv(c, buf, sizeof(buf), MSG_WAITALL), 0);
	CHECK_ERR(send(c, "x", 1, MSG_NOSIGNAL), EPIPE);
	close(c);
}

/* 4. MSG_WAITALL and non-blocking reads: the bytes, then ECONNRESET, then EOF. */
static void waitall(bool nonblock)
{
	int c, s;
	char buf[100];
	make_pair(&c, &s);
	set_nonblock(c, nonblock);
	refuse(s);
	sleep_ms(SETTLE_MS);
	recv_reply(c, MSG_WAITALL);
	CHECK_ERR(recv(c, buf, sizeof(buf), MSG_WAITALL), ECONNRESET);
	CHECK_EQ(recv(c, buf, sizeof(buf), MSG_WAITALL), 0);
	close(c);
}

struct later {
	int fd, ms;
	bool answer;
};

static void *refuse_later(void *arg)
{
	struct later *l = arg;
	sleep_ms(l->ms);
	if (l->answer)
		refuse(l->fd);
	else
		abort_close(l->fd);
	return NULL;
}

/* 5. Blocked in recv (flags) when the answer and the reset come. */
static void blocked_reader(int flags)
{
	int c, s;
	char buf[100];
	pthread_t t;
	make_pair(&c, &s);
	struct later l = {s, 100, true};
	pthread_create(&t, NULL, refuse_later, &l);
	recv_reply(c, flags);
	CHECK_ERR(recv(c, buf, sizeof(buf), flags), ECONNRESET);
	CHECK_EQ(recv(c, buf, sizeof(buf), flags), 0);
	pthread_join(t, NULL);
	close(c);
}

/* 6. Blocked writing on a full send path when the reset comes: ECONNRESET, the answer stays. */
static void blocked_writer(void)
{
	static char big[65536];
	int c, s;
	char buf[100];
	pthread_t t;
	make_pair(&c, &s);
	CHECK_EQ(write(s, reply, REPLY_LEN), REPLY_LEN); /* answered before the client wrote */
	set_nonblock(c, 1);
	fill_until_eagain(c);
	set_nonblock(c, 0);
	struct later l = {s, 100, false};
	pthread_create(&t, NULL, refuse_later, &l);
	int64_t t0 = now_ms();
	ssize_t n;
	/* A blocking send may return a short count first; its error comes next. */
	while ((n = send(c, big, sizeof(big), MSG_NOSIGNAL)) > 0)
		;
	CHECK_EQ(n, -1);
	CHECK_EQ(errno, ECONNRESET);
	if (now_ms() - t0 > 1000)
		FAIL("blocked writer released %lld ms after the reset", (long long)(now_ms() - t0));
	pthread_join(t, NULL);
	CHECK_ERR(send(c, "x", 1, MSG_NOSIGNAL), EPIPE);
	recv_reply(c, 0);
	CHECK_EQ(recv(c, buf, sizeof(buf), 0), 0);
	close(c);
}

/* 7. After the server's FIN the reset is EPIPE: the bytes, EOF, EPIPE. */
static void close_wait(void)
{
	int c, s;
	char buf[100];
	make_pair(&c, &s);
	CHECK_EQ(write(s, reply, REPLY_LEN), REPLY_LEN);
	OK(shutdown(s, SHUT_WR));
	sleep_ms(SETTLE_MS);
	abort_close(s);
	sleep_ms(SETTLE_MS);
	CHECK_EVENTS(poll_now(c), EV_PENDING);
	recv_reply(c, 0);
	CHECK_EQ(recv(c, buf, sizeof(buf), 0), 0);
	CHECK_EVENTS(poll_now(c), EV_PENDING); /* EPIPE stays pending for send */
	CHECK_ERR(send(c, "x", 1, MSG_NOSIGNAL), EPIPE);
	CHECK_EQ(so_error(c), 0);
	CHECK_EVENTS(poll_now(c), EV_RESET);
	close(c);
}

/* 8. After our own FIN: the bytes, then ECONNRESET, then EOF. */
static void fin_wait(void)
{
	int c, s;
	char buf[100];
	make_pair(&c, &s);
	OK(shutdown(c, SHUT_WR));
	sleep_ms(SETTLE_MS);
	refuse(s);
	sleep_ms(SETTLE_MS);
	CHECK_EVENTS(poll_now(c), EV_PENDING);
	recv_reply(c, 0);
	CHECK_ERR(recv(c, buf, sizeof(buf), 0), ECONNRESET);
	CHECK_EQ(recv(c, buf, sizeof(buf), 0), 0);
	close(c);
}

/*
 * 9. A peer killed with SIGKILL after it sent the reply. With nothing unread
 * its close is a FIN: the bytes, then EOF. With our bytes unread it is a
 * reset: the bytes, then ECONNRESET, then EOF.
 */
static void killed_peer(uint16_t port, int l, bool unread)
{
	char buf[100];
	pid_t pid = fork_child();
	if (pid == 0) {
		int c = connect_lo(port);
		require_xio(c);
		write_all(c, reply, REPLY_LEN);
		for (;;)
			pause();
	}
	int s = OK(accept(l, NULL, NULL));
	require_xio(s);
	struct pollfd p = {.fd = s, .events = POLLIN};
	CHECK_EQ(poll(&p, 1, 5000), 1); /* the reply is there */
	if (unread)
		CHECK_EQ(write(s, "unread", 6), 6);
	sleep_ms(SETTLE_MS);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	sleep_ms(SETTLE_MS);
	recv_reply(s, MSG_PEEK);
	recv_reply(s, 0);
	if (unread)
		CHECK_ERR(recv(s, buf, sizeof(buf), 0), ECONNRESET);
	CHECK_EQ(recv(s, buf, sizeof(buf), 0), 0);
	if (unread)
		CHECK_ERR(send(s, "x", 1, MSG_NOSIGNAL), EPIPE);
	close(s);
}

int main(void)
{
	uint16_t port;

	watchdog(25);
	setvbuf(stdout, NULL, _IONBF, 0);
	send_first();
	recv_first();
	so_error_first();
	waitall(false);
	waitall(true);
	blocked_reader(0);
	blocked_reader(MSG_WAITALL);
	blocked_writer();
	close_wait();
	fin_wait();
	int l = listen_lo(&port);
	killed_peer(port, l, false);
	killed_peer(port, l, true);
	close(l);
	printf("reset_after_data: ok\n");
	return 0;
}
