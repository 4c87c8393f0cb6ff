/* SPDX-License-Identifier: MIT */
/*
 * fvolume: integrity at volume through fork, SCM_RIGHTS and demotion.
 *
 *   fvolume IP PORT [--bytes N] [--pairs P] [--seed S] [--stall-ms T]
 *
 * Run under xio-run. Opens P connections to itself on IP:PORT; each carries
 * N bytes in each direction at once (pattern.h: every byte is a function of
 * its stream's seed and offset, checked on arrival), written and read in
 * random sizes (1 B .. 1 MiB) with random call variants (write, send,
 * writev, sendmsg / read, recv, readv, recvmsg, MSG_PEEK then read), on
 * non-blocking fds in a poll loop. The ends move between processes while
 * bytes are in flight both ways:
 *   client ends  forked into process A at once (the parent closes its
 *                copies), which drives them to N and EOF;
 *   server ends  the first quarter in the main process M, the second in a
 *                fork child F (M closes its copies), the third in H, a
 *                preloaded process they reach over SCM_RIGHTS (adopted), the
 *                last in P, a process without the preload they reach over
 *                SCM_RIGHTS from H (demoted to the AF_UNIX pair), which reads
 *                to exactly N bytes and EOF.
 * Each stage hands over the offsets it reached; the next continues from
 * there. A byte that is not the stream's (lost, duplicated, reordered), a
 * byte past N, EOF before N or no progress for T ms (default 30000) fails.
 *
 * FVOLUME_CORRUPT_AT=OFF: the client end of pair 0 flips the byte at offset
 * OFF of its stream before sending it (tests the checker: must exit 2).
 *
 * Exit: 0 all verified, 2 corruption, 3 early EOF / reset, 4 stall, 1 other.
 * Last line: "fvolume: ok pairs=P bytes=N verified=B ms=..".
 */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "pattern.h"

#define BUF_MAX	  (1u << 20)
#define PAIRS_MAX 64

enum { RC_OK = 0, RC_ERR = 1, RC_CORRUPT = 2, RC_EARLY = 3, RC_STALL = 4 };

struct end {
	uint64_t sent, recvd;
	uint64_t rs_tx, rs_rx;
	uint64_t seed_tx, seed_rx;
	int32_t shut, eof;
	int32_t is_client, pad;
};

static uint64_t g_total = 64u << 20;
static int g_pairs = 4;
static uint64_t g_seed = 1;
static long g_stall_ms = 30000;
static long long g_corrupt_at = -1; /* FVOLUME_CORRUPT_AT: flip that byte of pair 0's upstream */
static const char *g_who = "main";
static uint8_t *g_buf, *g_peek;

#define DIE(rc, ...)                                                                               \
	do {                                                                                       \
		printf("fvolume %s: ", g_who);                                                     \
		printf(__VA_ARGS__);                                                               \
		printf("\n");                                                                      \
		fflush(stdout);                                                                    \
		_exit(rc);                                                                         \
	} while (0)

static int io_rc(int e)
{
	return (e == ECONNRESET || e == EPIPE) ? RC_EARLY : RC_ERR;
}

static void verify(struct end *e, int i, const uint8_t *buf, size_t n)
{
	if (e->recvd + n > g_total)
		DIE(RC_CORRUPT, "CORRUPT: pair %d: %llu bytes past the %llu sent", i,
		    (unsigned long long)(e->recvd + n - g_total), (unsigned long long)g_total);
	long bad = fp_check(buf, e->seed_rx, e->recvd, n);
	if (bad >= 0)
		DIE(RC_CORRUPT, "CORRUPT: pair %d at stream offset %llu: got 0x%02x, sent 0x%02x",
		    i, (unsigned long long)(e->recvd + (uint64_t)bad), buf[bad],
		    fp_byte(e->seed_rx, e->recvd + (uint64_t)bad));
}

/* One send of a random size and call variant; false when nothing moved. */
static bool do_send(struct end *e, int fd, int i, uint64_t limit)
{
	size_t n = fp_rand_size(&e->rs_tx, BUF_MAX);
	if (n > limit - e->sent)
		n = (size_t)(limit - e->sent);
	fp_fill(g_buf, e->seed_tx, e->sent, n);
	if (i == 0 && e->is_client && g_corrupt_at >= 0 && (uint64_t)g_corrupt_at >= e->sent &&
	    (uint64_t)g_corrupt_at < e->sent + n)
		g_buf[(uint64_t)g_corrupt_at - e->sent] ^= 0x5a; /* the checker's own test */
	unsigned how = (unsigned)(fp_rand(&e->rs_tx) % 4);
	ssize_t r;
	if (how == 0) {
		r = write(fd, g_buf, n);
	} else if (how == 1) {
		r = send(fd, g_buf, n, MSG_NOSIGNAL);
	} else {
		struct iovec iov[3];
		size_t a = n / 3, b = n / 2;
		iov[0] = (struct iovec){g_buf, a};
		iov[1] = (struct iovec){g_buf + a, b - a};
		iov[2] = (struct iovec){g_buf + b, n - b};
		if (how == 2) {
			r = writev(fd, iov, 3);
		} else {
			struct msghdr m = {.msg_iov = iov, .msg_iovlen = 3};
			r = sendmsg(fd, &m, MSG_NOSIGNAL);
		}
	}
	if (r < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return false;
		DIE(io_rc(errno), "pair %d: send at offset %llu: %s", i,
		    (unsigned long long)e->sent, strerror(errno));
	}
	e->sent += (uint64_t)r;
	if (e->sent == g_total && !e->shut) {
		if (shutdown(fd, SHUT_WR) < 0)
			DIE(io_rc(errno), "pair %d: shutdown: %s", i, strerror(errno));
		e->shut = 1;
	}
	return r > 0;
}

/* One receive of a random size and call variant; false when nothing moved. */
static bool do_recv(struct end *e, int fd, int i)
{
	size_t n = fp_rand_size(&e->rs_rx, BUF_MAX);
	unsigned how = (unsigned)(fp_rand(&e->rs_rx) % 5);
	ssize_t r;
	if (how == 0) {
		r = read(fd, g_buf, n);
	} else if (how == 1) {
		r = recv(fd, g_buf, n, 0);
	} else if (how == 2 || how == 3) {
		struct iovec iov[3];
		size_t a = n / 4, b = n / 2;
		iov[0] = (struct iovec){g_buf, a};
		iov[1] = (struct iovec){g_buf + a, b - a};
		iov[2] = (struct iovec){g_buf + b, n - b};
		if (how == 2) {
			r = readv(fd, iov, 3);
		} else {
			struct msghdr m = {.msg_iov = iov, .msg_iovlen = 3};
			r = recvmsg(fd, &m, 0);
		}
	} else {
		/* peek, then read what was peeked: both must be the stream's bytes */
		r = recv(fd, g_peek, n, MSG_PEEK);
		if (r > 0) {
			verify(e, i, g_peek, (size_t)r);
			ssize_t k = recv(fd, g_buf, (size_t)r, 0);
			if (k >= 0 && k != r)
				DIE(RC_CORRUPT, "CORRUPT: pair %d: peeked %zd bytes, then read %zd",
				    i, r, k);
			r = k;
		}
	}
	if (r < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return false;
		DIE(io_rc(errno), "pair %d: recv at offset %llu: %s", i,
		    (unsigned long long)e->recvd, strerror(errno));
	}
	if (r == 0) {
		if (e->recvd < g_total)
			DIE(RC_EARLY, "pair %d: EOF at offset %llu of %llu", i,
			    (unsigned long long)e->recvd, (unsigned long long)g_total);
		e->eof = 1;
		return true;
	}
	verify(e, i, g_buf, (size_t)r);
	e->recvd += (uint64_t)r;
	return true;
}

/*
 * Drive the @n ends on @fds until each has sent and received @limit bytes
 * (at the last stage, @limit == g_total: also shut down and seen EOF).
 * Reads while there is anything left to send: the peer may be blocked on a
 * full ring until we read.
 */
static void drive(struct end *e, const int *fds, int n, uint64_t limit)
{
	struct pollfd pfd[PAIRS_MAX];
	uint64_t last = fp_now_us();
	bool final = limit == g_total;

	for (int i = 0; i < n; i++) {
		int fl = fcntl(fds[i], F_GETFL);
		if (fl < 0 || !(fl & O_NONBLOCK))
			DIE(RC_ERR, "pair %d: O_NONBLOCK lost on the way here (flags %#x)", i, fl);
	}
	for (;;) {
		int want = 0;
		for (int i = 0; i < n; i++) {
			short ev = 0;
			if (e[i].sent < limit)
				ev |= POLLOUT;
			if (e[i].recvd < limit || (final && !e[i].eof))
				ev |= POLLIN;
			pfd[i] = (struct pollfd){.fd = ev ? fds[i] : -1, .events = ev};
			want += ev != 0;
		}
		if (!want)
			return;
		int k = poll(pfd, (nfds_t)n, 1000);
		if (k < 0 && errno != EINTR)
			DIE(RC_ERR, "poll: %s", strerror(errno));
		bool moved = false;
		for (int i = 0; k > 0 && i < n; i++) {
			if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))
				moved |= do_recv(&e[i], fds[i], i);
			if ((pfd[i].revents & (POLLOUT | POLLERR)) && e[i].sent < limit)
				moved |= do_send(&e[i], fds[i], i, limit);
		}
		uint64_t now = fp_now_us();
		if (moved) {
			last = now;
		} else if (now - last > (uint64_t)g_stall_ms * 1000) {
			for (int i = 0; i < n; i++)
				printf("fvolume %s: pair %d sent=%llu recvd=%llu eof=%d (limit "
				       "%llu)\n",
				       g_who, i, (unsigned long long)e[i].sent,
				       (unsigned long long)e[i].recvd, e[i].eof,
				       (unsigned long long)limit);
			DIE(RC_STALL, "STALL: no progress for %ld ms", g_stall_ms);
		}
	}
}

static void send_ends(int u, const struct end *e, const int *fds, int n)
{
	char cbuf[CMSG_SPACE(sizeof(int) * PAIRS_MAX)];
	struct iovec iov = {(void *)e, sizeof(*e) * (size_t)n};
	struct msghdr m = {.msg_iov = &iov,
			   .msg_iovlen = 1,
			   .msg_control = cbuf,
			   .msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)n)};
	memset(cbuf, 0, sizeof(cbuf));
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)n);
	memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)n);
	ssize_t r;
	do
		r = sendmsg(u, &m, 0);
	while (r < 0 && errno == EINTR);
	if (r != (ssize_t)iov.iov_len)
		DIE(RC_ERR, "sendmsg(SCM_RIGHTS): %s", r < 0 ? strerror(errno) : "short");
}

static void recv_ends(int u, struct end *e, int *fds, int n)
{
	char cbuf[CMSG_SPACE(sizeof(int) * PAIRS_MAX)];
	struct iovec iov = {e, sizeof(*e) * (size_t)n};
	struct msghdr m = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
	ssize_t r;
	do
		r = recvmsg(u, &m, MSG_WAITALL | MSG_CMSG_CLOEXEC);
	while (r < 0 && errno == EINTR);
	if (r != (ssize_t)iov.iov_len)
		DIE(RC_ERR, "recvmsg(SCM_RIGHTS): %s", r < 0 ? strerror(errno) : "short");
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	if (!c || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(sizeof(int) * (size_t)n))
		DIE(RC_ERR, "recvmsg: no SCM_RIGHTS with %d fds", n);
	memcpy(fds, CMSG_DATA(c), sizeof(int) * (size_t)n);
}

static int wait_rc(pid_t pid, const char *what)
{
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return RC_ERR;
	if (WIFSIGNALED(st)) {
		printf("fvolume %s: %s killed by signal %d\n", g_who, what, WTERMSIG(st));
		return RC_ERR;
	}
	return WEXITSTATUS(st);
}

/* The exit code that says most: corruption over a stall over an error over an early end. */
static int worst(int a, int b)
{
	static const int rank[] = {
	    [RC_OK] = 0, [RC_EARLY] = 1, [RC_ERR] = 2, [RC_STALL] = 3, [RC_CORRUPT] = 4};
	if (a < 0 || a > RC_STALL)
		a = RC_ERR;
	if (b < 0 || b > RC_STALL)
		b = RC_ERR;
	return rank[a] >= rank[b] ? a : b;
}

static bool preloaded(void)
{
	char line[512];
	bool found = false;
	FILE *f = fopen("/proc/self/maps", "re");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, "libxio_preload") != NULL;
	fclose(f);
	return found;
}

/* Fork and exec ourselves in role @role with socket @u and the arguments
 * @rest (IP PORT options...) (@plain: no preload, by
 * raw system call so that the shim does not put LD_PRELOAD back). */
static pid_t spawn(char *self, char **rest, const char *role, int u, int keep_out, bool plain)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0)
		DIE(RC_ERR, "fork: %s", strerror(errno));
	if (pid > 0)
		return pid;
	close(keep_out);
	char fdtxt[16];
	snprintf(fdtxt, sizeof(fdtxt), "%d", u);
	char *args[16];
	int k = 0;
	args[k++] = self;
	args[k++] = (char *)role;
	args[k++] = fdtxt;
	for (int i = 0; rest[i] && k < 15; i++)
		args[k++] = rest[i];
	args[k] = NULL;
	if (plain) {
		unsetenv("LD_PRELOAD");
		syscall(SYS_execve, "/proc/self/exe", args, environ);
	} else {
		execv("/proc/self/exe", args);
	}
	_exit(127);
}

static void parse(int argc, char **argv, int first)
{
	for (int i = first; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--bytes") && v) {
			char *end;
			g_total = strtoull(v, &end, 10);
			if (*end == 'K')
				g_total <<= 10;
			else if (*end == 'M')
				g_total <<= 20;
			else if (*end == 'G')
				g_total <<= 30;
			i++;
		} else if (!strcmp(a, "--pairs") && v) {
			g_pairs = atoi(v);
			i++;
		} else if (!strcmp(a, "--seed") && v) {
			g_seed = strtoull(v, NULL, 0);
			i++;
		} else if (!strcmp(a, "--stall-ms") && v) {
			g_stall_ms = atol(v);
			i++;
		} else {
			fprintf(stderr, "usage: fvolume IP PORT [--bytes N] [--pairs P] [--seed S] "
					"[--stall-ms T]\n");
			exit(RC_ERR);
		}
	}
	if (g_pairs < 1 || g_pairs > PAIRS_MAX || g_total < 4) {
		fprintf(stderr, "fvolume: --pairs 1..%d, --bytes >= 4\n", PAIRS_MAX);
		exit(RC_ERR);
	}
}

/* H (preloaded, adopts) and P (not preloaded, the fds are demoted to it). */
static int helper(char **argv, bool plain)
{
	int u = atoi(argv[2]);
	struct end e[PAIRS_MAX];
	int fds[PAIRS_MAX];
	pid_t p = -1;
	int u2[2] = {-1, -1};

	g_who = plain ? "P (not preloaded)" : "H (preloaded)";
	fcntl(u, F_SETFD, FD_CLOEXEC);
	if (plain && preloaded())
		DIE(RC_ERR, "the preload is mapped in the process meant to be without it");
	if (!plain) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, u2) < 0)
			DIE(RC_ERR, "socketpair: %s", strerror(errno));
		fcntl(u2[1], F_SETFD, 0);
		p = spawn(argv[0], argv + 3, "plain", u2[1], u2[0], true);
		close(u2[1]);
	}
	recv_ends(u, e, fds, g_pairs);
	close(u);
	uint64_t t0 = fp_now_us();
	drive(e, fds, g_pairs, plain ? g_total : g_total / 4 * 3);
	if (!plain) {
		send_ends(u2[0], e, fds, g_pairs);
		for (int i = 0; i < g_pairs; i++)
			close(fds[i]);
		close(u2[0]);
		return wait_rc(p, "P");
	}
	for (int i = 0; i < g_pairs; i++)
		close(fds[i]);
	printf(
	    "fvolume %s: last quarter ok, %d server ends at %llu bytes each way and EOF, %llu ms\n",
	    g_who, g_pairs, (unsigned long long)g_total,
	    (unsigned long long)((fp_now_us() - t0) / 1000));
	return RC_OK;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	g_buf = malloc(BUF_MAX);
	g_peek = malloc(BUF_MAX);
	if (getenv("FVOLUME_CORRUPT_AT"))
		g_corrupt_at = atoll(getenv("FVOLUME_CORRUPT_AT"));
	if (!g_buf || !g_peek)
		return RC_ERR;
	if (argc >= 3 && (!strcmp(argv[1], "helper") || !strcmp(argv[1], "plain"))) {
		parse(argc, argv, 5);
		return helper(argv, !strcmp(argv[1], "plain"));
	}
	if (argc < 3) {
		parse(argc, argv, argc); /* usage */
		return RC_ERR;
	}
	parse(argc, argv, 3);
	const char *ip = argv[1];
	int port = atoi(argv[2]);
	uint64_t t0 = fp_now_us();

	if (!preloaded())
		DIE(RC_ERR, "not preloaded: run me under xio-run");
	int u[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, u) < 0)
		DIE(RC_ERR, "socketpair: %s", strerror(errno));
	fcntl(u[1], F_SETFD, 0);
	pid_t h = spawn(argv[0], argv + 1, "helper", u[1], u[0], false);
	close(u[1]);

	int l = fp_listen(ip, port);
	if (l < 0)
		DIE(RC_ERR, "listen %s:%d: %s", ip, port, strerror(-l));
	int cfd[PAIRS_MAX], sfd[PAIRS_MAX];
	struct end ce[PAIRS_MAX], se[PAIRS_MAX];
	for (int i = 0; i < g_pairs; i++) {
		cfd[i] = fp_connect(ip, port);
		if (cfd[i] < 0)
			DIE(RC_ERR, "connect: %s", strerror(-cfd[i]));
		sfd[i] = accept(l, NULL, NULL);
		if (sfd[i] < 0)
			DIE(RC_ERR, "accept: %s", strerror(errno));
		fcntl(cfd[i], F_SETFL, fcntl(cfd[i], F_GETFL) | O_NONBLOCK);
		fcntl(sfd[i], F_SETFL, fcntl(sfd[i], F_GETFL) | O_NONBLOCK);
		uint64_t up = g_seed * 1000 + (uint64_t)i * 2 + 1, down = up + 1;
		ce[i] = (struct end){.is_client = 1,
				     .seed_tx = up,
				     .seed_rx = down,
				     .rs_tx = g_seed * 7 + (uint64_t)i,
				     .rs_rx = g_seed * 13 + (uint64_t)i};
		se[i] = (struct end){.seed_tx = down,
				     .seed_rx = up,
				     .rs_tx = g_seed * 17 + (uint64_t)i,
				     .rs_rx = g_seed * 19 + (uint64_t)i};
	}
	close(l);

	/* A: the client ends, forked away at once. */
	fflush(stdout);
	pid_t a = fork();
	if (a < 0)
		DIE(RC_ERR, "fork: %s", strerror(errno));
	if (a == 0) {
		g_who = "A (client ends)";
		close(u[0]);
		for (int i = 0; i < g_pairs; i++)
			close(sfd[i]);
		drive(ce, cfd, g_pairs, g_total);
		for (int i = 0; i < g_pairs; i++)
			close(cfd[i]);
		_exit(RC_OK);
	}
	for (int i = 0; i < g_pairs; i++)
		close(cfd[i]);

	/* M: the first quarter of the server ends. */
	drive(se, sfd, g_pairs, g_total / 4);
	/* F: the second quarter, in a fork child, then SCM_RIGHTS to H. */
	fflush(stdout);
	pid_t f = fork();
	if (f < 0)
		DIE(RC_ERR, "fork: %s", strerror(errno));
	if (f == 0) {
		g_who = "F (fork child)";
		drive(se, sfd, g_pairs, g_total / 2);
		send_ends(u[0], se, sfd, g_pairs);
		for (int i = 0; i < g_pairs; i++)
			close(sfd[i]);
		_exit(RC_OK);
	}
	for (int i = 0; i < g_pairs; i++)
		close(sfd[i]);
	close(u[0]);
	int rc = wait_rc(f, "F");
	rc = worst(rc, wait_rc(h, "H"));
	rc = worst(rc, wait_rc(a, "A"));
	if (rc != RC_OK) {
		printf("fvolume: FAILED (exit %d)\n", rc);
		return rc;
	}
	printf("fvolume: ok pairs=%d bytes=%llu verified=%llu ms=%llu\n", g_pairs,
	       (unsigned long long)g_total, (unsigned long long)(2 * (uint64_t)g_pairs * g_total),
	       (unsigned long long)((fp_now_us() - t0) / 1000));
	return RC_OK;
}
