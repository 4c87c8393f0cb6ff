/* SPDX-License-Identifier: MIT */
/*
 * Proves: a connection passed with SCM_RIGHTS to a process that is
 * preloaded but will not adopt it — X-IO disabled there (XIO_DISABLE=1), or
 * another domain (XIO_DOMAIN) — is a correct byte stream there both ways,
 * with bytes in flight each way when it leaves.
 */
#include <stdlib.h>

#include "demote_stream.h"

#define FOREIGN_BYTES 100000u

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "plain") == 0) {
		int uu = atoi(argv[2]);
		watchdog(25);
		CHECK_EQ(write(uu, "R", 1), 1);
		int s = recv_fd(uu);
		pat_read(s, 0, FOREIGN_BYTES, SEED_C2S);
		pat_write(s, FOREIGN_BYTES, FOREIGN_BYTES, SEED_S2C);
		char b;
		CHECK_EQ(read(s, &b, 1), 0);
		return 0;
	}
	watchdog(28);
	setvbuf(stdout, NULL, _IONBF, 0);
	static const char *const env[][2] = {{"XIO_DISABLE", "1"}, {"XIO_DOMAIN", "bt_other"}};
	for (int round = 0; round < 2; round++) {
		int u[2], c, s;
		char r;
		OK(socketpair(AF_UNIX, SOCK_STREAM, 0, u));
		pid_t recv = fork_child();
		if (recv == 0) {
			char a[16];
			close(u[0]);
			snprintf(a, sizeof(a), "%d", u[1]);
			setenv(env[round][0], env[round][1], 1);
			execl("/proc/self/exe", argv[0], "plain", a, (char *)NULL);
			_exit(127);
		}
		close(u[1]);
		CHECK_EQ(read(u[0], &r, 1), 1);
		make_pair(&c, &s);
		pat_write(c, 0, FOREIGN_BYTES / 2, SEED_C2S);
		pat_write(s, 0, FOREIGN_BYTES, SEED_S2C);
		send_fd(u[0], s);
		OK(close(s));
		pat_write(c, FOREIGN_BYTES / 2, FOREIGN_BYTES / 2, SEED_C2S);
		pat_read(c, 0, 2 * FOREIGN_BYTES, SEED_S2C);
		OK(shutdown(c, SHUT_WR));
		wait_ok(recv);
		close(c);
		close(u[0]);
	}
	printf("demote_foreign_receiver: ok\n");
	return 0;
}
