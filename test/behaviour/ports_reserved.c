/* SPDX-License-Identifier: MIT */
/*
 * Proves: the ports of an open connection stay taken in the kernel, as with
 * TCP, so nothing else on the node can collide with them: bind() of a new
 * socket to the client's local address:port fails EADDRINUSE; for 50
 * connections at once, no two client ports are equal and none equals the
 * listener's. The server's port stays bound by an accepted connection after
 * its listener is closed, with the listener's SO_REUSEADDR: a bind() without
 * SO_REUSEADDR fails EADDRINUSE, one with SO_REUSEADDR succeeds (and may
 * listen) only if the listener had it, and once the accepted connection is
 * closed the port is free (in a forked child's copies too).
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

enum how_closed { BY_CLOSE, BY_DUP2, BY_CLOSE_RANGE };

/*
 * The server's port P after its listener (with SO_REUSEADDR when @reuse) is
 * closed (@how) while a connection accepted from it is open.
 */
static void server_port_held(int reuse, enum how_closed how)
{
	int one = 1;
	int l = OK(socket(AF_INET, SOCK_STREAM, 0));
	if (reuse)
		OK(setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)));
	struct sockaddr_in a = sin_of("127.0.0.1", 0);
	OK(bind(l, (struct sockaddr *)&a, sizeof(a)));
	OK(listen(l, 16));
	socklen_t len = sizeof(a);
	OK(getsockname(l, (struct sockaddr *)&a, &len));
	require_xio_listener(l);
	int c = connect_lo(ntohs(a.sin_port));
	int s = OK(accept(l, NULL, NULL));
	require_xio(c);
	require_xio(s);
	if (how == BY_DUP2) {
		int n = OK(open("/dev/null", O_RDONLY));
		OK(dup2(n, l));
		close(n);
		close(l);
	} else if (how == BY_CLOSE_RANGE) {
		OK(close_range((unsigned)l, (unsigned)l, 0));
	} else {
		OK(close(l));
	}

	bind_refused(&a, reuse ? "the closed listener's (it had SO_REUSEADDR)"
			       : "the closed listener's (it had no SO_REUSEADDR)");
	int x = OK(socket(AF_INET, SOCK_STREAM, 0));
	OK(setsockopt(x, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)));
	if (reuse) {
		/* No listener on P, every socket on it allows reuse: a new server may start. */
		OK(bind(x, (struct sockaddr *)&a, sizeof(a)));
		OK(listen(x, 16));
	} else {
		CHECK_ERR(bind(x, (struct sockaddr *)&a, sizeof(a)), EADDRINUSE);
	}
	close(x);

	/* The connection itself is untouched by all this. */
	char b = 'p';
	write_all(c, &b, 1);
	read_all(s, &b, 1);
	CHECK_EQ(b, 'p');
	require_xio(s);

	/* The client closes first (its side, not the server's, waits in TIME_WAIT). */
	close(c);
	close(s);
	x = OK(socket(AF_INET, SOCK_STREAM, 0));
	OK(bind(x, (struct sockaddr *)&a, sizeof(a)));
	close(x);
}

/*
 * The same across fork: a child that closes its copies of the connection
 * leaves the port held by the parent's; once the parent closes its own the
 * port is free, while the child still lives.
 */
static void server_port_fork(void)
{
	int c, s, p2c[2], c2p[2];
	char b = 0;
	struct sockaddr_in a;
	socklen_t len = sizeof(a);

	make_pair(&c, &s); /* the listener (SO_REUSEADDR) is closed already */
	OK(getsockname(s, (struct sockaddr *)&a, &len));
	OK(pipe(p2c));
	OK(pipe(c2p));
	pid_t pid = fork_child();
	if (pid == 0) {
		close(c);
		close(s);
		write_all(c2p[1], "c", 1);
		read_all(p2c[0], &b, 1); /* stay alive until the parent has looked */
		_exit(0);
	}
	read_all(c2p[0], &b, 1);
	bind_refused(&a, "the server's (the child closed its copies)");
	close(c);
	close(s);
	int x = OK(socket(AF_INET, SOCK_STREAM, 0));
	OK(bind(x, (struct sockaddr *)&a, sizeof(a)));
	close(x);
	write_all(p2c[1], "p", 1);
	wait_ok(pid);
	close(p2c[0]);
	close(p2c[1]);
	close(c2p[0]);
	close(c2p[1]);
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
	len = sizeof(a);
	OK(getsockname(s, (struct sockaddr *)&a, &len));
	bind_refused(&a, "the server's");
	close(c);
	close(s);
	server_port_held(1, BY_CLOSE);
	server_port_held(0, BY_CLOSE);
	server_port_held(1, BY_DUP2);
	server_port_held(0, BY_CLOSE_RANGE);
	server_port_fork();

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
