/* SPDX-License-Identifier: MIT */
/*
 * Proves: a listener with TCP_DEFER_ACCEPT (nginx "listen ... deferred",
 * haproxy, apache2's default AcceptFilter) does not report a connection
 * before its first bytes arrive: with a client connected but silent, poll on
 * the listener stays quiet for 300 ms and a non-blocking accept says EAGAIN;
 * once the client writes, the listener is readable at once and the accepted
 * connection has the byte waiting. Under X-IO the listener and both ends
 * are carried (such listeners were left to TCP before).
 */
#include <poll.h>

#include "helpers.h"

int main(void)
{
	char b;

	watchdog(20);
	setvbuf(stdout, NULL, _IONBF, 0);
	int l = OK(socket(AF_INET, SOCK_STREAM, 0));
	int secs = 5;
	OK(setsockopt(l, IPPROTO_TCP, TCP_DEFER_ACCEPT, &secs, sizeof(secs)));
	struct sockaddr_in a = sin_of("127.0.0.1", 0);
	OK(bind(l, (struct sockaddr *)&a, sizeof(a)));
	OK(listen(l, 8));
	require_xio_listener(l);
	socklen_t len = sizeof(a);
	OK(getsockname(l, (struct sockaddr *)&a, &len));
	set_nonblock(l, 1);

	int c = connect_lo(ntohs(a.sin_port));
	require_xio(c);
	struct pollfd p = {.fd = l, .events = POLLIN};
	CHECK_EQ(poll(&p, 1, 300), 0);
	CHECK_ERR(accept(l, NULL, NULL), EAGAIN);

	write_all(c, "x", 1);
	CHECK_EQ(poll(&p, 1, 1000), 1);
	int s = OK(accept(l, NULL, NULL));
	require_xio(s);
	CHECK_ERR(accept(l, NULL, NULL), EAGAIN);
	set_nonblock(s, 1);
	CHECK_EQ(read(s, &b, 1), 1);
	CHECK_EQ(b, 'x');
	close(c);
	close(s);
	close(l);
	printf("defer_accept: ok\n");
	return 0;
}
