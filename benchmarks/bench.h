/*
 * Helpers shared by the small benchmark programs of benchmarks/: endpoint
 * parsing (tcp:HOST:PORT or unix:PATH), listen/connect, clocks, full
 * reads/writes, percentiles, and the floor tools' two pinned processes.
 * Header-only so each program is one file.
 *
 * The programs use only POSIX sockets: run them under `xio-run` and X-IO
 * carries their TCP connections like any other unmodified program's.
 */
#ifndef XIO_BENCH_H
#define XIO_BENCH_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct bench_ep {
	int family; /* AF_INET or AF_UNIX */
	struct sockaddr_storage addr;
	socklen_t len;
};

__attribute__((noreturn)) static inline void bench_die(const char *what)
{
	fprintf(stderr, "%s: %s\n", what, strerror(errno));
	exit(1);
}

/* "tcp:HOST:PORT" or "unix:PATH"; a bare "PORT" means tcp:127.0.0.1:PORT. */
static inline int bench_parse_ep(const char *s, struct bench_ep *ep)
{
	memset(ep, 0, sizeof(*ep));
	if (strncmp(s, "unix:", 5) == 0) {
		struct sockaddr_un *un = (struct sockaddr_un *)&ep->addr;
		if (strlen(s + 5) >= sizeof(un->sun_path))
			return -1;
		un->sun_family = AF_UNIX;
		strcpy(un->sun_path, s + 5);
		ep->family = AF_UNIX;
		ep->len = sizeof(*un);
		return 0;
	}
	if (strncmp(s, "tcp:", 4) == 0)
		s += 4;
	char host[64] = "127.0.0.1";
	const char *colon = strrchr(s, ':');
	if (colon) {
		size_t n = (size_t)(colon - s);
		if (n >= sizeof(host))
			return -1;
		memcpy(host, s, n);
		host[n] = 0;
		s = colon + 1;
	}
	struct sockaddr_in *in = (struct sockaddr_in *)&ep->addr;
	in->sin_family = AF_INET;
	in->sin_port = htons((uint16_t)atoi(s));
	if (inet_pton(AF_INET, host, &in->sin_addr) != 1)
		return -1;
	ep->family = AF_INET;
	ep->len = sizeof(*in);
	return 0;
}

static inline void bench_nodelay(int fd, const struct bench_ep *ep)
{
	int one = 1;
	if (ep->family == AF_INET)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static inline int bench_listen(const struct bench_ep *ep, int backlog)
{
	int fd = socket(ep->family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		bench_die("socket");
	if (ep->family == AF_UNIX) {
		unlink(((const struct sockaddr_un *)&ep->addr)->sun_path);
	} else {
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	}
	if (bind(fd, (const struct sockaddr *)&ep->addr, ep->len) < 0)
		bench_die("bind");
	if (listen(fd, backlog) < 0)
		bench_die("listen");
	return fd;
}

/* A blocking connected socket with TCP_NODELAY, or -1 (errno set). */
/* The next connection on @lfd; EINTR and ECONNABORTED are retried, anything else is fatal. */
static inline int bench_accept(int lfd)
{
	for (;;) {
		int fd = accept(lfd, NULL, NULL);
		if (fd >= 0)
			return fd;
		if (errno != EINTR && errno != ECONNABORTED)
			bench_die("accept");
	}
}

static inline int bench_connect(const struct bench_ep *ep)
{
	int fd = socket(ep->family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	bench_nodelay(fd, ep);
	if (connect(fd, (const struct sockaddr *)&ep->addr, ep->len) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static inline uint64_t bench_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Write all @n bytes; 0 or -1. */
static inline int bench_write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Read exactly @n bytes; 1 done, 0 EOF first, -1 error. */
static inline int bench_read_all(int fd, void *buf, size_t n)
{
	char *p = buf;
	while (n) {
		ssize_t r = read(fd, p, n);
		if (r == 0)
			return 0;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += r;
		n -= (size_t)r;
	}
	return 1;
}

/* Raise RLIMIT_NOFILE to its hard limit (the many-connection programs need it). */
static inline void bench_raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* Samples of nanoseconds, growing as needed. */
struct bench_samples {
	uint64_t *v;
	size_t n, cap;
};

static inline void bench_sample(struct bench_samples *s, uint64_t ns)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 1 << 16;
		s->v = realloc(s->v, s->cap * sizeof(*s->v));
		if (!s->v)
			bench_die("realloc");
	}
	s->v[s->n++] = ns;
}

static int bench_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Sorts the samples; returns the @p-th percentile (0..100) in microseconds. */
static inline double bench_pct_us(struct bench_samples *s, double p, int sorted)
{
	if (!s->n)
		return 0;
	if (!sorted)
		qsort(s->v, s->n, sizeof(*s->v), bench_cmp_u64);
	size_t i = (size_t)(p / 100.0 * (double)(s->n - 1) + 0.5);
	return (double)s->v[i] / 1000.0;
}

/*
 * A ping-pong client's clock: the first 1000 round trips (or 100 ms) warm
 * up, then every round trip is sampled for @secs. bytes counts every turn.
 */
struct bench_rtt {
	struct bench_samples s;
	uint64_t turns, warm_end, end;
	int warm, warm_n;
	double secs;
};

static inline void bench_rtt_init(struct bench_rtt *r, double secs)
{
	*r = (struct bench_rtt){.warm_end = bench_now_ns() + 100000000u, .warm = 1, .secs = secs};
}

/* Count the round trip [t0, t1]; 1 once the measurement is over. */
static inline int bench_rtt_add(struct bench_rtt *r, uint64_t t0, uint64_t t1)
{
	r->turns++;
	if (r->warm) {
		if (++r->warm_n >= 1000 || t1 >= r->warm_end) {
			r->warm = 0;
			r->end = t1 + (uint64_t)(r->secs * 1e9);
		}
		return 0;
	}
	bench_sample(&r->s, t1 - t0);
	return t1 >= r->end;
}

/* pingpong's result line, without its newline: a caller may add fields. */
static inline void bench_rtt_print(struct bench_rtt *r, size_t size)
{
	struct bench_samples *s = &r->s;
	double sum = 0;
	for (size_t i = 0; i < s->n; i++)
		sum += (double)s->v[i];
	double p50 = bench_pct_us(s, 50, 0);
	printf("size=%zu rtts=%zu p50_us=%.3f p99_us=%.3f mean_us=%.3f min_us=%.3f bytes=%llu",
	       size, s->n, p50, bench_pct_us(s, 99, 1), s->n ? sum / (double)s->n / 1000.0 : 0,
	       s->n ? (double)s->v[0] / 1000.0 : 0, (unsigned long long)(r->turns * size * 2));
}

/*
 * The floor tools' two processes (cacheline_floor.c, wake_floor.c): a forked
 * child that answers every turn until killed and the parent that times the
 * round trips, each pinned to its own CPU. Their command line is
 * "MODE [SECONDS] [CPU_A CPU_B]": 1 s, the parent on CPU 0 and the child on 1.
 */
struct bench_floor {
	const char *mode;
	double secs;
	int cpu_a, cpu_b;
	pid_t child;
	struct bench_rtt rtt;
};

static inline void bench_pin(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		bench_die("sched_setaffinity");
}

static inline void bench_floor_args(struct bench_floor *f, int argc, char **argv)
{
	*f = (struct bench_floor){.mode = argv[1],
				  .secs = argc > 2 ? atof(argv[2]) : 1.0,
				  .cpu_a = argc > 4 ? atoi(argv[3]) : 0,
				  .cpu_b = argc > 4 ? atoi(argv[4]) : 1};
}

/* Fork and pin both: 0 in the child; 1 in the parent, its clock started. */
static inline int bench_floor_fork(struct bench_floor *f)
{
	f->child = fork();
	if (f->child < 0)
		bench_die("fork");
	if (f->child == 0) {
		bench_pin(f->cpu_b);
		return 0;
	}
	bench_pin(f->cpu_a);
	bench_rtt_init(&f->rtt, f->secs);
	return 1;
}

/* Kill and reap the child; print pingpong's result line, the mode and the CPUs. */
static inline void bench_floor_end(struct bench_floor *f, size_t size)
{
	kill(f->child, SIGKILL);
	waitpid(f->child, NULL, 0);
	bench_rtt_print(&f->rtt, size);
	printf(" mode=%s cpus=%d,%d\n", f->mode, f->cpu_a, f->cpu_b);
}

#ifdef XIO_H
#include <dlfcn.h>

/*
 * The native API (include/xio.h) of the preloaded library, looked up at run
 * time (dlsym): a program that uses it includes xio.h before this header,
 * links with ${CMAKE_DL_LIBS} and runs under `xio-run`.
 */
struct bench_xio {
	__typeof__(xio_fd_kind) *fd_kind;
	__typeof__(xio_buf_size) *buf_size;
	__typeof__(xio_malloc) *malloc;
	__typeof__(xio_free) *free;
	__typeof__(xio_tx) *tx;
	__typeof__(xio_rx) *rx;
	__typeof__(xio_send_reserve) *send_reserve;
	__typeof__(xio_send_commit) *send_commit;
	__typeof__(xio_recv_peek) *recv_peek;
	__typeof__(xio_recv_consume) *recv_consume;
};

static inline void *bench_xio_need(const char *name, const char *hint)
{
	void *f = dlsym(RTLD_DEFAULT, name);
	if (!f) {
		fprintf(stderr, "%s not found: run under xio-run (libxio_preload.so)%s\n", name,
			hint);
		exit(1);
	}
	return f;
}

/* Every call of struct bench_xio, or exit(1) naming the first one missing; @hint ends the
 * message ("" or e.g. " or use --copy"). */
static inline void bench_xio_resolve(struct bench_xio *x, const char *hint)
{
	x->fd_kind = bench_xio_need("xio_fd_kind", hint);
	x->buf_size = bench_xio_need("xio_buf_size", hint);
	x->malloc = bench_xio_need("xio_malloc", hint);
	x->free = bench_xio_need("xio_free", hint);
	x->tx = bench_xio_need("xio_tx", hint);
	x->rx = bench_xio_need("xio_rx", hint);
	x->send_reserve = bench_xio_need("xio_send_reserve", hint);
	x->send_commit = bench_xio_need("xio_send_commit", hint);
	x->recv_peek = bench_xio_need("xio_recv_peek", hint);
	x->recv_consume = bench_xio_need("xio_recv_consume", hint);
}

/* Exit(1) unless X-IO carries the connection @fd. */
static inline void bench_xio_must_carry(const struct bench_xio *x, int fd)
{
	if (x->fd_kind(fd) != 1) {
		fprintf(stderr, "the connection is not carried by X-IO (xio_fd_kind=%d)\n",
			x->fd_kind(fd));
		exit(1);
	}
}
#endif

#endif
