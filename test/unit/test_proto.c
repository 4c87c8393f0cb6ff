/* SPDX-License-Identifier: MIT */
/*
 * Proves that the wire layer (stack/proto.c) refuses every malformed message
 * with the documented errno — each truncation length, bad magic, another
 * version, another type, a length field that disagrees with what arrived —
 * and accepts a good one even at an odd address; that an offer is checked
 * for layout version, generation and slot range; and that messages carry 0,
 * 1 and 2 descriptors over SOCK_SEQPACKET so that the receiver gets the same
 * open files, close-on-exec, while a too-small buffer gives -EMSGSIZE and
 * leaks no descriptor.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"
#include "proto.h"
#include "sys.h"

static struct xio_hs_offer good_offer(void)
{
	struct xio_hs_offer o;

	memset(&o, 0, sizeof(o));
	xio_msg_init(&o.hdr, XIO_HS_OFFER, sizeof(o));
	o.generation = 0x1122334455667788ull;
	o.slot = 7;
	o.token = 0xdeadbeef;
	o.layout_version = XIO_LAYOUT_VERSION;
	o.pid = 1234;
	o.client = xt_ep("127.0.0.1", 40000);
	o.server = xt_ep("127.0.0.1", 5201);
	return o;
}

/* ---- xio_msg_check ------------------------------------------------------- */

START_TEST(test_msg_init)
{
	struct xio_msg_hdr h;

	memset(&h, 0xff, sizeof(h));
	xio_msg_init(&h, XIO_CTL_STATS, 1234);
	ck_assert_uint_eq(h.magic, XIO_PROTO_MAGIC);
	ck_assert_uint_eq(h.version, XIO_PROTO_VERSION);
	ck_assert_uint_eq(h.type, XIO_CTL_STATS);
	ck_assert_uint_eq(h.len, 1234);
	ck_assert_int_eq(h.status, 0);
}
END_TEST

START_TEST(test_msg_good)
{
	struct xio_hs_offer o = good_offer();
	struct xio_msg_hdr a;
	char odd[sizeof(o) + 1];

	ck_assert_int_eq(xio_msg_check(&o, sizeof(o), XIO_HS_OFFER, sizeof(o)), 0);
	/* A message may be longer than the minimum its receiver needs. */
	ck_assert_int_eq(xio_msg_check(&o, sizeof(o), XIO_HS_OFFER, sizeof(o.hdr)), 0);
	/* Received bytes need not be aligned. */
	memcpy(odd + 1, &o, sizeof(o));
	ck_assert_int_eq(xio_msg_check(odd + 1, sizeof(o), XIO_HS_OFFER, sizeof(o)), 0);

	xio_msg_init(&a, XIO_CTL_REPLY, sizeof(a));
	ck_assert_int_eq(xio_msg_check(&a, sizeof(a), XIO_CTL_REPLY, sizeof(a)), 0);
}
END_TEST

START_TEST(test_msg_truncated)
{
	struct xio_hs_offer o = good_offer();

	/* Every prefix of a good offer is refused: no header, or fewer bytes than it says. */
	for (size_t n = 0; n < sizeof(o); n++) {
		int want = n < sizeof(struct xio_msg_hdr) ? -ENODATA : -EMSGSIZE;
		int got = xio_msg_check(&o, n, XIO_HS_OFFER, sizeof(o));
		ck_assert_msg(got == want, "length %zu: %d, want %d", n, got, want);
	}

	/* A prefix that claims exactly its own length is still too short for an offer. */
	for (size_t n = sizeof(struct xio_msg_hdr); n < sizeof(o); n++) {
		o.hdr.len = (uint32_t)n;
		ck_assert_int_eq(xio_msg_check(&o, n, XIO_HS_OFFER, sizeof(o)), -EMSGSIZE);
	}
}
END_TEST

START_TEST(test_msg_bad_magic)
{
	struct xio_hs_offer o = good_offer();

	for (int byte = 0; byte < 4; byte++) {
		struct xio_hs_offer b = o;
		((unsigned char *)&b.hdr.magic)[byte] ^= 0x20;
		ck_assert_int_eq(xio_msg_check(&b, sizeof(b), XIO_HS_OFFER, sizeof(b)), -EPROTO);
	}
	/* The layout magic is not the protocol magic. */
	o.hdr.magic = XIO_MAGIC;
	ck_assert_int_eq(xio_msg_check(&o, sizeof(o), XIO_HS_OFFER, sizeof(o)), -EPROTO);
	/* Garbage of the right size. */
	memset(&o, 0xa5, sizeof(o));
	ck_assert_int_eq(xio_msg_check(&o, sizeof(o), XIO_HS_OFFER, sizeof(o)), -EPROTO);
}
END_TEST

START_TEST(test_msg_bad_version)
{
	struct xio_hs_offer o = good_offer();

	o.hdr.version = XIO_PROTO_VERSION + 1;
	ck_assert_int_eq(xio_msg_check(&o, sizeof(o), XIO_HS_OFFER, sizeof(o)), -EPROTONOSUPPORT);
	o.hdr.version = 0;
	ck_assert_int_eq(xio_msg_check(&o, sizeof(o), XIO_HS_OFFER, sizeof(o)), -EPROTONOSUPPORT);
	/* Version is judged before length: a newer peer may have grown the message. */
	o.hdr.version = XIO_PROTO_VERSION + 1;
	o.hdr.len = sizeof(o) + 8;
	ck_assert_int_eq(xio_msg_check(&o, sizeof(o), XIO_HS_OFFER, sizeof(o)), -EPROTONOSUPPORT);
}
END_TEST

START_TEST(test_msg_bad_type)
{
	struct xio_hs_offer o = good_offer();

	ck_assert_int_eq(xio_msg_check(&o, sizeof(o), XIO_CTL_HELLO, sizeof(o)), -EPROTO);
	ck_assert_int_eq(xio_msg_check(&o, sizeof(o), XIO_CTL_REPLY, sizeof(o)), -EPROTO);
	o.hdr.type = 0;
	ck_assert_int_eq(xio_msg_check(&o, sizeof(o), XIO_HS_OFFER, sizeof(o)), -EPROTO);
}
END_TEST

START_TEST(test_msg_len_mismatch)
{
	struct xio_hs_offer o = good_offer();
	char big[sizeof(o) + 16];

	o.hdr.len = sizeof(o) - 1;
	ck_assert_int_eq(xio_msg_check(&o, sizeof(o), XIO_HS_OFFER, sizeof(o) - 1), -EMSGSIZE);
	o.hdr.len = sizeof(o) + 1;
	ck_assert_int_eq(xio_msg_check(&o, sizeof(o), XIO_HS_OFFER, sizeof(o)), -EMSGSIZE);
	o.hdr.len = 0;
	ck_assert_int_eq(xio_msg_check(&o, sizeof(o), XIO_HS_OFFER, sizeof(o)), -EMSGSIZE);
	o.hdr.len = UINT32_MAX;
	ck_assert_int_eq(xio_msg_check(&o, sizeof(o), XIO_HS_OFFER, sizeof(o)), -EMSGSIZE);

	/* More bytes arrived than the header announces: trailing garbage is refused. */
	o = good_offer();
	memset(big, 0, sizeof(big));
	memcpy(big, &o, sizeof(o));
	ck_assert_int_eq(xio_msg_check(big, sizeof(big), XIO_HS_OFFER, sizeof(o)), -EMSGSIZE);

	/* A caller's minimum below a header is a bug, refused rather than trusted. */
	ck_assert_int_eq(xio_msg_check(&o, sizeof(o), XIO_HS_OFFER, 0), -EMSGSIZE);
}
END_TEST

/* ---- xio_offer_check ------------------------------------------------------ */

START_TEST(test_offer_check)
{
	struct xio_hs_offer o = good_offer();
	const uint64_t gen = o.generation;

	ck_assert_int_eq(xio_offer_check(&o, gen, 8), 0);

	/* Slot range: the last slot is valid, one past is not. */
	o.slot = 7;
	ck_assert_int_eq(xio_offer_check(&o, gen, 8), 0);
	ck_assert_int_eq(xio_offer_check(&o, gen, 7), -ERANGE);
	o.slot = UINT32_MAX;
	ck_assert_int_eq(xio_offer_check(&o, gen, UINT32_MAX), -ERANGE);
	o.slot = 0;
	ck_assert_int_eq(xio_offer_check(&o, gen, 1), 0);
	ck_assert_int_eq(xio_offer_check(&o, gen, 0), -ERANGE);

	/* Another manager generation: the slot index means nothing here. */
	o = good_offer();
	ck_assert_int_eq(xio_offer_check(&o, gen + 1, 8), -ESTALE);
	ck_assert_int_eq(xio_offer_check(&o, gen ^ (1ull << 63), 8), -ESTALE);
	ck_assert_int_eq(xio_offer_check(&o, 0, 8), -ESTALE);

	/* Another layout: the slot would be misread. */
	o.layout_version = XIO_LAYOUT_VERSION + 1;
	ck_assert_int_eq(xio_offer_check(&o, gen, 8), -EPROTO);
	o.layout_version = 0;
	ck_assert_int_eq(xio_offer_check(&o, gen, 8), -EPROTO);
}
END_TEST

/* ---- descriptor passing --------------------------------------------------- */

static int seqpair[2];

static void pair_setup(void)
{
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, seqpair), 0);
}

static void pair_teardown(void)
{
	close(seqpair[0]);
	close(seqpair[1]);
}

/* A file that is surely distinct from any other open one. */
static int new_file(const char *name)
{
	int fd = memfd_create(name, 0); /* no MFD_CLOEXEC: the received copy must add it */

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, name, strlen(name)), (ssize_t)strlen(name));
	return fd;
}

static void assert_same_file(int a, int b)
{
	struct stat sa, sb;

	ck_assert_int_ne(a, b);
	ck_assert_int_eq(fstat(a, &sa), 0);
	ck_assert_int_eq(fstat(b, &sb), 0);
	ck_assert_uint_eq(sa.st_dev, sb.st_dev);
	ck_assert_uint_eq(sa.st_ino, sb.st_ino);
}

static void assert_cloexec(int fd)
{
	int flags = fcntl(fd, F_GETFD);

	ck_assert_int_ge(flags, 0);
	ck_assert_msg(flags & FD_CLOEXEC, "fd %d is not close-on-exec", fd);
}

START_TEST(test_fds_zero)
{
	struct xio_hs_offer o = good_offer(), in;
	int fds[2] = {-1, -1}, nfds = -1;

	ck_assert_int_eq(xio_send_with_fds(seqpair[0], &o, sizeof(o), NULL, 0), (ssize_t)sizeof(o));
	memset(&in, 0, sizeof(in));
	ck_assert_int_eq(xio_recv_with_fds(seqpair[1], &in, sizeof(in), fds, &nfds, 2),
			 (ssize_t)sizeof(in));
	ck_assert_int_eq(nfds, 0);
	ck_assert_int_eq(fds[0], -1);
	ck_assert_mem_eq(&in, &o, sizeof(o));
	ck_assert_int_eq(xio_msg_check(&in, sizeof(in), XIO_HS_OFFER, sizeof(in)), 0);
}
END_TEST

START_TEST(test_fds_one)
{
	struct xio_msg_hdr h, in;
	int f = new_file("one"), got = -1, nfds = -1;

	xio_msg_init(&h, XIO_CTL_HELLO, sizeof(h));
	ck_assert_int_eq(xio_send_with_fds(seqpair[0], &h, sizeof(h), &f, 1), (ssize_t)sizeof(h));
	/* The sender's copy may go away before delivery: the message holds its own reference. */
	close(f);
	ck_assert_int_eq(xio_recv_with_fds(seqpair[1], &in, sizeof(in), &got, &nfds, 1),
			 (ssize_t)sizeof(in));
	ck_assert_int_eq(nfds, 1);
	ck_assert_int_ge(got, 0);
	assert_cloexec(got);
	char buf[8] = {0};
	ck_assert_int_eq(pread(got, buf, sizeof(buf), 0), 3);
	ck_assert_str_eq(buf, "one");
	ck_assert_uint_eq(in.type, XIO_CTL_HELLO);
	close(got);
}
END_TEST

START_TEST(test_fds_two)
{
	struct xio_msg_hdr h, in;
	int f[2] = {new_file("first"), new_file("second")}, got[2] = {-1, -1}, nfds = -1;

	xio_msg_init(&h, XIO_CTL_PUBLISH, sizeof(h));
	ck_assert_int_eq(xio_send_with_fds(seqpair[0], &h, sizeof(h), f, 2), (ssize_t)sizeof(h));
	ck_assert_int_eq(xio_recv_with_fds(seqpair[1], &in, sizeof(in), got, &nfds, 2),
			 (ssize_t)sizeof(in));
	ck_assert_int_eq(nfds, 2);
	/* Order is kept: PUBLISH relies on [AF_UNIX listener, TCP listener]. */
	assert_same_file(f[0], got[0]);
	assert_same_file(f[1], got[1]);
	assert_cloexec(got[0]);
	assert_cloexec(got[1]);
	for (int i = 0; i < 2; i++) {
		close(f[i]);
		close(got[i]);
	}
}
END_TEST

START_TEST(test_fds_more_than_wanted)
{
	/* Extra descriptors are closed, not leaked; the message itself is fine. */
	struct xio_msg_hdr h, in;
	int f[2] = {new_file("keep"), new_file("drop")}, got = -1, nfds = -1;
	int before;

	xio_msg_init(&h, XIO_CTL_PUBLISH, sizeof(h));
	ck_assert_int_eq(xio_send_with_fds(seqpair[0], &h, sizeof(h), f, 2), (ssize_t)sizeof(h));
	before = xt_count_fds();
	ck_assert_int_eq(xio_recv_with_fds(seqpair[1], &in, sizeof(in), &got, &nfds, 1),
			 (ssize_t)sizeof(in));
	ck_assert_int_eq(nfds, 1);
	assert_same_file(f[0], got);
	ck_assert_int_eq(xt_count_fds(), before + 1);

	/* No room for descriptors at all. */
	ck_assert_int_eq(xio_send_with_fds(seqpair[0], &h, sizeof(h), f, 2), (ssize_t)sizeof(h));
	ck_assert_int_eq(xio_recv_with_fds(seqpair[1], &in, sizeof(in), NULL, &nfds, 0),
			 (ssize_t)sizeof(in));
	ck_assert_int_eq(nfds, 0);
	ck_assert_int_eq(xt_count_fds(), before + 1);
	close(got);
}
END_TEST

START_TEST(test_fds_buffer_too_small)
{
	struct xio_hs_offer o = good_offer();
	char small[sizeof(o) - 1];
	int f[2] = {new_file("a"), new_file("b")}, got[2] = {-1, -1}, nfds = -1;
	int before;

	ck_assert_int_eq(xio_send_with_fds(seqpair[0], &o, sizeof(o), f, 2), (ssize_t)sizeof(o));
	before = xt_count_fds();
	ck_assert_int_eq(xio_recv_with_fds(seqpair[1], small, sizeof(small), got, &nfds, 2),
			 -EMSGSIZE);
	ck_assert_int_eq(nfds, 0);
	/* The descriptors that did arrive with the truncated message were closed. */
	ck_assert_int_eq(xt_count_fds(), before);

	/* The truncated message was consumed; the next one arrives whole. */
	ck_assert_int_eq(xio_send_with_fds(seqpair[0], &o, sizeof(o), NULL, 0), (ssize_t)sizeof(o));
	struct xio_hs_offer in;
	ck_assert_int_eq(xio_recv_with_fds(seqpair[1], &in, sizeof(in), got, &nfds, 2),
			 (ssize_t)sizeof(in));
	ck_assert_int_eq(nfds, 0);
	ck_assert_mem_eq(&in, &o, sizeof(o));
}
END_TEST

START_TEST(test_fds_eof_and_errors)
{
	struct xio_msg_hdr h;
	int f = new_file("x"), nfds = -1;
	int many[9];

	xio_msg_init(&h, XIO_CTL_HELLO, sizeof(h));
	for (int i = 0; i < 9; i++)
		many[i] = f;
	ck_assert_int_eq(xio_send_with_fds(seqpair[0], &h, sizeof(h), many, 9), -EINVAL);
	ck_assert_int_eq(xio_send_with_fds(seqpair[0], &h, sizeof(h), many, -1), -EINVAL);
	ck_assert_int_eq(xio_send_with_fds(-1, &h, sizeof(h), NULL, 0), -EBADF);

	/* Peer gone: EOF on receive. */
	close(seqpair[0]);
	seqpair[0] = -1;
	ck_assert_int_eq(xio_recv_with_fds(seqpair[1], &h, sizeof(h), NULL, &nfds, 0), 0);
	ck_assert_int_eq(nfds, 0);
	close(f);
}
END_TEST

START_TEST(test_send_no_sigpipe)
{
	/*
	 * A peer that went away gives -EPIPE, never SIGPIPE: the stack runs
	 * inside applications that did not ask for the signal. (A stream pair:
	 * the kernel raises SIGPIPE there, not on SOCK_SEQPACKET.)
	 */
	struct xio_msg_hdr h;
	int sv[2];

	xio_msg_init(&h, XIO_CTL_HELLO, sizeof(h));
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	close(sv[0]);
	signal(SIGPIPE, SIG_DFL);
	ck_assert_int_eq(xio_send_with_fds(sv[1], &h, sizeof(h), NULL, 0), -EPIPE);
	close(sv[1]);
}
END_TEST

START_TEST(test_fds_nonblocking_empty)
{
	struct xio_msg_hdr h;
	int nfds = -1;

	ck_assert_int_eq(fcntl(seqpair[1], F_SETFL, O_NONBLOCK), 0);
	ck_assert_int_eq(xio_recv_with_fds(seqpair[1], &h, sizeof(h), NULL, &nfds, 0), -EAGAIN);
}
END_TEST

static Suite *proto_suite(void)
{
	Suite *s = suite_create("proto");
	TCase *tc = tcase_create("check");

	tcase_add_test(tc, test_msg_init);
	tcase_add_test(tc, test_msg_good);
	tcase_add_test(tc, test_msg_truncated);
	tcase_add_test(tc, test_msg_bad_magic);
	tcase_add_test(tc, test_msg_bad_version);
	tcase_add_test(tc, test_msg_bad_type);
	tcase_add_test(tc, test_msg_len_mismatch);
	tcase_add_test(tc, test_offer_check);
	suite_add_tcase(s, tc);

	tc = tcase_create("fds");
	tcase_add_checked_fixture(tc, pair_setup, pair_teardown);
	tcase_add_test(tc, test_fds_zero);
	tcase_add_test(tc, test_fds_one);
	tcase_add_test(tc, test_fds_two);
	tcase_add_test(tc, test_fds_more_than_wanted);
	tcase_add_test(tc, test_fds_buffer_too_small);
	tcase_add_test(tc, test_fds_eof_and_errors);
	tcase_add_test(tc, test_send_no_sigpipe);
	tcase_add_test(tc, test_fds_nonblocking_empty);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	xio_sys_use_libc();
	return xt_run(proto_suite());
}
