/* SPDX-License-Identifier: MIT */
/*
 * Demotion of an X-IO connection to an in-band byte stream (docs/DESIGN.md,
 * "Demotion"). The app-visible fd of a connection is one end of a connected
 * AF_UNIX stream that carries only doorbell bytes. When that fd is about to
 * reach code that does not know X-IO (SCM_RIGHTS to a process that is not
 * preloaded, exec of a static program), the end that lets it go — the
 * demoter, D — turns the connection into what the AF_UNIX pair is anyway: a
 * byte stream. The other end — the peer, P — is preloaded and cooperates.
 *
 * The hard part is the doorbell bytes already queued in both sockets: none
 * may ever be read as data. They are counted exactly. Every doorbell sent
 * from an end's socket passes a gate (demote.bell_gate[end]) and is counted
 * in bells_sent[end] inside it; every drain of an end's socket passes
 * drain_gate[end] and counts what it consumed in bells_read[end]. A gate word
 * is a "closed" bit plus the number of operations inside. Once D has closed
 * all four gates and seen them empty, no doorbell will be sent or drained
 * again by anyone, and each socket holds exactly
 *     skip[e] = bells_sent[other end] - bells_read[e]
 * doorbell bytes ahead of any data that will follow them.
 *
 * D, holding its own send lock and receive lock (so no ring operation of its
 * side straddles the switch):
 *   1. closes the four gates and waits for them to drain (bounded);
 *   2. sends one last counted byte to wake P, computes skip[] for both ends,
 *      publishes who = D and state = ACTIVE;
 *   3. consumes its own skip[D] bytes from its socket (they are all there:
 *      an AF_UNIX send is in the peer's queue when it returns);
 *   4. unlocks and waits (bounded, XIO_DEMOTE_WAIT_MS, 1 s) until P says it
 *      has copied its send ring in-band ("moved"), unless P lives in this
 *      very process (it does so on its next call then).
 * From then on D's side never touches the rings: every call is the kernel's.
 * What D wrote into its send ring before the switch stays there for P.
 *
 * P notices ACTIVE on its next call or when the wake byte wakes its waiter
 * (poll, epoll, a blocked read or write), and then:
 *   - under its send lock, copies what is left unread in its send ring (D's
 *     receive ring, rd_off respected) in-band, in order, then sets "moved";
 *     later writes go in-band after it;
 *   - under its receive lock, consumes exactly skip[P] bytes from its socket
 *     (D's doorbells), then reads its receive ring until it is empty (D put
 *     nothing there after ACTIVE) and from then on the socket.
 * Bytes are neither lost, duplicated nor reordered: each direction is
 * [ring remainder][in-band] in both the writer's and the reader's view.
 *
 * When it cannot be done exactly (a gate or lock held by a dead process, the
 * peer gone with bytes still in its ring) the connection is reset instead:
 * state FAILED (P gets ECONNRESET), and D's fd is replaced by a socket whose
 * next read or write fails with ECONNRESET. Never silent corruption.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "demote.h"
#include "ring.h"
#include "sys.h"

#define WAIT_MS_DEFAULT 1000
#define CHUNK		(64 * 1024)

static void nap_us(long us)
{
	struct timespec ts = {0, us * 1000};
	nanosleep(&ts, NULL);
}

static int wait_ms(void)
{
	const char *v = secure_getenv("XIO_DEMOTE_WAIT_MS");
	int ms = v && *v ? atoi(v) : WAIT_MS_DEFAULT;
	return ms < 0 ? 0 : ms;
}

static inline struct xio_demote *dm(const struct xio_conn *c)
{
	return &c->slot->demote;
}

static inline int end_of(const struct xio_conn *c)
{
	return c->server ? 1 : 0;
}

/* ---- gates ------------------------------------------------------------------ */

static bool gate_enter(_Atomic uint64_t *g)
{
	uint64_t v = atomic_load(g);
	do {
		if (v & XIO_GATE_CLOSED)
			return false;
	} while (!atomic_compare_exchange_weak(g, &v, v + 1));
	return true;
}

static void gate_exit(_Atomic uint64_t *g)
{
	atomic_fetch_sub(g, 1);
}

/* Close @g and wait until nobody is inside; false at @deadline (a holder died inside). */
static bool gate_close(_Atomic uint64_t *g, uint64_t deadline)
{
	atomic_fetch_or(g, XIO_GATE_CLOSED);
	while ((atomic_load(g) & ~XIO_GATE_CLOSED) != 0) {
		if (xio_mono_us() > deadline)
			return false;
		nap_us(20);
	}
	return true;
}

ssize_t xio_demote_bell(struct xio_conn *c, int fd, int flags)
{
	static const char bell = 0;
	int me = end_of(c);
	if (!gate_enter(&dm(c)->bell_gate[me]))
		return 0;
	ssize_t n = xio_sys.send(fd, &bell, 1, flags);
	if (n == 1)
		atomic_fetch_add(&dm(c)->bells_sent[me], 1);
	gate_exit(&dm(c)->bell_gate[me]);
	return n;
}

bool xio_demote_drain_enter(struct xio_conn *c)
{
	return gate_enter(&dm(c)->drain_gate[end_of(c)]);
}

void xio_demote_drain_exit(struct xio_conn *c, uint64_t bytes)
{
	int me = end_of(c);
	if (bytes)
		atomic_fetch_add(&dm(c)->bells_read[me], bytes);
	gate_exit(&dm(c)->drain_gate[me]);
}

/* ---- helpers -------------------------------------------------------------------- */

/* Take a robust process-shared lock, waiting at most @ms (-1: forever); 0 or -errno. */
static int lock_robust(pthread_mutex_t *m, int ms, struct rte_ring_headtail *rollback)
{
	int e;
	if (ms < 0) {
		e = pthread_mutex_lock(m);
	} else if (ms == 0) {
		e = pthread_mutex_trylock(m);
	} else {
		struct timespec ts = xio_deadline_ts(CLOCK_REALTIME, (uint64_t)ms * 1000000u);
		e = pthread_mutex_timedlock(m, &ts);
	}
	if (e == EOWNERDEAD) {
		pthread_mutex_consistent(m);
		e = 0;
	}
	if (e == 0 && rollback)
		rollback->head = rollback->tail; /* a dead holder's half operation */
	return -e;
}

/* Is @fd (still) a descriptor of our end's socket? */
static bool fd_is_ours(const struct xio_conn *c, int fd)
{
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode))
		return false;
	uint64_t ino =
	    c->server ? atomic_load(&c->slot->server_ino) : atomic_load(&c->slot->client_ino);
	return (uint64_t)st.st_ino == ino;
}

/* c->fd_hint holds 1 + an fd this process used on the connection, 0 when none yet. */
static int hint_fd(struct xio_conn *c)
{
	int fd = atomic_load_explicit(&c->fd_hint, memory_order_relaxed) - 1;
	return fd_is_ours(c, fd) ? fd : -1;
}

static void note_fd(struct xio_conn *c, int fd)
{
	if (fd >= 0)
		atomic_store_explicit(&c->fd_hint, fd + 1, memory_order_relaxed);
}

/* Send all of @buf in-band, whatever O_NONBLOCK says, until @deadline (0: none). */
static int send_all(int fd, const char *buf, size_t len, uint64_t deadline)
{
	while (len > 0) {
		if (deadline && xio_mono_us() > deadline)
			return -ETIMEDOUT;
		ssize_t n = xio_sys.send(fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			struct pollfd p = {.fd = fd, .events = POLLOUT};
			xio_sys.poll(&p, 1, 100);
			continue;
		}
		return n < 0 ? -errno : -EIO;
	}
	return 0;
}

/*
 * Consume exactly skip[@end] doorbell bytes from our socket @fd. They were
 * all queued before the gates closed, so waiting for them is only a
 * formality. Caller holds the receive lock of the direction toward us.
 */
static int skip_bells(struct xio_conn *c, int fd, int end, bool may_wait)
{
	struct xio_demote *d = dm(c);
	char buf[512];

	if (atomic_load(&d->skipped[end]))
		return 0;
	uint64_t left = atomic_load(&d->skip[end]);
	uint64_t deadline = xio_mono_us() + 1000000;
	while (left > 0) {
		ssize_t n =
		    xio_sys.recv(fd, buf, left < sizeof(buf) ? left : sizeof(buf), MSG_DONTWAIT);
		if (n > 0) {
			left -= (uint64_t)n;
			atomic_store(&d->skip[end], left);
			continue;
		}
		if (n == 0)
			break; /* the other side closed: nothing follows */
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN || !may_wait || xio_mono_us() > deadline)
			return errno == EAGAIN && !may_wait ? -EAGAIN : -EPROTO;
		struct pollfd p = {.fd = fd, .events = POLLIN};
		xio_sys.poll(&p, 1, 10);
	}
	atomic_store(&d->skipped[end], 1);
	return 0;
}

/*
 * Peer: copy what is left unread in our send ring in-band, in order. Caller
 * holds our send lock; we take the ring's receive lock, which the demoted
 * side no longer uses.
 */
static int move_tx(struct xio_conn *c, int fd, uint64_t deadline)
{
	struct xio_demote *d = dm(c);
	if (atomic_load(&d->moved))
		return 0;
	int r = lock_robust(&c->txd->rlock, 2000, &c->tx->cons);
	if (r < 0)
		return r;
	if (atomic_load(&d->moved)) {
		pthread_mutex_unlock(&c->txd->rlock);
		return 0;
	}
	if (!xio_ring_sane(c->tx, c->elems)) {
		pthread_mutex_unlock(&c->txd->rlock);
		return -EPROTO;
	}
	/* Room for a whole ring in the socket: the copy must not wait for a reader. */
	int sz = (int)(c->elems * XIO_RING_ESIZE * 2 + CHUNK);
	if (xio_sys.setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)) < 0)
		xio_sys.setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	char *buf = malloc(CHUNK);
	r = buf ? 0 : -ENOMEM;
	while (r == 0) {
		struct iovec v = {buf, CHUNK};
		struct xio_iov_cursor cur;
		xio_cursor_init(&cur, &v, 1);
		ssize_t n = xio_ring_get(c->tx, &c->txd->rd_off, &cur, CHUNK, false);
		if (n < 0)
			r = -EPROTO;
		if (n <= 0)
			break;
		int s = send_all(fd, buf, (size_t)n, deadline);
		if (s == -EPIPE || s == -ECONNRESET)
			continue; /* nobody reads any more: dropped, as TCP would */
		r = s;
	}
	free(buf);
	if (r == 0) {
		atomic_store(&d->moved, 1);
		/* Our FIN was in the slot: in-band it is the kernel's, after the bytes. */
		if (atomic_load(&c->txd->shut_wr))
			xio_sys.shutdown(fd, SHUT_WR);
	}
	pthread_mutex_unlock(&c->txd->rlock);
	return r;
}

/* This process changed the state: its calls are in-band from now on (conn.h, xio_conn_ops). */
static void go_in_band(struct xio_conn *c)
{
	atomic_store_explicit(&c->ops, &xio_demote_ops, memory_order_release);
}

static void fail(struct xio_conn *c, const char *why)
{
	atomic_store(&dm(c)->state, XIO_DEMOTE_FAILED);
	go_in_band(c);
	if (!atomic_exchange(&c->reset, true))
		atomic_store(&c->error, ECONNRESET);
	xio_log(1, "demotion failed (%s): connection reset", why);
}

static bool is_demoter(const struct xio_conn *c)
{
	return atomic_load(&dm(c)->who) == (uint32_t)end_of(c);
}

void xio_demote_poke(struct xio_conn *c, int fd)
{
	struct xio_demote *d = dm(c);
	if (fd < 0 || atomic_load(&d->state) != XIO_DEMOTE_ACTIVE || is_demoter(c))
		return;
	note_fd(c, fd);
	int me = end_of(c);
	if (!atomic_load(&d->skipped[me]) && lock_robust(&c->rxd->rlock, 0, &c->rx->cons) == 0) {
		if (skip_bells(c, fd, me, false) == -EPROTO)
			fail(c, "doorbells");
		pthread_mutex_unlock(&c->rxd->rlock);
	}
	if (!atomic_load(&d->moved) && lock_robust(&c->txd->wlock, 0, &c->tx->prod) == 0) {
		if (move_tx(c, fd, 0) < 0)
			fail(c, "ring copy");
		pthread_mutex_unlock(&c->txd->wlock);
	}
}

/*
 * The peer lets go of the connection (its last fd here, or exit): what is left
 * in its send ring must reach the socket before the EOF, and the doorbells
 * queued for it must go (a socket closed with unread bytes resets its peer).
 */
static void settle(struct xio_conn *c, int fd, int ms, uint64_t deadline)
{
	struct xio_demote *d = dm(c);
	int me = end_of(c);
	if (fd < 0 || atomic_load(&d->state) != XIO_DEMOTE_ACTIVE || is_demoter(c))
		return;
	if (!atomic_load(&d->moved) && lock_robust(&c->txd->wlock, ms, &c->tx->prod) == 0) {
		if (move_tx(c, fd, deadline) < 0)
			fail(c, "ring copy");
		pthread_mutex_unlock(&c->txd->wlock);
	}
	if (!atomic_load(&d->skipped[me]) && lock_robust(&c->rxd->rlock, ms, &c->rx->cons) == 0) {
		skip_bells(c, fd, me, true);
		pthread_mutex_unlock(&c->rxd->rlock);
	}
}

void xio_demote_before_close(struct xio_conn *c, int fd)
{
	settle(c, fd, wait_ms(), 0);
}

/* At exit: a peer that never called again still owes its ring's bytes to the socket. */
static void flush_at_exit(void *conn)
{
	struct xio_conn *c = conn;
	settle(c, hint_fd(c), 1000, xio_mono_us() + 2000000);
}

__attribute__((destructor)) static void demote_at_exit(void)
{
	xio_conns_each(flush_at_exit);
}

/* ---- the data path of a demoted connection --------------------------------------- */

bool xio_conn_plain(struct xio_conn *c)
{
	if (__builtin_expect(atomic_load_explicit(&c->plain, memory_order_acquire), 1))
		return true;
	if (!xio_conn_in_band(c))
		return false;
	struct xio_demote *d = dm(c);
	/*
	 * Both parts done: the peer's ring copy (moved) and our doorbell skip. A
	 * failure is only ever declared while one of them is still to be done.
	 * The demoter's receive ring is the peer's send ring, copied in-band by
	 * the peer: only the other end still reads a ring remainder.
	 */
	if (atomic_load(&d->state) != XIO_DEMOTE_ACTIVE || !atomic_load(&d->moved) ||
	    !atomic_load(&d->skipped[end_of(c)]) || (!is_demoter(c) && !xio_ring_empty(c->rx)))
		return false;
	atomic_store_explicit(&c->plain, true, memory_order_release);
	return true;
}

bool xio_conn_urgent(struct xio_conn *c)
{
	return atomic_load_explicit(&dm(c)->urgent, memory_order_relaxed) != 0;
}

static ssize_t failed(struct xio_conn *c)
{
	if (!atomic_exchange(&c->reset, true))
		atomic_store(&c->error, ECONNRESET);
	int e = atomic_exchange(&c->error, 0);
	return e ? -e : -ECONNRESET;
}

/*
 * A plain connection's data call (xio_conn_plain): nothing of the switch is
 * left to check, so no load of the shared slot, whose lines, one set per
 * connection, are cache and TLB misses once many connections are busy (half
 * of wrk's time in xio_demote_recv at 64 connections went to two of them).
 */
static ssize_t plain_io(struct xio_conn *c, int fd, const struct iovec *iov, int iovcnt, int flags,
			bool nonblock, bool send)
{
	note_fd(c, fd);
	struct msghdr m = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt};
	int f = flags | (nonblock ? MSG_DONTWAIT : 0);
	ssize_t n = send ? xio_sys.sendmsg(fd, &m, f & ~MSG_MORE) : xio_sys.recvmsg(fd, &m, f);
	return n < 0 ? -errno : n;
}

ssize_t xio_demote_send(struct xio_conn *c, int fd, const struct iovec *iov, int iovcnt, int flags,
			bool nonblock)
{
	struct xio_demote *d = dm(c);
	if (atomic_load_explicit(&c->plain, memory_order_relaxed) && !(flags & MSG_OOB))
		return plain_io(c, fd, iov, iovcnt, flags, nonblock, true);
	if (atomic_load(&d->state) == XIO_DEMOTE_FAILED)
		return failed(c);
	note_fd(c, fd);
	if (!is_demoter(c) && !atomic_load(&d->moved)) {
		int r = lock_robust(&c->txd->wlock, -1, &c->tx->prod);
		if (r == 0) {
			r = move_tx(c, fd, 0);
			pthread_mutex_unlock(&c->txd->wlock);
		}
		if (r < 0) {
			fail(c, "ring copy");
			return failed(c);
		}
	}
	if (flags & MSG_OOB)
		/* Before the byte: a poller of the other end must see it the TCP way. */
		atomic_store(&d->urgent, 1);
	else
		xio_conn_plain(c); /* the next call takes plain_io once it is */
	struct msghdr m = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt};
	ssize_t n = xio_sys.sendmsg(fd, &m, (flags & ~MSG_MORE) | (nonblock ? MSG_DONTWAIT : 0));
	return n < 0 ? -errno : n;
}

/* The unconsumed part of a cursor as an iovec array (malloc'd). */
static struct iovec *cursor_iov(const struct xio_iov_cursor *cur, int *cnt)
{
	struct iovec *v = malloc(sizeof(*v) * (size_t)(cur->cnt > 0 ? cur->cnt : 1));
	if (!v)
		return NULL;
	for (int i = 0; i < cur->cnt; i++)
		v[i] = cur->iov[i];
	if (cur->cnt > 0) {
		v[0].iov_base = (char *)v[0].iov_base + cur->off;
		v[0].iov_len -= cur->off;
	}
	*cnt = cur->cnt;
	return v;
}

ssize_t xio_demote_send_rest(struct xio_conn *c, int fd, const struct xio_iov_cursor *cur,
			     int flags, bool nonblock)
{
	int cnt;
	struct iovec *v = cursor_iov(cur, &cnt);
	if (!v)
		return -ENOMEM;
	ssize_t n = cnt ? xio_demote_send(c, fd, v, cnt, flags, nonblock) : 0;
	free(v);
	return n;
}

ssize_t xio_demote_recv(struct xio_conn *c, int fd, const struct iovec *iov, int iovcnt, int flags,
			bool nonblock)
{
	struct xio_demote *d = dm(c);
	int me = end_of(c);
	size_t total = 0, done = 0;
	if (atomic_load_explicit(&c->plain, memory_order_relaxed) && !(flags & MSG_OOB) &&
	    !c->shut_rd)
		return plain_io(c, fd, iov, iovcnt, flags, nonblock, false);
	if (atomic_load(&d->state) == XIO_DEMOTE_FAILED)
		return failed(c);
	if (flags & MSG_OOB) {
		/* The urgent byte is the kernel's, wherever the read pointer is. */
		note_fd(c, fd);
		struct msghdr m = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt};
		ssize_t n = xio_sys.recvmsg(fd, &m, flags | (nonblock ? MSG_DONTWAIT : 0));
		return n < 0 ? -errno : n;
	}
	if (c->shut_rd)
		return 0;
	note_fd(c, fd);
	/*
	 * The peer's side may read what we wrote into our send ring before the
	 * switch only once we copied it in-band: a caller that learned of the
	 * demotion before it slept (no wake byte, no drain, no poke) and now
	 * waits for an answer must copy first, or both wait for ever.
	 */
	xio_demote_poke(c, fd);
	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	if (!is_demoter(c) && (!atomic_load(&d->skipped[me]) || !xio_ring_empty(c->rx))) {
		/* Peer: what the demoted side wrote before the switch comes first. */
		struct xio_iov_cursor cur;
		int r = lock_robust(&c->rxd->rlock, -1, &c->rx->cons);
		if (r < 0)
			return r;
		r = skip_bells(c, fd, me, true);
		if (r < 0) {
			pthread_mutex_unlock(&c->rxd->rlock);
			fail(c, "doorbells");
			return failed(c);
		}
		xio_cursor_init(&cur, iov, iovcnt);
		ssize_t n =
		    xio_ring_sane(c->rx, c->elems)
			? xio_ring_get(c->rx, &c->rxd->rd_off, &cur, total, flags & MSG_PEEK)
			: -EPROTO;
		pthread_mutex_unlock(&c->rxd->rlock);
		if (n < 0) {
			fail(c, "corrupt ring");
			return failed(c);
		}
		done = (size_t)n;
		if (done > 0 && done < total && !(flags & (MSG_WAITALL | MSG_PEEK)) &&
		    xio_ring_empty(c->rx)) {
			/*
			 * As one TCP read: on into what the socket has, up to the urgent
			 * mark (the kernel's read stops there too), without waiting.
			 */
			int m = 1;
			if (xio_sys.ioctl(fd, SIOCATMARK, &m) == 0 && !m) {
				ssize_t k = xio_demote_recv_rest(c, fd, &cur, flags, true);
				if (k > 0)
					done += (size_t)k;
			}
			return (ssize_t)done;
		}
		if (done > 0 && (done == total || !(flags & MSG_WAITALL) || (flags & MSG_PEEK)))
			return (ssize_t)done;
		if (done > 0) {
			ssize_t k = xio_demote_recv_rest(c, fd, &cur, flags, nonblock);
			return k > 0 ? (ssize_t)done + k : (ssize_t)done;
		}
	}
	xio_conn_plain(c); /* the next call takes plain_io once it is */
	struct msghdr m = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt};
	ssize_t n = xio_sys.recvmsg(fd, &m, flags | (nonblock ? MSG_DONTWAIT : 0));
	return n < 0 ? -errno : n;
}

ssize_t xio_demote_recv_rest(struct xio_conn *c, int fd, const struct xio_iov_cursor *cur,
			     int flags, bool nonblock)
{
	int cnt;
	struct iovec *v = cursor_iov(cur, &cnt);
	if (!v)
		return -ENOMEM;
	ssize_t n = cnt ? xio_demote_recv(c, fd, v, cnt, flags, nonblock) : 0;
	free(v);
	return n;
}

/*
 * Is the urgent byte (not inline) all there is to read on @fd? AF_UNIX then
 * reports POLLIN, TCP does not; a peek tells (it stops before that byte).
 */
static bool only_urgent(int fd)
{
	char b;
	return xio_sys.recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) < 0 && errno == EAGAIN;
}

static unsigned demote_ready(struct xio_conn *c)
{
	struct xio_demote *d = dm(c);
	int me = end_of(c);
	if (atomic_load(&d->state) == XIO_DEMOTE_FAILED) {
		failed(c);
		return POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM | POLLERR | POLLHUP;
	}
	int fd = hint_fd(c);
	unsigned ev = 0;
	if (!is_demoter(c)) {
		xio_demote_poke(c, fd);
		if (!xio_ring_empty(c->rx))
			ev |= POLLIN | POLLRDNORM;
	}
	if (fd < 0)
		/* No descriptor known yet: let the call find out (it teaches us the fd). */
		return ev | POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM;
	struct pollfd p = {
	    .fd = fd, .events = POLLIN | POLLRDNORM | POLLPRI | POLLOUT | POLLWRNORM | POLLRDHUP};
	if (xio_sys.poll(&p, 1, 0) > 0) {
		unsigned k = (unsigned)p.revents;
		if (!atomic_load(&d->skipped[me]))
			k &= ~(unsigned)(POLLIN | POLLRDNORM); /* doorbells, not data */
		else if ((k & POLLPRI) && (k & POLLIN) && !(ev & POLLIN) && only_urgent(fd))
			/* As tcp_poll: the urgent byte alone is not readable in band. */
			k &= ~(unsigned)(POLLIN | POLLRDNORM);
		ev |= k;
	}
	if (c->shut_rd)
		ev |= POLLIN | POLLRDNORM;
	return ev;
}

static int demote_wait(struct xio_conn *c, int fd, unsigned events, int timeout_ms)
{
	events &= POLLIN | POLLOUT | POLLPRI;
	uint64_t deadline = timeout_ms >= 0 ? xio_mono_us() + (uint64_t)timeout_ms * 1000 : 0;
	note_fd(c, fd);
	xio_demote_poke(c, fd); /* our ring's bytes first (see demote_recv) */
	for (;;) {
		if (demote_ready(c) & (events | POLLERR | POLLHUP))
			return 0;
		int left = -1;
		if (timeout_ms >= 0) {
			uint64_t now = xio_mono_us();
			if (now >= deadline)
				return -EAGAIN;
			left = (int)((deadline - now + 999) / 1000);
		}
		/* Until our side's part is done the socket may show doorbells: slices. */
		int me = end_of(c);
		bool settled = atomic_load(&dm(c)->skipped[me]) &&
			       (is_demoter(c) || atomic_load(&dm(c)->moved));
		if (!settled && (left < 0 || left > 10))
			left = 10;
		struct pollfd p = {.fd = fd,
				   .events = (short)(settled ? events : events & ~POLLIN)};
		if (xio_sys.poll(&p, 1, left) < 0 && errno == EINTR)
			return -EINTR;
	}
}

int xio_demote_shutdown(struct xio_conn *c, int fd, int how)
{
	if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR)
		return -EINVAL;
	if (how != SHUT_WR)
		c->shut_rd = true;
	if (how != SHUT_RD) {
		atomic_store(&c->shut_wr, true);
		/* Our ring remainder goes first: the peer's EOF comes after it. */
		if (!is_demoter(c))
			xio_demote_send(c, fd, NULL, 0, MSG_DONTWAIT, true);
	}
	return xio_sys.shutdown(fd, how) < 0 ? -errno : 0;
}

static int demote_atmark(struct xio_conn *c, int fd)
{
	struct xio_demote *d = dm(c);
	int me = end_of(c), m = 0;
	if (atomic_load(&d->state) == XIO_DEMOTE_FAILED)
		return 0;
	note_fd(c, fd);
	xio_demote_poke(c, fd);
	/* Bytes still ahead of the socket's (ring remainder, doorbells): not at the mark. */
	if (!atomic_load(&d->skipped[me]) || (!is_demoter(c) && !xio_ring_empty(c->rx)))
		return 0;
	if (xio_sys.ioctl(fd, SIOCATMARK, &m) < 0)
		return -errno;
	return m;
}

/*
 * As tcp_inq: with urgent data not inline, what is readable counts up to the
 * mark (0 there); AF_UNIX counts every byte. A peek stops at the mark; past
 * CHUNK bytes a mark further on is not looked for.
 */
static int inq_to_mark(int fd, int n)
{
	int inl = 0, mark = 0;
	socklen_t len = sizeof(inl);
	if (xio_sys.getsockopt(fd, SOL_SOCKET, SO_OOBINLINE, &inl, &len) == 0 && inl)
		return n;
	if (xio_sys.ioctl(fd, SIOCATMARK, &mark) == 0 && mark)
		return 0;
	size_t want = (size_t)n < CHUNK ? (size_t)n : CHUNK;
	char *buf = malloc(want);
	if (!buf)
		return n;
	ssize_t k = xio_sys.recv(fd, buf, want, MSG_PEEK | MSG_DONTWAIT);
	free(buf);
	return k >= 0 && (size_t)k < want ? (int)k : n;
}

/*
 * What the peer's ring still holds for us, checked as xio_conn_inq checks it:
 * its indices and every record (descriptors against the pool); a corrupt
 * ring counts nothing (the next read resets the connection). The peer can
 * write anything there: counted unchecked, indices far apart or a forged
 * descriptor length made FIONREAD negative or larger than anything queued.
 */
static size_t ring_inq(struct xio_conn *c)
{
	if (is_demoter(c) || lock_robust(&c->rxd->rlock, -1, &c->rx->cons) < 0)
		return 0;
	ssize_t n =
	    xio_ring_sane(c->rx, c->elems) ? xio_ring_readable(c->rx, c->rxd->rd_off) : -EPROTO;
	pthread_mutex_unlock(&c->rxd->rlock);
	return n > 0 ? (size_t)n : 0;
}

static int demote_inq(struct xio_conn *c)
{
	int fd = hint_fd(c), n = 0;
	size_t ring = ring_inq(c);
	if (fd >= 0 && atomic_load(&dm(c)->skipped[end_of(c)]) &&
	    xio_sys.ioctl(fd, FIONREAD, &n) < 0)
		n = 0;
	if (n > 0)
		n = inq_to_mark(fd, n);
	else
		n = 0;
	return ring > (size_t)(INT_MAX - n) ? INT_MAX : (int)ring + n;
}

static void demote_edges(struct xio_conn *c, uint32_t *in_seq, uint32_t *nospace_seq)
{
	static _Atomic uint32_t looks; /* in-band: the kernel knows the edges, we do not */
	xio_conn_check_abort(c);
	*in_seq = atomic_fetch_add(&looks, 1);
	*nospace_seq = atomic_load_explicit(&c->nospace, memory_order_relaxed);
}

/* The kernel's writability is not a doorbell: waiters must look in slices. */
static bool demote_has_company(struct xio_conn *c)
{
	(void)c;
	return true;
}

/* A demoted connection's operations (conn.h): the ring's are never called again. */
const struct xio_conn_ops xio_demote_ops = {
    .send = xio_demote_send,
    .recv = xio_demote_recv,
    .ready = demote_ready,
    .wait = demote_wait,
    .shutdown = xio_demote_shutdown,
    .inq = demote_inq,
    .atmark = demote_atmark,
    .edges = demote_edges,
    .has_company = demote_has_company,
};

/* ---- the demoter ------------------------------------------------------------------ */

/* @fd becomes a socket whose next read or write fails with ECONNRESET. */
static void poison(int fd)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return;
	/* Closing a socket with unread bytes resets its peer. */
	(void)xio_sys.send(sv[0], "", 1, MSG_DONTWAIT | MSG_NOSIGNAL);
	xio_sys.close(sv[1]);
	int fdfl = xio_sys.fcntl(fd, F_GETFD), fl = xio_sys.fcntl(fd, F_GETFL);
	if (fl >= 0)
		xio_sys.fcntl(sv[0], F_SETFL, fl & O_NONBLOCK);
	xio_sys.dup3(sv[0], fd, fdfl >= 0 && (fdfl & FD_CLOEXEC) ? O_CLOEXEC : 0);
	xio_sys.close(sv[0]);
}

/*
 * The peer is gone with bytes in its ring: @fd becomes a new socket that
 * holds them, then EOF, as a TCP socket whose peer sent them and closed
 * would (writes then fail with EPIPE). Returns 0 or -errno.
 */
static int substitute(struct xio_conn *c, int fd)
{
	struct xio_demote *d = dm(c);
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	int sz = (int)(c->elems * XIO_RING_ESIZE * 2 + CHUNK);
	if (xio_sys.setsockopt(sv[1], SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)) < 0)
		xio_sys.setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	char *buf = malloc(CHUNK);
	int r = buf ? lock_robust(&c->rxd->rlock, wait_ms(), &c->rx->cons) : -ENOMEM;
	if (r == 0) {
		/* "moved" first: a peer that is alive after all copies nothing more. */
		bool already = atomic_exchange(&d->moved, 1);
		while (!already && r == 0) {
			struct iovec v = {buf, CHUNK};
			struct xio_iov_cursor cur;
			xio_cursor_init(&cur, &v, 1);
			ssize_t n = xio_ring_sane(c->rx, c->elems)
					? xio_ring_get(c->rx, &c->rxd->rd_off, &cur, CHUNK, false)
					: -EPROTO;
			if (n <= 0) {
				r = (int)n;
				break;
			}
			/* Nobody reads the other end yet: it must all fit (we asked for room). */
			r = send_all(sv[1], buf, (size_t)n, xio_mono_us() + 100000);
		}
		if (!already && r == 0) {
			int fdfl = xio_sys.fcntl(fd, F_GETFD), fl = xio_sys.fcntl(fd, F_GETFL);
			if (fl >= 0)
				xio_sys.fcntl(sv[0], F_SETFL, fl & O_NONBLOCK);
			if (xio_sys.dup3(sv[0], fd,
					 fdfl >= 0 && (fdfl & FD_CLOEXEC) ? O_CLOEXEC : 0) < 0)
				r = -errno;
			else
				xio_log(1,
					"fd %d: the peer is gone; its last bytes come from a new "
					"socket",
					fd);
		}
		pthread_mutex_unlock(&c->rxd->rlock);
	}
	free(buf);
	xio_sys.close(sv[0]);
	xio_sys.close(sv[1]);
	return r;
}

/* The kernel now does the waiting: give it the timeouts the program set. */
static void kernel_options(struct xio_conn *c, int fd)
{
	/*
	 * The socket's send buffer as TCP's would be: net.core.wmem_default
	 * (208 KiB) stops a stream writer ten times more often than TCP on
	 * loopback, which autotunes to tcp_wmem's maximum (4 MiB); a Go
	 * io.Copy stream ran at 0.6x of the same socket with 4 MiB. The kernel
	 * doubles what it is given, as it counts overhead; the peer's ring copy
	 * (move_tx) may have set a larger one already. Only the kernel sees this
	 * size: getsockopt is answered from the connection (conn_opts.c).
	 */
	int want = xio_conn_sndbuf(c) / 2, have = 0;
	socklen_t l = sizeof(have);
	if (xio_sys.getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &have, &l) == 0 && have / 2 < want &&
	    xio_sys.setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &want, sizeof(want)) < 0)
		xio_sys.setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &want, sizeof(want));
	if (c->rcvtimeo.tv_sec || c->rcvtimeo.tv_usec)
		xio_sys.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &c->rcvtimeo, sizeof(c->rcvtimeo));
	if (c->sndtimeo.tv_sec || c->sndtimeo.tv_usec)
		xio_sys.setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &c->sndtimeo, sizeof(c->sndtimeo));
}

/* The peer end demotes too (its fd leaves as well): nothing may be left in our ring. */
static int demote_again(struct xio_conn *c, int fd)
{
	int me = end_of(c);
	int r = lock_robust(&c->txd->wlock, wait_ms(), &c->tx->prod);
	if (r == 0) {
		r = move_tx(c, fd, 0);
		pthread_mutex_unlock(&c->txd->wlock);
	}
	if (r == 0)
		r = lock_robust(&c->rxd->rlock, wait_ms(), &c->rx->cons);
	if (r == 0) {
		r = skip_bells(c, fd, me, true);
		if (r == 0 && !xio_ring_empty(c->rx))
			r = -EBUSY; /* bytes only this process can read: cannot go in-band */
		pthread_mutex_unlock(&c->rxd->rlock);
	}
	return r;
}

/* @wait_peer: wait (bounded) for the peer to move its ring in-band, see xio_conn_demote_nowait().
 */
static int demote(struct xio_conn *c, int fd, bool wait_peer)
{
	struct xio_demote *d = dm(c);
	int me = end_of(c);
	int ms = wait_ms();
	uint64_t deadline = xio_mono_us() + (uint64_t)ms * 1000 + 1000;
	int r;

	note_fd(c, fd);
	uint32_t st = atomic_load(&d->state);
	if (st == XIO_DEMOTE_ACTIVE && is_demoter(c))
		return 0;
	if (st == XIO_DEMOTE_ACTIVE) {
		r = demote_again(c, fd);
		if (r < 0)
			goto failed;
		kernel_options(c, fd);
		return 0;
	}
	if (st == XIO_DEMOTE_FAILED) {
		r = -ECONNRESET;
		goto failed;
	}
	if ((r = lock_robust(&c->txd->wlock, ms, &c->tx->prod)) < 0)
		goto failed;
	if ((r = lock_robust(&c->rxd->rlock, ms, &c->rx->cons)) < 0) {
		pthread_mutex_unlock(&c->txd->wlock);
		goto failed;
	}
	if (atomic_load(&d->state) != XIO_DEMOTE_NONE) {
		/* Another process of our end got there first. */
		pthread_mutex_unlock(&c->rxd->rlock);
		pthread_mutex_unlock(&c->txd->wlock);
		return demote(c, fd, wait_peer);
	}
	bool closed = true;
	for (int e = 0; e < 2; e++) {
		closed = gate_close(&d->bell_gate[e], deadline) && closed;
		closed = gate_close(&d->drain_gate[e], deadline) && closed;
	}
	if (!closed) {
		pthread_mutex_unlock(&c->rxd->rlock);
		pthread_mutex_unlock(&c->txd->wlock);
		r = -ETIMEDOUT;
		goto failed;
	}
	/* The last doorbell, counted: it wakes the peer's waiters to do their part. */
	if (xio_sys.send(fd, "", 1, MSG_DONTWAIT | MSG_NOSIGNAL) == 1)
		atomic_fetch_add(&d->bells_sent[me], 1);
	for (int e = 0; e < 2; e++) {
		uint64_t sent = atomic_load(&d->bells_sent[!e]),
			 got = atomic_load(&d->bells_read[e]);
		atomic_store(&d->skip[e], sent >= got ? sent - got : 0);
		atomic_store(&d->skipped[e], 0);
	}
	atomic_store(&d->moved, 0);
	atomic_store(&d->who, (uint32_t)me);
	atomic_store_explicit(&d->state, XIO_DEMOTE_ACTIVE, memory_order_release);
	go_in_band(c);
	r = skip_bells(c, fd, me, true);
	/* Our FIN was in the slot: the peer reads our ring, then the socket's EOF. */
	if (atomic_load(&c->txd->shut_wr))
		xio_sys.shutdown(fd, SHUT_WR);
	pthread_mutex_unlock(&c->rxd->rlock);
	pthread_mutex_unlock(&c->txd->wlock);
	if (r < 0)
		goto failed;
	kernel_options(c, fd);
	atomic_fetch_add_explicit(&c->dom->hdr->stats.demoted, 1, memory_order_relaxed);
	xio_log(1, "connection on fd %d demoted to an in-band stream", fd);

	/* Wait for the peer to copy its ring in-band, unless the peer is this very process. */
	if (!wait_peer || xio_conn_peer_is_local(c))
		return 0;
	while (!atomic_load(&d->moved) && atomic_load(&d->state) == XIO_DEMOTE_ACTIVE &&
	       xio_mono_us() < deadline) {
		struct pollfd p = {.fd = fd, .events = 0};
		if (xio_sys.poll(&p, 1, 0) > 0 && (p.revents & POLLHUP)) {
			/* The peer's socket is gone: only we can deliver what is left in its ring.
			 */
			if (atomic_load(&d->moved) || xio_ring_empty(c->rx))
				return 0;
			r = substitute(c, fd);
			if (r < 0)
				goto failed;
			return 0;
		}
		nap_us(500);
	}
	if (!atomic_load(&d->moved))
		xio_log(
		    1,
		    "fd %d: the peer has not answered the demotion yet; it will on its next call",
		    fd);
	return atomic_load(&d->state) == XIO_DEMOTE_FAILED ? -ECONNRESET : 0;
failed:
	fail(c, strerror(-r));
	poison(fd);
	return r;
}

int xio_conn_demote(struct xio_conn *c, int fd)
{
	const char *off = secure_getenv("XIO_DEMOTE");
	if (off && strcmp(off, "0") == 0)
		return 0; /* switched off: the fd leaves as it is (the receiver reads doorbells) */
	return demote(c, fd, true);
}

int xio_conn_demote_nowait(struct xio_conn *c, int fd)
{
	return demote(c, fd, false);
}
