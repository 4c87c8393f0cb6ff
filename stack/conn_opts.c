/* SPDX-License-Identifier: MIT */
/*
 * Names and socket options of an X-IO connection, answered as kernel TCP
 * would: the application must not see that its fd is an AF_UNIX socket.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>

#include "addr.h"
#include "conn.h"
#include "ring.h"
#include "sys.h"

/* Highest IPPROTO_TCP option number Linux knows (TCP_AO_* in 6.x); above: ENOPROTOOPT. */
#define TCP_MAX_KNOWN 42

int xio_conn_name(struct xio_conn *c, bool peer, struct sockaddr *sa, socklen_t *len)
{
	const struct xio_endpoint *ep = peer ? &c->tuple.remote : &c->tuple.local;
	int r = xio_ep_to_sockaddr(ep, c->family, sa, len);
	return r < 0 ? r : 0;
}

static int put_int(void *val, socklen_t *len, int v)
{
	if (*len < (socklen_t)sizeof(int)) {
		/* The kernel accepts a short buffer for int options and copies a prefix. */
		if (*len == 0)
			return -EINVAL;
	}
	socklen_t n = *len < (socklen_t)sizeof(int) ? *len : (socklen_t)sizeof(int);
	memcpy(val, &v, n);
	*len = n;
	return 0;
}

/*
 * The TCP state the FINs so far would give (programs such as lighttpd tell a
 * half-closed client from a gone one by CLOSE_WAIT). After both FINs an open
 * socket is CLOSE on either side (the kernel moves TIME_WAIT to a separate
 * mini-socket).
 */
static uint8_t tcp_state(struct xio_conn *c)
{
	if (atomic_load(&c->reset) || atomic_load(&c->error))
		return TCP_CLOSE;
	bool peer_fin = atomic_load(&c->rxd->shut_wr) || atomic_load(&c->peer_eof);
	bool our_fin = atomic_load(&c->shut_wr);
	if (peer_fin && our_fin)
		return TCP_CLOSE;
	return peer_fin ? TCP_CLOSE_WAIT : our_fin ? TCP_FIN_WAIT2 : TCP_ESTABLISHED;
}

static void fill_tcp_info(struct xio_conn *c, struct tcp_info *ti)
{
	memset(ti, 0, sizeof(*ti));
	ti->tcpi_state = tcp_state(c);
	ti->tcpi_options = TCPI_OPT_TIMESTAMPS | TCPI_OPT_SACK | TCPI_OPT_WSCALE;
	ti->tcpi_snd_wscale = 7;
	ti->tcpi_rcv_wscale = 7;
	ti->tcpi_rto = 200000;
	ti->tcpi_ato = 40000;
	ti->tcpi_snd_mss = 65483;
	ti->tcpi_rcv_mss = 65483;
	ti->tcpi_pmtu = 65535;
	ti->tcpi_advmss = 65483;
	ti->tcpi_rtt = 10; /* microseconds; shared memory, no protocol round trip */
	ti->tcpi_rttvar = 5;
	ti->tcpi_snd_cwnd = 10;
	ti->tcpi_snd_ssthresh = 0x7fffffff;
	ti->tcpi_rcv_space = (uint32_t)xio_ring_capacity(c->rx);
	ti->tcpi_unacked = 0;
}

/* ---- buffer sizes ------------------------------------------------------ */

#ifndef SO_BUF_LOCK
#define SO_BUF_LOCK 72 /* Linux 5.14: which of the sizes the program set */
#endif
#define BUF_LOCK_SND 1 /* SOCK_SNDBUF_LOCK */
#define BUF_LOCK_RCV 2 /* SOCK_RCVBUF_LOCK */

/* Field @field (0-based) of the numbers in /proc/sys file @path, or @fallback. */
static uint32_t sysctl_field(const char *path, int field, uint32_t fallback)
{
	char buf[128];
	if (xio_raw_read_file(path, buf, sizeof(buf)) <= 0)
		return fallback;
	char *p = buf, *end;
	for (int i = 0;; i++) {
		unsigned long v = strtoul(p, &end, 10);
		if (end == p)
			return fallback;
		if (i == field)
			return v > 0 && v <= INT_MAX ? (uint32_t)v : fallback;
		p = end;
	}
}

/*
 * What getsockopt says on an established loopback TCP connection whose
 * program set no size: SO_SNDBUF is net.ipv4.tcp_wmem's maximum (the
 * kernel's send-buffer autotuning reaches it during the handshake on lo,
 * 64 KiB segments), SO_RCVBUF tcp_rmem's default (it grows only as the
 * program reads). Read once per process.
 */
uint32_t xio_default_sndbuf(void)
{
	static _Atomic uint32_t v;
	uint32_t r = atomic_load_explicit(&v, memory_order_relaxed);
	if (!r)
		atomic_store_explicit(&v,
				      r = sysctl_field("/proc/sys/net/ipv4/tcp_wmem", 2, 4194304),
				      memory_order_relaxed);
	return r;
}

uint32_t xio_default_rcvbuf(void)
{
	static _Atomic uint32_t v;
	uint32_t r = atomic_load_explicit(&v, memory_order_relaxed);
	if (!r)
		atomic_store_explicit(&v,
				      r = sysctl_field("/proc/sys/net/ipv4/tcp_rmem", 1, 131072),
				      memory_order_relaxed);
	return r;
}

void xio_bufs_publish(struct xio_slot *s, bool server, int kfd)
{
	int lock = 0, snd = 0, rcv = 0;
	socklen_t l = sizeof(lock);
	bool known = xio_sys.getsockopt(kfd, SOL_SOCKET, SO_BUF_LOCK, &lock, &l) == 0;
	l = sizeof(snd);
	if ((!known || (lock & BUF_LOCK_SND)) &&
	    xio_sys.getsockopt(kfd, SOL_SOCKET, SO_SNDBUF, &snd, &l) < 0)
		snd = 0;
	l = sizeof(rcv);
	if ((!known || (lock & BUF_LOCK_RCV)) &&
	    xio_sys.getsockopt(kfd, SOL_SOCKET, SO_RCVBUF, &rcv, &l) < 0)
		rcv = 0;
	if (!known) /* before 5.14: a size other than the unconnected socket's default was set */
		lock = (snd != (int)sysctl_field("/proc/sys/net/ipv4/tcp_wmem", 1, 16384)
			    ? BUF_LOCK_SND
			    : 0) |
		       (rcv != (int)sysctl_field("/proc/sys/net/ipv4/tcp_rmem", 1, 131072)
			    ? BUF_LOCK_RCV
			    : 0);
	int tx = server ? XIO_DIR_S2C : XIO_DIR_C2S;
	/* Defaults resolved here: ends whose namespaces differ in sysctls agree on the limit. */
	atomic_store(&s->dir[tx].sndbuf,
		     (lock & BUF_LOCK_SND) && snd > 0 ? (uint32_t)snd : xio_default_sndbuf());
	atomic_store(&s->dir[!tx].rcvbuf,
		     (lock & BUF_LOCK_RCV) && rcv > 0 ? (uint32_t)rcv : xio_default_rcvbuf());
	if (!server) {
		atomic_store(&s->dir[!tx].sndbuf, 0);
		atomic_store(&s->dir[tx].rcvbuf, 0);
	}
}

/* A published size, or the default when none is (0). */
static int buf_size(_Atomic uint32_t *w, bool snd)
{
	uint32_t v = atomic_load(w);
	if (!v)
		v = snd ? xio_default_sndbuf() : xio_default_rcvbuf();
	return v > INT_MAX ? INT_MAX : (int)v;
}

int xio_conn_sndbuf(struct xio_conn *c)
{
	return buf_size(&c->txd->sndbuf, true);
}

/*
 * SO_SNDBUF, SO_RCVBUF and their *FORCE forms: the kernel applies them to
 * our AF_UNIX end by the rules it has for TCP too (sock_setsockopt: the
 * value doubled, clamped to net.core.wmem_max/rmem_max unless *FORCE, which
 * wants CAP_NET_ADMIN, at least SOCK_MIN_SNDBUF/RCVBUF); what it reports is
 * published for the peer. (That end carries doorbells of a byte, at most a
 * few at a time, so its own sizes do not matter until it is demoted, and
 * then they are the ones the program asked for.)
 */
static int set_buf(struct xio_conn *c, int fd, int name, const void *val, socklen_t len)
{
	if (xio_sys.setsockopt(fd, SOL_SOCKET, name, val, len) < 0)
		return -errno;
	bool snd = name == SO_SNDBUF || name == SO_SNDBUFFORCE;
	int v = 0;
	socklen_t l = sizeof(v);
	if (xio_sys.getsockopt(fd, SOL_SOCKET, snd ? SO_SNDBUF : SO_RCVBUF, &v, &l) < 0)
		return -errno;
	atomic_store(snd ? &c->txd->sndbuf : &c->rxd->rcvbuf, v > 0 ? (uint32_t)v : 1u);
	if (!snd)
		xio_conn_bell_space(c, fd); /* a larger window: a writer waiting for it goes on */
	return 0;
}

static void remember_tcp_opt(struct xio_conn *c, int name, int value)
{
	for (int i = 0; i < c->ntcp_opts; i++)
		if (c->tcp_opts[i].name == name) {
			c->tcp_opts[i].value = value;
			return;
		}
	if (c->ntcp_opts < (int)(sizeof(c->tcp_opts) / sizeof(c->tcp_opts[0]))) {
		c->tcp_opts[c->ntcp_opts].name = name;
		c->tcp_opts[c->ntcp_opts++].value = value;
	}
}

static int get_tcp(struct xio_conn *c, int name, void *val, socklen_t *len)
{
	if (name < TCP_NODELAY || name > TCP_MAX_KNOWN)
		return -ENOPROTOOPT;
	for (int i = 0; i < c->ntcp_opts; i++)
		if (c->tcp_opts[i].name == name)
			return put_int(val, len, c->tcp_opts[i].value);
	switch (name) {
	case TCP_NODELAY:
		return put_int(val, len, c->nodelay);
	case TCP_CORK:
		return put_int(val, len, c->cork);
	case TCP_MAXSEG:
		return put_int(val, len, 65483);
	case TCP_KEEPIDLE:
		return put_int(val, len, 7200);
	case TCP_KEEPINTVL:
		return put_int(val, len, 75);
	case TCP_KEEPCNT:
		return put_int(val, len, 9);
	case TCP_INFO: {
		struct tcp_info ti;
		fill_tcp_info(c, &ti);
		socklen_t n = *len < (socklen_t)sizeof(ti) ? *len : (socklen_t)sizeof(ti);
		memcpy(val, &ti, n);
		*len = n;
		return 0;
	}
	case TCP_CONGESTION: {
		static const char cc[] = "cubic";
		socklen_t n = *len < (socklen_t)sizeof(cc) ? *len : (socklen_t)sizeof(cc);
		memcpy(val, cc, n);
		*len = n;
		return 0;
	}
	default:
		return put_int(val, len, 0);
	}
}

int xio_conn_getsockopt(struct xio_conn *c, int fd, int level, int name, void *val, socklen_t *len)
{
	if (!val || !len)
		return -EFAULT;
	xio_conn_check_abort(c); /* SO_ERROR and TCP_INFO see a reset at once */
	if (level == IPPROTO_TCP)
		return get_tcp(c, name, val, len);
	if (level == SOL_SOCKET) {
		switch (name) {
		case SO_TYPE:
			return put_int(val, len, SOCK_STREAM);
		case SO_DOMAIN:
			return put_int(val, len, c->family);
		case SO_PROTOCOL:
			return put_int(val, len, IPPROTO_TCP);
		case SO_ERROR:
			return put_int(val, len, atomic_exchange(&c->error, 0));
		case SO_ACCEPTCONN:
			return put_int(val, len, 0);
		case SO_SNDBUF:
			return put_int(val, len, buf_size(&c->txd->sndbuf, true));
		case SO_RCVBUF:
			return put_int(val, len, buf_size(&c->rxd->rcvbuf, false));
		case SO_KEEPALIVE:
			return put_int(val, len, c->keepalive);
		case SO_RCVLOWAT:
			return put_int(val, len, c->rcvlowat > 1 ? c->rcvlowat : 1);
		case SO_RCVTIMEO:
		case SO_SNDTIMEO: {
			const struct timeval *tv =
			    name == SO_RCVTIMEO ? &c->rcvtimeo : &c->sndtimeo;
			socklen_t n = *len < (socklen_t)sizeof(*tv) ? *len : (socklen_t)sizeof(*tv);
			memcpy(val, tv, n);
			*len = n;
			return 0;
		}
		case SO_PEERCRED: {
			/* TCP has no peer credentials: pid 0, uid and gid -1 (not the AF_UNIX
			 * peer's). */
			struct ucred cr = {.pid = 0, .uid = (uid_t)-1, .gid = (gid_t)-1};
			socklen_t n = *len < (socklen_t)sizeof(cr) ? *len : (socklen_t)sizeof(cr);
			memcpy(val, &cr, n);
			*len = n;
			return 0;
		}
		default:
			break;
		}
		if (xio_sys.getsockopt(fd, level, name, val, len) < 0)
			return errno == ENOPROTOOPT || errno == EOPNOTSUPP ? put_int(val, len, 0)
									   : -errno;
		return 0;
	}
	if (level == IPPROTO_IP || level == IPPROTO_IPV6) {
		/*
		 * Option lists are empty on TCP: length 0. (sshd drops every
		 * connection whose IP_OPTIONS are not.)
		 */
		if ((level == IPPROTO_IP && (name == IP_OPTIONS || name == IP_PKTOPTIONS)) ||
		    (level == IPPROTO_IPV6 &&
		     (name == IPV6_HOPOPTS || name == IPV6_RTHDR || name == IPV6_DSTOPTS ||
		      name == IPV6_RTHDRDSTOPTS || name == IPV6_2292PKTOPTIONS))) {
			*len = 0;
			return 0;
		}
		for (int i = 0; i < c->nip_opts; i++)
			if (c->ip_opts[i].level == level && c->ip_opts[i].name == name)
				return put_int(val, len, c->ip_opts[i].value);
		/* Linux defaults (net.ipv4.ip_default_ttl, IPv6 hop limit). */
		bool ttl = (level == IPPROTO_IP && name == IP_TTL) ||
			   (level == IPPROTO_IPV6 && name == IPV6_UNICAST_HOPS);
		return put_int(val, len, ttl ? 64 : 0);
	}
	return -ENOPROTOOPT;
}

int xio_conn_setsockopt(struct xio_conn *c, int fd, int level, int name, const void *val,
			socklen_t len)
{
	int v = 0;

	if (len > 0 && !val)
		return -EFAULT;
	if (val && len >= (socklen_t)sizeof(int))
		memcpy(&v, val, sizeof(int));
	if (level == IPPROTO_TCP) {
		if (name < TCP_NODELAY || name > TCP_MAX_KNOWN)
			return -ENOPROTOOPT;
		if (name == TCP_NODELAY) {
			c->nodelay = !!v;
			if (v)
				xio_conn_push(c,
					      fd); /* TCP_NODELAY on also pushes pending frames */
		} else if (name == TCP_CORK) {
			bool was = c->cork;
			c->cork = !!v;
			if (was && !v)
				xio_conn_push(c, fd);
		} else
			remember_tcp_opt(c, name, v); /* no meaning on a ring; reads back as set */
		return 0;
	}
	if (level == SOL_SOCKET) {
		switch (name) {
		case SO_KEEPALIVE:
			c->keepalive = !!v;
			return 0;
		case SO_SNDBUF:
		case SO_RCVBUF:
		case SO_SNDBUFFORCE:
		case SO_RCVBUFFORCE:
			return set_buf(c, fd, name, val, len);
		case SO_LINGER:
			if (len < (socklen_t)sizeof(struct linger))
				return -EINVAL;
			c->linger_abort = ((const struct linger *)val)->l_onoff &&
					  ((const struct linger *)val)->l_linger == 0;
			break; /* the kernel keeps the value for getsockopt */
		case SO_RCVLOWAT:
			if (len < (socklen_t)sizeof(int))
				return -EINVAL;
			c->rcvlowat = v < 1 ? 1 : v;
			return 0;
		case SO_RCVTIMEO:
		case SO_SNDTIMEO:
			if (len < (socklen_t)sizeof(struct timeval))
				return -EINVAL;
			memcpy(name == SO_RCVTIMEO ? &c->rcvtimeo : &c->sndtimeo, val,
			       sizeof(struct timeval));
			return 0;
		default:
			break;
		}
		if (xio_sys.setsockopt(fd, level, name, val, len) < 0)
			return errno == ENOPROTOOPT || errno == EOPNOTSUPP ? 0 : -errno;
		return 0;
	}
	if (level == IPPROTO_IP || level == IPPROTO_IPV6) {
		/* No IP header on a ring: remembered so that it reads back as set. */
		for (int i = 0; i < c->nip_opts; i++)
			if (c->ip_opts[i].level == level && c->ip_opts[i].name == name) {
				c->ip_opts[i].value = v;
				return 0;
			}
		if (c->nip_opts < (int)(sizeof(c->ip_opts) / sizeof(c->ip_opts[0]))) {
			c->ip_opts[c->nip_opts].level = level;
			c->ip_opts[c->nip_opts].name = name;
			c->ip_opts[c->nip_opts++].value = v;
		}
		return 0;
	}
	return -ENOPROTOOPT;
}
