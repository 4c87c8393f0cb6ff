/* SPDX-License-Identifier: MIT */
/*
 * Proves: a process that forks while connections to its TCP_DEFER_ACCEPT
 * listener wait for their first bytes does not give them to the child: the
 * parent accepts such a connection once it has data, and when the parent
 * closes it the client sees EOF at once, although the child (which never
 * accepted anything) still runs with the listener open.
 */
#include <poll.h>

#include "helpers.h"

int main(void)
{
	watchdog(20);
	setvbuf(stdout, NULL, _IONBF, 0);
	uint16_t port;
	int l = listen_lo_deferred(&port, 5);
	int c = connect_lo(port);
	require_xio(c);
	struct pollfd p = {.fd = l, .events = POLLIN};
	CHECK_EQ(poll(&p, 1, 300), 0); /* the connection waits for its bytes */

	pid_t child = fork_child();
	if (child == 0) {
		sleep_ms(4000);
		_exit(0);
	}
	write_all(c, "x", 1);
	CHECK_EQ(poll(&p, 1, 2000), 1);
	int s = accept_first_byte(l, 'x');
	close(s);
	char b;
	struct pollfd q = {.fd = c, .events = POLLIN};
	int64_t t0 = now_ms();
	CHECK_EQ(poll(&q, 1, 2000), 1);
	CHECK_EQ(read(c, &b, 1), 0);
	if (now_ms() - t0 > 1000)
		FAIL("EOF took %lld ms", (long long)(now_ms() - t0));
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	close(c);
	close(l);
	printf("defer_accept_fork: ok\n");
	return 0;
}
