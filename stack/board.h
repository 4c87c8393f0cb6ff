/* SPDX-License-Identifier: MIT */
/*
 * epoll news boards: what lets epoll_wait follow the connections that
 * changed instead of reading every connection it holds (issue 15).
 *
 * An epoll set takes a board (struct xio_board, stack/layout.h) and claims
 * each connection end it holds: the end's receive direction then names the
 * board (xio_dir.board). A producer that has news for that end (a record,
 * its FIN, room after the end's writer hit a full ring) turns the end's
 * news word from 0 to 1 and only then sets the end's bit on the board; the
 * set takes the board's bits in bulk, clears each end's news word, and only
 * then looks at the end. So:
 *
 *   - the fast path of a busy connection costs one load (news is 1 until
 *     the set has looked);
 *   - no news is lost: the producer publishes, fences, reads news; the set
 *     clears news, fences, reads the ring. One of them sees the other's
 *     write (stack/model/ring_wakeup.pml, -DBOARD);
 *   - a set that sleeps counts itself on the board (sleepers) before its
 *     last look; a producer that sets a bit fences and reads sleepers, and
 *     if one sleeps rings the end's doorbell (coalesced as ever by
 *     data_bell_pending). The board replaces the per-connection
 *     announcement (readers_sleeping on every item) of a sleeping set.
 *
 * Another waiter of this process on the same socket (a blocking read in
 * another thread, poll) may drain the doorbell that was meant for the set:
 * drain() then kicks the set (xio_board_after_drain). A connection that
 * another process may wait on too (it existed at a fork) is not claimed:
 * the set reads it on every call, as before.
 */
#ifndef XIO_BOARD_H
#define XIO_BOARD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "conn.h"
#include "domain.h"

/* Board @i of @d (its geometry as checked at attach), or NULL. */
static inline struct xio_board *xio_board_at(const struct xio_domain *d, uint32_t i)
{
	if (i >= d->nboards)
		return NULL;
	return (struct xio_board *)((char *)d->hdr + d->boards_off + (uint64_t)i * d->board_size);
}

/* The board bit of @c's own end (@peer false) or of its peer's end. */
static inline uint32_t xio_board_bit(const struct xio_conn *c, bool peer)
{
	const struct xio_domain *d = c->dom;
	uint64_t i = (uint64_t)((const char *)c->slot - ((const char *)d->hdr + d->slots_off)) /
		     d->slot_size;
	return (uint32_t)(2 * i + (uint32_t)(c->server ^ peer));
}

/* Set bit @bit on board @b - 1 of @d; whether a sleeper of its set must be rung. */
bool xio_board_post_slow(const struct xio_domain *d, uint32_t b, uint32_t bit);

/*
 * Producer side, after a fence that follows the publication: news for the
 * end whose receive direction is @dir (bit @bit). Returns whether that
 * end's set sleeps, so a doorbell must go.
 */
static inline bool xio_board_post(const struct xio_domain *d, struct xio_dir *dir, uint32_t bit)
{
	uint32_t b = atomic_load_explicit(&dir->board, memory_order_relaxed);
	if (__builtin_expect(!b, 1) || atomic_load_explicit(&dir->news, memory_order_relaxed) ||
	    atomic_exchange(&dir->news, 1))
		return false;
	return xio_board_post_slow(d, b, bit);
}

/* A free board of @d for a new set (its index), or -1 (none: the set reads every item). */
int xio_board_take(struct xio_domain *d);
/* Give board @i back (only its owner does). */
void xio_board_give(struct xio_domain *d, uint32_t i);
/*
 * Claim @c's end for board @i: its news goes there from now on. False when
 * another set has it, or when another process may wait on it too.
 */
bool xio_board_claim(struct xio_conn *c, uint32_t i);
/* Give the end back (the item left the set). */
void xio_board_release(struct xio_conn *c, uint32_t i);
/* The set takes @c's news: the next change posts again. Fence before looking (harvest does). */
void xio_board_news_taken(struct xio_conn *c);
/*
 * Take every bit of board @i, calling @fn(bit, @arg) for each, then fence:
 * the caller looks at the ends after its news_taken() calls. Each call
 * starts at another bit (@from, the caller's cursor, moves on): no end is
 * always first.
 */
void xio_board_harvest(struct xio_domain *d, uint32_t i, uint32_t *from,
		       void (*fn)(uint32_t bit, void *arg), void *arg);
/* Count a sleeper of board @i's set in (@on) or out, with a full fence. */
void xio_board_sleep(struct xio_domain *d, uint32_t i, bool on);
/*
 * @c's writer hit a full ring (or a set saw it not writable): news once the
 * reader made room. Posts the news itself when there is room already, and
 * then returns whether the set sleeps (conn.c, which knows what room is).
 */
bool xio_board_watch_space(struct xio_conn *c);
/* Wake the set of this process that holds @c's end on its board, if it sleeps. */
void xio_board_kick_set(struct xio_conn *c);
/* drain() took @c's doorbells: a sleeping set of this process may have needed one. */
void xio_board_after_drain(struct xio_conn *c);
/* The shim's way to wake the set of this process that owns board @i (once, at start). */
void xio_board_set_kick(void (*kick)(uint32_t board));

#endif
