/* SPDX-License-Identifier: MIT */
/*
 * Proves: an edge-triggered (and a one-shot) epoll_wait reports an arrival
 * that comes while the waiter is still busy-waiting, as the kernel reports
 * every arrival whatever the waiter was doing. Under X-IO the wait spins
 * before it sleeps; the test makes that spin long (XIO_SPIN_US, re-executing
 * itself) and puts the writer on the other CPU, so the byte lands inside it.
 * A spin that consumed the edge and then looked again would lose it: the
 * wait would time out with nothing.
 */
#include <pthread.h>
#include <sched.h>
#include <sys/epoll.h>

#include "helpers.h"

static int c;

static void pin(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set); /* best effort: one CPU machines too */
}

static void *late_writer(void *arg)
{
	(void)arg;
	pin(1);
	sleep_ms(50);
	write_all(c, "x", 1);
	return NULL;
}

static void one(uint32_t mode, const char *name)
{
	int s;
	char buf[8];
	make_pair(&c, &s);
	set_nonblock(s, 1);
	int ep = OK(epoll_create1(0));
	struct epoll_event e = {.events = EPOLLIN | mode, .data.u64 = 0x5b};
	OK(epoll_ctl(ep, EPOLL_CTL_ADD, s, &e));
	pthread_t t;
	pthread_create(&t, NULL, late_writer, NULL);
	struct epoll_event ev[4];
	int64_t t0 = now_ms();
	int n = OK(epoll_wait(ep, ev, 4, 3000));
	if (n != 1)
		FAIL("%s: epoll_wait returned %d after %lld ms, want the arrival", name, n,
		     (long long)(now_ms() - t0));
	CHECK_EQ(ev[0].data.u64, 0x5b);
	CHECK(ev[0].events & EPOLLIN);
	pthread_join(t, NULL);
	CHECK_EQ(read(s, buf, sizeof(buf)), 1);
	require_xio(s);
	close(ep);
	close(c);
	close(s);
}

int main(int argc, char **argv)
{
	(void)argc;
	const char *spin = getenv("XIO_SPIN_US");
	if (!spin || strcmp(spin, "400000") != 0) {
		setenv("XIO_SPIN_US", "400000", 1); /* the arrival (50 ms) falls inside the spin */
		execv("/proc/self/exe", argv);
		FAIL("re-exec: %s", strerror(errno));
	}
	watchdog(20);
	setvbuf(stdout, NULL, _IONBF, 0);
	pin(0);
	one(EPOLLET, "EPOLLET");
	one(EPOLLONESHOT, "EPOLLONESHOT");
	one(EPOLLET | EPOLLONESHOT, "EPOLLET|EPOLLONESHOT");
	printf("epoll_et_spin: ok\n");
	return 0;
}
