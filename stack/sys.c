/* SPDX-License-Identifier: MIT */
/* Default system-call table: libc itself (the shim overrides it, see sys.h). */
#include <fcntl.h>
#include <unistd.h>

#include "sys.h"

struct xio_sys xio_sys;

void xio_sys_use_libc(void)
{
	xio_sys = (struct xio_sys){
		.socket = socket,
		.close = close,
		.bind = bind,
		.listen = listen,
		.connect = connect,
		.accept4 = accept4,
		.recv = recv,
		.send = send,
		.recvmsg = recvmsg,
		.sendmsg = sendmsg,
		.poll = poll,
		.getsockopt = getsockopt,
		.setsockopt = setsockopt,
		.getsockname = getsockname,
		.getpeername = getpeername,
		.fcntl = fcntl,
		.dup3 = dup3,
		.shutdown = shutdown,
	};
}
