/* SPDX-License-Identifier: MIT */
/* Resolution of the interposed libc functions (dlsym RTLD_NEXT). */
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "shim.h"
#include "sys.h"

struct real_fns real;
int shim_ready;

static pthread_once_t once = PTHREAD_ONCE_INIT;

#define RESOLVE(name)                                                                              \
	do {                                                                                       \
		*(void **)&real.name = dlsym(RTLD_NEXT, #name);                                    \
	} while (0)

static void resolve(void)
{
	RESOLVE(socket);
	RESOLVE(close);
	RESOLVE(bind);
	RESOLVE(listen);
	RESOLVE(connect);
	RESOLVE(accept);
	RESOLVE(accept4);
	RESOLVE(read);
	RESOLVE(write);
	RESOLVE(readv);
	RESOLVE(writev);
	RESOLVE(recv);
	RESOLVE(send);
	RESOLVE(recvfrom);
	RESOLVE(sendto);
	RESOLVE(recvmsg);
	RESOLVE(sendmsg);
	RESOLVE(sendmmsg);
	RESOLVE(recvmmsg);
	RESOLVE(poll);
	RESOLVE(ppoll);
	RESOLVE(select);
	RESOLVE(pselect);
	RESOLVE(epoll_create);
	RESOLVE(epoll_create1);
	RESOLVE(epoll_ctl);
	RESOLVE(epoll_wait);
	RESOLVE(epoll_pwait);
	RESOLVE(epoll_pwait2);
	RESOLVE(getsockopt);
	RESOLVE(setsockopt);
	RESOLVE(getsockname);
	RESOLVE(getpeername);
	RESOLVE(fcntl);
	RESOLVE(ioctl);
	RESOLVE(dup);
	RESOLVE(dup2);
	RESOLVE(dup3);
	RESOLVE(shutdown);
	RESOLVE(close_range);

	xio_sys = (struct xio_sys){
		.socket = real.socket,
		.close = real.close,
		.bind = real.bind,
		.listen = real.listen,
		.connect = real.connect,
		.accept4 = real.accept4,
		.recv = real.recv,
		.send = real.send,
		.recvmsg = real.recvmsg,
		.sendmsg = real.sendmsg,
		.poll = real.poll,
		.getsockopt = real.getsockopt,
		.setsockopt = real.setsockopt,
		.getsockname = real.getsockname,
		.getpeername = real.getpeername,
		.fcntl = real.fcntl,
		.dup3 = real.dup3,
		.shutdown = real.shutdown,
		.ioctl = real.ioctl,
		.read = real.read,
		.write = real.write,
		.epoll_create1 = real.epoll_create1,
		.epoll_ctl = real.epoll_ctl,
		.epoll_wait = real.epoll_wait,
	};
	*(void **)&xio_sys.syscall = dlsym(RTLD_NEXT, "syscall");
	__atomic_store_n(&shim_ready, 1, __ATOMIC_RELEASE);
}

void *shim_next(const char *name)
{
	return dlsym(RTLD_NEXT, name);
}

void shim_init(void)
{
	pthread_once(&once, resolve);
}

__attribute__((constructor)) static void shim_constructor(void)
{
	shim_init();
}
