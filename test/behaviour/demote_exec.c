/* SPDX-License-Identifier: MIT */
/*
 * Proves: a connection inherited through exec by a program that can never
 * load the preload (statically linked) stays one correct byte stream both
 * ways, as a TCP socket would: with bytes in flight in both directions at
 * the exec, and the other end blocked in read and in write meanwhile,
 * nothing is lost, duplicated or reordered, and EOF arrives after the data.
 */
#include "demote_stream.h"

#ifndef STATIC_PEER
#define STATIC_PEER ""
#endif

int main(void)
{
	int c, s;

	if (!STATIC_PEER[0]) {
		printf("demote_exec: no static C library to build the peer with: skipped\n");
		return 77;
	}
	watchdog(28);
	setvbuf(stdout, NULL, _IONBF, 0);
	make_pair(&c, &s);
	pat_write(c, 0, PRE_C2S, SEED_C2S);
	pat_write(s, 0, PRE_S2C, SEED_S2C);

	pid_t pid = fork_child();
	if (pid == 0) {
		char fd[16], rb[32], wo[32], wb[32], rs[16], ws[16];
		close(c);
		snprintf(fd, sizeof(fd), "%d", s);
		snprintf(rb, sizeof(rb), "%u", PRE_C2S + POST_C2S);
		snprintf(rs, sizeof(rs), "%u", SEED_C2S);
		snprintf(wo, sizeof(wo), "%u", PRE_S2C);
		snprintf(wb, sizeof(wb), "%u", POST_S2C);
		snprintf(ws, sizeof(ws), "%u", SEED_S2C);
		execl(STATIC_PEER, STATIC_PEER, fd, rb, rs, wo, wb, ws, (char *)NULL);
		_exit(127);
	}
	close(s);
	client_side(c);
	close(c);
	wait_ok(pid);
	printf("demote_exec: ok\n");
	return 0;
}
