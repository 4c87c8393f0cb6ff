/* SPDX-License-Identifier: MIT */
/*
 * Lazy classification of fds this process did not create through us:
 * inherited across exec or received over SCM_RIGHTS. Probed once; the
 * answer is cached in the fd table until the fd is closed.
 */
#include <fcntl.h>

#include "shim.h"

struct fd_entry *shim_probe(int fd)
{
	struct xio_conn *c;

	if (fd < 0)
		return NULL;
	if (xio_conn_adopt(fd, &c) == 0) {
		int fl = real.fcntl(fd, F_GETFL);
		fdt_set_conn(fd, c, fl >= 0 && (fl & O_NONBLOCK));
		xio_log(1, "adopted inherited X-IO connection on fd %d", fd);
	} else {
		fdt_mark_kernel(fd);
	}
	return fdt_get(fd);
}

/* Descriptors that just arrived in @msg must be probed again on first use. */
void shim_forget_received(const struct msghdr *msg)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR((struct msghdr *)msg); c;
	     c = CMSG_NXTHDR((struct msghdr *)msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		int n = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		int *fds = (int *)CMSG_DATA(c);
		for (int i = 0; i < n; i++)
			fdt_clear(fds[i]);
	}
}
