/* SPDX-License-Identifier: MIT */
/*
 * xio-run [options] CMD [ARGS...]: run CMD under X-IO.
 *
 * Sets LD_PRELOAD to the libxio_preload.so that belongs with this binary
 * (found relative to our own path, so the build tree and an installed tree
 * both work), exports the X-IO environment, starts a manager for the domain
 * when none runs, and execs CMD: its exit status is CMD's.
 */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "stack.h"
#include "supervise.h"
#include "sys.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: xio-run [--domain NAME] [--spin US] [--no-fallback] [--syscalls] [-v] CMD "
		"[ARGS...]\n"
		"Run CMD with its TCP connections to local peers that also run under X-IO\n"
		"carried over shared memory; everything else stays kernel TCP.\n\n"
		"  -d, --domain NAME   X-IO domain (default $XIO_DOMAIN or \"xio\")\n"
		"  -s, --spin US       spin this many microseconds before sleeping\n"
		"  -n, --no-fallback   fail connects X-IO cannot carry (ECONNREFUSED) instead\n"
		"                      of using kernel TCP (for testing)\n"
		"      --syscalls      carry CMD's connections by supervising its system calls\n"
		"                      (seccomp), as for Go and static programs, which xio-run\n"
		"                      recognises by itself\n"
		"  -v, --verbose       log X-IO decisions on stderr (XIO_LOG=1)\n"
		"  -h, --help          this text\n"
		"      --version       print the version\n");
}

/* Directory holding this executable. */
static int self_dir(char *buf, size_t len)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0)
		return -1;
	exe[n] = 0;
	snprintf(buf, len, "%s", dirname(exe));
	return 0;
}

/* 0: a manager serves the domain; else the errno of connecting to its control socket. */
static int manager_alive(const char *rundir, const char *domain)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s/control", rundir, domain) >=
	    (int)sizeof(sa.sun_path))
		return ENAMETOOLONG;
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errno;
	int e = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 ? 0 : errno;
	close(fd);
	return e;
}

/*
 * What configures the preload library (README, "Environment variables"), and
 * the manager's own hand-over variable: none of it applies to a manager that
 * xio-run starts, so its environment goes without them.
 */
static const char *const library_vars[] = {"XIO_DISABLE",
					   "XIO_DOMAIN",
					   "XIO_RUNDIR",
					   "XIO_SPIN_US",
					   "XIO_SPIN_ADAPT_US",
					   "XIO_LOG",
					   "XIO_NO_FALLBACK",
					   "XIO_DEMOTE",
					   "XIO_DEMOTE_WAIT_MS",
					   "XIO_MGR_READY_FD",
					   "XIO_RUN",
					   "XIO_PAIR_WAIT_US",
					   "XIO_PAIR_SPIN_US",
					   NULL};

static bool is_library_var(const char *entry)
{
	for (int i = 0; library_vars[i]; i++) {
		size_t n = strlen(library_vars[i]);
		if (!strncmp(entry, library_vars[i], n) && entry[n] == '=')
			return true;
	}
	return false;
}

/* @list (LD_PRELOAD: ':' or ' ' separated) without the entries that name libxio_preload. */
static char *without_preload(const char *list)
{
	char *out = malloc(strlen(list) + 1), *copy = strdup(list), *save = NULL;
	size_t n = 0;
	if (!out || !copy) {
		free(out);
		free(copy);
		return NULL;
	}
	for (char *t = strtok_r(copy, ": ", &save); t; t = strtok_r(NULL, ": ", &save)) {
		const char *base = strrchr(t, '/');
		if (strstr(base ? base + 1 : t, "libxio_preload"))
			continue;
		n += (size_t)sprintf(out + n, "%s%s", n ? ":" : "", t);
	}
	out[n] = 0;
	free(copy);
	return out;
}

/*
 * The manager's environment: ours without libxio_preload.so in LD_PRELOAD
 * (other preloads stay) and without the library's variables. The manager is
 * the DPDK primary, often root: it must not run with the shim interposing
 * its calls (it refuses to, see manager/main.c). NULL when out of memory.
 */
static char **manager_env(void)
{
	extern char **environ;
	size_t n = 0;
	while (environ[n])
		n++;
	char **env = calloc(n + 1, sizeof(*env));
	if (!env)
		return NULL;
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		const char *e = environ[i];
		if (is_library_var(e))
			continue;
		if (!strncmp(e, "LD_PRELOAD=", 11)) {
			char *rest = without_preload(e + 11), *v = NULL;
			if (!rest || (*rest && asprintf(&v, "LD_PRELOAD=%s", rest) < 0))
				v = NULL;
			free(rest);
			if (v)
				env[k++] = v;
			continue;
		}
		env[k++] = (char *)e;
	}
	env[k] = NULL;
	return env;
}

/* Start "xio-manager --daemon" for the domain; it returns once it serves (or exits 3: one runs). */
static void start_manager(const char *bindir, const char *rundir, const char *domain, bool verbose)
{
	char mgr[PATH_MAX + 16];
	snprintf(mgr, sizeof(mgr), "%s/xio-manager", bindir);
	char *args[] = {"xio-manager", "--daemon",     "--domain", (char *)domain,
			"--rundir",    (char *)rundir, NULL};
	char **env = manager_env();
	if (!env)
		return;
	pid_t pid = fork();
	if (pid < 0) {
		free(env);
		return;
	}
	if (pid == 0) {
		/*
		 * The system call itself, not execve(): when xio-run itself runs
		 * preloaded (a script under xio-run calling xio-run), the shim's
		 * execve would put LD_PRELOAD back into the environment.
		 */
		long r = xio_raw_syscall3(SYS_execve, (long)mgr, (long)args, (long)env);
		fprintf(stderr, "xio-run: %s: %s\n", mgr, strerror((int)-r));
		_exit(127);
	}
	free(env); /* the strings it made are leaked: a few bytes, once */
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	bool ok = WIFEXITED(st) && (WEXITSTATUS(st) == 0 || WEXITSTATUS(st) == 3);
	if (!ok || verbose)
		fprintf(stderr, "xio-run: %s manager for domain '%s' (%s)\n",
			ok ? "started" : "could not start a", domain,
			ok ? rundir : "programs will use kernel TCP");
}

/* The file execvp() would run for @cmd, in @out; false when there is none. */
static bool find_program(const char *cmd, char *out, size_t len)
{
	if (strchr(cmd, '/')) {
		snprintf(out, len, "%s", cmd);
		return access(out, X_OK) == 0;
	}
	const char *path = getenv("PATH");
	char *copy = strdup(path && *path ? path : "/usr/local/bin:/usr/bin:/bin"), *save = NULL;
	bool found = false;
	for (char *d = copy ? strtok_r(copy, ":", &save) : NULL; d && !found;
	     d = strtok_r(NULL, ":", &save))
		found = (size_t)snprintf(out, len, "%s/%s", *d ? d : ".", cmd) < len &&
			access(out, X_OK) == 0;
	free(copy);
	return found;
}

/*
 * A program whose socket calls the preload never sees (Go, static, or
 * --syscalls): put it under the seccomp supervisor (supervise/). Where that is
 * not available it runs on kernel TCP and xio-stat counts why.
 */
static void supervise(const char *cmd, bool forced, bool reentry, bool verbose)
{
	char path[PATH_MAX];
	enum xio_sv_kind k = forced ? XIO_SV_FORCED : XIO_SV_NONE;
	if ((!forced || reentry) && find_program(cmd, path, sizeof(path)))
		k = xio_sv_classify(path);
	if (forced && k == XIO_SV_NONE)
		k = XIO_SV_FORCED;
	if (k == XIO_SV_NONE) {
		if (verbose)
			fprintf(stderr, "xio-run: %s: preload (LD_PRELOAD)\n", cmd);
		return;
	}
	int r = xio_sv_start();
	if (r < 0) {
		xio_sys_use_libc(); /* the stack's calls, for counting */
		xio_count_decline(XIO_FB_SUPERVISE_UNAVAILABLE);
		if (verbose)
			fprintf(
			    stderr,
			    "xio-run: %s: %s, seccomp supervisor unavailable (%s): kernel TCP\n",
			    cmd, xio_sv_kind_name(k), strerror(-r));
	} else if (verbose) {
		fprintf(stderr, "xio-run: %s: %s: seccomp supervisor (user notification)\n", cmd,
			xio_sv_kind_name(k));
	}
}

/*
 * Started by a preloaded program (a script under xio-run, or the preload's
 * exec of a Go or static program): start again without the library in this
 * process, so that the supervisor's socket calls are the kernel's, not the
 * library's. The system call itself: the library's execve would put
 * LD_PRELOAD back. The program still gets the library (LD_PRELOAD below).
 */
static void drop_preload(char **argv)
{
	extern char **environ;
	const char *pre = getenv("LD_PRELOAD");
	if (!pre || !strstr(pre, "libxio_preload"))
		return;
	char *rest = without_preload(pre), *v = NULL;
	size_t n = 0;
	while (environ[n])
		n++;
	char **env = calloc(n + 1, sizeof(*env));
	if (!rest || !env || (*rest && asprintf(&v, "LD_PRELOAD=%s", rest) < 0))
		return;
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "LD_PRELOAD=", 11) != 0)
			env[k++] = environ[i];
	if (*rest)
		env[k++] = v;
	env[k] = NULL;
	xio_raw_syscall3(SYS_execve, (long)"/proc/self/exe", (long)argv, (long)env);
	free(env); /* could not: go on with the library */
}

int main(int argc, char **argv)
{
	drop_preload(argv);
	static const struct option opts[] = {{"domain", required_argument, 0, 'd'},
					     {"spin", required_argument, 0, 's'},
					     {"no-fallback", no_argument, 0, 'n'},
					     {"verbose", no_argument, 0, 'v'},
					     {"syscalls", no_argument, 0, 'S'},
					     {"argv0", required_argument, 0, 'A'},
					     {"help", no_argument, 0, 'h'},
					     {"version", no_argument, 0, 'V'},
					     {0, 0, 0, 0}};
	const char *domain = getenv("XIO_DOMAIN");
	const char *spin = NULL;
	bool verbose = false, no_fallback = false, syscalls = false;
	const char *argv0 = NULL;
	int c;

	while ((c = getopt_long(argc, argv, "+d:s:nvh", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			domain = optarg;
			break;
		case 's': {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (*end || v < 0 || v > 1000000) {
				fprintf(stderr, "xio-run: --spin wants microseconds (0-1000000)\n");
				return 125;
			}
			spin = optarg;
			break;
		}
		case 'n':
			no_fallback = true;
			break;
		case 'v':
			verbose = true;
			break;
		case 'S':
			syscalls = true;
			break;
		case 'A':
			argv0 = optarg; /* internal: the preload's exec of a Go or static program */
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("xio-run %s\n", XIO_VERSION);
			return 0;
		default:
			usage(stderr);
			return 125;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 125;
	}
	if (!domain || !*domain)
		domain = "xio";
	if (!xio_domain_name_ok(domain)) {
		/* One line, then the program runs over kernel TCP. */
		fprintf(stderr,
			"xio-run: '%s' is not a domain name (" XIO_DOMAIN_RULE
			"); using kernel TCP\n",
			domain);
		setenv("XIO_DISABLE", "1", 1);
		execvp(argv[optind], argv + optind);
		fprintf(stderr, "xio-run: %s: %s\n", argv[optind], strerror(errno));
		return errno == ENOENT ? 127 : 126;
	}

	char bindir[PATH_MAX], lib[PATH_MAX + 64], rundir[200];
	if (self_dir(bindir, sizeof(bindir)) < 0) {
		perror("xio-run: /proc/self/exe");
		return 125;
	}
	snprintf(lib, sizeof(lib), "%s/%s/libxio_preload.so", bindir, XIO_BIN_TO_LIB);
	char real_lib[PATH_MAX];
	if (!realpath(lib, real_lib)) {
		fprintf(stderr, "xio-run: cannot find %s: %s\n", lib, strerror(errno));
		return 125;
	}
	const char *rd = getenv("XIO_RUNDIR");
	if (rd && *rd)
		snprintf(rundir, sizeof(rundir), "%s", rd);
	else
		xio_default_rundir(domain, rundir, sizeof(rundir));

	/* Prepend to an existing LD_PRELOAD, once. */
	const char *old = getenv("LD_PRELOAD");
	if (old && strstr(old, real_lib) == NULL) {
		size_t n = strlen(real_lib) + strlen(old) + 2;
		char *v = malloc(n);
		if (!v)
			return 125;
		snprintf(v, n, "%s:%s", real_lib, old);
		setenv("LD_PRELOAD", v, 1);
	} else if (!old) {
		setenv("LD_PRELOAD", real_lib, 1);
	}
	setenv("XIO_DOMAIN", domain, 1);
	setenv("XIO_RUNDIR", rundir, 1);
	if (spin)
		setenv("XIO_SPIN_US", spin, 1);
	if (no_fallback)
		setenv("XIO_NO_FALLBACK", "1", 1);
	if (verbose && !getenv("XIO_LOG"))
		setenv("XIO_LOG", "1", 1);

	int alive = manager_alive(rundir, domain);
	if (alive == EACCES || alive == EPERM)
		/*
		 * The domain exists but is closed to this user: say so once (the
		 * library never prints). A privilege drop inside the program comes
		 * later; only XIO_LOG tells about that one.
		 */
		fprintf(stderr,
			"xio-run: uid %d gid %d may not join domain '%s' (%s/%s/control: %s): "
			"programs will use kernel TCP; xio-manager --group admits a group\n",
			(int)geteuid(), (int)getegid(), domain, rundir, domain, strerror(alive));
	else if (alive && !argv0)
		start_manager(bindir, rundir, domain, verbose);
	/*
	 * Not when the preload sent an exec here (--argv0): the tree that runs
	 * decided about its manager (one started without xio-run starts its own).
	 */

	/* What a preloaded program execs that the preload cannot follow comes back here. */
	char self[PATH_MAX];
	ssize_t sl = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (sl > 0) {
		self[sl] = 0;
		setenv("XIO_RUN", self, 1);
	}
	/* The preload's exec of a program under xio-run -v (XIO_LOG) says how it is carried too. */
	if (argv0 && getenv("XIO_LOG") && *getenv("XIO_LOG") && strcmp(getenv("XIO_LOG"), "0") != 0)
		verbose = true;
	supervise(argv[optind], syscalls, argv0 != NULL, verbose);
	if (argv0) {
		/* The exact file, with the program's own argv[0]. */
		const char *file = argv[optind];
		argv[optind] = (char *)argv0;
		execv(file, argv + optind);
		argv[optind] = (char *)file;
	} else {
		execvp(argv[optind], argv + optind);
	}
	int e = errno;
	fprintf(stderr, "xio-run: %s: %s\n", argv[optind], strerror(e));
	return e == ENOENT ? 127 : 126;
}
