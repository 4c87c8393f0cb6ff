/* SPDX-License-Identifier: MIT */
/*
 * The slot sweep: a slot lives as long as the kernel objects do. It is freed
 * when neither end's AF_UNIX socket exists any more (sock_diag by inode),
 * never because a pid died: fork, daemonizing and SCM_RIGHTS move
 * connections between processes.
 *
 * Races we guard against:
 *  - a socket created after the dump started: we read the slots (and so the
 *    inodes, which are stored after the socket exists) before dumping;
 *  - a socket moving between hash chains (bind) while the dump walks them:
 *    a slot is only freed when two dumps both miss its sockets;
 *  - a client that died after its offer while the server end still waits,
 *    unaccepted, in a rendezvous backlog (it has no inode until accepted) or
 *    is between accept and claim: such slots wait out a grace period and
 *    any non-empty rendezvous backlog.
 * The timer runs only while slots are in use: an idle manager sleeps.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <rte_ring.h>

#include "clock.h"
#include "manager.h"
#include "ring.h"

struct snap {
	uint32_t i;
	bool ok, confirm;
	uint64_t w, cino, sino;
};

/* Dump every namespace we know into @set. Returns false if one could not be read. */
static bool dump_all(struct mgr *m, const struct snap *sn, size_t n, struct mgr_inoset *set)
{
	bool complete = true;

	for (ssize_t k = -1; k < (ssize_t)m->n_netns; k++) {
		struct mgr_inoset one = {0};
		int nl = mgr_netns_diag_socket(m, k);
		int r = nl < 0 ? nl : mgr_diag_inodes(nl, &one);

		if (nl >= 0)
			close(nl);
		if (r < 0) {
			complete = false;
			if (k >= 0 && sn)
				m->netns[k].hit = true; /* cannot rule it out */
			mgr_inoset_free(&one);
			continue;
		}
		mgr_inoset_sort(&one);
		if (k >= 0 && sn) {
			m->netns[k].hit = false;
			for (size_t j = 0; j < n && !m->netns[k].hit; j++)
				m->netns[k].hit = mgr_inoset_has(&one, sn[j].cino) ||
						  mgr_inoset_has(&one, sn[j].sino);
		}
		for (size_t j = 0; j < one.n && complete; j++)
			if (mgr_inoset_add(set, one.v[j]) < 0)
				complete = false;
		mgr_inoset_free(&one);
	}
	mgr_inoset_sort(set);
	return complete;
}

struct pending_ctx {
	const char *prefix;
	size_t len;
	bool pending;
};

static void pending_cb(const char *path, uint64_t vfs_ino, uint32_t qlen, void *arg)
{
	struct pending_ctx *p = arg;

	(void)vfs_ino;
	/* Names bound through /proc/self/fd/ are ours too (see publish.c). */
	if (qlen && (!strncmp(path, p->prefix, p->len) || !strncmp(path, "/proc/self/fd/", 14)))
		p->pending = true;
}

/* Does any rendezvous listener hold connections nobody accepted yet? */
static bool rv_backlog_pending(struct mgr *m)
{
	char prefix[PATH_MAX];
	struct pending_ctx p = {.prefix = prefix};

	p.len = (size_t)snprintf(prefix, sizeof(prefix), "%s/rv/", m->dir);
	for (ssize_t k = -1; k < (ssize_t)m->n_netns && !p.pending; k++) {
		int nl = mgr_netns_diag_socket(m, k);
		int r = nl < 0 ? nl : mgr_diag_listeners(nl, pending_cb, &p);
		if (nl >= 0)
			close(nl);
		if (r < 0)
			return true;
	}
	return p.pending;
}

static void dec_in_use(struct xio_domain_hdr *h)
{
	uint64_t v = atomic_load_explicit(&h->stats.slots_in_use, memory_order_relaxed);

	while (v &&
	       !atomic_compare_exchange_weak_explicit(&h->stats.slots_in_use, &v, v - 1,
						      memory_order_relaxed, memory_order_relaxed))
		;
}

static bool reclaim(struct mgr *m, const struct snap *p)
{
	struct xio_domain_hdr *h = m->hdr;
	struct xio_slot *s = xio_slot_at(h, p->i);
	uint32_t old = XIO_SLOT_TOKEN(p->w), tok = old + 1;
	uint64_t w = p->w, nw;

	if (atomic_load_explicit(&s->client_ino, memory_order_acquire) != p->cino ||
	    atomic_load_explicit(&s->server_ino, memory_order_acquire) != p->sino)
		return false;
	/* park it where clients cannot take it while we reset it */
	if (!atomic_compare_exchange_strong(&s->state, &w, XIO_SLOT_WORD(old, MGR_SLOT_RECLAIMING)))
		return false;
	atomic_fetch_add_explicit(&h->stats.bytes_closed, s->dir[0].bytes + s->dir[1].bytes,
				  memory_order_relaxed);
	mgr_slot_clear(s);
	/* a new token makes a late claim of the old offer fail */
	if (mgr_random(&tok, sizeof(tok)) < 0 || tok == old)
		tok = old + 1;
	nw = XIO_SLOT_WORD(tok, XIO_SLOT_FREE);
	atomic_store_explicit(&s->state, nw, memory_order_release);
	dec_in_use(h);
	atomic_fetch_add_explicit(&h->stats.slots_reclaimed, 1, memory_order_relaxed);
	m->seen[p->i] = (struct mgr_seen){.word = nw, .freed_ns = xio_mono_ns(), .warm = true};
	return true;
}

/*
 * A slot free for a whole timer period gives its ring pages back (reclaim
 * left them: a slot taken again soon finds them mapped). Parked while the
 * pages go, so no client can take it half given back.
 */
#define WARM_NS 1000000000ull

static void cool(struct mgr *m, uint32_t i, uint64_t w, uint64_t now)
{
	struct mgr_seen *sn = &m->seen[i];
	struct xio_slot *s = xio_slot_at(m->hdr, i);
	uint64_t parked = XIO_SLOT_WORD(XIO_SLOT_TOKEN(w), MGR_SLOT_RECLAIMING);

	if (now - sn->freed_ns < WARM_NS)
		return;
	sn->warm = false; /* taken meanwhile: its pages are in use again, trims take over */
	if (!atomic_compare_exchange_strong(&s->state, &w, parked))
		return;
	mgr_slot_release_rings(s);
	atomic_store_explicit(&s->state, XIO_SLOT_WORD(XIO_SLOT_TOKEN(parked), XIO_SLOT_FREE),
			      memory_order_release);
}

/* Decide for one non-free slot whether it looks abandoned. */
static void judge(struct mgr *m, struct snap *p, const struct mgr_inoset *live, bool complete,
		  uint64_t now, int *pending)
{
	struct xio_slot *s = xio_slot_at(m->hdr, p->i);
	uint32_t st = XIO_SLOT_STATE(p->w);
	bool aged = now - m->seen[p->i].since_ns >= MGR_GRACE_NS;
	bool server_gone = !p->sino || (complete && !mgr_inoset_has(live, p->sino));

	p->ok = p->confirm = false;
	if (!server_gone)
		return;
	if (!p->cino) {
		/* the client has not recorded its socket yet: only time tells */
		uint64_t a = s->alloc_ns;
		if (!aged || (a && a <= now && now - a < MGR_GRACE_NS))
			return;
		p->confirm = p->sino != 0;
	} else {
		if (!complete || mgr_inoset_has(live, p->cino))
			return;
		if (st == XIO_SLOT_OFFERED || (st == XIO_SLOT_ESTABLISHED && !p->sino)) {
			if (!aged)
				return;
			if (*pending < 0)
				*pending = rv_backlog_pending(m);
			if (*pending)
				return;
		}
		p->confirm = true;
	}
	p->ok = true;
}

/*
 * Give back ring pages (domain_mem.c) of a connection's rings, in the
 * timer's sweeps (one a second): once a ring has gone a whole period without
 * traffic, or once it has moved on by more than TRIM_BUSY_BYTES since its
 * pages were last given back. A connection so costs what it carried lately,
 * not its ring size.
 *
 * Each trim costs every process that maps the ring file a TLB shootdown (an
 * interrupt of its CPU, several us on a VM), so busy rings are trimmed
 * sparingly: with a 16 KiB step, each ring of 10,000 ping-pong connections
 * (6-8 KB a second each) was trimmed every second or third sweep, and the
 * benchmark's two CPUs took 25,600-34,400 cross-CPU interrupts in 4 s
 * (kernel TCP: 8,000-9,500; now 3,400-3,800). So a busy ring waits for
 * 64 KiB, and one sweep trims at most TRIM_BUSY_MAX of them (the others
 * wait for the next one, and a ring just trimmed needs 64 KiB again, so all
 * get their turn). Idle rings are always trimmed: that is where the memory is.
 */
#define TRIM_BUSY_BYTES (64u << 10)
#define TRIM_BUSY_MAX	1024u

static void trim_rings(struct mgr *m, uint32_t i)
{
	struct xio_slot *s = xio_slot_at(m->hdr, i);
	struct mgr_seen *sn = &m->seen[i];

	for (int d = 0; d < 2; d++) {
		struct rte_ring *r = mgr_ring(s, d);
		if (!r)
			return;
		/* Bytes written, not the ring's index: a ring that rewinds (stack/ring.h) skips
		 * the rest of the ring in one step, and that is no traffic. */
		uint32_t tail = (uint32_t)atomic_load_explicit((_Atomic uint64_t *)&s->dir[d].bytes,
							       memory_order_relaxed);
		bool idle = tail == sn->tail[d];
		sn->tail[d] = tail;
		if (tail == sn->trimmed[d] && !(idle && sn->busy_trim[d]))
			continue;
		if (!idle) {
			if (tail - sn->trimmed[d] < TRIM_BUSY_BYTES ||
			    m->busy_trims >= TRIM_BUSY_MAX)
				continue;
			/* Busy in its first pages: it rewinds (stack/ring.h), so nothing
			 * beyond them to give back. (A number only: the header is shared.) */
			uint32_t at = atomic_load_explicit((_Atomic uint32_t *)&r->prod.tail,
							   memory_order_relaxed) &
				      r->mask;
			if (at < MGR_RING_BUSY_LOW / XIO_RING_ESIZE)
				continue;
			m->busy_trims++;
		}
		mgr_ring_trim(s, d, !idle);
		sn->trimmed[d] = tail;
		sn->busy_trim[d] = !idle;
	}
}

void mgr_domain_full(struct mgr *m, uint32_t in_use)
{
	uint32_t n = m->hdr->nslots;

	if (in_use >= n && !m->full_logged) {
		mgr_err("domain '%s' is full: all %u connection slots are in use; new connections "
			"use kernel TCP (xio-stat: domain_full) until some close. xio-manager "
			"--max-conns raises the limit",
			m->o.domain, n);
		m->full_logged = true;
	} else if (in_use < n - n / 10) {
		m->full_logged = false; /* a new episode is said again */
	}
}

uint32_t mgr_sweep(struct mgr *m)
{
	struct xio_domain_hdr *h = m->hdr;
	struct mgr_inoset live = {0}, again = {0};
	uint64_t now = xio_mono_ns();
	struct snap *sn;
	size_t n = 0, nconfirm = 0;
	uint32_t in_use = 0, freed = 0;
	int pending = -1;
	bool complete;

	sn = malloc(h->nslots * sizeof(*sn));
	if (!sn)
		return h->nslots; /* try again later */
	for (uint32_t i = 0; i < h->nslots; i++) {
		struct xio_slot *s = xio_slot_at(h, i);
		uint64_t w = atomic_load_explicit(&s->state, memory_order_acquire);
		uint32_t st = XIO_SLOT_STATE(w);

		if (st == XIO_SLOT_FREE || st == MGR_SLOT_RECLAIMING) {
			m->seen[i].word = w;
			if (st == XIO_SLOT_FREE && m->seen[i].warm && m->sweep_trims)
				cool(m, i, w, now);
			continue;
		}
		m->seen[i].warm = false;
		in_use++;
		if (m->seen[i].word != w)
			m->seen[i] = (struct mgr_seen){.word = w, .since_ns = now};
		if (st == XIO_SLOT_ESTABLISHED && m->sweep_trims)
			trim_rings(m, i);
		sn[n++] = (struct snap){
		    .i = i,
		    .w = w,
		    .cino = atomic_load_explicit(&s->client_ino, memory_order_acquire),
		    .sino = atomic_load_explicit(&s->server_ino, memory_order_acquire),
		};
	}
	if (!n) {
		for (size_t k = 0; k < m->n_netns; k++)
			m->netns[k].hit = false;
		goto out;
	}

	complete = dump_all(m, sn, n, &live);
	for (size_t j = 0; j < n; j++) {
		judge(m, &sn[j], &live, complete, now, &pending);
		nconfirm += sn[j].ok && sn[j].confirm;
	}
	if (nconfirm) {
		bool c2 = dump_all(m, NULL, 0, &again);
		for (size_t j = 0; j < n; j++)
			if (sn[j].ok && sn[j].confirm &&
			    (!c2 || (sn[j].cino && mgr_inoset_has(&again, sn[j].cino)) ||
			     (sn[j].sino && mgr_inoset_has(&again, sn[j].sino))))
				sn[j].ok = false;
	}
	uint32_t lowest = UINT32_MAX;
	for (size_t j = 0; j < n; j++)
		if (sn[j].ok && reclaim(m, &sn[j])) {
			freed++;
			lowest = sn[j].i < lowest ? sn[j].i : lowest;
		}
	/* Clients take the lowest slot freed next: its ring pages are still mapped. */
	if (freed)
		atomic_store_explicit(&h->alloc_hint, lowest, memory_order_relaxed);
out:
	free(sn);
	mgr_inoset_free(&live);
	mgr_inoset_free(&again);
	mgr_netns_prune(m);
	mgr_domain_full(m, in_use - freed);
	return in_use - freed;
}

/*
 * Churn: while connections come and go, a slot taken again soon after its
 * close costs nothing more (its ring pages are still mapped in both
 * processes), a fresh one a page fault per ring page in each (about 10 us of
 * a short connection's 15). So while new connections keep coming, sweep
 * every CHURN_MIN_NS, or CHURN_COST_X times a sweep's cost if that is more:
 * at most a fiftieth of a CPU however many connections there are. A sweep
 * dumps every AF_UNIX socket of the namespaces it knows (14,000 in the
 * node's namespace of the VM this was measured on: about 1 ms), and the
 * manager's CPU is taken from the connections' own on a small node (with
 * ten times the cost the sweeps were a third of the manager's CPU in a short
 * connection benchmark between pods). A slot freed stays warm for WARM_NS,
 * far longer than the period, so the slots in rotation stay warm either way.
 * No new connection since the last look: back to the one-second timer.
 */
#define CHURN_CONNS  64		 /* connections in a second that start churn sweeps */
#define CHURN_MIN_NS 10000000ull /* 10 ms */
#define CHURN_COST_X 50

static uint64_t timed_sweep(struct mgr *m)
{
	uint64_t t0 = xio_mono_ns();
	uint32_t busy = mgr_sweep(m);
	m->sweep_cost_ns = xio_mono_ns() - t0;
	return busy;
}

static void churn_arm(struct mgr *m)
{
	uint64_t ns = m->sweep_cost_ns * CHURN_COST_X > CHURN_MIN_NS
			  ? m->sweep_cost_ns * CHURN_COST_X
			  : CHURN_MIN_NS;
	struct timeval tv = {.tv_sec = (time_t)(ns / 1000000000u),
			     .tv_usec = (suseconds_t)(ns % 1000000000u / 1000u)};
	if (!evtimer_pending(m->churn_ev, NULL))
		evtimer_add(m->churn_ev, &tv);
}

static bool churning(struct mgr *m, uint64_t at_least)
{
	uint64_t now = atomic_load_explicit(&m->hdr->stats.conns_total, memory_order_relaxed);
	bool busy = now - m->churn_conns >= at_least;
	m->churn_conns = now;
	return busy;
}

static void churn_timer(evutil_socket_t fd, short what, void *arg)
{
	struct mgr *m = arg;

	(void)fd;
	(void)what;
	if (!churning(m, 1))
		return;
	timed_sweep(m);
	churn_arm(m);
}

static void sweep_timer(evutil_socket_t fd, short what, void *arg)
{
	struct mgr *m = arg;

	(void)fd;
	(void)what;
	/* Only the timer's passes trim rings: "idle" means a whole period without traffic. */
	m->sweep_trims = true;
	m->busy_trims = 0;
	uint32_t busy = timed_sweep(m);
	m->sweep_trims = false;
	/* zero-copy buffers held: see domain_mem.c; claims parked: pair.c */
	if (busy + mgr_pool_sweep(m) + mgr_pair_expire(m) > 0)
		mgr_sweep_arm(m);
	if (churning(m, CHURN_CONNS))
		churn_arm(m);
}

int mgr_sweep_timer_init(struct mgr *m)
{
	m->seen = calloc(m->o.nslots, sizeof(*m->seen));
	m->sweep_ev = evtimer_new(m->base, sweep_timer, m);
	m->churn_ev = evtimer_new(m->base, churn_timer, m);
	return m->seen && m->sweep_ev && m->churn_ev ? 0 : -ENOMEM;
}

void mgr_sweep_arm(struct mgr *m)
{
	struct timeval tv = {.tv_sec = 1};

	if (!evtimer_pending(m->sweep_ev, NULL))
		evtimer_add(m->sweep_ev, &tv);
}
