/* SPDX-License-Identifier: MIT */
/*
 * The manager's control-message dispatch (manager/commands.c mgr_handle) on
 * arbitrary requests, in-process: the manager's code is linked in, the EAL
 * is never started (the domain is a fake one in ordinary memory, like the
 * manager lays it out). Replies go to a socketpair that is drained after
 * each input. Nothing may crash, leak a descriptor, or write outside the
 * domain.
 *
 * Input: [fds][request][request]...: the requests are split where the
 * protocol magic ("POIX") starts again, up to MAXREQ of them, handled in
 * order by one client, so that sequences (PAIR_OFFER then PAIR_CLAIM or
 * ABANDON, PUBLISH then UNPUBLISH) are reached. Bits 2i, 2i+1 of the first
 * byte say what travels with request i as SCM_RIGHTS would hand it over:
 * 0 nothing, 1 /dev/null, 2 /dev/null and an AF_UNIX socket, 3 the
 * descriptors its type expects (PUBLISH: a fresh AF_UNIX socket and a TCP
 * listener on 127.0.0.1; REPUBLISH, WITHDRAW: an AF_UNIX listener and that
 * TCP listener; PAIR_OFFER: a connected TCP socket and an AF_UNIX socket;
 * PAIR_CLAIM: the accepted end of that TCP connection). The sockets are made
 * once and handed over as dup()s. Before each input the slots are reset to:
 * 0 FREE, 1 ESTABLISHED between live sockets, 2 PAIRING (token 0x22), 3
 * ESTABLISHED with its sockets gone (the sweep reclaims it).
 */
#include <stdio.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>
#include <rte_ring.h>

#include "fuzz.h"
#include "manager.h"
#include "sys.h"

#define NSLOTS	4
#define RINGCNT 1024
#define MAXREQ	8

static const uint8_t magic[4] = {0x50, 0x4f, 0x49, 0x58}; /* XIO_PROTO_MAGIC, little-endian */

static struct mgr m;
static struct mgr_client *cl;
static int peer;
static int base_fds;
/* the sockets handed over as the request types expect them (dup()s) */
static int tcp_listener = -1, tcp_client = -1, tcp_server = -1, unix_pair[2] = {-1, -1},
	   unix_listener = -1;

static int count_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	while (d && (e = readdir(d)))
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

/* What each open descriptor is, for the report of a leak. */
static void list_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	char path[300], to[256];
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		ssize_t n = readlink(path, to, sizeof(to) - 1);
		to[n > 0 ? n : 0] = 0;
		fprintf(stderr, "  fd %s -> %s\n", e->d_name, to);
	}
	if (d)
		closedir(d);
}

static void client_reset(void)
{
	int sv[2];
	if (cl) {
		event_free(cl->rd_ev);
		event_free(cl->wr_ev);
		close(cl->fd);
		close(peer);
		TAILQ_REMOVE(&m.clients, cl, link);
		m.nclients--;
		mgr_pair_client_gone(&m, cl);
		free(cl);
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	cl = calloc(1, sizeof(*cl));
	cl->m = &m;
	cl->fd = sv[0];
	cl->pid = getpid();
	peer = sv[1];
	cl->rd_ev = event_new(m.base, cl->fd, EV_READ | EV_PERSIST, NULL, cl);
	cl->wr_ev = event_new(m.base, cl->fd, EV_WRITE, NULL, cl);
	TAILQ_INSERT_TAIL(&m.clients, cl, link);
	m.nclients++;
}

static void setup_sockets(void);

static void setup(void)
{
	xio_sys_use_libc();
	m.o.nslots = NSLOTS;
	m.o.ring_bytes = RINGCNT * 4;
	m.o.gid = (gid_t)-1;
	m.dir_mode = 0700;
	m.sock_mode = 0600;
	m.lock_fd = m.ctl_fd = m.own_netns_fd = m.mem.fd = m.rings_fd = -1;
	char tmpl[] = "/tmp/xio-fuzz-ctl.XXXXXX";
	if (!mkdtemp(tmpl))
		abort();
	snprintf(m.dir, sizeof(m.dir), "%s", tmpl);
	TAILQ_INIT(&m.clients);
	if (mgr_layout(&m) < 0 || mgr_netns_init(&m) < 0)
		abort();
	/* No ring file here: each slot carries its rings, as manager/domain_mem.c falls back to. */
	size_t off = (sizeof(struct xio_slot) + 63) & ~(size_t)63;
	size_t rs = ((size_t)rte_ring_get_memsize_elem(4, RINGCNT) + 63) & ~(size_t)63;
	m.slot_size = (uint32_t)(off + 2 * rs);
	m.zone_raw = m.slots_off + (uint64_t)NSLOTS * m.slot_size;
	m.hdr = aligned_alloc(64, (m.zone_raw + 63) & ~(uint64_t)63);
	memset(m.hdr, 0, m.zone_raw);
	m.hdr->magic = XIO_MAGIC;
	m.hdr->layout_version = XIO_LAYOUT_VERSION;
	m.hdr->generation = 0x600df00d;
	m.hdr->total_len = m.zone_raw;
	m.hdr->slots_off = m.slots_off;
	m.hdr->nslots = NSLOTS;
	m.hdr->slot_size = m.slot_size;
	m.hdr->ring_bytes = RINGCNT * 4;
	for (uint32_t i = 0; i < NSLOTS; i++) {
		struct xio_slot *s = xio_slot_at(m.hdr, i);
		s->index = i;
		s->ring_bytes = RINGCNT * 4;
		for (int d = 0; d < 2; d++) {
			s->ring_off[d] = (uint32_t)(off + d * rs);
			rte_ring_init((struct rte_ring *)((char *)s + s->ring_off[d]), "f", RINGCNT,
				      RING_F_SP_ENQ | RING_F_SC_DEQ);
		}
		mgr_slot_clear(s);
		atomic_store(&s->state, XIO_SLOT_WORD(0x100 + i, XIO_SLOT_FREE));
	}
	m.base = event_base_new();
	if (!m.base || mgr_sweep_timer_init(&m) < 0 || mgr_pair_init(&m) < 0)
		abort();
	m.mem.fd = memfd_create("fuzz_ctl", MFD_CLOEXEC); /* what HELLO hands out */
	if (m.mem.fd < 0)
		abort();
	client_reset();
	setup_sockets();
	base_fds = count_fds();
}

static void setup_sockets(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	tcp_listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	tcp_client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (tcp_listener < 0 || tcp_client < 0 ||
	    bind(tcp_listener, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(tcp_listener, 4) < 0 ||
	    getsockname(tcp_listener, (struct sockaddr *)&a, &al) < 0 ||
	    connect(tcp_client, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    (tcp_server = accept4(tcp_listener, NULL, NULL, SOCK_CLOEXEC)) < 0)
		abort();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, unix_pair) < 0)
		abort();
	struct sockaddr_un u = {.sun_family = AF_UNIX};
	int n = snprintf(u.sun_path, sizeof(u.sun_path), "%s/listener", m.dir);
	if (n < 0 || (size_t)n >= sizeof(u.sun_path))
		abort();
	unix_listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (unix_listener < 0 || bind(unix_listener, (struct sockaddr *)&u, sizeof(u)) < 0 ||
	    listen(unix_listener, 4) < 0)
		abort();
}

static uint64_t ino_of(int fd)
{
	struct stat st;
	return fstat(fd, &st) == 0 ? (uint64_t)st.st_ino : 0;
}

/* The slots as the header comment says, every input the same. */
static void slots_reset(void)
{
	static const uint32_t st[NSLOTS] = {XIO_SLOT_FREE, XIO_SLOT_ESTABLISHED, XIO_SLOT_PAIRING,
					    XIO_SLOT_ESTABLISHED};
	for (uint32_t i = 0; i < NSLOTS; i++) {
		struct xio_slot *s = xio_slot_at(m.hdr, i);
		mgr_slot_clear(s);
		if (i == 1 || i == 2) {
			atomic_store(&s->client_ino, ino_of(unix_pair[0]));
			s->client_pid = getpid();
		}
		if (i == 1) {
			atomic_store(&s->server_ino, ino_of(unix_pair[1]));
			s->server_pid = getpid();
			s->dir[0].bytes = 1000;
			s->dir[1].bytes = 2000;
		}
		if (i == 3) { /* sockets that no longer exist */
			atomic_store(&s->client_ino, 0x7ffffff0);
			atomic_store(&s->server_ino, 0x7ffffff1);
		}
		atomic_store(&s->state,
			     XIO_SLOT_WORD(st[i] == XIO_SLOT_FREE ? 0x100 + i : 0x11 * i, st[i]));
	}
}

/* Descriptors for request @req of @n bytes as @how says (header comment); returns how many. */
static int make_fds(int how, const uint8_t *req, size_t n, int fds[2])
{
	struct xio_msg_hdr h = {0};
	if (how == 0)
		return 0;
	fds[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (how == 1)
		return 1;
	if (how == 2) {
		fds[1] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		return 2;
	}
	close(fds[0]);
	fds[0] = -1;
	memcpy(&h, req, n < sizeof(h) ? n : sizeof(h));
	switch (h.type) {
	case XIO_CTL_PUBLISH:
		fds[0] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		fds[1] = fcntl(tcp_listener, F_DUPFD_CLOEXEC, 0);
		return 2;
	case XIO_CTL_REPUBLISH:
	case XIO_CTL_WITHDRAW:
		fds[0] = fcntl(unix_listener, F_DUPFD_CLOEXEC, 0);
		fds[1] = fcntl(tcp_listener, F_DUPFD_CLOEXEC, 0);
		return 2;
	case XIO_CTL_PAIR_OFFER:
		fds[0] = fcntl(tcp_client, F_DUPFD_CLOEXEC, 0);
		fds[1] = fcntl(unix_pair[1], F_DUPFD_CLOEXEC, 0);
		return 2;
	case XIO_CTL_PAIR_CLAIM:
		fds[0] = fcntl(tcp_server, F_DUPFD_CLOEXEC, 0);
		return 1;
	default:
		return 0;
	}
}

/* Length of the request at @p (at most @n bytes): up to where the magic starts again. */
static size_t request_len(const uint8_t *p, size_t n)
{
	for (size_t i = 1; i + sizeof(magic) <= n; i++)
		if (memcmp(p + i, magic, sizeof(magic)) == 0)
			return i;
	return n;
}

/* One request of @size bytes, with descriptors as @how says, and its replies drained. */
static void one_request(const uint8_t *data, size_t size, int how)
{
	int fds[2] = {-1, -1};
	if (size > 256)
		size = 256; /* control.c reads at most REQ_MAX bytes: more is truncation */
	int nfds = make_fds(how, data, size, fds);
	uint8_t *req = malloc(size ? size : 1); /* exact size */
	memcpy(req, data, size);
	mgr_handle(cl, req, size, fds, nfds);
	free(req);
	/* a CONNS reply that waits for socket room, then the replies themselves */
	char buf[70000];
	while (cl->conns_pending && !cl->dead) {
		while (recv(peer, buf, sizeof(buf), MSG_DONTWAIT) > 0)
			;
		mgr_conns_continue(cl);
	}
	for (;;) {
		struct msghdr mh = {0};
		struct iovec iov = {buf, sizeof(buf)};
		union {
			struct cmsghdr a;
			char b[CMSG_SPACE(8 * sizeof(int))];
		} ctl;
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = ctl.b;
		mh.msg_controllen = sizeof(ctl.b);
		if (recvmsg(peer, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC) <= 0)
			break;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
			if (c->cmsg_type == SCM_RIGHTS)
				for (size_t k = 0; k < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
				     k++)
					close(((int *)CMSG_DATA(c))[k]);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!m.hdr)
		setup();
	if (size < 1)
		return 0;
	unsigned sel = data[0];
	data++, size--;
	slots_reset();
	uint64_t publishes = atomic_load(&m.hdr->stats.publishes);
	for (int i = 0; i < MAXREQ && size > 0 && !cl->dead; i++) {
		size_t n = request_len(data, size);
		one_request(data, n, i < 4 ? (int)(sel >> (2 * i)) & 3 : 0);
		data += n;
		size -= n;
	}
	if (cl->dead)
		client_reset();
	mgr_pair_client_gone(&m, cl); /* offers left over hold descriptors */
	if (atomic_load(&m.hdr->stats.publishes) != publishes)
		mgr_rv_cleanup(&m); /* the entries of sockets closed since */
	atomic_store(&m.hdr->kill_switch, 0);
	/* every descriptor handed in was consumed */
	int now = count_fds();
	if (now > base_fds + 1) {
		fprintf(stderr, "fuzz_ctl: descriptors leaked: %d -> %d\n", base_fds, now);
		list_fds();
		abort();
	}
	return 0;
}
