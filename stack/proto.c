/* SPDX-License-Identifier: MIT */
/* Message framing and validation for the control protocol and the handshake. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "proto.h"
#include "sys.h"

void xio_msg_init(struct xio_msg_hdr *h, uint16_t type, uint32_t len)
{
	memset(h, 0, sizeof(*h));
	h->magic = XIO_PROTO_MAGIC;
	h->version = XIO_PROTO_VERSION;
	h->type = type;
	h->len = len;
}

int xio_msg_check(const void *buf, size_t n, uint16_t type, size_t min_len)
{
	struct xio_msg_hdr h;

	if (n < sizeof(h))
		return -ENODATA;
	memcpy(&h, buf, sizeof(h)); /* buf may be unaligned */
	if (h.magic != XIO_PROTO_MAGIC)
		return -EPROTO;
	if (h.version != XIO_PROTO_VERSION)
		return -EPROTONOSUPPORT;
	if (h.type != type)
		return -EPROTO;
	if (h.len != n || n < min_len || min_len < sizeof(h))
		return -EMSGSIZE;
	return 0;
}

int xio_offer_check(const struct xio_hs_offer *o, uint64_t generation, uint32_t nslots)
{
	if (o->layout_version != XIO_LAYOUT_VERSION)
		return -EPROTO;
	if (o->generation != generation)
		return -ESTALE;
	if (o->slot >= nslots)
		return -ERANGE;
	return 0;
}

ssize_t xio_send_with_fds(int sock, const void *buf, size_t len, const int *fds, int nfds)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 8)];
	} ctl;
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	ssize_t n;

	if (nfds < 0 || nfds > 8)
		return -EINVAL;
	if (nfds > 0) {
		memset(&ctl, 0, sizeof(ctl));
		msg.msg_control = ctl.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	do
		n = xio_sys.sendmsg(sock, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

ssize_t xio_recv_with_fds(int sock, void *buf, size_t len, int *fds, int *nfds, int maxfds)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 8)];
	} ctl;
	struct iovec iov = {.iov_base = buf, .iov_len = len};
	struct msghdr msg = {.msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = ctl.buf,
			     .msg_controllen = sizeof(ctl.buf)};
	ssize_t n;
	int got = 0;

	do
		n = xio_sys.recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
		    c->cmsg_len < CMSG_LEN(0))
			continue;
		int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		int *p = (int *)CMSG_DATA(c);
		for (int i = 0; i < k; i++) {
			if (fds && got < maxfds)
				fds[got++] = p[i];
			else
				xio_sys.close(p[i]);
		}
	}
	if (nfds)
		*nfds = got;
	if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
		for (int i = 0; i < got; i++)
			xio_sys.close(fds[i]);
		if (nfds)
			*nfds = 0;
		return -EMSGSIZE;
	}
	return n;
}

#define XIO_FB_NAME_(e, name, side, what) [XIO_FB_##e] = name,
#define XIO_FB_SIDE_(e, name, side, what) [XIO_FB_##e] = side,
#define XIO_FB_WHAT_(e, name, side, what) [XIO_FB_##e] = what,
static const char *const fb_name[XIO_FB_MAX] = {XIO_FALLBACK_REASONS(XIO_FB_NAME_)};
static const char *const fb_side[XIO_FB_MAX] = {XIO_FALLBACK_REASONS(XIO_FB_SIDE_)};
static const char *const fb_what[XIO_FB_MAX] = {XIO_FALLBACK_REASONS(XIO_FB_WHAT_)};

const char *xio_fallback_name(unsigned why)
{
	return why < XIO_FB_MAX ? fb_name[why] : NULL;
}

const char *xio_fallback_side(unsigned why)
{
	return why < XIO_FB_MAX ? fb_side[why] : NULL;
}

const char *xio_fallback_what(unsigned why)
{
	return why < XIO_FB_MAX ? fb_what[why] : NULL;
}
