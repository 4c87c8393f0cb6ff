/* SPDX-License-Identifier: MIT */
/*
 * The local connection table (see conntab.h): a chained hash table keyed by
 * the 4-tuple. It is consulted on connect/accept/close and by xio-stat, never
 * per byte, so one mutex is enough and keeps it obviously correct.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conntab.h"

#define CONNTAB_DEFAULT_BUCKETS 64
/* Keep chains short on average: grow once they exceed this many entries per bucket. */
#define CONNTAB_LOAD 2

struct xio_conntab_entry {
	struct xio_conntab_entry *next;
	uint64_t hash; /* kept so growing never rehashes the tuple */
	struct xio_tuple tuple;
	void *value;
};

/*
 * The key is addresses and ports only. ep->family is how an application
 * spelled the address; an AF_INET and an AF_INET6 socket using the same
 * v4-mapped 4-tuple are one TCP connection, so they must collide.
 */
static bool ep_equal(const struct xio_endpoint *a, const struct xio_endpoint *b)
{
	return a->port == b->port && memcmp(a->addr, b->addr, sizeof(a->addr)) == 0;
}

static bool tuple_equal(const struct xio_tuple *a, const struct xio_tuple *b)
{
	return ep_equal(&a->local, &b->local) && ep_equal(&a->remote, &b->remote);
}

/* A 64-bit multiply/xor-shift mix: every input bit reaches the low bits we index by. */
static uint64_t mix(uint64_t h, uint64_t v)
{
	h ^= v;
	h *= 0x9e3779b97f4a7c15ull;
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 32;
	return h;
}

static uint64_t ep_hash(uint64_t h, const struct xio_endpoint *ep)
{
	uint64_t w[2];

	memcpy(w, ep->addr, sizeof(w));
	h = mix(h, w[0]);
	h = mix(h, w[1]);
	return mix(h, ep->port);
}

static uint64_t tuple_hash(const struct xio_tuple *t)
{
	/*
	 * Local and remote are hashed in sequence, not combined by xor, so a
	 * tuple and its mirror image (both ends of a loopback connection live
	 * in one process) do not land in the same bucket.
	 */
	return ep_hash(ep_hash(0x5851f42d4c957f2dull, &t->local), &t->remote);
}

int xio_conntab_init(struct xio_conntab *t, size_t nbuckets_hint)
{
	size_t n = 1;
	int err;

	if (nbuckets_hint == 0)
		nbuckets_hint = CONNTAB_DEFAULT_BUCKETS;
	if (nbuckets_hint > SIZE_MAX / 2 / sizeof(*t->buckets))
		return -ENOMEM;
	while (n < nbuckets_hint)
		n <<= 1;

	memset(t, 0, sizeof(*t));
	t->buckets = calloc(n, sizeof(*t->buckets));
	if (!t->buckets)
		return -ENOMEM;
	err = pthread_mutex_init(&t->lock, NULL);
	if (err) {
		free(t->buckets);
		t->buckets = NULL;
		return -err;
	}
	t->nbuckets = n;
	return 0;
}

void xio_conntab_destroy(struct xio_conntab *t)
{
	/* Values belong to the caller; only our entries are freed. */
	for (size_t i = 0; i < t->nbuckets; i++) {
		struct xio_conntab_entry *e = t->buckets[i];

		while (e) {
			struct xio_conntab_entry *next = e->next;

			free(e);
			e = next;
		}
	}
	free(t->buckets);
	pthread_mutex_destroy(&t->lock);
	memset(t, 0, sizeof(*t));
}

/* Called with the lock held. Doubling keeps nbuckets a power of two. */
static void grow(struct xio_conntab *t)
{
	size_t n = t->nbuckets * 2;
	struct xio_conntab_entry **b;

	if (n > SIZE_MAX / sizeof(*b))
		return;
	b = calloc(n, sizeof(*b));
	/*
	 * Growth only shortens chains; a table that could not grow still works,
	 * so an insert that already succeeded must not fail because of it.
	 */
	if (!b)
		return;
	for (size_t i = 0; i < t->nbuckets; i++) {
		struct xio_conntab_entry *e = t->buckets[i];

		while (e) {
			struct xio_conntab_entry *next = e->next;
			size_t j = e->hash & (n - 1);

			e->next = b[j];
			b[j] = e;
			e = next;
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->nbuckets = n;
}

static struct xio_conntab_entry **find(struct xio_conntab *t, const struct xio_tuple *tuple,
				       uint64_t hash)
{
	struct xio_conntab_entry **pp = &t->buckets[hash & (t->nbuckets - 1)];

	for (; *pp; pp = &(*pp)->next)
		if ((*pp)->hash == hash && tuple_equal(&(*pp)->tuple, tuple))
			return pp;
	return pp; /* points at the terminating NULL */
}

int xio_conntab_insert(struct xio_conntab *t, const struct xio_tuple *tuple, void *value)
{
	uint64_t hash = tuple_hash(tuple);
	/* Allocate before locking: malloc may be slow and the lock is process-wide. */
	struct xio_conntab_entry *e = malloc(sizeof(*e));
	struct xio_conntab_entry **pp;

	if (!e)
		return -ENOMEM;
	e->hash = hash;
	e->tuple = *tuple;
	e->value = value;

	pthread_mutex_lock(&t->lock);
	pp = find(t, tuple, hash);
	if (*pp) {
		pthread_mutex_unlock(&t->lock);
		free(e);
		return -EEXIST;
	}
	e->next = NULL;
	*pp = e;
	t->count++;
	if (t->count > CONNTAB_LOAD * t->nbuckets)
		grow(t);
	pthread_mutex_unlock(&t->lock);
	return 0;
}

void *xio_conntab_lookup(struct xio_conntab *t, const struct xio_tuple *tuple)
{
	uint64_t hash = tuple_hash(tuple);
	void *value;

	pthread_mutex_lock(&t->lock);
	struct xio_conntab_entry *e = *find(t, tuple, hash);
	value = e ? e->value : NULL;
	pthread_mutex_unlock(&t->lock);
	return value;
}

int xio_conntab_remove(struct xio_conntab *t, const struct xio_tuple *tuple, void *value)
{
	uint64_t hash = tuple_hash(tuple);
	struct xio_conntab_entry **pp, *e;

	pthread_mutex_lock(&t->lock);
	pp = find(t, tuple, hash);
	e = *pp;
	/*
	 * Only the owner removes: a closing connection must not drop a newer
	 * connection that has reused its 4-tuple in the meantime.
	 */
	if (!e || e->value != value) {
		pthread_mutex_unlock(&t->lock);
		return -ENOENT;
	}
	*pp = e->next;
	t->count--;
	pthread_mutex_unlock(&t->lock);
	free(e);
	return 0;
}

size_t xio_conntab_count(struct xio_conntab *t)
{
	size_t n;

	pthread_mutex_lock(&t->lock);
	n = t->count;
	pthread_mutex_unlock(&t->lock);
	return n;
}

void xio_conntab_each(struct xio_conntab *t, void (*fn)(void *value))
{
	for (size_t b = 0; b < t->nbuckets; b++)
		for (struct xio_conntab_entry *e = t->buckets ? t->buckets[b] : NULL; e;
		     e = e->next)
			fn(e->value);
}

void xio_conntab_after_fork(struct xio_conntab *t, void (*fn)(void *value))
{
	pthread_mutex_init(&t->lock, NULL);
	for (size_t b = 0; b < t->nbuckets; b++)
		for (struct xio_conntab_entry *e = t->buckets ? t->buckets[b] : NULL; e;
		     e = e->next)
			fn(e->value);
}
