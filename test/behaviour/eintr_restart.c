/* SPDX-License-Identifier: MIT */
/*
 * Proves: a signal caught while a call blocks behaves as with kernel TCP
 * (signal(7)): read, recv, write (full send path) and accept return -1 EINTR
 * when the handler was installed without SA_RESTART and are restarted
 * transparently with SA_RESTART (they then complete with the data that
 * arrives later); read with SO_RCVTIMEO set is never restarted (EINTR even
 * with SA_RESTART); poll and epoll_wait (also on a set a fork shares) always fail with EINTR,
 * SA_RESTART or not.
 */
#include <poll.h>
#include <pthread.h>
#include <sys/epoll.h>

#include "helpers.h"

static volatile sig_atomic_t handled;
static pthread_t main_thread;
static int c, s, l;
static uint16_t port;

static void on_usr1(int sig)
{
	(void)sig;
	handled++;
}

static void install(int restart)
{
	struct sigaction sa = {.sa_handler = on_usr1, .sa_flags = restart ? SA_RESTART : 0};
	sigemptyset(&sa.sa_mask);
	OK(sigaction(SIGUSR1, &sa, NULL));
	handled = 0;
}

/* After 100 ms: SIGUSR1 to the main thread; after 300 ms: @then (if any). */
enum then { NOTHING, WRITE_PEER, CONNECT, DRAIN_PEER };
static enum then then_what;
static int late_fd = -1;

static void *poke(void *arg)
{
	(void)arg;
	sleep_ms(100);
	pthread_kill(main_thread, SIGUSR1);
	sleep_ms(200);
	static char junk[1 << 16];
	switch (then_what) {
	case WRITE_PEER:
		write_all(c, "z", 1);
		break;
	case CONNECT:
		late_fd = connect_lo(port);
		break;
	case DRAIN_PEER:
		/* Read until a short while passes with nothing more. */
		for (;;) {
			struct pollfd p = {.fd = c, .events = POLLIN};
			if (poll(&p, 1, 300) <= 0)
				break;
			if (read(c, junk, sizeof(junk)) <= 0)
				break;
		}
		break;
	case NOTHING:
		break;
	}
	return NULL;
}

#define ANY_FD 0x7fffffff /* want_ret: any descriptor */

/* Run @call with the poker; check the result against the expectation. */
#define INTERRUPTED(restart, then, call, want_ret, want_errno)                                     \
	do {                                                                                       \
		install(restart);                                                                  \
		then_what = (then);                                                                \
		pthread_t t_;                                                                      \
		pthread_create(&t_, NULL, poke, NULL);                                             \
		errno = 0;                                                                         \
		long long r_ = (long long)(call);                                                  \
		int e_ = errno;                                                                    \
		pthread_join(t_, NULL);                                                            \
		CHECK_EQ(handled, 1);                                                              \
		if ((want_ret) == ANY_FD ? r_ < 0                                                  \
					 : (r_ != (want_ret) || (r_ < 0 && e_ != (want_errno))))   \
			FAIL("%s with%s SA_RESTART: got %lld errno %d (%s), want %lld errno %d",   \
			     #call, (restart) ? "" : "out", r_, e_, strerror(e_),                  \
			     (long long)(want_ret), (want_errno));                                 \
	} while (0)

int main(void)
{
	char b;
	static char big[1 << 16];

	watchdog(25);
	setvbuf(stdout, NULL, _IONBF, 0);
	main_thread = pthread_self();
	l = listen_lo(&port);
	c = connect_lo(port);
	s = OK(accept(l, NULL, NULL));
	require_xio(c);
	require_xio(s);

	/* read */
	INTERRUPTED(0, NOTHING, read(s, &b, 1), -1, EINTR);
	INTERRUPTED(1, WRITE_PEER, read(s, &b, 1), 1, 0);
	CHECK_EQ(b, 'z');
	/* recv (the fortified __recv_chk path) */
	INTERRUPTED(0, NOTHING, recv(s, &b, 1, 0), -1, EINTR);
	INTERRUPTED(1, WRITE_PEER, recv(s, &b, 1, 0), 1, 0);

	/* accept */
	INTERRUPTED(0, NOTHING, accept(l, NULL, NULL), -1, EINTR);
	INTERRUPTED(1, CONNECT, accept(l, NULL, NULL), ANY_FD, 0);
	CHECK(late_fd >= 0);

	/* poll and epoll_wait: EINTR whatever SA_RESTART says. */
	struct pollfd p = {.fd = s, .events = POLLIN};
	INTERRUPTED(0, NOTHING, poll(&p, 1, 5000), -1, EINTR);
	INTERRUPTED(1, NOTHING, poll(&p, 1, 5000), -1, EINTR);
	int ep = OK(epoll_create1(0));
	struct epoll_event e = {.events = EPOLLIN}, ev[2];
	OK(epoll_ctl(ep, EPOLL_CTL_ADD, s, &e));
	INTERRUPTED(0, NOTHING, epoll_wait(ep, ev, 2, 5000), -1, EINTR);
	INTERRUPTED(1, NOTHING, epoll_wait(ep, ev, 2, 5000), -1, EINTR);
	/* Also once the set is shared with a child (redis forks for BGSAVE). */
	pid_t kid = fork_child();
	if (kid == 0)
		_exit(0);
	wait_ok(kid);
	INTERRUPTED(0, NOTHING, epoll_wait(ep, ev, 2, 5000), -1, EINTR);
	close(ep);

	/* read with SO_RCVTIMEO: EINTR even with SA_RESTART. */
	struct timeval tv = {3, 0};
	OK(setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)));
	INTERRUPTED(1, NOTHING, read(s, &b, 1), -1, EINTR);
	tv = (struct timeval){0, 0};
	OK(setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)));

	/* write on a full send path: blocks; EINTR without SA_RESTART (nothing was sent). */
	set_nonblock(s, 1);
	size_t queued = fill_until_eagain(s);
	set_nonblock(s, 0);
	INTERRUPTED(0, NOTHING, write(s, big, 1), -1, EINTR);
	/* With SA_RESTART it completes once the peer reads. */
	INTERRUPTED(1, DRAIN_PEER, write(s, big, 1), 1, 0);
	(void)queued;

	printf("eintr_restart: ok\n");
	return 0;
}
