/* SPDX-License-Identifier: MIT */
/*
 * The seccomp supervisor of xio-run: carries the TCP connections of programs
 * that make their socket calls without libc (Go, static binaries), which the
 * preload library never sees. docs/DESIGN.md, "Programs without libc".
 *
 * xio-run forks the supervisor, installs in itself a seccomp filter that
 * sends the set-up calls (connect, accept, listen, names, socket options) to
 * it, hands it the filter's listener fd and execs the program. The
 * supervisor makes each connection it can through the stack, demotes it at
 * once (stack/demote.c: the AF_UNIX end is then a plain byte stream) and
 * installs that end into the program at the socket's fd number. The data
 * calls stay the kernel's.
 */
#ifndef XIO_SUPERVISE_H
#define XIO_SUPERVISE_H

#include <stdbool.h>
#include <sys/types.h>

/* Why a program needs the supervisor (elf.c). */
enum xio_sv_kind {
	XIO_SV_NONE,   /* dynamically linked, not Go: the preload sees its calls */
	XIO_SV_STATIC, /* no PT_INTERP: no dynamic loader, no preload */
	XIO_SV_GO,     /* a .go.buildinfo section: Go makes raw system calls */
	XIO_SV_FORCED, /* xio-run --syscalls */
};

/* Classify the ELF file @path; XIO_SV_NONE for what is not ELF or cannot be read. */
enum xio_sv_kind xio_sv_classify(const char *path);

/* "static binary", "Go binary", "--syscalls". */
const char *xio_sv_kind_name(enum xio_sv_kind k);

/*
 * Start the supervisor and put this process under it (filter.c): from here
 * on the set-up socket calls of this process and of every process it execs
 * or forks go to the supervisor. Returns 0, or -errno when seccomp user
 * notification is unavailable (nothing changed then; the caller runs the
 * program on kernel TCP). XIO_SUPERVISE=0 in the environment answers
 * -ENOSYS: the switch that tests use to stand for a kernel without it.
 */
int xio_sv_start(void);

/* The supervisor's loop on the filter's listener fd @nfd (notify.c); never returns. */
void xio_sv_serve(int nfd) __attribute__((noreturn));

#endif
