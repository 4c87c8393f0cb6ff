/* SPDX-License-Identifier: MIT */
/*
 * Proves that stack/addr.c classifies addresses (v4-mapped, wildcard,
 * loopback) as Linux does, that listener and connect rendezvous keys match
 * each other for every IPv4/IPv6/v4-mapped/wildcard combination, that
 * sockaddr conversion round-trips, truncates like getsockname() and agrees
 * with what the kernel itself reports, and that bad input is refused with
 * the documented errno and without touching the output.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "addr.h"
#include "helpers.h"
#include "sys.h"

/* ---- classification ------------------------------------------------------ */

static const struct {
	const char *ip;
	bool v4, any, loopback;
} classes[] = {
    {"1.2.3.4", true, false, false},
    {"::ffff:1.2.3.4", true, false, false},
    {"0.0.0.0", true, true, false},
    {"::ffff:0.0.0.0", true, true, false},
    {"::", false, true, false},
    {"0.0.0.1", true, false, false},
    {"::ffff:0.0.0.1", true, false, false},
    {"127.0.0.1", true, false, true},
    {"127.0.0.0", true, false, true},
    {"127.255.255.254", true, false, true},
    {"127.1.2.3", true, false, true},
    {"::ffff:127.0.0.1", true, false, true},
    {"::ffff:127.9.9.9", true, false, true},
    {"126.255.255.255", true, false, false},
    {"128.0.0.1", true, false, false},
    {"::ffff:128.0.0.1", true, false, false},
    {"::1", false, false, true},
    {"::2", false, false, false},
    {"::1:0:0:1", false, false, false},
    {"1::1", false, false, false},
    {"::127.0.0.1", false, false, false}, /* IPv4-compatible, not mapped */
    {"::fffe:1.2.3.4", false, false, false},
    {"::ffff:0:0:0", false, false, false}, /* SIIT prefix, not mapped */
    {"fe80::1", false, false, false},
    {"2001:db8::1", false, false, false},
};

START_TEST(test_classify)
{
	struct xio_endpoint ep = xt_ep(classes[_i].ip, 80);

	ck_assert_msg(xio_ep_is_v4(&ep) == classes[_i].v4, "is_v4(%s)", classes[_i].ip);
	ck_assert_msg(xio_ep_is_any(&ep) == classes[_i].any, "is_any(%s)", classes[_i].ip);
	ck_assert_msg(xio_ep_is_loopback(&ep) == classes[_i].loopback, "is_loopback(%s)",
		      classes[_i].ip);
}
END_TEST

/* ---- listener keys -------------------------------------------------------- */

static const struct {
	const char *ip;
	uint16_t port;
	const char *key;
} lkeys[] = {
    {"127.0.0.1", 5201, "4_127.0.0.1_5201"},
    {"0.0.0.0", 80, "4_0.0.0.0_80"},
    {"::1", 8080, "6_::1_8080"},
    {"::", 5201, "6_::_5201"},
    {"::ffff:1.2.3.4", 443, "4_1.2.3.4_443"}, /* v4-mapped IPv6 listener: IPv4 only */
    {"::ffff:0.0.0.0", 80, "4_0.0.0.0_80"},
    {"::ffff:127.0.0.1", 1, "4_127.0.0.1_1"},
    {"127.1.2.3", 65535, "4_127.1.2.3_65535"},
    {"10.0.0.1", 0, "4_10.0.0.1_0"},
    {"2001:db8::1", 22, "6_2001:db8::1_22"},
    {"2001:DB8:0:0:0:0:0:1", 22, "6_2001:db8::1_22"}, /* one spelling per address */
    {"::7f00:1", 7, "6_::127.0.0.1_7"},		      /* IPv4-compatible: glibc spelling */
    {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535,
     "6_ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff_65535"},
};

START_TEST(test_listener_key)
{
	struct xio_endpoint ep = xt_ep(lkeys[_i].ip, lkeys[_i].port);
	char key[XIO_KEY_MAX];

	ck_assert_int_eq(xio_listener_key(&ep, key, sizeof(key)), 0);
	ck_assert_str_eq(key, lkeys[_i].key);
}
END_TEST

START_TEST(test_listener_key_family_irrelevant)
{
	/* Same address spelled by an AF_INET and an AF_INET6 socket: one key. */
	struct xio_endpoint a = xt_ep("192.0.2.7", 9000), b = xt_ep("::ffff:192.0.2.7", 9000);
	char ka[XIO_KEY_MAX], kb[XIO_KEY_MAX];

	ck_assert_int_ne(a.family, b.family);
	ck_assert_int_eq(xio_listener_key(&a, ka, sizeof(ka)), 0);
	ck_assert_int_eq(xio_listener_key(&b, kb, sizeof(kb)), 0);
	ck_assert_str_eq(ka, kb);
}
END_TEST

START_TEST(test_listener_key_nospace)
{
	struct xio_endpoint ep = xt_ep("127.0.0.1", 5201);
	const char *want = "4_127.0.0.1_5201";
	size_t need = strlen(want) + 1;
	char key[XIO_KEY_MAX];

	/* Exactly enough room (with the NUL) works ... */
	memset(key, 'x', sizeof(key));
	ck_assert_int_eq(xio_listener_key(&ep, key, need), 0);
	ck_assert_str_eq(key, want);
	ck_assert_int_eq(key[need], 'x');

	/* ... one byte less must fail and must not leave a prefix that names another key. */
	memset(key, 'x', sizeof(key));
	ck_assert_int_eq(xio_listener_key(&ep, key, need - 1), -ENOSPC);
	ck_assert_int_eq(key[0], '\0');
	ck_assert_int_eq(key[need - 1], 'x');

	memset(key, 'x', sizeof(key));
	ck_assert_int_eq(xio_listener_key(&ep, key, 0), -ENOSPC);
	ck_assert_int_eq(key[0], 'x');
}
END_TEST

/* ---- connect keys ------------------------------------------------------- */

static void check_connect_keys(const char *ip, uint16_t port, int want_n, const char *const want[],
			       const bool want_dual[])
{
	struct xio_endpoint dst = xt_ep(ip, port);
	char keys[XIO_MAX_KEYS + 1][XIO_KEY_MAX];
	bool dual[XIO_MAX_KEYS + 1];
	int n;

	memset(keys, 'x', sizeof(keys));
	memset(dual, 0x55, sizeof(dual));
	n = xio_connect_keys(&dst, keys, dual);
	ck_assert_msg(n == want_n, "%s: %d keys, want %d", ip, n, want_n);
	ck_assert_int_le(n, XIO_MAX_KEYS);
	for (int i = 0; i < n; i++) {
		ck_assert_msg(strcmp(keys[i], want[i]) == 0, "%s key %d: %s, want %s", ip, i,
			      keys[i], want[i]);
		ck_assert_msg(dual[i] == want_dual[i], "%s key %d dual_only", ip, i);
		for (int j = 0; j < i; j++)
			ck_assert_str_ne(keys[i], keys[j]);
	}
	/* Nothing written past the count. */
	for (int i = n; i <= XIO_MAX_KEYS; i++)
		ck_assert_int_eq(keys[i][0], 'x');
}

START_TEST(test_connect_keys_v4)
{
	const char *want[] = {"4_127.0.0.1_5201", "4_0.0.0.0_5201", "6_::_5201"};
	const bool dual[] = {false, false, true};

	check_connect_keys("127.0.0.1", 5201, 3, want, dual);
	/* An AF_INET6 client connecting to ::ffff:127.0.0.1 reaches the same listeners. */
	check_connect_keys("::ffff:127.0.0.1", 5201, 3, want, dual);
}
END_TEST

START_TEST(test_connect_keys_v4_other)
{
	const char *want[] = {"4_127.3.2.1_80", "4_0.0.0.0_80", "6_::_80"};
	const char *want2[] = {"4_192.0.2.1_65535", "4_0.0.0.0_65535", "6_::_65535"};
	const bool dual[] = {false, false, true};

	check_connect_keys("127.3.2.1", 80, 3, want, dual);
	check_connect_keys("192.0.2.1", 65535, 3, want2, dual);
}
END_TEST

START_TEST(test_connect_keys_v6)
{
	const char *want[] = {"6_::1_8080", "6_::_8080"};
	const char *want2[] = {"6_2001:db8::5_443", "6_::_443"};
	const bool dual[] = {false, false};

	check_connect_keys("::1", 8080, 2, want, dual);
	check_connect_keys("2001:db8::5", 443, 2, want2, dual);
}
END_TEST

START_TEST(test_connect_keys_any)
{
	/*
	 * Linux sends a connect to 0.0.0.0 or :: to loopback; the exact key is
	 * therefore the loopback one, and no key repeats.
	 */
	const char *want4[] = {"4_127.0.0.1_9", "4_0.0.0.0_9", "6_::_9"};
	const bool dual4[] = {false, false, true};
	const char *want6[] = {"6_::1_9", "6_::_9"};
	const bool dual6[] = {false, false};

	check_connect_keys("0.0.0.0", 9, 3, want4, dual4);
	check_connect_keys("::ffff:0.0.0.0", 9, 3, want4, dual4);
	check_connect_keys("::", 9, 2, want6, dual6);
}
END_TEST

START_TEST(test_connect_keys_null_dual)
{
	struct xio_endpoint dst = xt_ep("10.1.1.1", 1);
	char keys[XIO_MAX_KEYS][XIO_KEY_MAX];

	ck_assert_int_eq(xio_connect_keys(&dst, keys, NULL), 3);
	ck_assert_str_eq(keys[0], "4_10.1.1.1_1");
}
END_TEST

START_TEST(test_keys_meet)
{
	/* Every listener key must be among the connect keys of a destination it serves. */
	static const struct {
		const char *listen, *dst;
	} pairs[] = {
	    {"127.0.0.1", "127.0.0.1"},
	    {"::ffff:127.0.0.1", "127.0.0.1"},
	    {"127.0.0.1", "::ffff:127.0.0.1"},
	    {"0.0.0.0", "127.0.0.5"},
	    {"::ffff:0.0.0.0", "10.0.0.1"},
	    {"::", "127.0.0.1"},
	    {"::", "::1"},
	    {"::1", "::1"},
	    {"127.0.0.1", "0.0.0.0"},
	    {"::1", "::"},
	};

	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		struct xio_endpoint l = xt_ep(pairs[i].listen, 4000), d = xt_ep(pairs[i].dst, 4000);
		char lk[XIO_KEY_MAX], keys[XIO_MAX_KEYS][XIO_KEY_MAX];
		int n, found = 0;

		ck_assert_int_eq(xio_listener_key(&l, lk, sizeof(lk)), 0);
		n = xio_connect_keys(&d, keys, NULL);
		for (int k = 0; k < n; k++)
			found += strcmp(keys[k], lk) == 0;
		ck_assert_msg(found == 1, "listener %s not found once for %s", pairs[i].listen,
			      pairs[i].dst);
	}

	/* And a listener must not be offered a destination it does not serve. */
	struct xio_endpoint l6 = xt_ep("::1", 4000), d4 = xt_ep("127.0.0.1", 4000);
	char lk[XIO_KEY_MAX], keys[XIO_MAX_KEYS][XIO_KEY_MAX];
	int n;

	ck_assert_int_eq(xio_listener_key(&l6, lk, sizeof(lk)), 0);
	n = xio_connect_keys(&d4, keys, NULL);
	for (int k = 0; k < n; k++)
		ck_assert_str_ne(keys[k], lk);
	d4.port = 4001; /* other port */
	struct xio_endpoint l4 = xt_ep("127.0.0.1", 4000);
	ck_assert_int_eq(xio_listener_key(&l4, lk, sizeof(lk)), 0);
	n = xio_connect_keys(&d4, keys, NULL);
	for (int k = 0; k < n; k++)
		ck_assert_str_ne(keys[k], lk);
}
END_TEST

/* ---- sockaddr conversion ----------------------------------------------- */

START_TEST(test_from_sockaddr_in)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(5201)};
	struct xio_endpoint ep;
	const uint8_t want[16] = {
	    [10] = 0xff, [11] = 0xff, [12] = 192, [13] = 0, [14] = 2, [15] = 9};

	inet_pton(AF_INET, "192.0.2.9", &sin.sin_addr);
	ck_assert_int_eq(xio_ep_from_sockaddr(&ep, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(ep.family, AF_INET);
	ck_assert_int_eq(ep.port, 5201); /* host order */
	ck_assert_mem_eq(ep.addr, want, 16);
}
END_TEST

START_TEST(test_from_sockaddr_in6)
{
	struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_port = htons(8080)};
	struct xio_endpoint ep;

	inet_pton(AF_INET6, "2001:db8::42", &sin6.sin6_addr);
	ck_assert_int_eq(xio_ep_from_sockaddr(&ep, (struct sockaddr *)&sin6, sizeof(sin6)), 0);
	ck_assert_int_eq(ep.family, AF_INET6);
	ck_assert_int_eq(ep.port, 8080);
	ck_assert_mem_eq(ep.addr, &sin6.sin6_addr, 16);
	ck_assert(!xio_ep_is_v4(&ep));

	/* v4-mapped: stored as is, family still what the caller used. */
	inet_pton(AF_INET6, "::ffff:10.0.0.1", &sin6.sin6_addr);
	ck_assert_int_eq(xio_ep_from_sockaddr(&ep, (struct sockaddr *)&sin6, sizeof(sin6)), 0);
	ck_assert_int_eq(ep.family, AF_INET6);
	ck_assert(xio_ep_is_v4(&ep));
	struct xio_endpoint v4 = xt_ep("10.0.0.1", 8080);
	ck_assert_mem_eq(ep.addr, v4.addr, 16);
}
END_TEST

START_TEST(test_from_sockaddr_rfc2133_len)
{
	/* The kernel accepts a 24-byte sockaddr_in6 (no scope id); so must we. */
	struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_port = htons(1)};
	struct xio_endpoint ep;

	sin6.sin6_addr.s6_addr[15] = 1;
	ck_assert_int_eq(xio_ep_from_sockaddr(&ep, (struct sockaddr *)&sin6, 24), 0);
	ck_assert(xio_ep_is_loopback(&ep));
	ck_assert_int_eq(ep.port, 1);
	ck_assert_int_eq(xio_ep_from_sockaddr(&ep, (struct sockaddr *)&sin6, 23), -EINVAL);
}
END_TEST

START_TEST(test_from_sockaddr_unaligned)
{
	/* Callers' buffers come from anywhere; an odd address must work. */
	struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_port = htons(4242)};
	char raw[sizeof(sin6) + 1];
	struct xio_endpoint ep;

	inet_pton(AF_INET6, "fe80::abcd", &sin6.sin6_addr);
	memcpy(raw + 1, &sin6, sizeof(sin6));
	ck_assert_int_eq(xio_ep_from_sockaddr(&ep, (struct sockaddr *)(raw + 1), sizeof(sin6)), 0);
	ck_assert_int_eq(ep.port, 4242);
	ck_assert_mem_eq(ep.addr, &sin6.sin6_addr, 16);
}
END_TEST

START_TEST(test_from_sockaddr_bad)
{
	struct sockaddr_storage ss;
	struct xio_endpoint ep, before;

	memset(&ep, 0xa5, sizeof(ep));
	before = ep;
	memset(&ss, 0, sizeof(ss));

	ss.ss_family = AF_INET;
	ck_assert_int_eq(xio_ep_from_sockaddr(&ep, (struct sockaddr *)&ss, 0), -EINVAL);
	ck_assert_int_eq(xio_ep_from_sockaddr(&ep, (struct sockaddr *)&ss, 1), -EINVAL);
	ck_assert_int_eq(
	    xio_ep_from_sockaddr(&ep, (struct sockaddr *)&ss, sizeof(struct sockaddr_in) - 1),
	    -EINVAL);
	ss.ss_family = AF_INET6;
	ck_assert_int_eq(
	    xio_ep_from_sockaddr(&ep, (struct sockaddr *)&ss, sizeof(struct sockaddr_in)), -EINVAL);
	ss.ss_family = AF_UNIX;
	ck_assert_int_eq(xio_ep_from_sockaddr(&ep, (struct sockaddr *)&ss, sizeof(ss)),
			 -EAFNOSUPPORT);
	ss.ss_family = AF_UNSPEC;
	ck_assert_int_eq(xio_ep_from_sockaddr(&ep, (struct sockaddr *)&ss, sizeof(ss)),
			 -EAFNOSUPPORT);
	ss.ss_family = AF_PACKET;
	ck_assert_int_eq(xio_ep_from_sockaddr(&ep, (struct sockaddr *)&ss, sizeof(ss)),
			 -EAFNOSUPPORT);
	/* A refused address leaves the output as it was. */
	ck_assert_mem_eq(&ep, &before, sizeof(ep));
}
END_TEST

START_TEST(test_to_sockaddr_in)
{
	struct xio_endpoint ep = xt_ep("203.0.113.5", 5201);
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	memset(&sin, 0xff, sizeof(sin));
	ck_assert_int_eq(xio_ep_to_sockaddr(&ep, AF_INET, (struct sockaddr *)&sin, &len),
			 (int)sizeof(sin));
	ck_assert_int_eq(len, sizeof(sin));
	ck_assert_int_eq(sin.sin_family, AF_INET);
	ck_assert_int_eq(ntohs(sin.sin_port), 5201);
	ck_assert_int_eq(ntohl(sin.sin_addr.s_addr), 0xcb007105u);
	/* sin_zero is cleared, as the kernel returns it. */
	for (size_t i = 0; i < sizeof(sin.sin_zero); i++)
		ck_assert_int_eq(sin.sin_zero[i], 0);

	/* A v4-mapped endpoint from an AF_INET6 socket also has an AF_INET spelling. */
	struct xio_endpoint m = xt_ep("::ffff:203.0.113.5", 5201);
	struct sockaddr_in sin2;
	len = sizeof(sin2);
	ck_assert_int_eq(xio_ep_to_sockaddr(&m, AF_INET, (struct sockaddr *)&sin2, &len),
			 (int)sizeof(sin2));
	ck_assert_mem_eq(&sin2, &sin, sizeof(sin));
}
END_TEST

START_TEST(test_to_sockaddr_in6)
{
	struct xio_endpoint ep = xt_ep("127.0.0.1", 80);
	struct sockaddr_in6 sin6, want = {.sin6_family = AF_INET6, .sin6_port = htons(80)};
	socklen_t len = sizeof(sin6);

	inet_pton(AF_INET6, "::ffff:127.0.0.1", &want.sin6_addr);
	memset(&sin6, 0xff, sizeof(sin6));
	ck_assert_int_eq(xio_ep_to_sockaddr(&ep, AF_INET6, (struct sockaddr *)&sin6, &len),
			 (int)sizeof(sin6));
	ck_assert_int_eq(len, sizeof(sin6));
	ck_assert_mem_eq(&sin6, &want, sizeof(want)); /* flowinfo and scope id zero too */
}
END_TEST

START_TEST(test_to_sockaddr_v6_as_v4)
{
	struct xio_endpoint ep = xt_ep("::1", 80);
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	memset(&sin, 0x77, sizeof(sin));
	ck_assert_int_eq(xio_ep_to_sockaddr(&ep, AF_INET, (struct sockaddr *)&sin, &len),
			 -EAFNOSUPPORT);
	ck_assert_int_eq(len, sizeof(sin));
	ck_assert_int_eq(((unsigned char *)&sin)[0], 0x77);

	ck_assert_int_eq(xio_ep_to_sockaddr(&ep, AF_UNIX, (struct sockaddr *)&sin, &len),
			 -EAFNOSUPPORT);
	ck_assert_int_eq(len, sizeof(sin));
}
END_TEST

START_TEST(test_roundtrip)
{
	static const char *ips[] = {
	    "0.0.0.0", "127.0.0.1",	 "255.255.255.255",	   "::",      "::1",
	    "fe80::1", "::ffff:1.2.3.4", "2001:db8::ff00:42:8329", "10.9.8.7"};

	for (size_t i = 0; i < sizeof(ips) / sizeof(ips[0]); i++) {
		struct xio_endpoint ep = xt_ep(ips[i], (uint16_t)(i * 7919 + 1)), back;
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int r = xio_ep_to_sockaddr(&ep, ep.family, (struct sockaddr *)&ss, &len);

		ck_assert_msg(r > 0, "%s: %d", ips[i], r);
		ck_assert_int_eq(xio_ep_from_sockaddr(&back, (struct sockaddr *)&ss, len), 0);
		ck_assert_msg(memcmp(&back, &ep, sizeof(ep)) == 0, "%s does not round-trip",
			      ips[i]);

		/* Through the other family where there is one: same address and port. */
		if (xio_ep_is_v4(&ep)) {
			int other = ep.family == AF_INET ? AF_INET6 : AF_INET;
			len = sizeof(ss);
			ck_assert_int_gt(
			    xio_ep_to_sockaddr(&ep, other, (struct sockaddr *)&ss, &len), 0);
			ck_assert_int_eq(xio_ep_from_sockaddr(&back, (struct sockaddr *)&ss, len),
					 0);
			ck_assert_int_eq(back.family, other);
			ck_assert_int_eq(back.port, ep.port);
			ck_assert_mem_eq(back.addr, ep.addr, 16);
		}
	}
}
END_TEST

START_TEST(test_to_sockaddr_truncate)
{
	struct xio_endpoint ep = xt_ep("2001:db8::1", 443);
	struct sockaddr_in6 full;
	unsigned char buf[sizeof(struct sockaddr_in6) + 8];
	socklen_t len = sizeof(full);

	ck_assert_int_eq(xio_ep_to_sockaddr(&ep, AF_INET6, (struct sockaddr *)&full, &len),
			 (int)sizeof(full));

	/* Every short length: copy exactly that much, report the real length. */
	for (socklen_t want = 0; want < sizeof(full); want++) {
		memset(buf, 0xee, sizeof(buf));
		len = want;
		ck_assert_int_eq(xio_ep_to_sockaddr(&ep, AF_INET6, (struct sockaddr *)buf, &len),
				 (int)sizeof(full));
		ck_assert_int_eq(len, sizeof(full));
		ck_assert_mem_eq(buf, &full, want);
		for (size_t i = want; i < sizeof(buf); i++)
			ck_assert_msg(buf[i] == 0xee, "byte %zu written with len %u", i,
				      (unsigned)want);
	}

	/* A larger buffer: only the address is written. */
	memset(buf, 0xee, sizeof(buf));
	len = sizeof(buf);
	ck_assert_int_eq(xio_ep_to_sockaddr(&ep, AF_INET6, (struct sockaddr *)buf, &len),
			 (int)sizeof(full));
	ck_assert_int_eq(len, sizeof(full));
	ck_assert_mem_eq(buf, &full, sizeof(full));
	ck_assert_int_eq(buf[sizeof(full)], 0xee);

	/* Length only, no buffer (accept(fd, NULL, &len)-like callers). */
	len = 0;
	ck_assert_int_eq(xio_ep_to_sockaddr(&ep, AF_INET6, NULL, &len), (int)sizeof(full));
	ck_assert_int_eq(len, sizeof(full));
}
END_TEST

START_TEST(test_kernel_agrees)
{
	/*
	 * Bind a real dual-stack socket to what we produce for 127.0.0.1 and
	 * read back what the kernel says: the endpoint must be the same.
	 */
	struct xio_endpoint ep = xt_ep("127.0.0.1", 0), got;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int off = 0;
	int fd = socket(AF_INET6, SOCK_STREAM, 0);

	if (fd < 0 && errno == EAFNOSUPPORT)
		return; /* no IPv6 in this namespace: nothing to compare with */
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)), 0);
	ck_assert_int_gt(xio_ep_to_sockaddr(&ep, AF_INET6, (struct sockaddr *)&ss, &len), 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&ss, len), 0);
	len = sizeof(ss);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
	ck_assert_int_eq(xio_ep_from_sockaddr(&got, (struct sockaddr *)&ss, len), 0);
	close(fd);
	ck_assert_int_eq(got.family, AF_INET6);
	ck_assert_int_ne(got.port, 0);
	ck_assert_mem_eq(got.addr, ep.addr, 16);
	ck_assert(xio_ep_is_v4(&got) && xio_ep_is_loopback(&got));

	char key[XIO_KEY_MAX], want[XIO_KEY_MAX];
	snprintf(want, sizeof(want), "4_127.0.0.1_%u", (unsigned)got.port);
	ck_assert_int_eq(xio_listener_key(&got, key, sizeof(key)), 0);
	ck_assert_str_eq(key, want);
}
END_TEST

/* ---- formatting ------------------------------------------------------------ */

START_TEST(test_format)
{
	struct xio_endpoint a = xt_ep("127.0.0.1", 5201), b = xt_ep("::1", 80),
			    c = xt_ep("::ffff:1.2.3.4", 8), d = xt_ep("::", 0);
	char buf[64];

	xio_ep_format(&a, buf, sizeof(buf));
	ck_assert_str_eq(buf, "127.0.0.1:5201");
	xio_ep_format(&b, buf, sizeof(buf));
	ck_assert_str_eq(buf, "[::1]:80");
	/* An AF_INET6 application sees the mapped form. */
	xio_ep_format(&c, buf, sizeof(buf));
	ck_assert_str_eq(buf, "[::ffff:1.2.3.4]:8");
	xio_ep_format(&d, buf, sizeof(buf));
	ck_assert_str_eq(buf, "[::]:0");

	/* Truncated but terminated, nothing past the buffer. */
	memset(buf, 'z', sizeof(buf));
	xio_ep_format(&a, buf, 5);
	ck_assert_str_eq(buf, "127.");
	ck_assert_int_eq(buf[5], 'z');
	xio_ep_format(&a, buf, 0);
	ck_assert_int_eq(buf[0], '1');
}
END_TEST

static Suite *addr_suite(void)
{
	Suite *s = suite_create("addr");
	TCase *tc = tcase_create("classify");

	tcase_add_loop_test(tc, test_classify, 0, (int)(sizeof(classes) / sizeof(classes[0])));
	suite_add_tcase(s, tc);

	tc = tcase_create("keys");
	tcase_add_loop_test(tc, test_listener_key, 0, (int)(sizeof(lkeys) / sizeof(lkeys[0])));
	tcase_add_test(tc, test_listener_key_family_irrelevant);
	tcase_add_test(tc, test_listener_key_nospace);
	tcase_add_test(tc, test_connect_keys_v4);
	tcase_add_test(tc, test_connect_keys_v4_other);
	tcase_add_test(tc, test_connect_keys_v6);
	tcase_add_test(tc, test_connect_keys_any);
	tcase_add_test(tc, test_connect_keys_null_dual);
	tcase_add_test(tc, test_keys_meet);
	suite_add_tcase(s, tc);

	tc = tcase_create("sockaddr");
	tcase_add_test(tc, test_from_sockaddr_in);
	tcase_add_test(tc, test_from_sockaddr_in6);
	tcase_add_test(tc, test_from_sockaddr_rfc2133_len);
	tcase_add_test(tc, test_from_sockaddr_unaligned);
	tcase_add_test(tc, test_from_sockaddr_bad);
	tcase_add_test(tc, test_to_sockaddr_in);
	tcase_add_test(tc, test_to_sockaddr_in6);
	tcase_add_test(tc, test_to_sockaddr_v6_as_v4);
	tcase_add_test(tc, test_roundtrip);
	tcase_add_test(tc, test_to_sockaddr_truncate);
	tcase_add_test(tc, test_kernel_agrees);
	tcase_add_test(tc, test_format);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	xio_sys_use_libc();
	return xt_run(addr_suite());
}
