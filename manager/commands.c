/* SPDX-License-Identifier: MIT */
/*
 * Control requests, one handler each. Every request gets exactly one reply
 * of type XIO_CTL_REPLY (CONNS: one or more); a request whose header is not
 * even ours costs the client its connection.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "clock.h"
#include "manager.h"

struct conns_msg {
	struct xio_msg_hdr hdr;
	uint32_t count, more;
	struct xio_ctl_conn rec[MGR_CONNS_PER_MSG];
};

int mgr_reply(struct mgr_client *c, void *msg, size_t len, int status, const int *fds, int nfds)
{
	struct xio_msg_hdr *h = msg;
	ssize_t n;

	if (c->send_only)
		return 0; /* an offer channel: its process never reads it */
	xio_msg_init(h, XIO_CTL_REPLY, (uint32_t)len);
	h->status = status;
	n = xio_send_with_fds(c->fd, msg, len, fds, nfds);
	if (n < 0) {
		/* EAGAIN too: a client that does not read its replies gets no queue */
		c->dead = true;
		return (int)n;
	}
	return 0;
}

static void reply_status(struct mgr_client *c, int status)
{
	struct xio_msg_hdr h;

	mgr_reply(c, &h, sizeof(h), status, NULL, 0);
}

static void close_fds(int *fds, int nfds)
{
	for (int i = 0; i < nfds; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

static void reply_status_fd(struct mgr_client *c, int status, int fd)
{
	struct xio_msg_hdr h;

	mgr_reply(c, &h, sizeof(h), status, &fd, fd >= 0 ? 1 : 0);
}

static bool slot_busy(uint64_t w)
{
	uint32_t st = XIO_SLOT_STATE(w);
	return st != XIO_SLOT_FREE && st != MGR_SLOT_RECLAIMING;
}

static void cmd_hello(struct mgr_client *c)
{
	struct mgr *m = c->m;
	struct xio_ctl_hello_reply r = {
	    .generation = m->hdr->generation,
	    .map_offset = m->mem.map_offset,
	    .map_len = m->mem.map_len,
	    .hdr_delta = m->mem.hdr_delta,
	    .layout_version = XIO_LAYOUT_VERSION,
	    .page_size = m->mem.page_size,
	    .rings_len = m->rings_len,
	};
	int fds[2] = {m->mem.fd, m->rings_fd};

	/* remember the member's namespace so the sweep can see its sockets */
	if (!c->netns && mgr_netns_add_pid(m, c->pid, &c->netns) == 0 && c->netns)
		mgr_netns_ref(m, c->netns, 1);
	mgr_reply(c, &r, sizeof(r), 0, fds, 2);
}

/* PUBLISH or REPUBLISH: both take [AF_UNIX socket, TCP listener] and answer a path. */
static void cmd_publish(struct mgr_client *c, uint16_t type, const void *buf, int *fds, int nfds)
{
	struct xio_ctl_publish_reply r;
	int st = -EPROTO;

	memset(&r, 0, sizeof(r));
	if (nfds == 2 && type == XIO_CTL_PUBLISH) {
		struct xio_ctl_publish req;
		memcpy(&req, buf, sizeof(req));
		st = mgr_publish(c->m, c, &req, fds, r.path, sizeof(r.path));
	} else if (nfds == 2) {
		struct xio_ctl_republish req;
		memcpy(&req, buf, sizeof(req));
		st = mgr_republish(c->m, c, &req, fds, r.path, sizeof(r.path));
	}
	close_fds(fds, nfds);
	mgr_reply(c, &r, sizeof(r), st, NULL, 0);
}

static void cmd_withdraw(struct mgr_client *c, const void *buf, int *fds, int nfds)
{
	int st = -EPROTO;
	if (nfds == 2) {
		struct xio_ctl_republish req;
		memcpy(&req, buf, sizeof(req));
		st = mgr_withdraw(c->m, c, &req, fds);
	}
	close_fds(fds, nfds);
	reply_status(c, st);
}

static void cmd_stats(struct mgr_client *c)
{
	struct mgr *m = c->m;
	struct xio_domain_hdr *h = m->hdr;
	struct xio_ctl_stats r;
	uint64_t live = 0;

	mgr_sweep(m);
	memset(&r, 0, sizeof(r));
	for (uint32_t i = 0; i < h->nslots; i++) {
		struct xio_slot *s = xio_slot_at(h, i);
		uint64_t w = atomic_load_explicit(&s->state, memory_order_acquire);
		uint32_t st = XIO_SLOT_STATE(w);
		if (!slot_busy(w))
			continue;
		r.slots_in_use++;
		if (st == XIO_SLOT_OFFERED || st == XIO_SLOT_ESTABLISHED)
			r.conns_open++;
		live += s->dir[0].bytes + s->dir[1].bytes;
	}
	r.layout_version = XIO_LAYOUT_VERSION;
	r.nreasons = XIO_FB_MAX;
	r.generation = h->generation;
	r.conns_total = atomic_load_explicit(&h->stats.conns_total, memory_order_relaxed);
	r.bytes = atomic_load_explicit(&h->stats.bytes_closed, memory_order_relaxed) + live;
	for (int i = 0; i < XIO_FB_MAX; i++)
		r.fallback[i] = atomic_load_explicit(&h->stats.fallback[i], memory_order_relaxed);
	r.processes = m->nclients - 1; /* every open control connection but the asker's */
	r.nslots = h->nslots;
	r.slots_reclaimed = atomic_load_explicit(&h->stats.slots_reclaimed, memory_order_relaxed);
	r.publishes = atomic_load_explicit(&h->stats.publishes, memory_order_relaxed);
	r.demoted = atomic_load_explicit(&h->stats.demoted, memory_order_relaxed);
	r.memory_bytes = h->total_len;
	r.ring_bytes = h->ring_bytes;
	r.nbufs = h->nbufs;
	r.buf_bytes = h->buf_size;
	if (h->nbufs) {
		const struct xio_buf_meta *meta =
		    (const struct xio_buf_meta *)((const char *)h + h->bufs_meta_off);
		for (uint32_t i = 0; i < h->nbufs; i++)
			if (XIO_BUF_STATE(atomic_load_explicit(
				&meta[i].word, memory_order_relaxed)) != XIO_BUF_FREE)
				r.bufs_in_use++;
	}
	r.bufs_reclaimed = atomic_load_explicit(&h->stats.bufs_reclaimed, memory_order_relaxed);
	r.hugepages = !!(h->flags & XIO_DOMAIN_HUGEPAGES);
	r.kill_switch = atomic_load_explicit(&h->kill_switch, memory_order_relaxed);
	r.rings_in_use = mgr_rings_resident();
	r.rings_limit = m->rings_len;
	mgr_reply(c, &r, sizeof(r), 0, NULL, 0);
}

static void fill_conn(struct xio_ctl_conn *rec, struct xio_slot *s, uint64_t w)
{
	memset(rec, 0, sizeof(*rec));
	rec->client = s->client;
	rec->server = s->server;
	rec->client_pid = s->client_pid;
	rec->server_pid = s->server_pid;
	rec->bytes_c2s = s->dir[XIO_DIR_C2S].bytes;
	rec->bytes_s2c = s->dir[XIO_DIR_S2C].bytes;
	/* Counts only: xio_ring_used would read the ring at an index its header (shared,
	 * written by clients) names. Padding is in it only after a writer died mid-rewind. */
	rec->fill_c2s = rte_ring_count(mgr_ring(s, XIO_DIR_C2S)) * 4;
	rec->fill_s2c = rte_ring_count(mgr_ring(s, XIO_DIR_S2C)) * 4;
	rec->slot = s->index;
	rec->state = XIO_SLOT_STATE(w);
	rec->srv_local = s->srv_local;
	rec->srv_peer = s->srv_peer;
	rec->netns_c = s->netns[0];
	rec->netns_s = s->netns[1];
	uint64_t now = xio_mono_ns();
	rec->age_ms = s->alloc_ns && now > s->alloc_ns ? (now - s->alloc_ns) / 1000000 : 0;
}

/* Send CONNS messages from c->conns_next on until done or the socket is full. */
void mgr_conns_continue(struct mgr_client *c)
{
	static struct conns_msg msg;
	struct xio_domain_hdr *h = c->m->hdr;

	while (c->conns_pending && !c->dead) {
		uint32_t i = c->conns_next, count = 0;

		for (; i < h->nslots && count < MGR_CONNS_PER_MSG; i++) {
			struct xio_slot *s = xio_slot_at(h, i);
			uint64_t w = atomic_load_explicit(&s->state, memory_order_acquire);
			if (slot_busy(w))
				fill_conn(&msg.rec[count++], s, w);
		}
		uint32_t next = i;
		while (i < h->nslots && !slot_busy(atomic_load_explicit(&xio_slot_at(h, i)->state,
									memory_order_relaxed)))
			i++;
		msg.count = count;
		msg.more = i < h->nslots;
		size_t len = offsetof(struct conns_msg, rec) + count * sizeof(msg.rec[0]);
		xio_msg_init(&msg.hdr, XIO_CTL_REPLY, (uint32_t)len);
		ssize_t n = xio_send_with_fds(c->fd, &msg, len, NULL, 0);
		if (n == -EAGAIN) {
			/* resume when the client has read some: stop reading requests meanwhile */
			event_del(c->rd_ev);
			event_add(c->wr_ev, NULL);
			return;
		}
		if (n < 0) {
			c->dead = true;
			return;
		}
		c->conns_next = next;
		if (!msg.more) {
			c->conns_pending = false;
			event_add(c->rd_ev, NULL);
		}
	}
}

static void cmd_conns(struct mgr_client *c)
{
	c->conns_pending = true;
	c->conns_next = 0;
	mgr_conns_continue(c);
}

static void cmd_kill(struct mgr_client *c, const void *buf)
{
	uint32_t on;

	memcpy(&on, (const char *)buf + sizeof(struct xio_msg_hdr), sizeof(on));
	atomic_store_explicit(&c->m->hdr->kill_switch, on ? 1 : 0, memory_order_relaxed);
	reply_status(c, 0);
}

static void cmd_pair(struct mgr_client *c, uint16_t type, const void *buf, int *fds, int nfds)
{
	struct xio_ctl_pair req;
	int st, out = -1;

	memcpy(&req, buf, sizeof(req));
	if (type == XIO_CTL_PAIR_OFFER) {
		/* the client does not wait for an answer: none is sent */
		st = mgr_pair_offer(c->m, c, &req, fds, nfds);
		close_fds(fds, nfds);
		if (st < 0 && c->m->o.verbose)
			mgr_err("pairing offer for slot %u refused: %s", req.slot, strerror(-st));
		return;
	}
	if (type == XIO_CTL_PAIR_CLAIM)
		st = mgr_pair_claim(c->m, c, &req, fds, nfds, &out);
	else
		st = mgr_pair_abandon(c->m, c, &req);
	close_fds(fds, nfds);
	if (st == MGR_PAIR_PARKED)
		return; /* answered when the offer comes */
	reply_status_fd(c, st, out);
	if (out >= 0)
		close(out);
	if (type == XIO_CTL_PAIR_CLAIM && st == 0)
		mgr_pair_wake(c->m, req.slot);
}

/*
 * PAIR_CHANNEL: @fds[0] is one end of a SOCK_SEQPACKET pair the requester
 * made; served from now on as its offer channel, a client we never answer
 * (stack/domain.c xio_offer_channel: a pairing client sends its offer after
 * its SYN there, never waiting for the control connection).
 */
static void cmd_channel(struct mgr_client *c, int *fds, int nfds)
{
	struct ucred pc;
	socklen_t len = sizeof(pc);
	int type = 0, fl, st = 0;

	if (nfds != 1 || fds[0] < 0)
		st = -EINVAL;
	else if (getsockopt(fds[0], SOL_SOCKET, SO_PEERCRED, &pc, &len) < 0 ||
		 (c->pid && pc.pid != c->pid) ||
		 (len = sizeof(type), getsockopt(fds[0], SOL_SOCKET, SO_TYPE, &type, &len)) < 0 ||
		 type != SOCK_SEQPACKET)
		st = -EINVAL; /* not a SOCK_SEQPACKET pair of the requester's own */
	else if ((fl = fcntl(fds[0], F_GETFL)) < 0 || fcntl(fds[0], F_SETFL, fl | O_NONBLOCK) < 0)
		st = -errno;
	if (st == 0) {
		struct mgr_client *ch = mgr_client_new(c->m, fds[0]);
		fds[0] = -1; /* closed by mgr_client_new on failure */
		if (ch) {
			ch->send_only = true;
			c->m->nclients--; /* a process, counted by its control connection */
		} else
			st = -ENOMEM;
	}
	close_fds(fds, nfds);
	reply_status(c, st);
}

/* Smallest valid request of each type, 0 for types clients may not send. */
static size_t min_len(uint16_t type)
{
	switch (type) {
	case XIO_CTL_HELLO:
	case XIO_CTL_UNPUBLISH:
	case XIO_CTL_STATS:
	case XIO_CTL_RECLAIM:
	case XIO_CTL_CONNS:
		return sizeof(struct xio_msg_hdr);
	case XIO_CTL_PUBLISH:
		return sizeof(struct xio_ctl_publish);
	case XIO_CTL_REPUBLISH:
	case XIO_CTL_WITHDRAW:
		return sizeof(struct xio_ctl_republish);
	case XIO_CTL_KILL:
		return sizeof(struct xio_msg_hdr) + sizeof(uint32_t);
	case XIO_CTL_PAIR_OFFER:
	case XIO_CTL_PAIR_CLAIM:
	case XIO_CTL_PAIR_ABANDON:
		return sizeof(struct xio_ctl_pair);
	case XIO_CTL_PAIR_CHANNEL:
		return sizeof(struct xio_msg_hdr);
	default:
		return 0;
	}
}

void mgr_handle(struct mgr_client *c, const void *buf, size_t n, int *fds, int nfds)
{
	struct xio_msg_hdr h;
	size_t min;
	int r;

	if (n < sizeof(h)) {
		c->dead = true;
		goto drop_fds;
	}
	memcpy(&h, buf, sizeof(h));
	if (h.magic != XIO_PROTO_MAGIC) {
		c->dead = true;
		goto drop_fds;
	}
	min = min_len(h.type);
	r = min ? xio_msg_check(buf, n, h.type, min) : -EPROTO;
	if (r < 0) {
		reply_status(c, r == -EPROTONOSUPPORT ? r : -EPROTO);
		goto drop_fds;
	}
	if (c->send_only && h.type != XIO_CTL_PAIR_OFFER && h.type != XIO_CTL_PAIR_ABANDON) {
		c->dead = true; /* an offer channel carries offers and abandons only */
		goto drop_fds;
	}
	if (h.type != XIO_CTL_PUBLISH && h.type != XIO_CTL_REPUBLISH &&
	    h.type != XIO_CTL_WITHDRAW && h.type != XIO_CTL_PAIR_OFFER &&
	    h.type != XIO_CTL_PAIR_CLAIM && h.type != XIO_CTL_PAIR_CHANNEL)
		close_fds(fds, nfds);

	switch (h.type) {
	case XIO_CTL_HELLO:
		cmd_hello(c);
		break;
	case XIO_CTL_PUBLISH:
	case XIO_CTL_REPUBLISH:
		cmd_publish(c, h.type, buf, fds, nfds);
		break;
	case XIO_CTL_WITHDRAW:
		cmd_withdraw(c, buf, fds, nfds);
		break;
	case XIO_CTL_UNPUBLISH:
		mgr_rv_cleanup(c->m);
		reply_status(c, 0);
		break;
	case XIO_CTL_STATS:
		cmd_stats(c);
		break;
	case XIO_CTL_RECLAIM:
		mgr_sweep(c->m);
		reply_status(c, 0);
		break;
	case XIO_CTL_CONNS:
		cmd_conns(c);
		break;
	case XIO_CTL_KILL:
		cmd_kill(c, buf);
		break;
	case XIO_CTL_PAIR_OFFER:
	case XIO_CTL_PAIR_CLAIM:
	case XIO_CTL_PAIR_ABANDON:
		cmd_pair(c, h.type, buf, fds, nfds);
		break;
	case XIO_CTL_PAIR_CHANNEL:
		cmd_channel(c, fds, nfds);
		break;
	}
	return;
drop_fds:
	close_fds(fds, nfds);
}
