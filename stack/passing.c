/* SPDX-License-Identifier: MIT */
/*
 * Who receives an SCM_RIGHTS message: would every process that holds the
 * other end of an AF_UNIX socket adopt an X-IO fd sent on it (docs/DESIGN.md,
 * "Demotion")? Found by walking every process's fds, which costs about 6 us
 * per fd on the node; a server that hands each connection to a worker over
 * the same socket (Node.js's cluster, pm2) paid it on every connection: 69 ms
 * each with 11,000 fds on the node, 45 requests/s instead of 3,500.
 *
 * So the answer is kept per socket for a second. A kept "yes" is still
 * checked each time: every holder found still holds the other end (one
 * readlink each). What a second can miss is a new holder (a holder forked,
 * or passed the other end on) that is not preloaded: the walk itself has
 * the same race between its look and the receiver's recvmsg, only shorter.
 * A "no" demotes, which is always safe.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "demote.h"
#include "sys.h"
#include "unix_diag.h"

/* The inode of the socket connected to the AF_UNIX socket with inode @ino, or 0. */
static uint64_t unix_peer_ino(uint64_t ino)
{
	int nl = xio_sys.socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (nl < 0)
		return 0;
	struct xio_unix_diag_req msg =
	    xio_unix_diag_req(~0u, UDIAG_SHOW_PEER, false, (uint32_t)ino, 0);
	uint64_t peer = 0;
	char buf[1024] __attribute__((aligned(NLMSG_ALIGNTO)));
	if (xio_sys.send(nl, &msg, sizeof(msg), 0) == (ssize_t)sizeof(msg)) {
		ssize_t n = xio_sys.recv(nl, buf, sizeof(buf), 0);
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; n > 0 && NLMSG_OK(h, (size_t)n);
		     h = NLMSG_NEXT(h, n)) {
			struct rtattr *a;
			int len;
			if (!xio_unix_diag_msg(h, &a, &len))
				continue;
			for (; RTA_OK(a, len); a = RTA_NEXT(a, len))
				if (a->rta_type == UNIX_DIAG_PEER &&
				    RTA_PAYLOAD(a) >= sizeof(uint32_t))
					peer = *(uint32_t *)RTA_DATA(a);
		}
	}
	xio_sys.close(nl);
	return peer;
}

/* Would process @pid adopt an X-IO fd of ours: preload mapped, same domain, not disabled? */
static bool pid_preloaded(const char *pid)
{
	char path[300], line[512];
	snprintf(path, sizeof(path), "/proc/%s/maps", pid);
	FILE *f = fopen(path, "re");
	bool found = false;
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, "libxio_preload") != NULL;
	fclose(f);
	if (!found)
		return false;
	/* Its environment as it started (what its preload's configuration was read from). */
	snprintf(path, sizeof(path), "/proc/%s/environ", pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	char var[256];
	const char *domain = "xio";
	char dombuf[64];
	bool disabled = false;
	size_t n = 0;
	int ch;
	do {
		ch = fgetc(f);
		if (ch != EOF && ch != 0) {
			if (n < sizeof(var) - 1)
				var[n++] = (char)ch;
			continue;
		}
		var[n] = 0;
		n = 0;
		if (strncmp(var, "XIO_DISABLE=", 12) == 0)
			disabled = var[12] && strcmp(var + 12, "0") != 0;
		else if (strncmp(var, "XIO_DOMAIN=", 11) == 0 && var[11]) {
			size_t k = strnlen(var + 11, sizeof(dombuf) - 1);
			memcpy(dombuf, var + 11, k);
			dombuf[k] = 0;
			domain = dombuf;
		}
	} while (ch != EOF);
	fclose(f);
	return !disabled && strcmp(domain, xio_config()->domain) == 0;
}

#define KEEP_NS	    1000000000 /* how long an answer is kept */
#define MAX_HOLDERS 8	       /* a "yes" with more holders is not kept */
#define NKEPT	    8	       /* sockets whose answers are kept */

struct holder {
	int pid, fd;
};

struct answer {
	uint64_t peer; /* inode of the other end; 0: unused entry */
	int64_t at_ns;
	bool yes;
	int nholders;
	struct holder holders[MAX_HOLDERS];
};

static struct answer kept[NKEPT];
static unsigned next_kept;
static pthread_mutex_t kept_lock = PTHREAD_MUTEX_INITIALIZER;

static void socket_link(char *buf, size_t len, uint64_t ino)
{
	snprintf(buf, len, "socket:[%llu]", (unsigned long long)ino);
}

/* Does process @h still hold the socket @want at the same fd? */
static bool still_holds(const struct holder *h, const char *want)
{
	char path[64], link[64];
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", h->pid, h->fd);
	ssize_t n = readlink(path, link, sizeof(link) - 1);
	if (n <= 0)
		return false;
	link[n] = 0;
	return strcmp(link, want) == 0;
}

/* The kept answer for @peer, if it is recent and its holders still hold it: 1 yes, 0 no, -1 none.
 */
static int kept_answer(uint64_t peer, const char *want)
{
	struct answer a = {0};
	pthread_mutex_lock(&kept_lock);
	for (int i = 0; i < NKEPT; i++)
		if (kept[i].peer == peer && xio_mono_ns() - kept[i].at_ns < KEEP_NS)
			a = kept[i];
	pthread_mutex_unlock(&kept_lock);
	if (!a.peer)
		return -1;
	if (!a.yes)
		return 0;
	for (int i = 0; i < a.nholders; i++)
		if (!still_holds(&a.holders[i], want))
			return -1;
	return 1;
}

static void keep(const struct answer *a)
{
	pthread_mutex_lock(&kept_lock);
	int slot = -1;
	for (int i = 0; i < NKEPT && slot < 0; i++)
		if (kept[i].peer == a->peer)
			slot = i;
	if (slot < 0)
		slot = (int)(next_kept++ % NKEPT);
	kept[slot] = *a;
	pthread_mutex_unlock(&kept_lock);
}

/* Walk every process's fds for the holders of @want: all must be preloaded. */
static bool walk_holders(const char *want, struct answer *a)
{
	DIR *proc = opendir("/proc");
	if (!proc)
		return false;
	struct dirent *pe;
	int holders = 0;
	bool all = true;
	while (all && (pe = readdir(proc))) {
		if (pe->d_name[0] < '0' || pe->d_name[0] > '9')
			continue;
		char fdp[300];
		snprintf(fdp, sizeof(fdp), "/proc/%s/fd", pe->d_name);
		DIR *fds = opendir(fdp);
		if (!fds)
			continue;
		struct dirent *fe;
		int held = -1;
		while (held < 0 && (fe = readdir(fds))) {
			char link[64];
			ssize_t n = readlinkat(dirfd(fds), fe->d_name, link, sizeof(link) - 1);
			if (n > 0) {
				link[n] = 0;
				if (strcmp(link, want) == 0)
					held = atoi(fe->d_name);
			}
		}
		closedir(fds);
		if (held >= 0) {
			if (holders < MAX_HOLDERS)
				a->holders[holders] = (struct holder){atoi(pe->d_name), held};
			holders++;
			all = pid_preloaded(pe->d_name);
		}
	}
	closedir(proc);
	a->nholders = holders;
	return all && holders > 0;
}

bool xio_demote_receiver_preloaded(int u, bool has_name)
{
	struct stat st;
	int dom = 0;
	socklen_t dl = sizeof(dom);
	if (has_name || fstat(u, &st) < 0 || !S_ISSOCK(st.st_mode) ||
	    xio_sys.getsockopt(u, SOL_SOCKET, SO_DOMAIN, &dom, &dl) < 0 || dom != AF_UNIX)
		return false;
	uint64_t peer = unix_peer_ino(st.st_ino);
	if (!peer)
		return false;
	char want[48];
	socket_link(want, sizeof(want), peer);
	int k = kept_answer(peer, want);
	if (k >= 0)
		return k;
	struct answer a = {.peer = peer, .at_ns = xio_mono_ns()};
	a.yes = walk_holders(want, &a);
	xio_log(2, "receivers of %s: %d holder(s), %s", want, a.nholders,
		a.yes ? "all preloaded" : "not all preloaded");
	if (!a.yes || a.nholders <= MAX_HOLDERS)
		keep(&a);
	return a.yes;
}
