/* SPDX-License-Identifier: MIT */
/*
 * Address classification and rendezvous keys (see addr.h).
 *
 * Everything is computed from the v4-mapped form kept in struct xio_endpoint,
 * so an IPv4 application and an IPv6 application that talk about the same
 * IPv4 address always agree on keys and classification.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "addr.h"

/* ::ffff:0:0/96, the prefix of a v4-mapped address. */
static const uint8_t v4mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/*
 * Kernels accept an IPv6 sockaddr without sin6_scope_id (the RFC 2133 size);
 * we must too, or a program that the kernel serves would be refused by us.
 */
#define SIN6_LEN_RFC2133 24

static void ep_set_v4(struct xio_endpoint *ep, const struct in_addr *a)
{
	memcpy(ep->addr, v4mapped_prefix, sizeof(v4mapped_prefix));
	memcpy(ep->addr + 12, &a->s_addr, 4);
}

int xio_ep_from_sockaddr(struct xio_endpoint *ep, const struct sockaddr *sa, socklen_t len)
{
	sa_family_t family;

	if (!ep || !sa || len < sizeof(family))
		return -EINVAL;
	/* The caller's buffer need not be aligned for sockaddr_in6; copy out. */
	memcpy(&family, (const char *)sa + offsetof(struct sockaddr, sa_family), sizeof(family));

	if (family == AF_INET) {
		struct sockaddr_in sin;

		if (len < sizeof(sin))
			return -EINVAL;
		memcpy(&sin, sa, sizeof(sin));
		memset(ep, 0, sizeof(*ep));
		ep_set_v4(ep, &sin.sin_addr);
		ep->port = ntohs(sin.sin_port);
		ep->family = AF_INET;
		return 0;
	}
	if (family == AF_INET6) {
		struct sockaddr_in6 sin6;

		if (len < SIN6_LEN_RFC2133)
			return -EINVAL;
		memset(&sin6, 0, sizeof(sin6));
		memcpy(&sin6, sa, len < sizeof(sin6) ? len : sizeof(sin6));
		memset(ep, 0, sizeof(*ep));
		memcpy(ep->addr, &sin6.sin6_addr, sizeof(ep->addr));
		ep->port = ntohs(sin6.sin6_port);
		ep->family = AF_INET6;
		return 0;
	}
	return -EAFNOSUPPORT;
}

int xio_ep_to_sockaddr(const struct xio_endpoint *ep, int family, struct sockaddr *sa,
		       socklen_t *len)
{
	union {
		struct sockaddr_in sin;
		struct sockaddr_in6 sin6;
	} u;
	socklen_t full;

	if (!ep || !len)
		return -EINVAL;
	memset(&u, 0, sizeof(u));
	if (family == AF_INET) {
		/* An IPv6 address has no AF_INET spelling; the kernel says the same. */
		if (!xio_ep_is_v4(ep))
			return -EAFNOSUPPORT;
		u.sin.sin_family = AF_INET;
		u.sin.sin_port = htons(ep->port);
		memcpy(&u.sin.sin_addr.s_addr, ep->addr + 12, 4);
		full = sizeof(u.sin);
	} else if (family == AF_INET6) {
		/* The endpoint is already v4-mapped when IPv4, as an AF_INET6 socket sees it. */
		u.sin6.sin6_family = AF_INET6;
		u.sin6.sin6_port = htons(ep->port);
		memcpy(&u.sin6.sin6_addr, ep->addr, sizeof(ep->addr));
		full = sizeof(u.sin6);
	} else {
		return -EAFNOSUPPORT;
	}
	/*
	 * getsockname/accept semantics: copy what fits, report the real length
	 * so the caller can tell it was truncated.
	 */
	if (sa && *len > 0)
		memcpy(sa, &u, *len < full ? *len : full);
	*len = full;
	return (int)full;
}

bool xio_ep_is_v4(const struct xio_endpoint *ep)
{
	return memcmp(ep->addr, v4mapped_prefix, sizeof(v4mapped_prefix)) == 0;
}

bool xio_ep_is_any(const struct xio_endpoint *ep)
{
	static const uint8_t zero[16];

	/* "::" and "::ffff:0.0.0.0" (0.0.0.0 as we store it). */
	if (xio_ep_is_v4(ep))
		return memcmp(ep->addr + 12, zero, 4) == 0;
	return memcmp(ep->addr, zero, sizeof(zero)) == 0;
}

bool xio_ep_is_loopback(const struct xio_endpoint *ep)
{
	static const uint8_t v6_loopback[16] = {[15] = 1};

	if (xio_ep_is_v4(ep))
		return ep->addr[12] == 127;
	return memcmp(ep->addr, v6_loopback, sizeof(v6_loopback)) == 0;
}

/* Address text of a key: dotted quad for IPv4 (v4-mapped too), RFC 5952 IPv6 otherwise. */
static void ep_ip_text(const struct xio_endpoint *ep, char *buf, size_t len)
{
	if (xio_ep_is_v4(ep))
		inet_ntop(AF_INET, ep->addr + 12, buf, len);
	else
		inet_ntop(AF_INET6, ep->addr, buf, len);
}

static int make_key(const struct xio_endpoint *ep, char *key, size_t keylen)
{
	char ip[INET6_ADDRSTRLEN];
	int n;

	ep_ip_text(ep, ip, sizeof(ip));
	n = snprintf(key, keylen, "%c_%s_%u", xio_ep_is_v4(ep) ? '4' : '6', ip, (unsigned)ep->port);
	if (n < 0 || (size_t)n >= keylen) {
		/* Never leave a truncated key behind: it could name another listener. */
		if (keylen > 0)
			key[0] = '\0';
		return -ENOSPC;
	}
	return 0;
}

int xio_listener_key(const struct xio_endpoint *ep, char *key, size_t keylen)
{
	/*
	 * The key follows the address, not ep->family: an AF_INET6 socket bound
	 * to ::ffff:a.b.c.d can only ever receive IPv4, exactly like an
	 * AF_INET socket bound to a.b.c.d.
	 */
	return make_key(ep, key, keylen);
}

int xio_connect_keys(const struct xio_endpoint *dst, char keys[][XIO_KEY_MAX], bool dual_only[])
{
	struct xio_endpoint d = *dst, any;
	int n = 0;

	/*
	 * Linux routes a connect to 0.0.0.0 or :: to the loopback address, so
	 * the listeners that can answer are those of 127.0.0.1 / ::1 (and the
	 * wildcards below). Without this the exact key would repeat a wildcard.
	 */
	if (xio_ep_is_any(&d)) {
		if (xio_ep_is_v4(&d))
			d.addr[12] = 127;
		d.addr[15] = 1;
	}

	memset(&any, 0, sizeof(any));
	any.port = d.port;

	/* Keys are at most "6_" + INET6_ADDRSTRLEN-1 + "_65535", well below XIO_KEY_MAX. */
	make_key(&d, keys[n], XIO_KEY_MAX);
	if (dual_only)
		dual_only[n] = false;
	n++;

	if (xio_ep_is_v4(&d)) {
		memcpy(any.addr, v4mapped_prefix, sizeof(v4mapped_prefix));
		make_key(&any, keys[n], XIO_KEY_MAX);
		if (dual_only)
			dual_only[n] = false;
		n++;
		/* An IPv6 wildcard listener serves IPv4 only with IPV6_V6ONLY off. */
		memset(any.addr, 0, sizeof(any.addr));
		make_key(&any, keys[n], XIO_KEY_MAX);
		if (dual_only)
			dual_only[n] = true;
		n++;
	} else {
		make_key(&any, keys[n], XIO_KEY_MAX);
		if (dual_only)
			dual_only[n] = false;
		n++;
	}
	return n;
}

void xio_ep_format(const struct xio_endpoint *ep, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	if (!buf || len == 0)
		return;
	/* Show the address as the application sees it: an AF_INET6 socket sees ::ffff:a.b.c.d. */
	if (xio_ep_is_v4(ep) && ep->family != AF_INET6) {
		inet_ntop(AF_INET, ep->addr + 12, ip, sizeof(ip));
		snprintf(buf, len, "%s:%u", ip, (unsigned)ep->port);
	} else {
		inet_ntop(AF_INET6, ep->addr, ip, sizeof(ip));
		snprintf(buf, len, "[%s]:%u", ip, (unsigned)ep->port);
	}
}
