/* SPDX-License-Identifier: MIT */
/*
 * Proves: sendmmsg/recvmmsg on a TCP stream behave as the kernel's loop of
 * sendmsg/recvmsg: every message's bytes arrive in order with msg_len set;
 * MSG_WAITFORONE returns after what is there; MSG_DONTWAIT on an empty
 * socket gives EAGAIN; a blocking sendmmsg larger than the send path
 * completes as the reader drains it; at EOF every entry reads 0 bytes.
 */
#include <pthread.h>

#include "helpers.h"

#define BIG  (64 * 1024)
#define NBIG 16

static int c, s;

static void *big_sender(void *arg)
{
	(void)arg;
	static char buf[NBIG][BIG];
	struct iovec iov[NBIG];
	struct mmsghdr v[NBIG];
	memset(v, 0, sizeof(v));
	for (int i = 0; i < NBIG; i++) {
		pat_fill(buf[i], BIG, (uint64_t)i * BIG, 7);
		iov[i] = (struct iovec){buf[i], BIG};
		v[i].msg_hdr.msg_iov = &iov[i];
		v[i].msg_hdr.msg_iovlen = 1;
	}
	for (int sent = 0; sent < NBIG;) {
		int r = sendmmsg(c, v + sent, NBIG - sent, 0);
		CHECK(r > 0);
		for (int i = sent; i < sent + r; i++)
			CHECK_EQ(v[i].msg_len, BIG);
		sent += r;
	}
	return NULL;
}

int main(void)
{
	watchdog(20);
	make_pair(&c, &s);

	/* Three messages of two pieces each arrive as one ordered stream. */
	char *parts[6] = {"ab", "cde", "f", "ghij", "", "klm"};
	struct iovec iov[6];
	struct mmsghdr v[4];
	memset(v, 0, sizeof(v));
	for (int i = 0; i < 6; i++)
		iov[i] = (struct iovec){parts[i], strlen(parts[i])};
	for (int i = 0; i < 3; i++) {
		v[i].msg_hdr.msg_iov = &iov[2 * i];
		v[i].msg_hdr.msg_iovlen = 2;
	}
	CHECK_EQ(sendmmsg(c, v, 3, 0), 3);
	CHECK_EQ(v[0].msg_len, 5);
	CHECK_EQ(v[1].msg_len, 5);
	CHECK_EQ(v[2].msg_len, 3);
	char buf[64] = {0};
	read_all(s, buf, 13);
	CHECK(memcmp(buf, "abcdefghijklm", 13) == 0);

	/* MSG_WAITFORONE: one entry holds what was there, the next finds nothing. */
	char r0[32], r1[32], r2[32];
	struct iovec riov[3] = {{r0, sizeof(r0)}, {r1, sizeof(r1)}, {r2, sizeof(r2)}};
	memset(v, 0, sizeof(v));
	for (int i = 0; i < 3; i++) {
		v[i].msg_hdr.msg_iov = &riov[i];
		v[i].msg_hdr.msg_iovlen = 1;
	}
	write_all(c, "0123456789", 10);
	CHECK_EQ(recvmmsg(s, v, 3, MSG_WAITFORONE, NULL), 1);
	CHECK_EQ(v[0].msg_len, 10);
	CHECK(memcmp(r0, "0123456789", 10) == 0);
	CHECK_ERR(recvmmsg(s, v, 3, MSG_DONTWAIT, NULL), EAGAIN);

	/* A blocking sendmmsg of 1 MiB, read back with recvmmsg. */
	pthread_t t;
	pthread_create(&t, NULL, big_sender, NULL);
	static char in[4][BIG];
	struct iovec biov[4];
	struct mmsghdr bv[4];
	memset(bv, 0, sizeof(bv));
	for (int i = 0; i < 4; i++) {
		biov[i] = (struct iovec){in[i], BIG};
		bv[i].msg_hdr.msg_iov = &biov[i];
		bv[i].msg_hdr.msg_iovlen = 1;
	}
	uint64_t got = 0;
	while (got < (uint64_t)NBIG * BIG) {
		int r = recvmmsg(s, bv, 4, MSG_WAITFORONE, NULL);
		CHECK(r > 0);
		for (int i = 0; i < r; i++) {
			CHECK(bv[i].msg_len > 0);
			pat_check(in[i], bv[i].msg_len, got, 7);
			got += bv[i].msg_len;
		}
	}
	CHECK_EQ(got, (uint64_t)NBIG * BIG);
	pthread_join(t, NULL);

	/* At EOF each entry reads 0 bytes, as the kernel's loop does. */
	close(c);
	CHECK_EQ(recvmmsg(s, v, 3, 0, NULL), 3);
	CHECK_EQ(v[0].msg_len + v[1].msg_len + v[2].msg_len, 0);
	close(s);
	printf("ok\n");
	return 0;
}
