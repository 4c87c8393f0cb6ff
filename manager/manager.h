/* SPDX-License-Identifier: MIT */
/*
 * xio-manager: the per-domain DPDK primary. It owns the domain memory (one
 * memzone), serves the control socket (libevent), publishes rendezvous
 * entries and frees slots whose AF_UNIX ends are gone.
 *
 * Single-threaded: everything below runs on the event loop thread, so no
 * function here takes a lock. Errors are negative errno values; only main.c
 * turns them into exit codes.
 *
 * The default run directory and domain-name rules live in rundir.h (shared
 * with xio-stat).
 */
#ifndef XIO_MANAGER_H
#define XIO_MANAGER_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>
#include <sys/un.h>

#include "layout.h"
#include "proto.h"
#include "rundir.h"

struct event;
struct event_base;
struct rte_memzone;

/* Exit codes; xio-run relies on MGR_EXIT_RUNNING meaning "one already runs". */
#define MGR_EXIT_OK	   0
#define MGR_EXIT_ERROR	   1
#define MGR_EXIT_USAGE	   2
#define MGR_EXIT_RUNNING   3
#define MGR_EXIT_PRELOADED 4  /* libxio_preload.so is loaded in the manager: it refuses to run */
#define MGR_EXIT_NOHUGE	   10 /* internal: hugepages ran out after all, retry on ordinary memory */

/* Slot state private to the manager while it resets a slot: clients allocate from FREE only. */
#define MGR_SLOT_RECLAIMING 0xfe

/* How long a half-made connection may look dead before the sweep frees it. */
#define MGR_GRACE_NS (5ull * 1000000000ull)

/* Memory beyond the memzone that the EAL needs for itself. */
#define MGR_EAL_SLACK (32ull << 20)

#define MGR_CONNS_PER_MSG 128

enum mgr_hugepages { MGR_HP_AUTO, MGR_HP_YES, MGR_HP_NO };

struct mgr_opts {
	char domain[XIO_DOMAIN_MAX + 1];
	char rundir[PATH_MAX];
	uint32_t nslots;
	uint32_t hold_ports; /* --hold-ports: slots whose client port the manager holds */
	uint32_t ring_bytes;
	uint32_t nbufs;	   /* zero-copy buffers (--bufs), 0: no pool */
	uint32_t buf_size; /* bytes per buffer (--buf-kb) */
	gid_t gid;	   /* (gid_t)-1 without --group */
	uint32_t nsvc;	   /* --service-cidr, as in struct xio_domain_hdr */
	struct {
		uint8_t addr[16];
		uint8_t prefix;
	} svc[XIO_SVC_MAX];
	bool daemon;
	enum mgr_hugepages hugepages;
	int verbose;
};

/* What a HELLO reply needs to hand the domain memory out. */
struct mgr_memfd {
	int fd; /* owned by the EAL */
	uint64_t map_offset, map_len, hdr_delta;
	uint32_t page_size;
};

/* A network namespace other than ours that domain members live in. */
struct mgr_netns {
	uint64_t ino;
	int fd;	       /* nsfs fd, for setns() around socket() */
	unsigned refs; /* control connections from processes in it */
	bool hit;      /* the last sweep found (or could not rule out) a slot socket in it */
};

/* What the sweep remembers per slot between runs. */
struct mgr_seen {
	uint64_t word;	     /* state word last seen */
	uint64_t since_ns;   /* when it was first seen with that word */
	uint32_t tail[2];    /* bytes written into each ring at the last sweep (low 32 bits) */
	uint32_t trimmed[2]; /* the same when its free pages were last given back */
	uint64_t freed_ns;   /* reclaimed then; its ring pages not yet given back (warm) */
	bool warm;
	bool busy_trim[2]; /* the last trim was a busy one: an idle one still gives more back */
};

struct mgr_client;
TAILQ_HEAD(mgr_client_list, mgr_client);

struct mgr {
	struct mgr_opts o;
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)]; /* <rundir>/<domain>, canonical */
	char ctl_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char pid_path[PATH_MAX];
	mode_t dir_mode, sock_mode;
	int lock_fd, ctl_fd;

	/* memory */
	const struct rte_memzone *mz;
	struct xio_domain_hdr *hdr;
	bool hugepages;
	uint64_t hugepage_size; /* from /proc/meminfo, 0 if none */
	uint64_t zone_raw;	/* bytes the layout needs */
	uint32_t slot_size;
	uint64_t slots_off;
	uint64_t bufs_meta_off, bufs_off; /* zero-copy pool, after the slots */
	uint64_t boards_off;		  /* epoll news boards, after the pool */
	uint32_t nboards, board_size;
	struct mgr_memfd mem;
	/* the ring file (domain_mem.c): 2 rings of ring_stride bytes per slot */
	int rings_fd;
	uint64_t ring_stride, rings_len;
	bool full_logged;    /* "domain full" was said (sweep.c) */
	bool sweep_trims;    /* this sweep is the timer's: it trims rings (sweep.c) */
	uint32_t busy_trims; /* busy rings trimmed in this sweep (sweep.c, TRIM_BUSY_MAX) */
	/* churn sweeps (sweep.c): connections counted at the last look, a sweep's cost */
	uint64_t churn_conns, sweep_cost_ns;

	/* event loop */
	struct event_base *base;
	struct event *ctl_ev, *sweep_ev, *churn_ev, *rv_ev, *sig_ev[3];
	struct mgr_client_list clients;
	unsigned nclients;
	uint64_t publish_seq;

	/* sweep and namespaces */
	struct mgr_seen *seen;
	uint64_t own_netns;
	int own_netns_fd;
	struct mgr_netns *netns;
	size_t n_netns, cap_netns;

	/* pairing across namespaces: the offer of each PAIRING slot (pair.c) */
	struct mgr_offer *offers;

	/* the client port of each slot: a bound TCP socket per slot, or -1 (ports.c) */
	int *port_fds;
	uint32_t n_port_fds;
};

/* options.c */
/* Returns 0, 1 when --help/--version was printed, or -EINVAL after printing why. */
int mgr_parse_args(struct mgr_opts *o, int argc, char **argv);

/* util.c */
void mgr_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int mgr_random(void *buf, size_t len);
/* mkdir -p; components it creates get @mode and, unless (gid_t)-1, group @gid. */
int mgr_mkdir_p(const char *path, mode_t mode, gid_t gid);
/* An int socket option into *@v (0 on failure). Returns 0 or -errno. */
int mgr_sockopt_int(int fd, int level, int name, int *v);
/* A directory we may trust: not a symlink, owned by us or root, no foreign write access. */
int mgr_check_dir(const char *path, bool must_be_ours);
/* Read a "Key: value" number from /proc/meminfo; -ENOENT if absent. */
int mgr_meminfo(const char *key, uint64_t *val);

/* eal.c */
/* Decide the memory kind for @zone_bytes, start the EAL, restore CPU affinity. */
int mgr_eal_start(struct mgr *m);

/* domain_mem.c */
/* Slot stride and header size for the options; sets m->slot_size/slots_off/zone_raw. */
int mgr_layout(struct mgr *m);
/* Reserve and initialise the memzone, find and verify its fd. */
int mgr_mem_init(struct mgr *m);
/*
 * Zero a slot except index/ring_off/ring_bytes/port, empty its rings, re-init its
 * mutexes, and free the zero-copy buffers that were in flight on it.
 */
void mgr_slot_clear(struct xio_slot *s);
void mgr_slot_release_rings(struct xio_slot *s);
/* The ring @dir of slot @s in our mapping of the ring file (NULL: not one of our slots). */
struct rte_ring *mgr_ring(const struct xio_slot *s, int dir);
/*
 * Give back the pages of the free space of ring @dir of @s, if its writer's
 * lock is free (never waits); a @busy ring keeps the pages it rewinds to.
 * Returns the bytes punched out.
 */
uint64_t mgr_ring_trim(struct xio_slot *s, int dir, bool busy);
/*
 * What a busy ring keeps at its start: a ring that rewinds (stack/ring.h)
 * cycles through up to three times its largest record past the first page,
 * so records of up to ~20 KiB stay inside, unpunched.
 */
#define MGR_RING_BUSY_LOW (64u << 10)
/* Bytes of the ring file backed by memory now. */
uint64_t mgr_rings_resident(void);

/* sweep.c: say once (per episode) that all slots are in use, given @in_use of them. */
void mgr_domain_full(struct mgr *m, uint32_t in_use);
/*
 * Free zero-copy buffers held by processes that are gone (seen held by the
 * same dead pid of our pid namespace in two sweeps). Returns how many
 * buffers are still held (the sweep timer keeps running while some are).
 */
uint32_t mgr_pool_sweep(struct mgr *m);

/* control.c */
int mgr_control_open(struct mgr *m);
void mgr_control_close(struct mgr *m);

/* denied.c: <rundir>/<domain>.denied, opened and closed with the control socket. */
int mgr_denied_open(struct mgr *m);
/* control.c: serve @fd (non-blocking, connected SOCK_SEQPACKET) as a control connection. */
struct mgr_client *mgr_client_new(struct mgr *m, int fd);
void mgr_denied_close(void);

/* commands.c: one handler per request type. */
struct mgr_client {
	TAILQ_ENTRY(mgr_client) link;
	struct mgr *m;
	int fd;
	struct event *rd_ev, *wr_ev;
	pid_t pid;	     /* SO_PEERCRED, 0 if unknown */
	uint64_t netns;	     /* foreign netns this client holds a reference on, 0 if none */
	bool dead;	     /* close after the current callback */
	bool send_only;	     /* an offer channel (PAIR_CHANNEL): never answered */
	bool conns_pending;  /* a CONNS reply is waiting for socket space */
	uint32_t conns_next; /* next slot index to report */
};

/* Handle one received request; takes ownership of @fds. */
void mgr_handle(struct mgr_client *c, const void *buf, size_t n, int *fds, int nfds);
/* Continue a CONNS reply once the socket has room. */
void mgr_conns_continue(struct mgr_client *c);
/* Send one reply (hdr filled here); marks the client dead on failure. */
int mgr_reply(struct mgr_client *c, void *msg, size_t len, int status, const int *fds, int nfds);

/* pair.c: connections between network namespaces, proved by sequence numbers */
int mgr_pair_init(struct mgr *m);
void mgr_pair_close(struct mgr *m);
void mgr_pair_client_gone(struct mgr *m, struct mgr_client *c);
/*
 * Refuse claims parked on slots no longer PAIRING (the sweep timer's
 * backstop for an abandon that could not be sent). Returns the claims
 * still parked.
 */
unsigned mgr_pair_expire(struct mgr *m);
/* Requests; they take the fds they keep (set to -1). Return 0 or -errno. */
int mgr_pair_offer(struct mgr *m, struct mgr_client *c, const struct xio_ctl_pair *req, int *fds,
		   int nfds);
/* Wake the client of @slot, proved just now: after the server got its answer. */
void mgr_pair_wake(struct mgr *m, uint32_t slot);
/* mgr_pair_claim: the claim waits for its offer, answered then (no reply now) */
#define MGR_PAIR_PARKED 1
int mgr_pair_claim(struct mgr *m, struct mgr_client *c, const struct xio_ctl_pair *req, int *fds,
		   int nfds, int *reply_fd);
int mgr_pair_abandon(struct mgr *m, struct mgr_client *c, const struct xio_ctl_pair *req);
/* A listener was published at @ep in namespace @ns: clients elsewhere may wait for it. */
void mgr_pair_hint(struct mgr *m, const struct xio_endpoint *ep, bool dual, uint64_t ns);
/* Forget where no listener serves any more (after the rendezvous cleanup). */
void mgr_pair_hints_prune(struct mgr *m);

/* publish.c */
/* Verify and bind a rendezvous entry; writes the socket path. Returns 0 or -errno. */
int mgr_publish(struct mgr *m, struct mgr_client *c, const struct xio_ctl_publish *req,
		const int fds[2], char *path, size_t pathlen);
/*
 * Bring a listener published by an earlier generation into ours: verify as
 * PUBLISH does, find the entry its AF_UNIX listener is bound to and rename
 * it to our generation; writes the new path. Returns 0 or -errno.
 */
int mgr_withdraw(struct mgr *m, struct mgr_client *c, const struct xio_ctl_republish *req,
		 const int fds[2]);
int mgr_republish(struct mgr *m, struct mgr_client *c, const struct xio_ctl_republish *req,
		  const int fds[2], char *path, size_t pathlen);
/* Remove entries of listeners that are gone (again later if some were too young to tell). */
void mgr_rv_cleanup(struct mgr *m);
/* Tell every listener published by an earlier generation that we run (XIO_HS_NUDGE). */
void mgr_rv_nudge(struct mgr *m);

/* diag.c: AF_UNIX sock_diag dumps. */
struct mgr_inoset {
	uint64_t *v;
	size_t n, cap;
};
int mgr_inoset_add(struct mgr_inoset *s, uint64_t ino);
void mgr_inoset_sort(struct mgr_inoset *s);
bool mgr_inoset_has(const struct mgr_inoset *s, uint64_t ino);
void mgr_inoset_free(struct mgr_inoset *s);
/* Append the inodes of every AF_UNIX socket visible on netlink socket @nl. */
int mgr_diag_inodes(int nl, struct mgr_inoset *set);
/*
 * Call @cb for every LISTEN AF_UNIX socket bound to a path. @vfs_ino is the
 * inode of the socket file: a name bound through /proc/self/fd/N/ (deep run
 * directories) does not say where the file is, its inode does.
 */
typedef void (*mgr_listen_cb)(const char *path, uint64_t vfs_ino, uint32_t backlog_len, void *arg);
int mgr_diag_listeners(int nl, mgr_listen_cb cb, void *arg);
/* Inode of the file LISTEN AF_UNIX socket @sock_ino is bound to: 0, -ENOENT or -errno. */
int mgr_diag_bound_ino(int nl, uint64_t sock_ino, uint64_t *vfs_ino);

/* netns.c */
int mgr_netns_init(struct mgr *m);
/* A NETLINK_SOCK_DIAG socket in namespace @idx, or in ours for idx < 0. */
/* Run @fn(@arg) inside namespace @idx (-1: ours) and come back; returns what @fn returns. */
int mgr_netns_run(struct mgr *m, ssize_t idx, int (*fn)(void *), void *arg);
int mgr_netns_diag_socket(struct mgr *m, ssize_t idx);
/* Register the namespace behind nsfs fd @fd (consumed); *@ino receives its inode. */
int mgr_netns_add_fd(struct mgr *m, int fd, uint64_t *ino);
/* Register the namespace of process @pid; 0 with *@ino = 0 when it is ours. */
int mgr_netns_add_pid(struct mgr *m, pid_t pid, uint64_t *ino);
ssize_t mgr_netns_find(struct mgr *m, uint64_t ino);
void mgr_netns_ref(struct mgr *m, uint64_t ino, int delta);
/* Forget namespaces nothing refers to any more (closing their fd lets them die). */
void mgr_netns_prune(struct mgr *m);
void mgr_netns_close(struct mgr *m);

/* ports.c */
/*
 * Hold one TCP port per slot (a bound, not listening socket on the wildcard
 * address of our namespace) and write it into the slot; sets the header's
 * ports_netns and ports_family. Slots without one keep port 0.
 */
int mgr_ports_init(struct mgr *m);
void mgr_ports_close(struct mgr *m);

/* sweep.c */
/* Free slots whose connections are gone. Returns the number still in use. */
uint32_t mgr_sweep(struct mgr *m);
int mgr_sweep_timer_init(struct mgr *m);
/* Make sure a sweep runs within a second (no-op while one is scheduled). */
void mgr_sweep_arm(struct mgr *m);

#endif
