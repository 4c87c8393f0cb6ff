/* SPDX-License-Identifier: MIT */
/*
 * Recognising an X-IO connection from its kernel fd alone: after exec (the
 * fd table is gone) or when the fd arrived over SCM_RIGHTS. The client end
 * of every connection is bound to an abstract AF_UNIX name that encodes
 * domain, generation, slot and token; the server end's peer has that name.
 * The slot's token must still match, so a stale fd never adopts a reused
 * slot.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "conn.h"
#include "ring.h"
#include "slot.h"
#include "sys.h"

#define NAME_PREFIX "xio:"

/* Append the digits of @v in base @b (10 or 16, lower case) at @p; returns the new end. */
static char *put_uint(char *p, uint64_t v, unsigned b)
{
	char tmp[24];
	int n = 0;
	do
		tmp[n++] = "0123456789abcdef"[v % b];
	while ((v /= b) != 0);
	while (n > 0)
		*p++ = tmp[--n];
	return p;
}

int xio_conn_abstract_name(struct sockaddr_un *sa, socklen_t *len, uint64_t generation,
			   uint32_t slot, uint32_t token)
{
	/* NAME_PREFIX "<domain>:<generation hex>:<slot>:<token>", built per connect: no stdio. */
	const char *dom = xio_config()->domain;
	size_t dl = strlen(dom);
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	/* Prefix, domain (at most 63) and three numbers (at most 16 + 10 + 10) + 3 colons. */
	if (1 + strlen(NAME_PREFIX) + dl + 3 + 16 + 10 + 10 >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	char *p = sa->sun_path + 1;
	memcpy(p, NAME_PREFIX, strlen(NAME_PREFIX));
	p += strlen(NAME_PREFIX);
	memcpy(p, dom, dl);
	p += dl;
	*p++ = ':';
	p = put_uint(p, generation, 16);
	*p++ = ':';
	p = put_uint(p, slot, 10);
	*p++ = ':';
	p = put_uint(p, token, 10);
	*len = (socklen_t)(p - (char *)sa);
	return 0;
}

/* Parse an abstract name of ours; returns 0 or -EINVAL. */
static int parse_name(const struct sockaddr_un *sa, socklen_t len, uint64_t *gen, uint32_t *slot,
		      uint32_t *token)
{
	char name[sizeof(sa->sun_path)], dom[40];
	size_t n = len > offsetof(struct sockaddr_un, sun_path) + 1
		       ? len - offsetof(struct sockaddr_un, sun_path) - 1
		       : 0;
	if (n == 0 || sa->sun_path[0] != 0 || n >= sizeof(name))
		return -EINVAL;
	memcpy(name, sa->sun_path + 1, n);
	name[n] = 0;
	if (strncmp(name, NAME_PREFIX, strlen(NAME_PREFIX)) != 0)
		return -EINVAL;
	char *p = name + strlen(NAME_PREFIX), *colon = strchr(p, ':');
	if (!colon || (size_t)(colon - p) >= sizeof(dom))
		return -EINVAL;
	memcpy(dom, p, (size_t)(colon - p));
	dom[colon - p] = 0;
	if (strcmp(dom, xio_config()->domain) != 0)
		return -EINVAL;
	if (sscanf(colon + 1, "%" SCNx64 ":%" SCNu32 ":%" SCNu32, gen, slot, token) != 3)
		return -EINVAL;
	return 0;
}

int xio_conn_adopt(int fd, struct xio_conn **out)
{
	struct sockaddr_un sa;
	socklen_t len = sizeof(sa);
	uint64_t gen;
	uint32_t slot, token;
	bool server = false;
	enum xio_fallback why;

	if (xio_config()->disabled)
		return XIO_NOT_CARRIED;
	if (xio_sys.getsockname(fd, (struct sockaddr *)&sa, &len) < 0 || sa.sun_family != AF_UNIX)
		return XIO_NOT_CARRIED;
	if (parse_name(&sa, len, &gen, &slot, &token) < 0) {
		/* Not a client end: a server end has the client's name as its peer. */
		if (len <= offsetof(struct sockaddr_un, sun_path) || sa.sun_path[0] == 0)
			return XIO_NOT_CARRIED;
		len = sizeof(sa);
		if (xio_sys.getpeername(fd, (struct sockaddr *)&sa, &len) < 0 ||
		    parse_name(&sa, len, &gen, &slot, &token) < 0)
			return XIO_NOT_CARRIED;
		server = true;
	}
	struct xio_domain *d = xio_domain_get(&why);
	if (!d || d->generation != gen || slot >= d->hdr->nslots)
		return XIO_NOT_CARRIED; /* another generation: nothing we can map */
	struct xio_slot *s = xio_slot_at(d->hdr, slot);
	uint64_t w = atomic_load(&s->state);
	if (XIO_SLOT_TOKEN(w) != token ||
	    (XIO_SLOT_STATE(w) != XIO_SLOT_ESTABLISHED && XIO_SLOT_STATE(w) != XIO_SLOT_OFFERED))
		return XIO_NOT_CARRIED;
	struct xio_conn *c = xio_conn_new(d, s, server);
	if (!c)
		return -ENOMEM;
	c->token = token;
	c->family = (server ? s->server.family : s->client.family) ?: AF_INET;
	c->tuple.local = server ? s->server : s->client;
	c->tuple.remote = server ? s->client : s->server;
	xio_conn_register(c);
	*out = c;
	return 0;
}
