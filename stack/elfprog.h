/* SPDX-License-Identifier: MIT */
/*
 * What an ELF program file says about how it will make its system calls:
 * the preload's exec (shim/exec.c) and xio-run's supervisor (supervise/elf.c)
 * ask the same questions of it.
 */
#ifndef XIO_ELFPROG_H
#define XIO_ELFPROG_H

#include <stdbool.h>

/*
 * @h holds the first bytes of the ELF file @fd (at least an Elf64_Ehdr, its
 * magic checked by the caller). Reads with pread() only.
 */

/* Does it name a program interpreter (dynamic loader)? True when it cannot tell. */
bool xio_elf_has_interp(int fd, const unsigned char *h);

/*
 * Is it a Go program (a ".go.buildinfo" section, written by every Go
 * toolchain since 1.13)? Go makes its socket calls as raw system calls even
 * when it is linked dynamically: a preload is loaded but never called.
 * 64-bit files only; false when it cannot tell.
 */
bool xio_elf_is_go(int fd, const unsigned char *h);

#endif
