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
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "supervise.h"

static bool read_at(int fd, void *buf, size_t len, off_t off)
{
	return pread(fd, buf, len, off) == (ssize_t)len;
}

/* Does the 64-bit ELF @fd with header @eh have a section named @want? */
static bool has_section(int fd, const Elf64_Ehdr *eh, const char *want)
{
	if (eh->e_shoff == 0 || eh->e_shentsize != sizeof(Elf64_Shdr) || eh->e_shnum == 0 ||
	    eh->e_shstrndx >= eh->e_shnum)
		return false;
	Elf64_Shdr strs;
	if (!read_at(fd, &strs, sizeof(strs), (off_t)(eh->e_shoff + eh->e_shstrndx * sizeof(strs))))
		return false;
	if (strs.sh_size == 0 || strs.sh_size > (1u << 20))
		return false;
	char *names = malloc(strs.sh_size + 1);
	if (!names)
		return false;
	bool found = false;
	if (read_at(fd, names, strs.sh_size, (off_t)strs.sh_offset)) {
		names[strs.sh_size] = 0;
		for (unsigned i = 0; i < eh->e_shnum && !found; i++) {
			Elf64_Shdr sh;
			if (!read_at(fd, &sh, sizeof(sh), (off_t)(eh->e_shoff + i * sizeof(sh))))
				break;
			found = sh.sh_name < strs.sh_size && !strcmp(names + sh.sh_name, want);
		}
	}
	free(names);
	return found;
}

static bool has_interp(int fd, const Elf64_Ehdr *eh)
{
	if (eh->e_phentsize != sizeof(Elf64_Phdr))
		return true; /* cannot tell: leave it to the preload */
	for (unsigned i = 0; i < eh->e_phnum; i++) {
		Elf64_Phdr ph;
		if (!read_at(fd, &ph, sizeof(ph), (off_t)(eh->e_phoff + i * sizeof(ph))))
			return true;
		if (ph.p_type == PT_INTERP)
			return true;
	}
	return false;
}

enum xio_sv_kind xio_sv_classify(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return XIO_SV_NONE;
	Elf64_Ehdr eh;
	enum xio_sv_kind k = XIO_SV_NONE;
	/* 64-bit little-endian x86-64 only: the filter is written for that ABI. */
	if (read_at(fd, &eh, sizeof(eh), 0) && !memcmp(eh.e_ident, ELFMAG, SELFMAG) &&
	    eh.e_ident[EI_CLASS] == ELFCLASS64 && eh.e_machine == EM_X86_64) {
		if (has_section(fd, &eh, ".go.buildinfo"))
			k = XIO_SV_GO;
		else if ((eh.e_type == ET_EXEC || eh.e_type == ET_DYN) && !has_interp(fd, &eh))
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
