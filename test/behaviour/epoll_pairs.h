/* SPDX-License-Identifier: MIT */
/*
 * Shared by the epoll tests whose threads wait on one set of many
 * connections (epoll_del_add_worker, epoll_news_threads): the connections
 * made and put in the set, the wait those threads repeat, and the close.
 */
#ifndef XIO_BEHAVIOUR_EPOLL_PAIRS_H
#define XIO_BEHAVIOUR_EPOLL_PAIRS_H

#include <sys/epoll.h>

#include "helpers.h"

/*
 * @n connected pairs c[i] (client) / s[i] (server), each an X-IO connection;
 * every server end non-blocking and in set @ep for EPOLLIN with data.u32 = i.
 */
static inline void epoll_pairs_open(int ep, int n, int *c, int *s)
{
	for (int i = 0; i < n; i++) {
		make_pair(&c[i], &s[i]);
		require_xio(s[i]);
		set_nonblock(s[i], 1);
		struct epoll_event e = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
		OK(epoll_ctl(ep, EPOLL_CTL_ADD, s[i], &e));
	}
}

static inline void epoll_pairs_close(int n, const int *c, const int *s)
{
	for (int i = 0; i < n; i++) {
		close(c[i]);
		close(s[i]);
	}
}

/* Level-triggered epoll_wait on @ep without a timeout, again after EINTR: the events (> 0). */
static inline int epoll_wait_some(int ep, struct epoll_event *ev, int max)
{
	int n;
	while ((n = epoll_wait(ep, ev, max, -1)) < 0 && errno == EINTR)
		;
	CHECK(n > 0);
	return n;
}

#endif
