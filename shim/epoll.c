/* SPDX-License-Identifier: MIT */
/*
 * epoll over a mix of X-IO and kernel fds.
 *
 * Kernel fds stay registered in the application's epoll instance as they
 * are. X-IO fds (the AF_UNIX end of a connection, the rendezvous listener of
 * an X-IO TCP listener) go into a private "shadow" epoll instance, which is
 * itself registered in the application's instance under a random 64-bit
 * marker. epoll_wait reports X-IO readiness from ring state, sleeps in the
 * kernel on the application's instance (woken by doorbells through the
 * shadow), and hides the marker's events.
 *
 * Level-triggered readiness is exact. EPOLLET reports a new edge when data
 * arrived (or the peer consumed) since the last report; EPOLLONESHOT
 * disables the item until EPOLL_CTL_MOD. Both are per process (documented).
 *
 * A set that is itself watched from outside (inside another epoll set, or
 * in poll/select) is "nested": its kernel readiness must follow the rings.
 * Its connections then ring a doorbell on every arrival (xio_conn_watch),
 * and an eventfd in its shadow is signalled while level-triggered items
 * stay ready.
 *
 * A set that is neither nested nor shared with another process (fork) reads
 * only the connections that changed: it takes a news board of the domain
 * (stack/board.h) and claims its connections' ends for it; producers post
 * there, and epoll_wait takes the posts in bulk into a queue of items to
 * look at, where level-triggered items that were ready stay until a look
 * finds them not ready. A sleeping set counts itself on the board instead
 * of announcing its sleep on every connection. Items the board cannot
 * cover (listeners, a connection in a second set, one that existed at a
 * fork) are read on every call, as every item is in a set without a board.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <time.h>

#include "clock.h"
#include "shim.h"
#include "wait.h"

/* ep_wait asks at most this many items how long to spin. */
#define SPIN_SAMPLE 16

struct ep_item {
	int fd;
	enum fd_kind kind;
	struct xio_conn *conn;
	struct xio_listener *listener;
	struct epoll_event ev; /* what the application asked for */
	uint32_t last_in, last_nospace, last_ev;
	bool disabled;	   /* EPOLLONESHOT fired */
	bool exclusive;	   /* added with EPOLLEXCLUSIVE: MOD is EINVAL, as in the kernel */
	bool helper_ready; /* listener: shadow saw its rendezvous socket readable */
	bool quiet;	   /* peer's FIN seen: the shadow watches HUP/ERR only */
	/* Sleeps announced on the connection for this item, by events (prep_mask). */
	uint16_t prep[4];
	bool lone;	  /* the first of them announced alone: the drain is this set's */
	bool on_board;	  /* its end is claimed for the set's board */
	bool eof_counted; /* counted in the set's eofs */
	/* In the set's lists (NEWS, AGAIN: see collect_board), and the links of each. */
	bool queued[2];
	struct ep_item *qnext[2], *qprev[2];
	int lix; /* index in the set's list of items without the board, or -1 */
};

struct ep_set {
	_Atomic int refs;
	pthread_mutex_t lock;
	int shadow;
	int evfd;     /* nested sets: readable while items stay ready */
	bool nested;  /* watched from outside: see the top of this file */
	bool forked;  /* shared with another process since a fork */
	int sleepers; /* threads asleep in ep_wait with their sleep announced */
	struct ep_set *next_all;
	uint64_t marker;
	struct ep_item **items; /* in the order they were added */
	int n, cap;
	int next;	 /* where collect() starts: after the last item it reported */
	uint64_t purged; /* fdt_closes() when stale items were last looked for */
	/* The news board (top of this file); board < 0: none, every item is read each call. */
	struct xio_domain *bdom;
	int board;
	bool no_board;		 /* could not take one: do not try again */
	struct ep_item **by_bit; /* the item of each board bit */
	uint32_t harvest_from;	 /* where the next harvest starts (board.h) */
	uint32_t nbits;
	/* NEWS: items to look at, in the order they had news; AGAIN: reported, level. */
	struct ep_item *qhead[2], *qtail[2];
	struct ep_item **legacy; /* items without the board */
	int nlegacy, caplegacy, lnext;
	/* Liveness clock (stack.h, xio_cover_*) of the board's items, -1 none; last marked. */
	int cover;
	uint64_t cover_us;
	int eofs; /* items whose socket read EOF (eof_counted) */
};

/* Every set of this process, so fork can mark them shared. */
static pthread_mutex_t all_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ep_set *all_sets;

static void mark_all_forked(void)
{
	for (struct ep_set *s = all_sets; s; s = s->next_all)
		s->forked = true;
}

static void atfork_prepare(void)
{
	pthread_mutex_lock(&all_lock);
}

static void atfork_after(void)
{
	mark_all_forked();
	pthread_mutex_unlock(&all_lock);
}

static void kick_board(uint32_t b);

__attribute__((constructor)) static void epoll_fork_hooks(void)
{
	pthread_atfork(atfork_prepare, atfork_after, atfork_after);
	xio_board_set_kick(kick_board);
}

void ep_set_get(struct ep_set *s)
{
	atomic_fetch_add(&s->refs, 1);
}

static void join_sleepers(struct ep_set *s, struct ep_item *it);

/* ---- the news board's queue and lists ------------------------------- */

static bool board_mode(const struct ep_set *s)
{
	return s->board >= 0;
}

enum { NEWS, AGAIN };

static void list_add(struct ep_set *s, int l, struct ep_item *it)
{
	if (it->queued[l])
		return;
	it->queued[l] = true;
	it->qnext[l] = NULL;
	it->qprev[l] = s->qtail[l];
	if (s->qtail[l])
		s->qtail[l]->qnext[l] = it;
	else
		s->qhead[l] = it;
	s->qtail[l] = it;
}

static void list_del(struct ep_set *s, int l, struct ep_item *it)
{
	if (!it->queued[l])
		return;
	it->queued[l] = false;
	if (it->qprev[l])
		it->qprev[l]->qnext[l] = it->qnext[l];
	else
		s->qhead[l] = it->qnext[l];
	if (it->qnext[l])
		it->qnext[l]->qprev[l] = it->qprev[l];
	else
		s->qtail[l] = it->qprev[l];
	it->qnext[l] = it->qprev[l] = NULL;
}

/* To be looked at (news, a fresh item, a drained socket). */
static void enqueue(struct ep_set *s, struct ep_item *it)
{
	list_add(s, NEWS, it);
}

/* Out of both lists. */
static void dequeue(struct ep_set *s, struct ep_item *it)
{
	list_del(s, NEWS, it);
	list_del(s, AGAIN, it);
}

static int legacy_add(struct ep_set *s, struct ep_item *it)
{
	if (s->nlegacy == s->caplegacy) {
		int cap = s->caplegacy ? s->caplegacy * 2 : 16;
		void *p = realloc(s->legacy, (size_t)cap * sizeof(*s->legacy));
		if (!p)
			return -ENOMEM;
		s->legacy = p;
		s->caplegacy = cap;
	}
	it->lix = s->nlegacy;
	s->legacy[s->nlegacy++] = it;
	return 0;
}

static void legacy_remove(struct ep_set *s, struct ep_item *it)
{
	if (it->lix < 0)
		return;
	/* Keep the order, as remove_at does for the items. */
	for (int k = it->lix + 1; k < s->nlegacy; k++) {
		s->legacy[k - 1] = s->legacy[k];
		s->legacy[k - 1]->lix = k - 1;
	}
	s->nlegacy--;
	if (s->lnext > it->lix)
		s->lnext--;
	it->lix = -1;
}

/* Give the board's claims back: the item is read on every call from now on. */
static void item_off_board(struct ep_set *s, struct ep_item *it)
{
	if (!it->on_board)
		return;
	xio_board_release(it->conn, (uint32_t)s->board);
	xio_conn_set_cover(it->conn, -1, s->cover);
	uint32_t bit = xio_conn_board_bit(it->conn);
	if (bit < s->nbits && s->by_bit[bit] == it)
		s->by_bit[bit] = NULL;
	it->on_board = false;
}

/* Try to put a new item's connection on the set's board; else it joins the legacy list. */
static int item_on_board(struct ep_set *s, struct ep_item *it)
{
	it->lix = -1;
	if (it->conn && !s->no_board && !s->nested && !s->forked && s->board < 0) {
		struct xio_domain *d = xio_conn_domain(it->conn);
		uint32_t nbits = xio_board_nbits(d);
		int b = nbits ? xio_board_take(d) : -1;
		s->by_bit = b >= 0 ? calloc(nbits, sizeof(*s->by_bit)) : NULL;
		if (!s->by_bit) {
			if (b >= 0)
				xio_board_give(d, (uint32_t)b);
			s->no_board = true;
		} else {
			s->bdom = d;
			s->board = b;
			s->nbits = nbits;
			/*
			 * Threads asleep since before the board (a server's listener
			 * thread waits on its listening socket alone until a worker
			 * adds the first connection) counted themselves on no board:
			 * count them now, or producers see no sleeper and do not ring
			 * (compat_apache2: mpm_event's keep-alive connections hung).
			 * announce(false) takes each count back.
			 */
			for (int k = 0; k < s->sleepers; k++)
				xio_board_sleep(d, (uint32_t)b, true);
		}
	}
	if (it->conn && board_mode(s) && xio_conn_domain(it->conn) == s->bdom) {
		uint32_t bit = xio_conn_board_bit(it->conn);
		if (bit < s->nbits && !s->by_bit[bit] &&
		    xio_board_claim(it->conn, (uint32_t)s->board)) {
			s->by_bit[bit] = it;
			it->on_board = true;
			if (s->cover >= 0)
				xio_conn_set_cover(it->conn, s->cover, -1);
			enqueue(s, it); /* the first look */
			return 0;
		}
	}
	return legacy_add(s, it);
}

/*
 * A demoted connection's readiness is its socket's (stack/demote.c), which
 * posts no news: read it on every call. Caller holds the set's lock.
 */
static void demoted_off_board(struct ep_set *s, struct ep_item *it)
{
	if (!it->on_board || !xio_conn_is_demoted(it->conn) || legacy_add(s, it) < 0)
		return;
	dequeue(s, it);
	item_off_board(s, it);
}

/*
 * The set became nested or shared with another process: a news board serves
 * one reader. Every item is read on every call from now on. Caller holds
 * the set's lock.
 */
static void board_off(struct ep_set *s)
{
	if (!board_mode(s))
		return;
	for (int i = 0; i < s->n; i++) {
		struct ep_item *it = s->items[i];
		dequeue(s, it);
		item_off_board(s, it);
	}
	for (int k = 0; k < s->sleepers; k++) /* their sleeps were counted on the board only */
		xio_board_sleep(s->bdom, (uint32_t)s->board, false);
	xio_board_give(s->bdom, (uint32_t)s->board); /* only if this process took it */
	free(s->by_bit);
	s->by_bit = NULL;
	s->board = -1;
	s->no_board = true;
	/* Threads asleep now announce on every item, as a set without a board does. */
	for (int i = 0; i < s->n; i++)
		join_sleepers(s, s->items[i]);
}

/* Wake the sets of this process that read board @b (board.c: a doorbell was taken). */
static void kick_board(uint32_t b)
{
	uint64_t one = 1;
	pthread_mutex_lock(&all_lock);
	for (struct ep_set *o = all_sets; o; o = o->next_all)
		if (o->board == (int)b)
			(void)!real.write(o->evfd, &one, sizeof(one));
	pthread_mutex_unlock(&all_lock);
}

/* The kernel events of one announced sleep, by index 1 = IN, 2 = OUT, 3 = both. */
static const unsigned prep_mask[4] = {0, EPOLLIN, EPOLLOUT, EPOLLIN | EPOLLOUT};

/* Announce one sleeper's wait on @it's connection: the peer rings for it. */
static void item_prepare(struct ep_item *it)
{
	unsigned k = (it->ev.events & EPOLLIN ? 1 : 0) | (it->ev.events & EPOLLOUT ? 2 : 0);
	if (!it->conn || it->disabled || !k)
		return;
	if (xio_conn_wait_prepare(it->conn, prep_mask[k]))
		it->lone = true;
	it->prep[k]++;
}

/*
 * Withdraw one announced sleep, or all of them (@all), with the events each
 * was made with; the lone bit with the last one (the set's threads share it).
 */
static void item_unprepare(struct ep_item *it, bool all)
{
	for (unsigned k = 3; k > 0; k--)
		while (it->prep[k]) {
			it->prep[k]--;
			bool last = !it->prep[1] && !it->prep[2] && !it->prep[3];
			xio_conn_wait_finish(it->conn, -1, prep_mask[k], last && it->lone);
			if (last)
				it->lone = false;
			if (!all)
				return;
		}
}

static void item_free(struct ep_set *s, struct ep_item *it)
{
	if (it->eof_counted)
		s->eofs--;
	dequeue(s, it);
	legacy_remove(s, it);
	if (it->conn && s->nested)
		xio_conn_watch(it->conn, false);
	if (it->conn) {
		item_off_board(s, it);
		item_unprepare(it, true);
		xio_conn_put(it->conn);
	}
	if (it->listener)
		xio_listener_put(it->listener);
	free(it);
}

void ep_set_put(struct ep_set *s)
{
	if (atomic_fetch_sub(&s->refs, 1) != 1)
		return;
	pthread_mutex_lock(&all_lock);
	for (struct ep_set **pp = &all_sets; *pp; pp = &(*pp)->next_all)
		if (*pp == s) {
			*pp = s->next_all;
			break;
		}
	pthread_mutex_unlock(&all_lock);
	for (int i = 0; i < s->n; i++)
		item_free(s, s->items[i]);
	free(s->items);
	if (board_mode(s))
		xio_board_give(s->bdom, (uint32_t)s->board);
	xio_cover_give(s->cover);
	free(s->by_bit);
	free(s->legacy);
	xio_helper_fd(s->shadow, false);
	xio_helper_fd(s->evfd, false);
	real.close(s->shadow);
	real.close(s->evfd);
	free(s);
}

static struct ep_set *set_of(int epfd)
{
	struct fd_entry *e = fdt_get(epfd);
	return e && e->kind == FD_EPOLL ? e->epoll : NULL;
}

static struct ep_set *set_create(int epfd)
{
	struct ep_set *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	atomic_init(&s->refs, 1);
	pthread_mutex_init(&s->lock, NULL);
	s->board = -1;
	s->cover = xio_cover_take();
	if (getrandom(&s->marker, sizeof(s->marker), 0) != sizeof(s->marker))
		s->marker = (uint64_t)(uintptr_t)s ^ 0x9e3779b97f4a7c15ull;
	s->shadow = real.epoll_create1(EPOLL_CLOEXEC);
	if (s->shadow < 0) {
		free(s);
		return NULL;
	}
	s->shadow = xio_fd_move_high(s->shadow);
	s->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = s->marker};
	struct epoll_event evev = {.events = EPOLLIN, .data.ptr = NULL};
	if (s->evfd < 0 || (s->evfd = xio_fd_move_high(s->evfd)) < 0 ||
	    real.epoll_ctl(s->shadow, EPOLL_CTL_ADD, s->evfd, &evev) < 0 ||
	    real.epoll_ctl(epfd, EPOLL_CTL_ADD, s->shadow, &ev) < 0) {
		real.close(s->shadow);
		if (s->evfd >= 0)
			real.close(s->evfd);
		free(s);
		return NULL;
	}
	xio_helper_fd(s->shadow, true);
	xio_helper_fd(s->evfd, true);
	pthread_mutex_lock(&all_lock);
	s->next_all = all_sets;
	all_sets = s;
	pthread_mutex_unlock(&all_lock);
	if (fdt_set_epoll(epfd, s) < 0)
		return NULL;
	/* A thread may already sleep on @epfd, not knowing the set: wake it (see ep_wait). */
	uint64_t one = 1;
	(void)!real.write(s->evfd, &one, sizeof(one));
	return s;
}

/* The item registered for @fd while @fd refers to the same file. */
static int find(struct ep_set *s, int fd, const struct fd_entry *e)
{
	for (int i = 0; i < s->n; i++) {
		struct ep_item *it = s->items[i];
		if (it->fd == fd && ((it->conn && it->conn == e->conn) ||
				     (it->listener && it->listener == e->listener)))
			return i;
	}
	return -1;
}

/* The file behind an item is closed in this process: the kernel dropped it too. */
static bool item_stale(const struct ep_item *it)
{
	if (it->conn)
		return !xio_conn_fd_open(it->conn);
	struct fd_entry *e = fdt_get(it->fd);
	return !e || e->kind != FD_LISTENER || e->listener != it->listener;
}

static void remove_at(struct ep_set *s, int i)
{
	struct ep_item *it = s->items[i];
	int kfd = it->kind == FD_LISTENER ? xio_listener_helper_fd(it->listener) : it->fd;
	real.epoll_ctl(s->shadow, EPOLL_CTL_DEL, kfd, NULL);
	/* Keep the order: it decides which ready items a small result reports first. */
	memmove(&s->items[i], &s->items[i + 1], (size_t)(s->n - i - 1) * sizeof(*s->items));
	s->n--;
	if (s->next > i)
		s->next--;
	item_free(s, it);
}

static void purge_stale(struct ep_set *s)
{
	/* Only a freed fd entry makes an item stale: without one, no walk over every item. */
	uint64_t closes = fdt_closes();
	if (closes == s->purged)
		return;
	s->purged = closes;
	for (int i = 0; i < s->n; i++)
		if (item_stale(s->items[i]))
			remove_at(s, i--);
}

/*
 * A demoted connection whose switch is over (xio_conn_plain) is a plain
 * AF_UNIX stream for good: its item leaves the shadow and is registered in
 * the application's own instance with the application's events and data, so
 * the kernel reports it (and EPOLLET, EPOLLONESHOT, EPOLLEXCLUSIVE are the
 * kernel's) instead of a poll of its socket in every epoll_wait. Not while
 * EPOLLONESHOT has disabled the item (until EPOLL_CTL_MOD re-arms it), nor
 * in a set shared with another process since a fork (that process keeps its
 * own items: the kernel would report the fd twice there), nor after urgent
 * data came through X-IO (a lone urgent byte is POLLIN on AF_UNIX, not on
 * TCP: demote.c corrects it). Caller holds the set's lock.
 */
static void hand_over(struct ep_set *s, int epfd)
{
	if (s->forked)
		return;
	/*
	 * With a board only its legacy items can be demoted ones (a board item
	 * leaves the board when a look finds it demoted): no walk of the set
	 * on every scan.
	 */
	bool board = board_mode(s);
	int n = board ? s->nlegacy : s->n;
	for (int i = 0; i < n; i++) {
		struct ep_item *it = board ? s->legacy[i] : s->items[i];
		if (!it->conn || it->disabled || !xio_conn_plain(it->conn) ||
		    xio_conn_urgent(it->conn) || item_stale(it))
			continue;
		/*
		 * The kernel reports an fd added ready at once: an edge-triggered item
		 * goes over when nothing is readable, or an edge already reported
		 * (the bytes not read yet) would be reported again. Writability may
		 * be reported once more: a write that finds no room says so.
		 */
		if ((it->ev.events & EPOLLET) &&
		    (xio_conn_ready(it->conn) & (EPOLLIN | EPOLLPRI | EPOLLRDHUP)))
			continue;
		struct epoll_event ev = it->ev;
		if (real.epoll_ctl(epfd, EPOLL_CTL_ADD, it->fd, &ev) < 0)
			continue;
		int at = i;
		if (board)
			for (at = 0; at < s->n && s->items[at] != it; at++)
				;
		remove_at(s, at); /* from the legacy list too */
		i--;
		n--;
	}
}

static int add_item(struct ep_set *s, int epfd, int fd, struct fd_entry *e, struct epoll_event *ev)
{
	if (s->n == s->cap) {
		int cap = s->cap ? s->cap * 2 : 16;
		void *p = realloc(s->items, (size_t)cap * sizeof(*s->items));
		if (!p)
			return -ENOMEM;
		s->items = p;
		s->cap = cap;
	}
	struct ep_item *it = calloc(1, sizeof(*it));
	if (!it)
		return -ENOMEM;
	it->fd = fd;
	it->lix = -1;
	it->kind = e->kind;
	it->ev = *ev;
	it->exclusive = ev->events & EPOLLEXCLUSIVE;
	it->last_in = 0xffffffffu; /* the first collect is an edge */
	struct epoll_event sev = {.events = EPOLLIN, .data.ptr = it};
	int kfd = fd;
	if (e->kind == FD_LISTENER) {
		/* The TCP half stays a plain kernel registration with the application's data. */
		if (real.epoll_ctl(epfd, EPOLL_CTL_ADD, fd, ev) < 0) {
			int err = errno;
			free(it);
			return -err;
		}
		kfd = xio_listener_helper_fd(e->listener);
		xio_listener_get(e->listener);
		it->listener = e->listener;
	} else {
		xio_conn_get(e->conn);
		it->conn = e->conn;
		if (s->nested)
			xio_conn_watch(it->conn, true);
	}
	if (real.epoll_ctl(s->shadow, EPOLL_CTL_ADD, kfd, &sev) < 0) {
		int err = errno;
		if (e->kind == FD_LISTENER)
			real.epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
		item_free(s, it);
		return -err;
	}
	if (item_on_board(s, it) < 0) {
		real.epoll_ctl(s->shadow, EPOLL_CTL_DEL, kfd, NULL);
		if (e->kind == FD_LISTENER)
			real.epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
		item_free(s, it);
		return -ENOMEM;
	}
	s->items[s->n++] = it;
	join_sleepers(s, it);
	return 0;
}

XIO_EXPORT int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	SHIM_INIT();
	struct fd_entry *e = shim_entry(fd);
	struct ep_set *s = set_of(epfd);
	if (!e || (e->kind != FD_CONN && e->kind != FD_LISTENER) || epfd == fd) {
		int r = real.epoll_ctl(epfd, op, fd, ev);
		if (r == 0 && op == EPOLL_CTL_ADD && e && e->kind == FD_EPOLL)
			shim_epoll_nested(fd); /* one of our sets inside another */
		if (r == 0 && (!e || e->kind == FD_KERNEL))
			shim_fresh_epoll(fd, epfd, op, ev); /* socket.c: moved by an X-IO connect */
		return r;
	}
	if (op != EPOLL_CTL_DEL && !ev) {
		errno = EFAULT;
		return -1;
	}
	if (!s && e->kind == FD_CONN && xio_conn_plain(e->conn))
		return real.epoll_ctl(epfd, op, fd, ev); /* hand_over: the kernel's alone */
	if (!s && op == EPOLL_CTL_ADD && !(s = set_create(epfd)))
		return real.epoll_ctl(epfd, op, fd, ev); /* cannot shadow: errno from the kernel */
	if (!s) {
		errno = ENOENT;
		return -1;
	}
	/* What the kernel allows next to EPOLLEXCLUSIVE (fs/eventpoll.c). */
	const uint32_t excl_ok = EPOLLIN | EPOLLOUT | EPOLLRDNORM | EPOLLRDBAND | EPOLLWRNORM |
				 EPOLLWRBAND | EPOLLERR | EPOLLHUP | EPOLLWAKEUP | EPOLLET |
				 EPOLLEXCLUSIVE;
	int r = 0;
	pthread_mutex_lock(&s->lock);
	purge_stale(s);
	int i = find(s, fd, e);
	if (i < 0 && e->kind == FD_CONN && xio_conn_plain(e->conn)) {
		/* Not ours (any more): the kernel's item (hand_over), or one to become it. */
		r = real.epoll_ctl(epfd, op, fd, ev) < 0 ? -errno : 0;
		pthread_mutex_unlock(&s->lock);
		return (int)shim_ret(r);
	}
	switch (op) {
	case EPOLL_CTL_ADD:
		if ((ev->events & EPOLLEXCLUSIVE) && (ev->events & ~excl_ok))
			r = -EINVAL;
		else
			r = i >= 0 ? -EEXIST : add_item(s, epfd, fd, e, ev);
		break;
	case EPOLL_CTL_MOD:
		if (i < 0) {
			r = -ENOENT;
			break;
		}
		if ((ev->events & EPOLLEXCLUSIVE) || s->items[i]->exclusive) {
			r = -EINVAL;
			break;
		}
		if (s->items[i]->kind == FD_LISTENER && real.epoll_ctl(epfd, op, fd, ev) < 0) {
			r = -errno;
			break;
		}
		if (s->items[i]->conn)
			item_unprepare(s->items[i], true);
		s->items[i]->ev = *ev;
		s->items[i]->disabled = false;
		s->items[i]->last_in = 0xffffffffu;
		if (s->items[i]->on_board)
			enqueue(s, s->items[i]); /* a look, as a fresh item gets */
		join_sleepers(s, s->items[i]);
		break;
	case EPOLL_CTL_DEL:
		if (i < 0) {
			r = -ENOENT;
			break;
		}
		if (s->items[i]->kind == FD_LISTENER)
			real.epoll_ctl(epfd, op, fd, ev);
		remove_at(s, i);
		break;
	default:
		r = -EINVAL;
	}
	pthread_mutex_unlock(&s->lock);
	return (int)shim_ret(r);
}

/*
 * What @it reports now (0: nothing), with its EPOLLET bookkeeping: a
 * reported edge is consumed. Caller holds the set's lock.
 */
static uint32_t item_events(struct ep_item *it)
{
	uint32_t want = it->ev.events | EPOLLERR | EPOLLHUP, ev;
	if (it->kind == FD_LISTENER) {
		ev = it->helper_ready ? (EPOLLIN & want) : 0;
		it->helper_ready = false;
		return ev;
	}
	/* Edge counters first: an arrival after them is a new edge next time. */
	uint32_t in = 0, nospace = 0;
	if (it->ev.events & EPOLLET)
		xio_conn_edges(it->conn, &in, &nospace);
	xio_conn_note_fd(it->conn, it->fd); /* a demoted one asks its socket */
	ev = xio_conn_ready_for(it->conn, want) & want;
	if (it->ev.events & EPOLLET) {
		/*
		 * An edge is an arrival, EOF, new HUP/ERR, or room after a send
		 * hit a full ring; like the kernel we then report the whole
		 * ready mask, and nothing until the next edge.
		 */
		bool edge = in != it->last_in || (nospace != it->last_nospace && (ev & EPOLLOUT)) ||
			    (ev & ~it->last_ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR));
		if (!edge)
			return 0;
		it->last_in = in;
		if (ev & EPOLLOUT)
			it->last_nospace = nospace;
		it->last_ev = ev;
	}
	return ev;
}

/* Ready X-IO items into @out (at most @max). Caller holds the set's lock. */
/*
 * Look at @items[0..count) round robin from *@next, appending what is ready
 * to @out[n..max); *@next moves past the last one reported. Returns the new n.
 */
static int collect_round(struct ep_item **items, int count, int *next, struct epoll_event *out,
			 int n, int max)
{
	int start = count ? *next % count : 0, last = -1;
	for (int k = 0; k < count && n < max; k++) {
		int i = (start + k) % count;
		struct ep_item *it = items[i];
		if (it->disabled)
			continue;
		uint32_t ev = item_events(it);
		if (!ev)
			continue;
		out[n].events = ev;
		out[n].data = it->ev.data;
		n++;
		last = i;
		if (it->ev.events & EPOLLONESHOT)
			it->disabled = true;
	}
	if (last >= 0)
		*next = last + 1;
	return n;
}

/*
 * Like the kernel's ready list: items in the order they became ready as far
 * as we know (the order they were added; a server's new connections are
 * then reported in connect order), and round robin, so that a result
 * smaller than the ready set does not report the same items every time.
 */
static int collect_all(struct ep_set *s, struct epoll_event *out, int max)
{
	return collect_round(s->items, s->n, &s->next, out, 0, max);
}

/* A board bit taken: its item (if it is still ours) is looked at, its news word cleared. */
static void took_news(uint32_t bit, void *arg)
{
	struct ep_set *s = arg;
	struct ep_item *it = bit < s->nbits ? s->by_bit[bit] : NULL;
	if (!it)
		return; /* a stale post: the item left, or the board had another owner */
	xio_board_news_taken(it->conn);
	enqueue(s, it);
}

/*
 * One item of collect_board's lists: what it reports into @out[*n], if
 * anything; a reported level-triggered item joins AGAIN (it may still be
 * ready next time). Caller has taken it out of both lists.
 */
static void look_at(struct ep_set *s, struct ep_item *it, struct epoll_event *out, int *n)
{
	if (it->disabled || item_stale(it))
		return; /* EPOLL_CTL_MOD queues it again; purge_stale frees it */
	demoted_off_board(s, it);
	if (!it->on_board)
		return; /* read with the legacy items from now on */
	uint32_t ev = item_events(it);
	/*
	 * Waiting for room: the reader posts news once it made some (room
	 * made meanwhile is posted here, for the next harvest).
	 */
	if (!ev && (it->ev.events & EPOLLOUT) && !(xio_conn_ready(it->conn) & EPOLLOUT))
		(void)xio_board_watch_space(it->conn);
	if (!ev)
		return;
	out[*n].events = ev;
	out[*n].data = it->ev.data;
	(*n)++;
	if (it->ev.events & EPOLLONESHOT)
		it->disabled = true;
	else if (!(it->ev.events & EPOLLET))
		list_add(s, AGAIN, it);
}

/*
 * With a board: first the items with news (NEWS, in the order they had it:
 * the kernel's ready list), then the level-triggered items reported before
 * that no news has brought back since (AGAIN: still ready?), each looked at
 * once per call; one found not ready leaves both lists until its next news.
 * News comes first so that connections answered quickly, whose news comes
 * while the application works on its last result, cannot keep the head of
 * the line (a few hundred of 1,000 connections were served over and over).
 * Then the items without the board, round robin.
 */
static int collect_board(struct ep_set *s, struct epoll_event *out, int max)
{
	int n = 0;
	xio_board_harvest(s->bdom, (uint32_t)s->board, &s->harvest_from, took_news, s);
	/*
	 * The connections' shared lines are cold (10,000 connections do not
	 * fit a cache): ask for those of the next items with news at once, so
	 * that their misses overlap, then look.
	 */
	int pf = 0;
	for (struct ep_item *it = s->qhead[NEWS]; it && pf < max + 8; it = it->qnext[NEWS], pf++)
		if (it->conn)
			xio_conn_prefetch(it->conn);
	/* Each item once: items reported here join AGAIN after its last one now. */
	struct ep_item *again = s->qtail[AGAIN];
	struct ep_item *stop = s->qtail[NEWS];
	for (struct ep_item *it = s->qhead[NEWS], *next; it && n < max; it = next) {
		next = it == stop ? NULL : it->qnext[NEWS];
		if (it == again)
			again = it->qprev[AGAIN];
		dequeue(s, it);
		look_at(s, it, out, &n);
	}
	for (struct ep_item *it = again ? s->qhead[AGAIN] : NULL, *next; it && n < max; it = next) {
		next = it == again ? NULL : it->qnext[AGAIN];
		dequeue(s, it);
		look_at(s, it, out, &n);
	}
	return collect_round(s->legacy, s->nlegacy, &s->lnext, out, n, max);
}

static int collect(struct ep_set *s, struct epoll_event *out, int max)
{
	purge_stale(s);
	if (board_mode(s) && (s->nested || s->forked))
		board_off(s);
	return board_mode(s) ? collect_board(s, out, max) : collect_all(s, out, max);
}

/* Announce or withdraw the sleep; returns whether another waiter shares a connection. */
static bool announce(struct ep_set *s, bool on)
{
	bool company = false;
	s->sleepers += on ? 1 : -1;
	/* With a board: one count on the board, and the items without it one by one. */
	bool board = board_mode(s);
	if (board)
		xio_board_sleep(s->bdom, (uint32_t)s->board, on);
	int n = board ? s->nlegacy : s->n;
	for (int i = 0; i < n; i++) {
		struct ep_item *it = board ? s->legacy[i] : s->items[i];
		if (!it->conn)
			continue;
		if (on) {
			item_prepare(it);
			company = company || xio_conn_has_company(it->conn);
		} else {
			item_unprepare(it, s->sleepers == 0);
		}
	}
	return company;
}

/*
 * An item added or modified while threads sleep in ep_wait: announce their
 * sleeps on it too, so the peer rings for it, and wake one of them if it is
 * ready already (the kernel wakes waiters of an fd added ready). Caller
 * holds the set's lock.
 */
static void join_sleepers(struct ep_set *s, struct ep_item *it)
{
	if (!s->sleepers || !it->conn)
		return;
	for (int k = 0; !it->on_board && k < s->sleepers; k++)
		item_prepare(it);
	if (xio_conn_ready(it->conn) & (it->ev.events | EPOLLERR | EPOLLHUP)) {
		uint64_t one = 1;
		(void)!real.write(s->evfd, &one, sizeof(one));
	}
}

/*
 * After the peer's close a connection's socket reads EOF for good: the
 * shadow would report it at once, forever (F8). Such an item is watched for
 * HUP/ERR only. Nobody can ring it either, so a writer waiting for room
 * re-checks the ring in slices: returns whether one does. (A FIN alone
 * travels in the slot.) Caller holds the set's lock.
 */
static bool quiet_eof(struct ep_set *s)
{
	bool slices = false;
	/*
	 * With a board, its items need a look only once one of them read EOF:
	 * sweep_shadow() sees every such socket (it stays readable) and counts
	 * it. Until then only the legacy items, so a sleep costs no walk.
	 */
	bool board = board_mode(s) && !s->eofs;
	int n = board ? s->nlegacy : s->n;
	for (int i = 0; i < n; i++) {
		struct ep_item *it = board ? s->legacy[i] : s->items[i];
		if (!it->conn || item_stale(it) || !xio_conn_sock_eof(it->conn))
			continue;
		if (!it->quiet) {
			struct epoll_event sev = {.events = 0, .data.ptr = it};
			real.epoll_ctl(s->shadow, EPOLL_CTL_MOD, it->fd, &sev);
			it->quiet = true; /* EOF stays: once is enough, whatever the result */
		}
		slices = slices || (!it->disabled && (it->ev.events & EPOLLOUT));
	}
	return slices;
}

/*
 * We drained a doorbell another waiter of this process may be sleeping on,
 * in another epoll set: wake the other sets once (their eventfd), they
 * re-check their rings. Rare (company on one connection), so no bookkeeping
 * of which set holds which connection.
 */
static void kick_other_sets(struct ep_set *self)
{
	uint64_t one = 1;
	pthread_mutex_lock(&all_lock);
	for (struct ep_set *o = all_sets; o; o = o->next_all)
		if (o != self)
			(void)!real.write(o->evfd, &one, sizeof(one));
	pthread_mutex_unlock(&all_lock);
}

static int sweep_shadow(struct ep_set *s);

/* Drop the marker from kernel results; drain what the shadow instance reports. */
static int filter_kernel(struct ep_set *s, struct epoll_event *ev, int n)
{
	int k = 0;
	bool shadow = false;
	for (int i = 0; i < n; i++) {
		if (ev[i].data.u64 == s->marker && !(ev[i].events & ~(uint32_t)EPOLLIN)) {
			shadow = true;
			continue;
		}
		ev[k++] = ev[i];
	}
	if (!shadow)
		return k;
	(void)sweep_shadow(s);
	return k;
}

/*
 * What the shadow instance reports (at most 64): drain it, learn closes.
 * Returns how many it reported. Caller holds the set's lock.
 */
static int sweep_shadow(struct ep_set *s)
{
	struct epoll_event sev[64];
	int m = real.epoll_wait(s->shadow, sev, 64, 0);
	for (int i = 0; i < m; i++) {
		struct ep_item *it = sev[i].data.ptr;
		uint64_t v;
		if (!it) /* the nested-readiness eventfd: re-signalled after the wait if needed */
			(void)!real.read(s->evfd, &v, sizeof(v));
		else if (it->listener) /* not while TCP_DEFER_ACCEPT holds all back */
			it->helper_ready = xio_listener_acceptable(it->listener, it->fd);
		else if (!item_stale(it)) {
			/* Still announced by another thread of this set: the set's drain. */
			xio_conn_drain(it->conn, it->fd, it->lone);
			if (!it->eof_counted && xio_conn_sock_eof(it->conn)) {
				it->eof_counted = true; /* quiet_eof() looks at every item now */
				s->eofs++;
			}
			if (it->on_board) {
				enqueue(s, it); /* a FIN, a reset, a close, a demotion: look */
				demoted_off_board(s, it);
			}
			if ((sev[i].events & EPOLLHUP) && xio_conn_sock_eof(it->conn)) {
				/*
				 * HUP cannot be masked and stays: the peer gone, the socket has
				 * nothing more to tell us once drained to its EOF (a drain may stop
				 * at doorbell bytes before it) (F8).
				 */
				real.epoll_ctl(s->shadow, EPOLL_CTL_DEL, it->fd, NULL);
				it->quiet = true;
			}
			/* Our own sleep is already withdrawn: anyone still counted is another
			 * waiter. */
			if (xio_conn_waiters(it->conn) > 0)
				kick_other_sets(s);
		}
	}
	return m;
}

/*
 * Every half millisecond at most, a look at every socket the shadow holds,
 * so that sends on the board's connections need no poll() each to learn a
 * closed peer (xio_conn_check_peer): the liveness clock says when we looked.
 * Caller holds the set's lock.
 */
static void cover_sweep(struct ep_set *s)
{
	uint64_t now = xio_mono_us();
	if (s->cover < 0 || !board_mode(s) || now - s->cover_us < 500)
		return;
	for (int round = 0; round < 16; round++)
		if (sweep_shadow(s) < 64) {
			s->cover_us = now;
			xio_cover_mark(s->cover, now);
			return;
		}
}

/* Keep a nested set's kernel readiness in step with its level-triggered items. */
static void refresh_nested(struct ep_set *s)
{
	bool ready = false;
	pthread_mutex_lock(&s->lock);
	for (int i = 0; i < s->n && !ready; i++) {
		struct ep_item *it = s->items[i];
		if (it->conn && !it->disabled && !(it->ev.events & EPOLLET) && !item_stale(it))
			ready = xio_conn_ready(it->conn) & (it->ev.events | EPOLLERR | EPOLLHUP);
	}
	pthread_mutex_unlock(&s->lock);
	uint64_t v = 1;
	if (ready)
		(void)!real.write(s->evfd, &v, sizeof(v));
	else
		(void)!real.read(s->evfd, &v, sizeof(v));
}

void shim_epoll_nested(int epfd)
{
	struct ep_set *s = set_of(epfd);
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	if (!s->nested) {
		s->nested = true;
		for (int i = 0; i < s->n; i++)
			if (s->items[i]->conn)
				xio_conn_watch(s->items[i]->conn, true);
	}
	pthread_mutex_unlock(&s->lock);
	refresh_nested(s);
}

/* epoll_pwait with a timespec; millisecond resolution is what every kernel offers. */
static int kernel_wait(int epfd, struct epoll_event *ev, int max, const struct timespec *tp,
		       const sigset_t *mask)
{
	int ms = -1;
	if (tp) {
		int64_t v = ((int64_t)tp->tv_sec * 1000000000 + tp->tv_nsec + 999999) / 1000000;
		ms = v > 0x7fffffff ? 0x7fffffff : (int)v;
	}
	return real.epoll_pwait(epfd, ev, max, ms, mask);
}

/* epoll_wait's front-end of the readiness engine (stack/wait.h). */
struct ep_waiter {
	struct xio_waiter w;
	struct ep_set *s;
	int epfd, max;
	struct epoll_event *ev;
	const sigset_t *mask;
};

static int ew_scan(struct xio_waiter *w)
{
	struct ep_waiter *e = (struct ep_waiter *)w;
	pthread_mutex_lock(&e->s->lock);
	hand_over(e->s, e->epfd);
	int n = collect(e->s, e->ev, e->max);
	pthread_mutex_unlock(&e->s->lock);
	return n;
}

static bool ew_announce(struct xio_waiter *w)
{
	struct ep_waiter *e = (struct ep_waiter *)w;
	pthread_mutex_lock(&e->s->lock);
	bool company = announce(e->s, true);
	pthread_mutex_unlock(&e->s->lock);
	return company;
}

static bool ew_quiet_eof(struct xio_waiter *w)
{
	struct ep_waiter *e = (struct ep_waiter *)w;
	pthread_mutex_lock(&e->s->lock);
	bool slices = quiet_eof(e->s);
	pthread_mutex_unlock(&e->s->lock);
	return slices;
}

/* Kernel results go after the @ready X-IO ones. */
static int ew_sleep(struct xio_waiter *w, const struct timespec *tp, int ready)
{
	struct ep_waiter *e = (struct ep_waiter *)w;
	/* A merge pass must not let the caller's mask deliver a pending signal (see poll.c). */
	int k = kernel_wait(e->epfd, e->ev + ready, e->max - ready, tp, ready ? NULL : e->mask);
	return k < 0 && ready ? 0 : k;
}

static int ew_finish(struct xio_waiter *w, int ready, int k, bool announced)
{
	struct ep_waiter *e = (struct ep_waiter *)w;
	int n = 0;
	pthread_mutex_lock(&e->s->lock);
	if (announced)
		announce(e->s, false);
	/*
	 * The marker took a place of a small result (epoll_wait with maxevents
	 * 1): the kernel's own items behind it (hand_over) are looked for again
	 * at once, or a ready one would be missed by a wait without timeout.
	 */
	for (int again = 0; k > 0; again++) {
		int raw = k;
		k = filter_kernel(e->s, e->ev + ready, k);
		if (k > 0 || raw < e->max - ready || again == 2)
			break;
		k = real.epoll_wait(e->epfd, e->ev + ready, e->max - ready, 0);
	}
	cover_sweep(e->s);
	/* Items reported before the wait must not appear twice in one result. */
	if (k >= 0 && ready == 0 && k < e->max)
		n = collect(e->s, e->ev + k, e->max - k);
	pthread_mutex_unlock(&e->s->lock);
	return k < 0 ? 0 : ready + k + n;
}

static int ep_wait(int epfd, struct epoll_event *ev, int max, int64_t timeout_ns,
		   const sigset_t *mask)
{
	struct ep_set *s = set_of(epfd);
	struct timespec ts;
	int64_t deadline = timeout_ns >= 0 ? xio_mono_ns() + timeout_ns : -1;

	if (!s || max <= 0) {
		if (timeout_ns >= 0)
			ts = (struct timespec){timeout_ns / 1000000000, timeout_ns % 1000000000};
		int r = kernel_wait(epfd, ev, max, timeout_ns >= 0 ? &ts : NULL, mask);
		if (r <= 0 || !(s = set_of(epfd)))
			return r;
		/*
		 * Another thread added the set's first X-IO fd while we slept (its
		 * creation signals the set's eventfd to wake us): hide the marker
		 * and wait again with the set, announced, for the time left.
		 */
		ep_set_get(s);
		pthread_mutex_lock(&s->lock);
		r = filter_kernel(s, ev, r);
		pthread_mutex_unlock(&s->lock);
		if (r > 0 || (deadline >= 0 && xio_mono_ns() >= deadline)) {
			ep_set_put(s);
			return r;
		}
	} else {
		ep_set_get(s);
	}
	struct ep_waiter ew = {.w = {.scan = ew_scan,
				     .announce = ew_announce,
				     .quiet_eof = ew_quiet_eof,
				     .sleep = ew_sleep,
				     .finish = ew_finish,
				     .deadline_ns = deadline},
			       .s = s,
			       .epfd = epfd,
			       .ev = ev,
			       .max = max,
			       .mask = mask};
	/*
	 * How long to spin: each connection says (and notes our CPU in its slot,
	 * for the peer's own choice). Asked of at most SPIN_SAMPLE items, from
	 * where collect() goes on, so the cost does not grow with the set: with
	 * 10,000 items asking all of them was a quarter of a busy server's time
	 * (a store into every slot on every call). Smaller sets ask every item.
	 */
	pthread_mutex_lock(&s->lock);
	int n = s->n < SPIN_SAMPLE ? s->n : SPIN_SAMPLE;
	for (int k = 0; k < n; k++) {
		struct ep_item *it = s->items[(s->next + k) % s->n];
		if (it->conn) {
			int v = xio_conn_spin_us(it->conn);
			ew.w.spin_us = v > ew.w.spin_us ? v : ew.w.spin_us;
		}
	}
	pthread_mutex_unlock(&s->lock);
	int result = xio_wait(&ew.w);
	/*
	 * Watched from outside, or waited on by another process too (fork): we may
	 * have drained the doorbell the others sleep on, so the set's eventfd says
	 * what level-triggered readiness is left.
	 */
	if (s->nested || s->forked) {
		int err = errno; /* EINTR must reach the caller, not the eventfd's EAGAIN */
		refresh_nested(s);
		errno = err;
	}
	ep_set_put(s);
	return result;
}

XIO_EXPORT int epoll_wait(int epfd, struct epoll_event *ev, int max, int ms)
{
	SHIM_INIT();
	return ep_wait(epfd, ev, max, ms < 0 ? -1 : (int64_t)ms * 1000000, NULL);
}

XIO_EXPORT int epoll_pwait(int epfd, struct epoll_event *ev, int max, int ms, const sigset_t *mask)
{
	SHIM_INIT();
	return ep_wait(epfd, ev, max, ms < 0 ? -1 : (int64_t)ms * 1000000, mask);
}

XIO_EXPORT int epoll_pwait2(int epfd, struct epoll_event *ev, int max, const struct timespec *ts,
			    const sigset_t *mask)
{
	SHIM_INIT();
	if (ts && (ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000)) {
		errno = EINVAL;
		return -1;
	}
	return ep_wait(epfd, ev, max, ts ? ts->tv_sec * 1000000000LL + ts->tv_nsec : -1, mask);
}

XIO_EXPORT int epoll_create(int size)
{
	SHIM_INIT();
	int r = real.epoll_create(size);
	if (r >= 0)
		fdt_clear(r);
	return r;
}

XIO_EXPORT int epoll_create1(int flags)
{
	SHIM_INIT();
	int r = real.epoll_create1(flags);
	if (r >= 0)
		fdt_clear(r);
	return r;
}

/*
 * @fd is being closed. The kernel drops its registrations when the last
 * reference to the file goes; our items are checked lazily in collect(),
 * so nothing to do eagerly here beyond what close() already does.
 */
void shim_epoll_forget(int fd)
{
	(void)fd;
}
