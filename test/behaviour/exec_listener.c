/* SPDX-License-Identifier: MIT */
/*
 * Proves: a listener handed through exec to another program that accepts
 * on it (dovecot's imap-login, postfix's smtpd, inetd-style masters) while
 * the process that opened it never accepts serves every client: each
 * connects, is accepted by the new program and gets its answer (X-IO
 * withdraws the rendezvous at exec: those clients use TCP).
 */
#include "helpers.h"

/* The exec'd program: accept @n connections on fd @l and answer each. */
static int serve(int l, int n)
{
	for (int i = 0; i < n; i++) {
		int s = accept(l, NULL, NULL);
		if (s < 0)
			return 2;
		char b[4];
		read_all(s, b, 4);
		write_all(s, "pong", 4);
		close(s);
	}
	return 0;
}

static void ask(uint16_t port)
{
	char b[4];
	int c = connect_lo(port);
	write_all(c, "ping", 4);
	read_all(c, b, 4);
	CHECK(memcmp(b, "pong", 4) == 0);
	close(c);
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "serve") == 0)
		return serve(atoi(argv[2]), atoi(argv[3]));
	watchdog(20);
	uint16_t port;
	int l = listen_lo(&port);
	require_xio_listener(l);
	pid_t pid = fork_child();
	if (pid == 0) {
		char fd[16];
		snprintf(fd, sizeof(fd), "%d", l);
		execl("/proc/self/exe", argv[0], "serve", fd, "3", (char *)NULL);
		_exit(4);
	}
	sleep_ms(200); /* the new program waits in accept */
	for (int i = 0; i < 3; i++)
		ask(port);
	wait_ok(pid);
	close(l);
	printf("ok\n");
	return 0;
}
