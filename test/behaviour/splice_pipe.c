/* SPDX-License-Identifier: MIT */
/*
 * Proves: splice between a pipe and a connection works both ways with the
 * kernel's results — pipe -> socket moves the bytes to the peer, socket ->
 * pipe moves the peer's bytes into the pipe, 1 MiB relayed through a pipe in
 * both directions arrives intact — and the pairings the kernel refuses are
 * refused the same way: file -> socket and socket -> file are EINVAL
 * (neither end a pipe), as is socket -> socket.
 */
#include <pthread.h>

#include "helpers.h"

#define SIZE (1u << 20)

static int c, s;

static void *write_1m(void *arg)
{
	(void)arg;
	static char out[SIZE];
	pat_fill(out, SIZE, 0, 3);
	write_all(c, out, SIZE);
	return NULL;
}

int main(void)
{
	char buf[64];
	int p[2];

	watchdog(25);
	setvbuf(stdout, NULL, _IONBF, 0);
	make_pair(&c, &s);
	OK(pipe(p));

	/* pipe -> socket */
	write_all(p[1], "abc", 3);
	CHECK_EQ(splice(p[0], NULL, s, NULL, 3, 0), 3);
	read_all(c, buf, 3);
	CHECK(memcmp(buf, "abc", 3) == 0);

	/* socket -> pipe */
	write_all(c, "xyz", 3);
	CHECK_EQ(splice(s, NULL, p[1], NULL, 3, 0), 3);
	read_all(p[0], buf, 3);
	CHECK(memcmp(buf, "xyz", 3) == 0);

	/* 1 MiB peer -> s -> pipe -> s -> peer (an echo through a pipe); the peer in a child. */
	pid_t pid = fork_child();
	if (pid == 0) {
		pthread_t w;
		pthread_create(&w, NULL, write_1m, NULL);
		static char in[SIZE];
		read_all(c, in, SIZE);
		pat_check(in, SIZE, 0, 3);
		pthread_join(w, NULL);
		_exit(0);
	}
	size_t moved = 0;
	while (moved < SIZE) {
		ssize_t n = splice(s, NULL, p[1], NULL, 65536, SPLICE_F_MOVE);
		CHECK(n > 0);
		for (ssize_t left = n; left > 0;) {
			ssize_t k = splice(p[0], NULL, s, NULL, (size_t)left, SPLICE_F_MOVE);
			CHECK(k > 0);
			left -= k;
		}
		moved += (size_t)n;
	}
	wait_ok(pid);

	/* Neither end a pipe: EINVAL, the connection untouched. */
	char path[] = "/tmp/xio-splice-XXXXXX";
	int f = OK(mkstemp(path));
	unlink(path);
	write_all(f, "file-bytes", 10);
	loff_t off = 0;
	CHECK_ERR(splice(f, &off, s, NULL, 10, 0), EINVAL);
	write_all(c, "q", 1);
	off = 0;
	CHECK_ERR(splice(s, NULL, f, &off, 1, 0), EINVAL);
	int c2, s2;
	make_pair(&c2, &s2);
	CHECK_ERR(splice(s, NULL, s2, NULL, 1, 0), EINVAL);
	CHECK_EQ(read(s, buf, sizeof(buf)), 1); /* the byte is still there */
	CHECK_EQ(buf[0], 'q');
	CHECK_ERR(recv(c, buf, sizeof(buf), MSG_DONTWAIT), EAGAIN);

	require_xio(s);
	close(f);
	close(c2);
	close(s2);
	close(c);
	close(s);
	printf("splice_pipe: ok\n");
	return 0;
}
