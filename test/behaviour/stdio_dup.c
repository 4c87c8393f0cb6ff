/* SPDX-License-Identifier: MIT */
/*
 * Proves: a connection moved onto stdin/stdout (inetd-style servers, git
 * daemon, CGI) carries what stdio writes there, in order with plain
 * write()s: in a forked child that printf()s to it, and in a program
 * exec'd with it as fds 0 and 1 that reads its request with the shell and
 * answers with /bin/echo (stdio).
 */
#include "helpers.h"

static void read_to_eof(int fd, char *buf, size_t cap, const char *want)
{
	size_t got = 0;
	for (;;) {
		ssize_t n = read(fd, buf + got, cap - 1 - got);
		CHECK(n >= 0);
		if (n == 0)
			break;
		got += (size_t)n;
	}
	buf[got] = 0;
	if (strcmp(buf, want) != 0)
		FAIL("read %zu bytes \"%s\", want \"%s\"", got, buf, want);
}

int main(void)
{
	char buf[256];
	int c, s;
	watchdog(20);

	/* printf in a forked child, mixed with write(). */
	make_pair(&c, &s);
	pid_t pid = fork_child();
	if (pid == 0) {
		close(c);
		if (dup2(s, STDOUT_FILENO) != STDOUT_FILENO)
			_exit(2);
		close(s);
		printf("one %d;", 1);
		fflush(stdout);
		if (write(STDOUT_FILENO, "two;", 4) != 4)
			_exit(3);
		printf("three\n");
		fflush(stdout);
		_exit(0);
	}
	close(s);
	read_to_eof(c, buf, sizeof(buf), "one 1;two;three\n");
	wait_ok(pid);
	close(c);

	/* An exec'd program with the connection as stdin and stdout. */
	make_pair(&c, &s);
	pid = fork_child();
	if (pid == 0) {
		close(c);
		if (dup2(s, STDIN_FILENO) < 0 || dup2(s, STDOUT_FILENO) < 0)
			_exit(2);
		close(s);
		execl("/bin/sh", "sh", "-c", "read line; exec /bin/echo \"answer:$line\"",
		      (char *)NULL);
		_exit(4);
	}
	close(s);
	write_all(c, "req\n", 4);
	read_to_eof(c, buf, sizeof(buf), "answer:req\n");
	wait_ok(pid);
	close(c);
	printf("ok\n");
	return 0;
}
