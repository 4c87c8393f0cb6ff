/* SPDX-License-Identifier: MIT */
/*
 * Proves: poll and select report a connection whose peer closed even while
 * another connection in the same set is ready on every call. A server that
 * polls its control connection beside data connections with unread bytes
 * (iperf3 -s) must learn that its client is gone: the kernel reports the
 * closed connection readable (EOF) on the first call. Under X-IO a poll that
 * finds fds ready never sleeps, and the close is news only its socket holds.
 */
#include <poll.h>
#include <sys/select.h>

#include "helpers.h"

int main(void)
{
	int busy_c, busy_s, gone_c, gone_s;
	char buf[16];

	watchdog(20);
	setvbuf(stdout, NULL, _IONBF, 0);
	make_pair(&busy_c, &busy_s);
	make_pair(&gone_c, &gone_s);
	write_all(busy_c, "always ready", 12); /* never read: busy_s is ready on every call */

	/* Both quiet but busy: a first poll that sees the busy one only. */
	struct pollfd p[2] = {{.fd = busy_s, .events = POLLIN}, {.fd = gone_s, .events = POLLIN}};
	CHECK_EQ(poll(p, 2, 1000), 1);
	CHECK(p[0].revents & POLLIN);
	CHECK_EQ(p[1].revents, 0);

	close(gone_c); /* the peer goes */
	sleep_ms(50);
	int seen = 0;
	for (int i = 0; i < 20 && !seen; i++) {
		CHECK(poll(p, 2, 100) >= 1);
		seen = p[1].revents & POLLIN;
	}
	if (!seen)
		FAIL("poll never reported the closed connection beside a ready one");
	CHECK_EQ(read(gone_s, buf, sizeof(buf)), 0);

	/* The same through select, with a second peer that goes. */
	int gone2_c, gone2_s;
	make_pair(&gone2_c, &gone2_s);
	fd_set rd;
	FD_ZERO(&rd);
	FD_SET(busy_s, &rd);
	FD_SET(gone2_s, &rd);
	int nfds = (busy_s > gone2_s ? busy_s : gone2_s) + 1;
	struct timeval tv = {1, 0};
	CHECK_EQ(select(nfds, &rd, NULL, NULL, &tv), 1);
	close(gone2_c);
	sleep_ms(50);
	seen = 0;
	for (int i = 0; i < 20 && !seen; i++) {
		FD_ZERO(&rd);
		FD_SET(busy_s, &rd);
		FD_SET(gone2_s, &rd);
		tv = (struct timeval){0, 100000};
		CHECK(select(nfds, &rd, NULL, NULL, &tv) >= 1);
		seen = FD_ISSET(gone2_s, &rd);
	}
	if (!seen)
		FAIL("select never reported the closed connection beside a ready one");
	CHECK_EQ(read(gone2_s, buf, sizeof(buf)), 0);

	require_xio(busy_s);
	require_xio(gone_s);
	close(busy_c);
	close(busy_s);
	close(gone_s);
	close(gone2_s);
	printf("poll_busy_peer_gone: ok\n");
	return 0;
}
