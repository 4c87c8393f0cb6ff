/* SPDX-License-Identifier: MIT */
/*
 * Names and socket options of an X-IO connection, answered as kernel TCP
 * would: the application must not see that its fd is an AF_UNIX socket.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>

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
			return put_int(val, len, (int)xio_ring_capacity(c->tx));
		case SO_RCVBUF:
			return put_int(val, len, (int)xio_ring_capacity(c->rx));
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
			return 0; /* the ring size is fixed per domain; getsockopt tells it */
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
