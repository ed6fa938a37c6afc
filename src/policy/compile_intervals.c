// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <errno.h>
#include <stdlib.h>

#include "compile_int.h"

static int ivec_push(struct ivec *iv, u128 lo, u128 hi)
{
	if (iv->n == iv->cap) {
		size_t ncap = iv->cap ? iv->cap * 2 : 8;
		struct ival *nv = realloc(iv->v, ncap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		iv->v = nv;
		iv->cap = ncap;
	}
	iv->v[iv->n].lo = lo;
	iv->v[iv->n].hi = hi;
	iv->n++;
	return 0;
}

static int cmp_ival(const void *a, const void *b)
{
	const struct ival *x = a, *y = b;

	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	return 0;
}

/* Sort and merge overlapping or adjacent intervals in place. */
static void ivec_normalize(struct ivec *iv)
{
	size_t w = 0;

	if (!iv->n)
		return;
	qsort(iv->v, iv->n, sizeof(*iv->v), cmp_ival);
	for (size_t r = 1; r < iv->n; r++) {
		struct ival *last = &iv->v[w];

		if (last->hi == U128_MAX || iv->v[r].lo <= last->hi + 1) {
			if (iv->v[r].hi > last->hi)
				last->hi = iv->v[r].hi;
		} else {
			iv->v[++w] = iv->v[r];
		}
	}
	iv->n = w + 1;
}

static struct ival cidr_ival(const struct ms_cidr *c)
{
	u128 lo = addr_to_u128(c->addr);
	u128 host = c->plen == 0 ? U128_MAX : (((u128)1 << (128 - c->plen)) - 1);
	struct ival r = { lo & ~host, (lo & ~host) | host };

	return r;
}

/* Push c's addresses if it is of the line's family. */
static int push_cidr(struct ivec *v, const struct ms_cidr *c, bool v4)
{
	struct ival r;

	if (ms_cidr_is_v4(c) != v4)
		return 0;
	r = cidr_ival(c);
	if (v4) {
		r.lo &= V4_SPACE_MAX;
		r.hi &= V4_SPACE_MAX;
	}
	return ivec_push(v, r.lo, r.hi);
}

/* out = normalized a minus normalized b. */
static int ivec_subtract(const struct ivec *a, const struct ivec *b, struct ivec *out)
{
	size_t j = 0;

	for (size_t i = 0; i < a->n; i++) {
		u128 lo = a->v[i].lo, hi = a->v[i].hi;
		bool done = false;

		while (j < b->n && b->v[j].hi < lo)
			j++;
		for (size_t k = j; k < b->n && b->v[k].lo <= hi; k++) {
			if (b->v[k].lo > lo && ivec_push(out, lo, b->v[k].lo - 1))
				return -ENOMEM;
			if (b->v[k].hi >= hi) {
				done = true;
				break;
			}
			lo = b->v[k].hi + 1;
		}
		if (!done && ivec_push(out, lo, hi))
			return -ENOMEM;
	}
	return 0;
}

int mc_addrset_ivals(const struct ms_addrset *s, bool v4, struct ivec *out)
{
	int err = 0;

	if (s->any)
		return ivec_push(out, 0, v4 ? V4_SPACE_MAX : U128_MAX);
	for (size_t t = 0; t < s->n_terms && !err; t++) {
		const struct ms_addr_term *term = &s->terms[t];
		struct ivec inc = { 0 }, exc = { 0 };

		for (size_t i = 0; i < term->n_cidrs && !err; i++)
			err = push_cidr(&inc, &term->cidrs[i], v4);
		for (size_t i = 0; i < term->n_except && !err; i++)
			err = push_cidr(&exc, &term->except[i], v4);
		if (!err) {
			ivec_normalize(&inc);
			ivec_normalize(&exc);
			err = ivec_subtract(&inc, &exc, out);
		}
		free(inc.v);
		free(exc.v);
	}
	ivec_normalize(out);
	return err;
}

int mc_ports_ivals(const struct ms_rule *r, struct ivec *out)
{
	int err = 0;

	for (u128 dir = 0; dir < 2 && !err; dir++) {
		if (!(r->dirmask & (1u << dir)))
			continue;
		if (r->any_port) {
			err = ivec_push(out, dir << 24, (dir << 24) | 0xffffff);
			continue;
		}
		for (size_t i = 0; i < r->n_ports && !err; i++) {
			const struct ms_portrange *pr = &r->ports[i];
			u128 base = (dir << 24) | ((u128)pr->proto << 16);

			err = ivec_push(out, base | pr->lo, base | pr->hi);
		}
	}
	ivec_normalize(out);
	return err;
}
