/* SPDX-License-Identifier: MIT */
/*
 * Proves: SO_SNDBUF and SO_RCVBUF bound the bytes in flight as on TCP, and
 * read back what the kernel reports.
 * - Read-back: a value set on a connection (SO_SNDBUF, SO_RCVBUF: 0, 1,
 *   1 KiB, 64 KiB, 256 KiB, more than net.core.*mem_max, -1) reads back as
 *   on an unconnected kernel TCP socket (doubled, clamped, minimums); the
 *   *FORCE forms too, or fail the same way without CAP_NET_ADMIN. Unset,
 *   SO_RCVBUF reads net.ipv4.tcp_rmem's default and SO_SNDBUF lies between
 *   tcp_wmem's default and maximum. Sizes set on the client before connect
 *   and on the listener (after listen) are those of the connection and of
 *   the accepted socket.
 * - Bytes before EAGAIN: a client with SO_SNDBUF = n sending non-blocking to
 *   a server with SO_RCVBUF = n that does not read takes, once settled,
 *   what kernel TCP takes within 25 % (5,184 bytes for 1 KiB on Linux 6.18;
 *   the model: stack/conn.h xio_buf_limit), for n = 1, 4, 16, 64 and
 *   256 KiB; with one side's size only, still bounded; with defaults, more
 *   than 900 kB. The writer is not writable then (poll, no POLLOUT), and is
 *   again once the reader drained it.
 */
#include <poll.h>

#include "helpers.h"

static int get_int(int fd, int name)
{
	int v = -12345;
	socklen_t len = sizeof(v);
	OK(getsockopt(fd, SOL_SOCKET, name, &v, &len));
	return v;
}

static long sysctl_field(const char *path, int field)
{
	FILE *f = fopen(path, "r");
	long v[3] = {0, 0, 0};
	CHECK(f != NULL);
	if (!f)
		return 0;
	CHECK_EQ(fscanf(f, "%ld %ld %ld", &v[0], &v[1], &v[2]), 3);
	fclose(f);
	return v[field];
}

/* What kernel TCP reports for option @name set to @v on an unconnected socket; -errno if refused.
 */
static int kernel_value(int name, int get, int v)
{
	int p =
	    OK(socket(AF_INET, SOCK_STREAM, 0)); /* unconnected: kernel TCP even under xio-run */
	int r = setsockopt(p, SOL_SOCKET, name, &v, sizeof(v));
	int out = r < 0 ? -errno : get_int(p, get);
	close(p);
	return out;
}

static void check_readback(int fd)
{
	static const int vals[] = {0, 1, 1024, 65536, 262144, 64 << 20, -1};
	static const int names[][2] = {{SO_SNDBUF, SO_SNDBUF},
				       {SO_RCVBUF, SO_RCVBUF},
				       {SO_SNDBUFFORCE, SO_SNDBUF},
				       {SO_RCVBUFFORCE, SO_RCVBUF}};
	for (size_t n = 0; n < sizeof(names) / sizeof(names[0]); n++)
		for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
			int want = kernel_value(names[n][0], names[n][1], vals[i]);
			int v = vals[i];
			int r = setsockopt(fd, SOL_SOCKET, names[n][0], &v, sizeof(v));
			int got = r < 0 ? -errno : get_int(fd, names[n][1]);
			if (got != want)
				FAIL("option %d = %d: reads %d, kernel TCP %d", names[n][0], v, got,
				     want);
		}
}

/* Bytes a non-blocking sender takes before EAGAIN, once the path settled. */
static long fill_settled(int c)
{
	long total = 0;
	for (int round = 0; round < 3; round++) {
		total += (long)fill_until_eagain(c);
		sleep_ms(round ? 50 : 100);
	}
	return total;
}

/*
 * A connection whose client set SO_SNDBUF @snd before connect and whose
 * listener set SO_RCVBUF @rcv after listen (< 0: unset); returns the bytes
 * in flight before EAGAIN; the pair in @cs.
 */
static long in_flight(int snd, int rcv, int cs[2])
{
	uint16_t port;
	int l = listen_lo(&port);
	if (rcv >= 0)
		OK(setsockopt(l, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv)));
	int c = OK(socket(AF_INET, SOCK_STREAM, 0));
	if (snd >= 0)
		OK(setsockopt(c, SOL_SOCKET, SO_SNDBUF, &snd, sizeof(snd)));
	int want_snd = get_int(c, SO_SNDBUF), want_rcv = get_int(l, SO_RCVBUF);
	struct sockaddr_in a = sin_of("127.0.0.1", port);
	OK(connect(c, (struct sockaddr *)&a, sizeof(a)));
	int s = OK(accept(l, NULL, NULL));
	require_xio(c);
	require_xio(s);
	close(l);
	/* Inherited: the client's from before connect, the listener's by the accepted socket. */
	if (snd >= 0)
		CHECK_EQ(get_int(c, SO_SNDBUF), want_snd);
	if (rcv >= 0)
		CHECK_EQ(get_int(s, SO_RCVBUF), want_rcv);
	set_nonblock(c, 1);
	cs[0] = c;
	cs[1] = s;
	return fill_settled(c);
}

int main(void)
{
	watchdog(25);
	setvbuf(stdout, NULL, _IONBF, 0);
	int c, s, cs[2];

	/* Read-back on an established connection, both ends. */
	make_pair(&c, &s);
	CHECK_EQ(get_int(c, SO_RCVBUF), sysctl_field("/proc/sys/net/ipv4/tcp_rmem", 1));
	CHECK_EQ(get_int(s, SO_RCVBUF), sysctl_field("/proc/sys/net/ipv4/tcp_rmem", 1));
	int snd = get_int(c, SO_SNDBUF);
	CHECK(snd >= sysctl_field("/proc/sys/net/ipv4/tcp_wmem", 1) &&
	      snd <= sysctl_field("/proc/sys/net/ipv4/tcp_wmem", 2));
	check_readback(c);
	check_readback(s);
	close(c);
	close(s);

	/* Bytes in flight with both sizes set, against the model measured on kernel TCP. */
	static const int sizes[] = {1024, 4096, 16384, 65536, 262144};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		long got = in_flight(sizes[i], sizes[i], cs);
		long sb = get_int(cs[0], SO_SNDBUF), rb = get_int(cs[1], SO_RCVBUF);
		long sum = sb + rb, want = sum - (sum / 4 < 16384 ? sum / 4 : 16384);
		printf("SO_SNDBUF = SO_RCVBUF = %d: %ld bytes before EAGAIN (model %ld)\n",
		       sizes[i], got, want);
		if (got < want * 3 / 4 || got > want * 5 / 4)
			FAIL("SO_SNDBUF = SO_RCVBUF = %d: %ld bytes before EAGAIN, want %ld +- 25 "
			     "%%",
			     sizes[i], got, want);
		/* Full: not writable; drained: writable again, and more goes in. */
		struct pollfd p = {.fd = cs[0], .events = POLLOUT};
		CHECK_EQ(poll(&p, 1, 0), 0);
		long drained = 0;
		int64_t until = now_ms() + 2000;
		while (drained < got && now_ms() < until) {
			struct pollfd r = {.fd = cs[1], .events = POLLIN};
			poll(&r, 1, 50);
			drained += (long)drain_now(cs[1]);
		}
		CHECK_EQ(drained, got);
		p.revents = 0;
		CHECK_EQ(poll(&p, 1, 2000), 1);
		CHECK_EVENTS(p.revents, POLLOUT);
		CHECK(fill_until_eagain(cs[0]) > 0);
		close(cs[0]);
		close(cs[1]);
	}

	/* One side only: the other's default still bounds it well below the ring. */
	long got = in_flight(1024, -1, cs);
	printf("SO_SNDBUF = 1024, SO_RCVBUF unset: %ld bytes\n", got);
	CHECK(got > 60000 && got < 400000);
	close(cs[0]);
	close(cs[1]);
	got = in_flight(-1, 1024, cs);
	printf("SO_SNDBUF unset, SO_RCVBUF = 1024: %ld bytes\n", got);
	CHECK(got > 200000);
	close(cs[0]);
	close(cs[1]);

	/* Defaults: large (the kernel's autotuned send buffer; X-IO's ring). */
	got = in_flight(-1, -1, cs);
	printf("defaults: %ld bytes\n", got);
	CHECK(got > 900000);
	close(cs[0]);
	close(cs[1]);

	printf("sockbuf_sizes: ok\n");
	return 0;
}
