/* SPDX-License-Identifier: MIT */
/*
 * system() and popen() of a program that removed LD_PRELOAD (or the XIO_*
 * variables) from its own environment. glibc runs "/bin/sh -c" for both with
 * its internal posix_spawn and the environment as it is: the shell, and what
 * it starts, would run without the library (a Go or static program without
 * xio-run's supervisor). exec* and posix_spawn* put the variables back
 * (exec.c); here, only when something the shell needs is missing, it is
 * started with our posix_spawn instead, with the environment put right.
 * Likewise while RLIMIT_AS is raised for X-IO's mappings: our posix_spawn
 * gives the shell the program's own limit (rlimit.c). Otherwise glibc's own
 * calls run untouched.
 *
 * What they do is POSIX's: system() ignores SIGINT and SIGQUIT and blocks
 * SIGCHLD while it waits, the shell gets them back (default, the old mask);
 * popen()'s shell closes the streams of earlier popen()s, pclose() waits.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shim.h"

extern char **environ;

static pid_t wait_child(pid_t pid, int *st)
{
	pid_t r;
	while ((r = waitpid(pid, st, 0)) < 0 && errno == EINTR)
		;
	return r;
}

/* ---- system ----------------------------------------------------------------- */

static pthread_mutex_t sys_lock = PTHREAD_MUTEX_INITIALIZER;
static int sys_refs; /* system() calls in progress: SIGINT/SIGQUIT ignored meanwhile */
static struct sigaction sys_intr, sys_quit;

static int system_spawn(const char *cmd, char *const env[])
{
	struct sigaction ign = {.sa_handler = SIG_IGN};
	sigset_t chld, omask, def;
	sigemptyset(&ign.sa_mask);
	pthread_mutex_lock(&sys_lock);
	if (sys_refs++ == 0) {
		sigaction(SIGINT, &ign, &sys_intr);
		sigaction(SIGQUIT, &ign, &sys_quit);
	}
	pthread_mutex_unlock(&sys_lock);
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, &omask);

	sigemptyset(&def);
	if (sys_intr.sa_handler != SIG_IGN)
		sigaddset(&def, SIGINT);
	if (sys_quit.sa_handler != SIG_IGN)
		sigaddset(&def, SIGQUIT);
	posix_spawnattr_t attr;
	posix_spawnattr_init(&attr);
	posix_spawnattr_setsigdefault(&attr, &def);
	posix_spawnattr_setsigmask(&attr, &omask);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
	char *argv[] = {(char *)"sh", (char *)"-c", (char *)cmd, NULL}; /* as glibc 2.36 */
	pid_t pid;
	int st = -1, e = posix_spawn(&pid, "/bin/sh", NULL, &attr, argv, env);
	posix_spawnattr_destroy(&attr);
	if (e == 0) {
		if (wait_child(pid, &st) < 0)
			st = -1;
	} else {
		st = 127 << 8; /* as if the shell had exited 127 */
	}
	int saved = errno;

	pthread_mutex_lock(&sys_lock);
	if (--sys_refs == 0) {
		sigaction(SIGINT, &sys_intr, NULL);
		sigaction(SIGQUIT, &sys_quit, NULL);
	}
	pthread_mutex_unlock(&sys_lock);
	sigprocmask(SIG_SETMASK, &omask, NULL);
	errno = saved;
	return st;
}

/*
 * Would the shell glibc starts with @env miss what this process runs with?
 * LD_PRELOAD without this library, or an XIO_DOMAIN/XIO_RUNDIR gone whose
 * default is not ours. (A program preloaded with LD_PRELOAD alone, on the
 * defaults, keeps glibc's calls.)
 */
static bool env_incomplete(char *const *fixed, char *const env[])
{
	if (fixed == env)
		return false;
	const struct xio_config *cfg = xio_config();
	const char *pre = getenv("LD_PRELOAD"), *dom = getenv("XIO_DOMAIN"),
		   *run = getenv("XIO_RUNDIR");
	for (int i = 0; fixed[i]; i++)
		if (!strncmp(fixed[i], "LD_PRELOAD=", 11))
			pre = pre && !strcmp(pre, fixed[i] + 11) ? pre : NULL;
	if (!pre)
		return true; /* fixed_env changed LD_PRELOAD: the library was missing */
	if (!dom && strcmp(cfg->domain, "xio") != 0)
		return true;
	char def[sizeof(cfg->rundir)];
	return !run && (xio_default_rundir(cfg->domain, def, sizeof(def)) < 0 ||
			strcmp(def, cfg->rundir) != 0);
}

typedef int (*system_fn)(const char *);

XIO_EXPORT int system(const char *cmd)
{
	SHIM_INIT();
	static system_fn next;
	if (!next)
		next = (system_fn)shim_next("system");
	char *const *env = cmd ? shim_fixed_env(environ) : environ;
	if (!cmd || (!env_incomplete(env, environ) && !shim_rlimit_raised())) {
		shim_fixed_env_free(env, environ);
		return next(cmd);
	}
	int st = system_spawn(cmd, env);
	shim_fixed_env_free(env, environ);
	return st;
}

/* ---- popen, pclose -------------------------------------------------------------- */

struct popen_child {
	FILE *f;
	int fd; /* f's, kept: a stream closed with fclose() is not ours to look at */
	pid_t pid;
	struct popen_child *next;
};

static pthread_mutex_t popen_lock = PTHREAD_MUTEX_INITIALIZER;
static struct popen_child *popens; /* the streams our popen() made */

static FILE *popen_spawn(const char *cmd, const char *mode, char *const env[])
{
	bool rd = mode[0] == 'r', cloexec = strchr(mode, 'e') != NULL;
	if ((mode[0] != 'r' && mode[0] != 'w') || strspn(mode + 1, "e") != strlen(mode + 1)) {
		errno = EINVAL;
		return NULL;
	}
	struct popen_child *c = calloc(1, sizeof(*c));
	int p[2];
	if (!c || pipe2(p, O_CLOEXEC) < 0) {
		free(c);
		return NULL;
	}
	int mine = rd ? p[0] : p[1], theirs = rd ? p[1] : p[0];
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	/* dup2 onto itself clears FD_CLOEXEC (glibc >= 2.29, POSIX 2024). */
	posix_spawn_file_actions_adddup2(&fa, theirs, rd ? STDOUT_FILENO : STDIN_FILENO);
	pthread_mutex_lock(&popen_lock);
	for (struct popen_child *o = popens; o; o = o->next) {
		if (o->fd != (rd ? STDOUT_FILENO : STDIN_FILENO))
			posix_spawn_file_actions_addclose(&fa, o->fd);
	}
	char *argv[] = {(char *)"sh", (char *)"-c", (char *)cmd, NULL}; /* as glibc 2.36 */
	int e = posix_spawn(&c->pid, "/bin/sh", &fa, NULL, argv, env);
	posix_spawn_file_actions_destroy(&fa);
	close(theirs);
	FILE *f = NULL;
	if (e == 0 && (cloexec || fcntl(mine, F_SETFD, 0) == 0))
		f = fdopen(mine, rd ? "r" : "w");
	if (!f) {
		int saved = e ? e : errno;
		close(mine);
		if (e == 0) {
			int st;
			wait_child(c->pid, &st);
		}
		pthread_mutex_unlock(&popen_lock);
		free(c);
		errno = saved;
		return NULL;
	}
	c->f = f;
	c->fd = mine;
	c->next = popens;
	popens = c;
	pthread_mutex_unlock(&popen_lock);
	return f;
}

typedef FILE *(*popen_fn)(const char *, const char *);
typedef int (*pclose_fn)(FILE *);

XIO_EXPORT FILE *popen(const char *cmd, const char *mode)
{
	SHIM_INIT();
	static popen_fn next;
	if (!next)
		next = (popen_fn)shim_next("popen");
	char *const *env = shim_fixed_env(environ);
	if (!env_incomplete(env, environ) && !shim_rlimit_raised()) {
		shim_fixed_env_free(env, environ);
		return next(cmd, mode);
	}
	FILE *f = popen_spawn(cmd, mode, env);
	shim_fixed_env_free(env, environ);
	return f;
}

XIO_EXPORT int pclose(FILE *f)
{
	static pclose_fn next;
	if (!next)
		next = (pclose_fn)shim_next("pclose");
	pthread_mutex_lock(&popen_lock);
	struct popen_child **pp = &popens, *c = NULL;
	while (*pp && (*pp)->f != f)
		pp = &(*pp)->next;
	if (*pp) {
		c = *pp;
		*pp = c->next;
	}
	pthread_mutex_unlock(&popen_lock);
	if (!c)
		return next(f); /* glibc's own popen() made it */
	fclose(f);
	int st = -1;
	pid_t r = wait_child(c->pid, &st);
	free(c);
	return r < 0 ? -1 : st;
}
