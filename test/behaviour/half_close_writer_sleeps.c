/* SPDX-License-Identifier: MIT */
/*
 * Proves: a writer whose peer has half-closed (shutdown(SHUT_WR) after its
 * request, as HTTP/1.0 clients and `nc -N` do) sleeps while the peer does
 * not read, and is woken when it reads, as on TCP: it does not wake up again
 * and again to look (issue 12, item 3). Each of the three ways to wait for
 * room — a blocking write, poll(POLLOUT) and epoll_wait(EPOLLOUT) — is held
 * for a second by a peer that reads nothing; the writer thread's voluntary
 * context switches in that second must stay a handful (re-checking in 1-10 ms
 * slices makes a hundred or more). Then the peer reads everything, checked.
 */
#include <poll.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/syscall.h>

#include "helpers.h"

#define TOTAL (32u << 20) /* more than any buffer: the writer must wait */
#define CHUNK 65536

enum how { BLOCKING, POLL, EPOLL };

static int s; /* server end: the writer */
static enum how how;
static _Atomic pid_t writer_tid;
static _Atomic int writer_waiting;

static void wait_room(int ep)
{
	if (how == POLL) {
		struct pollfd p = {.fd = s, .events = POLLOUT};
		CHECK_EQ(poll(&p, 1, 20000), 1);
		CHECK(p.revents & POLLOUT);
	} else {
		struct epoll_event ev;
		CHECK_EQ(epoll_wait(ep, &ev, 1, 20000), 1);
		CHECK(ev.events & EPOLLOUT);
	}
}

static void *writer(void *arg)
{
	(void)arg;
	static char buf[CHUNK];
	int ep = -1;
	writer_tid = (pid_t)syscall(SYS_gettid);
	if (how == EPOLL) {
		ep = OK(epoll_create1(0));
		struct epoll_event ev = {.events = EPOLLOUT};
		OK(epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev));
	}
	set_nonblock(s, how != BLOCKING);
	uint64_t off = 0;
	while (off < TOTAL) {
		pat_fill(buf, CHUNK, off, 31);
		size_t len = CHUNK, done = 0;
		while (done < len) {
			ssize_t n = send(s, buf + done, len - done, MSG_NOSIGNAL);
			if (n < 0 && errno == EAGAIN) {
				writer_waiting = 1;
				wait_room(ep);
				continue;
			}
			CHECK(n > 0);
			if (how == BLOCKING && (size_t)n < len - done)
				FAIL("short blocking send: %zd", n);
			done += (size_t)n;
		}
		off += len;
	}
	if (ep >= 0)
		close(ep);
	return NULL;
}

static long switches(pid_t tid)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/self/task/%d/status", (int)tid);
	FILE *f = fopen(path, "r");
	CHECK(f != NULL);
	long v = -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "voluntary_ctxt_switches: %ld", &v) == 1)
			break;
	fclose(f);
	return v;
}

static void run(enum how h, const char *name)
{
	static char buf[CHUNK];
	int c;
	make_pair(&c, &s);
	how = h;
	writer_tid = 0;
	writer_waiting = 0;

	/* The client asks and half-closes; the server reads the request to its EOF. */
	write_all(c, "GET /", 5);
	OK(shutdown(c, SHUT_WR));
	read_all(s, buf, 5);
	CHECK_EQ(read(s, buf, sizeof(buf)), 0);

	pthread_t t;
	pthread_create(&t, NULL, writer, NULL);
	/* Let the writer fill everything and go to sleep; a blocking writer is asleep in send. */
	sleep_ms(300);
	CHECK(writer_tid != 0);
	CHECK(h == BLOCKING || writer_waiting);
	long before = switches(writer_tid);
	sleep_ms(1000);
	long woken = switches(writer_tid) - before;
	printf("%s: writer woke %ld times in 1 s while the reader read nothing\n", name, woken);
	CHECK(woken >= 0);
	if (woken > 20)
		FAIL("%s: the writer polls instead of sleeping (%ld wake-ups in 1 s)", name, woken);

	uint64_t off = 0;
	while (off < TOTAL) {
		ssize_t n = read(c, buf, sizeof(buf));
		CHECK(n > 0);
		pat_check(buf, (size_t)n, off, 31);
		off += (uint64_t)n;
	}
	pthread_join(t, NULL);
	require_xio(c);
	require_xio(s);
	close(s);
	CHECK_EQ(read(c, buf, sizeof(buf)), 0);
	close(c);
}

int main(void)
{
	watchdog(25);
	setvbuf(stdout, NULL, _IONBF, 0);
	signal(SIGPIPE, SIG_IGN);
	run(BLOCKING, "blocking write");
	run(POLL, "poll");
	run(EPOLL, "epoll_wait");
	printf("half_close_writer_sleeps: ok\n");
	return 0;
}
