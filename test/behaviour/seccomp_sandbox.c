/* SPDX-License-Identifier: MIT */
/*
 * Proves: a process that locks itself into a seccomp sandbox allowing
 * read/write/poll but not the socket calls (as sshd's pre-auth child does)
 * keeps using its connection: what it reads and writes after the filter is
 * in place arrives intact both ways, and it is not killed.
 */
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/syscall.h>

#include "helpers.h"

#define ALLOW(nr)                                                                                  \
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1),                                           \
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)

static void sandbox(void)
{
	struct sock_filter f[] = {
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	    ALLOW(SYS_read),
	    ALLOW(SYS_write),
	    ALLOW(SYS_close),
	    ALLOW(SYS_exit),
	    ALLOW(SYS_exit_group),
	    ALLOW(SYS_rt_sigreturn),
	    ALLOW(SYS_rt_sigprocmask),
	    ALLOW(SYS_getpid),
	    ALLOW(SYS_gettid),
	    ALLOW(SYS_clock_gettime),
	    ALLOW(SYS_clock_nanosleep),
	    ALLOW(SYS_nanosleep),
	    ALLOW(SYS_futex),
	    ALLOW(SYS_brk),
	    ALLOW(SYS_mmap),
	    ALLOW(SYS_munmap),
	    ALLOW(SYS_madvise),
	    ALLOW(SYS_poll),
	    ALLOW(SYS_ppoll),
	    ALLOW(SYS_getrandom),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
	};
	struct sock_fprog prog = {.len = sizeof(f) / sizeof(f[0]), .filter = f};
	OK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
	OK(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog));
}

#define N (256 * 1024)

int main(void)
{
	static char buf[N];
	int c, s;
	watchdog(20);
	make_pair(&c, &s);
	write_all(c, "early", 5); /* in flight when the sandbox closes */

	pid_t pid = fork_child();
	if (pid == 0) {
		close(c);
		sandbox();
		char hello[5];
		read_all(s, hello, 5);
		if (memcmp(hello, "early", 5) != 0)
			_exit(3);
		read_all(s, buf, N); /* the parent writes while we wait */
		pat_check(buf, N, 0, 11);
		pat_fill(buf, N, 0, 12);
		write_all(s, buf, N); /* more than the parent reads at once */
		_exit(0);
	}
	close(s);
	sleep_ms(100); /* the child is in its sandbox, waiting */
	pat_fill(buf, N, 0, 11);
	write_all(c, buf, N);
	read_all(c, buf, N);
	pat_check(buf, N, 0, 12);
	wait_ok(pid);
	close(c);
	printf("ok\n");
	return 0;
}
