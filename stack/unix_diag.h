/* SPDX-License-Identifier: MIT */
/*
 * AF_UNIX sock_diag (NETLINK_SOCK_DIAG) requests and replies, for the
 * library (stack/demote.c: who holds the other end of a socket) and the
 * manager (manager/diag.c: which sockets and listeners exist). Header-only,
 * so that the preload library and the manager share it without the preload
 * linking manager code. See sock_diag(7).
 */
#ifndef XIO_UNIX_DIAG_H
#define XIO_UNIX_DIAG_H

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* One request: the netlink header and the AF_UNIX query. */
struct xio_unix_diag_req {
	struct nlmsghdr nlh;
	struct unix_diag_req req;
};

/*
 * The request for the sockets in @states (1 << TCP_* bits) with the
 * attributes @show (UDIAG_SHOW_*): every one of them with @dump, else only
 * the socket with inode @ino. @seq tells the replies to it apart.
 */
static inline struct xio_unix_diag_req xio_unix_diag_req(uint32_t states, uint32_t show, bool dump,
							 uint32_t ino, uint32_t seq)
{
	return (struct xio_unix_diag_req){
	    .nlh = {.nlmsg_len = sizeof(struct xio_unix_diag_req),
		    .nlmsg_type = SOCK_DIAG_BY_FAMILY,
		    .nlmsg_flags = NLM_F_REQUEST | (dump ? NLM_F_DUMP : 0),
		    .nlmsg_seq = seq},
	    .req = {.sdiag_family = AF_UNIX,
		    .udiag_states = states,
		    .udiag_ino = ino,
		    .udiag_show = show,
		    /* no cookie: the kernel then checks none (a lookup by inode) */
		    .udiag_cookie = {~0u, ~0u}},
	};
}

/*
 * The socket a reply message @h describes, with its attributes in *@attr
 * (*@alen bytes, for RTA_OK/RTA_NEXT); NULL for a message that is not a
 * well-formed AF_UNIX sock_diag reply (NLMSG_DONE and NLMSG_ERROR included).
 */
static inline struct unix_diag_msg *xio_unix_diag_msg(struct nlmsghdr *h, struct rtattr **attr,
						      int *alen)
{
	if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
	    h->nlmsg_len < NLMSG_LENGTH(sizeof(struct unix_diag_msg)))
		return NULL;
	struct unix_diag_msg *d = NLMSG_DATA(h);
	*attr = (struct rtattr *)(d + 1);
	*alen = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof(*d)));
	return d;
}

#endif
