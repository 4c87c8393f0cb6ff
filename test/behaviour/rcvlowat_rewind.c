/* SPDX-License-Identifier: MIT */
/*
 * Proves: a reader that waits for SO_RCVLOWAT bytes in a blocking recv gets
 * them from a writer that sends them in pieces, however far the connection
 * has come before (on TCP the send buffer takes them all); and a writer whose
 * peer reads nothing can still queue 128 KiB in one blocking send after the
 * connection went back and forth. Under X-IO both happen on a ring that
 * emptied past its first page, where the next record rewinds to the ring's
 * start (stack/ring.h): padding the reader never takes (it waits for more
 * than there is) would hold the room the writer needs, and both would wait
 * for each other until the watchdog.
 */
#include <pthread.h>

#include "helpers.h"

/*
 * Small enough for kernel TCP to reach with 1 KiB segments inside its default
 * receive buffer (each segment costs more than its bytes there), larger than
 * the room padding would leave after go_round (about 4 KiB).
 */
#define LOWAT (32u << 10)
#define BULK  (128u << 10)
#define PIECE 1024 /* small enough to rewind the ring (at most half the room left) */

static int c, s;

/* Both rings past their first page, empty: the state in which the next record rewinds. */
static void go_round(void)
{
	static char buf[5120]; /* the ring rewinds in the third round, to ~5 KiB in */
	for (unsigned round = 0; round < 3; round++) {
		pat_fill(buf, sizeof(buf), round, 7);
		write_all(c, buf, sizeof(buf));
		read_all(s, buf, sizeof(buf));
		pat_check(buf, sizeof(buf), round, 7);
		write_all(s, buf, sizeof(buf));
		read_all(c, buf, sizeof(buf));
	}
}

static _Atomic int reader_done;

static void *lowat_reader(void *arg)
{
	static char buf[LOWAT];
	(void)arg;
	int v = LOWAT;
	OK(setsockopt(s, SOL_SOCKET, SO_RCVLOWAT, &v, sizeof(v)));
	/* One call: it returns once LOWAT bytes are there, not before. */
	ssize_t n = recv(s, buf, sizeof(buf), 0);
	if (n != (ssize_t)LOWAT)
		FAIL("recv with SO_RCVLOWAT %u returned %zd (%s)", LOWAT, n,
		     n < 0 ? strerror(errno) : "short");
	pat_check(buf, LOWAT, 1000, 9);
	reader_done = 1;
	return NULL;
}

int main(void)
{
	static char buf[BULK];
	watchdog(20);
	setvbuf(stdout, NULL, _IONBF, 0);
	make_pair(&c, &s);
	require_xio(c);
	require_xio(s);

	/* 1: a blocked SO_RCVLOWAT reader and a writer that sends in pieces. */
	go_round();
	pthread_t t;
	pthread_create(&t, NULL, lowat_reader, NULL);
	sleep_ms(200); /* the reader is asleep in recv */
	pat_fill(buf, LOWAT, 1000, 9);
	for (size_t off = 0; off < LOWAT; off += PIECE) {
		write_all(c, buf + off, PIECE);
		if (off + PIECE < LOWAT && reader_done)
			FAIL("recv returned before SO_RCVLOWAT bytes were there");
	}
	pthread_join(t, NULL);
	CHECK(reader_done);
	int v = 1;
	OK(setsockopt(s, SOL_SOCKET, SO_RCVLOWAT, &v, sizeof(v)));
	printf("SO_RCVLOWAT %u: one recv got them after %u sends\n", LOWAT, LOWAT / PIECE);

	/* 2: nobody reads; one blocking send of 128 KiB must not wait. */
	go_round();
	pat_fill(buf, BULK, 2000, 11);
	int64_t t0 = now_ms();
	ssize_t n = send(c, buf, BULK, 0);
	CHECK_EQ(n, (ssize_t)BULK);
	printf("one blocking send of %u bytes, nobody reading: %lld ms\n", BULK,
	       (long long)(now_ms() - t0));
	read_all(s, buf, BULK);
	pat_check(buf, BULK, 2000, 11);
	printf("rcvlowat_rewind: ok\n");
	return 0;
}
