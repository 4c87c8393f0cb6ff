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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "addr.h"
#include "conn.h"
#include "slot.h"
#include "sys.h"

#define MAX_ENTRIES 16

struct candidates {
	int n;
	char path[MAX_ENTRIES][512]; /* long paths connect through /proc/self/fd */
};

/* Collect the rendezvous sockets of directory @dir published by generation @gen. */
static void scan_dir(const char *dir, uint64_t gen, bool dual_only, struct candidates *c)
{
	char prefix[24];
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return;
	/* Same spelling as the manager's entry names: 16 hex digits. */
	snprintf(prefix, sizeof(prefix), "%016llx-", (unsigned long long)gen);
	while ((e = readdir(d)) && c->n < MAX_ENTRIES) {
		if (strncmp(e->d_name, prefix, strlen(prefix)) != 0)
			continue;
		size_t nl = strlen(e->d_name);
		if (dual_only && (nl < 2 || strcmp(e->d_name + nl - 2, "-d") != 0))
			continue;
		if (snprintf(c->path[c->n], sizeof(c->path[0]), "%s/%s", dir, e->d_name) <
		    (int)sizeof(c->path[0]))
			c->n++;
	}
	closedir(d);
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

/* Rendezvous entries that may serve @dst, most specific first. */
static int find_candidates(const struct xio_endpoint *dst, uint64_t gen, bool any_gen,
			   struct candidates *c)
{
	char keys[XIO_MAX_KEYS][XIO_KEY_MAX];
	bool dual[XIO_MAX_KEYS];
	char base[PATH_MAX], dir[PATH_MAX];
	int nk = xio_connect_keys(dst, keys, dual);
	bool local_checked = false, local = false;

	c->n = 0;
	if (xio_domain_dir(base, sizeof(base)) < 0)
		return 0;
	for (int k = 0; k < nk && c->n == 0; k++) {
		bool wildcard = k > 0; /* keys after the first are wildcards */
		if (snprintf(dir, sizeof(dir), "%s/rv/%llu/%s", base,
			     (unsigned long long)xio_netns_ino(), keys[k]) >= (int)sizeof(dir))
			continue;
		if (any_gen) {
			/* Before attaching: is there anything at all? */
			struct stat st;
			if (stat(dir, &st) == 0) {
				c->n = 1;
				return 1;
			}
			continue;
		}
		if (wildcard && !local_checked) {
			local = is_local_address(dst);
			local_checked = true;
		}
		if (wildcard && !local)
			break;
		scan_dir(dir, gen, dual[k], c);
	}
	return c->n;
}

/* The address we appear to come from, and a port of our own from the kernel. */
static int pick_local(int fd, int family, const struct xio_endpoint *dst, struct xio_endpoint *local)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (xio_sys.getsockname(fd, (struct sockaddr *)&ss, &sl) < 0 ||
	    xio_ep_from_sockaddr(local, (struct sockaddr *)&ss, sl) < 0)
		return -EINVAL;
	if (local->port != 0)
		return 0;
	if (xio_ep_is_any(local)) {
		*local = *dst;
		if (xio_ep_is_v4(dst) && xio_ep_is_loopback(dst))
			local->addr[15] = 1, local->addr[14] = 0, local->addr[13] = 0; /* 127.0.0.1 */
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

static int connect_entry(int u, const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int dfd = -1;

	if (strlen(path) < sizeof(sa.sun_path)) {
		memcpy(sa.sun_path, path, strlen(path) + 1);
	} else {
		/* A run directory too deep for sun_path: go through the directory's fd. */
		const char *slash = strrchr(path, '/');
		char dir[PATH_MAX];
		if (!slash || (size_t)(slash - path) >= sizeof(dir))
			return -ENAMETOOLONG;
		memcpy(dir, path, (size_t)(slash - path));
		dir[slash - path] = 0;
		dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0)
			return -errno;
		snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/%s", dfd, slash + 1);
	}
	int r = xio_sys.connect(u, (struct sockaddr *)&sa, sizeof(sa));
	int e = errno;
	if (dfd >= 0)
		xio_sys.close(dfd);
	return r < 0 ? -e : 0;
}

/* Carry over what the application already set on its TCP socket. */
static void inherit_options(struct xio_conn *c, int fd)
{
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

/*
 * Keep the application's bound TCP socket as a port holder (a high, close-on-
 * exec helper fd): kernel TCP must not hand our local port to anyone else
 * while the connection lives, as it would not for a real TCP connection.
 */
static int hold_port(int fd)
{
	struct rlimit rl;
	int base = 512;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur > 64)
		base = (int)(rl.rlim_cur * 3 / 4);
	int h = xio_sys.fcntl(fd, F_DUPFD_CLOEXEC, base);
	if (h >= 0)
		xio_helper_fd(h, true);
	return h; /* -1: no room up there; the port is then only as reserved as TCP leaves it */
}

/* Replace the application's TCP socket @fd by the AF_UNIX end @u, keeping its fd flags. */
static int take_over_fd(int fd, int u)
{
	int fl = xio_sys.fcntl(fd, F_GETFL), fdfl = xio_sys.fcntl(fd, F_GETFD);
	if (fl < 0 || fdfl < 0)
		return -errno;
	if (xio_sys.fcntl(u, F_SETFL, (fl & O_NONBLOCK) | O_RDWR) < 0)
		return -errno;
	if (xio_sys.dup3(u, fd, (fdfl & FD_CLOEXEC) ? O_CLOEXEC : 0) < 0)
		return -errno;
	xio_sys.close(u);
	return 0;
}

int xio_conn_connect(int fd, const struct sockaddr *sa, socklen_t len, struct xio_conn **out)
{
	const struct xio_config *cfg = xio_config();
	struct xio_endpoint dst, local;
	struct candidates cand;
	enum xio_fallback why = XIO_FB_ERROR;
	int family;
	socklen_t fl = sizeof(family);

	if (cfg->disabled)
		return XIO_NOT_CARRIED;
	if (xio_ep_from_sockaddr(&dst, sa, len) < 0 || dst.port == 0 || xio_ep_is_any(&dst))
		return XIO_NOT_CARRIED;
	if (xio_sys.getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &family, &fl) < 0)
		return XIO_NOT_CARRIED;
	/*
	 * Cheap test before attaching: a process that only talks to remote hosts
	 * maps nothing. A loopback connect is local networking: attach so that the
	 * fallback is counted where xio-stat can see it.
	 */
	if (!find_candidates(&dst, 0, true, &cand)) {
		if (xio_ep_is_loopback(&dst))
			xio_domain_get(&why);
		return not_carried(xio_ep_is_loopback(&dst) ? XIO_FB_NO_RENDEZVOUS : XIO_FB_REMOTE);
	}
	struct xio_domain *d = xio_domain_get(&why);
	if (!d)
		return not_carried(why);
	if (atomic_load(&d->hdr->kill_switch))
		return not_carried(XIO_FB_DISABLED);
	if (!find_candidates(&dst, d->generation, false, &cand))
		return not_carried(XIO_FB_NO_RENDEZVOUS);
	if (!port_is_taken(&dst))
		return not_carried(XIO_FB_NO_RENDEZVOUS); /* an entry with no TCP listener behind it */
	if (pick_local(fd, family, &dst, &local) < 0)
		return not_carried(XIO_FB_ERROR);

	int u = xio_sys.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	struct stat st;
	if (u < 0 || fstat(u, &st) < 0) {
		if (u >= 0)
			xio_sys.close(u);
		return not_carried(XIO_FB_ERROR);
	}
	uint32_t token;
	struct xio_slot *s = xio_slot_alloc(d->hdr, st.st_ino, &token);
	if (!s) {
		struct xio_msg_hdr req, rep;
		xio_msg_init(&req, XIO_CTL_RECLAIM, sizeof(req));
		xio_control_call(&req, sizeof(req), NULL, 0, &rep, sizeof(rep), NULL);
		s = xio_slot_alloc(d->hdr, st.st_ino, &token);
	}
	if (!s) {
		xio_sys.close(u);
		return not_carried(XIO_FB_DOMAIN_FULL);
	}
	s->client = local;
	s->server = dst;
	s->client_pid = getpid();

	/* Name the client end so that an exec'd image or an SCM_RIGHTS receiver can adopt it. */
	struct sockaddr_un an;
	socklen_t anl;
	int r = xio_conn_abstract_name(&an, &anl, d->generation, s->index, token);
	if (r == 0 && xio_sys.bind(u, (struct sockaddr *)&an, anl) < 0)
		r = -errno;
	if (r < 0) {
		xio_slot_abort(d->hdr, s, token);
		xio_sys.close(u);
		return not_carried(XIO_FB_ERROR);
	}
	r = -ECONNREFUSED;
	why = XIO_FB_NO_RENDEZVOUS;
	/* Spread connections over a SO_REUSEPORT group, as the kernel's hash does. */
	static _Atomic unsigned spread;
	unsigned first = atomic_fetch_add(&spread, 1) + (unsigned)getpid();
	for (int i = 0; i < cand.n; i++) {
		r = connect_entry(u, cand.path[(first + (unsigned)i) % (unsigned)cand.n]);
		if (r == 0)
			break;
		if (r == -EAGAIN)
			why = XIO_FB_BACKLOG;
	}
	struct xio_hs_offer o = {.generation = d->generation,
				 .slot = s->index,
				 .token = token,
				 .layout_version = XIO_LAYOUT_VERSION,
				 .pid = getpid(),
				 .client = local,
				 .server = dst};
	xio_msg_init(&o.hdr, XIO_HS_OFFER, sizeof(o));
	if (r == 0)
		r = xio_slot_offer(s, token);
	if (r == 0 && xio_sys.send(u, &o, sizeof(o), MSG_DONTWAIT | MSG_NOSIGNAL) != (ssize_t)sizeof(o))
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
	inherit_options(c, fd);
	c->port_holder = hold_port(fd);
	r = take_over_fd(fd, u);
	if (r < 0) {
		xio_sys.close(u);
		xio_conn_put(c);
		return r;
	}
	xio_conn_register(c);
	*out = c;
	return 0;
}
