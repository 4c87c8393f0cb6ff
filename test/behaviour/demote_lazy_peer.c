/* SPDX-License-Identifier: MIT */
/*
 * Proves: bytes the other end wrote just before its connection's partner fd
 * left for a process that is not preloaded still arrive there, in order and
 * before EOF, even when that other end is busy elsewhere at the moment (not
 * in any socket call) and then closes the connection, or exits without
 * closing it: TCP would have them in flight in the kernel.
 */
#include <stdlib.h>
#include <sys/syscall.h>

#include "demote_stream.h"

#define LAZY_BYTES 200000u

/* The other end: write, stay away from the socket for a while, then @how ends it. */
static void lazy_peer(int c, int how)
{
	pat_write(c, 0, LAZY_BYTES, SEED_C2S);
	sleep_ms(600); /* busy elsewhere while the fd leaves */
	if (how == 0)
		OK(close(c));
	exit(0); /* how 1: exit() with the connection still open */
}

/* The receiver, not preloaded: all the bytes, then EOF. */
static void plain_receiver(int s)
{
	pat_read(s, 0, LAZY_BYTES, SEED_C2S);
	char b;
	CHECK_EQ(read(s, &b, 1), 0);
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "plain") == 0) {
		int uu = plain_ready(argv[2]);
		plain_receiver(recv_fd(uu));
		CHECK_EQ(write(uu, "R", 1), 1);
		plain_receiver(recv_fd(uu));
		return 0;
	}
	watchdog(28);
	setvbuf(stdout, NULL, _IONBF, 0);
	/* Do not wait the default second for an answer that will not come. */
	setenv("XIO_DEMOTE_WAIT_MS", "100", 1);
	int u[2];
	OK(socketpair(AF_UNIX, SOCK_STREAM, 0, u));
	pid_t recv = spawn_plain_receiver(argv[0], u);
	for (int how = 0; how < 2; how++) {
		int c, s;
		char r;
		CHECK_EQ(read(u[0], &r, 1), 1);
		make_pair(&c, &s);
		pid_t peer = fork_child();
		if (peer == 0) {
			close(s);
			close(u[0]);
			lazy_peer(c, how);
		}
		close(c);
		sleep_ms(100); /* the peer has written and is away */
		send_fd(u[0], s);
		OK(close(s));
		wait_ok(peer);
	}
	wait_ok(recv);
	printf("demote_lazy_peer: ok\n");
	return 0;
}
