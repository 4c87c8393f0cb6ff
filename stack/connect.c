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
#include <sys/resource.h>
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

/* getpid() once per process (a syscall each time since glibc 2.25); for xio-stat and spreading. */
static _Atomic pid_t self_pid;

static void rv_after_fork_child(void)
{
	pthread_mutex_init(&rv_lock, NULL);
	atomic_store_explicit(&self_pid, 0, memory_order_relaxed);
}

static pid_t cached_pid(void)
{
	pid_t p = atomic_load_explicit(&self_pid, memory_order_relaxed);
	if (!p) {
		p = getpid();
		atomic_store_explicit(&self_pid, p, memory_order_relaxed);
	}
	return p;
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

/*
 * The address we appear to come from, and a port of our own from the kernel.
 * @local holds what getsockname() said of the application's socket.
 */
static int pick_local(int fd, int family, const struct xio_endpoint *dst,
		      struct xio_endpoint *local)
{
	struct sockaddr_storage ss;
	socklen_t sl;

	if (local->port != 0)
		return 0; /* bound by the application */
	if (xio_ep_is_any(local)) {
		*local = *dst;
		if (xio_ep_is_v4(dst) && xio_ep_is_loopback(dst))
			local->addr[15] = 1, local->addr[14] = 0,
			local->addr[13] = 0; /* 127.0.0.1 */
	}
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

/* Lowest number for port holders: 3/4 of RLIMIT_NOFILE (read once; again if it shrank). */
static _Atomic int holder_base;

static int holder_base_read(void)
{
	struct rlimit rl;
	int base = 512;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur > 64)
		base = (int)(rl.rlim_cur * 3 / 4);
	atomic_store_explicit(&holder_base, base, memory_order_relaxed);
	return base;
}

/*
 * Keep the application's bound TCP socket as a port holder (a high, close-on-
 * exec helper fd): kernel TCP must not hand our local port to anyone else
 * while the connection lives, as it would not for a real TCP connection.
 */
int xio_connect_hold_port(int fd)
{
	int base = atomic_load_explicit(&holder_base, memory_order_relaxed);
	int h = xio_sys.fcntl(fd, F_DUPFD_CLOEXEC, base ? base : holder_base_read());
	if (h < 0 && errno == EINVAL && base) /* the limit went down */
		h = xio_sys.fcntl(fd, F_DUPFD_CLOEXEC, holder_base_read());
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

int xio_conn_connect(int fd, const struct sockaddr *sa, socklen_t len,
		     const struct xio_sock_opts *known, struct xio_conn **out, bool *nonblock)
{
	const struct xio_config *cfg = xio_config();
	struct xio_endpoint dst, local;
	struct xio_domain *d = NULL;
	enum xio_fallback why = XIO_FB_ERROR;
	struct sockaddr_storage lss;
	socklen_t lsl = sizeof(lss);
	bool dirty;

	if (cfg->disabled)
		return XIO_NOT_CARRIED;
	if (xio_ep_from_sockaddr(&dst, sa, len) < 0 || dst.port == 0 || xio_ep_is_any(&dst))
		return XIO_NOT_CARRIED;
	/* The socket's family and whether the application bound it: known, or one call. */
	int family;
	if (known && known->unbound && (known->family == AF_INET || known->family == AF_INET6)) {
		memset(&local, 0, sizeof(local));
		if (known->family == AF_INET)
			local.addr[10] = local.addr[11] = 0xff; /* 0.0.0.0, v4-mapped */
		local.family = (uint16_t)known->family;
		family = known->family;
	} else {
		if (xio_sys.getsockname(fd, (struct sockaddr *)&lss, &lsl) < 0 ||
		    xio_ep_from_sockaddr(&local, (struct sockaddr *)&lss, lsl) < 0)
			return XIO_NOT_CARRIED;
		family = lss.ss_family;
	}

	/* Our copy of the cache entry of @dst (kilobytes: not on small thread stacks). */
	struct rv_entry *e = malloc(sizeof(*e));
	if (!e)
		return not_carried(XIO_FB_ERROR);
	int k = find_rendezvous(&dst, e, &d, &why, &dirty);
	if (k < 0) {
		if (dirty)
			rv_store(e);
		free(e);
		if ((why == XIO_FB_REMOTE || why == XIO_FB_NO_RENDEZVOUS) &&
		    !xio_ep_is_loopback(&dst)) {
			/* Maybe a server in another network namespace of this node. */
			int r =
			    xio_pair_connect(fd, sa, len, &dst, family, known, out, nonblock, &why);
			if (r != XIO_NOT_CARRIED)
				return r;
		}
		return not_carried(why);
	}
	struct rv_key *rk = &e->key[k];
	uint64_t now = xio_mono_ns();
	if (!rk->port_ok_ns || now - rk->port_ok_ns > RV_PORT_TTL_NS) {
		if (!port_is_taken(&dst)) {
			rk->trusted = false;
			rv_store(e);
			free(e);
			return not_carried(
			    XIO_FB_NO_RENDEZVOUS); /* an entry with no TCP listener behind it */
		}
		rk->port_ok_ns = now;
		dirty = true;
	}
	if (dirty)
		rv_store(e);
	if (pick_local(fd, family, &dst, &local) < 0) {
		free(e);
		return not_carried(XIO_FB_ERROR);
	}

	int u = xio_sys.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	struct stat st;
	if (u < 0 || fstat(u, &st) < 0) {
		if (u >= 0)
			xio_sys.close(u);
		free(e);
		return not_carried(XIO_FB_ERROR);
	}
	uint32_t token;
	struct xio_slot *s = xio_connect_alloc_slot(d, st.st_ino, &token);
	if (!s) {
		xio_sys.close(u);
		free(e);
		return not_carried(XIO_FB_DOMAIN_FULL);
	}
	pthread_once(&rv_once, rv_init); /* the fork handler that forgets the pid */
	pid_t pid = cached_pid();
	s->client = local;
	s->server = dst;
	s->client_pid = pid;
	s->netns[0] = xio_netns_ino();
	xio_bufs_publish(s, false, fd); /* before the offer: the server may write at once */

	/* Name the client end so that an exec'd image or an SCM_RIGHTS receiver can adopt it. */
	struct sockaddr_un an;
	socklen_t anl;
	int r = xio_conn_abstract_name(&an, &anl, d->generation, s->index, token);
	if (r == 0 && xio_sys.bind(u, (struct sockaddr *)&an, anl) < 0)
		r = -errno;
	if (r < 0) {
		xio_slot_abort(d->hdr, s, token);
		xio_sys.close(u);
		free(e);
		return not_carried(XIO_FB_ERROR);
	}
	r = -ECONNREFUSED;
	why = XIO_FB_NO_RENDEZVOUS;
	/*
	 * Spread connections over a SO_REUSEPORT group, as the kernel's hash
	 * does: entries that refused lately go last (pass 0 skips them).
	 */
	static _Atomic unsigned spread;
	struct candidates *cd = &rk->cand;
	unsigned n = (unsigned)cd->n;
	unsigned first = atomic_fetch_add(&spread, 1) + (unsigned)pid;
	bool refused = false;
	int full = -1; /* the first entry whose backlog was full */
	for (int pass = 0; pass < 2 && r < 0; pass++)
		for (unsigned i = 0; i < n; i++) {
			unsigned j = (first + i) % n;
			bool recent = cd->refused_ns[j] && now - cd->refused_ns[j] < RV_REFUSED_NS;
			if (recent != (pass == 1))
				continue;
			r = connect_entry(u, rk->dir, cd->name[j]);
			if (r == 0)
				break;
			if (r == -EAGAIN) {
				why = XIO_FB_BACKLOG;
				if (full < 0)
					full = (int)j;
			} else {
				cd->refused_ns[j] = now;
				refused = true;
			}
		}
	if (r < 0 && full >= 0)
		r = connect_entry_wait(u, rk->dir, cd->name[full]);
	if (refused) {
		rk->checked_ns = 0; /* look at the directory again next time */
		rv_store(e);
	}
	free(e);
	struct xio_hs_offer o = {.generation = d->generation,
				 .slot = s->index,
				 .token = token,
				 .layout_version = XIO_LAYOUT_VERSION,
				 .pid = pid,
				 .client = local,
				 .server = dst};
	xio_msg_init(&o.hdr, XIO_HS_OFFER, sizeof(o));
	if (r == 0)
		r = xio_slot_offer(s, token);
	if (r == 0 &&
	    xio_sys.send(u, &o, sizeof(o), MSG_DONTWAIT | MSG_NOSIGNAL) != (ssize_t)sizeof(o))
		r = -EIO;
	if (r < 0) {
		/* Never offered: give the slot back. Offered: the sweep reclaims it. */
		xio_slot_abort(d->hdr, s, token);
		xio_sys.close(u);
		return not_carried(why);
	}
	struct xio_conn *c = xio_conn_new(d, s, false);
	if (!c) {
		xio_sys.close(u);
		return -ENOMEM; /* the offer is out: TCP would mean two connections */
	}
	c->family = family;
	c->token = token;
	c->tuple.local = local;
	c->tuple.remote = dst;
	xio_connect_inherit_options(c, fd, known);
	c->port_holder = xio_connect_hold_port(fd);
	r = xio_connect_take_over_fd(fd, u, nonblock);
	if (r < 0) {
		xio_sys.close(u);
		xio_conn_put(c);
		return r;
	}
	/*
	 * A connection this young has nothing to learn from the kernel yet: the
	 * send path's liveness check (once a millisecond) starts from now.
	 */
	atomic_store_explicit(&c->peer_checked_us, now / 1000, memory_order_relaxed);
	xio_conn_register(c);
	*out = c;
	return 0;
}
