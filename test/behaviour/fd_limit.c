/* SPDX-License-Identifier: MIT */
/*
 * Proves: with RLIMIT_NOFILE at 200 (ulimit -n 200), a process opens as
 * many connections as the fd numbers it has free before socket() fails
 * with EMFILE: one fd per connection, as with TCP. Each connection carries
 * a byte both ways. Under X-IO all but the last are carried by X-IO: a
 * carried connect needs a spare number for a moment (its AF_UNIX end,
 * before it takes the socket's number), and the last one has none, so it
 * stays kernel TCP; the process's control connection to the manager gives
 * its number up when it is the one missing (stack/connect.c). Before
 * manager-held ports, every carried client connection also kept its TCP
 * socket as a second fd and EMFILE came after about three quarters.
 */
#include <poll.h>
#include <sys/resource.h>

#include "helpers.h"

#define FD_LIMIT 200

/* Accept, echo one byte, keep the connection open; until the parent closes @quit. */
static _Noreturn void server(int l, int quit)
{
	static int conns[4 * FD_LIMIT];
	int n = 0;
	for (;;) {
		struct pollfd p[2] = {{.fd = l, .events = POLLIN}, {.fd = quit, .events = POLLIN}};
		OK(poll(p, 2, -1));
		if (p[1].revents)
			_exit(0);
		int s = OK(accept(l, NULL, NULL));
		char b;
		read_all(s, &b, 1);
		write_all(s, &b, 1);
		if (n < (int)(sizeof(conns) / sizeof(conns[0])))
			conns[n++] = s;
	}
}

int main(void)
{
	watchdog(25);
	setvbuf(stdout, NULL, _IONBF, 0);
	struct rlimit rl;
	OK(getrlimit(RLIMIT_NOFILE, &rl));
	CHECK(rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 4 * FD_LIMIT);

	uint16_t port;
	int l = listen_lo(&port), quit[2];
	OK(pipe(quit));
	pid_t pid = fork_child();
	if (pid == 0) {
		close(quit[1]);
		server(l, quit[0]);
	}
	close(quit[0]);
	close(l);

	/* ulimit -n 200 from here on; the numbers still free below it are what we may open. */
	struct rlimit low = {.rlim_cur = FD_LIMIT, .rlim_max = rl.rlim_max};
	OK(setrlimit(RLIMIT_NOFILE, &low));
	int nfree = 0;
	for (int fd = 0; fd < FD_LIMIT; fd++)
		if (fcntl(fd, F_GETFD) < 0 && errno == EBADF)
			nfree++;

	static int fds[FD_LIMIT];
	int n = 0, carried = 0;
	struct sockaddr_in a = sin_of("127.0.0.1", port);
	for (;;) {
		int c = socket(AF_INET, SOCK_STREAM, 0);
		if (c < 0) {
			if (errno != EMFILE)
				FAIL("socket #%d: %s, want EMFILE", n + 1, strerror(errno));
			break;
		}
		CHECK(n < FD_LIMIT);
		if (connect(c, (struct sockaddr *)&a, sizeof(a)) < 0)
			FAIL("connect #%d: %s", n + 1, strerror(errno));
		char b = (char)n;
		write_all(c, &b, 1);
		b = 0;
		read_all(c, &b, 1);
		CHECK_EQ(b, (char)n);
		carried += fd_kind(c) == 1;
		fds[n++] = c;
	}
	printf("fd_limit: %d connections before EMFILE, %d numbers were free, %d carried by X-IO\n",
	       n, nfree, carried);
	CHECK_EQ(n, nfree);
	if (xio_expected() && carried < n - 1)
		FAIL("only %d of %d connections carried by X-IO, want at least %d", carried, n,
		     n - 1);

	for (int i = 0; i < n; i++)
		close(fds[i]);
	OK(setrlimit(RLIMIT_NOFILE, &rl));
	close(quit[1]);
	wait_ok(pid);
	printf("fd_limit: ok\n");
	return 0;
}
