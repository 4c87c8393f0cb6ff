/*
 * Start-up cost of a program: spawn it N times, one after another, and time
 * each spawn..exit.
 *
 *   xio-bench-spawn N [VAR=VALUE ...] -- CMD [ARGS...]
 *
 * The children get this program's environment without LD_PRELOAD, plus the
 * VAR=VALUE pairs given (e.g. LD_PRELOAD=.../libxio_preload.so), so this
 * program itself must not run preloaded. The first 20 spawns warm the page
 * cache and are not counted. Prints
 *   runs=N p50_us=X mean_us=Y min_us=Z p99_us=W
 */
#include "bench.h"

#include <spawn.h>
#include <sys/wait.h>

extern char **environ;

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: %s N [VAR=VALUE ...] -- CMD [ARGS...]\n", argv[0]);
		return 2;
	}
	int n = atoi(argv[1]), i = 2, extra = 0;
	char **envp = calloc(4096, sizeof(char *));
	for (char **e = environ; *e && extra < 4000; e++)
		if (strncmp(*e, "LD_PRELOAD=", 11) != 0)
			envp[extra++] = *e;
	for (; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (extra < 4090)
			envp[extra++] = argv[i];
	if (i + 1 >= argc) {
		fprintf(stderr, "%s: missing -- CMD\n", argv[0]);
		return 2;
	}
	char **cmd = argv + i + 1;
	struct bench_samples s = {0};
	double sum = 0;
	for (int k = 0; k < n + 20; k++) {
		uint64_t t0 = bench_now_ns();
		pid_t pid;
		int st;
		if (posix_spawnp(&pid, cmd[0], NULL, NULL, cmd, envp) != 0)
			bench_die("posix_spawn");
		while (waitpid(pid, &st, 0) < 0)
			if (errno != EINTR)
				bench_die("waitpid");
		uint64_t dt = bench_now_ns() - t0;
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "%s: %s failed (status %d)\n", argv[0], cmd[0], st);
			return 1;
		}
		if (k >= 20) {
			bench_sample(&s, dt);
			sum += (double)dt;
		}
	}
	double p50 = bench_pct_us(&s, 50, 0);
	printf("runs=%d p50_us=%.1f mean_us=%.1f min_us=%.1f p99_us=%.1f\n", n, p50,
	       sum / n / 1000.0, (double)s.v[0] / 1000.0, bench_pct_us(&s, 99, 1));
	return 0;
}
