/* SPDX-License-Identifier: MIT */
/*
 * Server side of the rendezvous: publish an AF_UNIX listener next to a
 * kernel TCP listener, and accept X-IO and TCP connections alike.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "ring.h"
#include "conn.h"
#include "slot.h"
#include "sys.h"

/* How long accept waits for the offer of a client that connected but has not sent it yet. */
#define OFFER_WAIT_MS 1000
/* How often accept looks for a new generation by itself (a restarted manager nudges us too). */
#define REFRESH_NS 1000000000ull
/* handshake(): the connection was a manager's nudge, not an offer. */
#define NUDGED 1
/* What the wait set's entries are (epoll data); a held connection is its struct held. */
#define WAIT_HELPER 0
#define WAIT_TIMER  1
#define WAIT_EVENT  2

/*
 * A connection TCP_DEFER_ACCEPT holds back: claimed (the client is
 * connected, as on TCP), not yet handed to the application, which sees it
 * once its first bytes (or EOF) arrive or the defer time is over.
 */
struct held {
	struct held *next;
	struct xio_conn *conn;
	int u;		/* its AF_UNIX stream, moved high while held */
	int64_t due_ns; /* CLOCK_MONOTONIC: acceptable from then on without data */
};

struct xio_listener {
	_Atomic int refs;
	int helper; /* AF_UNIX listener (high fd, close-on-exec) */
	int family; /* of the TCP listener */
	struct xio_endpoint local;
	/*
	 * The generation our entry is published in. After a manager restart the
	 * same AF_UNIX listener is re-published (renamed) in the new generation:
	 * the application may hold its fd in poll and epoll sets. Offers of any
	 * generation we have mapped are taken, each in its own memory.
	 */
	struct xio_domain *_Atomic dom;
	struct xio_domain *_Atomic refused; /* re-publishing in this one failed */
	struct xio_domain *_Atomic stuck;   /* said: a new manager runs, we cannot reach it */
	_Atomic uint64_t checked_ns; /* CLOCK_MONOTONIC of the last look for a new generation */
	pthread_mutex_t lock;	     /* re-publishing */
	char name[64];		     /* our entry's name in the rendezvous directory (lock) */
	struct xio_slot *_Atomic last_slot; /* of the last connection accepted (accept's spin) */
	/* The port after the application closed the listener (porthold.c). */
	struct xio_porthold *hold; /* shared with the connections accepted from it */
	struct xio_porthold_addr hold_addr;
	_Atomic bool closed; /* xio_listener_closing() saw the application close an fd of it */
	/*
	 * TCP_DEFER_ACCEPT. poll and epoll watch the wait set (an epoll fd of
	 * this process, made again in a forked child) instead of the helper: it
	 * holds the helper, and while connections are held their streams (the
	 * peer rings one on its first bytes), a timer for the earliest due and
	 * an eventfd that stays readable while connections are acceptable. So
	 * the wait set is readable when a connection may be acceptable, and
	 * xio_listener_acceptable() says whether one is. One fd watched whether
	 * the option is set or not: setting and clearing it keeps registrations.
	 */
	_Atomic int defer_s;	    /* as the kernel reads it back (seconds); 0: not set */
	_Atomic bool holding;	    /* held or ready connections exist (read without the lock) */
	pthread_mutex_t defer_lock; /* what follows */
	_Atomic pid_t owner;	    /* the process the wait set belongs to */
	int waitfd, timer, event;   /* -1 until made */
	bool event_on;		    /* the eventfd is signalled */
	int accept_err;		    /* taking a connection in failed (EMFILE...): accept says so */
	struct held *pending;	    /* waiting for bytes or the due time */
	struct held *ready, **ready_tail; /* acceptable, in the order they became so */
	struct xio_listener
	    *next_all; /* all listeners of the process (fork: see listeners_forked) */
};

struct held;
static pid_t self(void);
static void listed(struct xio_listener *l, bool add);
static void release_held(struct held **list, bool ours);
static void release_wait_set(struct xio_listener *l);
static void rearm(struct xio_listener *l);

/* The options a port holder copies (the address is the one getsockname gave at listen). */
static void read_opts(struct xio_listener *l, int fd)
{
	struct xio_porthold_addr *a = &l->hold_addr;
	socklen_t n = sizeof(int);
	if (xio_sys.getsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &a->reuseaddr, &n) < 0)
		a->reuseaddr = 0;
	n = sizeof(int);
	if (xio_sys.getsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &a->reuseport, &n) < 0)
		a->reuseport = 0;
	n = sizeof(int);
	if (l->family != AF_INET6 ||
	    xio_sys.getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &a->v6only, &n) < 0)
		a->v6only = 0;
}

void xio_listener_closing(struct xio_listener *l, int fd)
{
	if (!l->hold)
		return;
	read_opts(l, fd);
	atomic_store(&l->closed, true);
}

/* The last component of a published path. */
static void set_name(struct xio_listener *l, const char *path)
{
	const char *slash = strrchr(path, '/'), *name = slash ? slash + 1 : path;
	size_t n = strnlen(name, sizeof(l->name) - 1);
	memcpy(l->name, name, n); /* longer is not a name the manager makes: then it searches */
	l->name[n] = 0;
}

void xio_listener_get(struct xio_listener *l)
{
	atomic_fetch_add(&l->refs, 1);
}

void xio_listener_put(struct xio_listener *l)
{
	if (atomic_fetch_sub(&l->refs, 1) != 1)
		return;
	listed(l, false);
	pthread_mutex_lock(&l->defer_lock);
	release_wait_set(l);
	pthread_mutex_unlock(&l->defer_lock);
	xio_helper_fd(l->helper, false);
	xio_sys.close(l->helper);
	if (atomic_load(&l->closed))
		xio_porthold_listener_closed(l->hold, &l->hold_addr);
	xio_porthold_put(l->hold);
	/* Hint: the manager removes the entry if no process listens on it any more. */
	struct xio_msg_hdr req, rep;
	xio_msg_init(&req, XIO_CTL_UNPUBLISH, sizeof(req));
	(void)xio_control_call(&req, sizeof(req), NULL, 0, &rep, sizeof(rep), NULL);
	free(l);
}

int xio_listener_open(int fd, struct xio_listener **out)
{
	const struct xio_config *cfg = xio_config();
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	enum xio_fallback why;
	int backlog = SOMAXCONN;

	if (cfg->disabled)
		return XIO_NOT_CARRIED;
	if (xio_sys.getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
		return XIO_NOT_CARRIED;
	struct xio_listener *l = calloc(1, sizeof(*l));
	if (!l)
		return XIO_NOT_CARRIED;
	if (xio_ep_from_sockaddr(&l->local, (struct sockaddr *)&ss, sl) < 0)
		goto fail;
	l->family = ss.ss_family;
	memcpy(&l->hold_addr.addr, &ss, sl);
	l->hold_addr.len = sl;
	struct xio_domain *dom = xio_domain_get(&why);
	if (!dom) {
		/*
		 * xio_domain_get logged why (one line per process); a server that may
		 * not join also hears which listener that costs, and the manager counts.
		 */
		if (why == XIO_FB_NO_DOMAIN_ACCESS) {
			xio_log(1, "listener on port %u stays kernel TCP: %s", l->local.port,
				xio_fallback_name(why));
			xio_count_fallback(XIO_FB_LISTENER_NO_DOMAIN_ACCESS);
		}
		goto fail;
	}
	atomic_init(&l->dom, dom);
	int u = xio_sys.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (u < 0) {
		xio_count_fallback(XIO_FB_LISTENER_ERROR);
		goto fail;
	}
	struct xio_ctl_publish req = {.pid = getpid()};
	struct xio_ctl_publish_reply rep;
	xio_msg_init(&req.hdr, XIO_CTL_PUBLISH, sizeof(req));
	int fds[2] = {u, fd};
	ssize_t n = xio_control_call(&req, sizeof(req), fds, 2, &rep, sizeof(rep), NULL);
	if (n < 0 || xio_msg_check(&rep, (size_t)n, XIO_CTL_REPLY, sizeof(rep)) < 0 ||
	    rep.hdr.status < 0 || xio_sys.listen(u, backlog) < 0) {
		xio_log(1, "publish refused: %s",
			n < 0 ? strerror((int)-n)
			      : strerror(rep.hdr.status < 0 ? -rep.hdr.status : EPROTO));
		/* a forked child that dropped privileges still maps the domain: it can count */
		xio_count_fallback(n == -EACCES || n == -EPERM	  ? XIO_FB_LISTENER_NO_DOMAIN_ACCESS
				   : n >= 0 && rep.hdr.status < 0 ? XIO_FB_LISTENER_REFUSED
								  : XIO_FB_LISTENER_ERROR);
		xio_sys.close(u);
		goto fail;
	}
	rep.path[sizeof(rep.path) - 1] = 0;
	xio_log(1, "published %s", rep.path);
	l->helper = xio_fd_move_high(u);
	xio_helper_fd(l->helper, true);
	l->hold = xio_porthold_new(); /* NULL: the port is not held after close */
	atomic_init(&l->refs, 1);
	atomic_init(&l->checked_ns, xio_mono_ns());
	pthread_mutex_init(&l->lock, NULL);
	pthread_mutex_init(&l->defer_lock, NULL);
	l->waitfd = l->timer = l->event = -1;
	l->ready_tail = &l->ready;
	set_name(l, rep.path);
	listed(l, true);
	if (xio_listener_helper_fd(l) == l->helper) {
		xio_listener_put(l); /* no wait set: nothing could watch the listener */
		return XIO_NOT_CARRIED;
	}
	xio_listener_defer_changed(l, fd); /* set before listen() */
	*out = l;
	return 0;
fail:
	free(l);
	return XIO_NOT_CARRIED;
}

/*
 * Ask the manager about our published entry (REPUBLISH, WITHDRAW), showing
 * it our AF_UNIX listener and the application's TCP listener @tcp. Returns
 * 0 with the reply in @rep, or -errno.
 */
static int entry_call(struct xio_listener *l, int tcp, uint16_t type, struct xio_msg_hdr *rep,
		      size_t replen)
{
	struct xio_ctl_republish req = {.pid = getpid()};
	int fds[2] = {l->helper, tcp};
	xio_msg_init(&req.hdr, type, sizeof(req));
	memcpy(req.name, l->name, sizeof(req.name));
	ssize_t n = xio_control_call(&req, sizeof(req), fds, 2, rep, replen, NULL);
	int r = n < 0 ? (int)n : xio_msg_check(rep, (size_t)n, XIO_CTL_REPLY, replen);
	return r == 0 && rep->status < 0 ? rep->status : r;
}

/*
 * The manager was restarted (a new generation runs): bring our entry into
 * it, so that clients attached to the new manager find us. @tcp is the
 * application's TCP listener, which the manager checks again.
 */
static void refresh(struct xio_listener *l, int tcp)
{
	enum xio_fallback why;

	atomic_store_explicit(&l->checked_ns, xio_mono_ns(), memory_order_relaxed);
	struct xio_domain *d = xio_domain_get(&why);
	struct xio_domain *was = atomic_load(&l->dom);
	if ((!d && why == XIO_FB_NO_DOMAIN_ACCESS) || (d == was && !xio_manager_alive(d))) {
		/*
		 * The manager of our generation is gone and we may not join the
		 * one that runs (when none runs, we hear ECONNREFUSED). Clients of
		 * the new generation reach us over kernel TCP: say so once per
		 * generation, here and on <domain>.denied for xio-stat.
		 */
		if (atomic_exchange(&l->stuck, was) != was) {
			xio_log(1, "listener on port %u stays kernel TCP for the new manager: %s",
				l->local.port, xio_fallback_name(XIO_FB_LISTENER_NO_DOMAIN_ACCESS));
			xio_report_denied(XIO_FB_LISTENER_NO_DOMAIN_ACCESS);
		}
		return;
	}
	if (!d || d == was || pthread_mutex_trylock(&l->lock) != 0)
		return; /* no manager, nothing new, or another thread is at it */
	if (d != atomic_load(&l->dom)) {
		struct xio_ctl_publish_reply rep;
		int r = entry_call(l, tcp, XIO_CTL_REPUBLISH, &rep.hdr, sizeof(rep));
		if (r == 0) {
			rep.path[sizeof(rep.path) - 1] = 0;
			set_name(l, rep.path);
			atomic_store(&l->dom, d);
			xio_log(1, "re-published %s", rep.path);
		} else {
			/* clients of the new generation use TCP to reach us; we try again later */
			atomic_store(&l->refused, d);
			xio_log(1, "re-publish refused: %s", strerror(-r));
		}
	}
	pthread_mutex_unlock(&l->lock);
}

void xio_listener_withdraw(struct xio_listener *l, int tcp)
{
	struct xio_msg_hdr rep;
	int r = entry_call(l, tcp, XIO_CTL_WITHDRAW, &rep, sizeof(rep));
	xio_log(1, "rendezvous of fd %d withdrawn before exec: %s", tcp, r ? strerror(-r) : "done");
	/* Offers queued already would wait for an accept that never comes: a reset is better. */
	int u;
	while ((u = xio_sys.accept4(l->helper, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0)
		xio_sys.close(u);
	pthread_mutex_lock(&l->defer_lock);
	if (atomic_load(&l->owner) == self()) {
		release_held(&l->pending, true);
		release_held(&l->ready, true);
		l->ready_tail = &l->ready;
		rearm(l);
	}
	pthread_mutex_unlock(&l->defer_lock);
}

/* Read the client's offer, waiting briefly if it has not arrived yet. */
static int read_offer(int u, struct xio_hs_offer *o)
{
	size_t got = 0;
	int waited = 0;

	while (got < sizeof(*o)) {
		ssize_t n = xio_sys.recv(u, (char *)o + got, sizeof(*o) - got, MSG_DONTWAIT);
		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		if (n == 0)
			return -ENODATA; /* client died mid-handshake */
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN || waited >= OFFER_WAIT_MS)
			return -errno == -EAGAIN ? -ETIMEDOUT : -errno;
		struct pollfd p = {.fd = u, .events = POLLIN};
		xio_sys.poll(&p, 1, 50);
		waited += 50;
	}
	return 0;
}

/*
 * The memory an offer of @generation belongs in: the generation we are
 * published in, one mapped earlier (an offer queued before a re-publish) or,
 * when another process sharing our socket re-published it, the manager's
 * current one, which we attach to now. NULL: not ours to take.
 */
static struct xio_domain *offer_domain(struct xio_listener *l, int tcp, uint64_t generation)
{
	struct xio_domain *d = atomic_load(&l->dom);

	if (d->generation == generation)
		return d;
	d = xio_domain_by_generation(generation);
	if (!d) {
		refresh(l, tcp);
		d = xio_domain_by_generation(generation);
	}
	return d;
}

/*
 * The server's end of a connection just established in slot @s (by the
 * rendezvous handshake or a proven pairing): registered and counted.
 * @local and @remote are what getsockname and getpeername say; @kfd is the
 * kernel socket whose buffer sizes it inherits (the listener's, as on TCP).
 */
static struct xio_conn *server_conn(struct xio_listener *l, struct xio_domain *d,
				    struct xio_slot *s, uint32_t token,
				    const struct xio_endpoint *local,
				    const struct xio_endpoint *remote, int kfd)
{
	s->server.family = (uint16_t)l->family; /* for adoption after exec */
	struct xio_conn *c = xio_conn_new(d, s, true);
	if (!c)
		return NULL;
	c->family = l->family;
	c->token = token;
	c->porthold = l->hold;
	xio_porthold_get(l->hold);
	c->tuple.local = *local;
	c->tuple.remote = *remote;
	s->srv_local = *local;
	s->srv_peer = *remote;
	s->netns[1] = xio_netns_ino();
	xio_bufs_publish(s, true, kfd);
	/* Nothing to learn from the kernel yet: the send path's liveness check starts from now. */
	atomic_store_explicit(&c->peer_checked_us, xio_mono_us(), memory_order_relaxed);
	xio_conn_register(c);
	atomic_store_explicit(&l->last_slot, s, memory_order_relaxed);
	atomic_fetch_add_explicit(&d->hdr->stats.conns_total, 1, memory_order_relaxed);
	return c;
}

/*
 * Complete the handshake on a freshly accepted AF_UNIX stream @u. Returns 0,
 * NUDGED or -errno.
 */
static int handshake(struct xio_listener *l, int tcp, int u, struct xio_conn **out)
{
	struct xio_hs_offer o;
	struct xio_domain *d = NULL;
	struct stat st;
	int r = read_offer(u, &o);

	if (r == 0)
		r = xio_msg_check(&o, sizeof(o), XIO_HS_OFFER, sizeof(o));
	if (r == -EPROTO && xio_msg_check(&o, sizeof(o), XIO_HS_NUDGE, sizeof(o)) == 0)
		return NUDGED;
	if (r == 0 && o.layout_version == XIO_LAYOUT_VERSION &&
	    !(d = offer_domain(l, tcp, o.generation)))
		r = -ESTALE; /* a generation we cannot map: the client's connection fails */
	if (r == 0)
		r = xio_offer_check(&o, d ? d->generation : 0, d ? d->nslots : 0);
	if (r < 0)
		return r;
	struct xio_slot *s = xio_slot_at(d->hdr, o.slot);
	if (fstat(u, &st) < 0)
		return -errno;
	/* The answer: claiming the slot accepts; returning an error closes the stream (refused). */
	r = xio_slot_claim(s, o.token, st.st_ino, xio_self_pid());
	if (r < 0)
		return r;
	/* What getsockname says on an accepted socket: the address the client reached. */
	struct xio_endpoint local = o.server;
	local.port = l->local.port;
	*out = server_conn(l, d, s, o.token, &local, &o.client, tcp);
	return *out ? 0 : -ENOMEM;
}

/* ---- TCP_DEFER_ACCEPT: connections held until their first bytes ----- */

/* getpid() once per process: poll asks for the wait set on every call. */
static _Atomic pid_t self_pid;
static pthread_once_t self_once = PTHREAD_ONCE_INIT;

/* The listeners of this process, for fork. */
static pthread_mutex_t all_lock = PTHREAD_MUTEX_INITIALIZER;
static struct xio_listener *all_listeners;

static void listeners_fork_prepare(void)
{
	pthread_mutex_lock(&all_lock);
	for (struct xio_listener *l = all_listeners; l; l = l->next_all)
		pthread_mutex_lock(&l->defer_lock);
}

static void listeners_fork_parent(void)
{
	for (struct xio_listener *l = all_listeners; l; l = l->next_all)
		pthread_mutex_unlock(&l->defer_lock);
	pthread_mutex_unlock(&all_lock);
}

/*
 * A forked child does not get what its parent holds: a held connection was
 * not accepted before the fork, so on TCP the child would have no fd of it,
 * and a copy of its stream here would keep the client from seeing the
 * parent's close. The child drops its copies (and the parent's wait set).
 */
static void listeners_forked(void)
{
	atomic_store_explicit(&self_pid, 0, memory_order_relaxed);
	for (struct xio_listener *l = all_listeners; l; l = l->next_all) {
		release_wait_set(l); /* not ours: closes the copies only */
		pthread_mutex_unlock(&l->defer_lock);
	}
	pthread_mutex_unlock(&all_lock);
}

static void self_init(void)
{
	pthread_atfork(listeners_fork_prepare, listeners_fork_parent, listeners_forked);
}

static void listed(struct xio_listener *l, bool add)
{
	pthread_once(&self_once, self_init);
	pthread_mutex_lock(&all_lock);
	struct xio_listener **pp = &all_listeners;
	while (*pp && *pp != l)
		pp = &(*pp)->next_all;
	if (add && !*pp) {
		l->next_all = all_listeners;
		all_listeners = l;
	} else if (!add && *pp) {
		*pp = l->next_all;
	}
	pthread_mutex_unlock(&all_lock);
}

static pid_t self(void)
{
	pthread_once(&self_once, self_init);
	pid_t p = atomic_load_explicit(&self_pid, memory_order_relaxed);
	if (!p) {
		p = getpid();
		atomic_store_explicit(&self_pid, p, memory_order_relaxed);
	}
	return p;
}

static void close_helper(int *fd)
{
	if (*fd < 0)
		return;
	xio_helper_fd(*fd, false);
	xio_sys.close(*fd);
	*fd = -1;
}

static int keep_helper(int fd)
{
	fd = xio_fd_move_high(fd);
	xio_helper_fd(fd, true);
	return fd;
}

static void wait_add(struct xio_listener *l, int fd, uint64_t tag)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = tag};
	(void)xio_sys.epoll_ctl(l->waitfd, EPOLL_CTL_ADD, fd, &ev);
}

/*
 * Let go of held connections. @ours: this process holds them (closing the
 * listener: their clients see the connection closed, as the kernel resets
 * what waits in the queue of a closed listener); otherwise they are copies
 * a forked child inherited, which stay the parent's.
 */
static void release_held(struct held **list, bool ours)
{
	for (struct held *h = *list, *next; h; h = next) {
		next = h->next;
		close_helper(&h->u);
		if (ours) {
			xio_conn_watch(h->conn, false);
			xio_conn_put(h->conn);
		}
		free(h);
	}
	*list = NULL;
}

/* Everything of the wait set (lock held). */
static void release_wait_set(struct xio_listener *l)
{
	bool ours = atomic_load(&l->owner) == self();
	release_held(&l->pending, ours);
	release_held(&l->ready, ours);
	l->ready_tail = &l->ready;
	close_helper(&l->waitfd);
	close_helper(&l->timer);
	close_helper(&l->event);
	l->event_on = false;
	atomic_store(&l->holding, false);
}

/*
 * This process's wait set (lock held): a forked child makes its own, since
 * what a process holds is in its memory. Returns its fd or -errno.
 */
static int wait_set(struct xio_listener *l)
{
	if (atomic_load(&l->owner) == self() && l->waitfd >= 0)
		return l->waitfd;
	release_wait_set(l);
	int w = xio_sys.epoll_create1(EPOLL_CLOEXEC);
	if (w < 0)
		return -errno;
	l->waitfd = keep_helper(w);
	wait_add(l, l->helper, WAIT_HELPER);
	atomic_store(&l->owner, self());
	return l->waitfd;
}

/* The timer and the eventfd, made when the first connection is held (lock held). */
static int hold_fds(struct xio_listener *l)
{
	if (l->timer < 0) {
		int t = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
		if (t < 0)
			return -errno;
		l->timer = keep_helper(t);
		wait_add(l, l->timer, WAIT_TIMER);
	}
	if (l->event < 0) {
		int e = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (e < 0)
			return -errno;
		l->event = keep_helper(e);
		wait_add(l, l->event, WAIT_EVENT);
	}
	return 0;
}

/* Timer at the earliest due, eventfd readable iff something is acceptable (lock held). */
static void rearm(struct xio_listener *l)
{
	atomic_store(&l->holding, l->pending || l->ready);
	if (l->timer >= 0) {
		int64_t due = INT64_MAX;
		for (struct held *h = l->pending; h; h = h->next)
			due = h->due_ns < due ? h->due_ns : due;
		struct itimerspec its = {0};
		if (l->pending) {
			due = due > 0 ? due : 1; /* 0 disarms */
			its.it_value.tv_sec = due / 1000000000;
			its.it_value.tv_nsec = due % 1000000000;
		}
		(void)timerfd_settime(l->timer, TFD_TIMER_ABSTIME, &its, NULL);
	}
	if (l->event >= 0 && (l->ready != NULL) != l->event_on) {
		uint64_t v = 1;
		if (l->ready)
			(void)!xio_sys.write(l->event, &v, sizeof(v));
		else
			(void)!xio_sys.read(l->event, &v, sizeof(v));
		l->event_on = l->ready != NULL;
	}
}

/* A new rendezvous connection @u, handshake done: hold it (lock held). */
static void hold(struct xio_listener *l, struct xio_conn *c, int u, int64_t due_ns)
{
	struct held *h = hold_fds(l) == 0 ? calloc(1, sizeof(*h)) : NULL;
	if (!h) {
		/* cannot wait for its bytes: the application gets it now */
		h = calloc(1, sizeof(*h));
		if (!h) {
			xio_conn_put(c);
			xio_sys.close(u);
			return;
		}
		due_ns = 0;
	}
	h->conn = c;
	h->u = keep_helper(u);
	h->due_ns = due_ns;
	/* the peer rings our stream on every arrival from now on; bytes before are in the ring */
	xio_conn_watch(c, true);
	wait_add(l, h->u, (uint64_t)(uintptr_t)h);
	struct held **pp = &l->pending;
	while (*pp)
		pp = &(*pp)->next;
	*pp = h;
}

/*
 * Take one rendezvous connection waiting on the helper: a nudge is answered
 * (refresh), a failed handshake dropped, a client held until @due (0: until
 * accept). False once none waits (or accept failed: the helper stays
 * readable, and the application's accept must hear why). Lock held.
 */
static bool take_one(struct xio_listener *l, int tcp, int64_t due)
{
	int u = xio_sys.accept4(l->helper, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (u < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			l->accept_err = errno;
		return false;
	}
	struct xio_conn *c = NULL;
	int r = handshake(l, tcp, u, &c);
	if (r == NUDGED) {
		xio_sys.close(u);
		refresh(l, tcp);
	} else if (r < 0) {
		xio_log(1, "dropped a rendezvous connection: %s", strerror(-r));
		xio_sys.close(u);
	} else {
		hold(l, c, u, due);
	}
	return true;
}

/*
 * Take new rendezvous connections in, hold them while TCP_DEFER_ACCEPT says
 * so, and move those whose bytes (or EOF) arrived or whose time is over to
 * the ready list (lock held). Like the kernel, which accepts a silent
 * connection once the last SYN-ACK of the defer period is answered, after
 * the seconds getsockopt reports.
 */
static void sweep(struct xio_listener *l, int tcp)
{
	int defer = atomic_load(&l->defer_s);
	int64_t now = xio_mono_ns();

	if (wait_set(l) < 0)
		defer = 0;
	while (defer > 0 && take_one(l, tcp, now + (int64_t)defer * 1000000000))
		;
	/* Streams the kernel saw ring or hang up: the peer sent something or went away. */
	struct epoll_event ev[64];
	int n = l->pending ? xio_sys.epoll_wait(l->waitfd, ev, 64, 0) : 0;
	for (int i = 0; i < n; i++)
		if (ev[i].data.u64 > WAIT_EVENT)
			((struct held *)ev[i].data.ptr)->due_ns = 0;
	for (struct held **pp = &l->pending, *h; (h = *pp);) {
		if (defer > 0 && h->due_ns > now &&
		    !(xio_conn_ready(h->conn) & (POLLIN | POLLHUP | POLLERR))) {
			pp = &h->next;
			continue;
		}
		*pp = h->next;
		(void)xio_sys.epoll_ctl(l->waitfd, EPOLL_CTL_DEL, h->u, NULL);
		xio_conn_watch(h->conn, false);
		h->next = NULL;
		*l->ready_tail = h;
		l->ready_tail = &h->next;
	}
	rearm(l);
}

/* Hand the held connection @h to the application as accept4 would (lock held). */
static int deliver(struct xio_listener *l, struct held *h, struct sockaddr *sa, socklen_t *len,
		   int flags, struct xio_conn **conn)
{
	/* the lowest free number, as accept gives: programs that select() need it */
	int fd = xio_sys.fcntl(h->u, (flags & SOCK_CLOEXEC) ? F_DUPFD_CLOEXEC : F_DUPFD, 0);
	if (fd < 0)
		return -errno; /* stays first in line */
	if (!(flags & SOCK_NONBLOCK))
		(void)xio_sys.fcntl(fd, F_SETFL, O_RDWR);
	l->ready = h->next;
	if (!l->ready)
		l->ready_tail = &l->ready;
	close_helper(&h->u);
	if (sa && len)
		(void)xio_ep_to_sockaddr(&h->conn->tuple.remote, l->family, sa, len);
	*conn = h->conn;
	free(h);
	return fd;
}

/* accept from the held connections: the fd, or -EAGAIN when none is acceptable. */
static int accept_held(struct xio_listener *l, int tcp, struct sockaddr *sa, socklen_t *len,
		       int flags, struct xio_conn **conn)
{
	pthread_mutex_lock(&l->defer_lock);
	sweep(l, tcp);
	int r = l->ready	? deliver(l, l->ready, sa, len, flags, conn)
		: l->accept_err ? -l->accept_err
				: -EAGAIN;
	l->accept_err = 0;
	rearm(l);
	pthread_mutex_unlock(&l->defer_lock);
	return r;
}

/*
 * The manager of our generation is gone, and a new one nudges us by
 * connecting to our entry (XIO_HS_NUDGE): the helper is readable with no
 * client behind it. Take what waits there now, before select/poll/epoll tell
 * the application: a nudge is answered (refresh), a real connection held
 * for accept. Else the application would see a connection where none waits,
 * and one that accepts on a blocking listener after select (iperf3 -s) would
 * block with its work stalled (F21). Lock held.
 */
static void take_nudges(struct xio_listener *l, int tcp)
{
	if (wait_set(l) < 0)
		return;
	for (int k = 0; k < 16 && take_one(l, tcp, 0); k++)
		;
}

bool xio_listener_acceptable(struct xio_listener *l, int fd)
{
	bool plain = !atomic_load(&l->defer_s) && !atomic_load(&l->holding);
	if (plain && xio_manager_alive(atomic_load(&l->dom)))
		return true; /* the wait set is only the helper: it was readable */
	pthread_mutex_lock(&l->defer_lock);
	if (plain)
		take_nudges(l, fd);
	sweep(l, fd);
	bool r = l->ready != NULL || l->accept_err;
	pthread_mutex_unlock(&l->defer_lock);
	return r;
}

void xio_listener_defer_changed(struct xio_listener *l, int fd)
{
	int v = 0;
	socklen_t n = sizeof(v);
	if (xio_sys.getsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &v, &n) < 0 || v < 0)
		v = 0;
	atomic_store(&l->defer_s, v);
	pthread_mutex_lock(&l->defer_lock);
	if (l->pending || l->ready || atomic_load(&l->owner) != self())
		sweep(l, fd); /* cleared: what was held is acceptable now, and its pollers woken */
	pthread_mutex_unlock(&l->defer_lock);
}

int xio_listener_helper_fd(struct xio_listener *l)
{
	if (atomic_load(&l->owner) == self() && l->waitfd >= 0)
		return l->waitfd;
	pthread_mutex_lock(&l->defer_lock);
	int w = wait_set(l);
	pthread_mutex_unlock(&l->defer_lock);
	return w >= 0 ? w : l->helper;
}

static int accept_xio(struct xio_listener *l, int tcp, struct sockaddr *sa, socklen_t *len,
		      int flags, struct xio_conn **conn)
{
	if (atomic_load(&l->defer_s) || atomic_load(&l->holding)) {
		int r = accept_held(l, tcp, sa, len, flags, conn);
		if (r != -EAGAIN || atomic_load(&l->defer_s))
			return r;
	}
	for (;;) {
		/*
		 * The fd gets exactly the flags accept4() was asked for; the
		 * handshake reads with MSG_DONTWAIT whatever they are.
		 */
		int fl = flags & (SOCK_CLOEXEC | SOCK_NONBLOCK);
		int u = xio_sys.accept4(l->helper, NULL, NULL, fl);
		if (u < 0)
			return -errno;
		int r = handshake(l, tcp, u, conn);
		if (r == NUDGED) {
			/* a manager started: nothing for the application, wait for the next */
			xio_sys.close(u);
			refresh(l, tcp);
			continue;
		}
		if (r == 0) {
			if (sa && len) {
				int k =
				    xio_ep_to_sockaddr(&(*conn)->tuple.remote, l->family, sa, len);
				if (k < 0)
					r = k;
			}
			if (r == 0)
				return u;
			xio_conn_put(*conn);
			*conn = NULL;
		}
		/* A truncated or stale offer is that client's problem: drop it, try the next. */
		xio_log(1, "dropped a rendezvous connection: %s", strerror(-r));
		xio_sys.close(u);
	}
}

/*
 * A TCP connection @t accepted from another network namespace may be a
 * client of the domain waiting to be paired (pair.c): if the manager proves
 * it, the application gets the X-IO end instead and @t stays open, hidden,
 * for the kernel's view of the connection. Returns the fd to hand out.
 */
static int accept_paired(struct xio_listener *l, int t, int flags, struct xio_conn **conn)
{
	struct xio_domain *d = atomic_load(&l->dom);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct xio_endpoint peer;
	struct xio_slot *s;
	uint32_t token;

	if (!d->hdr->pair_ok || xio_sys.getpeername(t, (struct sockaddr *)&ss, &sl) < 0 ||
	    xio_ep_from_sockaddr(&peer, (struct sockaddr *)&ss, sl) < 0)
		return t;
	int u = xio_pair_claim(d, t, &peer, &s, &token);
	if (u < 0)
		return t;
	if ((!(flags & SOCK_NONBLOCK) && xio_sys.fcntl(u, F_SETFL, O_RDWR) < 0) ||
	    (!(flags & SOCK_CLOEXEC) && xio_sys.fcntl(u, F_SETFD, 0) < 0)) {
		xio_sys.close(u); /* the client sees its connection closed */
		return t;
	}
	struct xio_endpoint local = {0};
	sl = sizeof(ss);
	if (xio_sys.getsockname(t, (struct sockaddr *)&ss, &sl) == 0)
		xio_ep_from_sockaddr(&local, (struct sockaddr *)&ss, sl);
	struct xio_conn *c = server_conn(l, d, s, token, &local, &peer, t);
	if (!c) {
		xio_sys.close(u);
		return t;
	}
	/* the kernel's connection stays beside ours, hidden (docs/DESIGN.md) */
	c->port_holder = xio_fd_move_high(t);
	xio_helper_fd(c->port_holder, true);
	*conn = c;
	return u;
}

/*
 * Until when accept looks again before it sleeps (1: it does not): as long as
 * the connection waits spin, unless the last client ran on our CPU (it could
 * not connect while we spin).
 */
static uint64_t accept_spin_end(struct xio_listener *l)
{
	struct xio_slot *ls = atomic_load_explicit(&l->last_slot, memory_order_relaxed);
	int spin = xio_spin_us();
	if (!ls || spin <= 0 || xio_spin_crowded() ||
	    atomic_load_explicit(&ls->last_cpu[0], memory_order_relaxed) == sched_getcpu() + 1)
		return 1;
	return xio_mono_us() + (uint64_t)spin;
}

int xio_listener_accept(struct xio_listener *l, int fd, struct sockaddr *sa, socklen_t *len,
			int flags, bool nonblock, struct xio_conn **conn)
{
	uint64_t spin_end = 0;
	*conn = NULL;
	/*
	 * A new generation: someone in this process attached to it already, or
	 * it is time to look (a restart while we were not accepting; the nudge
	 * of the new manager normally tells us first).
	 */
	struct xio_domain *cur = xio_domain_peek();
	if ((cur != atomic_load(&l->dom) && cur != atomic_load(&l->refused)) ||
	    xio_mono_ns() - atomic_load_explicit(&l->checked_ns, memory_order_relaxed) >=
		REFRESH_NS)
		refresh(l, fd);
	for (;;) {
		int r = accept_xio(l, fd, sa, len, flags, conn);
		if (r >= 0 || (r != -EAGAIN && r != -EWOULDBLOCK))
			return r;
		struct pollfd p[2] = {{.fd = fd, .events = POLLIN},
				      {.fd = xio_listener_helper_fd(l), .events = POLLIN}};
		if (!nonblock) {
			/*
			 * Look again for a while before sleeping: the next client often
			 * connects within microseconds, a wake-up across CPUs costs tens.
			 */
			if (!spin_end)
				spin_end = accept_spin_end(l);
			int pr = 0;
			while (spin_end > 1 && (pr = xio_sys.poll(p, 2, 0)) == 0 &&
			       xio_mono_us() < spin_end)
				rte_pause();
			/* Sleep on both queues; accept4 on the TCP listener only once it is ready.
			 */
			if (pr == 0)
				pr = xio_sys.poll(p, 2, -1);
			if (pr < 0) {
				if (errno == EINTR && xio_signal_restarts())
					continue;
				return -errno;
			}
			if (!(p[0].revents & POLLIN))
				continue;
		}
		int t = xio_sys.accept4(fd, sa, len, flags);
		if (t >= 0)
			return accept_paired(l, t, flags, conn);
		return -errno;
	}
}
