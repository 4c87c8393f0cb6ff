/* SPDX-License-Identifier: MIT */
/*
 * The floor under a spinning shared-memory round trip on this machine: two
 * processes (parent and a forked child) over one shared mapping, each pinned
 * to its own CPU, pass a small message back and forth by spinning, with as
 * few cache-line transfers as a one-way message can take:
 *
 *   one    one line per direction: a sequence word and 56 payload bytes in
 *          the same 64-byte line; the reader spins on the line, copies the
 *          payload and answers on the other direction's line;
 *   two    two lines per direction: 64 payload bytes in a data line, then a
 *          sequence word (release) in a flag line of its own, the reader
 *          spins on the flag and copies the data line: a ring's producer
 *          tail and its data;
 *   three  two, plus the reader's consumed counter in a third line that the
 *          writer reads before each message (a ring's consumer tail, read
 *          for room on every write): what the ring did before the inline
 *          record and the cached consumer tail (stack/ring.h).
 *
 *   xio-bench-cacheline-floor MODE [SECONDS] [CPU_A CPU_B]
 *
 * Prints pingpong.c's result line (size=N rtts=... p50_us=...), each round
 * trip timed on its own like xio-bench-pingpong's, then mode and CPUs. A ring
 * cannot go below `one`; X-IO's spinning 64 B ping-pong adds the socket
 * calls, the locks and the readiness checks on top.
 */
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/mman.h>

#include "bench.h"

#define LINE 64

struct one_line {
	alignas(LINE) _Atomic uint64_t seq;
	char data[LINE - 8];
};

struct two_lines {
	alignas(LINE) char data[LINE];
	alignas(LINE) _Atomic uint64_t seq;
	alignas(LINE) _Atomic uint64_t consumed; /* "three" only: written by the reader */
};

/* Both directions, each on lines of their own (a line apart: no adjacent-line sharing). */
struct shared {
	alignas(2 * LINE) struct one_line one[2];
	alignas(2 * LINE) struct two_lines two[2];
	alignas(2 * LINE) char pad[2 * LINE];
};

static inline void relax(void)
{
	__builtin_ia32_pause();
}

enum mode { ONE, TWO, THREE };

/* Send message @seq on direction @d. */
static inline void send_msg(struct shared *s, enum mode m, int d, uint64_t seq, const char *buf)
{
	if (m == ONE) {
		memcpy(s->one[d].data, buf, sizeof(s->one[d].data));
		atomic_store_explicit(&s->one[d].seq, seq, memory_order_release);
		return;
	}
	if (m == THREE) /* room: the reader took the previous message */
		while (atomic_load_explicit(&s->two[d].consumed, memory_order_acquire) + 1 < seq)
			relax();
	memcpy(s->two[d].data, buf, sizeof(s->two[d].data));
	atomic_store_explicit(&s->two[d].seq, seq, memory_order_release);
}

/* Wait for message @seq on direction @d and copy it out. */
static inline void recv_msg(struct shared *s, enum mode m, int d, uint64_t seq, char *buf)
{
	if (m == ONE) {
		while (atomic_load_explicit(&s->one[d].seq, memory_order_acquire) != seq)
			relax();
		memcpy(buf, s->one[d].data, sizeof(s->one[d].data));
		return;
	}
	while (atomic_load_explicit(&s->two[d].seq, memory_order_acquire) != seq)
		relax();
	memcpy(buf, s->two[d].data, sizeof(s->two[d].data));
	if (m == THREE)
		atomic_store_explicit(&s->two[d].consumed, seq, memory_order_release);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s one|two|three [SECONDS] [CPU_A CPU_B]\n", argv[0]);
		return 2;
	}
	enum mode m;
	if (strcmp(argv[1], "one") == 0)
		m = ONE;
	else if (strcmp(argv[1], "two") == 0)
		m = TWO;
	else if (strcmp(argv[1], "three") == 0)
		m = THREE;
	else {
		fprintf(stderr, "unknown mode %s\n", argv[1]);
		return 2;
	}
	struct bench_floor f;
	bench_floor_args(&f, argc, argv);
	size_t size = m == ONE ? sizeof(((struct one_line *)0)->data) : LINE;

	struct shared *s =
	    mmap(NULL, sizeof(*s), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (s == MAP_FAILED)
		bench_die("mmap");
	if (bench_floor_fork(&f) == 0) {
		/* The child echoes every message (direction 0) back on direction 1 until killed. */
		char buf[LINE];
		for (uint64_t seq = 1;; seq++) {
			recv_msg(s, m, 0, seq, buf);
			send_msg(s, m, 1, seq, buf);
		}
	}
	char out[LINE], in[LINE];
	memset(out, 'x', sizeof(out));
	for (uint64_t seq = 1;; seq++) {
		uint64_t t0 = bench_now_ns();
		out[0] = (char)seq;
		send_msg(s, m, 0, seq, out);
		recv_msg(s, m, 1, seq, in);
		if (in[0] != out[0]) {
			fprintf(stderr, "echo mismatch at %llu\n", (unsigned long long)seq);
			kill(f.child, SIGKILL);
			return 1;
		}
		if (bench_rtt_add(&f.rtt, t0, bench_now_ns()))
			break;
	}
	bench_floor_end(&f, size);
	return 0;
}
