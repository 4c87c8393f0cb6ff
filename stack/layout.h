/* SPDX-License-Identifier: MIT */
/*
 * Shared-memory layout of an X-IO domain.
 *
 * The manager reserves one memzone per domain generation and hands it to
 * attaching processes as a file descriptor; every process maps it at its own
 * address, so everything here is position independent (offsets, never
 * pointers). Bump XIO_LAYOUT_VERSION on any change: a mismatch means TCP.
 */
#ifndef XIO_LAYOUT_H
#define XIO_LAYOUT_H

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#define XIO_MAGIC	   0x58494f44u /* "XIOD" */
#define XIO_LAYOUT_VERSION 16u

/* xio_dir.sleepers: the lone waiter's bit (stack/conn.c, "waiting"). */
#define XIO_SLEEPER_LONE 0x80000000u
#define XIO_CACHELINE	 64
#define XIO_SVC_MAX	 4 /* service address ranges (--service-cidr) */

/*
 * Why X-IO declined a connection or a listener: kernel TCP was used instead.
 * The one list of reasons: X(ENUM, "name", side, what). The name is what
 * xio-stat prints (text, JSON, Prometheus label); side is "client" (a
 * connect) or "server" (a listener not published). Adding a reason is one
 * line here, plus a bump of XIO_LAYOUT_VERSION: the list sizes and orders
 * struct xio_stats.fallback[] and the STATS reply.
 */
#define XIO_FALLBACK_REASONS(X)                                                                    \
	X(NO_RENDEZVOUS, "no_rendezvous", "client", "nothing under X-IO listens there")            \
	X(REMOTE, "remote", "client", "destination is not an address of this node")                \
	X(NO_MANAGER, "no_manager", "client", "control socket absent or refused")                  \
	X(DOMAIN_FULL, "domain_full", "client", "no free slot even after a reclaim")               \
	X(VERSION, "version", "client", "layout/handshake version or generation mismatch")         \
	X(BACKLOG, "backlog", "client", "rendezvous backlog full")                                 \
	X(DISABLED, "disabled", "client", "XIO_DISABLE, kill switch, exclusion list")              \
	X(ERROR, "error", "client", "any other error")                                             \
	X(PAIR_POLICY, "pair_policy", "client",                                                    \
	  "cross-namespace: the kernel refused or dropped the connection")                         \
	X(PAIR_UNPROVEN, "pair_unproven", "client",                                                \
	  "cross-namespace: the manager could not prove both ends are one kernel "                 \
	  "connection (SNAT, timeout, mismatch)")                                                  \
	X(NO_DOMAIN_ACCESS, "no_domain_access", "client",                                          \
	  "this process may not join the domain (uid/group): counted only by one that "            \
	  "mapped it before (a forked child that dropped privileges)")                             \
	X(LISTENER_NO_DOMAIN_ACCESS, "listener_no_domain_access", "server",                        \
	  "the manager's control socket refused a process that mapped the domain before "          \
	  "(privileges dropped after fork)")                                                       \
	X(LISTENER_REFUSED, "listener_refused", "server", "the manager refused to publish")        \
	X(LISTENER_ERROR, "listener_error", "server", "any other error while publishing")          \
	X(SUPERVISE_UNAVAILABLE, "supervise_unavailable", "client",                                \
	  "a Go or static program under xio-run: seccomp user notification unavailable "           \
	  "(old kernel, sandbox, a filter with a listener already), so kernel TCP")

#define XIO_FB_ENUM_(e, name, side, what) XIO_FB_##e,
enum xio_fallback { XIO_FALLBACK_REASONS(XIO_FB_ENUM_) XIO_FB_MAX };
#undef XIO_FB_ENUM_
/* Names, sides and meanings of the reasons: xio_fallback_name() and friends (proto.h). */

/* Counters shared by the whole domain; updated with relaxed atomic adds on slow paths only. */
struct xio_stats {
	_Atomic uint64_t conns_total;  /* X-IO connections accepted */
	_Atomic uint64_t bytes_closed; /* bytes carried by slots already freed */
	_Atomic uint64_t fallback[XIO_FB_MAX];
	_Atomic uint64_t slots_in_use;	  /* allocated, not yet reclaimed */
	_Atomic uint64_t slots_reclaimed; /* freed by the manager's sweep */
	_Atomic uint64_t publishes;	  /* rendezvous entries published */
	_Atomic uint64_t bufs_reclaimed;  /* zero-copy buffers freed by the manager's sweep */
	_Atomic uint64_t demoted;	  /* connections turned into plain streams (demote.c) */
};

/* An IPv4 or IPv6 endpoint; IPv4 is kept as a v4-mapped IPv6 address. */
struct xio_endpoint {
	uint8_t addr[16];
	uint16_t port;	 /* host byte order */
	uint16_t family; /* AF_INET or AF_INET6: what the application used */
};

/*
 * One direction of a connection. Fields written by the producer, by the
 * consumer, and by both (the wake-up words) live on separate cache lines.
 */
struct xio_dir {
	/* producer side */
	alignas(XIO_CACHELINE) pthread_mutex_t wlock; /* robust, process-shared */
	uint64_t bytes;				      /* bytes ever enqueued */
	/*
	 * Written once by the producer, read by the consumer on every look: a
	 * line of their own, or a spinning reader would pull the line the
	 * producer writes on every send (wlock, bytes) away from it.
	 */
	alignas(XIO_CACHELINE) _Atomic uint32_t shut_wr; /* producer will send no more */
	_Atomic uint32_t reset;				 /* producer aborted (SO_LINGER 0): RST */
	/* consumer side */
	alignas(XIO_CACHELINE) pthread_mutex_t rlock; /* robust, process-shared */
	uint32_t rd_off;			      /* bytes consumed of the head record */
	/* wake-up protocol: see stack/conn.c */
	alignas(XIO_CACHELINE) _Atomic uint32_t readers_sleeping;
	_Atomic uint32_t data_bell_pending;
	_Atomic uint32_t watchers; /* nested epoll sets: a doorbell on every arrival */
	/*
	 * The consumer end's epoll news board (struct xio_board): its index + 1,
	 * 0 none; taken and given back by that end's epoll set with a CAS.
	 * news: a bit for this end is on the board and the set has not taken it
	 * yet; the producer posts only when it turns news from 0 to 1, so a
	 * busy connection costs the fast path one load (stack/board.h).
	 */
	_Atomic uint32_t board;
	_Atomic uint32_t news;
	alignas(XIO_CACHELINE) _Atomic uint32_t writers_waiting;
	_Atomic uint32_t space_bell_pending;
	/* The producer's end hit a full ring: news for it once a reader made room. */
	_Atomic uint32_t space_watch;
	/*
	 * Waiters asleep on the consumer end's socket, whatever they wait for,
	 * and XIO_SLEEPER_LONE while the one that announced alone (no company,
	 * so no slices) is among them: until it withdraws, only it drains the
	 * socket (stack/conn.c, "waiting"). lone_pid: its process.
	 */
	_Atomic uint32_t sleepers;
	_Atomic int32_t lone_pid;
	/*
	 * Buffer sizes as getsockopt reports them (0: not known yet, the server's
	 * before accept: the kernel's default): the producer's SO_SNDBUF and the
	 * consumer's SO_RCVBUF. Set at
	 * connect and accept and by setsockopt, read by both ends on every send
	 * and receive: together they bound the bytes in flight (xio_buf_limit,
	 * stack/conn.h), as they bound a TCP connection's.
	 */
	alignas(XIO_CACHELINE) _Atomic uint32_t sndbuf;
	_Atomic uint32_t rcvbuf;
};

/* Slot states (low byte of xio_slot.state); the high 32 bits hold the token. */
enum xio_slot_state {
	XIO_SLOT_FREE = 0,
	XIO_SLOT_ALLOCATED = 1, /* client owns it, offer not sent yet */
	XIO_SLOT_OFFERED = 2,	/* offer sent on the rendezvous socket */
	XIO_SLOT_ESTABLISHED = 3,
	/*
	 * Across network namespaces (stack/pair.c): the client's kernel TCP
	 * connect is under way or done and the manager holds the client's
	 * socket; a server that accepted the other end asks the manager to
	 * prove it (PAIRING -> ESTABLISHED, by the manager), or the client
	 * gives up (PAIRING -> FREE, by the client).
	 */
	XIO_SLOT_PAIRING = 4,
};

#define XIO_SLOT_STATE(w)      ((uint32_t)((w)&0xff))
#define XIO_SLOT_TOKEN(w)      ((uint32_t)((w) >> 32))
#define XIO_SLOT_WORD(tok, st) (((uint64_t)(tok) << 32) | (uint64_t)(st))

/*
 * Demotion of a connection to an in-band byte stream on its AF_UNIX pair
 * (stack/demote.c), for when a program that does not know X-IO may read one
 * end. Indexed by end (0 client, 1 server). A gate word is bit 63 "closed"
 * plus the number of doorbell sends (bell_gate: from that end's socket) or
 * doorbell drains (drain_gate: on that end's socket) in progress; once every
 * gate is closed and empty the byte counts below are final.
 */
#define XIO_DEMOTE_NONE	  0u
#define XIO_DEMOTE_ACTIVE 1u /* in-band from now on */
#define XIO_DEMOTE_FAILED 2u /* could not be done exactly: the connection is reset */
#define XIO_GATE_CLOSED	  (1ull << 63)

struct xio_demote {
	alignas(XIO_CACHELINE) _Atomic uint32_t state;
	_Atomic uint32_t who;	     /* the end that demoted first */
	_Atomic uint32_t moved;	     /* the other end copied its send ring in-band */
	_Atomic uint32_t skipped[2]; /* that end consumed the doorbells left in its socket */
	_Atomic uint64_t skip[2];    /* doorbell bytes left in that end's socket */
	_Atomic uint64_t bell_gate[2];
	_Atomic uint64_t drain_gate[2];
	_Atomic uint64_t bells_sent[2]; /* doorbell bytes sent from that end's socket */
	_Atomic uint64_t bells_read[2]; /* doorbell bytes drained from that end's socket */
	_Atomic uint32_t urgent; /* an end sent urgent data: its readiness needs tcp_poll's view */
};

/* Direction indices inside a slot. */
#define XIO_DIR_C2S 0 /* client -> server */
#define XIO_DIR_S2C 1 /* server -> client */

/*
 * A connection slot. Its two rte_rings (4-byte elements) are at
 * ring_off[XIO_DIR_*] bytes from the start of the slot. In a manager's domain
 * they live in the ring file (see struct xio_domain_hdr), which every
 * process maps right after the domain memory, so the offsets hold in every
 * process; a domain without a ring file (tests) keeps them after the slot.
 */
struct xio_slot {
	alignas(XIO_CACHELINE) _Atomic uint64_t state; /* token << 32 | state */
	uint32_t index;
	uint32_t ring_bytes; /* data capacity of each ring */
	uint64_t ring_off[2];
	uint64_t alloc_ns;		/* CLOCK_MONOTONIC at allocation */
	_Atomic uint64_t client_ino;	/* inode of the client's AF_UNIX end */
	_Atomic uint64_t server_ino;	/* inode of the server's AF_UNIX end */
	int32_t client_pid, server_pid; /* for xio-stat only, never for liveness */
	_Atomic int32_t last_cpu[2];	/* 1 + CPU each end last waited on; no spin when equal */
	/*
	 * The TCP port the manager holds for this slot (a kernel socket bound to
	 * the wildcard address of its own network namespace, never closed while
	 * it runs), 0: none. A client in that namespace whose socket is unbound
	 * takes it as its local port: no kernel socket of its own (stack/connect.c).
	 */
	uint16_t port;
	uint16_t pad16;
	uint32_t pad32;
	struct xio_endpoint client, server;	 /* as the client sees them: local, remote */
	struct xio_endpoint srv_local, srv_peer; /* as the server sees them (NAT, DNAT) */
	uint64_t netns[2]; /* network namespace inode of each end (client, server); for xio-stat */
	struct xio_dir dir[2];
	struct xio_demote demote; /* stack/demote.c */
};

/*
 * Zero-copy buffer pool (xio_malloc, stack/bufpool.h). Every buffer has one
 * 64-bit state word, changed only by compare-and-swap, so a process killed
 * at any instruction leaves each buffer in exactly one well-defined state:
 *
 *   bits 63..32  generation: moves on every send and every return to
 *                FREE (stale or replayed descriptors, even of an earlier
 *                hop of a forwarded buffer, and double frees are recognised)
 *   bits 31..24  state (enum xio_buf_state)
 *   bits 23..0   owner: a pid while HELD, a slot index while SENT
 *
 * There is no free list to wedge: allocation scans the state words from a
 * per-thread hint and takes the first FREE one with one CAS.
 */
enum xio_buf_state {
	XIO_BUF_FREE = 0,
	XIO_BUF_HELD = 1, /* owned by process <owner> (xio_malloc, xio_rx) */
	XIO_BUF_SENT = 2, /* in flight on connection slot <owner> (xio_tx) */
};

#define XIO_BUF_GEN(w)	 ((uint32_t)((w) >> 32))
#define XIO_BUF_STATE(w) ((uint32_t)(((w) >> 24) & 0xff))
#define XIO_BUF_OWNER(w) ((uint32_t)((w)&0xffffff))
#define XIO_BUF_WORD(gen, st, own)                                                                 \
	(((uint64_t)(gen) << 32) | ((uint64_t)((st)&0xff) << 24) | (uint64_t)((own)&0xffffff))
#define XIO_BUF_OWNER_MAX 0xffffffu

struct xio_buf_meta {
	_Atomic uint64_t word;
	/*
	 * Inode of the owner's pid namespace while HELD, 0 otherwise: written by
	 * the owner after it took the buffer and cleared before it lets go, so
	 * the manager only judges pids it can see (see manager/domain_mem.c).
	 */
	_Atomic uint64_t owner_ns;
};

/*
 * Clients waiting to be paired across network namespaces, found by the
 * server from the peer port of a connection it accepted: 0 = empty, else
 * (client port << 32) | (slot index + 1). Set and cleared by the client
 * with one CAS each; a stale entry only costs a server a failed proof.
 */
#define XIO_PAIR_ENTRIES	  64
#define XIO_PAIR_WORD(port, slot) (((uint64_t)(port) << 32) | ((uint64_t)(slot) + 1))
#define XIO_PAIR_PORT(w)	  ((uint16_t)((w) >> 32))
#define XIO_PAIR_SLOT(w)	  ((uint32_t)((w)&0xffffffffu) - 1)
/*
 * Set in an entry by the server that found it and is claiming (one CAS,
 * cleared if the manager refuses): its claim is on the way, so the client
 * waits longer for the proof than for a server that has not accepted yet.
 */
#define XIO_PAIR_CLAIMING (1ull << 63)

/* Start of the domain memzone. */
struct xio_domain_hdr {
	uint32_t magic;
	uint32_t layout_version;
	uint64_t generation; /* random per manager start; part of the handshake */
	uint64_t total_len;  /* bytes of the whole mapping */
	uint64_t slots_off;  /* offset of slot 0 from the header */
	uint32_t nslots;
	uint32_t slot_size; /* stride between slots, bytes */
	uint32_t ring_bytes;
	uint32_t flags;
	_Atomic uint32_t alloc_hint;  /* where the next slot search starts */
	_Atomic uint32_t kill_switch; /* non-zero: new connects use TCP */
	/* zero-copy buffer pool: nbufs meta words at bufs_meta_off, data at bufs_off */
	uint64_t bufs_meta_off;
	uint64_t bufs_off;
	uint32_t nbufs;
	uint32_t buf_size; /* bytes per buffer, a multiple of XIO_CACHELINE */
	uint32_t pair_ok;  /* the manager can prove pairings (CAP_NET_ADMIN): see stack/pair.c */
	/*
	 * The ring file: a sparse shared-memory file (4 KiB pages, backed only
	 * once touched) with the two rings of every slot, ring_stride bytes
	 * each, slot i's at (2 i + dir) * ring_stride. The manager gives its
	 * pages back while a ring is empty and idle (manager/domain_mem.c).
	 * 0: no ring file, the rings follow each slot.
	 */
	uint64_t rings_len;
	uint64_t ring_stride;
	/*
	 * Virtual addresses that the node's netfilter DNATs to pods (Kubernetes
	 * Services, xio-manager --service-cidr): a connect to one may reach an
	 * X-IO server in another namespace, so the client offers a pairing.
	 */
	uint32_t nsvc;
	struct {
		uint8_t addr[16]; /* v4-mapped for IPv4 */
		uint8_t prefix;	  /* bits of addr, counted on the 128-bit form */
	} svc[XIO_SVC_MAX];
	alignas(XIO_CACHELINE) struct xio_stats stats;
	alignas(XIO_CACHELINE) _Atomic uint64_t pairing[XIO_PAIR_ENTRIES];
	/*
	 * CLOCK_MONOTONIC µs until which a client may be between its connect()
	 * and its pairing[] entry (the handshake between pods can finish inside
	 * that connect): a server that finds no entry looks again until then.
	 */
	_Atomic uint64_t pair_announcing_until;
	_Atomic uint32_t pair_announcing; /* clients in that window now (the deadline bounds it) */
	/*
	 * The manager's liveness, read without a system call: a robust mutex its
	 * main thread locks at start and never unlocks. While the manager lives
	 * the futex word is its thread id; when it exits or is killed the kernel
	 * sets FUTEX_OWNER_DIED in it (robust list). Members only read the word
	 * (xio_manager_alive); nobody else ever locks it.
	 */
	alignas(XIO_CACHELINE) pthread_mutex_t alive;
	/* Network namespace (inode) in which the slots' ports (xio_slot.port) are held. */
	uint64_t ports_netns;
	uint32_t ports_family; /* XIO_PORTS_V4 | XIO_PORTS_V6: what the holders cover */
	/*
	 * epoll news boards (stack/board.h): nboards of board_size bytes at
	 * boards_off, each with one bit per connection end (2 * nslots).
	 * nboards 0: none, epoll scans its items.
	 */
	uint32_t nboards;
	uint32_t board_size;
	uint64_t boards_off;
};

/*
 * An epoll set's news board: where producers say which of its connection
 * ends have news (data, room, a FIN), so that epoll_wait reads the ends
 * that changed instead of every end it holds. Bit 2 * slot + end (end 0
 * client, 1 server) is in word[bit / 64]; bit w of summary[w / 64] says
 * that word[w] may have bits. Taken by one set (owner: its pid), given back
 * when the set goes; the board of a process that died is taken again by
 * the next process that finds no free one (stack/board.c). A stale post
 * into a reused board only costs its new owner a look at a connection.
 */
struct xio_board {
	alignas(XIO_CACHELINE) _Atomic uint64_t owner; /* 0 free, else pid */
	_Atomic uint64_t owner_ns;		       /* pid namespace inode of the owner */
	/* threads of the owner's set asleep: a producer that posts rings a doorbell */
	alignas(XIO_CACHELINE) _Atomic uint32_t sleepers;
	alignas(XIO_CACHELINE) _Atomic uint64_t summary[]; /* then the words */
};

/* Bytes of one board for @nslots slots (a multiple of the cache line). */
static inline uint64_t xio_board_bytes(uint32_t nslots)
{
	uint64_t words = ((uint64_t)nslots * 2 + 63) / 64, sum = (words + 63) / 64;
	uint64_t b = sizeof(struct xio_board) + (sum + words) * 8;
	return (b + XIO_CACHELINE - 1) / XIO_CACHELINE * XIO_CACHELINE;
}

#define XIO_PORTS_V4 0x1u /* slot ports are held for IPv4 */
#define XIO_PORTS_V6 0x2u /* ... and for IPv6 (a dual-stack holder) */

#define XIO_DOMAIN_HUGEPAGES 0x1u /* flags: memory is hugepage backed */

static inline struct xio_slot *xio_slot_at(struct xio_domain_hdr *h, uint32_t i)
{
	return (struct xio_slot *)((char *)h + h->slots_off + (uint64_t)i * h->slot_size);
}

#endif
