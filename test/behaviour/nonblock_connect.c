/* SPDX-License-Identifier: MIT */
/*
 * Proves: a non-blocking connect to a listener gives -1 EINPROGRESS; the
 * socket then becomes writable (poll POLLOUT, epoll EPOLLOUT, select) with
 * SO_ERROR 0; connect again reports the completion (0) and once more says
 * EISCONN (a blocking socket that connected says EISCONN at once);
 * getpeername names the listener; the connection is X-IO and carries data
 * once accepted — even when the server accepts only after the client has
 * written; a connect on a SOCK_NONBLOCK socket behaves the same.
 */
#include <poll.h>
#include <sys/epoll.h>
#include <sys/select.h>

#include "helpers.h"

static int so_error(int fd)
{
	int e = -1;
	socklen_t len = sizeof(e);
	OK(getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len));
	return e;
}

static int nb_connect(int type_flags, uint16_t port)
{
	int c = OK(socket(AF_INET, SOCK_STREAM | type_flags, 0));
	if (!(type_flags & SOCK_NONBLOCK))
		set_nonblock(c, 1);
	struct sockaddr_in a = sin_of("127.0.0.1", port);
	CHECK_ERR(connect(c, (struct sockaddr *)&a, sizeof(a)), EINPROGRESS);
	return c;
}

int main(void)
{
	char buf[16];
	uint16_t port;

	watchdog(20);
	setvbuf(stdout, NULL, _IONBF, 0);
	int l = listen_lo(&port);
	struct sockaddr_in a = sin_of("127.0.0.1", port);

	/* poll */
	int c = nb_connect(0, port);
	struct pollfd p = {.fd = c, .events = POLLOUT};
	CHECK_EQ(poll(&p, 1, 1000), 1);
	CHECK_EVENTS(p.revents, POLLOUT);
	CHECK_EQ(so_error(c), 0);
	/* The connect after completion reports it (0), the one after that EISCONN. */
	CHECK_EQ(connect(c, (struct sockaddr *)&a, sizeof(a)), 0);
	CHECK_ERR(connect(c, (struct sockaddr *)&a, sizeof(a)), EISCONN);
	struct sockaddr_in peer;
	socklen_t len = sizeof(peer);
	OK(getpeername(c, (struct sockaddr *)&peer, &len));
	CHECK_EQ(ntohs(peer.sin_port), port);
	require_xio(c);
	/* The client writes before the server accepts. */
	write_all(c, "early", 5);
	int s = OK(accept(l, NULL, NULL));
	require_xio(s);
	read_all(s, buf, 5);
	CHECK(memcmp(buf, "early", 5) == 0);
	write_all(s, "back", 4);
	p = (struct pollfd){.fd = c, .events = POLLIN};
	CHECK_EQ(poll(&p, 1, 1000), 1);
	CHECK_EQ(read(c, buf, sizeof(buf)), 4);
	close(c);
	close(s);

	/* epoll, SOCK_NONBLOCK from socket() */
	c = nb_connect(SOCK_NONBLOCK, port);
	int ep = OK(epoll_create1(0));
	struct epoll_event e = {.events = EPOLLOUT | EPOLLIN, .data.u64 = 3}, ev;
	OK(epoll_ctl(ep, EPOLL_CTL_ADD, c, &e));
	CHECK_EQ(epoll_wait(ep, &ev, 1, 1000), 1);
	CHECK_EVENTS(ev.events, EPOLLOUT);
	CHECK_EQ(so_error(c), 0);
	CHECK_EQ(connect(c, (struct sockaddr *)&a, sizeof(a)), 0);
	CHECK_ERR(connect(c, (struct sockaddr *)&a, sizeof(a)), EISCONN);
	s = OK(accept(l, NULL, NULL));
	write_all(s, "x", 1);
	CHECK_EQ(epoll_wait(ep, &ev, 1, 1000), 1);
	CHECK_EVENTS(ev.events, EPOLLIN | EPOLLOUT);
	close(ep);
	close(c);
	close(s);

	/* select */
	c = nb_connect(0, port);
	fd_set wr;
	FD_ZERO(&wr);
	FD_SET(c, &wr);
	struct timeval tv = {1, 0};
	CHECK_EQ(select(c + 1, NULL, &wr, NULL, &tv), 1);
	CHECK(FD_ISSET(c, &wr));
	CHECK_EQ(so_error(c), 0);
	s = OK(accept(l, NULL, NULL));
	close(c);
	close(s);

	/* A blocking socket that connected: a second connect is EISCONN too. */
	c = connect_lo(port);
	CHECK_ERR(connect(c, (struct sockaddr *)&a, sizeof(a)), EISCONN);
	s = OK(accept(l, NULL, NULL));
	close(c);
	close(s);
	close(l);
	printf("nonblock_connect: ok\n");
	return 0;
}
