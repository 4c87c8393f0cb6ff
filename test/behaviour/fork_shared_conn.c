/* SPDX-License-Identifier: MIT */
/*
 * Proves: after fork, parent and child both hold one connection and both
 * can use it — bytes written by either reach the peer in order, bytes the
 * peer writes are read by whichever copy reads them, once; closing the
 * parent's copy does not give the peer EOF while the child's copy is open;
 * the peer sees EOF exactly when the last copy is closed (by the child's
 * exit). And both copies busy at once: the child writes 1 MiB through its
 * copy while the parent reads the peer's echo of it through its own copy,
 * the peer (a third process) echoing with read/write — every byte arrives.
 */
#include <poll.h>

#include "helpers.h"

#define BIG (1u << 20)

int main(void)
{
	int c, s, go[2], done[2];
	char buf[64];

	watchdog(20);
	setvbuf(stdout, NULL, _IONBF, 0);
	make_pair(&c, &s);
	OK(pipe(go));
	OK(pipe(done));

	pid_t pid = fork_child();
	CHECK(pid >= 0);
	if (pid == 0) {
		/* Child: owns a copy of s. Step 1: write through it. */
		close(c);
		close(go[1]);
		close(done[0]);
		char cmd;
		require_xio(s);
		write_all(s, "child1", 6);
		write_all(done[1], "1", 1);
		/* Step 2: read what the peer sends (the parent reads nothing now). */
		read_all(go[0], &cmd, 1);
		read_all(s, buf, 5);
		CHECK(memcmp(buf, "to-ch", 5) == 0);
		write_all(done[1], "2", 1);
		/* Step 3: after the parent closed its copy, reply and exit. */
		read_all(go[0], &cmd, 1);
		write_all(s, "child2", 6);
		_exit(0);
	}
	close(go[0]);
	close(done[1]);
	char ack;

	/* The child's bytes, then the parent's, in order on one stream. */
	read_all(done[0], &ack, 1);
	write_all(s, "parent1", 7);
	read_all(c, buf, 13);
	CHECK(memcmp(buf, "child1parent1", 13) == 0);

	/* The peer's bytes are read by the child, once. */
	write_all(c, "to-ch", 5);
	write_all(go[1], "g", 1);
	read_all(done[0], &ack, 1);
	CHECK_ERR(recv(s, buf, sizeof(buf), MSG_DONTWAIT), EAGAIN);

	/* Parent closes its copy: the peer must not see EOF. */
	OK(close(s));
	struct pollfd p = {.fd = c, .events = POLLIN | POLLRDHUP};
	CHECK_EQ(poll(&p, 1, 300), 0);
	CHECK_ERR(recv(c, buf, sizeof(buf), MSG_DONTWAIT), EAGAIN);
	/* The connection still works both ways through the child's copy. */
	write_all(go[1], "g", 1);
	read_all(c, buf, 6);
	CHECK(memcmp(buf, "child2", 6) == 0);

	/* The child exits: its copy was the last one, the peer sees EOF. */
	wait_ok(pid);
	p.revents = 0;
	CHECK_EQ(poll(&p, 1, 1000), 1);
	CHECK(p.revents & POLLIN);
	CHECK(p.revents & POLLRDHUP);
	CHECK_EQ(read(c, buf, sizeof(buf)), 0);
	close(c);

	/* One copy writes while the other reads, the peer echoes in its own process. */
	make_pair(&c, &s);
	pid_t echo = fork_child();
	if (echo == 0) {
		close(s);
		static char e[65536];
		for (;;) {
			ssize_t n = read(c, e, sizeof(e));
			CHECK(n >= 0);
			if (n == 0)
				_exit(0);
			write_all(c, e, (size_t)n);
		}
	}
	close(c);
	pid_t writer = fork_child();
	if (writer == 0) {
		static char out[BIG];
		pat_fill(out, BIG, 0, 4);
		write_all(s, out, BIG);
		_exit(0);
	}
	static char in[BIG];
	read_all(s, in, BIG);
	pat_check(in, BIG, 0, 4);
	wait_ok(writer);
	OK(shutdown(s, SHUT_WR));
	wait_ok(echo);
	close(s);
	printf("fork_shared_conn: ok\n");
	return 0;
}
