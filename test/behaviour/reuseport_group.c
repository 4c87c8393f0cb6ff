/* SPDX-License-Identifier: MIT */
/*
 * Proves: two listeners bound to one address and port with SO_REUSEPORT
 * form a group that shares the incoming connections: of 64 connections made
 * by one client process, each listener accepts some (the kernel hashes each
 * 4-tuple; all 64 on one listener has probability 2^-63) and none is lost or
 * duplicated; every accepted connection is X-IO and carries its own id; once
 * one listener is closed the other accepts all new connections.
 */
#include <poll.h>

#include "helpers.h"

#define CONNS 64

static int reuseport_listener(uint16_t *port)
{
	int l = OK(socket(AF_INET, SOCK_STREAM, 0));
	int one = 1;
	OK(setsockopt(l, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)));
	struct sockaddr_in a = sin_of("127.0.0.1", *port);
	OK(bind(l, (struct sockaddr *)&a, sizeof(a)));
	OK(listen(l, CONNS));
	socklen_t len = sizeof(a);
	OK(getsockname(l, (struct sockaddr *)&a, &len));
	*port = ntohs(a.sin_port);
	require_xio_listener(l);
	set_nonblock(l, 1);
	return l;
}

/* Accept everything pending on both listeners; count per listener and mark ids seen. */
static void accept_all(int l[2], int want, int count[2], unsigned char *seen)
{
	int total = 0;
	int64_t end = now_ms() + 5000;
	while (total < want) {
		CHECK(now_ms() < end);
		struct pollfd p[2] = {{.fd = l[0], .events = POLLIN},
				      {.fd = l[1], .events = POLLIN}};
		int n = OK(poll(p, l[1] >= 0 ? 2 : 1, 1000));
		if (n == 0)
			continue;
		for (int k = 0; k < 2; k++) {
			if (l[k] < 0 || !(p[k].revents & POLLIN))
				continue;
			int s = accept(l[k], NULL, NULL);
			if (s < 0 && errno == EAGAIN)
				continue;
			CHECK(s >= 0);
			require_xio(s);
			uint32_t id;
			read_all(s, &id, sizeof(id));
			CHECK(id < 2 * CONNS);
			CHECK_EQ(seen[id], 0);
			seen[id] = 1;
			count[k]++;
			total++;
			close(s);
		}
	}
}

int main(void)
{
	uint16_t port = 0;
	int c[2 * CONNS];
	unsigned char seen[2 * CONNS] = {0};

	watchdog(25);
	setvbuf(stdout, NULL, _IONBF, 0);
	int l[2];
	l[0] = reuseport_listener(&port);
	l[1] = reuseport_listener(&port);

	for (uint32_t i = 0; i < CONNS; i++) {
		c[i] = connect_lo(port);
		require_xio(c[i]);
		write_all(c[i], &i, sizeof(i));
	}
	int count[2] = {0, 0};
	accept_all(l, CONNS, count, seen);
	if (count[0] == 0 || count[1] == 0)
		FAIL("one SO_REUSEPORT listener got all connections: %d / %d", count[0], count[1]);

	/* One listener closed: the other takes everything. */
	OK(close(l[0]));
	l[0] = l[1];
	l[1] = -1;
	int count2[2] = {0, 0};
	for (uint32_t i = CONNS; i < 2 * CONNS; i++) {
		c[i] = connect_lo(port);
		write_all(c[i], &i, sizeof(i));
	}
	accept_all(l, CONNS, count2, seen);
	CHECK_EQ(count2[0], CONNS);
	for (int i = 0; i < 2 * CONNS; i++) {
		CHECK_EQ(seen[i], 1);
		close(c[i]);
	}
	close(l[0]);
	printf("reuseport_group: ok (%d / %d)\n", count[0], count[1]);
	return 0;
}
