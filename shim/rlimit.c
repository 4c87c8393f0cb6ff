/* SPDX-License-Identifier: MIT */
/*
 * RLIMIT_AS. A process that joined a domain maps the domain and its ring
 * file, about 33 GB of address space (docs/DESIGN.md, "Memory that follows
 * the traffic"), and RLIMIT_AS counts all of it: a limit the program sets on
 * itself afterwards (vsftpd's session process: 200 MiB) would leave it no
 * room at all. So a limit set on this process gets X-IO's span on top
 * (xio_domain_mapped_bytes(), saturating at RLIM_INFINITY), and reading the
 * limit gives back what the program set: its budget covers its own memory,
 * as it meant. Other resources, and other processes' limits, pass through.
 * A limit set before the process attached is left alone: attaching fails
 * and the program uses kernel TCP, as before.
 *
 * The mapping does not survive an exec: just before one (exec.c) the
 * program's own limit is put back, so the new program inherits exactly what
 * was set. A posix_spawn'd child is copied from this process and inherits
 * the raised limit: it gets the program's own with prlimit as soon as the
 * spawn returned (the new program's first instructions, its loader, run
 * before that; a set-user-ID child refuses it without CAP_SYS_RESOURCE).
 * system() and popen() go through that spawn while a limit is raised.
 *
 * A failed exec returns to a process that still maps the domain: its limit
 * must go back up, and a lowered hard limit cannot be raised again without
 * CAP_SYS_RESOURCE. The choice: the hard limit too is lowered only when the
 * exec looks able to succeed (a regular file we may execute, with an ELF or
 * "#!" header, or anything for execvp, which runs /bin/sh on the rest),
 * else only the soft one (the hard limit that program would inherit is then
 * X-IO's span too high, but the exec fails anyway, as far as we can tell).
 * When such an exec fails all the same (E2BIG, ENOMEM, a missing
 * interpreter) in a process that may not raise its hard limit, the soft
 * limit goes back up to the hard one, the program's: below what the process
 * maps, so its next mmap fails (logged). Between the lowering and the exec,
 * the other threads of the process cannot map memory either.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "domain.h"
#include "shim.h"
#include "sys.h"

/*
 * What the program set (as_prog) and what we set for it (as_kernel): the
 * program's view while the kernel still holds as_kernel. as_lock orders
 * the changes; as_valid is read without it on the fast paths.
 */
static pthread_mutex_t as_lock = PTHREAD_MUTEX_INITIALIZER;
static bool as_valid;
static struct rlimit64 as_prog, as_kernel;

static void as_prepare(void)
{
	pthread_mutex_lock(&as_lock);
}

static void as_after(void)
{
	pthread_mutex_unlock(&as_lock);
}

/*
 * The calls below are entered before this library is initialised: a
 * sanitizer's runtime asks for RLIMIT_CORE while it sets itself up, from
 * another library's constructor, before its shadow memory exists. Until
 * our constructor ran they are plain system calls, in code the sanitizers
 * leave alone (an instrumented function's first instruction crashed there).
 */
#define NO_SANITIZE __attribute__((no_sanitize("address", "undefined", "thread")))
static bool rl_ready;

__attribute__((constructor)) static void as_fork_hooks(void)
{
	pthread_atfork(as_prepare, as_after, as_after);
	__atomic_store_n(&rl_ready, true, __ATOMIC_RELEASE);
}

NO_SANITIZE static int early_prlimit(pid_t pid, int res, const void *new, void *old)
{
	long r = xio_raw_syscall4(SYS_prlimit64, pid, res, (long)new, (long)old);
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return 0;
}

static bool as_recorded(void)
{
	return __atomic_load_n(&as_valid, __ATOMIC_ACQUIRE);
}

static void as_record(bool valid)
{
	__atomic_store_n(&as_valid, valid, __ATOMIC_RELEASE);
}

/* prlimit64(@pid, RLIMIT_AS, ...) by its system call; -1 with errno. */
static int as_sys(pid_t pid, const struct rlimit64 *new, struct rlimit64 *old)
{
	return (int)shim_ret(xio_raw_syscall4(SYS_prlimit64, pid, RLIMIT_AS, (long)new, (long)old));
}

static bool same(const struct rlimit64 *a, const struct rlimit64 *b)
{
	return a->rlim_cur == b->rlim_cur && a->rlim_max == b->rlim_max;
}

static rlim64_t plus(rlim64_t v, uint64_t span)
{
	return v >= RLIM64_INFINITY - span ? RLIM64_INFINITY : v + span;
}

/* The program's view of the kernel's limit @k (as_lock held). */
static struct rlimit64 as_view(const struct rlimit64 *k)
{
	if (as_recorded() && same(k, &as_kernel))
		return as_prog;
	as_record(false); /* changed behind our back (another process's prlimit): the kernel's */
	return *k;
}

/* The program sets @new, the kernel holds @k, the program sees @view (as_lock held). */
static int as_set_locked(const struct rlimit64 *new, const struct rlimit64 *k,
			 const struct rlimit64 *view, uint64_t span)
{
	if (new->rlim_cur > new->rlim_max) {
		errno = EINVAL;
		return -1;
	}
	struct rlimit64 t = {plus(new->rlim_cur, span), plus(new->rlim_max, span)};
	/* Not a raise to the program (its hard limit from before it attached): not to the kernel.
	 */
	if (new->rlim_max <= view->rlim_max && t.rlim_max > k->rlim_max)
		t.rlim_max = k->rlim_max;
	if (t.rlim_cur > t.rlim_max)
		t.rlim_cur = t.rlim_max;
	if (as_sys(0, &t, NULL) < 0)
		return -1;
	as_prog = *new;
	as_kernel = t;
	as_record(span != 0 && !same(new, &t));
	return 0;
}

/* prlimit(0, RLIMIT_AS, @new, @old) as the program means it. */
static int as_prlimit(const struct rlimit64 *new, struct rlimit64 *old)
{
	uint64_t span = xio_domain_mapped_bytes();
	if (!span && !as_recorded())
		return as_sys(0, new, old);
	pthread_mutex_lock(&as_lock);
	struct rlimit64 k, view = {0, 0};
	int r = as_sys(0, NULL, &k);
	if (r == 0) {
		view = as_view(&k);
		if (new)
			r = as_set_locked(new, &k, &view, span);
	}
	pthread_mutex_unlock(&as_lock);
	if (r == 0 && old)
		*old = view;
	return r;
}

static bool is_self(pid_t pid)
{
	return pid == 0 || pid == xio_self_pid() ||
	       pid == (pid_t)xio_raw_syscall4(SYS_gettid, 0, 0, 0, 0);
}

/* ---- the calls --------------------------------------------------------------- */

typedef int (*prlimit64_fn)(pid_t, __rlimit_resource_t, const struct rlimit64 *, struct rlimit64 *);

XIO_EXPORT NO_SANITIZE int prlimit64(pid_t pid, __rlimit_resource_t res, const struct rlimit64 *new,
				     struct rlimit64 *old)
{
	static prlimit64_fn next;
	if (!__atomic_load_n(&rl_ready, __ATOMIC_ACQUIRE))
		return early_prlimit(pid, (int)res, new, old);
	if (res != RLIMIT_AS || !is_self(pid)) {
		if (!next)
			next = (prlimit64_fn)shim_next("prlimit64");
		return next(pid, res, new, old);
	}
	return as_prlimit(new, old);
}

XIO_EXPORT NO_SANITIZE int setrlimit64(__rlimit_resource_t res, const struct rlimit64 *rl)
{
	return prlimit64(0, res, rl, NULL);
}

XIO_EXPORT NO_SANITIZE int getrlimit64(__rlimit_resource_t res, struct rlimit64 *rl)
{
	return prlimit64(0, res, NULL, rl);
}

/* struct rlimit is struct rlimit64 where rlim_t has 64 bits; else the values are converted. */
NO_SANITIZE static struct rlimit64 to64(const struct rlimit *rl)
{
	return (struct rlimit64){
	    rl->rlim_cur == RLIM_INFINITY ? RLIM64_INFINITY : (rlim64_t)rl->rlim_cur,
	    rl->rlim_max == RLIM_INFINITY ? RLIM64_INFINITY : (rlim64_t)rl->rlim_max};
}

NO_SANITIZE static struct rlimit from64(const struct rlimit64 *rl)
{
	return (struct rlimit){
	    rl->rlim_cur >= (rlim64_t)RLIM_INFINITY ? RLIM_INFINITY : (rlim_t)rl->rlim_cur,
	    rl->rlim_max >= (rlim64_t)RLIM_INFINITY ? RLIM_INFINITY : (rlim_t)rl->rlim_max};
}

XIO_EXPORT NO_SANITIZE int prlimit(pid_t pid, __rlimit_resource_t res, const struct rlimit *new,
				   struct rlimit *old)
{
	struct rlimit64 n, o;
	if (new)
		n = to64(new);
	int r = prlimit64(pid, res, new ? &n : NULL, old ? &o : NULL);
	if (r == 0 && old)
		*old = from64(&o);
	return r;
}

XIO_EXPORT NO_SANITIZE int setrlimit(__rlimit_resource_t res, const struct rlimit *rl)
{
	return prlimit(0, res, rl, NULL);
}

XIO_EXPORT NO_SANITIZE int getrlimit(__rlimit_resource_t res, struct rlimit *rl)
{
	return prlimit(0, res, NULL, rl);
}

/* ---- exec and spawn ----------------------------------------------------------- */

/* Is the exec of @path likely to succeed? @any_file: execvp, which runs /bin/sh on a non-ELF. */
static bool exec_looks_ok(const char *path, bool any_file)
{
	struct stat st;
	if (!path || stat(path, &st) < 0 || !S_ISREG(st.st_mode) ||
	    faccessat(AT_FDCWD, path, X_OK, AT_EACCESS) < 0)
		return false;
	if (any_file) /* execvp's search found it (else it fails) */
		return strchr(path, '/') != NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return true; /* execute-only: the kernel reads it, we may not */
	unsigned char h[4];
	ssize_t n = pread(fd, h, sizeof(h), 0);
	real.close(fd);
	return (n >= 2 && h[0] == '#' && h[1] == '!') || (n == 4 && memcmp(h, "\177ELF", 4) == 0);
}

bool shim_rlimit_before_exec(const char *path, bool any_file)
{
	if (!as_recorded())
		return false;
	/* Looked at first: nothing may map memory once the limit is down. */
	bool hard = exec_looks_ok(path, any_file);
	bool lowered = false;
	pthread_mutex_lock(&as_lock);
	struct rlimit64 k;
	if (as_recorded() && as_sys(0, NULL, &k) == 0 && same(&k, &as_kernel)) {
		struct rlimit64 t = as_prog;
		if (!hard)
			t.rlim_max = k.rlim_max;
		lowered = as_sys(0, &t, NULL) == 0;
	}
	pthread_mutex_unlock(&as_lock);
	return lowered;
}

void shim_rlimit_exec_failed(bool lowered)
{
	if (!lowered)
		return;
	int e = errno;
	pthread_mutex_lock(&as_lock);
	struct rlimit64 k;
	if (as_sys(0, &as_kernel, NULL) < 0 && as_sys(0, NULL, &k) == 0) {
		/* The hard limit stays the program's (no CAP_SYS_RESOURCE): the most we can have.
		 */
		k.rlim_cur = k.rlim_max;
		(void)as_sys(0, &k, NULL);
		xio_log(1,
			"RLIMIT_AS: the exec failed and the hard limit cannot go back up to "
			"cover X-IO's %llu bytes: this process can map no more memory",
			(unsigned long long)xio_domain_mapped_bytes());
	}
	pthread_mutex_unlock(&as_lock);
	errno = e;
}

void shim_rlimit_spawned(pid_t pid)
{
	if (!as_recorded())
		return;
	int e = errno;
	pthread_mutex_lock(&as_lock);
	struct rlimit64 k;
	if (as_recorded() && as_sys(0, NULL, &k) == 0 && same(&k, &as_kernel) &&
	    as_sys(pid, &as_prog, NULL) < 0)
		xio_log(1, "RLIMIT_AS: spawned pid %d keeps X-IO's raised limit: %s", (int)pid,
			strerror(errno));
	pthread_mutex_unlock(&as_lock);
	errno = e;
}

bool shim_rlimit_raised(void)
{
	return as_recorded();
}
