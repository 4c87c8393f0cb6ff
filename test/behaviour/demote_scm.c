/* SPDX-License-Identifier: MIT */
/*
 * Proves: a connection passed with SCM_RIGHTS to a process that is not
 * preloaded stays one correct byte stream both ways, as a TCP socket would:
 * with bytes in flight in both directions when it leaves, and the other end
 * (another process) blocked in read and in write meanwhile, nothing is lost,
 * duplicated or reordered (a position-dependent pattern, checked byte by
 * byte, megabytes each way), and EOF arrives in order after the data.
 * DEMOTE_EPOLL: the other end is an epoll event loop instead of threads.
 */
#include <stdlib.h>
#include <sys/syscall.h>

#include "demote_stream.h"

int main(int argc, char **argv)
{
	int u[2], c, s;

	if (argc == 3 && strcmp(argv[1], "plain") == 0) {
		/* Not preloaded: plain kernel calls on whatever arrives. */
		int uu = plain_ready(argv[2]); /* running the new image: send */
		server_side_plain(recv_fd(uu));
		return 0;
	}
	watchdog(28);
	setvbuf(stdout, NULL, _IONBF, 0);
	OK(socketpair(AF_UNIX, SOCK_STREAM, 0, u));
	make_pair(&c, &s);
	/* In flight both ways when the server end leaves. */
	pat_write(c, 0, PRE_C2S, SEED_C2S);
	pat_write(s, 0, PRE_S2C, SEED_S2C);

	pid_t peer = fork_child();
	if (peer == 0) {
		close(s);
		close(u[0]);
		close(u[1]);
#ifdef DEMOTE_EPOLL
		client_side_epoll(c);
#else
		client_side(c);
#endif
		_exit(0);
	}
	close(c);
	pid_t recv = spawn_plain_receiver(argv[0], u);
	char r;
	CHECK_EQ(read(u[0], &r, 1), 1);
	/* Let the peer block in read and write (DEMOTE_SLEEP_MS: another moment, to vary it). */
	const char *ms = getenv("DEMOTE_SLEEP_MS");
	sleep_ms(ms ? atoi(ms) : 50);
	send_fd(u[0], s);
	OK(close(s));
	wait_ok(recv);
	wait_ok(peer);
	printf("%s: ok\n", argv[0]);
	return 0;
}
