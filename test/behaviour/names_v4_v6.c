/* SPDX-License-Identifier: MIT */
/*
 * Proves: getsockname, getpeername and accept's address answer exactly as
 * TCP would — family, length, address and port — for IPv4 on 127.0.0.1,
 * IPv6 on ::1, an IPv4 wildcard listener reached at 127.0.0.1 and at
 * 127.0.0.2 (the accepted socket's name is the address the client reached;
 * the client's source is 127.0.0.1), an IPv6 dual-stack wildcard listener
 * reached by an IPv4 client (the server sees ::ffff:127.0.0.1, the client
 * sees plain IPv4), an IPv6 client on that listener, and a client that bound
 * its own port before connecting; each side's name is the other's peer; a
 * too-short buffer gets a truncated copy and the full length.
 */
#include "helpers.h"

union sa {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
	struct sockaddr_storage ss;
};

static void name_of(int fd, int peer, union sa *a, socklen_t *len)
{
	memset(a, 0xee, sizeof(*a));
	*len = sizeof(*a);
	if (peer)
		OK(getpeername(fd, &a->sa, len));
	else
		OK(getsockname(fd, &a->sa, len));
}

/* @a is @family / @ip / @port (port 0: any non-zero port). */
static void is_addr(const union sa *a, socklen_t len, int family, const char *ip, uint16_t port,
		    const char *what)
{
	char got[64] = "?";
	if (a->sa.sa_family == AF_INET)
		inet_ntop(AF_INET, &a->in.sin_addr, got, sizeof(got));
	else if (a->sa.sa_family == AF_INET6)
		inet_ntop(AF_INET6, &a->in6.sin6_addr, got, sizeof(got));
	uint16_t p = ntohs(a->sa.sa_family == AF_INET ? a->in.sin_port : a->in6.sin6_port);
	socklen_t want_len =
	    family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
	if (a->sa.sa_family != family || len != want_len || strcmp(got, ip) != 0 ||
	    (port ? p != port : p == 0))
		FAIL("%s: family %d len %u %s port %u; want family %d len %u %s port %u", what,
		     a->sa.sa_family, len, got, p, family, want_len, ip, port);
	if (family == AF_INET6)
		CHECK(a->in6.sin6_flowinfo == 0 && a->in6.sin6_scope_id == 0);
}

static int same(const union sa *a, socklen_t al, const union sa *b, socklen_t bl)
{
	return al == bl && memcmp(a, b, al) == 0;
}

/*
 * Listen on @lip (family @lf, v6only off for "::"), connect from family
 * @cf to @dip; check both ends: server name @sname, client name @cname.
 */
static void check_case(int lf, const char *lip, int cf, const char *dip, const char *sname,
		       int sfam, const char *cname, int cfam, int bind_client)
{
	union sa la, da, a, b, acc;
	socklen_t len, alen, blen, acclen;
	int l = OK(socket(lf, SOCK_STREAM, 0));
	int one = 1, zero = 0;
	OK(setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)));
	memset(&la, 0, sizeof(la));
	if (lf == AF_INET6) {
		OK(setsockopt(l, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)));
		la.in6.sin6_family = AF_INET6;
		CHECK(inet_pton(AF_INET6, lip, &la.in6.sin6_addr) == 1);
		len = sizeof(la.in6);
	} else {
		la.in = sin_of(lip, 0);
		len = sizeof(la.in);
	}
	OK(bind(l, &la.sa, len));
	OK(listen(l, 8));
	require_xio_listener(l);
	name_of(l, 0, &la, &len);
	uint16_t port = ntohs(lf == AF_INET ? la.in.sin_port : la.in6.sin6_port);

	int c = OK(socket(cf, SOCK_STREAM, 0));
	uint16_t cport = 0;
	if (bind_client) {
		union sa ba;
		memset(&ba, 0, sizeof(ba));
		ba.in = sin_of("127.0.0.1", 0);
		OK(bind(c, &ba.sa, sizeof(ba.in)));
		name_of(c, 0, &ba, &len);
		cport = ntohs(ba.in.sin_port);
	}
	memset(&da, 0, sizeof(da));
	if (cf == AF_INET6) {
		da.in6.sin6_family = AF_INET6;
		da.in6.sin6_port = htons(port);
		CHECK(inet_pton(AF_INET6, dip, &da.in6.sin6_addr) == 1);
		len = sizeof(da.in6);
	} else {
		da.in = sin_of(dip, port);
		len = sizeof(da.in);
	}
	OK(connect(c, &da.sa, len));
	memset(&acc, 0xee, sizeof(acc));
	acclen = sizeof(acc);
	int s = OK(accept(l, &acc.sa, &acclen));
	require_xio(c);
	require_xio(s);

	char what[160];
	snprintf(what, sizeof(what), "listen %s, connect %s", lip, dip);
	name_of(s, 0, &a, &alen);
	is_addr(&a, alen, sfam, sname, port, what);
	name_of(c, 1, &b, &blen);
	is_addr(&b, blen, cfam, dip, port, what);
	name_of(c, 0, &a, &alen);
	is_addr(&a, alen, cfam, cname, cport, what);
	name_of(s, 1, &b, &blen);
	/* The server's peer is the client's name, in the server's family. */
	const char *peer_ip = sfam == AF_INET6 && cfam == AF_INET ? "::ffff:127.0.0.1" : cname;
	is_addr(&b, blen, sfam, peer_ip,
		ntohs(a.sa.sa_family == AF_INET ? a.in.sin_port : a.in6.sin6_port), what);
	if (sfam == cfam)
		CHECK(same(&a, alen, &b, blen));
	/* accept's address is getpeername's. */
	CHECK(same(&acc, acclen, &b, blen));
	close(c);
	close(s);
	close(l);
}

int main(void)
{
	watchdog(20);
	setvbuf(stdout, NULL, _IONBF, 0);
	check_case(AF_INET, "127.0.0.1", AF_INET, "127.0.0.1", "127.0.0.1", AF_INET, "127.0.0.1",
		   AF_INET, 0);
	check_case(AF_INET6, "::1", AF_INET6, "::1", "::1", AF_INET6, "::1", AF_INET6, 0);
	check_case(AF_INET, "0.0.0.0", AF_INET, "127.0.0.1", "127.0.0.1", AF_INET, "127.0.0.1",
		   AF_INET, 0);
	check_case(AF_INET, "0.0.0.0", AF_INET, "127.0.0.2", "127.0.0.2", AF_INET, "127.0.0.1",
		   AF_INET, 0);
	check_case(AF_INET6, "::", AF_INET, "127.0.0.1", "::ffff:127.0.0.1", AF_INET6, "127.0.0.1",
		   AF_INET, 0);
	check_case(AF_INET6, "::", AF_INET6, "::1", "::1", AF_INET6, "::1", AF_INET6, 0);
	check_case(AF_INET, "127.0.0.1", AF_INET, "127.0.0.1", "127.0.0.1", AF_INET, "127.0.0.1",
		   AF_INET, 1);

	/* A too-short buffer: truncated copy, full length reported. */
	int c, s;
	make_pair(&c, &s);
	union sa full, part;
	socklen_t flen = sizeof(full), plen = 4;
	OK(getsockname(s, &full.sa, &flen));
	memset(&part, 0xee, sizeof(part));
	OK(getsockname(s, &part.sa, &plen));
	CHECK_EQ(plen, sizeof(struct sockaddr_in));
	CHECK(memcmp(&part, &full, 4) == 0);
	CHECK_EQ(((unsigned char *)&part)[4], 0xee);
	plen = 4;
	memset(&part, 0xee, sizeof(part));
	OK(getpeername(c, &part.sa, &plen));
	CHECK_EQ(plen, sizeof(struct sockaddr_in));
	CHECK_EQ(((unsigned char *)&part)[4], 0xee);
	close(c);
	close(s);

	printf("names_v4_v6: ok\n");
	return 0;
}
