/* SPDX-License-Identifier: MIT */
/*
 * Proves: bytes written by a process that was then killed (SIGKILL) still
 * reach, followed by EOF, a process that is not preloaded and receives the
 * other end of the connection afterwards over SCM_RIGHTS, as over TCP where
 * they wait in the kernel.
 */
#include <stdlib.h>
#include <sys/syscall.h>

#include "demote_stream.h"

#define DEAD_BYTES 300000u

int main(int argc, char **argv)
{
	int u[2], c, s;
	char r;

	if (argc == 3 && strcmp(argv[1], "plain") == 0) {
		int uu = atoi(argv[2]);
		watchdog(25);
		CHECK_EQ(fd_kind(0), -1);
		CHECK_EQ(write(uu, "R", 1), 1);
		s = recv_fd(uu);
		pat_read(s, 0, DEAD_BYTES, SEED_C2S);
		CHECK_EQ(read(s, &r, 1), 0);
		return 0;
	}
	watchdog(28);
	setvbuf(stdout, NULL, _IONBF, 0);
	OK(socketpair(AF_UNIX, SOCK_STREAM, 0, u));
	pid_t recv = spawn_plain_receiver(argv[0], u);
	CHECK_EQ(read(u[0], &r, 1), 1);
	make_pair(&c, &s);
	pid_t peer = fork_child();
	if (peer == 0) {
		close(s);
		pat_write(c, 0, DEAD_BYTES, SEED_C2S);
		kill(getpid(), SIGKILL);
	}
	close(c);
	int st;
	CHECK_EQ(waitpid(peer, &st, 0), peer);
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	send_fd(u[0], s);
	OK(close(s));
	wait_ok(recv);
	printf("demote_dead_peer: ok\n");
	return 0;
}
