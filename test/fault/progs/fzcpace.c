/* SPDX-License-Identifier: MIT */
/*
 * fzcpace: a zero-copy receiver fed at a set pace, for the adaptive spin's
 * test (test/fault/zc_adapt_spin.sh). Run both under xio-run.
 *
 *   fzcpace recv PORT READY_FILE
 *   fzcpace send PORT GAPxCOUNT...
 *
 * The sender sends, phase after phase, COUNT 64-byte messages (xio_malloc +
 * xio_tx), each followed by GAP microseconds of nothing (busy-waited up to
 * 1 ms, slept beyond), then closes. The receiver takes them with xio_rx and
 * xio_free and, when a phase's last gap is over (the next phase's first
 * message, or EOF), prints what the phase cost its thread:
 *   phase K gap_us=G msgs=N waits=X wall_ms=W cpu_ms=C sleeps=S
 * (waits: xio_rx calls that did not return at once, over 2 us; getrusage
 * (RUSAGE_THREAD): CPU time, and voluntary context switches: the times it
 * slept in the kernel; a spin's sched_yield is not one).
 */
#include "xio.h"

#include "bench.h"

#include <sys/resource.h>
#include <time.h>

struct msg {
	uint32_t phase, gap_us;
	uint64_t seq;
};

static struct bench_xio X;

struct usage {
	uint64_t wall_ns, cpu_ns, sleeps;
};

static struct usage usage_now(void)
{
	struct rusage ru;
	getrusage(RUSAGE_THREAD, &ru);
	return (struct usage){
	    .wall_ns = bench_now_ns(),
	    .cpu_ns = (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000u +
		      (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000u,
	    .sleeps = (uint64_t)ru.ru_nvcsw};
}

static void report(uint32_t phase, uint32_t gap_us, uint64_t msgs, uint64_t waits, struct usage a,
		   struct usage b)
{
	printf("phase %u gap_us=%u msgs=%llu waits=%llu wall_ms=%.1f cpu_ms=%.1f sleeps=%llu\n",
	       phase, gap_us, (unsigned long long)msgs, (unsigned long long)waits,
	       (double)(b.wall_ns - a.wall_ns) / 1e6, (double)(b.cpu_ns - a.cpu_ns) / 1e6,
	       (unsigned long long)(b.sleeps - a.sleeps));
	fflush(stdout);
}

static int recv_side(int port, const char *ready)
{
	char ep_s[64];
	struct bench_ep ep;
	snprintf(ep_s, sizeof(ep_s), "tcp:127.0.0.1:%d", port);
	if (bench_parse_ep(ep_s, &ep) < 0)
		return 2;
	int lfd = bench_listen(&ep, 4);
	FILE *f = fopen(ready, "w");
	if (!f)
		bench_die("ready file");
	fclose(f);
	int fd = bench_accept(lfd);
	close(lfd);
	bench_xio_must_carry(&X, fd);
	struct usage start = {0};
	uint32_t phase = UINT32_MAX, gap = 0;
	uint64_t msgs = 0, seq = 0, waits = 0;
	for (;;) {
		void *b;
		uint64_t t0 = bench_now_ns();
		ssize_t n = X.rx(fd, &b);
		waits += bench_now_ns() - t0 > 2000; /* the ring was empty: it waited */
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			bench_die("xio_rx");
		struct usage now = usage_now();
		struct msg m = {0};
		if (n > 0) {
			if ((size_t)n < sizeof(m) || (memcpy(&m, b, sizeof(m)), m.seq != seq)) {
				fprintf(stderr, "fzcpace: message %llu malformed\n",
					(unsigned long long)seq);
				return 1;
			}
			seq++;
			X.free(b);
		}
		if (n == 0 || m.phase != phase) {
			if (phase != UINT32_MAX)
				report(phase, gap, msgs, waits, start, now);
			if (n == 0)
				break;
			phase = m.phase;
			gap = m.gap_us;
			msgs = waits = 0;
			start = now;
		}
		msgs++;
	}
	close(fd);
	return 0;
}

static void pause_us(uint32_t us)
{
	uint64_t end = bench_now_ns() + (uint64_t)us * 1000u;
	if (us > 1000) {
		struct timespec ts = {(us - 1000) / 1000000, (long)((us - 1000) % 1000000) * 1000};
		nanosleep(&ts, NULL);
	}
	while (bench_now_ns() < end)
		;
}

static int send_side(int port, int nphases, char **phases)
{
	char ep_s[64];
	struct bench_ep ep;
	snprintf(ep_s, sizeof(ep_s), "tcp:127.0.0.1:%d", port);
	if (bench_parse_ep(ep_s, &ep) < 0)
		return 2;
	int fd = bench_connect(&ep);
	if (fd < 0)
		bench_die("connect");
	bench_nodelay(fd, &ep);
	bench_xio_must_carry(&X, fd);
	uint64_t seq = 0;
	for (int k = 0; k < nphases; k++) {
		unsigned gap, count;
		if (sscanf(phases[k], "%ux%u", &gap, &count) != 2) {
			fprintf(stderr, "fzcpace: phase '%s' is not GAPxCOUNT\n", phases[k]);
			return 2;
		}
		for (unsigned i = 0; i < count; i++) {
			struct msg m = {.phase = (uint32_t)k, .gap_us = gap, .seq = seq++};
			void *b;
			while (!(b = X.malloc(64))) {
				if (errno != ENOMEM)
					bench_die("xio_malloc");
				usleep(100);
			}
			memcpy(b, &m, sizeof(m));
			if (X.tx(fd, b, 64) != 64)
				bench_die("xio_tx");
			pause_us(gap);
		}
	}
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3)
		goto usage;
	bench_xio_resolve(&X, "");
	if (!strcmp(argv[1], "recv") && argc == 4)
		return recv_side(atoi(argv[2]), argv[3]);
	if (!strcmp(argv[1], "send") && argc >= 4)
		return send_side(atoi(argv[2]), argc - 3, argv + 3);
usage:
	fprintf(stderr, "usage: fzcpace recv PORT READY_FILE | send PORT GAPxCOUNT...\n");
	return 2;
}
