/* SPDX-License-Identifier: MIT */
/*
 * Descriptors X-IO keeps for itself inside the application (control socket,
 * rendezvous listeners, shadow epoll sets). Programs that close "every fd"
 * (daemonizing loops, close_range, closefrom) must not take them: the shim
 * asks here and leaves them open. A small open-addressing set, lock-free to
 * read because close() asks on every call.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/resource.h>

#include "stack.h"
#include "sys.h"

#define SLOTS 512 /* far more helpers than any process has */

static _Atomic int set[SLOTS] = {[0 ... SLOTS - 1] = -1};

static unsigned hash(int fd)
{
	return ((unsigned)fd * 2654435761u) % SLOTS;
}

void xio_helper_fd(int fd, bool add)
{
	if (fd < 0)
		return;
	for (unsigned i = 0, h = hash(fd); i < SLOTS; i++, h = (h + 1) % SLOTS) {
		int cur = atomic_load(&set[h]);
		if (add) {
			int empty = -1, tomb = -2;
			if (cur == fd)
				return;
			if ((cur == -1 && atomic_compare_exchange_strong(&set[h], &empty, fd)) ||
			    (cur == -2 && atomic_compare_exchange_strong(&set[h], &tomb, fd)))
				return;
		} else {
			if (cur == -1)
				return;
			if (cur == fd && atomic_compare_exchange_strong(&set[h], &cur, -2))
				return;
		}
	}
}

bool xio_is_helper_fd(int fd)
{
	if (fd < 0)
		return false;
	for (unsigned i = 0, h = hash(fd); i < SLOTS; i++, h = (h + 1) % SLOTS) {
		int cur = atomic_load_explicit(&set[h], memory_order_relaxed);
		if (cur == fd)
			return true;
		if (cur == -1)
			return false;
	}
	return false;
}

int xio_helper_fds(int *out, int max)
{
	int n = 0;
	for (unsigned h = 0; h < SLOTS && n < max; h++) {
		int cur = atomic_load(&set[h]);
		if (cur >= 0)
			out[n++] = cur;
	}
	return n;
}

/* Lowest number for helper fds: 3/4 of RLIMIT_NOFILE (read once; again if it shrank). */
static _Atomic int high_base;

static int high_base_read(void)
{
	/* By its system call: inside the preload getrlimit is the shim's (shim/rlimit.c). */
	struct rlimit64 rl;
	int base = 512;
	if (xio_raw_syscall4(SYS_prlimit64, 0, RLIMIT_NOFILE, 0, (long)&rl) == 0 &&
	    rl.rlim_cur != RLIM64_INFINITY && rl.rlim_cur > 64)
		base = rl.rlim_cur * 3 / 4 < INT_MAX ? (int)(rl.rlim_cur * 3 / 4) : INT_MAX;
	atomic_store_explicit(&high_base, base, memory_order_relaxed);
	return base;
}

int xio_fd_dup_high(int fd)
{
	/* a getrlimit() per accepted or paired connection was one system call too many */
	int base = atomic_load_explicit(&high_base, memory_order_relaxed);
	int h = xio_sys.fcntl(fd, F_DUPFD_CLOEXEC, base ? base : high_base_read());
	if (h < 0 && errno == EINVAL && base) /* the limit went down */
		h = xio_sys.fcntl(fd, F_DUPFD_CLOEXEC, high_base_read());
	return h;
}

int xio_fd_move_high(int fd)
{
	int nfd = xio_fd_dup_high(fd);
	if (nfd < 0)
		return fd;
	xio_sys.close(fd);
	return nfd;
}
