// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <stdlib.h>

#include "compile_int.h"

static bool prefix_match(u128 prefix, unsigned int plen, unsigned int width, u128 v)
{
	u128 host;

	if (plen == 0)
		return true;
	host = plen == width ? 0 : ((((u128)1) << (width - plen)) - 1);
	return (prefix & ~host) == (v & ~host);
}

static int cmp_dec(const void *a, const void *b)
{
	const struct ms_decision_entry *x = a, *y = b;

	if (x->src_class != y->src_class)
		return x->src_class < y->src_class ? -1 : 1;
	if (x->dst_class != y->dst_class)
		return x->dst_class < y->dst_class ? -1 : 1;
	if (x->port_class != y->port_class)
		return x->port_class < y->port_class ? -1 : 1;
	return 0;
}

void ms_compiled_index(struct ms_compiled *c)
{
	if (c->n_dec)
		qsort(c->dec, c->n_dec, sizeof(*c->dec), cmp_dec);
	c->dec_sorted = true;
}

static const struct ms_decision_entry *find_dec(const struct ms_compiled *c, uint32_t s, uint32_t d,
						uint32_t p)
{
	if (c->dec_sorted) {
		struct ms_decision_entry key = { .src_class = s, .dst_class = d, .port_class = p };

		return c->n_dec ? bsearch(&key, c->dec, c->n_dec, sizeof(*c->dec), cmp_dec) : NULL;
	}
	for (size_t i = 0; i < c->n_dec; i++)
		if (c->dec[i].src_class == s && c->dec[i].dst_class == d &&
		    c->dec[i].port_class == p)
			return &c->dec[i];
	return NULL;
}

uint32_t ms_compiled_eval(const struct ms_compiled *c, const struct ms_flow *f, uint8_t *action)
{
	u128 s = addr_to_u128(f->src), d = addr_to_u128(f->dst);
	uint8_t fam = ms_flow_is_v4(f) ? MS_FAMILY_IPV4 : MS_FAMILY_IPV6;
	int best;
	uint32_t sc = 0, dc = 0, pc = 0;

	best = -1;
	for (size_t i = 0; i < c->n_src; i++)
		if (c->src[i].family == fam && (int)c->src[i].plen > best &&
		    prefix_match(addr_to_u128(c->src[i].addr), c->src[i].plen, 128, s)) {
			best = c->src[i].plen;
			sc = c->src[i].cls;
		}
	best = -1;
	for (size_t i = 0; i < c->n_dst; i++)
		if (c->dst[i].family == fam && (int)c->dst[i].plen > best &&
		    prefix_match(addr_to_u128(c->dst[i].addr), c->dst[i].plen, 128, d)) {
			best = c->dst[i].plen;
			dc = c->dst[i].cls;
		}
	pc = c->port_table[ms_port_index(f->dir, f->proto, f->port)];
	const struct ms_decision_entry *hit = find_dec(c, sc, dc, pc), *a, *b;

	if (!hit) {
		a = find_dec(c, MS_CLASS_ANY, dc, pc);
		b = find_dec(c, sc, MS_CLASS_ANY, pc);
		hit = a && (!b || a->rank < b->rank) ? a : b;
	}
	if (!hit)
		hit = find_dec(c, MS_CLASS_ANY, MS_CLASS_ANY, pc);
	if (hit) {
		*action = hit->action;
		return hit->rule_id;
	}
	*action = c->default_action;
	return MS_RULE_DEFAULT;
}
