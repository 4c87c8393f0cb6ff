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
#define XIO_LAYOUT_VERSION 3u
#define XIO_CACHELINE	   64

/* Why a connect fell back to kernel TCP (xio-stat prints these by name). */
enum xio_fallback {
	XIO_FB_NO_RENDEZVOUS, /* nothing under X-IO listens there */
	XIO_FB_REMOTE,	      /* destination is not an address of this node */
	XIO_FB_NO_MANAGER,    /* control socket absent or refused */
	XIO_FB_DOMAIN_FULL,   /* no free slot even after a reclaim */
	XIO_FB_VERSION,	      /* layout/handshake version or generation mismatch */
	XIO_FB_BACKLOG,	      /* rendezvous backlog full */
	XIO_FB_DISABLED,      /* XIO_DISABLE, kill switch, exclusion list */
	XIO_FB_ERROR,	      /* any other error */
	XIO_FB_MAX
};

/* Counters shared by the whole domain; updated with relaxed atomic adds on slow paths only. */
struct xio_stats {
	_Atomic uint64_t conns_total;	   /* X-IO connections accepted */
	_Atomic uint64_t bytes_closed;	   /* bytes carried by slots already freed */
	_Atomic uint64_t fallback[XIO_FB_MAX];
	_Atomic uint64_t slots_in_use;	   /* allocated, not yet reclaimed */
	_Atomic uint64_t slots_reclaimed;  /* freed by the manager's sweep */
	_Atomic uint64_t publishes;	   /* rendezvous entries published */
};

/* An IPv4 or IPv6 endpoint; IPv4 is kept as a v4-mapped IPv6 address. */
struct xio_endpoint {
	uint8_t addr[16];
	uint16_t port; /* host byte order */
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
	_Atomic uint32_t shut_wr;		      /* producer will send no more */
	_Atomic uint32_t reset;			      /* producer aborted (SO_LINGER 0): RST */
	/* consumer side */
	alignas(XIO_CACHELINE) pthread_mutex_t rlock; /* robust, process-shared */
	uint32_t rd_off;			      /* bytes consumed of the head record */
	/* wake-up protocol: see stack/conn.c */
	alignas(XIO_CACHELINE) _Atomic uint32_t readers_sleeping;
	_Atomic uint32_t data_bell_pending;
	_Atomic uint32_t watchers; /* nested epoll sets: a doorbell on every arrival */
	alignas(XIO_CACHELINE) _Atomic uint32_t writers_waiting;
	_Atomic uint32_t space_bell_pending;
	/* waiters asleep on the consumer end's socket, whatever they wait for */
	_Atomic uint32_t sleepers;
};

/* Slot states (low byte of xio_slot.state); the high 32 bits hold the token. */
enum xio_slot_state {
	XIO_SLOT_FREE = 0,
	XIO_SLOT_ALLOCATED = 1, /* client owns it, offer not sent yet */
	XIO_SLOT_OFFERED = 2,	/* offer sent on the rendezvous socket */
	XIO_SLOT_ESTABLISHED = 3,
};

#define XIO_SLOT_STATE(w)     ((uint32_t)((w)&0xff))
#define XIO_SLOT_TOKEN(w)     ((uint32_t)((w) >> 32))
#define XIO_SLOT_WORD(tok, st) (((uint64_t)(tok) << 32) | (uint64_t)(st))

/* Direction indices inside a slot. */
#define XIO_DIR_C2S 0 /* client -> server */
#define XIO_DIR_S2C 1 /* server -> client */

/*
 * A connection slot. Followed in memory by its two rte_rings (4-byte
 * elements) at ring_off[XIO_DIR_*] from the start of the slot.
 */
struct xio_slot {
	alignas(XIO_CACHELINE) _Atomic uint64_t state; /* token << 32 | state */
	uint32_t index;
	uint32_t ring_off[2];
	uint32_t ring_bytes;		/* data capacity of each ring */
	uint64_t alloc_ns;		/* CLOCK_MONOTONIC at allocation */
	_Atomic uint64_t client_ino;	/* inode of the client's AF_UNIX end */
	_Atomic uint64_t server_ino;	/* inode of the server's AF_UNIX end */
	int32_t client_pid, server_pid; /* for xio-stat only, never for liveness */
	_Atomic int32_t last_cpu[2];	/* 1 + CPU each end last waited on; no spin when equal */
	struct xio_endpoint client, server;
	struct xio_dir dir[2];
};

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
	_Atomic uint32_t alloc_hint; /* where the next slot search starts */
	_Atomic uint32_t kill_switch; /* non-zero: new connects use TCP */
	alignas(XIO_CACHELINE) struct xio_stats stats;
};

#define XIO_DOMAIN_HUGEPAGES 0x1u /* flags: memory is hugepage backed */

static inline struct xio_slot *xio_slot_at(struct xio_domain_hdr *h, uint32_t i)
{
	return (struct xio_slot *)((char *)h + h->slots_off + (uint64_t)i * h->slot_size);
}

#endif
