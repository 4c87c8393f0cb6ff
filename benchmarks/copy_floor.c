/* SPDX-License-Identifier: MIT */
/*
 * The floor under X-IO's bulk throughput on this machine: what two plain
 * memcpy()s through shared memory between two pinned processes reach, with no
 * socket calls, locks, records or wake-ups. A writer (the parent) copies
 * CHUNK-byte pieces of a private buffer into RINGS rings of RING_KB each,
 * round robin, as iperf3 -P RINGS does into X-IO's rings; a reader (a forked
 * child on the other CPU) copies them out into a private buffer. Each ring is
 * a queue of whole chunks with a head and a tail word on lines of their own;
 * a side that finds nothing to do pauses, then yields its CPU.
 *
 *   xio-bench-copy-floor [SECONDS] [CPU_A CPU_B] [CHUNK_KB]
 *
 * Runs, for 1 and 4 rings of 256 KiB, 1, 4 and 16 MiB, and prints one line
 * each: the wall rate, and each side's copy rate in Gbit/s per CPU second
 * spent in its memcpy() (CLOCK_THREAD_CPUTIME_ID around every copy, about
 * 0.2 us of a 128 KiB copy's 8 us): on a machine shared with other work the
 * copy rates hold still while the wall rate follows the load. Then the same
 * memcpy on one CPU from and into a RING_KB buffer of its own (no second
 * core), for comparison. X-IO moves every byte with these two copies, so its
 * bulk rate per CPU cannot pass the lower of the two sides' copy rates.
 */
#include <sched.h>
#include <signal.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "bench.h"

#define LINE	  64
#define MAX_RINGS 4

struct shared {
	struct {
		alignas(LINE) _Atomic uint64_t head; /* chunks written */
		alignas(LINE) _Atomic uint64_t tail; /* chunks read */
	} q[MAX_RINGS];
	alignas(LINE) _Atomic int stop;
	alignas(LINE) _Atomic uint64_t chunks_read;
	double reader_cpu; /* seconds in memcpy */
};

static double cpu_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Nothing to do: spin a little, then let whatever else is runnable here have the CPU. */
static void idle(unsigned *spins)
{
	if (++*spins < 64) {
		__builtin_ia32_pause();
		return;
	}
	*spins = 0;
	sched_yield();
}

static void *map_shared(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		bench_die("mmap");
	memset(p, 0, len);
	return p;
}

static void *private_buf(size_t len, int fill)
{
	void *p = aligned_alloc(4096, len);
	if (!p)
		bench_die("aligned_alloc");
	memset(p, fill, len);
	return p;
}

/* One run: @rings rings of @ring_kb KiB, @chunk-byte copies, @secs seconds. */
static void run(size_t ring_kb, int rings, size_t chunk, double secs, int cpu_a, int cpu_b)
{
	size_t ring = ring_kb << 10, slots = ring / chunk;
	struct shared *s = map_shared(sizeof(*s));
	char *mem = map_shared(ring * (size_t)rings);

	pid_t child = fork();
	if (child < 0)
		bench_die("fork");
	if (child == 0) {
		bench_pin(cpu_b);
		char *dst = private_buf(chunk, 2);
		double busy = 0;
		uint64_t n = 0;
		unsigned spins = 0;
		while (!atomic_load_explicit(&s->stop, memory_order_relaxed)) {
			for (int k = 0; k < rings; k++) {
				uint64_t t =
				    atomic_load_explicit(&s->q[k].tail, memory_order_relaxed);
				if (atomic_load_explicit(&s->q[k].head, memory_order_acquire) ==
				    t) {
					idle(&spins);
					continue;
				}
				double t0 = cpu_now();
				memcpy(dst, mem + (size_t)k * ring + (t % slots) * chunk, chunk);
				busy += cpu_now() - t0;
				atomic_store_explicit(&s->q[k].tail, t + 1, memory_order_release);
				n++;
			}
		}
		s->reader_cpu = busy;
		atomic_store_explicit(&s->chunks_read, n, memory_order_release);
		_exit(0);
	}
	bench_pin(cpu_a);
	char *src = private_buf(chunk, 1);
	double busy = 0;
	uint64_t n = 0, t_end = bench_now_ns() + (uint64_t)(secs * 1e9), t_start = bench_now_ns();
	unsigned spins = 0;
	while (bench_now_ns() < t_end) {
		for (int k = 0; k < rings; k++) {
			uint64_t h = atomic_load_explicit(&s->q[k].head, memory_order_relaxed);
			if (h - atomic_load_explicit(&s->q[k].tail, memory_order_acquire) >=
			    slots) {
				idle(&spins);
				continue;
			}
			double t0 = cpu_now();
			memcpy(mem + (size_t)k * ring + (h % slots) * chunk, src, chunk);
			busy += cpu_now() - t0;
			atomic_store_explicit(&s->q[k].head, h + 1, memory_order_release);
			n++;
		}
	}
	atomic_store_explicit(&s->stop, 1, memory_order_relaxed);
	int st;
	if (waitpid(child, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		bench_die("reader");
	double wall = (double)(bench_now_ns() - t_start) * 1e-9;
	uint64_t got = atomic_load_explicit(&s->chunks_read, memory_order_acquire);
	printf("copy-floor rings=%d ring_kb=%zu chunk_kb=%zu wall_gbps=%.1f writer_copy_gbps=%.1f "
	       "reader_copy_gbps=%.1f cpus=%d,%d\n",
	       rings, ring_kb, chunk >> 10, (double)got * (double)chunk * 8 / wall / 1e9,
	       (double)n * (double)chunk * 8 / busy / 1e9,
	       (double)got * (double)chunk * 8 / s->reader_cpu / 1e9, cpu_a, cpu_b);
	fflush(stdout);
	munmap(mem, ring * (size_t)rings);
	munmap(s, sizeof(*s));
	free(src);
}

/* The same copies on one CPU: from and into a @ring_kb KiB buffer of its own. */
static void one_cpu(size_t ring_kb, size_t chunk, double secs, int cpu)
{
	size_t ring = ring_kb << 10;
	char *mem = private_buf(ring, 3), *buf = private_buf(chunk, 4);
	bench_pin(cpu);
	for (int into = 0; into < 2; into++) {
		double t0 = cpu_now();
		uint64_t n = 0;
		size_t off = 0;
		while (cpu_now() - t0 < secs / 2) {
			for (int i = 0; i < 16; i++, n++) {
				if (into)
					memcpy(mem + off, buf, chunk);
				else
					memcpy(buf, mem + off, chunk);
				off = off + 2 * chunk <= ring ? off + chunk : 0;
			}
		}
		printf("copy-floor one-cpu %s ring_kb=%zu chunk_kb=%zu copy_gbps=%.1f cpu=%d\n",
		       into ? "into" : "from", ring_kb, chunk >> 10,
		       (double)n * (double)chunk * 8 / (cpu_now() - t0) / 1e9, cpu);
	}
	free(mem);
	free(buf);
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 1.0;
	int cpu_a = argc > 3 ? atoi(argv[2]) : 0, cpu_b = argc > 3 ? atoi(argv[3]) : 1;
	size_t chunk = (argc > 4 ? strtoul(argv[4], NULL, 0) : 128) << 10;
	static const size_t sizes[] = {256, 1024, 4096, 16384};

	if (secs <= 0 || chunk == 0 || chunk > (256u << 10)) {
		fprintf(stderr, "usage: %s [SECONDS] [CPU_A CPU_B] [CHUNK_KB <= 256]\n", argv[0]);
		return 2;
	}
	for (int rings = 1; rings <= MAX_RINGS; rings += MAX_RINGS - 1)
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
			run(sizes[i], rings, chunk, secs, cpu_a, cpu_b);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		one_cpu(sizes[i], chunk, secs, cpu_a);
	return 0;
}
