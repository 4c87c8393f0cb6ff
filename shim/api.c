/* SPDX-License-Identifier: MIT */
/* The exported xio_* API (include/xio.h). */
#include "shim.h"
#include "xio.h"

XIO_EXPORT const char *xio_version(void)
{
	return XIO_VERSION;
}

XIO_EXPORT int xio_fd_kind(int fd)
{
	SHIM_INIT();
	struct fd_entry *e = shim_entry(fd);
	if (!e)
		return 0;
	return e->kind == FD_CONN ? 1 : e->kind == FD_LISTENER ? 2 : 0;
}
