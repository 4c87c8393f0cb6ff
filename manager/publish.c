/* SPDX-License-Identifier: MIT */
/*
 * Rendezvous entries: $dir/rv/<netns inode>/<key>/<generation>-<pid>-<seq>[-d]
 * where <key> names the TCP address (addr.h). We bind an entry only for a
 * requester that shows us its kernel TCP LISTEN socket, so no domain member
 * can impersonate a server it does not run; the requester listen()s on the
 * AF_UNIX socket itself after our reply. After a manager restart a listener
 * keeps its socket: REPUBLISH renames its entry to the new generation.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "addr.h"
#include "manager.h"

/* An entry younger than this may be bound but not listening yet. */
#define RV_YOUNG_SEC 5

/* The TCP listener must be real: stream, IP, TCP, listening. */
static int check_tcp_listener(int fd, struct xio_endpoint *ep, bool *dual)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int type, proto, acc, v6only = 1;

	if (mgr_sockopt_int(fd, SOL_SOCKET, SO_TYPE, &type) < 0 || type != SOCK_STREAM ||
	    mgr_sockopt_int(fd, SOL_SOCKET, SO_PROTOCOL, &proto) < 0 || proto != IPPROTO_TCP ||
	    mgr_sockopt_int(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc) < 0 || acc != 1)
		return -EPERM;
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0 ||
	    (ss.ss_family != AF_INET && ss.ss_family != AF_INET6))
		return -EPERM;
	if (xio_ep_from_sockaddr(ep, (struct sockaddr *)&ss, sl) < 0)
		return -EPERM;
	if (ss.ss_family == AF_INET6)
		mgr_sockopt_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only);
	/* an IPv6 wildcard listener that is not v6-only also serves IPv4 clients */
	*dual = ss.ss_family == AF_INET6 && !v6only && xio_ep_is_any(ep);
	return 0;
}

/* The AF_UNIX socket we are to bind: a fresh, unbound stream socket. */
static int check_unix_socket(int fd)
{
	struct sockaddr_un sa;
	socklen_t sl = sizeof(sa);
	int dom, type;

	if (mgr_sockopt_int(fd, SOL_SOCKET, SO_DOMAIN, &dom) < 0 || dom != AF_UNIX ||
	    mgr_sockopt_int(fd, SOL_SOCKET, SO_TYPE, &type) < 0 || type != SOCK_STREAM)
		return -EINVAL;
	if (getsockname(fd, (struct sockaddr *)&sa, &sl) < 0 || sl > sizeof(sa_family_t))
		return -EINVAL;
	return 0;
}

/* The network namespace of the TCP listener (what its clients' addresses mean). */
static int listener_netns(struct mgr *m, struct mgr_client *c, int fd, uint64_t *ino)
{
	int ns = ioctl(fd, SIOCGSKNS);

	if (ns >= 0)
		return mgr_netns_add_fd(m, ns, ino);
	/* SIOCGSKNS needs CAP_NET_ADMIN: the requester's namespace is the next best guess */
	if (mgr_netns_add_pid(m, c->pid, ino) == 0) {
		if (!*ino)
			*ino = m->own_netns;
		return 0;
	}
	*ino = m->own_netns;
	return 0;
}

/*
 * Check a PUBLISH/REPUBLISH pair (fds[1] a real TCP listener, fds[0] as
 * @check_unix wants it) and name the listener's rendezvous directory.
 */
static int rendezvous_dir(struct mgr *m, struct mgr_client *c, const int fds[2],
			  int (*check_unix)(int), bool *dual, char *dir, size_t len,
			  struct xio_endpoint *epp, uint64_t *nsp)
{
	struct xio_endpoint ep;
	char key[XIO_KEY_MAX];
	uint64_t ns;
	int r = check_tcp_listener(fds[1], &ep, dual);
	if (r < 0)
		return r;
	r = check_unix(fds[0]);
	if (r < 0)
		return r;
	r = xio_listener_key(&ep, key, sizeof(key));
	if (r < 0)
		return r;
	r = listener_netns(m, c, fds[1], &ns);
	if (r < 0)
		return r;
	int n = snprintf(dir, len, "%s/rv/%" PRIu64 "/%s", m->dir, ns, key);
	if (epp)
		*epp = ep;
	if (nsp)
		*nsp = ns;
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int mgr_publish(struct mgr *m, struct mgr_client *c, const struct xio_ctl_publish *req,
		const int fds[2], char *path, size_t pathlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char dir[PATH_MAX];
	bool dual;
	int r, n;

	struct xio_endpoint ep;
	uint64_t ns;
	r = rendezvous_dir(m, c, fds, check_unix_socket, &dual, dir, sizeof(dir), &ep, &ns);
	if (r < 0)
		return r;
	r = mgr_mkdir_p(dir, m->dir_mode, m->o.gid);
	if (r < 0)
		return r;
	char name[64], full[PATH_MAX];
	snprintf(name, sizeof(name), "%016" PRIx64 "-%d-%" PRIu64 "%s", m->hdr->generation,
		 req->pid > 0 ? req->pid : (int)c->pid, ++m->publish_seq, dual ? "-d" : "");
	n = snprintf(full, sizeof(full), "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= sizeof(full) || (size_t)n >= pathlen)
		return -ENAMETOOLONG;
	/* A run directory too deep for sun_path: bind through the directory's fd. */
	int dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	if ((size_t)n < sizeof(sa.sun_path))
		memcpy(sa.sun_path, full, (size_t)n + 1);
	else
		snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/%s", dfd, name);
	r = bind(fds[0], (struct sockaddr *)&sa, sizeof(sa)) < 0 ? -errno : 0;
	if (r == 0 && (fchmodat(dfd, name, m->sock_mode, 0) < 0 ||
		       (m->o.gid != (gid_t)-1 &&
			fchownat(dfd, name, (uid_t)-1, m->o.gid, AT_SYMLINK_NOFOLLOW) < 0))) {
		r = -errno;
		unlinkat(dfd, name, 0);
	}
	close(dfd);
	if (r < 0)
		return r;
	memcpy(path, full, (size_t)n + 1);
	atomic_fetch_add_explicit(&m->hdr->stats.publishes, 1, memory_order_relaxed);
	mgr_pair_hint(m, &ep, dual, ns);
	return 0;
}

/* ---- re-publishing after a restart ------------------------------------------- */

/* A listening AF_UNIX stream socket (already bound: REPUBLISH). */
static int check_unix_listener(int fd)
{
	int dom, type, acc;

	if (mgr_sockopt_int(fd, SOL_SOCKET, SO_DOMAIN, &dom) < 0 || dom != AF_UNIX ||
	    mgr_sockopt_int(fd, SOL_SOCKET, SO_TYPE, &type) < 0 || type != SOCK_STREAM ||
	    mgr_sockopt_int(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc) < 0 || acc != 1)
		return -EINVAL;
	return 0;
}

/* Is @name a plain entry name (no path, nothing hidden)? */
static bool entry_name_ok(const char *name)
{
	return name[0] && name[0] != '.' && !strchr(name, '/');
}

/*
 * The entry in @dir whose inode is @ino, into @name (@hint first: the name
 * the requester knows, which another process sharing the socket may have
 * renamed already). Returns 0 or -ENOENT.
 */
static int find_entry(const char *dir, const char *hint, uint64_t ino, char *name, size_t len)
{
	char path[PATH_MAX];
	struct dirent *e;
	struct stat st;
	DIR *d;
	int r = -ENOENT;

	if (entry_name_ok(hint) &&
	    snprintf(path, sizeof(path), "%s/%s", dir, hint) < (int)sizeof(path) &&
	    lstat(path, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_ino == ino &&
	    strlen(hint) < len) {
		memcpy(name, hint, strlen(hint) + 1); /* fits: checked above */
		return 0;
	}
	d = opendir(dir);
	if (!d)
		return -ENOENT;
	while ((e = readdir(d))) {
		if (!entry_name_ok(e->d_name) || strlen(e->d_name) >= len ||
		    snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= (int)sizeof(path) ||
		    lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode) || st.st_ino != ino)
			continue;
		memcpy(name, e->d_name, strlen(e->d_name) + 1); /* fits: checked above */
		r = 0;
		break;
	}
	closedir(d);
	return r;
}

/*
 * The published entry of the requester's AF_UNIX listener @fds[0] (for the
 * TCP listener @fds[1]): its directory into @dir, its name into @old.
 */
static int locate_entry(struct mgr *m, struct mgr_client *c, const struct xio_ctl_republish *req,
			const int fds[2], bool *dual, char *dir, size_t dirlen, char *old,
			size_t oldlen, struct xio_endpoint *ep, uint64_t *ns)
{
	char hint[sizeof(req->name) + 1];
	uint64_t vino;
	struct stat st;
	int r, nl;
	ssize_t idx = -1;

	r = rendezvous_dir(m, c, fds, check_unix_listener, dual, dir, dirlen, ep, ns);
	if (r < 0)
		return r;
	/*
	 * Which file is the AF_UNIX listener bound to? Only sock_diag knows, in
	 * the namespace the requester made it in (its own, learnt at HELLO).
	 */
	if (fstat(fds[0], &st) < 0)
		return -errno;
	if (c->netns) {
		idx = mgr_netns_find(m, c->netns);
		if (idx < 0)
			return -EPERM;
	}
	nl = mgr_netns_diag_socket(m, idx);
	if (nl < 0)
		return nl;
	r = mgr_diag_bound_ino(nl, st.st_ino, &vino);
	close(nl);
	if (r < 0)
		return r == -ENOENT ? -EPERM : r;
	memcpy(hint, req->name, sizeof(req->name));
	hint[sizeof(req->name)] = 0;
	/* Only an entry of this address's directory: a listener cannot move to another address. */
	return find_entry(dir, hint, vino, old, oldlen);
}

int mgr_republish(struct mgr *m, struct mgr_client *c, const struct xio_ctl_republish *req,
		  const int fds[2], char *path, size_t pathlen)
{
	char dir[PATH_MAX], old[64], name[64], gen[24], from[PATH_MAX], to[PATH_MAX];
	struct xio_endpoint ep;
	uint64_t ns;
	bool dual;
	int n;
	int r = locate_entry(m, c, req, fds, &dual, dir, sizeof(dir), old, sizeof(old), &ep, &ns);
	if (r < 0)
		return r;
	mgr_pair_hint(m, &ep, dual, ns);
	snprintf(gen, sizeof(gen), "%016" PRIx64 "-", m->hdr->generation);
	if (!strncmp(old, gen, strlen(gen))) {
		snprintf(name, sizeof(name), "%s", old); /* done already (a process sharing it) */
	} else {
		snprintf(name, sizeof(name), "%s%d-%" PRIu64 "%s", gen,
			 req->pid > 0 ? req->pid : (int)c->pid, ++m->publish_seq, dual ? "-d" : "");
		if (snprintf(from, sizeof(from), "%s/%s", dir, old) >= (int)sizeof(from))
			return -ENAMETOOLONG;
		n = snprintf(to, sizeof(to), "%s/%s", dir, name);
		if (n < 0 || (size_t)n >= sizeof(to) || (size_t)n >= pathlen)
			return -ENAMETOOLONG;
		/* the same socket file under a new name: clients of our generation find it */
		if (rename(from, to) < 0)
			return -errno;
		atomic_fetch_add_explicit(&m->hdr->stats.publishes, 1, memory_order_relaxed);
	}
	n = snprintf(path, pathlen, "%s/%s", dir, name);
	return n < 0 || (size_t)n >= pathlen ? -ENAMETOOLONG : 0;
}

/*
 * Remove the requester's entry for good: its listener went to a program
 * that will accept from the TCP socket only (exec). New clients use TCP.
 */
int mgr_withdraw(struct mgr *m, struct mgr_client *c, const struct xio_ctl_republish *req,
		 const int fds[2])
{
	char dir[PATH_MAX], old[64], path[PATH_MAX];
	bool dual;
	int r = locate_entry(m, c, req, fds, &dual, dir, sizeof(dir), old, sizeof(old), NULL, NULL);
	if (r < 0)
		return r;
	if (snprintf(path, sizeof(path), "%s/%s", dir, old) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	return unlink(path) < 0 ? -errno : 0;
}

/* ---- cleanup ---------------------------------------------------------------- */

/* Inodes of the socket files that LISTEN sockets are bound to. */
struct names {
	uint64_t *v;
	size_t n, cap;
};

static void names_cb(const char *path, uint64_t vfs_ino, uint32_t qlen, void *arg)
{
	struct names *s = arg;

	(void)path;
	(void)qlen;
	if (!vfs_ino)
		return;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		uint64_t *v = realloc(s->v, cap * sizeof(*v));
		if (!v)
			return;
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = vfs_ino;
}

static int cmp_ino(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void names_free(struct names *s)
{
	free(s->v);
	*s = (struct names){0};
}

/* Listening path names in namespace @idx (-1: ours). Returns 0 or -errno. */
static int names_load(struct mgr *m, ssize_t idx, struct names *s)
{
	int nl = mgr_netns_diag_socket(m, idx);
	int r;

	if (nl < 0)
		return nl;
	r = mgr_diag_listeners(nl, names_cb, s);
	close(nl);
	if (r < 0) {
		names_free(s);
		return r;
	}
	if (s->n)
		qsort(s->v, s->n, sizeof(*s->v), cmp_ino);
	return 0;
}

/* For a namespace we cannot look into: does anything accept on @dir/@name? */
static bool probe_alive(const char *dir, const char *name)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, dfd = -1, r;

	if (snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", dir, name) >=
	    (int)sizeof(sa.sun_path)) {
		/* deep run directory: connect the way mgr_publish() bound it */
		dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0 || snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/%s",
					dfd, name) >= (int)sizeof(sa.sun_path)) {
			if (dfd >= 0)
				close(dfd);
			return true; /* cannot tell: keep it */
		}
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	r = fd < 0 ? 0 : connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 ? 0 : errno;
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	return r != ECONNREFUSED && r != ENOENT;
}

/* Sweep one <key> directory. @names is NULL when only a probe can tell. */
static unsigned clean_key_dir(const char *kdir, const struct names *names, time_t now)
{
	char path[PATH_MAX];
	struct dirent *e;
	DIR *d = opendir(kdir);
	unsigned young = 0;

	if (!d)
		return 0;
	while ((e = readdir(d))) {
		struct stat st;
		bool alive;

		if (e->d_name[0] == '.')
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", kdir, e->d_name) >= (int)sizeof(path) ||
		    lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode))
			continue;
		if (now - st.st_ctime < RV_YOUNG_SEC && now >= st.st_ctime) {
			young++; /* bound a moment ago; its owner may not have called listen() */
			continue;
		}
		uint64_t ino = st.st_ino;
		if (names)
			alive = names->n &&
				bsearch(&ino, names->v, names->n, sizeof(*names->v), cmp_ino);
		else
			alive = probe_alive(kdir, e->d_name);
		if (!alive)
			unlink(path);
	}
	closedir(d);
	rmdir(kdir); /* fails while entries remain: that is fine */
	return young;
}

static unsigned clean_ns_dir(struct mgr *m, const char *nsdir, uint64_t ino, time_t now)
{
	struct names names = {0};
	unsigned young = 0;
	bool have = false;
	char kdir[PATH_MAX];
	struct dirent *e;
	DIR *d;

	if (ino == m->own_netns)
		have = names_load(m, -1, &names) == 0;
	else if (mgr_netns_find(m, ino) >= 0)
		have = names_load(m, mgr_netns_find(m, ino), &names) == 0;
	d = opendir(nsdir);
	if (!d)
		goto out;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (snprintf(kdir, sizeof(kdir), "%s/%s", nsdir, e->d_name) >= (int)sizeof(kdir))
			continue;
		young += clean_key_dir(kdir, have ? &names : NULL, now);
	}
	closedir(d);
	rmdir(nsdir);
out:
	names_free(&names);
	return young;
}

static void rv_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	mgr_rv_cleanup(arg);
}

void mgr_rv_cleanup(struct mgr *m)
{
	char rv[PATH_MAX], nsdir[PATH_MAX];
	time_t now = time(NULL);
	unsigned young = 0;
	struct dirent *e;
	DIR *d;

	snprintf(rv, sizeof(rv), "%s/rv", m->dir);
	d = opendir(rv);
	if (!d)
		return;
	while ((e = readdir(d))) {
		char *end;
		unsigned long long ino;

		if (e->d_name[0] == '.')
			continue;
		ino = strtoull(e->d_name, &end, 10);
		if (*end ||
		    snprintf(nsdir, sizeof(nsdir), "%s/%s", rv, e->d_name) >= (int)sizeof(nsdir))
			continue;
		young += clean_ns_dir(m, nsdir, ino, now);
	}
	closedir(d);
	/* look again once the young ones are old enough to judge (one shot: idle stays idle) */
	mgr_pair_hints_prune(m);
	if (young && m->base) {
		struct timeval tv = {.tv_sec = RV_YOUNG_SEC + 1};
		if (!m->rv_ev)
			m->rv_ev = evtimer_new(m->base, rv_timer, m);
		if (m->rv_ev && !evtimer_pending(m->rv_ev, NULL))
			evtimer_add(m->rv_ev, &tv);
	}
}

/* ---- nudging listeners of earlier generations ---------------------------- */

/* Connect to @dir/@name without waiting and send @msg; failures are ignored. */
static void nudge_one(const char *dir, const char *name, const void *msg, size_t len)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, dfd = -1;

	if (snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", dir, name) >=
	    (int)sizeof(sa.sun_path)) {
		/* deep run directory: connect the way mgr_publish() bound it */
		dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0)
			return;
		if (snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/%s", dfd, name) >=
		    (int)sizeof(sa.sun_path)) {
			close(dfd);
			return;
		}
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    send(fd, msg, len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
		/* a full socket buffer: that listener learns at its next accept */
	}
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
}

/*
 * A listener that was published before we started is still bound to its
 * entry, named for the old generation: clients attached to us do not use it
 * (it would take offers it cannot check). Its process re-publishes it once it
 * notices the new generation; a server asleep in accept would notice only at
 * its next connection, which would then be kernel TCP. So wake it: connect
 * to the entry and send XIO_HS_NUDGE; the listener's accept reads it,
 * re-attaches and re-publishes, and goes back to waiting.
 */
void mgr_rv_nudge(struct mgr *m)
{
	char rv[PATH_MAX], nsdir[PATH_MAX], kdir[PATH_MAX], gen[24];
	struct xio_hs_offer msg;
	struct dirent *e, *k, *f;
	DIR *d, *dn, *dk;
	unsigned count = 0;

	memset(&msg, 0, sizeof(msg));
	xio_msg_init(&msg.hdr, XIO_HS_NUDGE, sizeof(msg));
	msg.generation = m->hdr->generation;
	msg.layout_version = XIO_LAYOUT_VERSION;
	snprintf(gen, sizeof(gen), "%016" PRIx64 "-", m->hdr->generation);
	snprintf(rv, sizeof(rv), "%s/rv", m->dir);
	d = opendir(rv);
	if (!d)
		return;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' ||
		    snprintf(nsdir, sizeof(nsdir), "%s/%s", rv, e->d_name) >= (int)sizeof(nsdir))
			continue;
		dn = opendir(nsdir);
		if (!dn)
			continue;
		while ((k = readdir(dn))) {
			if (k->d_name[0] == '.' || snprintf(kdir, sizeof(kdir), "%s/%s", nsdir,
							    k->d_name) >= (int)sizeof(kdir))
				continue;
			dk = opendir(kdir);
			if (!dk)
				continue;
			while ((f = readdir(dk))) {
				if (!entry_name_ok(f->d_name) ||
				    !strncmp(f->d_name, gen, strlen(gen)) ||
				    (f->d_type != DT_SOCK && f->d_type != DT_UNKNOWN))
					continue;
				nudge_one(kdir, f->d_name, &msg, sizeof(msg));
				count++;
			}
			closedir(dk);
		}
		closedir(dn);
	}
	closedir(d);
	if (count && m->o.verbose)
		fprintf(stderr, "xio-manager: %u listener(s) of an earlier generation nudged\n",
			count);
}
