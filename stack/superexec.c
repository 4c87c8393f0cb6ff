/* SPDX-License-Identifier: MIT */
/* Where an exec of a Go or static program goes: superexec.h. */
#include <elf.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "domain.h"
#include "elfprog.h"
#include "stack.h"
#include "superexec.h"
#include "sys.h"

#ifndef XIO_LIB_TO_BIN
#define XIO_LIB_TO_BIN "../bin"
#endif

int xio_exec_kind(int fd)
{
	Elf64_Ehdr eh;
	/* 64-bit x86-64 only: the supervisor's filter is written for that ABI. */
	if (pread(fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh) ||
	    memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_machine != EM_X86_64)
		return 0;
	const unsigned char *h = (const unsigned char *)&eh;
	if (xio_elf_is_go(fd, h))
		return 1;
	if ((eh.e_type == ET_EXEC || eh.e_type == ET_DYN) && !xio_elf_has_interp(fd, h))
		return 2;
	return 0;
}

const char *xio_env_get(char *const envp[], const char *name)
{
	size_t n = strlen(name);
	for (int i = 0; envp && envp[i]; i++)
		if (strncmp(envp[i], name, n) == 0 && envp[i][n] == '=')
			return envp[i] + n + 1;
	return NULL;
}

/* The xio-run to exec into @buf: XIO_RUN, else the one installed with @lib. */
static bool find_run(char *const envp[], const char *lib, char *buf, size_t len)
{
	const char *run = xio_env_get(envp, "XIO_RUN");
	if (run && *run && (size_t)snprintf(buf, len, "%s", run) < len && access(buf, X_OK) == 0)
		return true;
	const char *slash = lib ? strrchr(lib, '/') : NULL;
	if (!slash)
		return false;
	return (size_t)snprintf(buf, len, "%.*s/%s/xio-run", (int)(slash - lib), lib,
				XIO_LIB_TO_BIN) < len &&
	       access(buf, X_OK) == 0;
}

void xio_exec_plan(struct xio_exec_plan *p, const char *path, char *const argv[],
		   char *const envp[], const char *lib, bool can_follow_path)
{
	memset(p, 0, sizeof(*p));
	p->how = XIO_EXEC_AS_ASKED;
	if (!path || xio_config()->disabled)
		return;
	/* Not executable or not readable: the exec fails (or runs) as it would have. */
	int fd = access(path, X_OK) == 0 ? open(path, O_RDONLY | O_CLOEXEC) : -1;
	if (fd < 0)
		return;
	int kind = xio_exec_kind(fd);
	xio_sys.close(fd);
	if (!kind)
		return;
	p->kind = kind == 1 ? "Go binary" : "static binary";
	if (!can_follow_path)
		p->why = "its file has no path that outlives the exec (an O_CLOEXEC fd of no file)";
	else if (!find_run(envp, lib, p->run, sizeof(p->run)))
		p->why = "no xio-run: XIO_RUN is unset and none is installed next to the library";
	if (!p->why) {
		int n = 0;
		while (argv && argv[n])
			n++;
		p->argv = calloc((size_t)n + 7, sizeof(*p->argv));
		if (!p->argv)
			p->why = "out of memory";
	}
	if (p->why) {
		p->how = XIO_EXEC_UNCARRIED;
		xio_log(1, "%s: %s, not supervised: %s: kernel TCP", path, p->kind, p->why);
		if (xio_domain_peek())
			xio_count_fallback(XIO_FB_SUPERVISE_UNAVAILABLE);
		return;
	}
	int n = 0, k = 0;
	while (argv && argv[n])
		n++;
	p->argv[k++] = (char *)"xio-run";
	p->argv[k++] = (char *)"--syscalls";
	p->argv[k++] = (char *)"--argv0";
	p->argv[k++] = (char *)(n ? argv[0] : path);
	p->argv[k++] = (char *)"--";
	p->argv[k++] = (char *)path;
	for (int i = 1; i < n; i++)
		p->argv[k++] = argv[i];
	p->argv[k] = NULL;
	p->how = XIO_EXEC_SUPERVISE;
}

void xio_exec_plan_free(struct xio_exec_plan *p)
{
	free(p->argv);
	p->argv = NULL;
}
