/* SPDX-License-Identifier: MIT */
/*
 * A peer that writes arbitrary bytes into a connection's shared memory: the
 * input overwrites the client->server ring (header fields, indices,
 * elements), the partial-read offset and the wake-up words of a slot; then
 * the server end calls xio_conn_ready, xio_conn_inq, a non-blocking
 * xio_conn_recv (read and peek) and a non-blocking xio_conn_send. They must
 * return data that fits, EAGAIN or an error, and never touch memory outside
 * the domain (the domain is followed by a PROT_NONE page; ASan too) or block.
 *
 * The elements are written where the reader starts (the consumer index), so
 * that records at any position, also across the end of the ring's array
 * (wrap-around), are well formed as often as at index 0. Flags 64 and 128
 * make the connection demoted (stack/demote.c) as the peer left it: 64
 * ACTIVE with the client as demoter (we are the peer that must skip the
 * doorbells and drain the ring), 128 FAILED, both ACTIVE with us as the
 * demoter; the doorbell count to skip and the in-band bytes that follow
 * them in our socket come from the last word.
 *
 * The domain has a zero-copy buffer pool (NBUFS buffers, the data area
 * last, before the PROT_NONE page): buffer i is in flight on the slot with
 * generation i + 1, the last one FREE, so descriptor records can name real
 * buffers and a record of bytes can be taken as a buffer. Bit 24 of the
 * last word first reads with the zero-copy calls: xio_zc_recv_peek (bytes
 * in place, in the ring or a buffer) and xio_zc_recv_consume, then xio_zc_rx.
 */
#include <stdio.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "bufpool.h"
#include "conn.h"
#include "ring.h"
#include "slot.h"
#include "sys.h"
#include "zc.h"

#define RINGCNT 1024 /* elements */
#define NBUFS	8
#define BUFSZ	256

static struct xio_domain_hdr *h;
static struct xio_domain dom;
static size_t total;
static int sv[2];

static void setup(void)
{
	size_t ring_mem = ((size_t)rte_ring_get_memsize_elem(4, RINGCNT) + 63) & ~(size_t)63;
	size_t slot_size = ((sizeof(struct xio_slot) + 63) & ~(size_t)63) + 2 * ring_mem;
	size_t slots_off = (sizeof(struct xio_domain_hdr) + 63) & ~(size_t)63;
	size_t meta_off = (slots_off + slot_size + 63) & ~(size_t)63;
	size_t data_off = (meta_off + NBUFS * sizeof(struct xio_buf_meta) + 63) & ~(size_t)63;
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	total = data_off + NBUFS * BUFSZ;
	size_t body = (total + pg - 1) / pg * pg;
	char *map =
	    mmap(NULL, body + pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (map == MAP_FAILED || mprotect(map + body, pg, PROT_NONE) < 0)
		abort();
	h = (struct xio_domain_hdr *)(map + (body - total));
	h->magic = XIO_MAGIC;
	h->layout_version = XIO_LAYOUT_VERSION;
	h->generation = 1;
	h->total_len = total;
	h->slots_off = slots_off;
	h->nslots = 1;
	h->slot_size = (uint32_t)slot_size;
	h->ring_bytes = RINGCNT * 4;
	h->bufs_meta_off = meta_off;
	h->bufs_off = data_off;
	h->nbufs = NBUFS;
	h->buf_size = BUFSZ;
	dom = (struct xio_domain){.hdr = h, .map = h, .map_len = total, .generation = 1};
	if (xio_pool_init(&dom.pool, h, h, (char *)h + total, slots_off, 1, (uint32_t)slot_size) <
	    0)
		abort();
	for (size_t i = 0; i < NBUFS * BUFSZ; i++)
		dom.pool.data[i] = (char)i;
#ifdef FAULT_DOMAIN_HAS_COPIES
	dom.nslots = 1;
	dom.slot_size = h->slot_size;
	dom.ring_bytes = h->ring_bytes;
	dom.slots_off = h->slots_off;
#endif
	xio_sys_use_libc();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	setenv("XIO_DEMOTE_WAIT_MS", "0", 1); /* a demoted peer's waits: none */
}

/* A fresh slot as the manager leaves it (manager/domain_mem.c). */
static struct xio_slot *fresh_slot(void)
{
	struct xio_slot *s = xio_slot_at(h, 0);
	memset(s, 0, h->slot_size);
	s->index = 0;
	s->ring_bytes = RINGCNT * 4;
	s->ring_off[0] = (uint32_t)((sizeof(struct xio_slot) + 63) & ~(size_t)63);
	s->ring_off[1] =
	    s->ring_off[0] +
	    (uint32_t)(((size_t)rte_ring_get_memsize_elem(4, RINGCNT) + 63) & ~(size_t)63);
	for (int d = 0; d < 2; d++) {
		pthread_mutexattr_t a;
		pthread_mutexattr_init(&a);
		pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
		pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
		pthread_mutex_init(&s->dir[d].wlock, &a);
		pthread_mutex_init(&s->dir[d].rlock, &a);
		if (rte_ring_init((struct rte_ring *)((char *)s + s->ring_off[d]), "fz", RINGCNT,
				  RING_F_SP_ENQ | RING_F_SC_DEQ) < 0)
			abort();
	}
	struct stat st;
	if (fstat(sv[1], &st) < 0)
		abort();
	atomic_store(&s->server_ino, (uint64_t)st.st_ino); /* sv[1] is our end, as after a claim */
	atomic_store(&s->state, XIO_SLOT_WORD(7, XIO_SLOT_ESTABLISHED));
	for (uint32_t i = 0; i < NBUFS; i++) { /* in flight here, the last one free */
		atomic_store(&dom.pool.meta[i].word,
			     XIO_BUF_WORD(i + 1, i + 1 < NBUFS ? XIO_BUF_SENT : XIO_BUF_FREE, 0));
		atomic_store(&dom.pool.meta[i].owner_ns, 0);
	}
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!h)
		setup();
	struct xio_slot *s = fresh_slot();
	struct xio_conn *c = xio_conn_new(&dom, s, true);
	if (!c)
		abort(); /* a fresh slot must be accepted */
	c->token = 7;
	struct rte_ring *r = xio_slot_ring(s, XIO_DIR_C2S);

	/* input: [flags][ring header words x8][rd_off][bell words x4][elements...] */
	if (size < 1)
		goto out;
	uint8_t flags = data[0];
	data++, size--;
	uint32_t w[13] = {0};
	size_t nw = size / 4 < 13 ? size / 4 : 13;
	memcpy(w, data, nw * 4);
	data += nw * 4;
	size -= nw * 4;
	if (flags & 1) { /* header fields too */
		r->size = w[0];
		r->mask = w[1];
		r->capacity = w[2];
	}
	r->prod.head = w[3];
	r->prod.tail = (flags & 2) ? w[3] : w[4];
	r->cons.head = (flags & 4) ? w[5] : w[6];
	r->cons.tail = w[6];
	if (flags & 8)
		s->dir[XIO_DIR_C2S].rd_off = w[7];
	s->dir[XIO_DIR_C2S].data_bell_pending = w[8];
	s->dir[XIO_DIR_C2S].readers_sleeping = w[9];
	s->dir[XIO_DIR_S2C].writers_waiting = w[10];
	s->dir[XIO_DIR_S2C].space_bell_pending = w[11];
	if (flags & 16) { /* a ring that is consistent but at a far position */
		r->prod.head = r->prod.tail = 0x80000000u + (w[12] % RINGCNT);
		r->cons.head = r->cons.tail = 0x80000000u;
	}
	/* the records from where the reader starts, wrapping at the array's end */
	uint32_t *elems = (uint32_t *)(r + 1);
	size_t ne = size / 4 < RINGCNT ? size / 4 : RINGCNT;
	uint32_t at = r->cons.tail % RINGCNT;
	size_t first = ne < RINGCNT - at ? ne : RINGCNT - at;
	memcpy(elems + at, data, first * 4);
	memcpy(elems, data + first * 4, (ne - first) * 4);
	if (flags & (64 | 128)) {
		/* demoted: doorbells to skip, then in-band bytes, in our socket */
		struct xio_demote *d = &s->demote;
		uint32_t skip = (w[12] >> 8) % 64, inband = (w[12] >> 16) % 64;
		atomic_store(&d->who, (flags & 64) && (flags & 128) ? 1 : 0);
		atomic_store(&d->skip[1], skip);
		char b[128] = {0};
		memset(b + skip, 'x', inband);
		if (skip + inband && send(sv[0], b, skip + inband, MSG_DONTWAIT) < 0)
			abort();
		atomic_store(&d->state, (flags & 64) ? XIO_DEMOTE_ACTIVE : XIO_DEMOTE_FAILED);
	}

	(void)xio_conn_ready(c);
	int inq = xio_conn_inq(c);
	FZ_CHECK(inq >= 0 && inq <= RINGCNT * 4 + 64); /* the ring, in-band bytes (demoted) */
	if (w[12] & (1u << 24)) {
		const char *lo = (const char *)h, *hi = lo + total;
		const void *p;
		ssize_t k = xio_zc_recv_peek(c, sv[1], &p, true);
		if (k > 0) {
			FZ_CHECK((const char *)p >= lo && (const char *)p + k <= hi);
			FZ_CHECK(xio_zc_recv_consume(c, sv[1], w[0] % ((size_t)k + 1)) <= 0);
		}
		void *b;
		k = xio_zc_rx(c, sv[1], &b, true);
		if (k > 0) /* a buffer of the pool, now ours */
			FZ_CHECK((char *)b >= dom.pool.data && (char *)b + k <= hi && k <= BUFSZ);
	}
	uint8_t *buf = malloc(4096);
	for (int i = 0; i < 4; i++) {
		struct iovec iov = {buf, (flags & 32) ? 1 + (size_t)(w[i] % 4096) : 4096};
		ssize_t n = xio_conn_recv(c, sv[1], &iov, 1, (i & 1) ? MSG_PEEK : 0, true);
		FZ_CHECK(n <= (ssize_t)iov.iov_len);
		if (n <= 0)
			break;
	}
	struct iovec iov = {buf, 1000};
	ssize_t n = xio_conn_send(c, sv[1], &iov, 1, MSG_NOSIGNAL, true);
	FZ_CHECK(n <= 1000);
	free(buf);
out:
	xio_conn_put(c);
	/* doorbells the calls may have rung, what a demoted call left unread */
	char junk[4096];
	while (recv(sv[0], junk, sizeof(junk), MSG_DONTWAIT) > 0)
		;
	while (recv(sv[1], junk, sizeof(junk), MSG_DONTWAIT) > 0)
		;
	return 0;
}
