/* SPDX-License-Identifier: MIT */
/*
 * Proves: connecting where nothing listens fails as on TCP — blocking
 * connect -1 ECONNREFUSED; non-blocking connect -1 EINPROGRESS, then poll
 * reports POLLOUT|POLLERR|POLLHUP, SO_ERROR is ECONNREFUSED once (then 0) —
 * both for a port never listened on and for one whose (X-IO) listener has
 * been closed; and a connection still queued (never accepted) when its
 * listener closes is reset: the client's read fails ECONNRESET.
 */
#include <poll.h>

#include "helpers.h"

static int so_error(int fd)
{
	int e = -1;
	socklen_t len = sizeof(e);
	OK(getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len));
	return e;
}

/* A port on 127.0.0.1 with no listener: bound once, then released. */
static uint16_t dead_port(void)
{
	int t = OK(socket(AF_INET, SOCK_STREAM, 0));
	struct sockaddr_in a = sin_of("127.0.0.1", 0);
	OK(bind(t, (struct sockaddr *)&a, sizeof(a)));
	socklen_t len = sizeof(a);
	OK(getsockname(t, (struct sockaddr *)&a, &len));
	close(t);
	return ntohs(a.sin_port);
}

static void refused(uint16_t port)
{
	struct sockaddr_in a = sin_of("127.0.0.1", port);
	int c = OK(socket(AF_INET, SOCK_STREAM, 0));
	CHECK_ERR(connect(c, (struct sockaddr *)&a, sizeof(a)), ECONNREFUSED);
	close(c);

	c = OK(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0));
	int r = connect(c, (struct sockaddr *)&a, sizeof(a));
	CHECK_EQ(r, -1);
	CHECK(errno == EINPROGRESS || errno == ECONNREFUSED);
	if (errno == EINPROGRESS) {
		struct pollfd p = {.fd = c, .events = POLLOUT | POLLIN};
		CHECK_EQ(poll(&p, 1, 1000), 1);
		CHECK_EVENTS(p.revents & (POLLOUT | POLLERR | POLLHUP),
			     POLLOUT | POLLERR | POLLHUP);
		CHECK_EQ(so_error(c), ECONNREFUSED);
		CHECK_EQ(so_error(c), 0);
	}
	close(c);
}

int main(void)
{
	char buf[8];
	uint16_t port;

	watchdog(20);
	setvbuf(stdout, NULL, _IONBF, 0);

	/* Never listened on. */
	refused(dead_port());

	/* An X-IO listener that was used, then closed. */
	int l = listen_lo(&port);
	int c = connect_lo(port);
	int s = OK(accept(l, NULL, NULL));
	require_xio(c);
	close(c);
	close(s);
	OK(close(l));
	refused(port);

	/* Queued, never accepted, listener closed: reset. */
	l = listen_lo(&port);
	c = connect_lo(port);
	OK(close(l));
	struct pollfd p = {.fd = c, .events = POLLIN};
	CHECK_EQ(poll(&p, 1, 1000), 1);
	CHECK_ERR(read(c, buf, sizeof(buf)), ECONNRESET);
	close(c);

	printf("connect_refused: ok\n");
	return 0;
}
