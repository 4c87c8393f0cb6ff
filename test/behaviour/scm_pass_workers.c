/* SPDX-License-Identifier: MIT */
/*
 * Proves: a server that hands every accepted connection to a worker over
 * the same AF_UNIX socket (Node.js's cluster, pm2) keeps them X-IO in the
 * worker, and the library asks who may receive them once, not once per
 * connection. Asking walks every fd of every process on the node (about
 * 6 us each): per connection, that made Node's cluster 80 times slower.
 * Under xio-run the test runs itself again with XIO_LOG=2 and counts the
 * library's "receivers of socket:[...]" lines: 1 to 10 for 100 connections
 * (an answer is kept for a second), none saying "not all preloaded".
 */
#include <stdlib.h>
#include <sys/wait.h>

#include "helpers.h"

#define CONNS 100
#define MSG   64

static void worker(int u)
{
	char buf[MSG];
	for (int i = 0; i < CONNS; i++) {
		int fd = recv_fd(u);
		require_xio(fd);
		read_all(fd, buf, MSG);
		for (int k = 0; k < MSG; k++)
			buf[k] = (char)(buf[k] + 1);
		write_all(fd, buf, MSG);
		OK(close(fd));
	}
}

static void primary(void)
{
	int u[2];
	OK(socketpair(AF_UNIX, SOCK_STREAM, 0, u));
	pid_t w = fork_child();
	if (w == 0) {
		close(u[0]);
		worker(u[1]);
		_exit(0);
	}
	close(u[1]);
	uint16_t port;
	int l = listen_lo(&port);
	for (int i = 0; i < CONNS; i++) {
		int c = connect_lo(port), s = OK(accept(l, NULL, NULL));
		require_xio(s);
		send_fd(u[0], s);
		OK(close(s));
		char req[MSG], rsp[MSG];
		memset(req, 'a' + i % 20, MSG);
		write_all(c, req, MSG);
		read_all(c, rsp, MSG);
		for (int k = 0; k < MSG; k++)
			CHECK_EQ(rsp[k], (char)(req[k] + 1));
		OK(close(c));
	}
	wait_ok(w);
	close(l);
}

/* Run this program again with the library's log in @path; count its walks of /proc. */
static void run_logged(char **argv, const char *path)
{
	pid_t p = fork();
	if (p == 0) {
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd < 0 || dup2(fd, 2) < 0)
			_exit(3);
		setenv("XIO_LOG", "2", 1);
		setenv("BT_LOGGED", "1", 1);
		execv("/proc/self/exe", argv);
		_exit(4);
	}
	int st;
	CHECK_EQ(waitpid(p, &st, 0), p);
	FILE *f = fopen(path, "r");
	CHECK(f != NULL);
	char line[512];
	int walks = 0, no = 0;
	while (fgets(line, sizeof(line), f)) {
		if (strstr(line, "receivers of socket:["))
			walks++;
		if (strstr(line, "not all preloaded"))
			no++;
	}
	fclose(f);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "the logged run failed (status 0x%x); its log: %s\n", st, path);
		exit(1);
	}
	unlink(path);
	printf("%d connections passed, %d walk(s) of /proc, %d 'not all preloaded'\n", CONNS, walks,
	       no);
	if (walks < 1 || walks > 10 || no)
		FAIL("want 1 to 10 walks and no 'not all preloaded'");
}

int main(int argc, char **argv)
{
	(void)argc;
	watchdog(25);
	setvbuf(stdout, NULL, _IONBF, 0);
	if (xio_expected() && !getenv("BT_LOGGED")) {
		char path[] = "/tmp/bt_scm_pass_XXXXXX";
		int fd = OK(mkstemp(path));
		close(fd);
		run_logged(argv, path);
	} else {
		primary();
	}
	printf("%s: ok\n", argv[0]);
	return 0;
}
