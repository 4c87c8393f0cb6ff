/* SPDX-License-Identifier: MIT */
/*
 * Client ports held by the manager, one per slot.
 *
 * An X-IO connection's client end is an AF_UNIX socket: it reserves no TCP
 * port, yet getsockname() shows one, and kernel TCP must never hand that
 * port to another socket of the node while the connection lives. The
 * manager therefore holds, for every slot, a kernel TCP socket bound to the
 * wildcard address (dual-stack [::] when the node has IPv6, else 0.0.0.0)
 * and a port the kernel picked, not listening, without SO_REUSEADDR or
 * SO_REUSEPORT: no bind() of any address to that port succeeds, and
 * connect()'s own port choice skips ports that bind() took. The port is
 * written into the slot (xio_slot.port); a client of the manager's network
 * namespace whose socket is unbound takes the port of the slot it
 * allocated, so a carried connect costs no kernel socket, bind or
 * getsockname, and the connection holds no second fd in the application.
 * A slot's port is as busy as the slot: from allocation until the sweep
 * frees it, which is after both ends closed (a little like TIME_WAIT).
 *
 * Costs (measured; see docs/DESIGN.md, "The fd model"): one fd in the
 * manager and one port of the ephemeral range per slot, for the manager's
 * lifetime (at most half the range: slots beyond keep port 0); 8-22 µs per
 * slot at start (4096 holders: 33-90 ms on a loaded 2-CPU VM). Alternatives weighed: a holder
 * per connection in the application (the old way: a second fd, and bind +
 * getsockname + dup per connect); net.ipv4.ip_local_reserved_ports (needs
 * privilege, is per namespace and global, and does not stop an explicit
 * bind() to the port); a pool of holders in each process (still one fd per
 * port in the application, which is what EMFILE counts).
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "manager.h"

/* A bound, not listening socket of @family on the wildcard address. Returns the fd or -errno. */
static int hold_one(int family, uint16_t *port)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET6) {
		int off = 0;
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		a->sin6_family = AF_INET6; /* in6addr_any, port 0 */
		sl = sizeof(*a);
		if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)) < 0)
			goto fail;
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(INADDR_ANY);
		sl = sizeof(*a);
	}
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0)
		goto fail;
	sl = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
		goto fail;
	*port = ntohs(family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
					 : ((struct sockaddr_in *)&ss)->sin_port);
	return fd;
fail:;
	int e = errno;
	close(fd);
	return -e;
}

/*
 * At most an eighth of the node's ephemeral port range: kernel TCP's own
 * binds and connects pick from it too, and every manager of the node (one
 * per domain) holds its own. Half the range per manager, as first written,
 * left a node with two managers without ephemeral ports (bind() of port 0
 * took ~2 ms, connects failed). A manager with more slots holds ports for
 * the first ones only (--hold-ports, default 1024).
 */
static uint32_t max_ports(void)
{
	unsigned lo = 32768, hi = 60999;
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "re");
	if (f) {
		if (fscanf(f, "%u %u", &lo, &hi) != 2 || hi < lo)
			lo = 32768, hi = 60999;
		fclose(f);
	}
	return (hi - lo + 1) / 8;
}

/* Room for one fd per slot besides what the manager needs otherwise. */
static void raise_nofile(uint32_t nslots)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)nslots + 1024;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
	(void)setrlimit(RLIMIT_NOFILE, &rl);
}

int mgr_ports_init(struct mgr *m)
{
	struct xio_domain_hdr *h = m->hdr;
	uint32_t n = h->nslots, held = 0, cap = max_ports();
	if (cap > m->o.hold_ports)
		cap = m->o.hold_ports;
	int family = AF_INET6;
	uint16_t port;

	if (n > cap)
		n = cap;
	m->port_fds = malloc((n ? n : 1) * sizeof(*m->port_fds));
	if (!m->port_fds)
		return -ENOMEM;
	raise_nofile(n);
	for (uint32_t i = 0; i < n; i++) {
		int fd = hold_one(family, &port);
		if (fd < 0 && i == 0 && family == AF_INET6) {
			family = AF_INET; /* no IPv6 here: IPv4 only, IPv6 clients hold their own */
			fd = hold_one(family, &port);
		}
		m->port_fds[i] = fd;
		if (fd < 0) {
			if (fd != -EMFILE && fd != -ENFILE && fd != -EADDRINUSE)
				mgr_err("cannot hold a client port for slot %u: %s", i,
					strerror(-fd));
			continue;
		}
		xio_slot_at(h, i)->port = port;
		held++;
	}
	m->n_port_fds = n;
	if (held < n) /* fewer than asked: say why it may be */
		mgr_err(
		    "holding client ports for %u of %u slots (--hold-ports, at most an eighth "
		    "of the ephemeral range: %u; fd limit; ports exhausted); connections in the "
		    "others hold a port of their own",
		    held, h->nslots, cap);
	h->ports_netns = m->own_netns;
	h->ports_family =
	    held ? (family == AF_INET6 ? XIO_PORTS_V4 | XIO_PORTS_V6 : XIO_PORTS_V4) : 0;
	return 0;
}

void mgr_ports_close(struct mgr *m)
{
	for (uint32_t i = 0; m->port_fds && i < m->n_port_fds; i++)
		if (m->port_fds[i] >= 0)
			close(m->port_fds[i]);
	free(m->port_fds);
	m->port_fds = NULL;
	m->n_port_fds = 0;
}
