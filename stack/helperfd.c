/* SPDX-License-Identifier: MIT */
/*
 * Descriptors X-IO keeps for itself inside the application (control socket,
 * rendezvous listeners, shadow epoll sets). Programs that close "every fd"
 * (daemonizing loops, close_range, closefrom) must not take them: the shim
 * asks here and leaves them open. A small open-addressing set, lock-free to
 * read because close() asks on every call.
 */
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

int xio_fd_move_high(int fd)
{
	struct rlimit rl;
	int base = 512;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur > 64)
		base = (int)(rl.rlim_cur * 3 / 4);
	int nfd = xio_sys.fcntl(fd, F_DUPFD_CLOEXEC, base);
	if (nfd < 0)
		return fd;
	xio_sys.close(fd);
	return nfd;
}
