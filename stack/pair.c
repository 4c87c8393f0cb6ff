/* SPDX-License-Identifier: MIT */
/*
 * Connections across network namespaces (pods on one node).
 *
 * Between namespaces the kernel is also the policy: routing, netfilter,
 * conntrack and DNAT decide who reaches whom. So, as SMC-D does, the kernel
 * makes the TCP connection first, every rule applies, and only then do the
 * two ends move to shared memory, once the manager has proved from kernel
 * state that the server's accepted socket is the other end of the client's
 * socket (docs/DESIGN.md, "Across network namespaces"):
 *
 *   client                         manager                     server
 *   slot ALLOCATED -> PAIRING
 *   kernel connect() ............. SYN ...
 *   pairing[] += (port, slot)
 *   PAIR_OFFER [tcp, u_srv] ---->  keeps both (no reply; on the
 *   (offer channel)                send-only offer channel)
 *                                  ... SYN-ACK, ACK ..........  accept()
 *                                                              peer port in pairing[]
 *                                  <---- PAIR_CLAIM [accepted tcp]
 *                                  (read before the offer: it waits)
 *                                  TCP_REPAIR: the sequence numbers
 *                                  of the two sockets mirror each other
 *                                  PAIRING -> ESTABLISHED
 *                                  ----> reply [u_srv]
 *   sees ESTABLISHED: X-IO                                    X-IO
 *
 * The client waits a bounded time; if no proof comes it takes the slot
 * back (PAIRING -> FREE) and the connection stays kernel TCP. That CAS and
 * the manager's PAIRING -> ESTABLISHED decide it exactly once. Neither end
 * has sent a byte before the decision, so the sequence numbers are still
 * the initial ones: equal exactly when the sockets are one connection.
 * The kernel sockets stay open (hidden) while the connection lives: `ss`
 * shows them, the ports stay reserved, and their FINs follow our close.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <rte_pause.h>

#include "addr.h"
#include "conn.h"
#include "slot.h"
#include "sys.h"
#include "wait.h"

/* How long a non-blocking connect may take before we leave it to the kernel (ms). */
#define PAIR_CONNECT_MS 20
/* How long after its connect() a client may take to announce its port (µs): see layout.h. */
#define PAIR_ANNOUNCE_US 20000
/* How long a server looks again for a client that has not announced its port yet (µs). */
#define PAIR_LOOK_AGAIN_US 5000
/*
 * ... first spinning (the client, on another CPU, announces within a few
 * µs), then yielding (a client on our CPU gets it), or, once a yield has
 * lost a slice to a busy neighbour (stack/wait.c), in naps (20 µs asked,
 * about 70 with the timer slack).
 */
#define PAIR_LOOK_SPIN_US 20
#define PAIR_LOOK_NAP_NS  20000
/*
 * How long the client waits for the server's accept and the manager's proof
 * (default, µs). Generous: on a loaded node a server thread can wait tens of
 * milliseconds for a CPU (50 ms gave kernel TCP between pods at load 16).
 */
#define PAIR_WAIT_US 200000
/* ... and once a server has found us and claims (XIO_PAIR_CLAIMING), from our connect (µs). */
#define PAIR_CLAIM_WAIT_US 2000000

static uint64_t pair_wait_us(void)
{
	long v = xio_config()->pair_wait_us;
	return v < 0 ? PAIR_WAIT_US : (uint64_t)v;
}

/* stat() of <rundir>/<domain>/@rel, without attaching. Returns 0 or -1. */
static int domain_stat(const char *rel, struct stat *st)
{
	char base[256], path[512];
	if (xio_domain_dir(base, sizeof(base)) < 0 ||
	    snprintf(path, sizeof(path), "%s/%s", base, rel) >= (int)sizeof(path))
		return -1;
	return stat(path, st);
}

/*
 * Is a listener of the domain, in some network namespace, known to serve
 * @dst? The manager keeps a directory per address and port it saw
 * published (pods/<key>/<netns>/): a stat() and no attach when there is none.
 */
static bool listener_known(const struct xio_endpoint *dst)
{
	char key[XIO_KEY_MAX], rel[XIO_KEY_MAX + 8];
	struct stat st;

	if (xio_listener_key(dst, key, sizeof(key)) < 0)
		return false;
	snprintf(rel, sizeof(rel), "pods/%s", key);
	return domain_stat(rel, &st) == 0 && S_ISDIR(st.st_mode) && st.st_nlink > 2;
}

/* The manager leaves <dir>/services when it was given --service-cidr. */
static bool services_configured(void)
{
	struct stat st;
	return domain_stat("services", &st) == 0;
}

/* Is @dst in one of the domain's service ranges (addresses the node DNATs to pods)? */
static bool service_address(const struct xio_domain_hdr *h, const struct xio_endpoint *dst)
{
	for (uint32_t i = 0; i < h->nsvc && i < XIO_SVC_MAX; i++) {
		unsigned bits = h->svc[i].prefix, full = bits / 8, rest = bits % 8;
		if (bits > 128 || memcmp(dst->addr, h->svc[i].addr, full) != 0)
			continue;
		if (rest && ((dst->addr[full] ^ h->svc[i].addr[full]) & (0xff00u >> rest) & 0xff))
			continue;
		return true;
	}
	return false;
}

/* Announce (port, slot) to servers. Returns the entry's index or -ENOSPC. */
static int table_add(struct xio_domain_hdr *h, uint16_t port, uint32_t slot)
{
	uint64_t w = XIO_PAIR_WORD(port, slot);
	for (int i = 0; i < XIO_PAIR_ENTRIES; i++) {
		uint64_t z = 0;
		if (atomic_compare_exchange_strong(&h->pairing[i], &z, w))
			return i;
	}
	return -ENOSPC;
}

static void table_del(struct xio_domain_hdr *h, int i, uint16_t port, uint32_t slot)
{
	uint64_t w = XIO_PAIR_WORD(port, slot);
	if (!atomic_compare_exchange_strong(&h->pairing[i], &w, 0)) {
		w = XIO_PAIR_WORD(port, slot) | XIO_PAIR_CLAIMING; /* a server claims */
		atomic_compare_exchange_strong(&h->pairing[i], &w, 0);
	}
}

/*
 * How long the client spins for the proof before it sleeps. The proof is
 * the server's wake-up, its accept and claim and the manager's check:
 * 40-150 µs between two pods on an idle node. Sleeping, the client leaves
 * its CPU idle, and the manager's futex wake then pays for waking that CPU
 * (15-25 µs on this VM) and the client for coming back from it; spinning,
 * the wake finds nobody to wake, and the manager, woken by the server's
 * claim, is placed on the server's CPU (the server sleeps in the claim's
 * reply) rather than on an idle one. The spin learns, as the native API's
 * reads do (wait.h, xio_spin_adapt): twice the recent proofs' time, between
 * the plain spin and PAIR_SPIN_US (XIO_PAIR_SPIN_US; 0: never spin); a
 * proof that took longer than that, on a loaded node, brings it back to
 * the plain spin, so a client does not burn its CPU share waiting for a
 * server that has none. Never where spinning is off (one CPU, --spin 0),
 * never longer than the pairing wait. The cap is short because a spin that
 * does not yield can hold up the very manager it waits for when the
 * scheduler queued the manager on the client's CPU (with both CPUs busy it
 * runs there only once the spinner's slice or spin ends): 200 µs made short
 * connections slower than no spin at a load average of 4-5 (p50 187 µs
 * against 123 µs, 8 interleaved runs), while the proof after the client's
 * offer takes about 40 µs on a quiet node.
 */
#define PAIR_SPIN_US 60

static struct xio_spin_adapt pair_adapt; /* one per process: the node's proofs */

/*
 * The server spins for its claim's answer the same way, within the same
 * cap. Sleeping in the reply, it leaves its CPU idle; the manager, woken by
 * the client's offer, then often runs on the client's CPU, and its answer
 * has to bring the server's CPU back from idle (15-25 us on this VM), on
 * the critical path of every connection between pods. Spinning, the
 * answer is read as soon as it is sent: short connections between two
 * pods went from 0.8x to 1.0x veth TCP, the median from 80 to 50 us
 * (docs/DESIGN.md, Costs).
 */
static struct xio_spin_adapt claim_adapt;

static int pair_spin_cap_us(void)
{
	int v = xio_config()->pair_spin_us;
	if (v < 0)
		v = PAIR_SPIN_US;
	if (xio_spin_us() <= 0)
		v = 0;
	return (uint64_t)v < pair_wait_us() ? v : (int)pair_wait_us();
}

/*
 * How long a pairing wait spins, learned in @a: into *@base the plain spin
 * and *@cap the cap that xio_spin_adapt_learn() wants afterwards (0: no
 * spin, nothing to learn: spinning is off, or the thread is crowded).
 */
static int pair_spin_us(struct xio_spin_adapt *a, int *base, int *cap)
{
	*cap = xio_spin_crowded() ? 0 : pair_spin_cap_us();
	*base = xio_spin_us() < *cap ? xio_spin_us() : *cap;
	return *cap > 0 ? xio_spin_adapt_us(a, *base, *cap) : 0;
}

/*
 * Spin until the slot's state word is no longer @w or @spin_ns passed;
 * returns the last word read. No sched_yield() here, unlike the readiness
 * engine's spin: a yield hands a CPU-bound neighbour the rest of its slice
 * (3-4 ms seen here), longer than the whole wait, while the manager and the
 * server, woken, preempt a spinner anyway. The spin is short and bounded.
 */
static uint64_t spin_state(struct xio_slot *s, uint64_t w, int64_t spin_ns)
{
	int64_t end = xio_mono_ns() + spin_ns;
	uint64_t cur = w;
	while (cur == w && xio_mono_ns() < end)
		for (int i = 0; i < 16 && cur == w; i++) {
			rte_pause();
			cur = atomic_load_explicit(&s->state, memory_order_acquire);
		}
	return cur;
}

static int pair_call(uint16_t type, struct xio_slot *s, uint32_t token, const int *fds, int nfds,
		     int *reply_fd, int spin_us)
{
	struct xio_ctl_pair req = {.slot = s->index, .token = token, .pid = xio_self_pid()};
	struct xio_msg_hdr rep;
	xio_msg_init(&req.hdr, type, sizeof(req));
	ssize_t n = xio_control_call_spin(&req, sizeof(req), fds, nfds, &rep, sizeof(rep), reply_fd,
					  spin_us);
	int r = n < 0 ? (int)n : xio_msg_check(&rep, (size_t)n, XIO_CTL_REPLY, sizeof(rep));
	if (r == 0 && rep.status < 0)
		r = rep.status;
	if (r < 0 && reply_fd && *reply_fd >= 0) {
		xio_sys.close(*reply_fd);
		*reply_fd = -1;
	}
	return r;
}

/*
 * PAIR_OFFER, or PAIR_ABANDON, without waiting for an answer (none comes).
 * On the offer channel (@late) it follows our SYN: the manager reads it
 * while the server accepts and parks a claim it reads first until it
 * comes. The channel is not the control connection, which a thread of this
 * very process accepting us (a Service address that leads back to it) may
 * hold while its claim waits for this offer. Without a channel (a manager
 * that has none, an error) the offer goes before the SYN on the control
 * connection, so it is sent before any server can claim. A refused offer
 * leaves the slot PAIRING until our wait ends: TCP.
 */
static int pair_send(struct xio_domain *d, uint16_t type, struct xio_slot *s, uint32_t token,
		     const int *fds, int nfds, bool late)
{
	struct xio_ctl_pair req = {.slot = s->index, .token = token, .pid = xio_self_pid()};
	xio_msg_init(&req.hdr, type, sizeof(req));
	return late ? xio_offer_send(d, &req, sizeof(req), fds, nfds)
		    : xio_control_send(&req, sizeof(req), fds, nfds);
}

/*
 * Start the kernel connect without waiting: the SYN leaves with a port the
 * kernel chose as for any connect (a bind of our own would need a port no
 * TIME-WAIT socket holds, and short connections run out of those), and
 * the server cannot accept before the SYN-ACK comes back, by which time
 * the port is announced. Returns 0 (done at once), -EINPROGRESS or -errno.
 */
static int start_connect(int fd, const struct sockaddr *sa, socklen_t len, int fl, uint16_t *port)
{
	if (!(fl & O_NONBLOCK) && xio_sys.fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	int r = xio_sys.connect(fd, sa, len) == 0 ? 0 : -errno;
	int e = errno;
	if (!(fl & O_NONBLOCK))
		xio_sys.fcntl(fd, F_SETFL, fl);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct xio_endpoint ep;
	if ((r == 0 || r == -EINPROGRESS) &&
	    (xio_sys.getsockname(fd, (struct sockaddr *)&ss, &sl) < 0 ||
	     xio_ep_from_sockaddr(&ep, (struct sockaddr *)&ss, sl) < 0))
		return -EINPROGRESS; /* no port to announce: the server will not find us */
	if (r == 0 || r == -EINPROGRESS)
		*port = ep.port;
	errno = e;
	return r;
}

/*
 * Finish it as the application asked for it. A blocking connect waits as
 * the kernel's would (SO_SNDTIMEO, signals; the error is the call's). A
 * non-blocking one is given PAIR_CONNECT_MS (a handshake between pods takes
 * tens of microseconds); after that it is the application's, still in
 * progress, with SO_ERROR left for it to read. Returns 0 when connected,
 * else -errno (-EINPROGRESS included); *@refused: the kernel refused it.
 */
static int finish_connect(int fd, bool nonblock, bool *refused)
{
	struct pollfd p = {.fd = fd, .events = POLLOUT};
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	*refused = false;
	if (!nonblock) {
		struct timeval tv = {0};
		socklen_t tl = sizeof(tv);
		xio_sys.getsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, &tl);
		int ms = xio_timeval_ms(&tv), pr;
		while ((pr = xio_sys.poll(&p, 1, ms)) < 0 && errno == EINTR &&
		       xio_signal_restarts())
			;
		if (pr < 0)
			return -errno;
		if (pr == 0)
			return -EINPROGRESS; /* SO_SNDTIMEO ran out, as the kernel's connect says */
		int err = 0;
		socklen_t el = sizeof(err);
		if (xio_sys.getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
			return -errno;
		*refused = err == ECONNREFUSED || err == EHOSTUNREACH || err == ENETUNREACH;
		return -err;
	}
	if (xio_sys.poll(&p, 1, PAIR_CONNECT_MS) != 1)
		return -EINPROGRESS;
	if (xio_sys.getpeername(fd, (struct sockaddr *)&ss, &sl) == 0)
		return 0;
	/* Failed: refused or unreachable (a policy), the error still pending for the application.
	 */
	struct tcp_info ti;
	sl = sizeof(ti);
	*refused = xio_sys.getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &sl) == 0 &&
		   ti.tcpi_state == TCP_CLOSE;
	return -EINPROGRESS;
}

/*
 * Wait until the manager proved the pairing (0) or we took the slot back
 * (-ETIMEDOUT). The manager wakes the low half of the state word (a futex
 * in shared memory) when it moves the slot to ESTABLISHED.
 */
static int await_proof(struct xio_domain_hdr *h, struct xio_slot *s, uint32_t token, int ti)
{
	uint64_t start = xio_mono_us(), deadline = start + pair_wait_us();
	bool extended = false, spun = false;
	int base, cap, spin = pair_spin_us(&pair_adapt, &base, &cap);
	int64_t t0 = xio_mono_ns();
	for (;;) {
		uint64_t w = atomic_load_explicit(&s->state, memory_order_acquire);
		if (!spun && spin > 0 && w == XIO_SLOT_WORD(token, XIO_SLOT_PAIRING))
			w = spin_state(s, w, (int64_t)spin * 1000);
		spun = true;
		if (w == XIO_SLOT_WORD(token, XIO_SLOT_ESTABLISHED)) {
			if (cap > 0)
				xio_spin_adapt_learn(&pair_adapt, xio_mono_ns() - t0, true, spin,
						     base, cap);
			return 0;
		}
		if (w != XIO_SLOT_WORD(token, XIO_SLOT_PAIRING))
			return -ECONNRESET; /* reclaimed under us: cannot happen while our socket
					       lives */
		uint64_t now = xio_mono_us();
		if (now >= deadline && !extended &&
		    (atomic_load(&h->pairing[ti]) & XIO_PAIR_CLAIMING) &&
		    start + PAIR_CLAIM_WAIT_US > deadline) {
			/* a server found us and its claim is on the way: wait for its answer */
			extended = true;
			deadline = start + PAIR_CLAIM_WAIT_US;
			continue;
		}
		if (now >= deadline) {
			if (xio_slot_unpair(h, s, token) == 0) {
				if (cap > 0)
					xio_spin_adapt_learn(&pair_adapt, xio_mono_ns() - t0, false,
							     0, base, cap);
				return -ETIMEDOUT;
			}
			continue; /* proved at the last moment */
		}
		uint64_t left = deadline - now;
		struct timespec ts = {(time_t)(left / 1000000), (long)(left % 1000000) * 1000};
		xio_futex_wait((_Atomic uint32_t *)&s->state, XIO_SLOT_PAIRING, &ts);
	}
}

/* Both names of the connection as the kernel socket gives them (DNAT included). */
static void kernel_names(int fd, struct xio_tuple *t)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (xio_sys.getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
		xio_ep_from_sockaddr(&t->local, (struct sockaddr *)&ss, sl);
	sl = sizeof(ss);
	if (xio_sys.getpeername(fd, (struct sockaddr *)&ss, &sl) == 0)
		xio_ep_from_sockaddr(&t->remote, (struct sockaddr *)&ss, sl);
}

static int tcp_result(int r)
{
	if (r == 0)
		return XIO_TCP_CONNECTED;
	errno = -r;
	return XIO_TCP_FAILED;
}

int xio_pair_connect(int fd, const struct sockaddr *sa, socklen_t len,
		     const struct xio_endpoint *dst, int family, const struct xio_sock_opts *known,
		     struct xio_conn **out, bool *nonblock, enum xio_fallback *why)
{
	enum xio_fallback attach_why;
	int sv[2] = {-1, -1};
	uint16_t port = 0;
	uint32_t token;
	struct stat st;

	/* A Service address needs the domain header to tell: only attach if one is set. */
	bool hinted = listener_known(dst);
	struct xio_domain *d = hinted ? xio_domain_get(&attach_why) : xio_domain_peek();
	if (!hinted && !d && !services_configured())
		return XIO_NOT_CARRIED;
	if (!d)
		d = xio_domain_get(&attach_why);
	if (!d || !d->hdr->pair_ok || atomic_load(&d->hdr->kill_switch) ||
	    (!hinted && !service_address(d->hdr, dst)))
		return XIO_NOT_CARRIED;
	int fl = xio_sys.fcntl(fd, F_GETFL);
	*why = XIO_FB_ERROR; /* from here on a refusal is ours to count */
	if (fl < 0)
		return XIO_NOT_CARRIED;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0 ||
	    fstat(sv[0], &st) < 0)
		goto not_carried;
	struct xio_slot *s = xio_connect_alloc_slot(d, st.st_ino, &token);
	if (!s) {
		*why = XIO_FB_DOMAIN_FULL;
		goto not_carried;
	}
	s->client = *dst; /* the real names come from the kernel socket below */
	s->server = *dst;
	s->client_pid = xio_self_pid();
	s->netns[0] = xio_netns_ino();
	xio_bufs_publish(s, false, fd);
	/* Named as connect.c names its end: an exec'd image or a receiver adopts it by that. */
	struct sockaddr_un an;
	socklen_t anl;
	int ti = -1, r = xio_conn_abstract_name(&an, &anl, d->generation, s->index, token);
	if (r == 0 && xio_sys.bind(sv[0], (struct sockaddr *)&an, anl) < 0)
		r = -errno;
	if (r == 0)
		r = xio_slot_pairing(s, token);
	/* the offer follows the SYN when it can: on the offer channel, made now */
	bool late = r == 0 && xio_offer_channel(d) == 0, offered = false;
	if (r == 0 && !late) {
		r = pair_send(d, XIO_CTL_PAIR_OFFER, s, token, (int[]){fd, sv[1]}, 2, false);
		offered = r == 0;
	}
	if (r < 0) {
		if (xio_slot_unpair(d->hdr, s, token) < 0)
			xio_slot_abort(d->hdr, s, token);
		goto not_carried;
	}
	if (!late) {
		xio_sys.close(sv[1]); /* the manager holds it for the server */
		sv[1] = -1;
	}

	/*
	 * The kernel connects. Over veth the whole handshake can be done before
	 * connect() returns, so a server that accepts us at once and finds no
	 * entry looks again for a moment (pair_announcing_until).
	 */
	bool refused = false;
	uint64_t until = xio_mono_us() + PAIR_ANNOUNCE_US,
		 cur = atomic_load(&d->hdr->pair_announcing_until);
	while (cur < until &&
	       !atomic_compare_exchange_weak(&d->hdr->pair_announcing_until, &cur, until))
		;
	atomic_fetch_add(&d->hdr->pair_announcing, 1);
	int kr = start_connect(fd, sa, len, fl, &port);
	if (port) {
		s->client.port = port;
		ti = table_add(d->hdr, port, s->index); /* -ENOSPC: no server finds us, TCP */
	}
	bool announced = ti >= 0; /* a server may have claimed: the manager must hear of us */
	atomic_fetch_sub(&d->hdr->pair_announcing, 1);
	if (late) {
		/*
		 * After the SYN: the manager reads the offer while the server
		 * accepts, and a connect the kernel refused at once costs it
		 * nothing. Measured 139 us against 172 us per short connection
		 * (docs/DESIGN.md, Costs).
		 */
		if ((kr == 0 || kr == -EINPROGRESS) && ti >= 0)
			offered = pair_send(d, XIO_CTL_PAIR_OFFER, s, token, (int[]){fd, sv[1]}, 2,
					    true) == 0;
		if (!offered && ti >= 0) {
			table_del(d->hdr, ti, port, s->index);
			ti = -1;
		}
		xio_sys.close(sv[1]); /* the manager holds it for the server */
		sv[1] = -1;
	}
	if (kr == -EINPROGRESS)
		kr = finish_connect(fd, fl & O_NONBLOCK, &refused);
	else if (kr < 0)
		refused = kr == -ECONNREFUSED || kr == -EHOSTUNREACH || kr == -ENETUNREACH;
	r = kr == 0 && ti >= 0 ? await_proof(d->hdr, s, token, ti)
			       : xio_slot_unpair(d->hdr, s, token);
	if (ti >= 0)
		table_del(d->hdr, ti, port, s->index);
	if (kr == 0 && ti < 0)
		r = -ETIMEDOUT; /* connected, but no server could have found us */
	if (kr < 0 || r < 0) {
		/*
		 * The kernel's connection, whatever became of it: the manager lets
		 * go of it and refuses a claim parked on the slot. On the channel
		 * it follows the offer; a claim parked on a slot announced but
		 * never offered (the send failed) is refused by the manager's
		 * timer if this abandon cannot reach it either.
		 */
		if ((offered || announced) &&
		    (!late || pair_send(d, XIO_CTL_PAIR_ABANDON, s, token, NULL, 0, true) < 0))
			pair_call(XIO_CTL_PAIR_ABANDON, s, token, NULL, 0, NULL, 0);
		xio_sys.close(sv[0]);
		if (kr == 0) {
			/* connected, but no proof came (await_proof's only failure) */
			xio_count_fallback(XIO_FB_PAIR_UNPROVEN);
			xio_log(1,
				"connect to port %u from port %u: no proof of the other end, "
				"kernel TCP",
				(unsigned)dst->port, (unsigned)port);
			return tcp_result(0);
		}
		/*
		 * The kernel's own answer (the slot nobody could claim was given back
		 * above); refused, unreachable or unanswered (DROP): the policy said no.
		 */
		if (refused || (kr != -EINPROGRESS && kr != -EINTR))
			xio_count_fallback(XIO_FB_PAIR_POLICY);
		return tcp_result(kr);
	}

	/* Proved: from here on as a connect through a rendezvous (connect.c). */
	struct xio_conn *c = xio_conn_new(d, s, false);
	if (!c) {
		xio_sys.close(sv[0]);
		return -ENOMEM; /* the server has the connection: TCP would be a second one */
	}
	c->family = family;
	c->token = token;
	kernel_names(fd, &c->tuple);
	s->client = c->tuple.local;
	s->server = c->tuple.remote;
	xio_connect_inherit_options(c, fd, known);
	c->port_holder = xio_connect_hold_port(fd);
	r = xio_connect_take_over_fd(fd, sv[0], nonblock);
	if (r < 0) {
		xio_sys.close(sv[0]);
		xio_conn_put(c);
		return r;
	}
	atomic_store_explicit(&c->peer_checked_us, xio_mono_us(), memory_order_relaxed);
	xio_conn_register(c);
	*out = c;
	return 0;
not_carried:
	if (sv[0] >= 0)
		xio_sys.close(sv[0]);
	if (sv[1] >= 0)
		xio_sys.close(sv[1]);
	return XIO_NOT_CARRIED;
}

/* The first PAIRING slot announced for @port from index @from on, or -1; its entry in *@word. */
static int find_announced(struct xio_domain *d, uint16_t port, int from, struct xio_slot **out,
			  uint32_t *token, uint64_t *word)
{
	struct xio_domain_hdr *h = d->hdr;
	for (int i = from; i < XIO_PAIR_ENTRIES; i++) {
		uint64_t e = atomic_load_explicit(&h->pairing[i], memory_order_acquire);
		if (!e || XIO_PAIR_PORT(e) != port || XIO_PAIR_SLOT(e) >= d->nslots)
			continue;
		struct xio_slot *s = xio_slot_at(h, XIO_PAIR_SLOT(e));
		uint64_t w = atomic_load_explicit(&s->state, memory_order_acquire);
		if (XIO_SLOT_STATE(w) != XIO_SLOT_PAIRING)
			continue;
		*out = s;
		*token = XIO_SLOT_TOKEN(w);
		*word = e;
		return i;
	}
	return -1;
}

int xio_pair_claim(struct xio_domain *d, int t, const struct xio_endpoint *peer,
		   struct xio_slot **out, uint32_t *token)
{
	struct xio_domain_hdr *h = d->hdr;
	uint64_t e = 0;

	if (!h->pair_ok || xio_ep_is_loopback(peer))
		return -ENOENT;
	int i = find_announced(d, peer->port, 0, out, token, &e);
	/*
	 * A client may still be on its way from connect() to its entry. Read the
	 * count first, then look: a client that was counted when we accepted has
	 * its entry in the table by the time the count drops.
	 */
	uint64_t now = xio_mono_us(), end = now + PAIR_LOOK_AGAIN_US,
		 spin_end = now + PAIR_LOOK_SPIN_US;
	while (i < 0) {
		bool announcing = atomic_load(&h->pair_announcing) &&
				  now < atomic_load(&h->pair_announcing_until);
		i = find_announced(d, peer->port, 0, out, token, &e);
		if (i >= 0 || !announcing || now >= end)
			break;
		if (now < spin_end) {
			rte_pause();
		} else if (xio_spin_crowded() || !xio_spin_yield(xio_mono_ns())) {
			/* the client may be waiting for this very CPU; a busy one keeps it */
			struct timespec nap = {0, PAIR_LOOK_NAP_NS};
			nanosleep(&nap, NULL);
		}
		now = xio_mono_us();
	}
	if (i < 0)
		xio_log(2, "no client announced port %u (looked for %llu us, %u announcing)",
			(unsigned)peer->port, (unsigned long long)(now + PAIR_LOOK_AGAIN_US - end),
			(unsigned)atomic_load(&h->pair_announcing));
	for (; i >= 0; i = find_announced(d, peer->port, i + 1, out, token, &e)) {
		int u = -1;
		/* tell the client our claim is on the way (it waits longer for it) */
		uint64_t mine = e | XIO_PAIR_CLAIMING;
		bool marked = !(e & XIO_PAIR_CLAIMING) &&
			      atomic_compare_exchange_strong(&h->pairing[i], &e, mine);
		int base, cap, spin = pair_spin_us(&claim_adapt, &base, &cap);
		int64_t t0 = xio_mono_ns();
		int r = pair_call(XIO_CTL_PAIR_CLAIM, *out, *token, &t, 1, &u, spin);
		if (cap > 0)
			xio_spin_adapt_learn(&claim_adapt, xio_mono_ns() - t0, r == 0, spin, base,
					     cap);
		if (r == 0 && u >= 0)
			return u;
		if (marked) /* refused: the client need not wait for us */
			atomic_compare_exchange_strong(&h->pairing[i], &mine,
						       mine & ~XIO_PAIR_CLAIMING);
		xio_log(2, "pairing with slot %u refused: %s", (*out)->index, strerror(-r));
	}
	return -ENOENT;
}
