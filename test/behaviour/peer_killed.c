/* SPDX-License-Identifier: MIT */
/*
 * Proves: a peer process killed with SIGKILL in the middle of a transfer
 * never leaves the survivor hanging: a reader sees the bytes that arrived,
 * then EOF or ECONNRESET, within 1 s of the kill; a writer blocked on a full
 * send path is released within 1 s with EPIPE or ECONNRESET (no SIGPIPE with
 * MSG_NOSIGNAL); epoll reports the connection (EPOLLIN/HUP/ERR) within 1 s.
 */
#include <pthread.h>
#include <sys/epoll.h>

#include "helpers.h"

static pid_t victim;
static int64_t killed_at;

static void *kill_later(void *arg)
{
	int ms = (int)(intptr_t)arg;
	sleep_ms(ms);
	killed_at = now_ms();
	kill(victim, SIGKILL);
	return NULL;
}

/* A child that connects to @port and runs @what: 0 = write forever, 1 = read nothing. */
static pid_t peer(uint16_t port, int what)
{
	pid_t pid = fork_child();
	CHECK(pid >= 0);
	if (pid == 0) {
		watchdog(20);
		int c = connect_lo(port);
		require_xio(c);
		static char buf[65536];
		pat_fill(buf, sizeof(buf), 0, 0);
		if (what == 0)
			for (;;)
				write_all(c, buf, sizeof(buf));
		for (;;)
			pause();
	}
	return pid;
}

int main(void)
{
	static char buf[65536];
	uint16_t port;
	pthread_t t;

	watchdog(25);
	setvbuf(stdout, NULL, _IONBF, 0);
	int l = listen_lo(&port);

	/* 1. We read while the writer is killed. */
	victim = peer(port, 0);
	int s = OK(accept(l, NULL, NULL));
	require_xio(s);
	size_t got = 0;
	while (got < (4u << 20)) {
		ssize_t n = read(s, buf, sizeof(buf));
		CHECK(n > 0);
		got += (size_t)n;
	}
	pthread_create(&t, NULL, kill_later, (void *)(intptr_t)50);
	for (;;) {
		ssize_t n = read(s, buf, sizeof(buf));
		if (n > 0)
			continue;
		CHECK(n == 0 || errno == ECONNRESET);
		break;
	}
	pthread_join(t, NULL);
	if (now_ms() - killed_at > 1000)
		FAIL("reader: EOF/reset %lld ms after SIGKILL", (long long)(now_ms() - killed_at));
	waitpid(victim, NULL, 0);
	close(s);

	/* 2. We are blocked writing when the reader is killed. */
	victim = peer(port, 1);
	s = OK(accept(l, NULL, NULL));
	require_xio(s);
	pthread_create(&t, NULL, kill_later, (void *)(intptr_t)300);
	for (;;) {
		ssize_t n = send(s, buf, sizeof(buf), MSG_NOSIGNAL);
		if (n > 0)
			continue;
		CHECK_EQ(n, -1);
		if (errno != EPIPE && errno != ECONNRESET)
			FAIL("writer: errno %d (%s), want EPIPE or ECONNRESET", errno,
			     strerror(errno));
		break;
	}
	pthread_join(t, NULL);
	if (now_ms() - killed_at > 1000)
		FAIL("writer: error %lld ms after SIGKILL", (long long)(now_ms() - killed_at));
	waitpid(victim, NULL, 0);
	close(s);

	/* 3. Asleep in epoll_wait when the idle peer is killed. */
	victim = peer(port, 1);
	s = OK(accept(l, NULL, NULL));
	int ep = OK(epoll_create1(0));
	struct epoll_event e = {.events = EPOLLIN | EPOLLRDHUP}, ev;
	OK(epoll_ctl(ep, EPOLL_CTL_ADD, s, &e));
	sleep_ms(50);
	pthread_create(&t, NULL, kill_later, (void *)(intptr_t)100);
	CHECK_EQ(epoll_wait(ep, &ev, 1, 5000), 1);
	pthread_join(t, NULL);
	CHECK(ev.events & (EPOLLIN | EPOLLHUP | EPOLLERR));
	if (now_ms() - killed_at > 1000)
		FAIL("epoll: event %lld ms after SIGKILL", (long long)(now_ms() - killed_at));
	ssize_t n = read(s, buf, sizeof(buf));
	CHECK(n == 0 || (n == -1 && errno == ECONNRESET));
	waitpid(victim, NULL, 0);
	close(ep);
	close(s);
	close(l);
	printf("peer_killed: ok\n");
	return 0;
}
