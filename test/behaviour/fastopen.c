/* SPDX-License-Identifier: MIT */
/*
 * Proves: a listener with TCP_FASTOPEN (dnsmasq, haproxy tfo, nginx
 * fastopen=) accepts ordinary connections, and the client side of Fast Open
 * works against it: sendto(MSG_FASTOPEN) with the address on a socket not
 * yet connected connects and sends in one call (returns the length), and
 * TCP_FASTOPEN_CONNECT lets connect() return at once and the first write
 * carry the data. The server reads every byte. Under X-IO the listener and
 * all three connections are carried.
 */
#include "helpers.h"

#ifndef TCP_FASTOPEN_CONNECT
#define TCP_FASTOPEN_CONNECT 30
#endif

static void expect(int l, const char *what)
{
	int s = OK(accept(l, NULL, NULL));
	require_xio(s);
	char b[8] = {0};
	read_all(s, b, strlen(what));
	if (memcmp(b, what, strlen(what)) != 0)
		FAIL("the server read '%s', want '%s'", b, what);
	write_all(s, "ok", 2);
	close(s);
}

static void answer(int c)
{
	char b[2];
	read_all(c, b, 2);
	CHECK(memcmp(b, "ok", 2) == 0);
	close(c);
}

int main(void)
{
	watchdog(20);
	setvbuf(stdout, NULL, _IONBF, 0);
	int l = OK(socket(AF_INET, SOCK_STREAM, 0));
	int qlen = 5;
	OK(setsockopt(l, IPPROTO_TCP, TCP_FASTOPEN, &qlen, sizeof(qlen)));
	struct sockaddr_in a = sin_of("127.0.0.1", 0);
	OK(bind(l, (struct sockaddr *)&a, sizeof(a)));
	OK(listen(l, 8));
	require_xio_listener(l);
	socklen_t len = sizeof(a);
	OK(getsockname(l, (struct sockaddr *)&a, &len));

	/* an ordinary client */
	int c = connect_lo(ntohs(a.sin_port));
	require_xio(c);
	write_all(c, "plain", 5);
	expect(l, "plain");
	answer(c);

	/* sendto(MSG_FASTOPEN): connect and send in one call */
	c = OK(socket(AF_INET, SOCK_STREAM, 0));
	CHECK_EQ(sendto(c, "tfo", 3, MSG_FASTOPEN, (struct sockaddr *)&a, sizeof(a)), 3);
	require_xio(c);
	expect(l, "tfo");
	answer(c);

	/* TCP_FASTOPEN_CONNECT: connect returns, the first write carries the data */
	c = OK(socket(AF_INET, SOCK_STREAM, 0));
	int one = 1;
	OK(setsockopt(c, IPPROTO_TCP, TCP_FASTOPEN_CONNECT, &one, sizeof(one)));
	OK(connect(c, (struct sockaddr *)&a, sizeof(a)));
	require_xio(c);
	write_all(c, "conn", 4);
	expect(l, "conn");
	answer(c);

	close(l);
	printf("fastopen: ok\n");
	return 0;
}
