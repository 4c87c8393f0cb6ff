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
		s = recv_fd(plain_ready(argv[2]));
		pat_read(s, 0, DEAD_BYTES, SEED_C2S);
		CHECK_EQ(read(s, &r, 1), 0);
		return 0;
	}
	pid_t recv = start_plain_receiver(argv[0], u);
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
