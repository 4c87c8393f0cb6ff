/* SPDX-License-Identifier: MIT */
/*
 * Proves: the per-call flags behave as on TCP: MSG_PEEK returns bytes
 * without consuming them (also a partial peek, and a peek after a partial
 * read); MSG_WAITALL waits for the full count across several writes and
 * returns short only at EOF; MSG_DONTWAIT gives EAGAIN on an empty blocking
 * socket and on a full send path without changing the fd's flags; and
 * writing to a connection whose peer has closed: the first write after the
 * peer's close is accepted, then EPIPE with SIGPIPE (one per failing call)
 * or, with MSG_NOSIGNAL, EPIPE and no signal.
 */
#include <pthread.h>

#include "helpers.h"

static volatile sig_atomic_t sigpipes;
static int c, s;

static void on_pipe(int sig)
{
	(void)sig;
	sigpipes++;
}

static void *dribble(void *arg)
{
	(void)arg;
	for (int i = 0; i < 5; i++) {
		sleep_ms(30);
		write_all(c, "ab", 2);
	}
	return NULL;
}

int main(void)
{
	char buf[64];

	watchdog(20);
	setvbuf(stdout, NULL, _IONBF, 0);
	struct sigaction sa = {.sa_handler = on_pipe};
	sigemptyset(&sa.sa_mask);
	OK(sigaction(SIGPIPE, &sa, NULL));
	make_pair(&c, &s);

	/* MSG_PEEK */
	write_all(c, "hello world", 11);
	CHECK_EQ(recv(s, buf, 5, MSG_PEEK), 5);
	CHECK(memcmp(buf, "hello", 5) == 0);
	CHECK_EQ(recv(s, buf, sizeof(buf), MSG_PEEK), 11);
	CHECK(memcmp(buf, "hello world", 11) == 0);
	CHECK_EQ(recv(s, buf, 6, 0), 6);
	CHECK_EQ(recv(s, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT), 5);
	CHECK(memcmp(buf, "world", 5) == 0);
	CHECK_EQ(read(s, buf, sizeof(buf)), 5);
	CHECK(memcmp(buf, "world", 5) == 0);
	CHECK_ERR(recv(s, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT), EAGAIN);

	/* MSG_WAITALL across five writes 30 ms apart. */
	pthread_t t;
	pthread_create(&t, NULL, dribble, NULL);
	CHECK_EQ(recv(s, buf, 10, MSG_WAITALL), 10);
	CHECK(memcmp(buf, "ababababab", 10) == 0);
	pthread_join(t, NULL);

	/* MSG_DONTWAIT on a blocking socket: EAGAIN, and the fd stays blocking. */
	CHECK_ERR(recv(s, buf, sizeof(buf), MSG_DONTWAIT), EAGAIN);
	CHECK_EQ(OK(fcntl(s, F_GETFL)) & O_NONBLOCK, 0);
	size_t queued = fill_until_eagain(s); /* send(MSG_DONTWAIT) until EAGAIN */
	CHECK(queued > 0);
	CHECK_ERR(send(s, "x", 1, MSG_DONTWAIT), EAGAIN);
	CHECK_EQ(OK(fcntl(s, F_GETFL)) & O_NONBLOCK, 0);
	static char junk[1 << 16];
	for (size_t got = 0; got < queued;) {
		ssize_t n =
		    read(c, junk, queued - got < sizeof(junk) ? queued - got : sizeof(junk));
		CHECK(n > 0);
		got += (size_t)n;
	}

	/* MSG_WAITALL returns short at EOF. */
	write_all(c, "tail", 4);
	OK(shutdown(c, SHUT_WR));
	CHECK_EQ(recv(s, buf, 10, MSG_WAITALL), 4);
	CHECK_EQ(recv(s, buf, 10, MSG_WAITALL), 0);
	close(c);
	close(s);

	/* Peer closed: one write accepted, then EPIPE + SIGPIPE each time... */
	make_pair(&c, &s);
	OK(close(c));
	sleep_ms(20);
	CHECK_EQ(send(s, "1", 1, 0), 1);
	sleep_ms(50); /* the reset comes back */
	CHECK_EQ(sigpipes, 0);
	CHECK_ERR(write(s, "2", 1), EPIPE);
	CHECK_EQ(sigpipes, 1);
	CHECK_ERR(send(s, "3", 1, 0), EPIPE);
	CHECK_EQ(sigpipes, 2);
	/* ...or EPIPE alone with MSG_NOSIGNAL. */
	CHECK_ERR(send(s, "4", 1, MSG_NOSIGNAL), EPIPE);
	CHECK_EQ(sigpipes, 2);
	struct msghdr m = {.msg_iov = &(struct iovec){"5", 1}, .msg_iovlen = 1};
	CHECK_ERR(sendmsg(s, &m, MSG_NOSIGNAL), EPIPE);
	CHECK_EQ(sigpipes, 2);
	close(s);

	/* After our own shutdown(SHUT_WR): EPIPE at once, SIGPIPE unless MSG_NOSIGNAL. */
	make_pair(&c, &s);
	OK(shutdown(s, SHUT_WR));
	CHECK_ERR(send(s, "x", 1, MSG_NOSIGNAL), EPIPE);
	CHECK_EQ(sigpipes, 2);
	CHECK_ERR(write(s, "x", 1), EPIPE);
	CHECK_EQ(sigpipes, 3);
	close(c);
	close(s);

	printf("msg_flags: ok\n");
	return 0;
}
