/* SPDX-License-Identifier: MIT */
/* Slot allocation and handshake transitions: single CAS each (see slot.h). */
#include <errno.h>
#include <time.h>

#include "clock.h"
#include "slot.h"

struct xio_slot *xio_slot_alloc(struct xio_domain_hdr *h, uint64_t client_ino, uint32_t *token)
{
	uint32_t n = h->nslots;
	uint32_t start = atomic_load_explicit(&h->alloc_hint, memory_order_relaxed);

	for (uint32_t k = 0; k < n; k++) {
		uint32_t i = (start + k) % n;
		struct xio_slot *s = xio_slot_at(h, i);
		uint64_t w = atomic_load_explicit(&s->state, memory_order_acquire);
		if (XIO_SLOT_STATE(w) != XIO_SLOT_FREE)
			continue;
		uint64_t nw = XIO_SLOT_WORD(XIO_SLOT_TOKEN(w), XIO_SLOT_ALLOCATED);
		if (!atomic_compare_exchange_strong(&s->state, &w, nw))
			continue;
		s->alloc_ns = xio_mono_ns();
		atomic_store_explicit(&s->client_ino, client_ino, memory_order_release);
		atomic_fetch_add_explicit(&h->stats.slots_in_use, 1, memory_order_relaxed);
		atomic_store_explicit(&h->alloc_hint, (i + 1) % n, memory_order_relaxed);
		*token = XIO_SLOT_TOKEN(w);
		return s;
	}
	return NULL;
}

static int transition(struct xio_slot *s, uint32_t token, uint32_t from, uint32_t to)
{
	uint64_t w = XIO_SLOT_WORD(token, from);
	return atomic_compare_exchange_strong(&s->state, &w, XIO_SLOT_WORD(token, to)) ? 0
										       : -ESTALE;
}

int xio_slot_offer(struct xio_slot *s, uint32_t token)
{
	return transition(s, token, XIO_SLOT_ALLOCATED, XIO_SLOT_OFFERED);
}

int xio_slot_claim(struct xio_slot *s, uint32_t token, uint64_t server_ino, int32_t server_pid)
{
	int r = transition(s, token, XIO_SLOT_OFFERED, XIO_SLOT_ESTABLISHED);
	if (r == 0) {
		/* The sweep treats ESTABLISHED with server_ino 0 as "being claimed". */
		s->server_pid = server_pid;
		atomic_store_explicit(&s->server_ino, server_ino, memory_order_release);
	}
	return r;
}

void xio_slot_abort(struct xio_domain_hdr *h, struct xio_slot *s, uint32_t token)
{
	/* A new token: nobody saw this one, but keep tokens moving anyway. */
	uint64_t w = XIO_SLOT_WORD(token, XIO_SLOT_ALLOCATED);
	/* client_ino stays: the next alloc overwrites it; clearing it here could hit a new owner.
	 */
	if (atomic_compare_exchange_strong(&s->state, &w, XIO_SLOT_WORD(token + 1, XIO_SLOT_FREE)))
		atomic_fetch_sub_explicit(&h->stats.slots_in_use, 1, memory_order_relaxed);
}

int xio_slot_pairing(struct xio_slot *s, uint32_t token)
{
	return transition(s, token, XIO_SLOT_ALLOCATED, XIO_SLOT_PAIRING);
}

int xio_slot_unpair(struct xio_domain_hdr *h, struct xio_slot *s, uint32_t token)
{
	/* Lost to the manager's PAIRING -> ESTABLISHED: then the pairing stands. */
	uint64_t w = XIO_SLOT_WORD(token, XIO_SLOT_PAIRING);
	if (!atomic_compare_exchange_strong(&s->state, &w, XIO_SLOT_WORD(token + 1, XIO_SLOT_FREE)))
		return -ESTALE;
	atomic_fetch_sub_explicit(&h->stats.slots_in_use, 1, memory_order_relaxed);
	return 0;
}
