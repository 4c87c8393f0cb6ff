/* SPDX-License-Identifier: MIT */
/*
 * Proves: a process killed while it waits in poll() on a connection it
 * shares (through fork) leaves the other holder able to wait on it as
 * before: the peer's bytes still wake it, and an idle poll() sleeps rather
 * than spins. Under X-IO the killed child was the lone waiter (it announced
 * first, so it owned the socket's doorbells) and is still a zombie: the
 * doorbell the peer rang for it stays unread until the parent finds its
 * owner dead (stack/conn.c may_drain). Without that, every poll() of the
 * parent returns at once on the unread byte: CPU time instead of sleep.
 */
#include <poll.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "helpers.h"

static long cpu_ms(void)
{
	struct rusage ru;
	OK(getrusage(RUSAGE_SELF, &ru));
	return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000 +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000;
}

int main(void)
{
	int c, s, ready[2];
	char b;

	watchdog(20);
	setvbuf(stdout, NULL, _IONBF, 0);
	make_pair(&c, &s);
	require_xio(s);
	OK(pipe(ready));

	pid_t pid = fork_child();
	if (pid == 0) {
		close(c);
		close(ready[0]);
		write_all(ready[1], "r", 1);
		struct pollfd p = {.fd = s, .events = POLLIN};
		poll(&p, 1, -1); /* killed in here */
		_exit(2);
	}
	close(ready[1]);
	read_all(ready[0], &b, 1);
	usleep(200 * 1000); /* the child is asleep in poll() now */
	OK(kill(pid, SIGKILL));
	/* Not reaped yet: a zombie, as a parent busy elsewhere leaves it. */
	siginfo_t si;
	OK(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT));

	/* The peer writes: its doorbell goes to the child that can no longer read it. */
	write_all(c, "x", 1);
	struct pollfd p = {.fd = s, .events = POLLIN};
	CHECK_EQ(poll(&p, 1, 2000), 1);
	read_all(s, &b, 1);
	CHECK_EQ(b, 'x');

	/* Nothing more comes: one second of poll() must be a second of sleep. */
	long t0 = cpu_ms();
	CHECK_EQ(poll(&p, 1, 1000), 0);
	long used = cpu_ms() - t0;
	printf("an idle poll() of 1000 ms after the killed waiter: %ld ms of CPU\n", used);
	if (used > 50)
		FAIL("poll() spun: %ld ms of CPU in a 1000 ms idle wait", used);

	/* And the next byte still wakes it. */
	write_all(c, "y", 1);
	CHECK_EQ(poll(&p, 1, 2000), 1);
	read_all(s, &b, 1);
	CHECK_EQ(b, 'y');
	int st;
	CHECK_EQ(waitpid(pid, &st, 0), pid);
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	printf("PASS\n");
	return 0;
}
