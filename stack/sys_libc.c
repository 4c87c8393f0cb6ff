/* SPDX-License-Identifier: MIT */
/*
 * The system-call table pointed at libc, for programs that do not interpose
 * libc (manager, xio-stat, xio-run, tests). The only file of the stack that
 * names the libc functions the shim exports: nothing in the preload calls
 * xio_sys_use_libc(), so the linker leaves this file out of it
 * (test/fault/stack_calls_libc.sh checks that).
 */
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "sys.h"

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
		.ioctl = ioctl,
		.read = read,
		.write = write,
		.epoll_create1 = epoll_create1,
		.epoll_ctl = epoll_ctl,
		.epoll_wait = epoll_wait,
		.syscall = syscall,
	};
}
