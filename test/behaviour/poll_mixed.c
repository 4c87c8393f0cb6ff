/* SPDX-License-Identifier: MIT */
/*
 * Proves: one poll/ppoll/select/pselect call over a connection, a kernel
 * socket (AF_UNIX socketpair), both ends of a pipe and a regular file gives
 * for each fd exactly the revents / set bits the kernel gives: the file
 * always readable and writable, a pipe's write end writable, readers only
 * when bytes are there; negative fds ignored, a closed fd POLLNVAL (select:
 * EBADF); the connection's POLLIN appears and goes with its bytes; a thread
 * asleep in each call is woken by the peer's write; a ppoll/pselect mask
 * that unblocks a pending signal interrupts the call (EINTR) when nothing is
 * ready, while a ready fd makes it return the count and the signal stays
 * pending (the original mask is restored before delivery).
 */
#include <poll.h>
#include <pthread.h>
#include <sys/select.h>

#include "helpers.h"

enum { CONN, UNIXS, PIPE_R, PIPE_W, FILE_FD, NEG, N };

static int c, s, u[2], p[2], f;
static volatile sig_atomic_t got_usr1;

static void on_usr1(int sig)
{
	(void)sig;
	got_usr1++;
}

static void fill(struct pollfd *fds)
{
	int fd[N] = {s, u[0], p[0], p[1], f, -1};
	for (int i = 0; i < N; i++)
		fds[i] = (struct pollfd){.fd = fd[i], .events = POLLIN | POLLOUT | POLLPRI};
	fds[PIPE_R].events = POLLIN;
	fds[PIPE_W].events = POLLOUT;
}

/* poll (@how 0) or ppoll (1) over all six; checks the count against the revents. */
static int poll_all(int how, int ms, struct pollfd *fds)
{
	fill(fds);
	int n;
	if (how == 0) {
		n = OK(poll(fds, N, ms));
	} else {
		struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
		n = OK(ppoll(fds, N, &ts, NULL));
	}
	int k = 0;
	for (int i = 0; i < N; i++)
		k += fds[i].revents != 0;
	CHECK_EQ(n, k);
	return n;
}

static void expect(int how, short conn, short unixs, short pr)
{
	struct pollfd fds[N];
	poll_all(how, 1000, fds);
	CHECK_EVENTS(fds[CONN].revents, conn);
	CHECK_EVENTS(fds[UNIXS].revents, unixs);
	CHECK_EVENTS(fds[PIPE_R].revents, pr);
	CHECK_EVENTS(fds[PIPE_W].revents, POLLOUT);
	CHECK_EVENTS(fds[FILE_FD].revents, POLLIN | POLLOUT);
	CHECK_EVENTS(fds[NEG].revents, 0);
}

/* select (@how 0) or pselect (1): read and write sets over all five fds. */
static void expect_select(int how, int conn_rd, int unix_rd, int pipe_rd)
{
	fd_set rd, wr, ex;
	int fds[] = {s, u[0], p[0], p[1], f};
	int maxfd = 0;
	FD_ZERO(&rd);
	FD_ZERO(&wr);
	FD_ZERO(&ex);
	for (unsigned i = 0; i < 5; i++) {
		if (fds[i] != p[1])
			FD_SET(fds[i], &rd);
		if (fds[i] != p[0])
			FD_SET(fds[i], &wr);
		FD_SET(fds[i], &ex);
		maxfd = fds[i] > maxfd ? fds[i] : maxfd;
	}
	int n;
	if (how == 0) {
		struct timeval tv = {1, 0};
		n = OK(select(maxfd + 1, &rd, &wr, &ex, &tv));
	} else {
		struct timespec ts = {1, 0};
		n = OK(pselect(maxfd + 1, &rd, &wr, &ex, &ts, NULL));
	}
	CHECK_EQ(FD_ISSET(s, &rd) != 0, conn_rd);
	CHECK_EQ(FD_ISSET(u[0], &rd) != 0, unix_rd);
	CHECK_EQ(FD_ISSET(p[0], &rd) != 0, pipe_rd);
	CHECK(FD_ISSET(f, &rd));
	CHECK(FD_ISSET(s, &wr) && FD_ISSET(u[0], &wr) && FD_ISSET(p[1], &wr) && FD_ISSET(f, &wr));
	for (unsigned i = 0; i < 5; i++)
		CHECK(!FD_ISSET(fds[i], &ex));
	CHECK_EQ(n, conn_rd + unix_rd + pipe_rd + 1 + 4);
}

struct sleeper {
	int how; /* 0 poll, 1 ppoll, 2 select, 3 pselect */
	int n;
	int conn_ready;
	int64_t woke_ms;
};

/* Sleep on the readers only (connection, unix socket, pipe read end). */
static void *sleep_readers(void *arg)
{
	struct sleeper *z = arg;
	if (z->how < 2) {
		struct pollfd fds[3] = {{.fd = s, .events = POLLIN},
					{.fd = u[0], .events = POLLIN},
					{.fd = p[0], .events = POLLIN}};
		struct timespec ts = {5, 0};
		z->n = z->how == 0 ? poll(fds, 3, 5000) : ppoll(fds, 3, &ts, NULL);
		z->conn_ready = fds[0].revents == POLLIN;
	} else {
		fd_set rd;
		FD_ZERO(&rd);
		FD_SET(s, &rd);
		FD_SET(u[0], &rd);
		FD_SET(p[0], &rd);
		int maxfd = s > u[0] ? s : u[0];
		maxfd = p[0] > maxfd ? p[0] : maxfd;
		struct timeval tv = {5, 0};
		struct timespec ts = {5, 0};
		z->n = z->how == 2 ? select(maxfd + 1, &rd, NULL, NULL, &tv)
				   : pselect(maxfd + 1, &rd, NULL, NULL, &ts, NULL);
		z->conn_ready = FD_ISSET(s, &rd) != 0;
	}
	z->woke_ms = now_ms();
	return NULL;
}

int main(void)
{
	char buf[16];
	char path[] = "/tmp/xio-poll-mixed-XXXXXX";

	watchdog(25);
	setvbuf(stdout, NULL, _IONBF, 0);
	make_pair(&c, &s);
	OK(socketpair(AF_UNIX, SOCK_STREAM, 0, u));
	OK(pipe(p));
	f = OK(mkstemp(path));
	unlink(path);
	require_xio(s);

	for (int how = 0; how < 2; how++) {
		/* Nothing to read anywhere. */
		expect(how, POLLOUT, POLLOUT, 0);
		expect_select(how, 0, 0, 0);
		/* Bytes on the connection only. */
		write_all(c, "abc", 3);
		expect(how, POLLIN | POLLOUT, POLLOUT, 0);
		expect_select(how, 1, 0, 0);
		/* On every reader. */
		write_all(u[1], "u", 1);
		write_all(p[1], "p", 1);
		expect(how, POLLIN | POLLOUT, POLLIN | POLLOUT, POLLIN);
		expect_select(how, 1, 1, 1);
		/* Read them all: back to the start. */
		CHECK_EQ(read(s, buf, sizeof(buf)), 3);
		CHECK_EQ(read(u[0], buf, sizeof(buf)), 1);
		CHECK_EQ(read(p[0], buf, sizeof(buf)), 1);
		expect(how, POLLOUT, POLLOUT, 0);
		expect_select(how, 0, 0, 0);
	}

	/* Readers only, nothing there: poll times out with 0. */
	struct pollfd rd[3] = {{.fd = s, .events = POLLIN},
			       {.fd = u[0], .events = POLLIN},
			       {.fd = p[0], .events = POLLIN}};
	int64_t t0 = now_ms();
	CHECK_EQ(poll(rd, 3, 60), 0);
	if (now_ms() - t0 < 55)
		FAIL("poll 60 ms returned after %lld ms", (long long)(now_ms() - t0));

	/* A closed fd: POLLNVAL in poll, EBADF in select. */
	int dead = OK(dup(u[1]));
	OK(close(dead));
	struct pollfd two[2] = {{.fd = s, .events = POLLIN}, {.fd = dead, .events = POLLIN}};
	CHECK_EQ(poll(two, 2, 0), 1);
	CHECK_EVENTS(two[0].revents, 0);
	CHECK_EVENTS(two[1].revents, POLLNVAL);
	fd_set bad;
	FD_ZERO(&bad);
	FD_SET(s, &bad);
	FD_SET(dead, &bad);
	struct timeval tv0 = {0, 0};
	CHECK_ERR(select((s > dead ? s : dead) + 1, &bad, NULL, NULL, &tv0), EBADF);

	/* Asleep in each call: the peer's write wakes it and only the connection is ready. */
	for (int how = 0; how < 4; how++) {
		struct sleeper z = {.how = how};
		pthread_t t;
		pthread_create(&t, NULL, sleep_readers, &z);
		sleep_ms(150);
		int64_t w = now_ms();
		write_all(c, "w", 1);
		pthread_join(t, NULL);
		if (z.n != 1 || !z.conn_ready || z.woke_ms - w > 1000)
			FAIL("sleeper %d (poll, ppoll, select, pselect): returned %d, conn ready "
			     "%d, "
			     "after %lld ms",
			     how, z.n, z.conn_ready, (long long)(z.woke_ms - w));
		CHECK_EQ(read(s, buf, sizeof(buf)), 1);
	}

	/* Signal masks: SIGUSR1 blocked and pending. */
	struct sigaction sa = {.sa_handler = on_usr1};
	sigemptyset(&sa.sa_mask);
	OK(sigaction(SIGUSR1, &sa, NULL));
	sigset_t block, none, old, pend;
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigemptyset(&none);
	OK(sigprocmask(SIG_BLOCK, &block, &old));
	OK(raise(SIGUSR1));
	struct timespec ts = {2, 0};

	/* Nothing ready, mask unblocks it: EINTR at once, handler ran. */
	t0 = now_ms();
	CHECK_ERR(ppoll(rd, 3, &ts, &none), EINTR);
	CHECK_EQ(got_usr1, 1);
	CHECK(now_ms() - t0 < 1000);
	OK(raise(SIGUSR1));
	fd_set rs;
	FD_ZERO(&rs);
	FD_SET(s, &rs);
	FD_SET(p[0], &rs);
	CHECK_ERR(pselect((s > p[0] ? s : p[0]) + 1, &rs, NULL, NULL, &ts, &none), EINTR);
	CHECK_EQ(got_usr1, 2);

	/* Mask keeps it blocked: plain timeout, still pending. */
	OK(raise(SIGUSR1));
	struct timespec short_ts = {0, 30000000};
	CHECK_EQ(ppoll(rd, 3, &short_ts, &block), 0);
	CHECK_EQ(got_usr1, 2);

	/* The connection is ready: ppoll returns 1 and the signal is not delivered. */
	write_all(c, "r", 1);
	sleep_ms(20);
	CHECK_EQ(ppoll(rd, 3, &ts, &none), 1);
	CHECK_EVENTS(rd[0].revents, POLLIN);
	CHECK_EQ(got_usr1, 2);
	OK(sigpending(&pend));
	CHECK(sigismember(&pend, SIGUSR1));
	FD_ZERO(&rs);
	FD_SET(s, &rs);
	FD_SET(p[0], &rs);
	CHECK_EQ(pselect((s > p[0] ? s : p[0]) + 1, &rs, NULL, NULL, &ts, &none), 1);
	CHECK(FD_ISSET(s, &rs));
	CHECK_EQ(got_usr1, 2);
	OK(sigprocmask(SIG_SETMASK, &old, NULL)); /* delivered now */
	CHECK_EQ(got_usr1, 3);
	CHECK_EQ(read(s, buf, sizeof(buf)), 1);

	close(c);
	close(s);
	printf("poll_mixed: ok\n");
	return 0;
}
