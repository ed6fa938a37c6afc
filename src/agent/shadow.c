// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "shadow.h"

/* Open addressing with linear probing and backward-shift deletion: no
 * tombstones, so a table that churns every second never degrades. */
struct entry {
	struct ms_session_key k;
	struct ms_session s;
	uint64_t epoch;
	bool used;
};

struct ms_shadow {
	struct entry *t;
	size_t cap; /* power of two */
	size_t n;
	size_t expect_cap; /* the cap for the expected size; 0: none */
};

/* Word at a time: the sweep hashes every session of the table every
 * second, and a byte-wise hash of 40 bytes was a good part of its time. */
static uint64_t hash_key(const struct ms_session_key *k)
{
	uint64_t w[5], h = 0x9e3779b97f4a7c15ULL;

	_Static_assert(sizeof(*k) == sizeof(w), "session key is five words");
	memcpy(w, k, sizeof(w));
	for (int i = 0; i < 5; i++) {
		h ^= w[i];
		h *= 0xbf58476d1ce4e5b9ULL;
		h ^= h >> 31;
	}
	return h ^ (h >> 29);
}

int ms_shadow_new(struct ms_shadow **out)
{
	struct ms_shadow *sh = calloc(1, sizeof(*sh));

	if (!sh)
		return -ENOMEM;
	*out = sh;
	return 0;
}

void ms_shadow_free(struct ms_shadow **shp)
{
	if (!*shp)
		return;
	free((*shp)->t);
	free(*shp);
	*shp = NULL;
}

static struct entry *find_slot(struct entry *t, size_t cap, const struct ms_session_key *k)
{
	size_t i = (size_t)hash_key(k) & (cap - 1);

	while (t[i].used && memcmp(&t[i].k, k, sizeof(*k)))
		i = (i + 1) & (cap - 1);
	return &t[i];
}

static int resize(struct ms_shadow *sh, size_t ncap)
{
	struct entry *nt = calloc(ncap, sizeof(*nt));

	if (!nt)
		return -ENOMEM;
	for (size_t i = 0; i < sh->cap; i++)
		if (sh->t[i].used)
			*find_slot(nt, ncap, &sh->t[i].k) = sh->t[i];
	free(sh->t);
	sh->t = nt;
	sh->cap = ncap;
	return 0;
}

static int grow(struct ms_shadow *sh)
{
	size_t ncap = sh->cap ? sh->cap * 2 : 1024;

	/* Filling: go to the expected size in one rehash of a few thousand
	 * entries rather than many of ever more. */
	if (ncap < sh->expect_cap && sh->n >= sh->expect_cap / 32)
		ncap = sh->expect_cap;
	return resize(sh, ncap);
}

void ms_shadow_expect(struct ms_shadow *sh, size_t n)
{
	size_t ncap = 1024;

	while (ncap < 2 * n)
		ncap *= 2;
	sh->expect_cap = ncap;
}

int ms_shadow_put(struct ms_shadow *sh, const struct ms_session_key *k, const struct ms_session *s,
		  uint64_t epoch)
{
	struct entry *e;

	/* Keep the load under 1/2 so probes stay short. */
	if ((sh->n + 1) * 2 > sh->cap && grow(sh))
		return -ENOMEM;
	e = find_slot(sh->t, sh->cap, k);
	if (!e->used) {
		e->used = true;
		e->k = *k;
		sh->n++;
	}
	e->s = *s;
	e->epoch = epoch;
	return 0;
}

static void remove_at(struct ms_shadow *sh, size_t i)
{
	size_t j = i, mask = sh->cap - 1;

	sh->t[i].used = false;
	sh->n--;
	/* Shift later members of the probe run back into the hole. */
	for (;;) {
		size_t home;

		j = (j + 1) & mask;
		if (!sh->t[j].used)
			return;
		home = (size_t)hash_key(&sh->t[j].k) & mask;
		/* Move j to i unless its home lies cyclically in (i, j]. */
		if ((i < j) ? (home <= i || home > j) : (home <= i && home > j)) {
			sh->t[i] = sh->t[j];
			sh->t[j].used = false;
			i = j;
		}
	}
}

void ms_shadow_del(struct ms_shadow *sh, const struct ms_session_key *k)
{
	struct entry *e;

	if (!sh->n)
		return;
	e = find_slot(sh->t, sh->cap, k);
	if (e->used)
		remove_at(sh, (size_t)(e - sh->t));
}

void ms_shadow_reap(struct ms_shadow *sh, uint64_t epoch,
		    void (*fn)(void *cls, const struct ms_session_key *k,
			       const struct ms_session *s),
		    void *cls)
{
	size_t i = 0;

	/* Backward shifts may move an unvisited entry into slot i, so i only
	 * advances past entries that stay; the wrap-around run at the end can
	 * shift an entry to a visited slot, which the second pass catches. */
	for (int pass = 0; pass < 2; pass++) {
		for (i = 0; i < sh->cap;) {
			struct entry *e = &sh->t[i];

			if (e->used && e->epoch != epoch) {
				fn(cls, &e->k, &e->s);
				remove_at(sh, i);
				continue;
			}
			i++;
		}
	}
}

void ms_shadow_for_each(const struct ms_shadow *sh,
			void (*fn)(void *cls, const struct ms_session_key *k,
				   const struct ms_session *s),
			void *cls)
{
	for (size_t i = 0; i < sh->cap; i++)
		if (sh->t[i].used)
			fn(cls, &sh->t[i].k, &sh->t[i].s);
}

size_t ms_shadow_count(const struct ms_shadow *sh)
{
	return sh->n;
}
