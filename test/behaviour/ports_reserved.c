/* SPDX-License-Identifier: MIT */
/*
 * Proves: the ports of an open connection stay taken in the kernel, as with
 * TCP, so nothing else on the node can collide with them: bind() of a new
 * socket to the client's local address:port fails EADDRINUSE, and so does
 * bind() to the server side's address:port while the accepted connection is
 * open (listener already closed, no SO_REUSEADDR; under X-IO this one is a
 * known difference, README, and is checked against the kernel only); for 50
 * connections at once, no two client ports are equal and none equals the
 * listener's.
 */
#include "helpers.h"

#define CONNS 50

static void bind_refused(const struct sockaddr_in *a, const char *what)
{
	int x = OK(socket(AF_INET, SOCK_STREAM, 0));
	errno = 0;
	int r = bind(x, (const struct sockaddr *)a, sizeof(*a));
	if (r != -1 || errno != EADDRINUSE)
		FAIL("bind to %s port %u: %d errno %d (%s), want EADDRINUSE", what,
		     ntohs(a->sin_port), r, errno, strerror(errno));
	close(x);
}

int main(void)
{
	struct sockaddr_in a;
	socklen_t len;
	int c, s;

	watchdog(20);
	setvbuf(stdout, NULL, _IONBF, 0);
	make_pair(&c, &s); /* the listener is closed already */
	len = sizeof(a);
	OK(getsockname(c, (struct sockaddr *)&a, &len));
	bind_refused(&a, "the client's");
	/*
	 * Known difference (README, "Known differences"): an accepted X-IO
	 * connection does not keep the server's port bound once the listener is
	 * closed. Checked against the kernel only, until it does.
	 */
	len = sizeof(a);
	OK(getsockname(s, (struct sockaddr *)&a, &len));
	const char *expect = getenv("XIO_EXPECT");
	if (expect && strcmp(expect, "0") == 0)
		bind_refused(&a, "the server's");
	close(c);
	close(s);

	uint16_t port;
	int l = listen_lo(&port);
	int cs[CONNS], ss[CONNS];
	uint16_t ports[CONNS];
	for (int i = 0; i < CONNS; i++) {
		cs[i] = connect_lo(port);
		ss[i] = OK(accept(l, NULL, NULL));
		require_xio(cs[i]);
		len = sizeof(a);
		OK(getsockname(cs[i], (struct sockaddr *)&a, &len));
		ports[i] = ntohs(a.sin_port);
		CHECK(ports[i] != port);
		for (int j = 0; j < i; j++)
			if (ports[j] == ports[i])
				FAIL("connections %d and %d share local port %u", j, i, ports[i]);
		bind_refused(&a, "a client's");
	}
	for (int i = 0; i < CONNS; i++) {
		close(cs[i]);
		close(ss[i]);
	}
	close(l);
	printf("ports_reserved: ok\n");
	return 0;
}
