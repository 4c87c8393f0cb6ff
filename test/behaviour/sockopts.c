/* SPDX-License-Identifier: MIT */
/*
 * Proves: socket options on a connection are accepted and read back as on
 * TCP — TCP_NODELAY, TCP_CORK, SO_KEEPALIVE with TCP_KEEPIDLE/KEEPINTVL/
 * KEEPCNT, SO_LINGER, SO_RCVTIMEO, SO_REUSEADDR read back as set;
 * SO_TYPE SOCK_STREAM, SO_DOMAIN AF_INET (AF_INET6 for an IPv6 connection),
 * SO_PROTOCOL IPPROTO_TCP, SO_ACCEPTCONN 0 (1 on the listener), SO_ERROR 0,
 * SO_SNDBUF/SO_RCVBUF positive, TCP_INFO with state ESTABLISHED,
 * TCP_CONGESTION a name, SO_PEERCRED the "no credentials" answer TCP gives
 * (pid 0, uid/gid -1); IP_TTL the system default, IP_TOS read back as set,
 * IP_OPTIONS empty (length 0: sshd drops connections that carry any);
 * SO_RCVTIMEO makes an empty read fail EAGAIN after it; data written under
 * TCP_CORK arrives once uncorked; an unknown option is ENOPROTOOPT; and
 * SO_LINGER {1, 0} + close resets the peer (ECONNRESET).
 */
#include <poll.h>

#include "helpers.h"

static int get_int(int fd, int level, int name)
{
	int v = -12345;
	socklen_t len = sizeof(v);
	OK(getsockopt(fd, level, name, &v, &len));
	CHECK_EQ(len, sizeof(int));
	return v;
}

static void set_int(int fd, int level, int name, int v)
{
	OK(setsockopt(fd, level, name, &v, sizeof(v)));
}

static void check_identity(int fd, int family)
{
	CHECK_EQ(get_int(fd, SOL_SOCKET, SO_TYPE), SOCK_STREAM);
	CHECK_EQ(get_int(fd, SOL_SOCKET, SO_DOMAIN), family);
	CHECK_EQ(get_int(fd, SOL_SOCKET, SO_PROTOCOL), IPPROTO_TCP);
	CHECK_EQ(get_int(fd, SOL_SOCKET, SO_ACCEPTCONN), 0);
	CHECK_EQ(get_int(fd, SOL_SOCKET, SO_ERROR), 0);
	CHECK(get_int(fd, SOL_SOCKET, SO_SNDBUF) > 0);
	CHECK(get_int(fd, SOL_SOCKET, SO_RCVBUF) > 0);
	struct tcp_info ti;
	memset(&ti, 0xff, sizeof(ti));
	socklen_t len = sizeof(ti);
	OK(getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len));
	CHECK(len > 0 && len <= sizeof(ti));
	CHECK_EQ(ti.tcpi_state, TCP_ESTABLISHED);
	/* TCP has no peer credentials: pid 0, uid and gid -1. */
	struct ucred cr = {123, 123, 123};
	len = sizeof(cr);
	OK(getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len));
	CHECK_EQ(len, sizeof(cr));
	CHECK_EQ(cr.pid, 0);
	CHECK_EQ(cr.uid, (uid_t)-1);
	CHECK_EQ(cr.gid, (gid_t)-1);
	char cc[32] = "";
	len = sizeof(cc);
	OK(getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, cc, &len));
	CHECK(cc[0] >= 'a' && cc[0] <= 'z');
}

int main(void)
{
	char buf[16];
	int c, s;

	watchdog(20);
	setvbuf(stdout, NULL, _IONBF, 0);
	uint16_t port;
	int l = listen_lo(&port);
	CHECK_EQ(get_int(l, SOL_SOCKET, SO_ACCEPTCONN), 1);
	c = connect_lo(port);
	s = OK(accept(l, NULL, NULL));
	require_xio(c);
	require_xio(s);
	check_identity(c, AF_INET);
	check_identity(s, AF_INET);

	/* Set and read back. */
	CHECK_EQ(get_int(s, IPPROTO_TCP, TCP_NODELAY), 0);
	set_int(s, IPPROTO_TCP, TCP_NODELAY, 1);
	CHECK_EQ(get_int(s, IPPROTO_TCP, TCP_NODELAY), 1);
	set_int(s, SOL_SOCKET, SO_KEEPALIVE, 1);
	CHECK_EQ(get_int(s, SOL_SOCKET, SO_KEEPALIVE), 1);
	set_int(s, IPPROTO_TCP, TCP_KEEPIDLE, 30);
	set_int(s, IPPROTO_TCP, TCP_KEEPINTVL, 5);
	set_int(s, IPPROTO_TCP, TCP_KEEPCNT, 3);
	CHECK_EQ(get_int(s, IPPROTO_TCP, TCP_KEEPIDLE), 30);
	CHECK_EQ(get_int(s, IPPROTO_TCP, TCP_KEEPINTVL), 5);
	CHECK_EQ(get_int(s, IPPROTO_TCP, TCP_KEEPCNT), 3);
	set_int(s, SOL_SOCKET, SO_REUSEADDR, 1);
	CHECK_EQ(get_int(s, SOL_SOCKET, SO_REUSEADDR), 1);
	struct linger lg = {1, 5}, lg2;
	OK(setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)));
	socklen_t len = sizeof(lg2);
	OK(getsockopt(s, SOL_SOCKET, SO_LINGER, &lg2, &len));
	CHECK_EQ(lg2.l_onoff, 1);
	CHECK_EQ(lg2.l_linger, 5);
	/* IP level: the default TTL, and TOS read back as set. */
	FILE *f = fopen("/proc/sys/net/ipv4/ip_default_ttl", "r");
	int ttl = 64;
	if (f) {
		CHECK_EQ(fscanf(f, "%d", &ttl), 1);
		fclose(f);
	}
	CHECK_EQ(get_int(s, IPPROTO_IP, IP_TTL), ttl);
	set_int(s, IPPROTO_IP, IP_TOS, 0x10);
	CHECK_EQ(get_int(s, IPPROTO_IP, IP_TOS), 0x10);
	unsigned char ipopt[40];
	for (int *fd = (int[]){c, s, -1}; *fd >= 0; fd++) {
		len = sizeof(ipopt);
		OK(getsockopt(*fd, IPPROTO_IP, IP_OPTIONS, ipopt, &len));
		CHECK_EQ(len, 0);
	}
	struct timeval tv = {2, 500000}, tv2;
	OK(setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)));
	len = sizeof(tv2);
	OK(getsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv2, &len));
	CHECK_EQ(tv2.tv_sec, 2);
	CHECK_EQ(tv2.tv_usec, 500000);
	tv = (struct timeval){0, 0};
	OK(setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)));

	/* SO_RCVTIMEO is honoured: a read on an empty connection fails EAGAIN after it. */
	tv = (struct timeval){0, 100000};
	OK(setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)));
	int64_t t0 = now_ms();
	CHECK_ERR(read(s, buf, sizeof(buf)), EAGAIN);
	if (now_ms() - t0 < 90 || now_ms() - t0 > 1000)
		FAIL("SO_RCVTIMEO 100 ms: read returned after %lld ms", (long long)(now_ms() - t0));
	tv = (struct timeval){0, 0};
	OK(setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)));

	/* TCP_CORK: set, read back, data delivered once uncorked. */
	set_int(c, IPPROTO_TCP, TCP_CORK, 1);
	CHECK_EQ(get_int(c, IPPROTO_TCP, TCP_CORK), 1);
	write_all(c, "abc", 3);
	set_int(c, IPPROTO_TCP, TCP_CORK, 0);
	CHECK_EQ(get_int(c, IPPROTO_TCP, TCP_CORK), 0);
	struct pollfd p = {.fd = s, .events = POLLIN};
	CHECK_EQ(poll(&p, 1, 1000), 1);
	CHECK_EQ(read(s, buf, sizeof(buf)), 3);

	/* Unknown option. */
	CHECK_ERR(setsockopt(s, IPPROTO_TCP, 9999, &(int){1}, sizeof(int)), ENOPROTOOPT);
	len = sizeof(int);
	int v;
	CHECK_ERR(getsockopt(s, IPPROTO_TCP, 9999, &v, &len), ENOPROTOOPT);

	/* SO_LINGER {1, 0}: close resets the peer. */
	lg = (struct linger){1, 0};
	OK(setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)));
	OK(close(s));
	p = (struct pollfd){.fd = c, .events = POLLIN};
	CHECK_EQ(poll(&p, 1, 1000), 1);
	CHECK(p.revents & (POLLERR | POLLHUP));
	CHECK_ERR(read(c, buf, sizeof(buf)), ECONNRESET);
	close(c);
	close(l);

	/* IPv6: SO_DOMAIN says so. */
	int l6 = OK(socket(AF_INET6, SOCK_STREAM, 0));
	struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	OK(bind(l6, (struct sockaddr *)&a6, sizeof(a6)));
	OK(listen(l6, 8));
	len = sizeof(a6);
	OK(getsockname(l6, (struct sockaddr *)&a6, &len));
	int c6 = OK(socket(AF_INET6, SOCK_STREAM, 0));
	OK(connect(c6, (struct sockaddr *)&a6, sizeof(a6)));
	int s6 = OK(accept(l6, NULL, NULL));
	require_xio(c6);
	require_xio(s6);
	check_identity(c6, AF_INET6);
	check_identity(s6, AF_INET6);
	close(c6);
	close(s6);
	close(l6);

	printf("sockopts: ok\n");
	return 0;
}
