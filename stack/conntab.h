/* SPDX-License-Identifier: MIT */
/*
 * The local connection table: this process's X-IO connections keyed by
 * 4-tuple (the paper's connection table). Used to tell whether a peer is a
 * connection of this very process (demotion) and to visit every connection
 * at fork and exit; the kernel picks ports and xio-stat asks the manager.
 * Thread safe (one mutex; never on the data path).
 */
#ifndef XIO_CONNTAB_H
#define XIO_CONNTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <pthread.h>

#include "layout.h"

struct xio_tuple {
	struct xio_endpoint local, remote;
};

struct xio_conntab_entry;

struct xio_conntab {
	pthread_mutex_t lock;
	struct xio_conntab_entry **buckets;
	size_t nbuckets; /* power of two */
	size_t count;
};

/* Returns 0 or -ENOMEM. */
int xio_conntab_init(struct xio_conntab *t, size_t nbuckets_hint);
void xio_conntab_destroy(struct xio_conntab *t);

/* Insert @tuple -> @value. Returns 0, -EEXIST (tuple taken) or -ENOMEM. */
int xio_conntab_insert(struct xio_conntab *t, const struct xio_tuple *tuple, void *value);

/* The value stored for @tuple, or NULL. */
void *xio_conntab_lookup(struct xio_conntab *t, const struct xio_tuple *tuple);

/* Remove @tuple if it maps to @value. Returns 0 or -ENOENT. */
int xio_conntab_remove(struct xio_conntab *t, const struct xio_tuple *tuple, void *value);

size_t xio_conntab_count(struct xio_conntab *t);

/*
 * In a child right after fork (one thread, locks possibly copied held):
 * re-initialise the table's lock and call @fn for every value.
 */
void xio_conntab_after_fork(struct xio_conntab *t, void (*fn)(void *value));

/* Call @fn for every value; the caller holds t->lock. */
void xio_conntab_each(struct xio_conntab *t, void (*fn)(void *value));

#endif
