/* SPDX-License-Identifier: MIT */
/*
 * Proves: a connection to a TCP_DEFER_ACCEPT listener that sends nothing is
 * accepted (not dropped) once the defer time is over: the kernel turns the
 * seconds into SYN-ACK retransmits and accepts after the last one, after
 * the seconds getsockopt reads back (1 s for 1; measured: 1.05 s; 2 s reads
 * back 3). A client that only half-closes is acceptable at once (its FIN is
 * not a bare ACK). A blocking accept sleeps until a held client's bytes
 * arrive. Under X-IO every connection is carried.
 */
#include <poll.h>
#include <pthread.h>

#include "helpers.h"

static int writer_fd;

static void *write_later(void *arg)
{
	(void)arg;
	sleep_ms(400);
	write_all(writer_fd, "w", 1);
	return NULL;
}

int main(void)
{
	watchdog(20);
	setvbuf(stdout, NULL, _IONBF, 0);
	uint16_t port;
	int l = listen_lo(&port);
	int secs = 2;
	socklen_t sl = sizeof(secs);
	OK(setsockopt(l, IPPROTO_TCP, TCP_DEFER_ACCEPT, &secs, sizeof(secs)));
	OK(getsockopt(l, IPPROTO_TCP, TCP_DEFER_ACCEPT, &secs, &sl));
	CHECK_EQ(secs, 3); /* the kernel's rounding: 2 retransmits, 1 + 2 s */
	secs = 1;
	OK(setsockopt(l, IPPROTO_TCP, TCP_DEFER_ACCEPT, &secs, sizeof(secs)));
	require_xio_listener(l);
	set_nonblock(l, 1);
	struct pollfd p = {.fd = l, .events = POLLIN};

	/* silent: not acceptable for most of a second, then acceptable without data */
	int64_t t0 = now_ms();
	int c = connect_lo(port);
	require_xio(c);
	CHECK_EQ(poll(&p, 1, 700), 0);
	CHECK_ERR(accept(l, NULL, NULL), EAGAIN);
	CHECK_EQ(poll(&p, 1, 3000), 1);
	int64_t waited = now_ms() - t0;
	if (waited < 900 || waited > 2500)
		FAIL("the silent client became acceptable after %lld ms, want about 1000",
		     (long long)waited);
	int s = OK(accept(l, NULL, NULL));
	require_xio(s);
	set_nonblock(s, 1);
	char b;
	CHECK_ERR(read(s, &b, 1), EAGAIN);
	write_all(c, "late", 4);
	set_nonblock(s, 0);
	char got[4];
	read_all(s, got, 4);
	CHECK(memcmp(got, "late", 4) == 0);
	close(c);
	close(s);

	/* EOF counts as arrival */
	c = connect_lo(port);
	OK(shutdown(c, SHUT_WR));
	CHECK_EQ(poll(&p, 1, 500), 1);
	s = OK(accept(l, NULL, NULL));
	require_xio(s);
	set_nonblock(s, 0);
	CHECK_EQ(read(s, &b, 1), 0);
	close(c);
	close(s);

	/* a blocking accept wakes for a held client's bytes, not before */
	secs = 10;
	OK(setsockopt(l, IPPROTO_TCP, TCP_DEFER_ACCEPT, &secs, sizeof(secs)));
	set_nonblock(l, 0);
	writer_fd = connect_lo(port);
	pthread_t th;
	t0 = now_ms();
	CHECK_EQ(pthread_create(&th, NULL, write_later, NULL), 0);
	s = OK(accept(l, NULL, NULL));
	waited = now_ms() - t0;
	if (waited < 350)
		FAIL("blocking accept returned after %lld ms, before the client wrote",
		     (long long)waited);
	require_xio(s);
	read_all(s, &b, 1);
	CHECK_EQ(b, 'w');
	pthread_join(th, NULL);
	close(writer_fd);
	close(s);
	close(l);
	printf("defer_accept_timeout: ok\n");
	return 0;
}
