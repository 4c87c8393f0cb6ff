/* SPDX-License-Identifier: MIT */
/* Lazy attach to the domain through the manager's control socket (see domain.h). */
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "domain.h"
#include "ring.h"
#include "stack.h"
#include "sys.h"
#include "wait.h"

static pthread_mutex_t domain_lock = PTHREAD_MUTEX_INITIALIZER;
static struct xio_domain *current;
/*
 * Every generation this process has mapped, newest first. Never unmapped or
 * freed (connections of an old generation go on using theirs): readers walk
 * it without the lock.
 */
static struct xio_domain *_Atomic all_domains;
static int control_fd = -1;
static pid_t control_pid;     /* the process that opened control_fd */
static bool control_rejoined; /* control_fd came through <domain>.denied (control_rejoin) */
static bool control_admitted; /* and the manager has answered on it */
/*
 * The offer channel (xio_offer_channel): a second connection to the manager,
 * send-only, so that a pairing client can send its offer after its SYN
 * without waiting for domain_lock, which a thread of this process may hold
 * while the manager parks its claim until that very offer arrives. Never
 * held across a blocking call other than the send itself.
 */
static pthread_mutex_t offer_lock = PTHREAD_MUTEX_INITIALIZER;
static int offer_fd = -1;
static pid_t offer_pid;
static uint64_t offer_generation;

/* getpid() once per process (a system call each time since glibc 2.25). */
static _Atomic pid_t self_pid;
static pthread_once_t self_pid_once = PTHREAD_ONCE_INIT;

static void self_pid_forget(void)
{
	atomic_store_explicit(&self_pid, 0, memory_order_relaxed);
}

static void self_pid_init(void)
{
	pthread_atfork(NULL, NULL, self_pid_forget);
}

pid_t xio_self_pid(void)
{
	pid_t p = atomic_load_explicit(&self_pid, memory_order_relaxed);
	if (!p) {
		pthread_once(&self_pid_once, self_pid_init); /* the fork handler that forgets it */
		p = getpid();
		atomic_store_explicit(&self_pid, p, memory_order_relaxed);
	}
	return p;
}

bool xio_manager_alive(const struct xio_domain *d)
{
	/* glibc's mutex starts with its futex word: the owner's tid, plus the kernel's flags. */
	_Static_assert(offsetof(pthread_mutex_t, __data.__lock) == 0, "futex word first");
	unsigned w = __atomic_load_n((const unsigned *)&d->hdr->alive, __ATOMIC_ACQUIRE);
	return (w & FUTEX_TID_MASK) != 0 && !(w & FUTEX_OWNER_DIED);
}

int xio_domain_dir(char *buf, size_t len)
{
	const struct xio_config *c = xio_config();
	int n = snprintf(buf, len, "%s/%s", c->rundir, c->domain);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

uint64_t xio_netns_ino(void)
{
	static uint64_t ino;
	struct stat st;
	if (!ino && stat("/proc/self/ns/net", &st) == 0)
		ino = st.st_ino;
	return ino;
}

/*
 * The control socket refused us (EACCES: a worker that dropped privileges),
 * but we map a generation of the domain, inherited or our own. Ask back in
 * on <domain>.denied, which anyone may write to: the datagram carries one
 * end of a SOCK_SEQPACKET pair, and a manager that finds, in the kernel's
 * /proc/<pid>/maps of the pair's creator, a mapping of its own or an
 * earlier generation's memory serves that end as our control connection
 * (manager/denied.c). Anything else closes it: our first call then reads
 * EOF, which control_call_once turns into EACCES. Returns our end or -errno.
 */
static int control_rejoin(const char *dir)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct xio_denied msg = {.reason = 0};
	int sv[2];

	if (snprintf(sa.sun_path, sizeof(sa.sun_path), "%s.denied", dir) >=
	    (int)sizeof(sa.sun_path))
		return -EACCES;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	int d = xio_sys.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	ssize_t n = -EACCES;
	xio_msg_init(&msg.hdr, XIO_REJOIN, sizeof(msg));
	if (d >= 0 && xio_sys.connect(d, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		n = errno == ECONNREFUSED || errno == ENOENT ? -ECONNREFUSED : -EACCES;
	else if (d >= 0)
		n = xio_send_with_fds(d, &msg, sizeof(msg), &sv[1], 1);
	if (d >= 0)
		xio_sys.close(d);
	xio_sys.close(sv[1]);
	if (n != (ssize_t)sizeof(msg)) {
		xio_sys.close(sv[0]);
		/* no manager runs (it serves .denied): as for control; else refused */
		return n == -ECONNREFUSED ? -ECONNREFUSED : -EACCES;
	}
	return sv[0];
}

/* Caller holds domain_lock. */
static int control_open(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char dir[sizeof(sa.sun_path)];

	if (control_fd >= 0 && control_pid == xio_self_pid())
		return control_fd;
	control_fd = -1; /* inherited across fork: the parent's, leave it alone */
	if (xio_domain_dir(dir, sizeof(dir)) < 0 ||
	    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/control", dir) >=
		(int)sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	int fd = xio_sys.socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	control_rejoined = control_admitted = false;
	if (xio_sys.connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		xio_sys.close(fd);
		if ((e != EACCES && e != EPERM) ||
		    !atomic_load_explicit(&all_domains, memory_order_acquire))
			return -e;
		fd = control_rejoin(dir);
		if (fd < 0)
			return fd;
		control_rejoined = true;
	}
	control_fd = xio_fd_move_high(fd);
	control_pid = xio_self_pid();
	xio_helper_fd(control_fd, true);
	return control_fd;
}

static void control_drop(void)
{
	if (control_fd >= 0 && control_pid == xio_self_pid()) {
		xio_helper_fd(control_fd, false);
		xio_sys.close(control_fd);
	}
	control_fd = -1;
}

/*
 * Look at @fd until it is readable or @spin_us passed, offering the CPU
 * between looks: the manager that has our answer to give may be queued on
 * our CPU (woken by our request, it was placed where we run), and then
 * waits for the end of a spin that does not yield: without the yield, runs
 * of short connections between pods came out at 0.8x or 1.0x veth TCP by
 * luck, with it at 1.0x (stack/pair.c, claim_adapt).
 */
static void spin_readable(int fd, int spin_us)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	int64_t now = xio_mono_ns(), end = now + (int64_t)spin_us * 1000;
	if (xio_spin_crowded())
		return;
	while (xio_sys.poll(&p, 1, 0) == 0 && now < end && (now = xio_spin_yield(now)))
		;
}

/* Up to @max_fds reply fds land in @reply_fds (-1 where none came). */
static ssize_t control_call_once(const void *req, size_t req_len, const int *fds, int nfds,
				 void *reply, size_t reply_len, int *reply_fds, int max_fds,
				 int spin_us)
{
	int fd = control_open();
	if (fd < 0)
		return fd;
	ssize_t n = xio_send_with_fds(fd, req, req_len, fds, nfds);
	if (n < 0) {
		bool refused = control_rejoined && !control_admitted;
		control_drop();
		return refused ? -EACCES : n;
	}
	int got = 0, rfd[2] = {-1, -1};
	if (spin_us > 0)
		spin_readable(fd, spin_us);
	n = xio_recv_with_fds(fd, reply, reply_len, rfd, &got, reply_fds ? max_fds : 0);
	if (n <= 0) {
		for (int i = 0; i < got; i++)
			xio_sys.close(rfd[i]);
		bool refused = control_rejoined && !control_admitted;
		control_drop();
		if (refused)
			return -EACCES; /* the manager did not take our rejoin */
		return n == 0 ? -ECONNRESET : n;
	}
	if (control_rejoined && !control_admitted)
		xio_log(1,
			"uid %d rejoined domain '%s' through %s.denied: it maps a generation of it",
			(int)geteuid(), xio_config()->domain, xio_config()->domain);
	control_admitted = true;
	for (int i = 0; reply_fds && i < max_fds; i++)
		reply_fds[i] = rfd[i];
	return n;
}

/*
 * Nobody watches the control connection between calls (the manager's
 * liveness is read from shared memory): a connection that went dead since
 * (a manager that restarted, one that dropped us) is found here, and the
 * call is made once more on a new one.
 */
static ssize_t control_call_locked(const void *req, size_t req_len, const int *fds, int nfds,
				   void *reply, size_t reply_len, int *reply_fds, int max_fds,
				   int spin_us)
{
	bool had = control_fd >= 0 && control_pid == xio_self_pid();
	ssize_t n = control_call_once(req, req_len, fds, nfds, reply, reply_len, reply_fds, max_fds,
				      spin_us);
	if (had && (n == -ECONNRESET || n == -EPIPE || n == -ENOTCONN))
		n = control_call_once(req, req_len, fds, nfds, reply, reply_len, reply_fds, max_fds,
				      spin_us);
	return n;
}

ssize_t xio_control_call_spin(const void *req, size_t req_len, const int *fds, int nfds,
			      void *reply, size_t reply_len, int *reply_fd, int spin_us)
{
	pthread_mutex_lock(&domain_lock);
	ssize_t n = control_call_locked(req, req_len, fds, nfds, reply, reply_len, reply_fd,
					reply_fd ? 1 : 0, spin_us);
	pthread_mutex_unlock(&domain_lock);
	return n;
}

ssize_t xio_control_call(const void *req, size_t req_len, const int *fds, int nfds, void *reply,
			 size_t reply_len, int *reply_fd)
{
	return xio_control_call_spin(req, req_len, fds, nfds, reply, reply_len, reply_fd, 0);
}

int xio_control_send(const void *req, size_t req_len, const int *fds, int nfds)
{
	pthread_mutex_lock(&domain_lock);
	bool had = control_fd >= 0 && control_pid == xio_self_pid();
	int fd = control_open();
	ssize_t n = fd < 0 ? fd : xio_send_with_fds(fd, req, req_len, fds, nfds);
	if (n < 0 && fd >= 0) {
		control_drop();
		/* a connection that went dead since (as control_call_locked): once more */
		if (had && (n == -ECONNRESET || n == -EPIPE || n == -ENOTCONN)) {
			fd = control_open();
			n = fd < 0 ? fd : xio_send_with_fds(fd, req, req_len, fds, nfds);
			if (n < 0 && fd >= 0)
				control_drop();
		}
	}
	pthread_mutex_unlock(&domain_lock);
	return n < 0 ? (int)n : 0;
}

/* Caller holds offer_lock. */
static bool offer_channel_ok(uint64_t generation)
{
	return offer_fd >= 0 && offer_pid == xio_self_pid() && offer_generation == generation;
}

/* Caller holds offer_lock. */
static void offer_channel_drop(void)
{
	if (offer_fd >= 0 && offer_pid == xio_self_pid()) {
		xio_helper_fd(offer_fd, false);
		xio_sys.close(offer_fd);
	}
	offer_fd = -1;
}

int xio_offer_channel(const struct xio_domain *d)
{
	pthread_mutex_lock(&offer_lock);
	bool ok = offer_channel_ok(d->generation) && xio_manager_alive(d);
	pthread_mutex_unlock(&offer_lock);
	if (ok)
		return 0;

	/* Made without offer_lock: the call below may wait for domain_lock. */
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	struct xio_msg_hdr req, rep;
	xio_msg_init(&req, XIO_CTL_PAIR_CHANNEL, sizeof(req));
	ssize_t n = xio_control_call(&req, sizeof(req), &sv[1], 1, &rep, sizeof(rep), NULL);
	xio_sys.close(sv[1]);
	int r = n < 0 ? (int)n : xio_msg_check(&rep, (size_t)n, XIO_CTL_REPLY, sizeof(rep));
	if (r == 0 && rep.status < 0)
		r = rep.status; /* e.g. -EPROTO from a manager that has no channels */
	if (r < 0) {
		xio_sys.close(sv[0]);
		return r;
	}
	int fd = xio_fd_move_high(sv[0]);
	pthread_mutex_lock(&offer_lock);
	offer_channel_drop(); /* the dead manager's, or a thread's made meanwhile */
	offer_fd = fd;
	offer_pid = xio_self_pid();
	offer_generation = d->generation;
	xio_helper_fd(offer_fd, true);
	pthread_mutex_unlock(&offer_lock);
	return 0;
}

int xio_offer_send(const struct xio_domain *d, const void *req, size_t req_len, const int *fds,
		   int nfds)
{
	pthread_mutex_lock(&offer_lock);
	ssize_t n = -ENOTCONN;
	if (offer_channel_ok(d->generation)) {
		n = xio_send_with_fds(offer_fd, req, req_len, fds, nfds);
		if (n < 0)
			offer_channel_drop(); /* never reopened here: see xio_offer_channel */
	}
	pthread_mutex_unlock(&offer_lock);
	return n < 0 ? (int)n : 0;
}

struct xio_domain *xio_domain_by_generation(uint64_t generation)
{
	for (struct xio_domain *d = atomic_load_explicit(&all_domains, memory_order_acquire); d;
	     d = d->next)
		if (d->generation == generation)
			return d;
	return NULL;
}

/* Geometry of the header we mapped, against the reply and itself: a mismatch means TCP. */
static bool hdr_sane(const struct xio_domain_hdr *h, const struct xio_ctl_hello_reply *rep)
{
	if (h->magic != XIO_MAGIC || h->layout_version != XIO_LAYOUT_VERSION ||
	    h->generation != rep->generation ||
	    rep->hdr_delta + h->slots_off + (uint64_t)h->nslots * h->slot_size > rep->map_len ||
	    h->ring_bytes < 4096 || (h->ring_bytes & (h->ring_bytes - 1)) ||
	    h->rings_len != rep->rings_len)
		return false;
	if (!h->rings_len) /* the rings follow each slot */
		return h->slot_size >= sizeof(struct xio_slot) + 2 * (uint64_t)h->ring_bytes;
	return h->slot_size >= sizeof(struct xio_slot) &&
	       h->ring_stride >= xio_ring_memsize(h->ring_bytes / XIO_RING_ESIZE) &&
	       h->ring_stride % 4096 == 0 && h->ring_stride <= h->rings_len / 2 &&
	       (uint64_t)h->nslots <= h->rings_len / h->ring_stride / 2;
}

/*
 * The domain memory and, right after it, the ring file: one reservation, so
 * that a slot's ring offsets hold in every process (layout.h).
 */
static void *map_domain(const struct xio_ctl_hello_reply *rep, int memfd, int ringfd)
{
	size_t span = rep->map_len + rep->rings_len, align = rep->page_size;
	if (!align || (align & (align - 1)) || align > (1u << 30)) {
		errno = EINVAL;
		return MAP_FAILED;
	}
	/* hugetlbfs maps only at addresses aligned to its page size */
	char *res =
	    mmap(NULL, span + align, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (res == MAP_FAILED)
		return MAP_FAILED;
	char *base = (char *)(((uintptr_t)res + align - 1) & ~(uintptr_t)(align - 1));
	if (base > res)
		munmap(res, (size_t)(base - res));
	if (base + span < res + span + align)
		munmap(base + span, (size_t)(res + span + align - (base + span)));
	if (mmap(base, rep->map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, memfd,
		 (off_t)rep->map_offset) == MAP_FAILED ||
	    (rep->rings_len && mmap(base + rep->map_len, rep->rings_len, PROT_READ | PROT_WRITE,
				    MAP_SHARED | MAP_FIXED, ringfd, 0) == MAP_FAILED)) {
		int e = errno;
		munmap(base, span);
		errno = e;
		return MAP_FAILED;
	}
	return base;
}

/* HELLO: the manager's current generation, mapped (once per generation). */
static struct xio_domain *attach_locked(enum xio_fallback *why, int *err)
{
	struct xio_msg_hdr req;
	struct xio_ctl_hello_reply rep;
	int fds[2] = {-1, -1};

	*err = 0;
	xio_msg_init(&req, XIO_CTL_HELLO, sizeof(req));
	ssize_t n = control_call_locked(&req, sizeof(req), NULL, 0, &rep, sizeof(rep), fds, 2, 0);
	int memfd = fds[0], ringfd = fds[1];
	if (n == -EACCES || n == -EPERM) {
		/* The control socket is the domain's door: its mode and group say who may join. */
		xio_log(
		    1,
		    "uid %d gid %d may not join domain '%s' (control socket: %s%s): kernel TCP; "
		    "xio-manager --group admits a group",
		    (int)geteuid(), (int)getegid(), xio_config()->domain, strerror((int)-n),
		    atomic_load_explicit(&all_domains, memory_order_acquire)
			? "; rejoin as a member of an earlier generation refused"
			: "");
		*why = XIO_FB_NO_DOMAIN_ACCESS;
		*err = (int)-n;
		return NULL;
	}
	if (n < 0) {
		xio_log(1, "no manager for domain '%s': %s", xio_config()->domain,
			strerror((int)-n));
		*why = XIO_FB_NO_MANAGER;
		*err = (int)-n;
		return NULL;
	}
	int r = xio_msg_check(&rep, (size_t)n, XIO_CTL_REPLY, sizeof(rep));
	if (r < 0 || rep.hdr.status < 0 || memfd < 0 || rep.layout_version != XIO_LAYOUT_VERSION ||
	    rep.hdr_delta + sizeof(struct xio_domain_hdr) > rep.map_len ||
	    (rep.rings_len && ringfd < 0) || rep.rings_len > (1ull << 46)) {
		xio_log(1, "manager refused attach or spoke another version");
		*why = r == -EPROTONOSUPPORT || rep.layout_version != XIO_LAYOUT_VERSION
			   ? XIO_FB_VERSION
			   : XIO_FB_NO_MANAGER;
		for (int i = 0; i < 2; i++)
			if (fds[i] >= 0)
				xio_sys.close(fds[i]);
		return NULL;
	}
	struct xio_domain *known = xio_domain_by_generation(rep.generation);
	if (known) {
		/* the same manager (our control connection was lost), or a forked child's */
		for (int i = 0; i < 2; i++)
			if (fds[i] >= 0)
				xio_sys.close(fds[i]);
		return known;
	}
	size_t span = rep.map_len + rep.rings_len;
	char *map = map_domain(&rep, memfd, ringfd);
	/* the mappings keep the memory alive */
	xio_sys.close(memfd);
	if (ringfd >= 0)
		xio_sys.close(ringfd);
	if (map == MAP_FAILED) {
		xio_log(1, "cannot map domain memory: %s", strerror(errno));
		*why = XIO_FB_ERROR;
		return NULL;
	}
	struct xio_domain_hdr *h = (struct xio_domain_hdr *)(map + rep.hdr_delta);
	if (!hdr_sane(h, &rep)) {
		munmap(map, span);
		*why = XIO_FB_VERSION;
		return NULL;
	}
	struct xio_domain *d = calloc(1, sizeof(*d));
	if (!d) {
		munmap(map, span);
		*why = XIO_FB_ERROR;
		return NULL;
	}
	d->hdr = h;
	d->map = map;
	d->map_len = rep.map_len;
	d->generation = h->generation;
	d->nslots = h->nslots;
	d->slot_size = h->slot_size;
	d->ring_bytes = h->ring_bytes;
	d->slots_off = h->slots_off;
	if (rep.rings_len) {
		d->rings = map + rep.map_len;
		d->rings_len = rep.rings_len;
		d->ring_stride = h->ring_stride;
	}
	(void)xio_pool_init(&d->pool, h, map, map + rep.map_len, d->slots_off, d->nslots,
			    d->slot_size);
	/* epoll news boards: used only where the header's geometry fits the mapping */
	uint64_t bb = xio_board_bytes(d->nslots);
	if (h->nboards && h->board_size >= bb && h->boards_off % XIO_CACHELINE == 0 &&
	    h->boards_off >= d->slots_off &&
	    h->boards_off + (uint64_t)h->nboards * h->board_size <= rep.map_len - rep.hdr_delta) {
		d->boards_off = h->boards_off;
		d->nboards = h->nboards;
		d->board_size = h->board_size;
		d->board_words = (uint32_t)(((uint64_t)d->nslots * 2 + 63) / 64);
		d->board_sum = (d->board_words + 63) / 64;
	}
	/* a ring tells its slot (a descriptor record read by copy): see xio_pool_of_ring() */
	d->pool.rings = d->rings;
	d->pool.rings_len = d->rings_len;
	d->pool.ring_stride = d->ring_stride;
	xio_log(1, "attached to domain '%s' generation %llx (%zu bytes, rings %llu bytes)",
		xio_config()->domain, (unsigned long long)d->generation, d->map_len,
		(unsigned long long)d->rings_len);
	d->next = atomic_load_explicit(&all_domains, memory_order_relaxed);
	atomic_store_explicit(&all_domains, d, memory_order_release);
	return d;
}

/*
 * May this process go on using @d for new connections without asking the
 * manager? Yes while the manager of @d lives (shared memory: no system
 * call) and this process has its own control connection. A forked child
 * says HELLO too, also in the manager's own network namespace: without it,
 * git daemon's children lost their connections (compat_git_daemon: a push
 * hung until the daemon's side read EOF).
 */
static bool current_ok_locked(const struct xio_domain *d)
{
	if (!xio_manager_alive(d)) {
		control_drop(); /* the dead manager's */
		return false;
	}
	return control_fd >= 0 && control_pid == xio_self_pid();
}

struct xio_domain *xio_domain_get(enum xio_fallback *why)
{
	pthread_mutex_lock(&domain_lock);
	struct xio_domain *d = current;
	bool forked = d && control_pid != xio_self_pid();
	/*
	 * Without a live control connection we do not know whether the manager
	 * still runs, nor its generation: ask (HELLO). A manager that went away
	 * means kernel TCP for new connections until one runs again; a new one
	 * has a new generation, which we map next to the old (connections of
	 * the old one keep theirs).
	 */
	if (!d || !current_ok_locked(d)) {
		int err;
		struct xio_domain *n = attach_locked(why, &err);
		/*
		 * A forked worker that dropped its privileges may not reach the
		 * manager: the mapping it inherited stays valid (publishing falls
		 * back to TCP).
		 */
		if (n)
			__atomic_store_n(&current, d = n, __ATOMIC_RELEASE); /* xio_domain_peek() */
		else if (!forked || (err != EACCES && err != EPERM))
			d = NULL;
	}
	pthread_mutex_unlock(&domain_lock);
	return d;
}

struct xio_domain *xio_domain_peek(void)
{
	return __atomic_load_n(&current, __ATOMIC_ACQUIRE);
}

uint64_t xio_domain_mapped_bytes(void)
{
	uint64_t n = 0;
	for (const struct xio_domain *d = atomic_load_explicit(&all_domains, memory_order_acquire);
	     d; d = d->next)
		n += d->map_len + d->rings_len; /* map_domain's span: what stays mapped */
	return n;
}

void xio_domain_after_fork_child(void)
{
	pthread_mutex_init(&domain_lock, NULL);
	pthread_mutex_init(&offer_lock, NULL);
	/*
	 * The parent's offer channel: closed here, else it would keep the
	 * parent's offers (and claims parked on them) alive in the manager
	 * for as long as this child lives.
	 */
	if (offer_fd >= 0) {
		xio_helper_fd(offer_fd, false);
		xio_sys.close(offer_fd);
	}
	offer_fd = -1;
	self_pid_forget();
	control_fd = -1;
}

bool xio_control_give_up_fd(void)
{
	bool dropped = false;
	if (pthread_mutex_trylock(&domain_lock) != 0)
		return false;
	struct xio_domain *d = current;
	/*
	 * Only where nothing needs the connection: the manager learns a pod's
	 * namespace from it (its sweep must look there while we live).
	 */
	if (d && control_fd >= 0 && control_pid == xio_self_pid() &&
	    d->hdr->ports_netns == xio_netns_ino()) {
		control_drop();
		dropped = true;
	}
	pthread_mutex_unlock(&domain_lock);
	return dropped;
}

void xio_count_decline(enum xio_fallback why)
{
	enum xio_fallback ignored;
	if (!xio_domain_peek())
		(void)xio_domain_get(&ignored); /* attach, so that xio-stat sees it */
	xio_count_fallback(why);
}

/*
 * We may not join the domain, so we have no memory of it to count in: tell the
 * manager on <rundir>/<domain>.denied (manager/denied.c), one datagram, never
 * waiting. Nothing happens if nobody listens there.
 */
void xio_report_denied(enum xio_fallback why)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char dir[sizeof(sa.sun_path)];
	struct xio_denied msg = {.reason = why};

	if (xio_domain_dir(dir, sizeof(dir)) < 0 ||
	    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s.denied", dir) >=
		(int)sizeof(sa.sun_path))
		return;
	int fd = xio_sys.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return;
	xio_msg_init(&msg.hdr, XIO_DENIED, sizeof(msg));
	if (xio_sys.connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		(void)xio_sys.send(fd, &msg, sizeof(msg), MSG_DONTWAIT | MSG_NOSIGNAL);
	xio_sys.close(fd);
}

void xio_count_fallback(enum xio_fallback why)
{
	struct xio_domain *d = xio_domain_peek();
	if (d && why < XIO_FB_MAX)
		atomic_fetch_add_explicit(&d->hdr->stats.fallback[why], 1, memory_order_relaxed);
	else if (!d && (why == XIO_FB_NO_DOMAIN_ACCESS || why == XIO_FB_LISTENER_NO_DOMAIN_ACCESS))
		xio_report_denied(why);
}
