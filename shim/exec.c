/* SPDX-License-Identifier: MIT */
/*
 * exec and posix_spawn: a program that strips LD_PRELOAD (or the XIO_*
 * variables) from its children's environment would leave them unable to
 * use the X-IO fds they inherit. We put them back. glibc's exec family
 * calls its internal __execve, so every variant is interposed here.
 *
 * A program that will not load the preload whatever its environment (a
 * static one, a set-user-ID one) would read our doorbell bytes as data:
 * the connections it inherits are demoted first (stack/demote.c).
 *
 * posix_spawn's file actions run in the child, inside glibc, where we see
 * nothing: a connection they dup2 onto fds 0-2 would become the new
 * program's stdio behind our back. glibc's file-actions object is opaque,
 * so the dup2 actions are recorded as they are added, by object address.
 */
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <spawn.h>
#include <stddef.h>
#include <stdio.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "demote.h"
#include "elfprog.h"
#include "superexec.h"
#include "shim.h"

extern char **environ;

/* Path of this library, for LD_PRELOAD. */
static const char *self_path(void)
{
	static char path[PATH_MAX];
	if (!path[0]) {
		Dl_info info;
		if (dladdr((void *)self_path, &info) && info.dli_fname)
			snprintf(path, sizeof(path), "%s", info.dli_fname);
	}
	return path;
}

/*
 * @envp with LD_PRELOAD (containing this library), XIO_DOMAIN and
 * XIO_RUNDIR present; the original array if nothing is missing. An exec
 * leaks the copy on purpose (it replaces us or fails and returns); a spawn
 * gives it back with shim_fixed_env_free.
 */
char *const *shim_fixed_env(char *const envp[])
{
	const struct xio_config *cfg = xio_config();
	const char *self = self_path(), *pre = xio_env_get(envp, "LD_PRELOAD");
	bool need_pre = self[0] && (!pre || !strstr(pre, self));
	bool need_dom = !xio_env_get(envp, "XIO_DOMAIN"),
	     need_run = !xio_env_get(envp, "XIO_RUNDIR");

	if (cfg->disabled || (!need_pre && !need_dom && !need_run))
		return envp;
	int n = 0;
	while (envp && envp[n])
		n++;
	char **out = calloc((size_t)n + 4, sizeof(*out));
	if (!out)
		return envp;
	int k = 0;
	for (int i = 0; i < n; i++)
		if (!need_pre || strncmp(envp[i], "LD_PRELOAD=", 11) != 0)
			out[k++] = envp[i];
	char *v;
	if (need_pre &&
	    asprintf(&v, "LD_PRELOAD=%s%s%s", self, pre && *pre ? ":" : "", pre ? pre : "") > 0)
		out[k++] = v;
	if (need_dom && asprintf(&v, "XIO_DOMAIN=%s", cfg->domain) > 0)
		out[k++] = v;
	if (need_run && asprintf(&v, "XIO_RUNDIR=%s", cfg->rundir) > 0)
		out[k++] = v;
	out[k] = NULL;
	return out;
}

void shim_fixed_env_free(char *const *env, char *const envp[])
{
	if (env == envp)
		return;
	for (int i = 0; env[i]; i++) {
		bool ours = true;
		for (int j = 0; envp && envp[j] && ours; j++)
			ours = env[i] != envp[j];
		if (ours)
			free(env[i]);
	}
	free((void *)env);
}

#define SELF_CLASS (sizeof(void *) == 8 ? ELFCLASS64 : ELFCLASS32)
#if defined(__x86_64__)
#define SELF_MACHINE EM_X86_64
#elif defined(__aarch64__)
#define SELF_MACHINE EM_AARCH64
#elif defined(__i386__)
#define SELF_MACHINE EM_386
#else
#define SELF_MACHINE EM_NONE /* not checked */
#endif

/*
 * Will the program at @path load this library and call it? No when static,
 * set-user/group-ID, or Go (raw system calls).
 */
static bool loads_preload(const char *path, int depth)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return true; /* exec fails, or we cannot tell */
	struct stat st;
	unsigned char h[sizeof(Elf64_Ehdr) > 256 ? sizeof(Elf64_Ehdr) : 256];
	ssize_t n = fstat(fd, &st) < 0 ? -1 : pread(fd, h, sizeof(h) - 1, 0);
	bool ok = true;
	if (n >= 2 && h[0] == '#' && h[1] == '!') {
		/* A script: its interpreter is what runs. */
		h[n] = 0;
		char *p = (char *)h + 2;
		p += strspn(p, " \t");
		p[strcspn(p, " \t\n")] = 0;
		ok = depth >= 4 || !*p || loads_preload(p, depth + 1);
	} else if (n >= (ssize_t)sizeof(Elf64_Ehdr) && memcmp(h, ELFMAG, SELFMAG) == 0) {
		/* Another class or machine (a 32-bit program) cannot load this library. */
		uint16_t machine;
		memcpy(&machine, h + offsetof(Elf64_Ehdr, e_machine), sizeof(machine));
		ok = xio_elf_has_interp(fd, h) && h[EI_CLASS] == SELF_CLASS &&
		     (SELF_MACHINE == EM_NONE || machine == SELF_MACHINE);
		/* Go loads the library when linked dynamically but reads its fds itself. */
		ok = ok && !xio_elf_is_go(fd, h);
	}
	if (n >= 0 && (((st.st_mode & S_ISUID) && st.st_uid != geteuid()) ||
		       ((st.st_mode & S_ISGID) && st.st_gid != getegid())))
		ok = false; /* secure mode: the loader drops LD_PRELOAD */
	real.close(fd);
	return ok;
}

/* The file execvp would run for @file (PATH search), into @buf. */
static const char *search_path(const char *file, char *buf, size_t len)
{
	if (strchr(file, '/'))
		return file;
	const char *path = getenv("PATH");
	if (!path)
		path = "/bin:/usr/bin";
	while (*path) {
		size_t k = strcspn(path, ":");
		if (snprintf(buf, len, "%.*s%s%s", (int)k, path, k ? "/" : "", file) < (int)len &&
		    access(buf, X_OK) == 0)
			return buf;
		path += k + (path[k] == ':');
	}
	return file;
}

/* ---- dup2 actions of posix_spawn file-actions objects ------------------- */

struct spawn_dup2 {
	const posix_spawn_file_actions_t *fa;
	int fd, newfd;
};

static pthread_mutex_t dup2s_lock = PTHREAD_MUTEX_INITIALIZER;
static struct spawn_dup2 *dup2s;
static size_t ndup2s, capdup2s;

static void dup2s_prepare(void)
{
	pthread_mutex_lock(&dup2s_lock);
}

static void dup2s_after(void)
{
	pthread_mutex_unlock(&dup2s_lock);
}

__attribute__((constructor)) static void dup2s_fork_hooks(void)
{
	pthread_atfork(dup2s_prepare, dup2s_after, dup2s_after);
}

/* @fa is new or gone: its address may come back as another object. */
static void dup2s_forget(const posix_spawn_file_actions_t *fa)
{
	pthread_mutex_lock(&dup2s_lock);
	size_t k = 0;
	for (size_t i = 0; i < ndup2s; i++)
		if (dup2s[i].fa != fa)
			dup2s[k++] = dup2s[i];
	ndup2s = k;
	pthread_mutex_unlock(&dup2s_lock);
}

static void dup2s_add(const posix_spawn_file_actions_t *fa, int fd, int newfd)
{
	pthread_mutex_lock(&dup2s_lock);
	if (ndup2s == capdup2s) {
		size_t cap = capdup2s ? capdup2s * 2 : 16;
		struct spawn_dup2 *p = realloc(dup2s, cap * sizeof(*p));
		if (p) {
			dup2s = p;
			capdup2s = cap;
		}
	}
	if (ndup2s < capdup2s)
		dup2s[ndup2s++] = (struct spawn_dup2){fa, fd, newfd};
	pthread_mutex_unlock(&dup2s_lock);
}

/* @fa's dup2 actions into @out (at most @cap, in order); returns how many. */
static int dup2s_of(const posix_spawn_file_actions_t *fa, struct spawn_dup2 *out, int cap)
{
	int n = 0;
	pthread_mutex_lock(&dup2s_lock);
	for (size_t i = 0; i < ndup2s && n < cap; i++)
		if (dup2s[i].fa == fa)
			out[n++] = dup2s[i];
	pthread_mutex_unlock(&dup2s_lock);
	return n;
}

typedef int (*fa_fn)(posix_spawn_file_actions_t *);
typedef int (*fa_dup2_fn)(posix_spawn_file_actions_t *, int, int);

XIO_EXPORT int posix_spawn_file_actions_init(posix_spawn_file_actions_t *fa)
{
	static fa_fn next;
	if (!next)
		next = (fa_fn)shim_next("posix_spawn_file_actions_init");
	int r = next(fa);
	if (r == 0)
		dup2s_forget(fa);
	return r;
}

XIO_EXPORT int posix_spawn_file_actions_destroy(posix_spawn_file_actions_t *fa)
{
	static fa_fn next;
	if (!next)
		next = (fa_fn)shim_next("posix_spawn_file_actions_destroy");
	dup2s_forget(fa);
	return next(fa);
}

XIO_EXPORT int posix_spawn_file_actions_adddup2(posix_spawn_file_actions_t *fa, int fd, int newfd)
{
	static fa_dup2_fn next;
	if (!next)
		next = (fa_dup2_fn)shim_next("posix_spawn_file_actions_adddup2");
	int r = next(fa, fd, newfd);
	if (r == 0 && !xio_config()->disabled)
		dup2s_add(fa, fd, newfd);
	return r;
}

/* ---- exec ------------------------------------------------------------------ */

/*
 * Before the exec of @path: withdraw the rendezvous of inherited listeners,
 * and demote the connections the new program would use behind our back (all
 * it inherits if it will not be preloaded, those on fds 0-2 if it will).
 * @fa: posix_spawn's file actions; what they dup2 is inherited (dup2 clears
 * FD_CLOEXEC on the copy) at the fd it goes to.
 */
static void before_exec(const char *path, const posix_spawn_file_actions_t *fa)
{
	if (!path || xio_config()->disabled)
		return;
	/* A new program takes inherited listeners as plain TCP ones: X-IO clients must too. */
	int max = fdt_max();
	for (int fd = 0; fd <= max; fd++) {
		struct fd_entry *e = fdt_get(fd);
		int fl = e && e->kind == FD_LISTENER ? real.fcntl(fd, F_GETFD) : -1;
		if (fl >= 0 && !(fl & FD_CLOEXEC))
			xio_listener_withdraw(e->listener, fd);
	}
	bool preloaded = loads_preload(path, 0);
	struct spawn_dup2 d[64];
	int nd = fa ? dup2s_of(fa, d, 64) : 0;
	for (int i = 0; i < nd; i++) {
		struct fd_entry *e = fdt_get(d[i].fd);
		if (e && e->kind == FD_LISTENER) {
			int fl = real.fcntl(d[i].fd, F_GETFD);
			if (fl >= 0 && (fl & FD_CLOEXEC)) /* else withdrawn above */
				xio_listener_withdraw(e->listener, d[i].fd);
		} else if ((e = shim_conn(d[i].fd)) && (!preloaded || d[i].newfd <= STDERR_FILENO))
			xio_conn_demote(e->conn, d[i].fd);
	}
	if (!preloaded) {
		shim_demote_fds(false);
		return;
	}
	/* A preloaded program still writes its stdout through stdio we cannot see (fcntl.c). */
	for (int fd = 0; fd <= STDERR_FILENO; fd++) {
		struct fd_entry *e = shim_conn(fd);
		int fl = e ? real.fcntl(fd, F_GETFD) : -1;
		if (fl >= 0 && !(fl & FD_CLOEXEC))
			xio_conn_demote(e->conn, fd);
	}
}

typedef int (*execve_fn)(const char *, char *const[], char *const[]);
typedef int (*execvpe_fn)(const char *, char *const[], char *const[]);

/*
 * The last steps of an exec of @path: when the program needs its supervisor,
 * exec it through xio-run first (stack/superexec.c decides and builds the
 * call; @supervise false: not wanted); then RLIMIT_AS goes down to the
 * program's own (rlimit.c), after which nothing may map memory: the plan is
 * made before. The caller then execs as asked and hands the result to
 * exec_failed(). @can_follow: @path still names the file after an exec
 * (superexec.h); @any_file: execvp's search (rlimit.c).
 */
struct exec_steps {
	struct xio_exec_plan plan;
	bool lowered;
};

static void exec_prepare(struct exec_steps *x, execve_fn next, const char *path, char *const argv[],
			 char *const envp[], bool supervise, bool can_follow, bool any_file)
{
	if (supervise)
		xio_exec_plan(&x->plan, path, argv, envp, self_path(), can_follow);
	else
		x->plan = (struct xio_exec_plan){.how = XIO_EXEC_AS_ASKED};
	x->lowered = shim_rlimit_before_exec(path, any_file);
	if (x->plan.how == XIO_EXEC_SUPERVISE)
		next(x->plan.run, x->plan.argv, envp);
}

/* The exec as asked returned @r: it failed. */
static int exec_failed(struct exec_steps *x, int r)
{
	shim_rlimit_exec_failed(x->lowered);
	int e = errno;
	xio_exec_plan_free(&x->plan);
	errno = e;
	return r;
}

XIO_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
	SHIM_INIT();
	static execve_fn next;
	if (!next)
		next = (execve_fn)shim_next("execve");
	before_exec(path, NULL);
	char *const *env = shim_fixed_env(envp);
	struct exec_steps x;
	exec_prepare(&x, next, path, argv, env, true, true, false);
	return exec_failed(&x, next(path, argv, env));
}

XIO_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
	SHIM_INIT();
	static execvpe_fn next;
	if (!next)
		next = (execvpe_fn)shim_next("execvpe");
	static execve_fn exec_next;
	if (!exec_next)
		exec_next = (execve_fn)shim_next("execve");
	char buf[PATH_MAX];
	const char *path = search_path(file, buf, sizeof(buf));
	before_exec(path, NULL);
	char *const *env = shim_fixed_env(envp);
	struct exec_steps x;
	/* supervised when found on PATH as execvpe will */
	exec_prepare(&x, exec_next, path, argv, env, path && strchr(path, '/'), true, true);
	return exec_failed(&x, next(file, argv, env));
}

XIO_EXPORT int execv(const char *path, char *const argv[])
{
	return execve(path, argv, environ);
}

XIO_EXPORT int execvp(const char *file, char *const argv[])
{
	return execvpe(file, argv, environ);
}

/* Collect execl-style arguments; @with_env: an envp follows the NULL. */
#define COLLECT_ARGS(arg0, ap, argv, envp, with_env)                                               \
	do {                                                                                       \
		int n_ = 1;                                                                        \
		va_list c_;                                                                        \
		va_copy(c_, ap);                                                                   \
		while (va_arg(c_, char *))                                                         \
			n_++;                                                                      \
		va_end(c_);                                                                        \
		argv = alloca(((size_t)n_ + 1) * sizeof(char *));                                  \
		argv[0] = (char *)(arg0);                                                          \
		for (int i_ = 1; i_ <= n_; i_++)                                                   \
			argv[i_] = va_arg(ap, char *);                                             \
		if (with_env)                                                                      \
			envp = va_arg(ap, char **);                                                \
	} while (0)

XIO_EXPORT int execl(const char *path, const char *arg, ...)
{
	char **argv, **envp = environ;
	va_list ap;
	va_start(ap, arg);
	COLLECT_ARGS(arg, ap, argv, envp, 0);
	va_end(ap);
	return execve(path, argv, envp);
}

XIO_EXPORT int execlp(const char *file, const char *arg, ...)
{
	char **argv, **envp = environ;
	va_list ap;
	va_start(ap, arg);
	COLLECT_ARGS(arg, ap, argv, envp, 0);
	va_end(ap);
	return execvpe(file, argv, envp);
}

XIO_EXPORT int execle(const char *path, const char *arg, ...)
{
	char **argv, **envp = NULL;
	va_list ap;
	va_start(ap, arg);
	COLLECT_ARGS(arg, ap, argv, envp, 1);
	va_end(ap);
	return execve(path, argv, envp);
}

/*
 * The file behind @fd as a path that outlives an exec, into @buf: its
 * /proc/self/fd/N when the fd is inherited, else the file's own path when
 * that still names the same file. False (with /proc/self/fd/N in @buf, good
 * for looking at it now) when there is none: an O_CLOEXEC memfd, a deleted
 * file.
 */
static bool fd_exec_path(int fd, char *buf, size_t len)
{
	snprintf(buf, len, "/proc/self/fd/%d", fd);
	int fl = real.fcntl(fd, F_GETFD);
	if (fl >= 0 && !(fl & FD_CLOEXEC))
		return true;
	char file[PATH_MAX];
	struct stat a, b;
	ssize_t n = readlink(buf, file, sizeof(file) - 1);
	if (n <= 0 || file[0] != '/')
		return false;
	file[n] = 0;
	if (fstat(fd, &a) < 0 || stat(file, &b) < 0 || a.st_dev != b.st_dev || a.st_ino != b.st_ino)
		return false;
	snprintf(buf, len, "%s", file);
	return true;
}

typedef int (*fexecve_fn)(int, char *const[], char *const[]);
typedef int (*execveat_fn)(int, const char *, char *const[], char *const[], int);

/* glibc's fexecve and execveat make the system call themselves: interposed on their own. */
XIO_EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
	SHIM_INIT();
	static fexecve_fn next;
	static execve_fn exec_next;
	if (!next)
		next = (fexecve_fn)shim_next("fexecve");
	if (!exec_next)
		exec_next = (execve_fn)shim_next("execve");
	char path[PATH_MAX];
	bool follow = fd_exec_path(fd, path, sizeof(path));
	before_exec(path, NULL);
	char *const *env = shim_fixed_env(envp);
	struct exec_steps x;
	exec_prepare(&x, exec_next, path, argv, env, true, follow, false);
	return exec_failed(&x, next(fd, argv, env));
}

XIO_EXPORT int execveat(int dirfd, const char *name, char *const argv[], char *const envp[],
			int flags)
{
	SHIM_INIT();
	static execveat_fn next;
	static execve_fn exec_next;
	if (!next)
		next = (execveat_fn)shim_next("execveat");
	if (!exec_next)
		exec_next = (execve_fn)shim_next("execve");
	char path[PATH_MAX];
	bool follow = true;
	if (!name[0] && (flags & AT_EMPTY_PATH)) {
		follow = fd_exec_path(dirfd, path, sizeof(path));
	} else if (name[0] == '/' || dirfd == AT_FDCWD) {
		snprintf(path, sizeof(path), "%s", name);
	} else {
		/* Relative to a directory fd: its path now, for an exec that outlives the fd. */
		char dir[64], d[PATH_MAX];
		snprintf(dir, sizeof(dir), "/proc/self/fd/%d", dirfd);
		ssize_t n = readlink(dir, d, sizeof(d) - 1);
		if (n > 0 && d[0] == '/') {
			d[n] = 0;
			follow = snprintf(path, sizeof(path), "%s/%s", d, name) < (int)sizeof(path);
		} else {
			follow = false;
			snprintf(path, sizeof(path), "%s/%s", dir, name);
		}
	}
	before_exec(path, NULL);
	char *const *env = shim_fixed_env(envp);
	/* AT_SYMLINK_NOFOLLOW: the kernel refuses a symbolic link; xio-run would follow it. */
	struct stat st;
	bool nofollow =
	    (flags & AT_SYMLINK_NOFOLLOW) && lstat(path, &st) == 0 && S_ISLNK(st.st_mode);
	struct exec_steps x;
	exec_prepare(&x, exec_next, path, argv, env, !nofollow, follow, false);
	return exec_failed(&x, next(dirfd, name, argv, env, flags));
}

typedef int (*spawn_fn)(pid_t *, const char *, const posix_spawn_file_actions_t *,
			const posix_spawnattr_t *, char *const[], char *const[]);

/*
 * posix_spawn of a program that needs the supervisor: spawn xio-run instead,
 * with the same file actions and attributes (they apply before xio-run runs,
 * and it keeps the pid, fds, signal mask and session it is given).
 * -1: not wanted or the spawn of xio-run failed (then spawn as asked).
 */
static int spawn_supervised(spawn_fn next, pid_t *pid, const char *path,
			    const posix_spawn_file_actions_t *fa, const posix_spawnattr_t *attr,
			    char *const argv[], char *const envp[])
{
	struct xio_exec_plan plan;
	xio_exec_plan(&plan, path, argv, envp, self_path(), true);
	int r = -1;
	if (plan.how == XIO_EXEC_SUPERVISE && next(pid, plan.run, fa, attr, plan.argv, envp) == 0)
		r = 0;
	xio_exec_plan_free(&plan);
	return r;
}

/* posix_spawn* returned @r for @child: its RLIMIT_AS (rlimit.c), its pid into @pid. */
static int spawned(int r, pid_t child, pid_t *pid)
{
	if (r == 0) {
		shim_rlimit_spawned(child);
		if (pid)
			*pid = child;
	}
	return r;
}

XIO_EXPORT int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
			   const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	SHIM_INIT();
	static spawn_fn next;
	if (!next)
		next = (spawn_fn)shim_next("posix_spawn");
	before_exec(path, fa);
	char *const *env = shim_fixed_env(envp);
	pid_t child; /* @pid may be NULL */
	int r = spawn_supervised(next, &child, path, fa, attr, argv, env) == 0
		    ? 0
		    : next(&child, path, fa, attr, argv, env);
	shim_fixed_env_free(env, envp);
	return spawned(r, child, pid);
}

XIO_EXPORT int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
			    const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	SHIM_INIT();
	static spawn_fn next, spawn_next;
	if (!next)
		next = (spawn_fn)shim_next("posix_spawnp");
	if (!spawn_next)
		spawn_next = (spawn_fn)shim_next("posix_spawn");
	char buf[PATH_MAX];
	const char *path = search_path(file, buf, sizeof(buf));
	before_exec(path, fa);
	char *const *env = shim_fixed_env(envp);
	pid_t child;			     /* @pid may be NULL */
	int r = path && strchr(path, '/') && /* found on PATH as posix_spawnp will */
			spawn_supervised(spawn_next, &child, path, fa, attr, argv, env) == 0
		    ? 0
		    : next(&child, file, fa, attr, argv, env);
	shim_fixed_env_free(env, envp);
	return spawned(r, child, pid);
}
