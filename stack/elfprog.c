/* SPDX-License-Identifier: MIT */
#include <elf.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "elfprog.h"

bool xio_elf_has_interp(int fd, const unsigned char *h)
{
	bool is64 = h[EI_CLASS] == ELFCLASS64;
	uint64_t phoff;
	unsigned phnum, phentsize;
	if (is64) {
		const Elf64_Ehdr *e = (const Elf64_Ehdr *)h;
		phoff = e->e_phoff, phnum = e->e_phnum, phentsize = e->e_phentsize;
	} else {
		const Elf32_Ehdr *e = (const Elf32_Ehdr *)h;
		phoff = e->e_phoff, phnum = e->e_phnum, phentsize = e->e_phentsize;
	}
	for (unsigned i = 0; i < phnum && i < 256; i++) {
		uint32_t type;
		if (pread(fd, &type, sizeof(type), (off_t)(phoff + (uint64_t)i * phentsize)) !=
		    (ssize_t)sizeof(type))
			return true; /* cannot tell: assume the usual */
		if (type == PT_INTERP)
			return true;
	}
	return false;
}

static bool read_at(int fd, void *buf, size_t len, uint64_t off)
{
	return pread(fd, buf, len, (off_t)off) == (ssize_t)len;
}

bool xio_elf_is_go(int fd, const unsigned char *h)
{
	static const char want[] = ".go.buildinfo";
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)h;
	if (h[EI_CLASS] != ELFCLASS64 || eh->e_shoff == 0 ||
	    eh->e_shentsize != sizeof(Elf64_Shdr) || eh->e_shnum == 0 ||
	    eh->e_shstrndx >= eh->e_shnum)
		return false;
	Elf64_Shdr strs;
	if (!read_at(fd, &strs, sizeof(strs), eh->e_shoff + eh->e_shstrndx * sizeof(strs)) ||
	    strs.sh_size == 0 || strs.sh_size > (1u << 20))
		return false;
	char *names = malloc(strs.sh_size + 1);
	if (!names)
		return false;
	bool found = false;
	if (read_at(fd, names, strs.sh_size, strs.sh_offset)) {
		names[strs.sh_size] = 0;
		for (unsigned i = 0; i < eh->e_shnum && i < 4096 && !found; i++) {
			Elf64_Shdr sh;
			if (!read_at(fd, &sh, sizeof(sh), eh->e_shoff + i * sizeof(sh)))
				break;
			found = sh.sh_name < strs.sh_size && !strcmp(names + sh.sh_name, want);
		}
	}
	free(names);
	return found;
}
