/* SPDX-License-Identifier: MIT */
/*
 * Proves: writev and readv (and sendmsg/recvmsg) with 512 iovecs of uneven
 * sizes, zero-length ones among them, move every byte in order: the
 * returned counts are the totals, the scatter on the reading side is
 * byte-exact although its iovec boundaries differ from the writer's;
 * IOV_MAX iovecs work; IOV_MAX + 1 is EINVAL for writev/readv and EMSGSIZE
 * for sendmsg/recvmsg, and nothing moves.
 */
#include <limits.h>
#include <pthread.h>
#include <sys/uio.h>

#include "helpers.h"

#define N 512

/* Uneven lengths (1..@range, every 17th empty) laid out back to back from @base. */
static size_t lay_out(struct iovec *iov, int n, char *base, unsigned mult, unsigned add,
		      unsigned range)
{
	size_t off = 0;
	for (int i = 0; i < n; i++) {
		size_t len = (i % 17 == 5) ? 0 : 1 + (i * mult + add) % range;
		iov[i] = (struct iovec){base + off, len};
		off += len;
	}
	return off;
}

int main(void)
{
	static struct iovec wv[IOV_MAX + 1], rv[IOV_MAX + 1];
	static char out[IOV_MAX * 400], in[IOV_MAX * 400];
	int c, s;

	watchdog(20);
	setvbuf(stdout, NULL, _IONBF, 0);
	make_pair(&c, &s);

	/* writev 512 / readv 512 with other boundaries. */
	size_t total = lay_out(wv, N, out, 37, 11, 300);
	pat_fill(out, total, 0, 21);
	size_t rtotal = lay_out(rv, N, in, 53, 7, 400);
	CHECK(rtotal >= total);
	CHECK_EQ(writev(c, wv, N), total);
	memset(in, 0, sizeof(in));
	size_t got = 0;
	while (got < total) {
		/* readv may return less than everything; resume from where it stopped. */
		struct iovec tail[N];
		int k = 0;
		size_t skip = got;
		for (int i = 0; i < N; i++) {
			if (skip >= rv[i].iov_len) {
				skip -= rv[i].iov_len;
				continue;
			}
			tail[k++] =
			    (struct iovec){(char *)rv[i].iov_base + skip, rv[i].iov_len - skip};
			skip = 0;
		}
		ssize_t n = readv(s, tail, k);
		CHECK(n > 0);
		got += (size_t)n;
	}
	CHECK_EQ(got, total);
	pat_check(in, total, 0, 21);

	/* sendmsg 512 / recvmsg with MSG_WAITALL into 512 of other sizes: one call each. */
	total = lay_out(wv, N, out, 41, 3, 300);
	pat_fill(out, total, 0, 22);
	struct msghdr m = {.msg_iov = wv, .msg_iovlen = N};
	CHECK_EQ(sendmsg(c, &m, 0), total);
	memset(in, 0, sizeof(in));
	rtotal = lay_out(rv, N, in, 29, 13, 400);
	CHECK(rtotal >= total);
	/* Only as many reader iovecs as cover the total exactly. */
	int rn = 0;
	size_t cover = 0;
	while (cover < total) {
		if (cover + rv[rn].iov_len > total)
			rv[rn].iov_len = total - cover;
		cover += rv[rn++].iov_len;
	}
	struct msghdr r = {.msg_iov = rv, .msg_iovlen = (size_t)rn};
	CHECK_EQ(recvmsg(s, &r, MSG_WAITALL), total);
	pat_check(in, total, 0, 22);

	/* IOV_MAX exactly works (the reader is a thread: it may exceed one ring). */
	total = lay_out(wv, IOV_MAX, out, 13, 1, 300);
	pat_fill(out, total, 0, 23);
	CHECK(total > 100000);
	pid_t pid = fork_child();
	CHECK(pid >= 0);
	if (pid == 0) {
		watchdog(15);
		read_all(s, in, total);
		pat_check(in, total, 0, 23);
		_exit(0);
	}
	CHECK_EQ(writev(c, wv, IOV_MAX), total);
	wait_ok(pid);

	/* IOV_MAX + 1: refused, nothing sent. */
	wv[IOV_MAX] = (struct iovec){out, 1};
	rv[IOV_MAX] = (struct iovec){in, 1};
	for (int i = 0; i < IOV_MAX; i++)
		rv[i] = (struct iovec){in, 1};
	CHECK_ERR(writev(c, wv, IOV_MAX + 1), EINVAL);
	CHECK_ERR(readv(s, rv, IOV_MAX + 1), EINVAL);
	m.msg_iovlen = IOV_MAX + 1;
	CHECK_ERR(sendmsg(c, &m, 0), EMSGSIZE);
	r = (struct msghdr){.msg_iov = rv, .msg_iovlen = IOV_MAX + 1};
	CHECK_ERR(recvmsg(s, &r, MSG_DONTWAIT), EMSGSIZE);
	CHECK_ERR(recv(s, in, 1, MSG_DONTWAIT), EAGAIN);

	require_xio(c);
	require_xio(s);
	close(c);
	close(s);
	printf("iov_many: ok\n");
	return 0;
}
