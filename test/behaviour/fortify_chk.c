/* SPDX-License-Identifier: MIT */
/*
 * Proves: the _FORTIFY_SOURCE entry points glibc's headers substitute when a
 * buffer's size is known and the length is not a constant — __read_chk,
 * __recv_chk, __recvfrom_chk, __poll_chk, __ppoll_chk — work on a
 * connection exactly like the plain calls: the bytes arrive, poll/ppoll see
 * the connection's POLLIN (and its absence), and the timeouts hold. (The
 * lengths come through a volatile so the compiler cannot fold them; nm on
 * this program lists the _chk symbols.)
 */
#include <poll.h>

#include "helpers.h"

static volatile size_t len_of_3 = 3, len_of_64 = 64;
static volatile nfds_t one_fd = 1;

int main(void)
{
	char buf[64];
	int c, s;

	watchdog(20);
	setvbuf(stdout, NULL, _IONBF, 0);
	make_pair(&c, &s);

	write_all(c, "abcdefghi", 9);
	CHECK_EQ(read(s, buf, len_of_3), 3); /* __read_chk */
	CHECK(memcmp(buf, "abc", 3) == 0);
	CHECK_EQ(recv(s, buf, len_of_3, 0), 3); /* __recv_chk */
	CHECK(memcmp(buf, "def", 3) == 0);
	struct sockaddr_in from;
	socklen_t flen = sizeof(from);
	CHECK_EQ(recvfrom(s, buf, len_of_64, 0, (struct sockaddr *)&from, &flen),
		 3); /* __recvfrom_chk */
	CHECK(memcmp(buf, "ghi", 3) == 0);

	struct pollfd p[1] = {{.fd = s, .events = POLLIN}};
	CHECK_EQ(poll(p, one_fd, 50), 0); /* __poll_chk */
	struct timespec ts = {0, 50000000};
	CHECK_EQ(ppoll(p, one_fd, &ts, NULL), 0); /* __ppoll_chk */
	write_all(c, "z", 1);
	CHECK_EQ(poll(p, one_fd, 1000), 1);
	CHECK_EVENTS(p[0].revents, POLLIN);
	p[0].revents = 0;
	ts = (struct timespec){1, 0};
	CHECK_EQ(ppoll(p, one_fd, &ts, NULL), 1);
	CHECK_EVENTS(p[0].revents, POLLIN);
	CHECK_EQ(read(s, buf, len_of_64), 1);
	CHECK_EQ(buf[0], 'z');
	CHECK_ERR(recv(s, buf, len_of_64, MSG_DONTWAIT), EAGAIN);

	require_xio(s);
	close(c);
	close(s);
	printf("fortify_chk: ok\n");
	return 0;
}
