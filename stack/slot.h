/* SPDX-License-Identifier: MIT */
/*
 * Connection slots: allocation and the handshake's state machine.
 *
 * Every transition is one compare-and-swap on the slot's state word
 * (token << 32 | state), so a process killed at any instruction leaves the
 * slot in a state the manager's sweep understands:
 *
 *   FREE --alloc (client)--> ALLOCATED --offer (client)--> OFFERED
 *   OFFERED --claim (server, token must match)--> ESTABLISHED
 *   ALLOCATED --abort (client, before any offer)--> FREE
 *   any --reclaim (manager, both AF_UNIX ends gone)--> FREE with a new token
 *
 * A claim with a stale token (the slot was reclaimed and reused) fails, so a
 * late accept of an abandoned offer can never attach to someone else's slot.
 */
#ifndef XIO_SLOT_H
#define XIO_SLOT_H

#include <stdint.h>

#include "layout.h"

/*
 * Take a free slot for a new client connection whose AF_UNIX end has inode
 * @client_ino. Returns the slot with its token in *@token, or NULL when every
 * slot is in use.
 */
struct xio_slot *xio_slot_alloc(struct xio_domain_hdr *h, uint64_t client_ino, uint32_t *token);

/* ALLOCATED -> OFFERED. Returns 0 or -ESTALE. */
int xio_slot_offer(struct xio_slot *s, uint32_t token);

/* OFFERED -> ESTABLISHED by the server. Returns 0 or -ESTALE (token/state mismatch). */
int xio_slot_claim(struct xio_slot *s, uint32_t token, uint64_t server_ino, int32_t server_pid);

/* ALLOCATED -> FREE when the client falls back before offering. */
void xio_slot_abort(struct xio_domain_hdr *h, struct xio_slot *s, uint32_t token);

/* Client across namespaces: ALLOCATED -> PAIRING (stack/pair.c). Returns 0 or -ESTALE. */
int xio_slot_pairing(struct xio_slot *s, uint32_t token);

/*
 * Client gives up waiting: PAIRING -> FREE with a new token. -ESTALE when
 * the manager proved the pairing first (the slot is ESTABLISHED).
 */
int xio_slot_unpair(struct xio_domain_hdr *h, struct xio_slot *s, uint32_t token);

/* The rte_ring of direction @dir (XIO_DIR_C2S or XIO_DIR_S2C). */
struct rte_ring;
static inline struct rte_ring *xio_slot_ring(struct xio_slot *s, int dir)
{
	return (struct rte_ring *)((char *)s + s->ring_off[dir]);
}

#endif
