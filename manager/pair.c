/* SPDX-License-Identifier: MIT */
/*
 * Pairing across network namespaces (the client's half is stack/pair.c).
 *
 * A client that made a kernel TCP connection to a pod of this node leaves
 * us its socket (PAIR_OFFER, unanswered: the client does not wait); a
 * server that accepted a connection from the client's port shows us its
 * socket (PAIR_CLAIM), which waits if we read it before the offer. We
 * believe neither: the two sockets are one connection exactly when each
 * one's next send sequence number is the other's next receive sequence
 * number, which we read from the kernel with TCP_REPAIR (that needs
 * CAP_NET_ADMIN in the sockets' namespaces; without it we prove nothing
 * and say so in the header, so clients do not even try). 2 x 32 bits of
 * random initial
 * sequence numbers, and no byte sent yet by either end.
 *
 * So that clients only wait where a carried connection is possible, we
 * keep a directory per address and port an X-IO listener serves in some
 * namespace: <dir>/pods/<key>/<netns>/ (a wildcard listener stands for
 * every address of its namespace).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <inttypes.h>
#include <linux/capability.h>
#include <linux/futex.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "addr.h"
#include "manager.h"

struct mgr_offer {
	struct mgr_client *owner; /* NULL: no offer for this slot */
	uint32_t token;
	int tcp;       /* the client's TCP socket */
	int peer;      /* the AF_UNIX end that goes to the server */
	ino_t tcp_ino; /* of tcp and peer, read when offered: off the claim's path */
	ino_t peer_ino;
	/*
	 * The client socket's next send and receive sequence numbers, read when
	 * offered if it was ESTABLISHED by then (the offer follows the SYN, and
	 * between pods the handshake is usually over inside connect()): the
	 * claim, which the server waits for, then reads only its own socket.
	 * Reading them early proves no less: a byte either end sent since makes
	 * the server's numbers differ from these, and the claim is refused.
	 */
	bool seqs_known;
	uint32_t snd, rcv;
	/*
	 * A claim that came before its offer. The client sends its offer
	 * without waiting for a reply, right after its SYN, on its offer
	 * channel (or before its SYN on its control connection), and the
	 * manager reads the client's and the server's sockets in whatever
	 * order epoll gives them; the claim waits here for the offer (or for
	 * the client's abandon or its end, or the sweep timer's look at a slot
	 * no longer PAIRING) and is answered then.
	 */
	struct mgr_client *claimer; /* NULL: no claim waits */
	uint32_t claim_token;
	int claim_tcp; /* the socket the claimer accepted */
	/* an offer was refused with this token: its claim need not wait */
	bool refused;
	uint32_t refused_token;
};

static bool have_net_admin(void)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[2];
	if (syscall(SYS_capget, &h, d) < 0)
		return false;
	return d[CAP_NET_ADMIN / 32].effective & (1u << (CAP_NET_ADMIN % 32));
}

int mgr_pair_init(struct mgr *m)
{
	m->offers = calloc(m->o.nslots, sizeof(*m->offers));
	if (!m->offers)
		return -ENOMEM;
	m->hdr->pair_ok = have_net_admin();
	m->hdr->nsvc = m->o.nsvc;
	memcpy(m->hdr->svc, m->o.svc, sizeof(m->hdr->svc));
	/* tells a client without attaching whether Service addresses are worth a look */
	char path[PATH_MAX];
	if (snprintf(path, sizeof(path), "%s/services", m->dir) < (int)sizeof(path)) {
		if (m->o.nsvc) {
			int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
			if (fd >= 0)
				close(fd);
		} else {
			unlink(path);
		}
	}
	if (!m->hdr->pair_ok && m->o.verbose)
		mgr_err("no CAP_NET_ADMIN: connections between network namespaces use TCP");
	return 0;
}

static void offer_drop(struct mgr *m, uint32_t slot)
{
	struct mgr_offer *o = &m->offers[slot];
	if (!o->owner)
		return;
	close(o->tcp);
	close(o->peer);
	o->owner = NULL;
}

/* Clear the pairing[] entries of @slot (whatever their XIO_PAIR_CLAIMING bit). */
static void announcements_drop(struct mgr *m, uint32_t slot)
{
	for (int k = 0; k < XIO_PAIR_ENTRIES; k++) {
		uint64_t w = atomic_load(&m->hdr->pairing[k]);
		if (w && XIO_PAIR_SLOT(w) == slot)
			atomic_compare_exchange_strong(&m->hdr->pairing[k], &w, 0);
	}
}

/* Answer the claim parked on @slot, if any, with @status (and @fd). */
static void claim_answer(struct mgr *m, uint32_t slot, int status, int fd)
{
	struct mgr_offer *o = &m->offers[slot];
	struct xio_msg_hdr h;
	if (!o->claimer)
		return;
	/* a failed send marks the claimer dead; its read event then frees it */
	mgr_reply(o->claimer, &h, sizeof(h), status, &fd, fd >= 0 ? 1 : 0);
	close(o->claim_tcp);
	o->claimer = NULL;
}

/*
 * Claims whose offer can no longer come: the client took its slot back
 * (PAIRING -> FREE) before it sends its abandon or ends, so a claim parked
 * on a slot that is no longer PAIRING with its token is refused. Run when a
 * client ends (its offer may never have been sent) and on abandons.
 */
static void claims_expire(struct mgr *m)
{
	for (uint32_t i = 0; i < m->o.nslots; i++) {
		struct mgr_offer *o = &m->offers[i];
		if (!o->claimer)
			continue;
		uint64_t w =
		    atomic_load_explicit(&xio_slot_at(m->hdr, i)->state, memory_order_acquire);
		if (w != XIO_SLOT_WORD(o->claim_token, XIO_SLOT_PAIRING))
			claim_answer(m, i, -ENOENT, -1);
	}
}

unsigned mgr_pair_expire(struct mgr *m)
{
	unsigned parked = 0;
	if (!m->offers)
		return 0;
	claims_expire(m);
	for (uint32_t i = 0; i < m->o.nslots; i++)
		parked += m->offers[i].claimer != NULL;
	return parked;
}

void mgr_pair_close(struct mgr *m)
{
	if (!m->offers)
		return;
	for (uint32_t i = 0; i < m->o.nslots; i++) {
		offer_drop(m, i);
		if (m->offers[i].claimer) {
			close(m->offers[i].claim_tcp);
			m->offers[i].claimer = NULL;
		}
	}
	free(m->offers);
	m->offers = NULL;
}

void mgr_pair_client_gone(struct mgr *m, struct mgr_client *c)
{
	if (!m->offers)
		return;
	for (uint32_t i = 0; i < m->o.nslots; i++) {
		if (m->offers[i].claimer == c) { /* nobody to answer */
			close(m->offers[i].claim_tcp);
			m->offers[i].claimer = NULL;
		}
		if (m->offers[i].owner == c) {
			claim_answer(m, i, -ENOENT,
				     -1); /* cannot wait: claims are answered at once */
			offer_drop(m, i);
			/* its announcement too, so servers do not ask about it again */
			announcements_drop(m, i);
		}
	}
	claims_expire(m);
}

/* Is @fd a socket of @family (0: AF_INET or AF_INET6), @type and @proto (0: any)? */
static bool sock_is(int fd, int family, int type, int proto)
{
	int d, t, p;
	return mgr_sockopt_int(fd, SOL_SOCKET, SO_DOMAIN, &d) == 0 &&
	       (family ? d == family : d == AF_INET || d == AF_INET6) &&
	       mgr_sockopt_int(fd, SOL_SOCKET, SO_TYPE, &t) == 0 && t == type &&
	       (!proto || (mgr_sockopt_int(fd, SOL_SOCKET, SO_PROTOCOL, &p) == 0 && p == proto));
}

static int pair_prove(struct mgr *m, struct mgr_client *c, uint32_t slot, uint32_t token, int tcp,
		      int *reply_fd);
static int tcp_seqs(int fd, uint32_t *snd, uint32_t *rcv);
static int tcp_state(int fd);

/* The slot named by a pairing request, still PAIRING with its token, or NULL. */
static struct xio_slot *pairing_slot(struct mgr *m, const struct xio_ctl_pair *req)
{
	if (req->slot >= m->hdr->nslots)
		return NULL;
	struct xio_slot *s = xio_slot_at(m->hdr, req->slot);
	uint64_t w = atomic_load_explicit(&s->state, memory_order_acquire);
	return w == XIO_SLOT_WORD(req->token, XIO_SLOT_PAIRING) ? s : NULL;
}

/*
 * PAIR_OFFER (no reply: the client does not wait for it, docs/DESIGN.md).
 * Returns 0 or -errno, for the log only; a claim already parked on the slot
 * is decided now.
 */
int mgr_pair_offer(struct mgr *m, struct mgr_client *c, const struct xio_ctl_pair *req, int *fds,
		   int nfds)
{
	struct stat a, b;
	int r = 0, state = -1;

	/*
	 * TCP_INFO at IPPROTO_TCP answers for a TCP socket only (UDP, SCTP, raw
	 * and AF_UNIX sockets refuse the level): it is the type check and the
	 * state in one call (3 fewer than SO_DOMAIN, SO_TYPE, SO_PROTOCOL).
	 */
	if (!m->offers || !m->hdr->pair_ok)
		r = -EOPNOTSUPP;
	else if (nfds != 2 || (state = tcp_state(fds[0])) < 0 ||
		 !sock_is(fds[1], AF_UNIX, SOCK_STREAM, 0) || fstat(fds[0], &a) < 0 ||
		 fstat(fds[1], &b) < 0)
		r = -EINVAL;
	else if (!pairing_slot(m, req))
		r = -ESTALE;
	if (r < 0) {
		if (m->offers && req->slot < m->o.nslots) {
			m->offers[req->slot].refused = true;
			m->offers[req->slot].refused_token = req->token;
			if (m->offers[req->slot].claim_token == req->token)
				claim_answer(m, req->slot, r, -1);
		}
		return r;
	}
	offer_drop(m, req->slot);
	struct mgr_offer *o = &m->offers[req->slot];
	o->owner = c;
	o->token = req->token;
	o->tcp = fds[0];
	o->peer = fds[1];
	o->tcp_ino = a.st_ino;
	o->peer_ino = b.st_ino;
	fds[0] = fds[1] = -1; /* ours now */
	o->seqs_known = state == TCP_ESTABLISHED && tcp_seqs(o->tcp, &o->snd, &o->rcv) == 0;
	if (o->claimer) {
		int out = -1;
		int st = o->claim_token == req->token
			     ? pair_prove(m, o->claimer, req->slot, req->token, o->claim_tcp, &out)
			     : -ENOENT;
		claim_answer(m, req->slot, st, out);
		if (out >= 0)
			close(out);
		if (st == 0)
			mgr_pair_wake(m, req->slot);
	}
	return 0;
}

/*
 * Wake the client of a slot just proved, once the server has its answer: the
 * client usually spins on the state word and sees ESTABLISHED at once, and a
 * client that sleeps on its CPU costs the futex wake the time to wake that
 * CPU (15-25 us on this VM), which the server need not wait for.
 */
void mgr_pair_wake(struct mgr *m, uint32_t slot)
{
	/* the client sleeps on the low half of the state word (stack/pair.c) */
	syscall(SYS_futex, (uint32_t *)&xio_slot_at(m->hdr, slot)->state, FUTEX_WAKE, 1, NULL, NULL,
		0);
}

int mgr_pair_abandon(struct mgr *m, struct mgr_client *c, const struct xio_ctl_pair *req)
{
	if (!m->offers || req->slot >= m->o.nslots)
		return -ENOENT;
	claims_expire(m); /* the slot is no longer PAIRING: a claim parked on it is refused */
	if (m->offers[req->slot].owner != c || m->offers[req->slot].token != req->token)
		return -ENOENT;
	offer_drop(m, req->slot);
	return 0;
}

/* Next send and next receive sequence number of a TCP socket (needs CAP_NET_ADMIN). */
static int tcp_seqs(int fd, uint32_t *snd, uint32_t *rcv)
{
	int on = TCP_REPAIR_ON, off = TCP_REPAIR_OFF_NO_WP, q, r = 0, reuse = 0;
	socklen_t l = sizeof(reuse);

	/* Leaving repair mode clears SO_REUSEADDR (the kernel's sk_reuse): put it back after. */
	if (getsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &reuse, &l) < 0)
		return -errno;
	l = sizeof(*snd);
	if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &on, sizeof(on)) < 0)
		return -errno;
	q = TCP_SEND_QUEUE;
	if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, &q, sizeof(q)) < 0 ||
	    getsockopt(fd, IPPROTO_TCP, TCP_QUEUE_SEQ, snd, &l) < 0)
		r = -errno;
	q = TCP_RECV_QUEUE;
	l = sizeof(*rcv);
	if (r == 0 && (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, &q, sizeof(q)) < 0 ||
		       getsockopt(fd, IPPROTO_TCP, TCP_QUEUE_SEQ, rcv, &l) < 0))
		r = -errno;
	/*
	 * No TCP_NO_QUEUE before leaving: the queue selected only matters in
	 * repair mode (sends and receives), and every use here selects its own.
	 */
	/* out of repair mode without a window probe: the connection goes on as it was */
	if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &off, sizeof(off)) < 0 && r == 0)
		r = -errno;
	/*
	 * else a server restarted in its pod could not bind beside our TIME-WAIT
	 * socket; off already (a client's socket, usually): nothing to put back
	 */
	if (reuse && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &reuse, sizeof(reuse)) < 0 && r == 0)
		r = -errno;
	return r;
}

static int tcp_state(int fd)
{
	struct tcp_info ti;
	socklen_t l = sizeof(ti);
	return getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &l) < 0 ? -1 : ti.tcpi_state;
}

/*
 * Prove that @tcp, a socket @c accepted, is the other end of the socket
 * offered for @slot; then the slot is ESTABLISHED and the server's AF_UNIX
 * end goes to *@reply_fd. 0 or -errno.
 */
static int pair_prove(struct mgr *m, struct mgr_client *c, uint32_t slot, uint32_t token, int tcp,
		      int *reply_fd)
{
	uint32_t cs, cr, ss, sr;
	struct stat a;
	struct mgr_offer *o = &m->offers[slot];
	struct xio_ctl_pair req = {.slot = slot, .token = token};
	struct xio_slot *s = pairing_slot(m, &req);

	if (!s || !o->owner || o->token != token)
		return -ENOENT;
	if (fstat(tcp, &a) < 0 || a.st_ino == o->tcp_ino)
		return -EINVAL; /* the client's own socket proves nothing */
	if (tcp_state(tcp) != TCP_ESTABLISHED || tcp_state(o->tcp) != TCP_ESTABLISHED)
		return -ENOTCONN;
	int r = 0;
	if (o->seqs_known) {
		cs = o->snd;
		cr = o->rcv;
	} else {
		r = tcp_seqs(o->tcp, &cs, &cr);
	}
	if (r == 0)
		r = tcp_seqs(tcp, &ss, &sr);
	if (r < 0)
		return r;
	if (cs != sr || cr != ss) {
		if (m->o.verbose)
			mgr_err("pairing of slot %u refused: sequence numbers do not match", slot);
		return -EPERM;
	}
	s->server_pid = (int32_t)c->pid;
	uint64_t w = XIO_SLOT_WORD(token, XIO_SLOT_PAIRING);
	/* The sweep treats ESTABLISHED with server_ino 0 as "being claimed". */
	if (!atomic_compare_exchange_strong(&s->state, &w,
					    XIO_SLOT_WORD(token, XIO_SLOT_ESTABLISHED)))
		return -ECONNABORTED; /* the client stopped waiting a moment ago */
	atomic_store_explicit(&s->server_ino, o->peer_ino, memory_order_release);
	/* the client is woken after the server's answer is sent (mgr_pair_wake) */
	*reply_fd = o->peer;
	o->peer = -1;
	close(o->tcp);
	o->owner = NULL;
	/*
	 * The client takes its entry out itself; this is for a client of an
	 * older library, whose exact-word CAS misses an entry a server marked
	 * XIO_PAIR_CLAIMING: else such entries would fill the table.
	 */
	announcements_drop(m, slot);
	return 0;
}

/*
 * PAIR_CLAIM: @fds[0] is a socket the requester accepted from a client
 * announced on this slot. Decided now if the offer is here; else parked
 * until it comes (MGR_PAIR_PARKED: no reply yet).
 */
int mgr_pair_claim(struct mgr *m, struct mgr_client *c, const struct xio_ctl_pair *req, int *fds,
		   int nfds, int *reply_fd)
{
	if (!m->offers)
		return -EOPNOTSUPP;
	if (nfds != 1 || req->slot >= m->o.nslots)
		return -EINVAL;
	struct mgr_offer *o = &m->offers[req->slot];
	if (!pairing_slot(m, req))
		return -ENOENT;
	if (o->owner)
		return pair_prove(m, c, req->slot, req->token, fds[0], reply_fd);
	if (o->claimer || (o->refused && o->refused_token == req->token))
		return -EBUSY; /* one claim per slot waits */
	o->claimer = c;
	o->claim_token = req->token;
	o->claim_tcp = fds[0];
	fds[0] = -1; /* ours now */
	return MGR_PAIR_PARKED;
}

/* ---- where clients may wait for a pairing ------------------------------------ */

/* Make <dir>/pods/<key of @ep>/<ns>/. */
static void hint_one(struct mgr *m, const struct xio_endpoint *ep, uint64_t ns)
{
	char key[XIO_KEY_MAX], path[PATH_MAX];
	if (xio_ep_is_loopback(ep) || xio_listener_key(ep, key, sizeof(key)) < 0)
		return;
	if (snprintf(path, sizeof(path), "%s/pods/%s/%" PRIu64, m->dir, key, ns) <
	    (int)sizeof(path))
		mgr_mkdir_p(path, m->dir_mode, m->o.gid);
}

static int addrs_of_here(void *arg)
{
	return getifaddrs(arg) < 0 ? -errno : 0;
}

/* Addresses of network namespace @ns (ours or one we hold), for a wildcard listener. */
static void hint_wildcard(struct mgr *m, uint64_t ns, uint16_t port, bool v4, bool v6)
{
	struct ifaddrs *ifa = NULL;
	ssize_t idx = ns == m->own_netns ? -1 : mgr_netns_find(m, ns);

	if (ns != m->own_netns && idx < 0)
		return;
	/* getifaddrs' netlink socket is made in the namespace we are in */
	if (mgr_netns_run(m, idx, addrs_of_here, &ifa) < 0)
		return;
	for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
		struct xio_endpoint ep;
		if (!i->ifa_addr || (i->ifa_addr->sa_family == AF_INET && !v4) ||
		    (i->ifa_addr->sa_family == AF_INET6 && !v6) ||
		    (i->ifa_addr->sa_family != AF_INET && i->ifa_addr->sa_family != AF_INET6))
			continue;
		socklen_t l = i->ifa_addr->sa_family == AF_INET ? sizeof(struct sockaddr_in)
								: sizeof(struct sockaddr_in6);
		if (xio_ep_from_sockaddr(&ep, i->ifa_addr, l) < 0)
			continue;
		ep.port = port;
		hint_one(m, &ep, ns);
	}
	freeifaddrs(ifa);
}

void mgr_pair_hint(struct mgr *m, const struct xio_endpoint *ep, bool dual, uint64_t ns)
{
	if (!m->hdr->pair_ok)
		return;
	if (!xio_ep_is_any(ep)) {
		hint_one(m, ep, ns);
		return;
	}
	bool v4 = xio_ep_is_v4(ep) || dual;
	hint_wildcard(m, ns, ep->port, v4, !xio_ep_is_v4(ep));
}

/* Does rv/<ns>/ still hold a listener for the port of @key (that address, or a wildcard)? */
static bool served(struct mgr *m, const char *ns, const char *key)
{
	const char *port = strrchr(key, '_');
	char path[PATH_MAX];
	struct stat st;
	if (!port)
		return false;
	const char *keys[3] = {key, "4_0.0.0.0", "6_::"};
	for (int k = 0; k < 3; k++) {
		int n = k ? snprintf(path, sizeof(path), "%s/rv/%s/%s%s", m->dir, ns, keys[k], port)
			  : snprintf(path, sizeof(path), "%s/rv/%s/%s", m->dir, ns, key);
		if (n < (int)sizeof(path) && stat(path, &st) == 0)
			return true;
	}
	return false;
}

void mgr_pair_hints_prune(struct mgr *m)
{
	char pods[PATH_MAX], kdir[PATH_MAX], nsdir[PATH_MAX];
	struct dirent *k, *n;

	if (snprintf(pods, sizeof(pods), "%s/pods", m->dir) >= (int)sizeof(pods))
		return;
	DIR *pd = opendir(pods);
	if (!pd)
		return;
	while ((k = readdir(pd))) {
		if (k->d_name[0] == '.' ||
		    snprintf(kdir, sizeof(kdir), "%s/%s", pods, k->d_name) >= (int)sizeof(kdir))
			continue;
		DIR *kd = opendir(kdir);
		if (!kd)
			continue;
		while ((n = readdir(kd))) {
			if (n->d_name[0] == '.' || served(m, n->d_name, k->d_name))
				continue;
			if (snprintf(nsdir, sizeof(nsdir), "%s/%s", kdir, n->d_name) <
			    (int)sizeof(nsdir))
				rmdir(nsdir);
		}
		closedir(kd);
		rmdir(kdir); /* fails while another namespace serves it */
	}
	closedir(pd);
}
