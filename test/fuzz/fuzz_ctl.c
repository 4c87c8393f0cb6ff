/* SPDX-License-Identifier: MIT */
/*
 * The manager's control-message dispatch (manager/commands.c mgr_handle) on
 * arbitrary requests, in-process: the manager's code is linked in, the EAL
 * is never started (the domain is a fake one in ordinary memory, like the
 * manager lays it out). The first input byte says how many descriptors (0-2:
 * /dev/null, a socket) travel with the request, as SCM_RIGHTS would hand
 * them over. Replies go to a socketpair that is drained after each input.
 * Nothing may crash, leak a descriptor, or write outside the domain.
 */
#include <stdio.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <rte_ring.h>

#include "manager.h"
#include "sys.h"

/* Always checked (assert() is compiled out with NDEBUG in RelWithDebInfo builds). */
#define FZ_CHECK(c)                                                                                \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c);      \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

#define NSLOTS	4
#define RINGCNT 1024

static struct mgr m;
static struct mgr_client *cl;
static int peer;
static int base_fds;

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
	client_reset();
	base_fds = count_fds();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!m.hdr)
		setup();
	if (size < 1)
		return 0;
	int nfds = data[0] % 3, fds[2] = {-1, -1};
	data++, size--;
	if (size > 256)
		size = 256; /* control.c reads at most REQ_MAX bytes: more is truncation */
	if (nfds > 0)
		fds[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (nfds > 1)
		fds[1] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
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
	if (cl->dead)
		client_reset();
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
