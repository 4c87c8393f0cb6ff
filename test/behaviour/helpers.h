/* SPDX-License-Identifier: MIT */
/*
 * Tiny helpers shared by the behaviour tests. Each test is one standalone
 * program that must pass twice: run directly (kernel TCP, XIO_EXPECT=0) and
 * under xio-run (both ends of every local connection are X-IO). Assertions
 * print file:line and exit 1; every test arms a watchdog so nothing hangs.
 */
#ifndef XIO_BEHAVIOUR_HELPERS_H
#define XIO_BEHAVIOUR_HELPERS_H

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/*
 * A failed check prints file:line and exits 1. With XIO_BEH_KEEP_GOING=1 it
 * prints and goes on (the exit status is still 1): a way to list every
 * difference at once while narrowing a failure down.
 */
static int beh_failures;

static inline void beh_exit_status(void)
{
	if (beh_failures)
		_exit(1);
}

static inline void beh_failed(void)
{
	const char *k = getenv("XIO_BEH_KEEP_GOING");
	if (!k || strcmp(k, "1") != 0)
		exit(1);
	if (beh_failures++ == 0)
		atexit(beh_exit_status);
	if (beh_failures > 30) {
		fprintf(stderr, "too many failures, giving up\n");
		_exit(1);
	}
}

#define FAIL(...)                                                                                  \
	do {                                                                                       \
		fprintf(stderr, "%s:%d: FAIL: ", __FILE__, __LINE__);                              \
		fprintf(stderr, __VA_ARGS__);                                                      \
		fputc('\n', stderr);                                                               \
		beh_failed();                                                                      \
	} while (0)

/* @cond must hold. */
#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			FAIL("%s (errno %d %s)", #cond, errno, strerror(errno));                   \
	} while (0)

/* @a == @b, both integers; prints both values. */
#define CHECK_EQ(a, b)                                                                             \
	do {                                                                                       \
		long long a_ = (long long)(a), b_ = (long long)(b);                                \
		if (a_ != b_)                                                                      \
			FAIL("%s == %s: got %lld, want %lld (errno %d %s)", #a, #b, a_, b_, errno, \
			     strerror(errno));                                                     \
	} while (0)

/* A call that must succeed (>= 0); evaluates to its result. */
#define OK(call)                                                                                   \
	({                                                                                         \
		errno = 0;                                                                         \
		long long r_ = (long long)(call);                                                  \
		if (r_ < 0)                                                                        \
			FAIL("%s returned %lld, errno %d (%s)", #call, r_, errno,                  \
			     strerror(errno));                                                     \
		r_;                                                                                \
	})

/* A call that must fail with -1 and errno @err. */
#define CHECK_ERR(call, err)                                                                       \
	do {                                                                                       \
		errno = 0;                                                                         \
		long long r_ = (long long)(call);                                                  \
		int e_ = errno;                                                                    \
		if (r_ != -1 || e_ != (err))                                                       \
			FAIL("%s: got %lld errno %d (%s), want -1 errno %d (%s)", #call, r_, e_,   \
			     strerror(e_), (err), strerror(err));                                  \
	} while (0)

/* Event masks, printed in hex. */
#define CHECK_EVENTS(got, want)                                                                    \
	do {                                                                                       \
		unsigned g_ = (unsigned)(got), w_ = (unsigned)(want);                              \
		if (g_ != w_)                                                                      \
			FAIL("%s: events 0x%x, want 0x%x", #got, g_, w_);                          \
	} while (0)

/* ---- X-IO or kernel ------------------------------------------------------ */

/* 1 when the test runs under xio-run and must see X-IO fds (XIO_EXPECT unset or 1). */
static inline int xio_expected(void)
{
	const char *v = getenv("XIO_EXPECT");
	return !v || strcmp(v, "0") != 0;
}

/* xio_fd_kind(fd) from the preload, or -1 when it is not loaded. */
static inline int fd_kind(int fd)
{
	int (*f)(int) = (int (*)(int))dlsym(RTLD_DEFAULT, "xio_fd_kind");
	return f ? f(fd) : -1;
}

#define require_kind(fd, kind)                                                                     \
	do {                                                                                       \
		if (xio_expected()) {                                                              \
			int k_ = fd_kind(fd);                                                      \
			if (k_ != (kind))                                                          \
				FAIL("fd %d: xio_fd_kind %d, want %d (%s)", (int)(fd), k_, (kind), \
				     k_ < 0 ? "preload not loaded" : "not carried by X-IO");       \
		}                                                                                  \
	} while (0)

/* Fail unless @fd is an X-IO connection (skipped for the kernel run). */
#define require_xio(fd) require_kind(fd, 1)
/* Fail unless @fd is an X-IO listener (skipped for the kernel run). */
#define require_xio_listener(fd) require_kind(fd, 2)

/* ---- watchdog ------------------------------------------------------------ */

static inline void watchdog_fired(int sig)
{
	static const char m[] = "FAIL: watchdog: the test hung\n";
	(void)sig;
	(void)!write(2, m, sizeof(m) - 1);
	_exit(1);
}

/* Every test that may block calls this first: fail after @secs seconds. */
static inline void watchdog(unsigned secs)
{
	signal(SIGALRM, watchdog_fired);
	alarm(secs);
}

/* ---- sockets ------------------------------------------------------------- */

static inline struct sockaddr_in sin_of(const char *ip, uint16_t port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	CHECK(inet_pton(AF_INET, ip, &a.sin_addr) == 1);
	return a;
}

/* A TCP listener on 127.0.0.1 with a kernel-chosen port; *@port receives it. */
static inline int listen_lo(uint16_t *port)
{
	int l = OK(socket(AF_INET, SOCK_STREAM, 0));
	int one = 1;
	OK(setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)));
	struct sockaddr_in a = sin_of("127.0.0.1", 0);
	OK(bind(l, (struct sockaddr *)&a, sizeof(a)));
	OK(listen(l, 128));
	socklen_t len = sizeof(a);
	OK(getsockname(l, (struct sockaddr *)&a, &len));
	*port = ntohs(a.sin_port);
	require_xio_listener(l);
	return l;
}

/* A blocking TCP connect to 127.0.0.1:@port. */
static inline int connect_lo(uint16_t port)
{
	int c = OK(socket(AF_INET, SOCK_STREAM, 0));
	struct sockaddr_in a = sin_of("127.0.0.1", port);
	OK(connect(c, (struct sockaddr *)&a, sizeof(a)));
	return c;
}

/*
 * A connected pair inside this process: listen on 127.0.0.1:0, connect,
 * accept. Under xio-run both ends are X-IO connections (checked). The
 * listener is closed unless @lport is given (then its fd is returned there).
 */
static inline void make_pair_l(int *client, int *server, int *lfd)
{
	uint16_t port;
	int l = listen_lo(&port);
	*client = connect_lo(port);
	*server = OK(accept(l, NULL, NULL));
	require_xio(*client);
	require_xio(*server);
	if (lfd)
		*lfd = l;
	else
		close(l);
}

static inline void make_pair(int *client, int *server)
{
	make_pair_l(client, server, NULL);
}

static inline void set_nonblock(int fd, int on)
{
	int fl = OK(fcntl(fd, F_GETFL));
	OK(fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK));
}

/* Write all of @len bytes (blocking fd); fails the test on error. */
static inline void write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			FAIL("write_all fd %d: %zd errno %d (%s)", fd, n, errno, strerror(errno));
		p += n;
		len -= (size_t)n;
	}
}

/* Read exactly @len bytes (blocking fd); fails on error or early EOF. */
static inline void read_all(int fd, void *buf, size_t len)
{
	char *p = buf;
	while (len) {
		ssize_t n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			FAIL("read_all fd %d: errno %d (%s)", fd, errno, strerror(errno));
		if (n == 0)
			FAIL("read_all fd %d: EOF with %zu bytes missing", fd, len);
		p += n;
		len -= (size_t)n;
	}
}

/* A non-blocking listener on 127.0.0.1 with TCP_DEFER_ACCEPT of @secs; *@port receives its port. */
static inline int listen_lo_deferred(uint16_t *port, int secs)
{
	int l = listen_lo(port);
	OK(setsockopt(l, IPPROTO_TCP, TCP_DEFER_ACCEPT, &secs, sizeof(secs)));
	set_nonblock(l, 1);
	return l;
}

/* Accept the connection ready on listener @l, an X-IO one whose first byte must be @want. */
static inline int accept_first_byte(int l, char want)
{
	int s = OK(accept(l, NULL, NULL));
	require_xio(s);
	char b = 0;
	read_all(s, &b, 1);
	CHECK_EQ(b, want);
	return s;
}

/* One byte with room for one descriptor (SCM_RIGHTS): what send_fd() and recv_fd() pass. */
struct fd_msg {
	char byte;
	struct iovec iov;
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct msghdr m;
};

static inline struct msghdr *fd_msg_init(struct fd_msg *f, char byte)
{
	f->byte = byte;
	f->iov = (struct iovec){&f->byte, 1};
	f->m = (struct msghdr){.msg_iov = &f->iov,
			       .msg_iovlen = 1,
			       .msg_control = f->ctl.buf,
			       .msg_controllen = sizeof(f->ctl.buf)};
	return &f->m;
}

/* Pass @fd over the AF_UNIX socket @u (SCM_RIGHTS with one byte, 'F'). */
static inline void send_fd(int u, int fd)
{
	struct fd_msg f;
	struct msghdr *m = fd_msg_init(&f, 'F');
	struct cmsghdr *cm = CMSG_FIRSTHDR(m);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	CHECK_EQ(sendmsg(u, m, 0), 1);
}

/* The fd send_fd() passed on @u (-1, the test failed, if none came). */
static inline int recv_fd(int u)
{
	struct fd_msg f;
	struct msghdr *m = fd_msg_init(&f, 0);
	CHECK_EQ(recvmsg(u, m, 0), 1);
	CHECK_EQ(f.byte, 'F');
	struct cmsghdr *cm = CMSG_FIRSTHDR(m);
	CHECK(cm && cm->cmsg_type == SCM_RIGHTS);
	int fd = -1;
	if (cm)
		memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	return fd;
}

/* Non-blocking send of as much as fits: fill the path until EAGAIN. Returns bytes sent. */
static inline size_t fill_until_eagain(int fd)
{
	static char junk[65536];
	size_t total = 0;
	for (;;) {
		ssize_t n = send(fd, junk, sizeof(junk), MSG_DONTWAIT);
		if (n > 0) {
			total += (size_t)n;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return total;
		FAIL("fill_until_eagain fd %d: %zd errno %d (%s)", fd, n, errno, strerror(errno));
	}
}

/* Read and discard everything available now (non-blocking). Returns bytes read. */
static inline size_t drain_now(int fd)
{
	static char junk[65536];
	size_t total = 0;
	for (;;) {
		ssize_t n = recv(fd, junk, sizeof(junk), MSG_DONTWAIT);
		if (n > 0) {
			total += (size_t)n;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return total;
		if (n == 0)
			return total;
		FAIL("drain_now fd %d: errno %d (%s)", fd, errno, strerror(errno));
	}
}

/* ---- byte patterns --------------------------------------------------------- */

/* Byte @i of the stream with @seed: position-dependent, so loss or reordering shows. */
static inline unsigned char pat(uint64_t i, unsigned seed)
{
	uint64_t x = (i + 1) * 0x9e3779b97f4a7c15ull ^ seed;
	return (unsigned char)(x >> 56 ^ x >> 23 ^ i);
}

static inline void pat_fill(void *buf, size_t len, uint64_t off, unsigned seed)
{
	unsigned char *p = buf;
	for (size_t i = 0; i < len; i++)
		p[i] = pat(off + i, seed);
}

/* Fails with the first wrong position. */
static inline void pat_check(const void *buf, size_t len, uint64_t off, unsigned seed)
{
	const unsigned char *p = buf;
	for (size_t i = 0; i < len; i++)
		if (p[i] != pat(off + i, seed))
			FAIL("byte %llu of the stream: 0x%02x, want 0x%02x",
			     (unsigned long long)(off + i), p[i], pat(off + i, seed));
}

/* ---- processes and time ------------------------------------------------------ */

/*
 * fork() for tests: the child is killed when its parent dies (a parent that
 * fails or hits its watchdog leaves no orphan behind; this survives exec)
 * and has a watchdog of its own (alarms are not inherited).
 */
static inline pid_t fork_child(void)
{
	pid_t parent = getpid();
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		watchdog(25);
	}
	return pid;
}

/* Wait for @pid and fail unless it exited with status 0. */
static inline void wait_ok(pid_t pid)
{
	int st;
	pid_t r;
	while ((r = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
		;
	CHECK_EQ(r, pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		FAIL("child %d: %s %d", (int)pid, WIFEXITED(st) ? "exit" : "signal",
		     WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
}

static inline int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

#endif
