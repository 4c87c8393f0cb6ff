/* SPDX-License-Identifier: MIT */
/*
 * Client side of the rendezvous: find a listener for the destination,
 * allocate a slot, connect the AF_UNIX stream, send the offer and return at
 * once — the server's accept is never waited for. Anything that does not
 * work out is XIO_NOT_CARRIED: the caller connects over kernel TCP.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "conn.h"
#include "ring.h"
#include "slot.h"
#include "sys.h"

#define MAX_ENTRIES 16
#define RV_NAME_MAX 64	/* "<16 hex digits>-<pid>-<seq>[-d]" */
#define RV_DIR_MAX  400 /* rundir (< 200) + domain (< 64) + "/rv/<netns>/<key>" */
#define RV_CACHE    8	/* destinations remembered per process */
/* A listing is trusted once its directory was last changed this long before we looked. */
#define RV_RACY_NS 50000000ull
/* How long a "some socket holds the destination port" answer is reused. */
#define RV_PORT_TTL_NS 100000000ull
/* How long a listing of the exact address's directory is used without a stat(). */
#define RV_RECHECK_NS 20000000ull

/* How long an entry that refused a connect is tried last (its listener is likely dead). */
#define RV_REFUSED_NS 1000000000ull

struct candidates {
	int n;
	char name[MAX_ENTRIES][RV_NAME_MAX];
	uint64_t refused_ns[MAX_ENTRIES]; /* CLOCK_MONOTONIC of its last refusal, 0: none */
};

/*
 * Rendezvous lookup cache.
 *
 * Listing a rendezvous directory costs five system calls and checking that a
 * TCP socket holds the port three more; a short connection paid both every
 * time. A process now remembers, per destination and network namespace, the
 * directories of its keys and the last listing of each, and re-lists only
 * when stat() of the directory says it changed (device, inode, mtime,
 * ctime: the manager creates and removes entries inside it, and removes the
 * directory when it is empty) or the domain generation moved. Timestamps can
 * be as coarse as a clock tick, so a listing is only reused once the
 * directory was older than RV_RACY_NS when we looked (git's "racy" rule);
 * an empty listing is never reused. A listener that died leaves its entry
 * until the manager's sweep: the connect to it fails (ECONNREFUSED), the
 * next candidate is tried as before, and the key is listed afresh next
 * time. The port check is repeated at least every RV_PORT_TTL_NS and
 * whenever the listing changes. The directory of the exact address (the
 * most specific key: nothing can take precedence over it) is not even
 * stat()ed again for RV_RECHECK_NS after a check: a listener added to a
 * SO_REUSEPORT group there gets our connections that much later, a removed
 * one refuses the connect. An entry that refused a connect (a dead
 * listener whose entry the sweep has not removed yet, or one that is not
 * listening yet) is tried after the others for RV_REFUSED_NS, so that it
 * does not cost every other connect a failed attempt; if every entry
 * refused, all are tried again as before.
 */
struct rv_key {
	char dir[RV_DIR_MAX];
	bool dual_only;
	bool trusted; /* cand, id and gen describe a listing that may be reused */
	dev_t dev;
	ino_t ino;
	struct timespec mtim, ctim;
	uint64_t gen;
	uint64_t checked_ns; /* CLOCK_MONOTONIC of the last stat() that confirmed the listing */
	uint64_t port_ok_ns; /* CLOCK_MONOTONIC of the last successful port check, 0: none */
	struct candidates cand;
};

struct rv_entry {
	bool used;
	uint64_t netns;
	uint8_t addr[16];
	uint16_t port;
	uint64_t last_use;
	int nk;
	struct rv_key key[XIO_MAX_KEYS];
};

static struct rv_entry rv_cache[RV_CACHE];
static uint64_t rv_clock;
/* Only ever try-locked: a connect from a signal handler must not wait for it. */
static pthread_mutex_t rv_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t rv_once = PTHREAD_ONCE_INIT;

static void rv_after_fork_child(void)
{
	pthread_mutex_init(&rv_lock, NULL);
}

static void rv_init(void)
{
	pthread_atfork(NULL, NULL, rv_after_fork_child);
}

static bool rv_match(const struct rv_entry *e, const struct xio_endpoint *dst, uint64_t netns)
{
	return e->used && e->netns == netns && e->port == dst->port &&
	       memcmp(e->addr, dst->addr, sizeof(e->addr)) == 0;
}

/* Copy the cached entry of @dst into @e. Returns false when there is none (or it is busy). */
static bool rv_load(const struct xio_endpoint *dst, uint64_t netns, struct rv_entry *e)
{
	bool found = false;
	pthread_once(&rv_once, rv_init);
	if (pthread_mutex_trylock(&rv_lock) != 0)
		return false;
	for (int i = 0; i < RV_CACHE; i++)
		if (rv_match(&rv_cache[i], dst, netns)) {
			rv_cache[i].last_use = ++rv_clock;
			*e = rv_cache[i];
			found = true;
			break;
		}
	pthread_mutex_unlock(&rv_lock);
	return found;
}

static bool rv_same(const struct rv_entry *a, const struct rv_entry *b)
{
	return a->used && a->netns == b->netns && a->port == b->port &&
	       memcmp(a->addr, b->addr, sizeof(a->addr)) == 0;
}

/* Remember @e (replacing the entry of the same destination or the least recently used). */
static void rv_store(const struct rv_entry *e)
{
	pthread_once(&rv_once, rv_init);
	if (pthread_mutex_trylock(&rv_lock) != 0)
		return;
	int victim = -1;
	for (int i = 0; i < RV_CACHE && victim < 0; i++)
		if (rv_same(&rv_cache[i], e))
			victim = i;
	for (int i = 0; i < RV_CACHE && victim < 0; i++)
		if (!rv_cache[i].used)
			victim = i;
	if (victim < 0) {
		victim = 0;
		for (int i = 1; i < RV_CACHE; i++)
			if (rv_cache[i].last_use < rv_cache[victim].last_use)
				victim = i;
	}
	rv_cache[victim] = *e;
	rv_cache[victim].used = true;
	rv_cache[victim].last_use = ++rv_clock;
	pthread_mutex_unlock(&rv_lock);
}

/* A new entry for @dst: its keys' directories, most specific first. */
static int rv_prepare(const struct xio_endpoint *dst, uint64_t netns, struct rv_entry *e)
{
	char keys[XIO_MAX_KEYS][XIO_KEY_MAX];
	bool dual[XIO_MAX_KEYS];
	char base[PATH_MAX];

	memset(e, 0, offsetof(struct rv_entry, key));
	e->netns = netns;
	memcpy(e->addr, dst->addr, sizeof(e->addr));
	e->port = dst->port;
	if (xio_domain_dir(base, sizeof(base)) < 0)
		return -ENAMETOOLONG;
	int nk = xio_connect_keys(dst, keys, dual);
	for (int k = 0; k < nk; k++) {
		struct rv_key *rk = &e->key[k];
		rk->trusted = false;
		rk->checked_ns = 0;
		rk->port_ok_ns = 0;
		rk->cand.n = 0;
		rk->dual_only = dual[k];
		if (snprintf(rk->dir, sizeof(rk->dir), "%s/rv/%llu/%s", base,
			     (unsigned long long)netns, keys[k]) >= (int)sizeof(rk->dir))
			return -ENAMETOOLONG;
	}
	e->nk = nk;
	return 0;
}

/* Collect the rendezvous sockets of directory @dir published by generation @gen. */
static void scan_dir(const char *dir, uint64_t gen, bool dual_only, struct candidates *c)
{
	char prefix[24];
	DIR *d = opendir(dir);
	struct dirent *e;

	c->n = 0;
	if (!d)
		return;
	/* Same spelling as the manager's entry names: 16 hex digits. */
	snprintf(prefix, sizeof(prefix), "%016llx-", (unsigned long long)gen);
	size_t pl = strlen(prefix);
	while ((e = readdir(d)) && c->n < MAX_ENTRIES) {
		if (strncmp(e->d_name, prefix, pl) != 0)
			continue;
		size_t nl = strlen(e->d_name);
		if (dual_only && (nl < 2 || strcmp(e->d_name + nl - 2, "-d") != 0))
			continue;
		if (nl < sizeof(c->name[0])) {
			c->refused_ns[c->n] = 0;
			memcpy(c->name[c->n++], e->d_name, nl + 1);
		}
	}
	closedir(d);
}

/* Could a change of the directory after @now still carry the timestamps we saw? */
static bool ts_racy(const struct timespec *t, const struct timespec *now)
{
	int64_t dt = ((int64_t)now->tv_sec - (int64_t)t->tv_sec) * 1000000000ll +
		     ((int64_t)now->tv_nsec - (int64_t)t->tv_nsec);
	return dt < (int64_t)RV_RACY_NS;
}

/*
 * Make the candidates of key @rk current for generation @gen: reuse the
 * cached listing if @st says the directory has not changed, else list it.
 * @now is CLOCK_REALTIME taken before the stat. Returns true if it listed.
 */
static bool rv_refresh(struct rv_key *rk, const struct stat *st, const struct timespec *now,
		       uint64_t gen)
{
	if (rk->trusted && rk->gen == gen && rk->dev == st->st_dev && rk->ino == st->st_ino &&
	    rk->mtim.tv_sec == st->st_mtim.tv_sec && rk->mtim.tv_nsec == st->st_mtim.tv_nsec &&
	    rk->ctim.tv_sec == st->st_ctim.tv_sec && rk->ctim.tv_nsec == st->st_ctim.tv_nsec)
		return false;
	scan_dir(rk->dir, gen, rk->dual_only, &rk->cand);
	rk->gen = gen;
	rk->dev = st->st_dev;
	rk->ino = st->st_ino;
	rk->mtim = st->st_mtim;
	rk->ctim = st->st_ctim;
	rk->port_ok_ns = 0;
	rk->trusted = rk->cand.n > 0 && !ts_racy(&st->st_mtim, now) && !ts_racy(&st->st_ctim, now);
	return true;
}

/* Is @ep an address of this node in our namespace? (Wildcard listeners only serve those.) */
static bool is_local_address(const struct xio_endpoint *ep)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int fam = xio_ep_is_v4(ep) ? AF_INET : AF_INET6;
	struct xio_endpoint probe = *ep;

	if (xio_ep_is_loopback(ep))
		return true;
	probe.port = 0;
	if (xio_ep_to_sockaddr(&probe, fam, (struct sockaddr *)&ss, &sl) < 0)
		return false;
	int s = xio_sys.socket(fam, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return false;
	bool ok = xio_sys.bind(s, (struct sockaddr *)&ss, sl) == 0;
	xio_sys.close(s);
	return ok;
}

/*
 * The manager publishes an entry only for a process holding a TCP LISTEN
 * socket, but a domain member could place a socket in the directory by
 * hand. TCP would refuse a connect where nothing is bound: so do we. If a
 * fresh socket can bind the address, nobody holds it (costs one bind).
 */
static bool port_is_taken(const struct xio_endpoint *dst)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int fam = xio_ep_is_v4(dst) ? AF_INET : AF_INET6;
	if (xio_ep_to_sockaddr(dst, fam, (struct sockaddr *)&ss, &sl) < 0)
		return true;
	int s = xio_sys.socket(fam, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return true;
	bool free_port = xio_sys.bind(s, (struct sockaddr *)&ss, sl) == 0;
	xio_sys.close(s);
	return !free_port;
}

/*
 * Find the rendezvous entries that may serve @dst: the first key (most
 * specific first, see addr.h) whose directory lists entries of the current
 * generation. Attaches to the domain once a directory exists. Returns the
 * key's index in @e (loaded or prepared here), or -1 with *@why set;
 * *@dirty says whether @e must be stored back.
 */
static int find_rendezvous(const struct xio_endpoint *dst, struct rv_entry *e,
			   struct xio_domain **dp, enum xio_fallback *why, bool *dirty)
{
	uint64_t netns = xio_netns_ino();
	bool existed = false, local_checked = false, local = false, denied = false;
	struct xio_domain *d = NULL;

	*dirty = false;
	if (!rv_load(dst, netns, e)) {
		if (rv_prepare(dst, netns, e) < 0) {
			*why = XIO_FB_ERROR;
			return -1;
		}
		*dirty = true;
	}
	uint64_t mnow = xio_mono_ns();
	for (int k = 0; k < e->nk; k++) {
		struct rv_key *rk = &e->key[k];
		struct timespec now;
		struct stat st;
		if (k == 0 && rk->trusted && rk->cand.n > 0 &&
		    mnow - rk->checked_ns < RV_RECHECK_NS) {
			/* The exact address, confirmed a moment ago: no stat. */
			d = xio_domain_get(why);
			if (!d)
				return -1;
			if (atomic_load(&d->hdr->kill_switch)) {
				*why = XIO_FB_DISABLED;
				return -1;
			}
			if (rk->gen == d->generation) {
				*dp = d;
				return 0;
			}
		}
		clock_gettime(CLOCK_REALTIME, &now);
		if (stat(rk->dir, &st) < 0) {
			denied |= errno == EACCES; /* the domain's directory is closed to us */
			continue;
		}
		existed = true;
		if (k > 0 && !local_checked) { /* keys after the first are wildcards */
			local = is_local_address(dst);
			local_checked = true;
		}
		if (k > 0 && !local)
			break;
		if (!d) {
			d = xio_domain_get(why);
			if (!d)
				return -1;
			if (atomic_load(&d->hdr->kill_switch)) {
				*why = XIO_FB_DISABLED;
				return -1;
			}
		}
		rv_refresh(rk, &st, &now, d->generation);
		rk->checked_ns = mnow;
		*dirty = true;
		if (rk->cand.n > 0) {
			*dp = d;
			return k;
		}
	}
	if (!existed && !xio_ep_is_loopback(dst)) {
		/* A closed domain directory hides whether a pod of this node listens there. */
		*why = denied ? XIO_FB_NO_DOMAIN_ACCESS : XIO_FB_REMOTE;
		return -1;
	}
	/* Local networking: attach so that the fallback is counted where xio-stat can see it. */
	if (!d && !xio_domain_get(why))
		return -1;
	*why = denied ? XIO_FB_NO_DOMAIN_ACCESS : XIO_FB_NO_RENDEZVOUS;
	return -1;
}

/* The address we appear to come from (@local is the wildcard or what the application bound). */
static void pick_local_address(const struct xio_endpoint *dst, struct xio_endpoint *local)
{
	if (xio_ep_is_any(local)) {
		*local = *dst;
		if (xio_ep_is_v4(dst) && xio_ep_is_loopback(dst))
			local->addr[15] = 1, local->addr[14] = 0,
			local->addr[13] = 0; /* 127.0.0.1 */
	}
}

/*
 * The old way, where the manager holds no port for us: bind the
 * application's socket (the kernel picks the port) and read the port back;
 * the socket is then kept as the connection's port holder. @local holds
 * what getsockname() said of the application's socket.
 */
static int pick_local(int fd, int family, const struct xio_endpoint *dst,
		      struct xio_endpoint *local)
{
	struct sockaddr_storage ss;
	socklen_t sl;

	if (local->port != 0)
		return 0; /* bound by the application */
	pick_local_address(dst, local);
	local->port = 0;
	sl = sizeof(ss);
	if (xio_ep_to_sockaddr(local, family, (struct sockaddr *)&ss, &sl) < 0 ||
	    xio_sys.bind(fd, (struct sockaddr *)&ss, sl) < 0)
		return -errno;
	sl = sizeof(ss);
	if (xio_sys.getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
		return -errno;
	return xio_ep_from_sockaddr(local, (struct sockaddr *)&ss, sl);
}

/* Connect @u to entry @name of directory @dir. */
static int connect_entry(int u, const char *dir, const char *name)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t dl = strlen(dir), nl = strlen(name);
	int dfd = -1;

	if (dl + 1 + nl < sizeof(sa.sun_path)) {
		memcpy(sa.sun_path, dir, dl);
		sa.sun_path[dl] = '/';
		memcpy(sa.sun_path + dl + 1, name, nl + 1);
	} else {
		/* A run directory too deep for sun_path: go through the directory's fd. */
		dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0)
			return -errno;
		snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/%s", dfd, name);
	}
	int r = xio_sys.connect(u, (struct sockaddr *)&sa, sizeof(sa));
	int e = errno;
	if (dfd >= 0)
		xio_sys.close(dfd);
	return r < 0 ? -e : 0;
}

/*
 * Every listener's backlog was full: wait for room (the kernel wakes a
 * blocking AF_UNIX connect when the listener accepts) up to
 * RV_BACKLOG_WAIT_US, as a TCP client's SYN to a full accept queue is tried
 * again rather than given up. A burst of connects to a server that accepts a
 * little slower than they come stays on X-IO.
 */
#define RV_BACKLOG_WAIT_US 200000

static int connect_entry_wait(int u, const char *dir, const char *name)
{
	struct timeval tv = {.tv_sec = 0, .tv_usec = RV_BACKLOG_WAIT_US}, none = {0, 0};
	int fl = xio_sys.fcntl(u, F_GETFL);

	if (fl < 0 || xio_sys.fcntl(u, F_SETFL, fl & ~O_NONBLOCK) < 0)
		return -EAGAIN;
	(void)xio_sys.setsockopt(u, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	int r = connect_entry(u, dir, name);
	(void)xio_sys.setsockopt(u, SOL_SOCKET, SO_SNDTIMEO, &none, sizeof(none));
	(void)xio_sys.fcntl(u, F_SETFL, fl);
	return r == -EINTR ? -EAGAIN : r;
}

/* Carry over what the application already set on its TCP socket. */
void xio_connect_inherit_options(struct xio_conn *c, int fd, const struct xio_sock_opts *known)
{
	if (known) {
		c->nodelay = known->nodelay;
		c->keepalive = known->keepalive;
		c->rcvtimeo = known->rcvtimeo;
		c->sndtimeo = known->sndtimeo;
		return;
	}
	socklen_t l = sizeof(int);
	xio_sys.getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &c->nodelay, &l);
	l = sizeof(int);
	xio_sys.getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &c->keepalive, &l);
	l = sizeof(c->rcvtimeo);
	xio_sys.getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &c->rcvtimeo, &l);
	l = sizeof(c->sndtimeo);
	xio_sys.getsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &c->sndtimeo, &l);
}

static int not_carried(enum xio_fallback why)
{
	xio_count_fallback(why);
	return xio_config()->no_fallback ? -ECONNREFUSED : XIO_NOT_CARRIED;
}

struct xio_slot *xio_connect_alloc_slot(struct xio_domain *d, uint64_t client_ino, uint32_t *token)
{
	struct xio_slot *s = xio_slot_alloc(d->hdr, client_ino, token);
	if (!s) {
		/* Slots of closed connections wait for the manager's sweep: ask for one now. */
		struct xio_msg_hdr req, rep;
		xio_msg_init(&req, XIO_CTL_RECLAIM, sizeof(req));
		xio_control_call(&req, sizeof(req), NULL, 0, &rep, sizeof(rep), NULL);
		s = xio_slot_alloc(d->hdr, client_ino, token);
	}
	/*
	 * In a ring file, a free slot's rings are holes (the manager gave their
	 * pages back): the slot's new owner writes their headers. Garbage
	 * offsets are left to xio_conn_new() to refuse.
	 */
	if (s && d->rings && xio_slot_sane(d, s))
		for (int k = 0; k < 2; k++)
			xio_ring_init((struct rte_ring *)((char *)s + s->ring_off[k]),
				      d->ring_bytes / XIO_RING_ESIZE);
	return s;
}

/*
 * Keep the application's bound TCP socket as a port holder (a high, close-on-
 * exec helper fd): kernel TCP must not hand our local port to anyone else
 * while the connection lives, as it would not for a real TCP connection.
 * Only where the manager holds no port for the connection (see
 * manager/ports.c): the application bound its own, another network
 * namespace, a connection between namespaces (pair.c).
 */
int xio_connect_hold_port(int fd)
{
	int h = xio_fd_dup_high(fd);
	if (h >= 0)
		xio_helper_fd(h, true);
	return h; /* -1: no room up there; the port is then only as reserved as TCP leaves it */
}

/*
 * Replace the application's TCP socket @fd by the AF_UNIX end @u (created
 * non-blocking), keeping its fd flags. *@nonblock: O_NONBLOCK of @fd.
 */
int xio_connect_take_over_fd(int fd, int u, bool *nonblock)
{
	int fl = xio_sys.fcntl(fd, F_GETFL), fdfl = xio_sys.fcntl(fd, F_GETFD);
	if (fl < 0 || fdfl < 0)
		return -errno;
	*nonblock = fl & O_NONBLOCK;
	if (!*nonblock && xio_sys.fcntl(u, F_SETFL, O_RDWR) < 0)
		return -errno;
	if (xio_sys.dup3(u, fd, (fdfl & FD_CLOEXEC) ? O_CLOEXEC : 0) < 0)
		return -errno;
	xio_sys.close(u);
	return 0;
}

/*
 * One client connect, step by step (xio_conn_connect): what the application
 * asked for, where to find its server, our end, the slot, our local
 * address, the offer, and the fd the application gets.
 */
struct connect_job {
	/* the call */
	int fd;
	const struct sockaddr *sa;
	socklen_t len;
	const struct xio_sock_opts *known;
	/* connect_target */
	struct xio_endpoint dst, local;
	int family;
	/* connect_find */
	struct xio_domain *d;
	struct rv_entry *e; /* our copy of the cache entry of dst (kilobytes: not on the stack) */
	int k;		    /* the key whose entries serve dst */
	uint64_t now;	    /* CLOCK_MONOTONIC ns */
	/* connect_end, connect_slot, connect_local */
	int u; /* our AF_UNIX end, -1 */
	struct xio_slot *s;
	uint32_t token;
	pid_t pid;
	bool try_pair;	 /* no entry here: try a pairing across namespaces (pair.c) */
	bool own_holder; /* the application's socket holds our port (the old way) */
	enum xio_fallback why;
};

/*
 * Step 1: the destination, the socket's family and whether the application
 * bound it: known from the shim, or one getsockname(). Returns 0 or
 * XIO_NOT_CARRIED (not ours to carry: nothing is counted).
 */
static int connect_target(struct connect_job *j)
{
	const struct xio_sock_opts *known = j->known;
	struct sockaddr_storage lss;
	socklen_t lsl = sizeof(lss);

	if (xio_ep_from_sockaddr(&j->dst, j->sa, j->len) < 0 || j->dst.port == 0 ||
	    xio_ep_is_any(&j->dst))
		return XIO_NOT_CARRIED;
	if (known && known->unbound && (known->family == AF_INET || known->family == AF_INET6)) {
		memset(&j->local, 0, sizeof(j->local));
		if (known->family == AF_INET)
			j->local.addr[10] = j->local.addr[11] = 0xff; /* 0.0.0.0, v4-mapped */
		j->local.family = (uint16_t)known->family;
		j->family = known->family;
		return 0;
	}
	if (xio_sys.getsockname(j->fd, (struct sockaddr *)&lss, &lsl) < 0 ||
	    xio_ep_from_sockaddr(&j->local, (struct sockaddr *)&lss, lsl) < 0)
		return XIO_NOT_CARRIED;
	j->family = lss.ss_family;
	return 0;
}

/*
 * Step 2: the rendezvous entries of a listener for dst, confirmed by a TCP
 * socket holding its port. Returns 0, or a fallback (j->try_pair: unless
 * pair.c finds the server in another network namespace).
 */
static int connect_find(struct connect_job *j)
{
	bool dirty;

	j->e = malloc(sizeof(*j->e));
	if (!j->e)
		return not_carried(XIO_FB_ERROR);
	j->k = find_rendezvous(&j->dst, j->e, &j->d, &j->why, &dirty);
	if (j->k < 0) {
		if (dirty)
			rv_store(j->e);
		if ((j->why == XIO_FB_REMOTE || j->why == XIO_FB_NO_RENDEZVOUS) &&
		    !xio_ep_is_loopback(&j->dst)) {
			j->try_pair = true; /* maybe a server in another network namespace */
			return XIO_NOT_CARRIED;
		}
		return not_carried(j->why);
	}
	struct rv_key *rk = &j->e->key[j->k];
	j->now = xio_mono_ns();
	if (!rk->port_ok_ns || j->now - rk->port_ok_ns > RV_PORT_TTL_NS) {
		if (!port_is_taken(&j->dst)) {
			rk->trusted = false;
			rv_store(j->e);
			/* an entry with no TCP listener behind it */
			return not_carried(XIO_FB_NO_RENDEZVOUS);
		}
		rk->port_ok_ns = j->now;
		dirty = true;
	}
	if (dirty)
		rv_store(j->e);
	return 0;
}

/*
 * Step 3: our AF_UNIX end (non-blocking: a full rendezvous backlog must say
 * EAGAIN) and its inode, for the slot. Out of fds, the control connection
 * gives its number up (it is reopened when needed): a carried connection
 * then costs the application no more fds than a TCP one.
 */
static int connect_end(struct connect_job *j, uint64_t *ino)
{
	struct stat st;
	j->u = xio_sys.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (j->u < 0 && errno == EMFILE && xio_control_give_up_fd())
		j->u = xio_sys.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (j->u < 0)
		return -errno;
	if (fstat(j->u, &st) < 0)
		return -errno;
	*ino = st.st_ino;
	return 0;
}

/*
 * Step 4: our local address and port. An unbound socket in the manager's
 * network namespace takes the port the manager holds for our slot
 * (manager/ports.c): no system call. Otherwise the old way: the
 * application's socket is bound (pick_local) and kept as the port holder.
 */
static int connect_local(struct connect_job *j)
{
	const struct xio_domain_hdr *h = j->d->hdr;
	uint16_t port = j->s->port; /* shared memory: read once */
	uint32_t need = xio_ep_is_v4(&j->dst) ? XIO_PORTS_V4 : XIO_PORTS_V6;

	if (j->local.port == 0 && port != 0 && (h->ports_family & need) &&
	    h->ports_netns == xio_netns_ino()) {
		pick_local_address(&j->dst, &j->local);
		j->local.port = port;
		j->own_holder = false;
		return 0;
	}
	j->own_holder = true;
	return pick_local(j->fd, j->family, &j->dst, &j->local);
}

/*
 * Step 5: fill the slot and name our end, so that an exec'd image or an
 * SCM_RIGHTS receiver can adopt it.
 */
static int connect_name(struct connect_job *j)
{
	struct sockaddr_un an;
	socklen_t anl;

	j->s->client = j->local;
	j->s->server = j->dst;
	j->s->client_pid = j->pid;
	j->s->netns[0] = xio_netns_ino();
	xio_bufs_publish(j->s, false, j->fd); /* before the offer: the server may write at once */
	int r = xio_conn_abstract_name(&an, &anl, j->d->generation, j->s->index, j->token);
	if (r == 0 && xio_sys.bind(j->u, (struct sockaddr *)&an, anl) < 0)
		r = -errno;
	return r;
}

/*
 * Step 6: connect our end to an entry and send the offer. Spreads
 * connections over a SO_REUSEPORT group, as the kernel's hash does: entries
 * that refused lately go last (pass 0 skips them). Returns 0 or -errno with
 * j->why set.
 */
static int connect_offer(struct connect_job *j)
{
	static _Atomic unsigned spread;
	struct rv_key *rk = &j->e->key[j->k];
	struct candidates *cd = &rk->cand;
	unsigned n = (unsigned)cd->n;
	unsigned first = atomic_fetch_add(&spread, 1) + (unsigned)j->pid;
	bool refused = false;
	int r = -ECONNREFUSED;
	int full = -1; /* the first entry whose backlog was full */

	j->why = XIO_FB_NO_RENDEZVOUS;
	for (int pass = 0; pass < 2 && r < 0; pass++)
		for (unsigned i = 0; i < n; i++) {
			unsigned x = (first + i) % n;
			bool recent =
			    cd->refused_ns[x] && j->now - cd->refused_ns[x] < RV_REFUSED_NS;
			if (recent != (pass == 1))
				continue;
			r = connect_entry(j->u, rk->dir, cd->name[x]);
			if (r == 0)
				break;
			if (r == -EAGAIN) {
				j->why = XIO_FB_BACKLOG;
				if (full < 0)
					full = (int)x;
			} else {
				cd->refused_ns[x] = j->now;
				refused = true;
			}
		}
	if (r < 0 && full >= 0)
		r = connect_entry_wait(j->u, rk->dir, cd->name[full]);
	if (refused) {
		rk->checked_ns = 0; /* look at the directory again next time */
		rv_store(j->e);
	}
	if (r < 0)
		return r;
	struct xio_hs_offer o = {.generation = j->d->generation,
				 .slot = j->s->index,
				 .token = j->token,
				 .layout_version = XIO_LAYOUT_VERSION,
				 .pid = j->pid,
				 .client = j->local,
				 .server = j->dst};
	xio_msg_init(&o.hdr, XIO_HS_OFFER, sizeof(o));
	r = xio_slot_offer(j->s, j->token);
	if (r == 0 &&
	    xio_sys.send(j->u, &o, sizeof(o), MSG_DONTWAIT | MSG_NOSIGNAL) != (ssize_t)sizeof(o))
		r = -EIO;
	return r;
}

/*
 * Step 7: the offer is out. The connection object, the options the
 * application set, and our end in place of its TCP socket. Returns 0 or
 * -errno (TCP is no longer an option: that would make two connections).
 */
static int connect_finish(struct connect_job *j, struct xio_conn **out, bool *nonblock)
{
	struct xio_conn *c = xio_conn_new(j->d, j->s, false);
	if (!c)
		return -ENOMEM;
	c->family = j->family;
	c->token = j->token;
	c->tuple.local = j->local;
	c->tuple.remote = j->dst;
	xio_connect_inherit_options(c, j->fd, j->known);
	if (j->own_holder)
		c->port_holder = xio_connect_hold_port(j->fd);
	int r = xio_connect_take_over_fd(j->fd, j->u, nonblock);
	if (r < 0) {
		xio_conn_put(c);
		return r;
	}
	j->u = -1; /* it is j->fd now */
	/*
	 * A connection this young has nothing to learn from the kernel yet: the
	 * send path's liveness check (once a millisecond) starts from now.
	 */
	atomic_store_explicit(&c->peer_checked_us, j->now / 1000, memory_order_relaxed);
	xio_conn_register(c);
	*out = c;
	return 0;
}

int xio_conn_connect(int fd, const struct sockaddr *sa, socklen_t len,
		     const struct xio_sock_opts *known, struct xio_conn **out, bool *nonblock)
{
	struct connect_job j = {
	    .fd = fd, .sa = sa, .len = len, .known = known, .u = -1, .why = XIO_FB_ERROR};
	uint64_t ino = 0;
	int r;

	if (xio_config()->disabled)
		return XIO_NOT_CARRIED;
	r = connect_target(&j);
	if (r != 0)
		return r;
	r = connect_find(&j);
	if (j.try_pair) {
		free(j.e);
		r = xio_pair_connect(fd, sa, len, &j.dst, j.family, known, out, nonblock, &j.why);
		return r != XIO_NOT_CARRIED ? r : not_carried(j.why);
	}
	if (r != 0)
		goto out;
	j.pid = xio_self_pid();
	r = connect_end(&j, &ino);
	if (r < 0) {
		r = not_carried(XIO_FB_ERROR);
		goto out;
	}
	j.s = xio_connect_alloc_slot(j.d, ino, &j.token);
	if (!j.s) {
		r = not_carried(XIO_FB_DOMAIN_FULL);
		goto out;
	}
	if (connect_local(&j) < 0 || connect_name(&j) < 0) {
		xio_slot_abort(j.d->hdr, j.s, j.token);
		r = not_carried(XIO_FB_ERROR);
		goto out;
	}
	r = connect_offer(&j);
	if (r < 0) {
		/* Never offered: give the slot back. Offered: the sweep reclaims it. */
		xio_slot_abort(j.d->hdr, j.s, j.token);
		r = not_carried(j.why);
		goto out;
	}
	r = connect_finish(&j, out, nonblock);
out:
	if (j.u >= 0)
		xio_sys.close(j.u);
	free(j.e);
	return r;
}
