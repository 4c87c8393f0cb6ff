/* SPDX-License-Identifier: MIT */
/*
 * The floor under every sleeping round trip on this machine: two processes
 * (parent and a forked child), each pinned to its own CPU, pass a turn back
 * and forth and sleep in between, by the cheapest kernel means there are:
 *
 *   futex    a shared word; FUTEX_WAIT until it changes, FUTEX_WAKE after
 *            changing it (the least a wake-up can cost: no fd, no queue);
 *   unix     one byte each way on an AF_UNIX stream pair, blocking read;
 *   pipe     one byte each way on two pipes, blocking read.
 *
 *   xio-bench-wake-floor MODE [SECONDS] [CPU_A CPU_B]
 *
 * Prints pingpong.c's result line (size=0 ...). X-IO's sleeping path
 * (`--spin 0`) can at best match the fastest of these: it needs two
 * wake-ups per round trip like them (benchmarks/RESULTS.md).
 */
#include <linux/futex.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "bench.h"

static long futex(_Atomic uint32_t *w, int op, uint32_t val)
{
	return syscall(SYS_futex, (uint32_t *)w, op, val, NULL, NULL, 0);
}

/* The turn word: even = the parent's turn, odd = the child's. */
static void futex_pass(_Atomic uint32_t *turn, uint32_t mine)
{
	uint32_t next = mine + 1;
	atomic_store(turn, next);
	futex(turn, FUTEX_WAKE, 1);
	uint32_t v;
	while ((v = atomic_load(turn)) == next)
		futex(turn, FUTEX_WAIT, next);
}

/* One turn on fds: write a byte to @out, block until a byte comes on @in. */
static void fd_pass(int out, int in)
{
	char b = 0;
	if (write(out, &b, 1) != 1 || read(in, &b, 1) != 1)
		bench_die("turn");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s futex|unix|pipe [SECONDS] [CPU_A CPU_B]\n", argv[0]);
		return 2;
	}
	struct bench_floor f;
	bench_floor_args(&f, argc, argv);
	const char *mode = f.mode;
	bool fut = strcmp(mode, "futex") == 0;
	int a[2], b[2]; /* parent writes a[1] reads b[0]; the child the other way */

	_Atomic uint32_t *turn =
	    mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (turn == MAP_FAILED)
		bench_die("mmap");
	if (strcmp(mode, "unix") == 0) {
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, a) < 0)
			bench_die("socketpair");
		b[0] = a[0];
		b[1] = a[1];
	} else if (strcmp(mode, "pipe") == 0) {
		if (pipe(a) < 0 || pipe(b) < 0)
			bench_die("pipe");
	} else if (!fut) {
		fprintf(stderr, "unknown mode %s\n", mode);
		return 2;
	}
	bool unix_pair = strcmp(mode, "unix") == 0;
	if (bench_floor_fork(&f) == 0) {
		/* The child answers every turn until killed. */
		for (uint32_t t = 1;; t += 2) {
			if (fut) {
				uint32_t v;
				while ((v = atomic_load(turn)) != t)
					futex(turn, FUTEX_WAIT, v);
				atomic_store(turn, t + 1);
				futex(turn, FUTEX_WAKE, 1);
			} else {
				char c;
				int in = unix_pair ? a[1] : a[0], out = unix_pair ? a[1] : b[1];
				if (read(in, &c, 1) != 1 || write(out, &c, 1) != 1)
					_exit(0);
			}
		}
	}
	uint32_t mine = 0;
	for (;;) {
		uint64_t t0 = bench_now_ns();
		if (fut) {
			futex_pass(turn, mine);
			mine += 2;
		} else {
			fd_pass(unix_pair ? a[0] : a[1], unix_pair ? a[0] : b[0]);
		}
		if (bench_rtt_add(&f.rtt, t0, bench_now_ns()))
			break;
	}
	bench_floor_end(&f, 0);
	return 0;
}
