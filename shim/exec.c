/* SPDX-License-Identifier: MIT */
/*
 * exec and posix_spawn: a program that strips LD_PRELOAD (or the XIO_*
 * variables) from its children's environment would leave them unable to
 * use the X-IO fds they inherit. We put them back. glibc's exec family
 * calls its internal __execve, so every variant is interposed here.
 */
#include <dlfcn.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

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

static const char *env_get(char *const envp[], const char *name)
{
	size_t n = strlen(name);
	for (int i = 0; envp && envp[i]; i++)
		if (strncmp(envp[i], name, n) == 0 && envp[i][n] == '=')
			return envp[i] + n + 1;
	return NULL;
}

/*
 * @envp with LD_PRELOAD (containing this library), XIO_DOMAIN and
 * XIO_RUNDIR present; the original array if nothing is missing. The copy
 * is leaked on purpose: exec either replaces us or fails and returns.
 */
static char *const *fixed_env(char *const envp[])
{
	const struct xio_config *cfg = xio_config();
	const char *self = self_path(), *pre = env_get(envp, "LD_PRELOAD");
	bool need_pre = self[0] && (!pre || !strstr(pre, self));
	bool need_dom = !env_get(envp, "XIO_DOMAIN"), need_run = !env_get(envp, "XIO_RUNDIR");

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
	if (need_pre && asprintf(&v, "LD_PRELOAD=%s%s%s", self, pre && *pre ? ":" : "",
				 pre ? pre : "") > 0)
		out[k++] = v;
	if (need_dom && asprintf(&v, "XIO_DOMAIN=%s", cfg->domain) > 0)
		out[k++] = v;
	if (need_run && asprintf(&v, "XIO_RUNDIR=%s", cfg->rundir) > 0)
		out[k++] = v;
	out[k] = NULL;
	return out;
}

typedef int (*execve_fn)(const char *, char *const[], char *const[]);
typedef int (*execvpe_fn)(const char *, char *const[], char *const[]);

XIO_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
	SHIM_INIT();
	static execve_fn next;
	if (!next)
		next = (execve_fn)shim_next("execve");
	return next(path, argv, fixed_env(envp));
}

XIO_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
	SHIM_INIT();
	static execvpe_fn next;
	if (!next)
		next = (execvpe_fn)shim_next("execvpe");
	return next(file, argv, fixed_env(envp));
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

typedef int (*spawn_fn)(pid_t *, const char *, const posix_spawn_file_actions_t *,
			const posix_spawnattr_t *, char *const[], char *const[]);

XIO_EXPORT int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
			   const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	SHIM_INIT();
	static spawn_fn next;
	if (!next)
		next = (spawn_fn)shim_next("posix_spawn");
	return next(pid, path, fa, attr, argv, fixed_env(envp));
}

XIO_EXPORT int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
			    const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	SHIM_INIT();
	static spawn_fn next;
	if (!next)
		next = (spawn_fn)shim_next("posix_spawnp");
	return next(pid, file, fa, attr, argv, fixed_env(envp));
}
