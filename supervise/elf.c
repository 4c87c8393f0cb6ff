/* SPDX-License-Identifier: MIT */
/*
 * Which programs the preload cannot intercept: an ELF file without a
 * PT_INTERP program header has no dynamic loader to load it; a Go binary
 * (found by its ".go.buildinfo" section, which every Go toolchain since 1.13
 * writes) makes its socket calls as raw system calls even when it is linked
 * dynamically.
 */
#include <elf.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "elfprog.h"
#include "supervise.h"

enum xio_sv_kind xio_sv_classify(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return XIO_SV_NONE;
	Elf64_Ehdr eh;
	enum xio_sv_kind k = XIO_SV_NONE;
	/* 64-bit x86-64 only: the filter is written for that ABI. */
	if (pread(fd, &eh, sizeof(eh), 0) == (ssize_t)sizeof(eh) &&
	    !memcmp(eh.e_ident, ELFMAG, SELFMAG) && eh.e_ident[EI_CLASS] == ELFCLASS64 &&
	    eh.e_machine == EM_X86_64) {
		const unsigned char *h = (const unsigned char *)&eh;
		if (xio_elf_is_go(fd, h))
			k = XIO_SV_GO;
		else if ((eh.e_type == ET_EXEC || eh.e_type == ET_DYN) &&
			 !xio_elf_has_interp(fd, h))
			k = XIO_SV_STATIC;
	}
	close(fd);
	return k;
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
