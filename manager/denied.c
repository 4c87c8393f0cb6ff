/* SPDX-License-Identifier: MIT */
/*
 * <rundir>/<domain>.denied: where a process that may not join the domain
 * (the control socket refused its uid and group) says so, so that xio-stat
 * counts what X-IO declined there too. Such a process has no mapping of the
 * domain's memory to count in itself.
 *
 * An AF_UNIX datagram socket next to the domain's directory (which is closed
 * to others), writable by everyone: anyone may send, and all a message can do
 * is add one to no_domain_access or listener_no_domain_access. The sender's
 * credentials come from the kernel (SO_PASSCRED); a claim from root or from
 * the domain's --group, who could have joined, is dropped. Reading is bounded
 * per event, so a flood costs the manager no more than a full socket buffer.
 *
 * The other message here is XIO_REJOIN: a process the control socket refuses
 * but that is a member already, because it maps the domain memory of this
 * manager or of an earlier one of this domain (a worker that dropped its
 * privileges after its root master attached: nginx's `user nobody`). It
 * sends one end of a SOCK_SEQPACKET pair; if the kernel's /proc/<pid>/maps
 * of the pair's creator (SO_PEERCRED, checked alive through SO_PEERPIDFD
 * after the read) maps a file whose device and inode we recorded for a
 * generation in <dir>/generations, the end is served as a control
 * connection, else it is closed and no_domain_access counted. Nothing the
 * process says decides: only what the kernel shows it holds.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>

#include "manager.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif

#define DENIED_BURST 64

static int denied_fd = -1;
static struct event *denied_ev;
static char denied_path[sizeof(((struct sockaddr_un *)0)->sun_path)];

/*
 * The domain memory and ring file of this generation and of up to
 * GEN_KEEP - 2 files of earlier ones, as device and inode: what a member's
 * /proc/<pid>/maps shows. Kept in <dir>/generations (ours: the directory is
 * closed to others), oldest first.
 */
#define GEN_KEEP 32
static struct gen_id {
	unsigned maj, min;
	unsigned long long ino;
} gens[GEN_KEEP];
static size_t ngens;

static void gen_add(unsigned maj, unsigned min, unsigned long long ino)
{
	for (size_t i = 0; i < ngens; i++)
		if (gens[i].maj == maj && gens[i].min == min && gens[i].ino == ino)
			return;
	if (ngens == GEN_KEEP) {
		memmove(gens, gens + 1, sizeof(gens[0]) * (GEN_KEEP - 1));
		ngens--;
	}
	gens[ngens++] = (struct gen_id){maj, min, ino};
}

static void gen_add_fd(int fd)
{
	struct stat st;
	if (fd >= 0 && fstat(fd, &st) == 0)
		gen_add(major(st.st_dev), minor(st.st_dev), (unsigned long long)st.st_ino);
}

/* Read the earlier generations' files, add ours, write the list back. */
static void gens_record(struct mgr *m)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	struct stat st;
	unsigned maj, min;
	unsigned long long ino;

	ngens = 0;
	if (snprintf(path, sizeof(path), "%s/generations", m->dir) >= (int)sizeof(path) ||
	    snprintf(tmp, sizeof(tmp), "%s/generations.tmp", m->dir) >= (int)sizeof(tmp))
		return;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	FILE *f = fd >= 0 ? fdopen(fd, "r") : NULL;
	/* only a list we wrote: in a --group directory a member could plant one */
	if (f && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
	    !(st.st_mode & 022))
		while (ngens < GEN_KEEP && fscanf(f, "%x:%x %llu\n", &maj, &min, &ino) == 3)
			gen_add(maj, min, ino);
	if (f)
		fclose(f);
	else if (fd >= 0)
		close(fd);
	while (ngens > GEN_KEEP - 2) {
		memmove(gens, gens + 1, sizeof(gens[0]) * (ngens - 1));
		ngens--;
	}
	gen_add_fd(m->mem.fd);
	gen_add_fd(m->rings_fd);
	(void)unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f) {
		if (fd >= 0)
			close(fd);
		mgr_err("cannot write %s: %s (members of earlier generations that may not "
			"connect to control cannot rejoin after a restart)",
			tmp, strerror(errno));
		return;
	}
	for (size_t i = 0; i < ngens; i++)
		fprintf(f, "%x:%x %llu\n", gens[i].maj, gens[i].min, gens[i].ino);
	if (fclose(f) != 0 || rename(tmp, path) < 0) {
		mgr_err("cannot write %s: %s", path, strerror(errno));
		(void)unlink(tmp);
	}
}

/* Does @pid map one of our generations' files? From the kernel's maps. */
static bool maps_member(pid_t pid)
{
	char path[64], *line = NULL;
	size_t cap = 0;
	bool found = false;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	while (!found && getline(&line, &cap, f) > 0) {
		unsigned maj, min;
		unsigned long long ino;
		if (sscanf(line, "%*x-%*x %*s %*x %x:%x %llu", &maj, &min, &ino) != 3 || !ino)
			continue;
		for (size_t i = 0; i < ngens && !found; i++)
			found = gens[i].maj == maj && gens[i].min == min && gens[i].ino == ino;
	}
	free(line);
	fclose(f);
	return found;
}

/*
 * XIO_REJOIN from @sender with @fd, its end of a SOCK_SEQPACKET pair: serve
 * it as a control connection if its creator maps one of our generations.
 * Takes @fd.
 */
static void rejoin(struct mgr *m, const struct ucred *sender, int fd)
{
	struct ucred pc;
	socklen_t len = sizeof(pc);
	int pidfd = -1, type = 0;
	const char *why = NULL;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &pc, &len) < 0 || pc.pid != sender->pid ||
	    (len = sizeof(type), getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len)) < 0 ||
	    type != SOCK_SEQPACKET)
		why = "not its own SOCK_SEQPACKET pair";
	else if ((len = sizeof(pidfd), getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len)) < 0)
		why = "no SO_PEERPIDFD (kernel older than 6.5)";
	else if (!maps_member(pc.pid))
		why = "maps no generation of this domain";
	/* the pid we read maps of was the pair's creator only if it still lives */
	else if (syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) < 0)
		why = "gone";
	if (pidfd >= 0)
		close(pidfd);
	if (why) {
		close(fd);
		atomic_fetch_add_explicit(&m->hdr->stats.fallback[XIO_FB_NO_DOMAIN_ACCESS], 1,
					  memory_order_relaxed);
		mgr_err("refused rejoin of pid %d uid %u: %s", (int)sender->pid,
			(unsigned)sender->uid, why);
		return;
	}
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		close(fd);
		return;
	}
	if (m->o.verbose)
		fprintf(stderr, "xio-manager: pid %d uid %u rejoins: it maps our domain memory\n",
			(int)pc.pid, (unsigned)pc.uid);
	mgr_client_new(m, fd);
}

static void denied_read(evutil_socket_t fd, short what, void *arg)
{
	struct mgr *m = arg;
	(void)what;

	for (int k = 0; k < DENIED_BURST; k++) {
		struct xio_denied msg;
		union {
			struct cmsghdr h;
			char buf[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int))];
		} ctl;
		struct iovec iov = {.iov_base = &msg, .iov_len = sizeof(msg)};
		struct msghdr mh = {.msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = &ctl,
				    .msg_controllen = sizeof(ctl)};
		ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0)
			return; /* EAGAIN: done */
		struct ucred cr;
		bool have_cr = false;
		int rfd = -1, extra = 0;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_level != SOL_SOCKET)
				continue;
			if (c->cmsg_type == SCM_CREDENTIALS &&
			    c->cmsg_len == CMSG_LEN(sizeof(cr))) {
				memcpy(&cr, CMSG_DATA(c), sizeof(cr));
				have_cr = true;
			} else if (c->cmsg_type == SCM_RIGHTS) {
				size_t nf = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
				for (size_t i = 0; i < nf; i++) {
					int x;
					memcpy(&x, CMSG_DATA(c) + i * sizeof(int), sizeof(x));
					if (rfd < 0)
						rfd = x; /* the first; any more make it garbage */
					else {
						close(x);
						extra++;
					}
				}
			}
		}
		bool ok = (size_t)n == sizeof(msg) && !(mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) &&
			  have_cr;
		if (ok && rfd >= 0 && !extra &&
		    xio_msg_check(&msg, (size_t)n, XIO_REJOIN, sizeof(msg)) == 0) {
			rejoin(m, &cr, rfd);
			continue;
		}
		if (rfd >= 0)
			close(rfd);
		if (!ok || rfd >= 0 || extra ||
		    xio_msg_check(&msg, (size_t)n, XIO_DENIED, sizeof(msg)) < 0 ||
		    (msg.reason != XIO_FB_NO_DOMAIN_ACCESS &&
		     msg.reason != XIO_FB_LISTENER_NO_DOMAIN_ACCESS))
			continue;
		if (cr.uid == 0 || cr.uid == geteuid() ||
		    (m->o.gid != (gid_t)-1 && cr.gid == m->o.gid))
			continue; /* could have joined: not what this socket is for */
		atomic_fetch_add_explicit(&m->hdr->stats.fallback[msg.reason], 1,
					  memory_order_relaxed);
		if (m->o.verbose)
			fprintf(stderr, "xio-manager: pid %d uid %u gid %u may not join: %s\n",
				(int)cr.pid, (unsigned)cr.uid, (unsigned)cr.gid,
				xio_fallback_name(msg.reason));
	}
}

int mgr_denied_open(struct mgr *m)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int one = 1, fd, r;

	gens_record(m);
	if (snprintf(denied_path, sizeof(denied_path), "%s.denied", m->dir) >=
	    (int)sizeof(denied_path)) {
		denied_path[0] = 0;
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, denied_path, sizeof(denied_path));
	/* we hold the domain lock: whatever is there is a dead manager's */
	if (unlink(sa.sun_path) < 0 && errno != ENOENT)
		return -errno;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(sa.sun_path, 0622) < 0) {
		r = -errno;
		close(fd);
		unlink(sa.sun_path);
		return r;
	}
	denied_ev = event_new(m->base, fd, EV_READ | EV_PERSIST, denied_read, m);
	if (!denied_ev || event_add(denied_ev, NULL) < 0) {
		close(fd);
		unlink(sa.sun_path);
		return -ENOMEM;
	}
	denied_fd = fd;
	return 0;
}

void mgr_denied_close(void)
{
	if (denied_ev)
		event_free(denied_ev);
	denied_ev = NULL;
	if (denied_fd >= 0) {
		close(denied_fd);
		unlink(denied_path);
	}
	denied_fd = -1;
}
