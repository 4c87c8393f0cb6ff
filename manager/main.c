/* SPDX-License-Identifier: MIT */
/*
 * xio-manager: options, domain directory and lock, EAL, memory, control
 * socket, then the event loop until SIGTERM/SIGINT.
 *
 * --daemon forks before anything else, so no EAL thread is ever forked;
 * the parent only waits for the child's status byte (0 = ready, else the
 * exit code) and exits with it, so errors still reach the caller's stderr.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <link.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>
#include <rte_eal.h>

#include "manager.h"
#include "sys.h"

struct preload_search {
	char path[PATH_MAX];
	bool found;
};

static int find_preload(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct preload_search *s = arg;
	const char *name = info->dlpi_name, *base;

	(void)size;
	if (!name || !*name)
		return 0;
	base = strrchr(name, '/');
	if (!strstr(base ? base + 1 : name, "libxio_preload"))
		return 0;
	snprintf(s->path, sizeof(s->path), "%s", name);
	s->found = true;
	return 1;
}

/*
 * Is the X-IO preload library loaded in this process? By its file name, or
 * (a copy under another name) by its native API, which only it defines.
 */
static bool preload_loaded(char *path, size_t len)
{
	struct preload_search s = {.found = false};
	Dl_info info;
	void *sym;

	dl_iterate_phdr(find_preload, &s);
	if (!s.found && (sym = dlsym(RTLD_DEFAULT, "xio_tx")) != NULL) {
		snprintf(s.path, sizeof(s.path), "%s",
			 dladdr(sym, &info) && info.dli_fname ? info.dli_fname : "?");
		s.found = true;
	}
	snprintf(path, len, "%s", s.path);
	return s.found;
}

/* Parent side of --daemon: returns only in the child, with the pipe to report on. */
static int daemon_fork(void)
{
	int p[2];
	unsigned char code;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0) {
		mgr_err("pipe: %s", strerror(errno));
		exit(MGR_EXIT_ERROR);
	}
	pid = fork();
	if (pid < 0) {
		mgr_err("fork: %s", strerror(errno));
		exit(MGR_EXIT_ERROR);
	}
	if (pid > 0) {
		ssize_t n;
		close(p[1]);
		do
			n = read(p[0], &code, 1);
		while (n < 0 && errno == EINTR);
		if (n != 1) {
			int st;
			code = MGR_EXIT_ERROR;
			if (waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st))
				code = (unsigned char)WEXITSTATUS(st);
		}
		_exit(code);
	}
	close(p[0]);
	setsid();
	return p[1];
}

static void daemon_ready(int fd)
{
	unsigned char ok = 0;
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		if (null > STDERR_FILENO)
			close(null);
	}
	if (write(fd, &ok, 1) < 0) {
		/* the parent is gone: nobody to tell */
	}
	close(fd);
}

/* <rundir>/<domain>, created, canonical and safe; sets the derived paths. */
static int domain_dir(struct mgr *m)
{
	char real[PATH_MAX];
	int r;

	r = mgr_mkdir_p(m->o.rundir, 0755, (gid_t)-1);
	if (r < 0) {
		mgr_err("cannot create %s: %s", m->o.rundir, strerror(-r));
		return r;
	}
	if (!realpath(m->o.rundir, real)) {
		mgr_err("%s: %s", m->o.rundir, strerror(errno));
		return -errno;
	}
	r = mgr_check_dir(real, false);
	if (r < 0) {
		mgr_err("refusing run directory %s: not a directory owned by us or root, or "
			"writable by others",
			real);
		return r;
	}
	if (snprintf(m->dir, sizeof(m->dir), "%s/%s", real, m->o.domain) >= (int)sizeof(m->dir) ||
	    snprintf(m->ctl_path, sizeof(m->ctl_path), "%s/control", m->dir) >=
		(int)sizeof(m->ctl_path) ||
	    snprintf(m->pid_path, sizeof(m->pid_path), "%s/manager.pid", m->dir) >=
		(int)sizeof(m->pid_path)) {
		mgr_err("run directory path too long for a socket: %s", real);
		return -ENAMETOOLONG;
	}
	r = mgr_mkdir_p(m->dir, m->dir_mode, m->o.gid);
	if (r < 0) {
		mgr_err("cannot create %s: %s", m->dir, strerror(-r));
		return r;
	}
	return 0;
}

/*
 * Is the manager our pid file names dead, or a zombie? Then the lock it holds
 * is on its way back: a SIGKILLed manager's leader turns zombie while its
 * other threads (the EAL's) are still exiting with the lock, and a restart
 * at that moment (a supervisor's, a DaemonSet's) should wait, not fail.
 */
static bool holder_dying(const struct mgr *m)
{
	char buf[32];
	if (xio_raw_read_file(m->pid_path, buf, sizeof(buf)) <= 0)
		return false;
	long pid = strtol(buf, NULL, 10);
	return pid > 0 && pid != getpid() && xio_pid_dead((pid_t)pid);
}

/* One manager per domain; a dying one's lock is waited for (at most 5 s). Returns 0, or an exit
 * code. */
static int take_lock(struct mgr *m)
{
	char path[PATH_MAX];
	int r;

	snprintf(path, sizeof(path), "%s/lock", m->dir);
	m->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, m->sock_mode);
	if (m->lock_fd < 0 && errno == EACCES) /* someone else's domain: we may still test it */
		m->lock_fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (m->lock_fd < 0) {
		mgr_err("cannot open %s: %s", path, strerror(errno));
		return MGR_EXIT_ERROR;
	}
	for (int waited_ms = 0;; waited_ms += 10) {
		while ((r = flock(m->lock_fd, LOCK_EX | LOCK_NB)) < 0 && errno == EINTR)
			;
		if (r == 0 || errno != EWOULDBLOCK || waited_ms >= 5000 || !holder_dying(m))
			break;
		usleep(10000);
	}
	if (r < 0 && errno == EWOULDBLOCK) {
		mgr_err("domain '%s' already has a manager", m->o.domain);
		return MGR_EXIT_RUNNING;
	}
	if (r < 0) {
		mgr_err("cannot lock %s: %s", path, strerror(errno));
		return MGR_EXIT_ERROR;
	}
	/* only now that it is ours do we insist on owning the directory */
	r = mgr_check_dir(m->dir, true);
	if (r < 0) {
		mgr_err("refusing %s: it belongs to another user or is writable by others", m->dir);
		return MGR_EXIT_ERROR;
	}
	if (chmod(m->dir, m->dir_mode) < 0 ||
	    (m->o.gid != (gid_t)-1 && chown(m->dir, (uid_t)-1, m->o.gid) < 0)) {
		mgr_err("cannot set the mode of %s: %s", m->dir, strerror(errno));
		return MGR_EXIT_ERROR;
	}
	if (m->o.gid != (gid_t)-1 && fchown(m->lock_fd, (uid_t)-1, m->o.gid) < 0)
		return MGR_EXIT_ERROR;
	return 0;
}

static int write_pidfile(struct mgr *m)
{
	char tmp[PATH_MAX + 8], buf[32];
	int fd, n;

	snprintf(tmp, sizeof(tmp), "%s.tmp", m->pid_path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return -errno;
	n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (write(fd, buf, (size_t)n) != n || close(fd) < 0 || rename(tmp, m->pid_path) < 0) {
		int e = errno;
		unlink(tmp);
		return -e;
	}
	return 0;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct mgr *m = arg;

	(void)sig;
	(void)what;
	event_base_loopbreak(m->base);
}

static int signals_init(struct mgr *m)
{
	static const int sigs[3] = {SIGTERM, SIGINT, SIGHUP};

	for (int i = 0; i < 3; i++) {
		if (sigs[i] == SIGHUP && m->o.daemon) {
			signal(SIGHUP, SIG_IGN);
			continue;
		}
		m->sig_ev[i] = evsignal_new(m->base, sigs[i], on_signal, m);
		if (!m->sig_ev[i] || event_add(m->sig_ev[i], NULL) < 0)
			return -ENOMEM;
	}
	return 0;
}

/* Everything up to a served control socket. Returns 0 or an exit code. */
static int setup(struct mgr *m)
{
	int r;

	r = domain_dir(m);
	if (r < 0)
		return MGR_EXIT_ERROR;
	r = take_lock(m);
	if (r)
		return r;
	r = mgr_layout(m);
	if (r < 0) {
		mgr_err("bad slot layout: %s", strerror(-r));
		return MGR_EXIT_ERROR;
	}
	if (mgr_eal_start(m) < 0)
		return MGR_EXIT_ERROR;
	if (mgr_mem_init(m) < 0) {
		/* Free hugepages can vanish between counting and reserving (another domain). */
		if (m->hugepages && m->o.hugepages == MGR_HP_AUTO) {
			rte_eal_cleanup();
			return MGR_EXIT_NOHUGE;
		}
		return MGR_EXIT_ERROR;
	}
	r = mgr_netns_init(m);
	if (r < 0) {
		mgr_err("cannot open our network namespace: %s", strerror(-r));
		return MGR_EXIT_ERROR;
	}
	if (mgr_ports_init(m) < 0) {
		mgr_err("out of memory");
		return MGR_EXIT_ERROR;
	}
	if (mgr_pair_init(m) < 0) {
		mgr_err("out of memory");
		return MGR_EXIT_ERROR;
	}
	m->base = event_base_new();
	if (!m->base || signals_init(m) < 0 || mgr_sweep_timer_init(m) < 0) {
		mgr_err("cannot set up the event loop");
		return MGR_EXIT_ERROR;
	}
	/* entries of listeners that died with the previous manager's domain */
	mgr_rv_cleanup(m);
	r = mgr_control_open(m);
	if (r < 0) {
		mgr_err("cannot serve %s: %s", m->ctl_path, strerror(-r));
		return MGR_EXIT_ERROR;
	}
	/* listeners that survived the previous manager: re-publish in our generation */
	mgr_rv_nudge(m);
	r = write_pidfile(m);
	if (r < 0)
		mgr_err("cannot write %s: %s", m->pid_path, strerror(-r));
	return 0;
}

static void teardown(struct mgr *m)
{
	/*
	 * Members see us gone (layout.h, alive): the kernel would mark the
	 * mutex at our exit, but the EAL unmaps the memory before that.
	 */
	if (m->hdr)
		pthread_mutex_unlock(&m->hdr->alive);
	mgr_control_close(m);
	if (m->pid_path[0])
		unlink(m->pid_path);
	for (int i = 0; i < 3; i++)
		if (m->sig_ev[i])
			event_free(m->sig_ev[i]);
	if (m->sweep_ev)
		event_free(m->sweep_ev);
	if (m->churn_ev)
		event_free(m->churn_ev);
	if (m->rv_ev)
		event_free(m->rv_ev);
	if (m->base)
		event_base_free(m->base);
	mgr_pair_close(m);
	mgr_ports_close(m);
	mgr_netns_close(m);
	free(m->seen);
	if (m->mz) {
		/* the EAL makes an (empty, with --in-memory) runtime dir and leaves it */
		char rt[PATH_MAX];
		snprintf(rt, sizeof(rt), "%s", rte_eal_get_runtime_dir());
		rte_eal_cleanup();
		rmdir(rt);
	}
}

/*
 * The EAL cannot start twice in one process: run ourselves again on ordinary
 * memory. A daemon's child keeps its place: the pipe to the waiting parent
 * travels in XIO_MGR_READY_FD and --daemon is dropped.
 */
static void reexec_without_hugepages(struct mgr *m, int argc, char **argv, int ready)
{
	char **nargv = calloc((size_t)argc + 3, sizeof(*nargv)), fdbuf[16];
	int k = 0;

	if (!nargv)
		return;
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--daemon") || !strncmp(argv[i], "--hugepages=", 12))
			continue;
		if (!strcmp(argv[i], "--hugepages")) {
			i++;
			continue;
		}
		nargv[k++] = argv[i];
	}
	nargv[k++] = "--hugepages";
	nargv[k++] = "no";
	if (ready >= 0) {
		snprintf(fdbuf, sizeof(fdbuf), "%d", ready);
		setenv("XIO_MGR_READY_FD", fdbuf, 1);
		fcntl(ready, F_SETFD, 0);
	}
	if (m->lock_fd >= 0)
		close(m->lock_fd); /* the new image takes the lock again */
	execv("/proc/self/exe", nargv);
	free(nargv);
}

int main(int argc, char **argv)
{
	static struct mgr m;
	int r, ready = -1;

	/*
	 * First of all: the DPDK primary, often root, must not have its calls
	 * interposed by the shim (xio-run starts us without it; LD_PRELOAD by
	 * hand does not).
	 */
	char pre[PATH_MAX];
	if (preload_loaded(pre, sizeof(pre))) {
		mgr_err("refusing to run with the X-IO preload library loaded (%s): start "
			"xio-manager without it in LD_PRELOAD",
			pre);
		return MGR_EXIT_PRELOADED;
	}
	xio_sys_use_libc();
	r = mgr_parse_args(&m.o, argc, argv);
	if (r)
		return r > 0 ? MGR_EXIT_OK : MGR_EXIT_USAGE;
	m.lock_fd = m.ctl_fd = m.own_netns_fd = m.rings_fd = -1;
	m.mem.fd = -1;
	TAILQ_INIT(&m.clients);
	m.dir_mode = m.o.gid != (gid_t)-1 ? 0770 : 0700;
	m.sock_mode = m.o.gid != (gid_t)-1 ? 0660 : 0600;
	umask(m.o.gid != (gid_t)-1 ? 007 : 077);
	signal(SIGPIPE, SIG_IGN);

	const char *rf = getenv("XIO_MGR_READY_FD");
	if (rf) {
		ready = atoi(rf); /* re-executed daemon child (see reexec_without_hugepages) */
		unsetenv("XIO_MGR_READY_FD");
	} else if (m.o.daemon) {
		ready = daemon_fork();
	}
	r = setup(&m);
	if (r == MGR_EXIT_NOHUGE) {
		reexec_without_hugepages(&m, argc, argv, ready);
		r = MGR_EXIT_ERROR;
	}
	if (r) {
		if (ready >= 0) {
			unsigned char code = (unsigned char)r;
			if (write(ready, &code, 1) < 0) {
				/* parent gone */
			}
		}
		if (m.ctl_fd >= 0)
			mgr_control_close(&m);
		return r;
	}
	if (m.o.verbose)
		fprintf(stderr,
			"xio-manager: domain '%s' pid %d generation %016" PRIx64
			", %s memory (%u kB pages), %u slots, %u kB rings, %llu MB, ring file %llu "
			"GB (sparse), control %s\n",
			m.o.domain, (int)getpid(), m.hdr->generation,
			m.hugepages ? "hugepage" : "ordinary", m.mem.page_size / 1024, m.o.nslots,
			m.o.ring_bytes / 1024, (unsigned long long)(m.hdr->total_len >> 20),
			(unsigned long long)(m.rings_len >> 30), m.ctl_path);
	if (ready >= 0)
		daemon_ready(ready);

	event_base_dispatch(m.base);
	teardown(&m);
	return MGR_EXIT_OK;
}
