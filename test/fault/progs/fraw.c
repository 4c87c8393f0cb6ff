/* SPDX-License-Identifier: MIT */
/*
 * fraw: speaks the control protocol and the handshake by hand, to try what
 * an honest shim never does (stack/proto.h has the messages).
 *
 *   fraw publish CTL KIND       PUBLISH with a TCP fd that is not a listener
 *        KIND: bound (bound, not listening), connected (a connected TCP
 *        socket), udp, unix (an AF_UNIX listener), swapped (the two fds in
 *        the wrong order), listening (a real listener: the control case)
 *   fraw hello CTL VERSION      HELLO carrying protocol VERSION
 *   fraw rejoin DENIED          XIO_REJOIN on <domain>.denied with one end of
 *        a SOCK_SEQPACKET pair, then HELLO on the other: exit 0 with the
 *        reply when the manager took it, 3 when it closed the pair (refused)
 *   fraw offer RV LAYOUT GEN    an offer with layout version LAYOUT and
 *        generation GEN (hex) sent to rendezvous socket RV: "eof" when the
 *        server drops it, "kept-open" when it keeps the stream 2 s
 *   fraw garbage CTL N SEED     N malformed requests, then STATS must answer
 *   fraw dump CTL SLOT          attach like a shim and print the slot's shared
 *        words (state, ring indices, wake-up words) — for diagnosing stalls
 *   fraw pairorder CTL          pairing claims that reach the manager before
 *        their offers (clients send PAIR_OFFER without waiting): each waits
 *        for its offer, then the sequence numbers decide — a true pair is
 *        proved, another connection's socket refused, and a claim whose
 *        client gave up is answered when the client abandons; the same on
 *        an offer channel (PAIR_CHANNEL), which is never answered
 *
 * Prints one line "fraw: ..." with status=<errno name> (0 for success) and
 * exits 0 when the exchange took place, 3 when the socket could not even be
 * reached (connect error), 1 on other errors.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/un.h>

#include <sys/mman.h>
#include <sys/stat.h>

#include <rte_ring.h>

#include "pattern.h"
#include "proto.h"
#include "slot.h"
#include "sys.h"

static const char *errname(int e)
{
	static char buf[32];
	switch (e) {
	case 0:
		return "0";
	case EPERM:
		return "EPERM";
	case EINVAL:
		return "EINVAL";
	case EPROTO:
		return "EPROTO";
	case EPROTONOSUPPORT:
		return "EPROTONOSUPPORT";
	case ESTALE:
		return "ESTALE";
	case ENOENT:
		return "ENOENT";
	case ERANGE:
		return "ERANGE";
	case EACCES:
		return "EACCES";
	default:
		snprintf(buf, sizeof(buf), "E%d", e);
		return buf;
	}
}

static int unix_connect(const char *path, int type)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

static int ctl_open(const char *ctl)
{
	int fd = unix_connect(ctl, SOCK_SEQPACKET);
	if (fd < 0) {
		printf("fraw: connect %s: %s\n", ctl, strerror(-fd));
		exit(3);
	}
	struct timeval tv = {.tv_sec = 3};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* Send a request, wait for the reply header; returns reply bytes or -errno. */
static ssize_t call(int fd, const void *req, size_t len, const int *fds, int nfds, void *rep,
		    size_t replen, int *rfd)
{
	ssize_t n = xio_send_with_fds(fd, req, len, fds, nfds);
	if (n < 0)
		return n;
	int got = 0, f = -1;
	n = xio_recv_with_fds(fd, rep, replen, &f, &got, 1);
	if (rfd)
		*rfd = got ? f : -1;
	else if (got)
		close(f);
	return n;
}

static int tcp_socket_bound(int type)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, type, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		perror("fraw: socket/bind");
		exit(1);
	}
	return fd;
}

static int cmd_publish(const char *ctl, const char *kind)
{
	int tcp = -1, ux = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool swapped = false;

	if (!strcmp(kind, "bound")) {
		tcp = tcp_socket_bound(SOCK_STREAM);
	} else if (!strcmp(kind, "listening") || !strcmp(kind, "swapped")) {
		tcp = tcp_socket_bound(SOCK_STREAM);
		listen(tcp, 4);
		swapped = !strcmp(kind, "swapped");
	} else if (!strcmp(kind, "connected")) {
		int l = tcp_socket_bound(SOCK_STREAM);
		struct sockaddr_in a;
		socklen_t al = sizeof(a);
		listen(l, 4);
		getsockname(l, (struct sockaddr *)&a, &al);
		tcp = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(tcp, (struct sockaddr *)&a, al) < 0) {
			perror("fraw: connect");
			return 1;
		}
	} else if (!strcmp(kind, "udp")) {
		tcp = tcp_socket_bound(SOCK_DGRAM);
	} else if (!strcmp(kind, "unix")) {
		tcp = socket(AF_UNIX, SOCK_STREAM, 0);
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1, "fraw-%d", (int)getpid());
		if (bind(tcp, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(tcp, 4) < 0) {
			perror("fraw: unix listener");
			return 1;
		}
	} else {
		fprintf(stderr, "fraw: unknown kind %s\n", kind);
		return 1;
	}
	int fd = ctl_open(ctl);
	struct xio_ctl_publish req = {.pid = getpid()};
	struct xio_ctl_publish_reply rep;
	xio_msg_init(&req.hdr, XIO_CTL_PUBLISH, sizeof(req));
	int fds[2] = {ux, tcp};
	if (swapped)
		fds[0] = tcp, fds[1] = ux;
	memset(&rep, 0, sizeof(rep));
	ssize_t n = call(fd, &req, sizeof(req), fds, 2, &rep, sizeof(rep), NULL);
	if (n < 0) {
		printf("fraw publish %s: no reply: %s\n", kind, strerror((int)-n));
		return 1;
	}
	if (n < (ssize_t)sizeof(struct xio_msg_hdr)) {
		printf("fraw publish %s: short reply (%zd bytes)\n", kind, n);
		return 1;
	}
	rep.path[sizeof(rep.path) - 1] = 0;
	printf("fraw publish %s: status=%s path=%s\n", kind, errname(-rep.hdr.status),
	       rep.hdr.status == 0 ? rep.path : "-");
	return 0;
}

static int cmd_hello(const char *ctl, int version)
{
	int fd = ctl_open(ctl);
	struct xio_msg_hdr req;
	struct xio_ctl_hello_reply rep;
	int rfd = -1;
	xio_msg_init(&req, XIO_CTL_HELLO, sizeof(req));
	req.version = (uint16_t)version;
	memset(&rep, 0, sizeof(rep));
	ssize_t n = call(fd, &req, sizeof(req), NULL, 0, &rep, sizeof(rep), &rfd);
	if (n < 0) {
		printf("fraw hello v%d: no reply: %s\n", version, strerror((int)-n));
		return 1;
	}
	if (n == 0) {
		printf("fraw hello v%d: status=closed fd=%s\n", version, rfd >= 0 ? "yes" : "no");
		return 0;
	}
	printf("fraw hello v%d: status=%s fd=%s layout=%u\n", version, errname(-rep.hdr.status),
	       rfd >= 0 ? "yes" : "no", n >= (ssize_t)sizeof(rep) ? rep.layout_version : 0);
	return 0;
}

static int cmd_rejoin(const char *denied)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct xio_denied msg = {.reason = 0};
	struct xio_msg_hdr req;
	struct xio_ctl_hello_reply rep;
	int sv[2], rfd = -1;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", denied);
	int d = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (d < 0 || socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0 ||
	    connect(d, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		printf("fraw rejoin: cannot reach %s: %s\n", denied, strerror(errno));
		return 1;
	}
	xio_msg_init(&msg.hdr, XIO_REJOIN, sizeof(msg));
	if (xio_send_with_fds(d, &msg, sizeof(msg), &sv[1], 1) != (ssize_t)sizeof(msg)) {
		printf("fraw rejoin: send: %s\n", strerror(errno));
		return 1;
	}
	close(sv[1]);
	xio_msg_init(&req, XIO_CTL_HELLO, sizeof(req));
	memset(&rep, 0, sizeof(rep));
	ssize_t n = call(sv[0], &req, sizeof(req), NULL, 0, &rep, sizeof(rep), &rfd);
	if (n <= 0) {
		printf("fraw rejoin: status=closed (%s)\n", n < 0 ? strerror((int)-n) : "EOF");
		return 3;
	}
	printf("fraw rejoin: status=%s fd=%s\n", errname(-rep.hdr.status), rfd >= 0 ? "yes" : "no");
	return 0;
}

static int cmd_offer(const char *rv, unsigned layout, uint64_t gen)
{
	int fd = unix_connect(rv, SOCK_STREAM);
	if (fd < 0) {
		printf("fraw offer: connect %s: %s\n", rv, strerror(-fd));
		return 3;
	}
	struct xio_hs_offer off;
	memset(&off, 0, sizeof(off));
	xio_msg_init(&off.hdr, XIO_HS_OFFER, sizeof(off));
	off.generation = gen;
	off.slot = 0;
	off.token = 0x12345678;
	off.layout_version = layout;
	off.pid = getpid();
	if (send(fd, &off, sizeof(off), MSG_NOSIGNAL) != (ssize_t)sizeof(off)) {
		printf("fraw offer: send: %s\n", strerror(errno));
		return 1;
	}
	/* No answer message: the server claims the slot or closes the stream. */
	struct pollfd p = {.fd = fd, .events = POLLIN};
	if (poll(&p, 1, 2000) == 0) {
		printf("fraw offer layout=%u: status=kept-open\n", layout);
		return 0;
	}
	char b;
	ssize_t n = recv(fd, &b, 1, MSG_DONTWAIT);
	printf("fraw offer layout=%u: status=%s\n", layout,
	       n == 0  ? "eof"
	       : n < 0 ? strerror(errno)
		       : "bytes");
	return 0;
}

static int cmd_garbage(const char *ctl, long count, uint64_t seed)
{
	uint64_t rs = seed;
	uint8_t buf[400];
	long sent = 0, replies = 0, reconnects = 0;
	int fd = ctl_open(ctl);
	int pipefd[2];
	if (pipe(pipefd) < 0)
		return 1;

	for (long i = 0; i < count; i++) {
		size_t n = (size_t)(fp_rand(&rs) % sizeof(buf));
		for (size_t k = 0; k < n; k++)
			buf[k] = (uint8_t)fp_rand(&rs);
		if (n >= sizeof(struct xio_msg_hdr) && fp_rand(&rs) % 4) {
			/* mostly well-formed headers with one field wrong: reaches the dispatch */
			struct xio_msg_hdr h;
			xio_msg_init(&h, (uint16_t)(fp_rand(&rs) % 10), (uint32_t)n);
			switch (fp_rand(&rs) % 5) {
			case 0:
				h.len = (uint32_t)fp_rand(&rs);
				break;
			case 1:
				h.version = (uint16_t)fp_rand(&rs);
				break;
			case 2:
				h.type = (uint16_t)fp_rand(&rs);
				break;
			default:
				break;
			}
			if (h.type == XIO_CTL_HELLO)
				h.type = XIO_CTL_STATS; /* each HELLO would map memory: no need */
			memcpy(buf, &h, sizeof(h));
		}
		int fds[3] = {pipefd[0], pipefd[1], fd};
		int nfds = (int)(fp_rand(&rs) % 4);
		ssize_t r = xio_send_with_fds(fd, buf, n, fds, nfds);
		if (r < 0) {
			close(fd);
			fd = ctl_open(ctl);
			reconnects++;
			continue;
		}
		sent++;
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 200) > 0) {
			int got = 0, rf = -1;
			uint8_t rep[70000];
			r = xio_recv_with_fds(fd, rep, sizeof(rep), &rf, &got, 1);
			if (got)
				close(rf);
			if (r <= 0) {
				close(fd);
				fd = ctl_open(ctl);
				reconnects++;
			} else {
				replies++;
				/* CONNS may send more than one message */
				while (poll(&p, 1, 0) > 0 &&
				       xio_recv_with_fds(fd, rep, sizeof(rep), NULL, NULL, 0) > 0)
					;
			}
		}
	}
	close(fd);
	/* the manager must still be there and answer */
	fd = ctl_open(ctl);
	struct xio_msg_hdr req;
	struct xio_ctl_stats st;
	xio_msg_init(&req, XIO_CTL_STATS, sizeof(req));
	ssize_t n = call(fd, &req, sizeof(req), NULL, 0, &st, sizeof(st), NULL);
	bool ok = n == (ssize_t)sizeof(st) &&
		  xio_msg_check(&st, (size_t)n, XIO_CTL_REPLY, sizeof(st)) == 0;
	printf("fraw garbage: sent=%ld replies=%ld reconnects=%ld stats=%s\n", sent, replies,
	       reconnects, ok ? "ok" : "FAILED");
	return ok ? 0 : 1;
}

static int cmd_dump(const char *ctl, uint32_t slot)
{
	int fd = ctl_open(ctl);
	struct xio_msg_hdr req;
	struct xio_ctl_hello_reply rep;
	int memfd = -1;
	xio_msg_init(&req, XIO_CTL_HELLO, sizeof(req));
	ssize_t n = call(fd, &req, sizeof(req), NULL, 0, &rep, sizeof(rep), &memfd);
	if (n != (ssize_t)sizeof(rep) || memfd < 0) {
		printf("fraw dump: attach failed\n");
		return 1;
	}
	char *map = mmap(NULL, rep.map_len, PROT_READ, MAP_SHARED, memfd, (off_t)rep.map_offset);
	if (map == MAP_FAILED) {
		printf("fraw dump: mmap: %s\n", strerror(errno));
		return 1;
	}
	struct xio_domain_hdr *h = (struct xio_domain_hdr *)(map + rep.hdr_delta);
	if (slot >= h->nslots)
		return 1;
	struct xio_slot *s = xio_slot_at(h, slot);
	uint64_t w = atomic_load(&s->state);
	printf("slot %u state %u token %08x client_ino %llu server_ino %llu\n", slot,
	       XIO_SLOT_STATE(w), XIO_SLOT_TOKEN(w), (unsigned long long)s->client_ino,
	       (unsigned long long)s->server_ino);
	for (int d = 0; d < 2; d++) {
		struct xio_dir *x = &s->dir[d];
		struct rte_ring *r = (struct rte_ring *)((char *)s + s->ring_off[d]);
		printf(
		    "%s: prod %u/%u cons %u/%u count %u rd_off %u bytes %llu readers_sleeping %u "
		    "data_bell_pending %u writers_waiting %u space_bell_pending %u\n",
		    d ? "S2C" : "C2S", r->prod.head, r->prod.tail, r->cons.head, r->cons.tail,
		    rte_ring_count(r), x->rd_off, (unsigned long long)x->bytes,
		    atomic_load(&x->readers_sleeping), atomic_load(&x->data_bell_pending),
		    atomic_load(&x->writers_waiting), atomic_load(&x->space_bell_pending));
	}
	return 0;
}

/* A connected TCP pair over loopback: *c the client's end, *s the accepted one. */
static void tcp_pair(int *c, int *s)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t l = sizeof(a);
	int lfd = tcp_socket_bound(SOCK_STREAM);
	if (listen(lfd, 4) < 0 || getsockname(lfd, (struct sockaddr *)&a, &l) < 0 ||
	    (*c = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    connect(*c, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    (*s = accept(lfd, NULL, NULL)) < 0) {
		perror("fraw pairorder: tcp pair");
		exit(1);
	}
	close(lfd);
}

static void pair_req(struct xio_ctl_pair *r, uint16_t type, uint32_t slot, uint32_t token)
{
	memset(r, 0, sizeof(*r));
	xio_msg_init(&r->hdr, type, sizeof(*r));
	r->slot = slot;
	r->token = token;
	r->pid = getpid();
}

/* A reply on @fd within @ms: its status (0 or -errno) and fd; 1 if none came. */
static int reply_within(int fd, int ms, int *rfd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	struct xio_msg_hdr rep;
	int got = 0, f = -1;
	*rfd = -1;
	if (poll(&p, 1, ms) <= 0)
		return 1;
	ssize_t n = xio_recv_with_fds(fd, &rep, sizeof(rep), &f, &got, 1);
	if (n != (ssize_t)sizeof(rep) || rep.type != XIO_CTL_REPLY)
		return -EPROTO;
	*rfd = got ? f : -1;
	return rep.status;
}

/* A slot moved FREE -> ALLOCATED -> PAIRING, as a pairing client does; its AF_UNIX ends in sv. */
static struct xio_slot *pairing_slot(struct xio_domain_hdr *h, int sv[2], uint32_t *token)
{
	struct stat st;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 || fstat(sv[0], &st) < 0)
		return NULL;
	struct xio_slot *s = xio_slot_alloc(h, st.st_ino, token);
	if (s && xio_slot_pairing(s, *token) < 0)
		return NULL;
	return s;
}

/*
 * A pairing client's slot whose claim reached the manager first: sent on @b
 * (the server's connection) with the accepted socket, and parked, that is
 * not answered within 300 ms. The client's TCP end in *c, the slot's AF_UNIX
 * ends in sv. NULL when a step failed or the claim was answered.
 */
static struct xio_slot *parked_claim(struct xio_domain_hdr *h, int b, int *c, int sv[2],
				     uint32_t *token)
{
	struct xio_ctl_pair pr;
	int t, u, st;
	tcp_pair(c, &t);
	struct xio_slot *s = pairing_slot(h, sv, token);
	if (!s)
		return NULL;
	pair_req(&pr, XIO_CTL_PAIR_CLAIM, s->index, *token);
	if (xio_send_with_fds(b, &pr, sizeof(pr), &t, 1) < 0)
		return NULL;
	if ((st = reply_within(b, 300, &u)) != 1) {
		printf("fraw pairorder: the claim was answered before its offer: status=%s\n",
		       errname(-st));
		return NULL;
	}
	return s;
}

/*
 * A parked claim whose client gives up before its offer was read: it unpairs
 * its slot and sends ABANDON on @abandon_fd (the control connection or the
 * offer channel). The claim's status on @b in *claim_st, what answered on
 * @abandon_fd within @ms in *abandon_st (reply_within's values). False when
 * a step failed.
 */
static bool claim_then_abandon(struct xio_domain_hdr *h, int b, int abandon_fd, int ms,
			       int *claim_st, int *abandon_st)
{
	struct xio_ctl_pair pr;
	int c, u, sv[2];
	uint32_t token;
	struct xio_slot *s = parked_claim(h, b, &c, sv, &token);
	if (!s)
		return false;
	xio_slot_unpair(h, s, token);
	pair_req(&pr, XIO_CTL_PAIR_ABANDON, s->index, token);
	if (xio_send_with_fds(abandon_fd, &pr, sizeof(pr), NULL, 0) < 0)
		return false;
	*claim_st = reply_within(b, 3000, &u);
	*abandon_st = reply_within(abandon_fd, ms, &u);
	return true;
}

static int cmd_pairorder(const char *ctl)
{
	int a = ctl_open(ctl), b = ctl_open(ctl); /* the client's and the server's connection */
	struct xio_msg_hdr req;
	struct xio_ctl_hello_reply rep;
	struct xio_ctl_pair pr;
	int memfd = -1, u, c, sv[2], st;
	uint32_t token;
	xio_msg_init(&req, XIO_CTL_HELLO, sizeof(req));
	ssize_t n = call(a, &req, sizeof(req), NULL, 0, &rep, sizeof(rep), &memfd);
	if (n != (ssize_t)sizeof(rep) || memfd < 0) {
		printf("fraw pairorder: attach failed\n");
		return 1;
	}
	char *map = mmap(NULL, rep.map_len, PROT_READ | PROT_WRITE, MAP_SHARED, memfd,
			 (off_t)rep.map_offset);
	if (map == MAP_FAILED) {
		printf("fraw pairorder: mmap: %s\n", strerror(errno));
		return 1;
	}
	struct xio_domain_hdr *h = (struct xio_domain_hdr *)(map + rep.hdr_delta);
	if (!h->pair_ok) {
		printf("fraw pairorder: the manager proves no pairings (no CAP_NET_ADMIN?)\n");
		return 1;
	}

	/* 1. The true pair: the claim comes first, waits, and is proved when the offer comes. */
	struct xio_slot *s = parked_claim(h, b, &c, sv, &token);
	if (!s)
		return 1;
	pair_req(&pr, XIO_CTL_PAIR_OFFER, s->index, token);
	if (xio_send_with_fds(a, &pr, sizeof(pr), (int[]){c, sv[1]}, 2) < 0)
		return 1;
	st = reply_within(b, 3000, &u);
	uint64_t w = atomic_load(&s->state);
	printf("fraw pairorder: true pair: claim status=%s fd=%s slot=%s\n",
	       st == 1 ? "none" : errname(-st), u >= 0 ? "yes" : "no",
	       w == XIO_SLOT_WORD(token, XIO_SLOT_ESTABLISHED) ? "ESTABLISHED" : "other");
	if (st != 0 || u < 0 || w != XIO_SLOT_WORD(token, XIO_SLOT_ESTABLISHED))
		return 1;
	if ((st = reply_within(a, 100, &u)) != 1) {
		printf(
		    "fraw pairorder: the offer was answered (status=%s): the client does not read "
		    "that\n",
		    errname(-st));
		return 1;
	}

	/* 2. Another connection's socket: the claim waits, then the sequence numbers refuse it. */
	int c2, t2, c3, t3;
	tcp_pair(&c2, &t2);
	tcp_pair(&c3, &t3);
	s = pairing_slot(h, sv, &token);
	if (!s)
		return 1;
	pair_req(&pr, XIO_CTL_PAIR_CLAIM, s->index, token);
	if (xio_send_with_fds(b, &pr, sizeof(pr), &t3, 1) < 0)
		return 1;
	pair_req(&pr, XIO_CTL_PAIR_OFFER, s->index, token);
	if (xio_send_with_fds(a, &pr, sizeof(pr), (int[]){c2, sv[1]}, 2) < 0)
		return 1;
	st = reply_within(b, 3000, &u);
	w = atomic_load(&s->state);
	printf("fraw pairorder: other connection: claim status=%s slot=%s\n",
	       st == 1 ? "none" : errname(-st),
	       w == XIO_SLOT_WORD(token, XIO_SLOT_PAIRING) ? "PAIRING" : "other");
	if (st != -EPERM || u >= 0 || w != XIO_SLOT_WORD(token, XIO_SLOT_PAIRING))
		return 1;
	xio_slot_unpair(h, s, token);
	pair_req(&pr, XIO_CTL_PAIR_ABANDON, s->index, token);
	if (call(a, &pr, sizeof(pr), NULL, 0, &req, sizeof(req), NULL) != sizeof(req))
		return 1;

	/*
	 * 2b. An offer whose "TCP socket" is a UDP or an AF_UNIX socket: the
	 * manager's type check (TCP_INFO at IPPROTO_TCP) refuses the offer, and
	 * the claim parked for it gets that refusal (EINVAL), the slot left
	 * PAIRING, whatever the claim's own socket is.
	 */
	for (int k = 0; k < 2; k++) {
		s = parked_claim(h, b, &c, sv, &token);
		if (!s)
			return 1;
		/* not a TCP socket: a UDP one, then the slot's own AF_UNIX end */
		int bad = k == 0 ? socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0) : dup(sv[0]);
		if (bad < 0)
			return 1;
		pair_req(&pr, XIO_CTL_PAIR_OFFER, s->index, token);
		if (xio_send_with_fds(a, &pr, sizeof(pr), (int[]){bad, sv[1]}, 2) < 0)
			return 1;
		st = reply_within(b, 3000, &u);
		w = atomic_load(&s->state);
		printf("fraw pairorder: %s offered as the TCP socket: claim status=%s slot=%s\n",
		       k == 0 ? "UDP socket" : "AF_UNIX socket", st == 1 ? "none" : errname(-st),
		       w == XIO_SLOT_WORD(token, XIO_SLOT_PAIRING) ? "PAIRING" : "other");
		if (st != -EINVAL || u >= 0 || w != XIO_SLOT_WORD(token, XIO_SLOT_PAIRING))
			return 1;
		close(bad);
		close(c);
		xio_slot_unpair(h, s, token);
		pair_req(&pr, XIO_CTL_PAIR_ABANDON, s->index, token);
		if (call(a, &pr, sizeof(pr), NULL, 0, &req, sizeof(req), NULL) != sizeof(req))
			return 1;
	}

	/* 3. The client gave up before its offer was read: its abandon answers the claim. */
	int sa;
	if (!claim_then_abandon(h, b, a, 3000, &st, &sa))
		return 1;
	printf("fraw pairorder: abandoned: claim status=%s abandon status=%s\n",
	       st == 1 ? "none" : errname(-st), sa == 1 ? "none" : errname(-sa));
	if (st != -ENOENT || sa == 1)
		return 1;

	/* 4. The same, the client's connection closed instead. */
	int a2 = ctl_open(ctl);
	if (!(s = parked_claim(h, b, &c, sv, &token)))
		return 1;
	xio_slot_unpair(h, s, token);
	close(a2);
	st = reply_within(b, 3000, &u);
	printf("fraw pairorder: client gone: claim status=%s\n", st == 1 ? "none" : errname(-st));
	if (st != -ENOENT)
		return 1;

	/*
	 * 5. An offer channel (PAIR_CHANNEL on the control connection): the
	 * offer on it proves a parked claim, nothing is ever answered on it, an
	 * abandon on it refuses a claim, and any other request ends it.
	 */
	int ch[2];
	struct xio_msg_hdr crep;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ch) < 0)
		return 1;
	xio_msg_init(&req, XIO_CTL_PAIR_CHANNEL, sizeof(req));
	n = call(a, &req, sizeof(req), &ch[1], 1, &crep, sizeof(crep), NULL);
	close(ch[1]);
	printf("fraw pairorder: channel: status=%s\n",
	       n == (ssize_t)sizeof(crep) ? errname(-crep.status) : "no reply");
	if (n != (ssize_t)sizeof(crep) || crep.status != 0)
		return 1;
	if (!(s = parked_claim(h, b, &c, sv, &token)))
		return 1;
	pair_req(&pr, XIO_CTL_PAIR_OFFER, s->index, token);
	if (xio_send_with_fds(ch[0], &pr, sizeof(pr), (int[]){c, sv[1]}, 2) < 0)
		return 1;
	st = reply_within(b, 3000, &u);
	w = atomic_load(&s->state);
	int sc = reply_within(ch[0], 100, &c);
	printf("fraw pairorder: offer on the channel: claim status=%s slot=%s channel reply=%s\n",
	       st == 1 ? "none" : errname(-st),
	       w == XIO_SLOT_WORD(token, XIO_SLOT_ESTABLISHED) ? "ESTABLISHED" : "other",
	       sc == 1 ? "none" : errname(-sc));
	if (st != 0 || u < 0 || w != XIO_SLOT_WORD(token, XIO_SLOT_ESTABLISHED) || sc != 1)
		return 1;
	if (!claim_then_abandon(h, b, ch[0], 300, &st, &sc))
		return 1;
	printf("fraw pairorder: abandon on the channel: claim status=%s channel reply=%s\n",
	       st == 1 ? "none" : errname(-st), sc == 1 ? "none" : errname(-sc));
	if (st != -ENOENT || sc != 1)
		return 1;
	xio_msg_init(&req, XIO_CTL_HELLO, sizeof(req));
	if (xio_send_with_fds(ch[0], &req, sizeof(req), NULL, 0) < 0)
		return 1;
	struct pollfd pf = {.fd = ch[0], .events = POLLIN};
	char byte;
	bool ended = poll(&pf, 1, 3000) == 1 && recv(ch[0], &byte, 1, MSG_DONTWAIT) == 0;
	printf("fraw pairorder: HELLO on the channel: %s\n",
	       ended ? "channel closed" : "still open");
	if (!ended)
		return 1;
	close(ch[0]);
	printf("fraw pairorder: ok\n");
	return 0;
}

int main(int argc, char **argv)
{
	xio_sys_use_libc();
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 4 && !strcmp(argv[1], "publish"))
		return cmd_publish(argv[2], argv[3]);
	if (argc >= 4 && !strcmp(argv[1], "hello"))
		return cmd_hello(argv[2], atoi(argv[3]));
	if (argc >= 3 && !strcmp(argv[1], "rejoin"))
		return cmd_rejoin(argv[2]);
	if (argc >= 5 && !strcmp(argv[1], "offer"))
		return cmd_offer(argv[2], (unsigned)atoi(argv[3]), strtoull(argv[4], NULL, 16));
	if (argc >= 5 && !strcmp(argv[1], "garbage"))
		return cmd_garbage(argv[2], atol(argv[3]), strtoull(argv[4], NULL, 0));
	if (argc >= 3 && !strcmp(argv[1], "pairorder"))
		return cmd_pairorder(argv[2]);
	if (argc >= 4 && !strcmp(argv[1], "dump"))
		return cmd_dump(argv[2], (uint32_t)atoi(argv[3]));
	fprintf(stderr,
		"usage: fraw publish CTL KIND | hello CTL VERSION | rejoin DENIED |"
		" offer RV LAYOUT GEN | garbage CTL N SEED | dump CTL SLOT | pairorder CTL\n");
	return 1;
}
