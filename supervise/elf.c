/* SPDX-License-Identifier: MIT */
/*
 * Which programs the preload cannot intercept: an ELF file without a
 * PT_INTERP program header has no dynamic loader to load it; a Go binary
 * (found by its ".go.buildinfo" section, which every Go toolchain since 1.13
 * writes) makes its socket calls as raw system calls even when it is linked
 * dynamically.
 */
#include <fcntl.h>
#include <unistd.h>

#include "superexec.h"
#include "supervise.h"

enum xio_sv_kind xio_sv_classify(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return XIO_SV_NONE;
	/* The preload's exec asks the same question (stack/superexec.c). */
	int k = xio_exec_kind(fd);
	close(fd);
	return k == 1 ? XIO_SV_GO : k == 2 ? XIO_SV_STATIC : XIO_SV_NONE;
}

const char *xio_sv_kind_name(enum xio_sv_kind k)
{
	switch (k) {
	case XIO_SV_STATIC:
		return "static binary";
	case XIO_SV_GO:
		return "Go binary";
	case XIO_SV_FORCED:
		return "--syscalls";
	default:
		return "dynamic binary";
	}
}
