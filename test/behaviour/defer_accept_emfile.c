/* SPDX-License-Identifier: MIT */
/*
 * Proves: on a TCP_DEFER_ACCEPT listener whose client has written, a
 * process out of file descriptors still sees the listener readable and
 * accept fails with EMFILE (it does not spin or hang); once descriptors are
 * free again accept returns the connection with its byte.
 */
#include <poll.h>
#include <sys/resource.h>

#include "helpers.h"

int main(void)
{
	watchdog(20);
	setvbuf(stdout, NULL, _IONBF, 0);
	uint16_t port;
	int l = listen_lo_deferred(&port, 5);
	int c = connect_lo(port);
	require_xio(c);
	write_all(c, "x", 1);

	struct rlimit old, low;
	OK(getrlimit(RLIMIT_NOFILE, &old));
	int next = OK(dup(0));
	close(next);
	low = old;
	low.rlim_cur = (rlim_t)next; /* no new descriptor from here */
	OK(setrlimit(RLIMIT_NOFILE, &low));
	struct pollfd p = {.fd = l, .events = POLLIN};
	CHECK_EQ(poll(&p, 1, 2000), 1);
	CHECK_ERR(accept(l, NULL, NULL), EMFILE);
	OK(setrlimit(RLIMIT_NOFILE, &old));

	CHECK_EQ(poll(&p, 1, 2000), 1);
	int s = accept_first_byte(l, 'x');
	close(c);
	close(s);
	close(l);
	printf("defer_accept_emfile: ok\n");
	return 0;
}
