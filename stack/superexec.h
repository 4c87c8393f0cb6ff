/* SPDX-License-Identifier: MIT */
/*
 * Where an exec of a program the preload cannot follow goes (issue 10: "xio-run
 * works for every program"). The preload's exec family, fexecve, execveat and
 * posix_spawn(p) (shim/exec.c) only translate the call; what to run instead is
 * decided here: a Go or static x86-64 program is exec'd as
 *
 *     XIO_RUN --syscalls --argv0 ARGV0 -- PATH ARGS...
 *
 * so that xio-run puts it under its seccomp supervisor (supervise/), as if it
 * had been started with `xio-run PATH`. XIO_RUN is the xio-run that started
 * the tree (exported by it); a program preloaded without xio-run uses the
 * xio-run installed next to the library (<libdir>/XIO_LIB_TO_BIN/xio-run).
 */
#ifndef XIO_SUPEREXEC_H
#define XIO_SUPEREXEC_H

#include <stdbool.h>
#include <stddef.h>

enum xio_exec_how {
	XIO_EXEC_AS_ASKED,  /* the preload follows the program (or it is not ELF): exec it */
	XIO_EXEC_SUPERVISE, /* exec the plan's run with the plan's argv instead */
	XIO_EXEC_UNCARRIED, /* needs the supervisor but cannot have it (logged, counted) */
};

struct xio_exec_plan {
	enum xio_exec_how how;
	const char *kind; /* "Go binary", "static binary" (not AS_ASKED) */
	char run[4096];	  /* xio-run's path (SUPERVISE) */
	char **argv;	  /* xio-run's argv (SUPERVISE; malloc'd, xio_exec_plan_free) */
	const char *why;  /* UNCARRIED: why not, for the log line */
};

/*
 * Plan the exec of @path (the file the kernel would run; "/proc/self/fd/N"
 * for an fd) with @argv and @envp (as they will be passed, after the
 * preload's environment fixes). @lib: the preload library's own path, to find
 * the xio-run installed with it. @can_follow_path: false when @path will not
 * exist after an exec (an O_CLOEXEC fd's /proc/self/fd/N that names no file).
 * An UNCARRIED plan is counted (supervise_unavailable) only in a domain this
 * process has joined already: joining one here could happen in a vfork child.
 */
void xio_exec_plan(struct xio_exec_plan *p, const char *path, char *const argv[],
		   char *const envp[], const char *lib, bool can_follow_path);

void xio_exec_plan_free(struct xio_exec_plan *p);

/* 1: a Go program, 2: a static one (no PT_INTERP), 0: neither; x86-64 ELF files only. */
int xio_exec_kind(int fd);

/* The value of @name in @envp (an execve environment), or NULL. */
const char *xio_env_get(char *const envp[], const char *name);

#endif
