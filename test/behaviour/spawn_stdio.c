/* SPDX-License-Identifier: MIT */
/*
 * Proves: posix_spawn/posix_spawnp with file actions that dup2 a connection
 * onto stdin/stdout (inetd-style spawners) give the child a working byte
 * stream, also when the program uses stdio (fgets/printf), whose reads and
 * writes glibc makes internally: the child reads the request and answers in
 * order, the parent reads the answer then EOF. The same with the connection
 * marked FD_CLOEXEC in the parent (dup2 clears it on the target) and with
 * only stdout redirected (stdin from /dev/null by an open action). And a
 * FD_CLOEXEC listener that the file actions dup2 onto fd 3 of a spawned
 * server (a socket-activation style master that never accepts itself):
 * every client is served.
 */
#include <limits.h>
#include <spawn.h>
#include <stdbool.h>

#include "helpers.h"

extern char **environ;

static char self[PATH_MAX];

/* The spawned side: everything through stdio. */
static int child_main(const char *mode)
{
	char line[128];
	watchdog(10);
	if (strcmp(mode, "--serve") == 0) {
		for (int i = 0; i < 3; i++) {
			char b[4];
			int s = accept(3, NULL, NULL);
			if (s < 0)
				return 4;
			read_all(s, b, 4);
			write_all(s, "pong", 4);
			close(s);
		}
		return 0;
	}
	if (strcmp(mode, "--hello") == 0) {
		printf("hello from stdio\n");
		return fflush(stdout) == 0 ? 0 : 3;
	}
	if (!fgets(line, sizeof(line), stdin))
		return 2;
	printf("answer:%s", line);
	return fflush(stdout) == 0 ? 0 : 3;
}

static void read_to_eof(int fd, const char *want)
{
	char buf[256];
	size_t got = 0;
	for (;;) {
		ssize_t n = read(fd, buf + got, sizeof(buf) - 1 - got);
		CHECK(n >= 0);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	buf[got] = 0;
	if (strcmp(buf, want) != 0)
		FAIL("read %zu bytes \"%s\", want \"%s\"", got, buf, want);
}

/*
 * Spawn ourselves in @mode with the server end of a fresh connection as
 * stdout, and as stdin unless @null_stdin; @spawnp picks posix_spawnp.
 */
static void run(const char *mode, bool spawnp, bool cloexec, bool null_stdin)
{
	int c, s;
	make_pair(&c, &s);
	if (cloexec)
		OK(fcntl(s, F_SETFD, FD_CLOEXEC));
	posix_spawn_file_actions_t fa;
	CHECK_EQ(posix_spawn_file_actions_init(&fa), 0);
	if (null_stdin)
		CHECK_EQ(
		    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0),
		    0);
	else
		CHECK_EQ(posix_spawn_file_actions_adddup2(&fa, s, STDIN_FILENO), 0);
	CHECK_EQ(posix_spawn_file_actions_adddup2(&fa, s, STDOUT_FILENO), 0);
	CHECK_EQ(posix_spawn_file_actions_addclose(&fa, s), 0);
	CHECK_EQ(posix_spawn_file_actions_addclose(&fa, c), 0);
	char *argv[] = {"spawn_stdio", (char *)mode, NULL};
	pid_t pid;
	int r = spawnp ? posix_spawnp(&pid, self, &fa, NULL, argv, environ)
		       : posix_spawn(&pid, self, &fa, NULL, argv, environ);
	CHECK_EQ(r, 0);
	CHECK_EQ(posix_spawn_file_actions_destroy(&fa), 0);
	close(s);
	if (null_stdin) {
		read_to_eof(c, "hello from stdio\n");
	} else {
		write_all(c, "req\n", 4);
		read_to_eof(c, "answer:req\n");
	}
	wait_ok(pid);
	close(c);
}

/* A listener the parent never accepts on, given to a spawned server as fd 3. */
static void run_listener(void)
{
	uint16_t port;
	int l = listen_lo(&port);
	OK(fcntl(l, F_SETFD, FD_CLOEXEC));
	posix_spawn_file_actions_t fa;
	CHECK_EQ(posix_spawn_file_actions_init(&fa), 0);
	CHECK_EQ(posix_spawn_file_actions_adddup2(&fa, l, 3), 0);
	char *argv[] = {"spawn_stdio", "--serve", NULL};
	pid_t pid;
	CHECK_EQ(posix_spawn(&pid, self, &fa, NULL, argv, environ), 0);
	CHECK_EQ(posix_spawn_file_actions_destroy(&fa), 0);
	for (int i = 0; i < 3; i++) {
		char b[4];
		int c = connect_lo(port);
		write_all(c, "ping", 4);
		read_all(c, b, 4);
		CHECK(memcmp(b, "pong", 4) == 0);
		close(c);
	}
	wait_ok(pid);
	close(l);
}

int main(int argc, char **argv)
{
	if (argc > 1)
		return child_main(argv[1]);
	watchdog(25);
	setvbuf(stdout, NULL, _IONBF, 0);
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	CHECK(n > 0);
	self[n > 0 ? n : 0] = 0;

	run("--answer", false, false, false);
	run("--answer", true, false, false);
	run("--answer", false, true, false);
	run("--hello", false, false, true);
	run("--hello", true, true, true);
	run_listener();
	printf("spawn_stdio: ok\n");
	return 0;
}
