/* SPDX-License-Identifier: MIT */
/*
 * Proves: epoll_pwait2 on a set holding an idle connection honours its
 * timespec timeout — zero returns at once, 300 us returns 0 after at least
 * 300 us (and within 100 ms), 50 ms and 1.2 s after at least that long (and
 * within 0.5 s and 2 s), NULL blocks until the peer writes, a ready fd
 * returns at once whatever the timeout; epoll_wait and epoll_pwait time out
 * the same way in milliseconds; a signal made deliverable by the sigmask
 * argument interrupts the wait with EINTR, one the mask keeps blocked does
 * not; an invalid timespec (tv_nsec >= 1e9, tv_sec < 0) and maxevents 0 are
 * EINVAL.
 */
#include <pthread.h>
#include <sys/epoll.h>

#include "helpers.h"

static int c, s, ep;
static volatile sig_atomic_t got_usr1;

static void on_usr1(int sig)
{
	(void)sig;
	got_usr1++;
}

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* epoll_pwait2 with @ns timeout (-1: NULL); returns the result, *@us the time it took. */
static int pwait2(long long ns, const sigset_t *mask, int64_t *us)
{
	struct epoll_event ev[4];
	struct timespec ts = {ns / 1000000000, ns % 1000000000};
	int64_t t0 = now_us();
	int r = epoll_pwait2(ep, ev, 4, ns < 0 ? NULL : &ts, mask);
	*us = now_us() - t0;
	return r;
}

static void *write_later(void *arg)
{
	(void)arg;
	sleep_ms(150);
	write_all(c, "x", 1);
	return NULL;
}

int main(void)
{
	struct epoll_event ev[4];
	int64_t us;
	char b;

	watchdog(20);
	setvbuf(stdout, NULL, _IONBF, 0);
	make_pair(&c, &s);
	ep = OK(epoll_create1(0));
	struct epoll_event e = {.events = EPOLLIN, .data.u64 = 9};
	OK(epoll_ctl(ep, EPOLL_CTL_ADD, s, &e));

	/* Zero: at once. */
	CHECK_EQ(pwait2(0, NULL, &us), 0);
	if (us > 20000)
		FAIL("zero timeout took %lld us", (long long)us);

	/* 50 ms: not before, not much after. */
	CHECK_EQ(pwait2(50000000, NULL, &us), 0);
	if (us < 50000 || us > 500000)
		FAIL("50 ms timeout took %lld us", (long long)us);

	/* 300 us: at least that long, and nowhere near a rounding to seconds. */
	CHECK_EQ(pwait2(300000, NULL, &us), 0);
	if (us < 300 || us > 100000)
		FAIL("300 us timeout took %lld us", (long long)us);

	/* 1.2 s: whole seconds plus nanoseconds both count. */
	CHECK_EQ(pwait2(1200000000LL, NULL, &us), 0);
	if (us < 1200000 || us > 2000000)
		FAIL("1.2 s timeout took %lld us", (long long)us);

	/* epoll_wait and epoll_pwait in milliseconds. */
	int64_t t0 = now_us();
	CHECK_EQ(epoll_wait(ep, ev, 4, 30), 0);
	us = now_us() - t0;
	if (us < 30000 || us > 500000)
		FAIL("epoll_wait 30 ms took %lld us", (long long)us);
	t0 = now_us();
	CHECK_EQ(epoll_pwait(ep, ev, 4, 30, NULL), 0);
	us = now_us() - t0;
	if (us < 30000 || us > 500000)
		FAIL("epoll_pwait 30 ms took %lld us", (long long)us);

	/* NULL: sleeps until the peer writes (150 ms later). */
	pthread_t t;
	pthread_create(&t, NULL, write_later, NULL);
	CHECK_EQ(pwait2(-1, NULL, &us), 1);
	pthread_join(t, NULL);
	if (us < 100000 || us > 1500000)
		FAIL("NULL timeout returned after %lld us", (long long)us);
	CHECK_EQ(read(s, &b, 1), 1);

	/* Data already there: returns at once even with a long timeout. */
	write_all(c, "y", 1);
	CHECK_EQ(pwait2(5000000000LL, NULL, &us), 1);
	if (us > 1000000)
		FAIL("ready fd took %lld us", (long long)us);
	CHECK_EQ(read(s, &b, 1), 1);

	/* The sigmask argument: a pending SIGUSR1 it unblocks interrupts the wait. */
	struct sigaction sa = {.sa_handler = on_usr1};
	sigemptyset(&sa.sa_mask);
	OK(sigaction(SIGUSR1, &sa, NULL));
	sigset_t block, old, none;
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigemptyset(&none);
	OK(sigprocmask(SIG_BLOCK, &block, &old));
	OK(raise(SIGUSR1));
	CHECK_EQ(got_usr1, 0);
	/* Kept blocked by the mask: a plain timeout, the signal stays pending. */
	CHECK_EQ(pwait2(30000000, &block, &us), 0);
	CHECK_EQ(got_usr1, 0);
	/* Unblocked by the mask: EINTR at once, the handler ran. */
	int r = pwait2(2000000000LL, &none, &us);
	CHECK_EQ(r, -1);
	CHECK_EQ(errno, EINTR);
	CHECK_EQ(got_usr1, 1);
	if (us > 1000000)
		FAIL("EINTR after %lld us", (long long)us);
	OK(sigprocmask(SIG_SETMASK, &old, NULL));

	/* Invalid timespec. */
	struct timespec bad = {0, 1000000000};
	CHECK_ERR(epoll_pwait2(ep, ev, 4, &bad, NULL), EINVAL);
	bad = (struct timespec){-1, 0};
	CHECK_ERR(epoll_pwait2(ep, ev, 4, &bad, NULL), EINVAL);
	CHECK_ERR(epoll_pwait2(ep, ev, 0, NULL, NULL), EINVAL);

	close(ep);
	close(c);
	close(s);
	printf("epoll_pwait2_timeout: ok\n");
	return 0;
}
