/* SPDX-License-Identifier: MIT */
/*
 * Address classification and rendezvous keys.
 *
 * A rendezvous entry lives in $XIO_RUNDIR/<domain>/rv/<netns>/<key>/ where
 * <key> is "<4|6>_<ip>_<port>" for the address a listener is bound to.
 * A client computes the keys that could serve its destination, most specific
 * first: the exact address, then the wildcard of its family, then the IPv6
 * dual-stack wildcard for IPv4 destinations.
 */
#ifndef XIO_ADDR_H
#define XIO_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "layout.h"

#define XIO_KEY_MAX  64
#define XIO_MAX_KEYS 4

/*
 * Convert a sockaddr (AF_INET or AF_INET6) to an endpoint. IPv4 and
 * v4-mapped IPv6 both become a v4-mapped address; family records what the
 * caller used. Returns 0 or -EAFNOSUPPORT / -EINVAL (short length).
 */
int xio_ep_from_sockaddr(struct xio_endpoint *ep, const struct sockaddr *sa, socklen_t len);

/*
 * Write @ep as a sockaddr of @family (AF_INET needs a v4 or v4-mapped
 * address, AF_INET6 maps IPv4 to ::ffff:a.b.c.d). Returns the length written
 * (truncated copy into @sa if *@len is smaller, as the kernel does), or
 * -EAFNOSUPPORT.
 */
int xio_ep_to_sockaddr(const struct xio_endpoint *ep, int family, struct sockaddr *sa,
		       socklen_t *len);

bool xio_ep_is_v4(const struct xio_endpoint *ep);	/* v4-mapped */
bool xio_ep_is_any(const struct xio_endpoint *ep);	/* 0.0.0.0 or :: */
bool xio_ep_is_loopback(const struct xio_endpoint *ep); /* 127.0.0.0/8 or ::1 */

/*
 * The key of a listener bound to @ep ("4_127.0.0.1_5201", "6_::_80").
 * An IPv4 listener gets a "4_" key; an IPv6 listener bound to a v4-mapped
 * address also gets a "4_" key (it only receives IPv4). Returns 0 or -ENOSPC.
 */
int xio_listener_key(const struct xio_endpoint *ep, char *key, size_t keylen);

/*
 * Keys that may serve a connect to @dst, most specific first, at most
 * XIO_MAX_KEYS. @dual_ok receives, per key, whether only listeners that
 * accept IPv4 on an IPv6 socket (IPV6_V6ONLY off) may serve it.
 * Returns the number of keys written.
 */
int xio_connect_keys(const struct xio_endpoint *dst, char keys[][XIO_KEY_MAX], bool dual_only[]);

/* inet_ntop-style text for logs and xio-stat ("127.0.0.1:5201", "[::1]:80"). */
void xio_ep_format(const struct xio_endpoint *ep, char *buf, size_t len);

#endif
