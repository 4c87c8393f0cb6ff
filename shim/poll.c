/* SPDX-License-Identifier: MIT */
/*
 * poll/ppoll/select/pselect over a mix of X-IO and kernel fds.
 *
 * X-IO readiness comes from ring state (xio_conn_ready); to sleep we ask the
 * kernel for POLLIN on the connection's AF_UNIX fd, which is where doorbells
 * and EOF arrive, and for the AF_UNIX rendezvous listener next to an X-IO
 * TCP listener. select is poll with bit sets converted on the way in and out.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "shim.h"
#include "wait.h"

#define STACK_FDS 64

/* What each application pollfd became in the kernel set. */
struct pmap {
	struct fd_entry *e; /* NULL: kernel fd, passed through */
	int helper_idx;	    /* listener: index of its helper in the kernel set */
	bool lone;	    /* connection: our sleep announced alone (xio_conn_wait_prepare) */
};

/*
 * A demoted connection whose switch is over: its readiness is its socket's
 * alone (xio_conn_plain), the kernel's poll answers for it, unless urgent
 * data came through X-IO (demote.c corrects POLLIN for a lone urgent byte).
 */
static bool plain(struct fd_entry *e)
{
	return e->kind == FD_CONN && xio_conn_plain(e->conn) && !xio_conn_urgent(e->conn);
}

/* Ring readiness of the X-IO entries into fds[].revents; returns how many are ready. */
static int scan_conns(struct pollfd *fds, nfds_t n, const struct pmap *m)
{
	int ready = 0;
	for (nfds_t i = 0; i < n; i++) {
		if (!m[i].e || m[i].e->kind != FD_CONN)
			continue;
		xio_conn_note_fd(m[i].e->conn, fds[i].fd); /* a demoted one asks its socket */
		unsigned ev = xio_conn_ready(m[i].e->conn);
		fds[i].revents = (short)(ev & ((unsigned)fds[i].events | POLLERR | POLLHUP));
		ready += fds[i].revents != 0;
	}
	return ready;
}

/* Announce (on) or withdraw the sleep; drain doorbells only where the kernel saw some. */
static void prepare(struct pollfd *fds, const struct pollfd *k, nfds_t n, struct pmap *m, bool on)
{
	for (nfds_t i = 0; i < n; i++)
		if (m[i].e && m[i].e->kind == FD_CONN) {
			unsigned want = (unsigned)fds[i].events & (POLLIN | POLLOUT);
			if (on)
				m[i].lone = xio_conn_wait_prepare(m[i].e->conn, want);
			else
				xio_conn_wait_finish(m[i].e->conn, k[i].revents ? fds[i].fd : -1,
						     want, m[i].lone);
		}
}

/*
 * After the peer's close a connection's socket reads EOF for good: asking
 * the kernel for POLLIN there would return at once, forever (F8). Such a
 * socket is watched for HUP/ERR only. Nobody can ring it either, so a writer
 * waiting for room re-checks the ring in slices: returns whether one does.
 * (A FIN alone travels in the slot and leaves the socket working.)
 */
static bool quiet_eof(const struct pollfd *fds, struct pollfd *k, nfds_t n, const struct pmap *m)
{
	bool slices = false;
	for (nfds_t i = 0; i < n; i++) {
		if (!m[i].e || m[i].e->kind != FD_CONN)
			continue;
		if (xio_conn_is_demoted(m[i].e->conn)) {
			k[i].events =
			    fds[i].events; /* the kernel's readiness is the connection's */
			continue;
		}
		bool eof = xio_conn_sock_eof(m[i].e->conn);
		k[i].events = eof ? 0 : POLLIN;
		slices = slices || (eof && (fds[i].events & POLLOUT));
	}
	return slices;
}

/*
 * The most common poll of all (a runtime's timeout socket: one fd, no mask):
 * wait through the connection, where threads that poll the same fd for
 * reading and for writing cannot take each other's doorbells.
 */
static int poll_one(struct fd_entry *e, struct pollfd *p, const struct timespec *timeout)
{
	int64_t deadline =
	    timeout ? xio_mono_ns() + timeout->tv_sec * 1000000000LL + timeout->tv_nsec : -1;
	unsigned want = (unsigned)p->events | POLLERR | POLLHUP;
	xio_conn_note_fd(e->conn, p->fd); /* a demoted one asks its socket */
	for (;;) {
		unsigned ev = xio_conn_ready(e->conn) & want;
		if (ev) {
			p->revents = (short)ev;
			return 1;
		}
		int ms = -1;
		if (deadline >= 0) {
			int64_t left = deadline - xio_mono_ns();
			if (left <= 0) {
				p->revents = 0;
				return 0;
			}
			ms = (int)((left + 999999) / 1000000);
		}
		int r = xio_conn_wait(e->conn, p->fd, (unsigned)p->events, ms);
		if (r == -EINTR) {
			errno = EINTR;
			return -1;
		}
	}
}

/* poll's front-end of the readiness engine (stack/wait.h). */
struct poll_waiter {
	struct xio_waiter w;
	struct pollfd *fds, *k; /* the caller's set; the kernel's (conns ask for doorbells) */
	struct pmap *m;
	nfds_t n, nk;
	bool only_conns; /* nothing but X-IO fds: ready ones need no syscall */
	const sigset_t *mask;
};

static int pw_scan(struct xio_waiter *w)
{
	struct poll_waiter *p = (struct poll_waiter *)w;
	return scan_conns(p->fds, p->n, p->m);
}

static bool pw_announce(struct xio_waiter *w)
{
	struct poll_waiter *p = (struct poll_waiter *)w;
	prepare(p->fds, p->k, p->n, p->m, true);
	/* Another waiter on one of our sockets may drain our doorbell: slices (as epoll). */
	bool company = false;
	for (nfds_t i = 0; i < p->n && !company; i++)
		if (p->m[i].e && p->m[i].e->kind == FD_CONN &&
		    !xio_conn_is_demoted(p->m[i].e->conn))
			company = xio_conn_has_company(p->m[i].e->conn);
	return company;
}

static bool pw_quiet_eof(struct xio_waiter *w)
{
	struct poll_waiter *p = (struct poll_waiter *)w;
	return quiet_eof(p->fds, p->k, p->n, p->m);
}

static int pw_sleep(struct xio_waiter *w, const struct timespec *tp, int ready)
{
	struct poll_waiter *p = (struct poll_waiter *)w;
	if (ready && p->only_conns) {
		/*
		 * No kernel fd to merge, but a close is news only the sockets hold:
		 * look at most once a millisecond (as the send path does), or a set
		 * with one fd always ready never learns that another's peer died.
		 */
		static _Atomic int64_t looked;
		int64_t now = xio_mono_ns();
		if (now - atomic_load_explicit(&looked, memory_order_relaxed) < 1000000)
			return 0;
		atomic_store_explicit(&looked, now, memory_order_relaxed);
	}
	/*
	 * With X-IO fds already ready this is only a merge pass: like the
	 * kernel, which restores the mask unless it returns EINTR, it must not
	 * let the caller's mask deliver a pending signal.
	 */
	int r = real.ppoll(p->k, p->nk, tp, ready ? NULL : p->mask);
	if (r < 0 && ready) {
		for (nfds_t i = 0; i < p->nk; i++)
			p->k[i].revents = 0;
		return 0;
	}
	return r;
}

static int pw_finish(struct xio_waiter *w, int ready, int kr, bool announced)
{
	struct poll_waiter *p = (struct poll_waiter *)w;
	struct pollfd *fds = p->fds, *k = p->k;
	struct pmap *m = p->m;
	(void)ready;
	if (announced) {
		prepare(fds, k, p->n, m, false);
		/*
		 * HUP cannot be masked and stays: the peer gone, the socket has
		 * nothing more to tell us once drained to its EOF (a drain may stop
		 * at doorbell bytes before it) (F8).
		 */
		for (nfds_t i = 0; i < p->n; i++)
			if (m[i].e && m[i].e->kind == FD_CONN && (k[i].revents & POLLHUP) &&
			    xio_conn_sock_eof(m[i].e->conn))
				k[i].fd = -1;
	}
	if (kr < 0)
		return 0;
	/*
	 * A merge pass (X-IO fds were ready before any sleep) drains too: a
	 * socket the kernel reports readable may hold the peer's close, which
	 * only a drain learns. Without it a set with one connection always
	 * ready would never learn that another one's peer died (F18: iperf3 -s
	 * spinning on its streams' EOF, its control connection never reported).
	 */
	if (!announced && kr > 0)
		for (nfds_t i = 0; i < p->n; i++)
			if (m[i].e && m[i].e->kind == FD_CONN && k[i].revents)
				xio_conn_drain(m[i].e->conn, fds[i].fd, false);
	int count = 0;
	for (nfds_t i = 0; i < p->n; i++) {
		if (m[i].e && m[i].e->kind == FD_CONN) {
			unsigned ev = xio_conn_ready(m[i].e->conn);
			fds[i].revents =
			    (short)(ev & ((unsigned)fds[i].events | POLLERR | POLLHUP));
		} else if (m[i].e && m[i].e->kind == FD_LISTENER) {
			fds[i].revents = k[i].revents;
			if ((k[m[i].helper_idx].revents & POLLIN) &&
			    xio_listener_acceptable(m[i].e->listener, fds[i].fd))
				fds[i].revents |= (short)(fds[i].events & (POLLIN | POLLRDNORM));
		} else {
			fds[i].revents = k[i].revents;
		}
		count += fds[i].revents != 0;
	}
	return count;
}

int shim_poll(struct pollfd *fds, nfds_t n, const struct timespec *timeout, const sigset_t *mask)
{
	struct pmap mstack[STACK_FDS], *m = mstack;
	struct pollfd kstack[STACK_FDS * 2], *k = kstack;
	nfds_t extra = 0;
	int result = -1;

	bool mixed = false;
	for (nfds_t i = 0; i < n; i++) {
		struct fd_entry *e = fds[i].fd >= 0 ? shim_entry(fds[i].fd) : NULL;
		if (e && e->kind == FD_EPOLL)
			shim_epoll_nested(
			    fds[i].fd); /* its kernel readiness must follow the rings */
		else if (e && !plain(e))
			mixed = true;
	}
	if (!mixed)
		return real.ppoll(fds, n, timeout, mask);
	if (n == 1 && !mask) {
		struct fd_entry *e = shim_entry(fds[0].fd);
		if (e && e->kind == FD_CONN)
			return poll_one(e, &fds[0], timeout);
	}

	if (n > STACK_FDS) {
		m = calloc(n, sizeof(*m));
		k = calloc(n * 2, sizeof(*k));
		if (!m || !k) {
			free(m);
			free(k);
			errno = ENOMEM;
			return -1;
		}
	}
	extra = 0;
	for (nfds_t i = 0; i < n; i++) {
		struct fd_entry *e = fds[i].fd >= 0 ? shim_entry(fds[i].fd) : NULL;
		if (e && (e->kind == FD_EPOLL || plain(e)))
			e = NULL; /* a kernel fd for poll's purposes (shim_epoll_nested, plain) */
		m[i].e = e;
		k[i] = fds[i];
		k[i].revents = 0;
		if (e && e->kind == FD_CONN) {
			k[i].events = POLLIN; /* doorbells and EOF */
		} else if (e && e->kind == FD_LISTENER) {
			m[i].helper_idx = (int)(n + extra);
			k[n + extra] = (struct pollfd){.fd = xio_listener_helper_fd(e->listener),
						       .events = POLLIN};
			extra++;
		}
	}
	struct poll_waiter pw = {
	    .w = {.scan = pw_scan,
		  .announce = pw_announce,
		  .quiet_eof = pw_quiet_eof,
		  .sleep = pw_sleep,
		  .finish = pw_finish,
		  .deadline_ns =
		      timeout ? xio_mono_ns() + timeout->tv_sec * 1000000000LL + timeout->tv_nsec
			      : -1},
	    .fds = fds,
	    .k = k,
	    .m = m,
	    .n = n,
	    .nk = n + extra,
	    .only_conns = true,
	    .mask = mask};
	for (nfds_t i = 0; i < n; i++) {
		pw.only_conns = pw.only_conns && m[i].e && m[i].e->kind == FD_CONN;
		if (m[i].e && m[i].e->kind == FD_CONN) {
			int s = xio_conn_spin_us(m[i].e->conn);
			pw.w.spin_us = s > pw.w.spin_us ? s : pw.w.spin_us;
		}
	}
	result = xio_wait(&pw.w);
	if (m != mstack) {
		free(m);
		free(k);
	}
	return result;
}

static struct timespec ms_to_ts(int ms)
{
	return (struct timespec){.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
}

XIO_EXPORT int poll(struct pollfd *fds, nfds_t n, int ms)
{
	SHIM_INIT();
	struct timespec ts = ms_to_ts(ms);
	return shim_poll(fds, n, ms < 0 ? NULL : &ts, NULL);
}

XIO_EXPORT int __poll_chk(struct pollfd *fds, nfds_t n, int ms, size_t fdslen)
{
	if (fdslen / sizeof(*fds) < n)
		abort();
	return poll(fds, n, ms);
}

XIO_EXPORT int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *ts,
			   const sigset_t *mask, size_t fdslen)
{
	if (fdslen / sizeof(*fds) < n)
		abort();
	return ppoll(fds, n, ts, mask);
}

XIO_EXPORT int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *ts, const sigset_t *mask)
{
	SHIM_INIT();
	if (ts && (ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000)) {
		errno = EINVAL;
		return -1;
	}
	return shim_poll(fds, n, ts, mask);
}

/*
 * fd_set bits, addressed without assuming the set is FD_SETSIZE bits long:
 * callers may allocate sets of just nfds bits (libevent does), or more.
 */
#define NFDBITS_ (8 * (int)sizeof(unsigned long))
static bool bit_get(const fd_set *s, int fd)
{
	return (((const unsigned long *)s)[fd / NFDBITS_] >> (fd % NFDBITS_)) & 1ul;
}

static void bit_put(fd_set *s, int fd, bool on)
{
	unsigned long *w = &((unsigned long *)s)[fd / NFDBITS_], m = 1ul << (fd % NFDBITS_);
	*w = on ? (*w | m) : (*w & ~m);
}

/* select as poll: only when an X-IO fd is in the sets, else straight to libc. */
static int select_common(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, const struct timespec *ts,
			 const sigset_t *mask, struct timeval *tv_update)
{
	struct pollfd stack[STACK_FDS], *p = stack;
	int n = 0;
	bool any = false;

	if (nfds < 0) {
		errno = EINVAL;
		return -1;
	}
	for (int fd = 0; fd < nfds; fd++) {
		bool in =
		    (rd && bit_get(rd, fd)) || (wr && bit_get(wr, fd)) || (ex && bit_get(ex, fd));
		if (in) {
			n++;
			struct fd_entry *e = shim_entry(fd);
			if (e && e->kind == FD_EPOLL)
				shim_epoll_nested(fd);
			else
				any = any || (e && !plain(e));
		}
	}
	if (!any)
		return -2; /* caller passes to libc */
	if (n > STACK_FDS && !(p = calloc((size_t)n, sizeof(*p)))) {
		errno = ENOMEM;
		return -1;
	}
	n = 0;
	for (int fd = 0; fd < nfds; fd++) {
		short ev = 0;
		if (rd && bit_get(rd, fd))
			ev |= POLLIN;
		if (wr && bit_get(wr, fd))
			ev |= POLLOUT;
		if (ex && bit_get(ex, fd))
			ev |= POLLPRI;
		if (ev)
			p[n++] = (struct pollfd){.fd = fd, .events = ev};
	}
	int64_t start = xio_mono_ns();
	int r = shim_poll(p, (nfds_t)n, ts, mask);
	if (r >= 0) {
		for (int i = 0; i < n; i++)
			if (p[i].revents & POLLNVAL) {
				errno = EBADF;
				r = -1;
			}
	}
	if (r >= 0) {
		r = 0;
		for (int i = 0; i < n; i++) {
			short re = p[i].revents;
			bool in = (p[i].events & POLLIN) && (re & (POLLIN | POLLHUP | POLLERR));
			bool out = (p[i].events & POLLOUT) && (re & (POLLOUT | POLLERR));
			bool pri = (p[i].events & POLLPRI) && (re & POLLPRI);
			if (rd && (p[i].events & POLLIN))
				bit_put(rd, p[i].fd, in);
			if (wr && (p[i].events & POLLOUT))
				bit_put(wr, p[i].fd, out);
			if (ex && (p[i].events & POLLPRI))
				bit_put(ex, p[i].fd, pri);
			r += in + out + pri;
		}
	}
	if (tv_update && ts) {
		/* Linux select() writes back the time left. */
		int64_t left = ts->tv_sec * 1000000000LL + ts->tv_nsec - (xio_mono_ns() - start);
		if (left < 0)
			left = 0;
		tv_update->tv_sec = left / 1000000000;
		tv_update->tv_usec = (left % 1000000000) / 1000;
	}
	if (p != stack)
		free(p);
	return r;
}

XIO_EXPORT int select(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, struct timeval *tv)
{
	SHIM_INIT();
	if (tv && (tv->tv_sec < 0 || tv->tv_usec < 0)) {
		errno = EINVAL;
		return -1;
	}
	struct timespec ts;
	if (tv)
		ts = (struct timespec){.tv_sec = tv->tv_sec, .tv_nsec = tv->tv_usec * 1000};
	int r = select_common(nfds, rd, wr, ex, tv ? &ts : NULL, NULL, tv);
	return r == -2 ? real.select(nfds, rd, wr, ex, tv) : r;
}

XIO_EXPORT int pselect(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, const struct timespec *ts,
		       const sigset_t *mask)
{
	SHIM_INIT();
	int r = select_common(nfds, rd, wr, ex, ts, mask, NULL);
	return r == -2 ? real.pselect(nfds, rd, wr, ex, ts, mask) : r;
}
