/* SPDX-License-Identifier: MIT */
/*
 * Proves RLIMIT_AS as a program sets it on itself once it has connected
 * (vsftpd's session process limits itself to 200 MiB: test/compat/FINDINGS.md,
 * F10): with a limit of what the program maps (less what is mapped shared:
 * X-IO's domain and ring file; a kernel-TCP run maps nothing shared) plus
 * 100 MiB, hard 200 MiB, a 50 MiB allocation succeeds and a 150 MiB mapping
 * fails, as on kernel TCP; every way of reading the limit (getrlimit,
 * getrlimit64, prlimit with pid 0 and with our pid, syscall(SYS_prlimit64))
 * gives back what was set; new connections are still X-IO and carry data;
 * a forked child sees the same limit and can allocate; a program exec'd
 * (fork + execl, posix_spawn, popen) inherits exactly what was set (its
 * `ulimit -v` and `ulimit -H -v`, /proc/<pid>/limits); an exec that fails
 * (no such file; with CAP_SYS_RESOURCE, a file that looks like ELF and is
 * not) leaves
 * the limit, and room to allocate, as they were.
 */
#include <spawn.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "helpers.h"

#define MIB (1024ull * 1024)

extern char **environ;

/* What this process maps, in bytes, less its shared mappings (X-IO's). */
static uint64_t own_vm(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	CHECK(f != NULL);
	uint64_t own = 0, shared = 0;
	char line[512];
	while (f && fgets(line, sizeof(line), f)) {
		unsigned long long lo, hi;
		char perms[8];
		if (sscanf(line, "%llx-%llx %7s", &lo, &hi, perms) != 3)
			continue;
		if (perms[3] == 's')
			shared += hi - lo;
		else
			own += hi - lo;
	}
	if (f)
		fclose(f);
	if (xio_expected() && shared < 64 * MIB)
		FAIL("only %llu bytes mapped shared: is this process attached to a domain?",
		     (unsigned long long)shared);
	return own;
}

/* Allocate @len bytes with malloc and touch every page; false if malloc fails. */
static bool alloc_touch(size_t len)
{
	char *volatile p = malloc(len);
	if (!p)
		return false;
	for (size_t i = 0; i < len; i += 4096)
		p[i] = (char)i;
	bool ok = p[len - 4096] == (char)(len - 4096);
	free(p);
	return ok;
}

/* A @len anonymous mapping: must fail with ENOMEM (the limit binds). */
static void mapping_refused(size_t len)
{
	errno = 0;
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p != MAP_FAILED) {
		munmap(p, len);
		FAIL("a %zu MiB mapping succeeded under the limit", (size_t)(len / MIB));
	} else {
		CHECK_EQ(errno, ENOMEM);
	}
}

static void check_limit(const struct rlimit *want)
{
	struct rlimit r;
	struct rlimit64 r64;
	OK(getrlimit(RLIMIT_AS, &r));
	CHECK_EQ(r.rlim_cur, want->rlim_cur);
	CHECK_EQ(r.rlim_max, want->rlim_max);
	OK(getrlimit64(RLIMIT_AS, &r64));
	CHECK_EQ(r64.rlim_cur, want->rlim_cur);
	CHECK_EQ(r64.rlim_max, want->rlim_max);
	memset(&r, 0, sizeof(r));
	OK(prlimit(0, RLIMIT_AS, NULL, &r));
	CHECK_EQ(r.rlim_cur, want->rlim_cur);
	CHECK_EQ(r.rlim_max, want->rlim_max);
	memset(&r, 0, sizeof(r));
	OK(prlimit(getpid(), RLIMIT_AS, NULL, &r));
	CHECK_EQ(r.rlim_cur, want->rlim_cur);
	CHECK_EQ(r.rlim_max, want->rlim_max);
	memset(&r64, 0, sizeof(r64));
	OK(syscall(SYS_prlimit64, 0, RLIMIT_AS, NULL, &r64));
	CHECK_EQ(r64.rlim_cur, want->rlim_cur);
	CHECK_EQ(r64.rlim_max, want->rlim_max);
}

/* The program's room: 50 MiB fits, 150 MiB does not. */
static void check_room(void)
{
	CHECK(alloc_touch(50 * MIB));
	mapping_refused(150 * MIB);
}

/* Read @fd to EOF into @buf (NUL-terminated). */
static void read_to_eof(int fd, char *buf, size_t len)
{
	size_t have = 0;
	for (;;) {
		ssize_t n = read(fd, buf + have, len - 1 - have);
		if (n < 0 && errno == EINTR)
			continue;
		CHECK(n >= 0);
		if (n <= 0 || have + (size_t)n >= len - 1) {
			have += n > 0 ? (size_t)n : 0;
			break;
		}
		have += (size_t)n;
	}
	buf[have] = 0;
}

/* What `ulimit -v; ulimit -H -v` prints for @lim. */
static void ulimit_text(const struct rlimit *lim, char *buf, size_t len)
{
	snprintf(buf, len, "%llu\n%llu\n", (unsigned long long)(lim->rlim_cur / 1024),
		 (unsigned long long)(lim->rlim_max / 1024));
}

/* fork + execl of sh: it sees the limit that was set. */
static void exec_child_sees(const struct rlimit *lim)
{
	int p[2];
	OK(pipe(p));
	pid_t pid = fork_child();
	if (pid == 0) {
		close(p[0]);
		dup2(p[1], STDOUT_FILENO);
		execl("/bin/sh", "sh", "-c", "ulimit -v; ulimit -H -v", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	char got[256], want[64];
	read_to_eof(p[0], got, sizeof(got));
	close(p[0]);
	wait_ok(pid);
	ulimit_text(lim, want, sizeof(want));
	if (strcmp(got, want) != 0)
		FAIL("exec'd sh: ulimit -v, -H -v printed '%s', want '%s'", got, want);
}

/* posix_spawn: once it returned, the child's limit is the one that was set. */
static void spawned_child_sees(const struct rlimit *lim)
{
	int p[2];
	OK(pipe2(p, O_CLOEXEC));
	posix_spawn_file_actions_t fa;
	OK(-posix_spawn_file_actions_init(&fa));
	OK(-posix_spawn_file_actions_adddup2(&fa, p[0], STDIN_FILENO));
	char *argv[] = {(char *)"sh", (char *)"-c", (char *)"read x", NULL};
	pid_t pid;
	CHECK_EQ(posix_spawn(&pid, "/bin/sh", &fa, NULL, argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	close(p[0]);
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/limits", (int)pid);
	FILE *f = fopen(path, "r");
	CHECK(f != NULL);
	unsigned long long soft = 0, hard = 0;
	int found = 0;
	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, "Max address space", 17) == 0)
			found = sscanf(line + 17, "%llu %llu", &soft, &hard) == 2;
	if (f)
		fclose(f);
	CHECK(found);
	CHECK_EQ(soft, lim->rlim_cur);
	CHECK_EQ(hard, lim->rlim_max);
	write_all(p[1], "go\n", 3);
	close(p[1]);
	wait_ok(pid);
}

/* popen: the shell (which waits for our line, so it reads its limit after popen returned). */
static void popen_child_sees(const struct rlimit *lim)
{
	int p[2];
	OK(pipe(p)); /* inherited by the shell: its output goes there */
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "read x; { ulimit -v; ulimit -H -v; } >&%d", p[1]);
	FILE *sh = popen(cmd, "w");
	CHECK(sh != NULL);
	if (!sh)
		return;
	CHECK(fputs("go\n", sh) >= 0);
	CHECK_EQ(pclose(sh), 0);
	close(p[1]);
	char got[256], want[64];
	read_to_eof(p[0], got, sizeof(got));
	close(p[0]);
	ulimit_text(lim, want, sizeof(want));
	if (strcmp(got, want) != 0)
		FAIL("popen'd sh: ulimit -v, -H -v printed '%s', want '%s'", got, want);
}

/* Is CAP_SYS_RESOURCE in our effective set? (Not for every root: containers drop it.) */
static bool cap_sys_resource(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	unsigned long long eff = 0;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &eff) == 1)
			break;
	if (f)
		fclose(f);
	return eff & (1ull << 24); /* CAP_SYS_RESOURCE */
}

/* Execs that fail come back with the limit and the room as they were. */
static void failed_execs(const struct rlimit *lim)
{
	CHECK_ERR(execl("/nonexistent/rlimit_as", "x", (char *)NULL), ENOENT);
	check_limit(lim);
	check_room();
	CHECK_ERR(execlp("rlimit_as_no_such_program", "x", (char *)NULL), ENOENT);
	check_limit(lim);
	check_room();
	/*
	 * A file that looks executable: the hard limit went down with the soft
	 * one, and only CAP_SYS_RESOURCE may raise it again (shim/rlimit.c).
	 */
	if (!cap_sys_resource()) {
		printf("rlimit_as: no CAP_SYS_RESOURCE: the failed exec of a bad ELF file is not "
		       "tried\n");
		return;
	}
	char path[] = "/tmp/rlimit_as.XXXXXX";
	int fd = OK(mkstemp(path));
	static const char junk[64] = "\177ELF junk";
	write_all(fd, junk, sizeof(junk));
	OK(fchmod(fd, 0755));
	close(fd);
	CHECK_ERR(execl(path, "x", (char *)NULL), ENOEXEC);
	unlink(path);
	check_limit(lim);
	check_room();
}

/* One connection's worth of traffic: @len bytes each way. */
static void exchange(int c, int s, size_t len)
{
	static char a[1 << 16], b[1 << 16];
	for (size_t off = 0; off < len; off += sizeof(a)) {
		pat_fill(a, sizeof(a), off, 7);
		write_all(c, a, sizeof(a));
		read_all(s, b, sizeof(b));
		pat_check(b, sizeof(b), off, 7);
		write_all(s, b, sizeof(b));
		read_all(c, a, sizeof(a));
		pat_check(a, sizeof(a), off, 7);
	}
}

int main(void)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	fprintf(stderr, "rlimit_as: a sanitizer's shadow memory cannot live under RLIMIT_AS\n");
	return 77;
#endif
	watchdog(25);
	setvbuf(stdout, NULL, _IONBF, 0);
	int c, s;
	make_pair(&c, &s); /* attaches under xio-run */
	exchange(c, s, 1 << 20);

	uint64_t own = own_vm();
	struct rlimit lim = {(own / MIB + 100) * MIB, (own / MIB + 200) * MIB};
	OK(setrlimit(RLIMIT_AS, &lim));
	check_limit(&lim);
	check_room();

	/* Connections go on: the old one, and a new one (X-IO, checked). */
	exchange(c, s, 4 << 20);
	int c2, s2;
	make_pair(&c2, &s2);
	exchange(c2, s2, 4 << 20);

	pid_t pid = fork_child();
	if (pid == 0) {
		check_limit(&lim);
		check_room();
		write_all(c2, "kid!", 4);
		_exit(0);
	}
	char kid[4];
	read_all(s2, kid, 4);
	CHECK(memcmp(kid, "kid!", 4) == 0);
	wait_ok(pid);

	exec_child_sees(&lim);
	spawned_child_sees(&lim);
	popen_child_sees(&lim);
	failed_execs(&lim);

	/* A lower limit, soft only: still the program's view and room. */
	struct rlimit lower = {lim.rlim_cur - 20 * MIB, lim.rlim_max};
	OK(setrlimit(RLIMIT_AS, &lower));
	check_limit(&lower);
	CHECK(alloc_touch(50 * MIB));
	mapping_refused(100 * MIB);
	/* Raising the hard limit again is for CAP_SYS_RESOURCE, as on the kernel's terms. */
	struct rlimit higher = {lim.rlim_cur, lim.rlim_max + 100 * MIB};
	if (!cap_sys_resource())
		CHECK_ERR(setrlimit(RLIMIT_AS, &higher), EPERM);
	exchange(c2, s2, 1 << 20);
	require_xio(c2);
	close(c);
	close(s);
	close(c2);
	close(s2);
	printf("rlimit_as: ok (own %llu MiB, limit %llu/%llu MiB)\n",
	       (unsigned long long)(own / MIB), (unsigned long long)(lim.rlim_cur / MIB),
	       (unsigned long long)(lim.rlim_max / MIB));
	return 0;
}
