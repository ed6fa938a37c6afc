// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <errno.h>
#include <stdlib.h>

#include "policy_lint.h"

static bool cidr_in(const struct ms_cidr *inner, const struct ms_cidr *outer)
{
	return inner->plen >= outer->plen &&
	       ms_cidr_contains_af(outer, inner->addr, ms_cidr_is_v4(inner));
}

static bool cidr_in_any(const struct ms_cidr *c, const struct ms_cidr *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (cidr_in(c, &v[i]))
			return true;
	return false;
}

/*
 * Term u covers term t if t's addresses lie in u's cidrs and none of them is
 * in one of u's excepts. Two CIDRs are nested or disjoint, so an except e of
 * u meets a cidr c of t exactly in the smaller of the two; that part must be
 * excluded from t by one of t's own excepts.
 */
static bool term_covers(const struct ms_addr_term *u, const struct ms_addr_term *t)
{
	for (size_t i = 0; i < t->n_cidrs; i++)
		if (!cidr_in_any(&t->cidrs[i], u->cidrs, u->n_cidrs))
			return false;
	for (size_t j = 0; j < u->n_except; j++) {
		const struct ms_cidr *e = &u->except[j];

		for (size_t i = 0; i < t->n_cidrs; i++) {
			const struct ms_cidr *c = &t->cidrs[i];
			const struct ms_cidr *meet;

			if (!cidr_in(e, c) && !cidr_in(c, e))
				continue;
			meet = e->plen >= c->plen ? e : c;
			if (!cidr_in_any(meet, t->except, t->n_except))
				return false;
		}
	}
	return true;
}

static bool addrset_covers(const struct ms_addrset *a, const struct ms_addrset *b)
{
	if (a->any)
		return true;
	if (b->any)
		return false;
	for (size_t i = 0; i < b->n_terms; i++) {
		bool found = false;

		for (size_t j = 0; j < a->n_terms && !found; j++)
			found = term_covers(&a->terms[j], &b->terms[i]);
		if (!found)
			return false;
	}
	return true;
}

static bool ports_cover(const struct ms_rule *a, const struct ms_rule *b)
{
	if (a->any_port)
		return true;
	if (b->any_port)
		return false;
	for (size_t i = 0; i < b->n_ports; i++) {
		const struct ms_portrange *q = &b->ports[i];
		bool found = false;

		for (size_t j = 0; j < a->n_ports && !found; j++) {
			const struct ms_portrange *p = &a->ports[j];

			found = p->proto == q->proto && p->lo <= q->lo && p->hi >= q->hi;
		}
		if (!found)
			return false;
	}
	return true;
}

bool ms_rule_covers(const struct ms_rule *r1, const struct ms_rule *r2)
{
	return (r1->dirmask & r2->dirmask) == r2->dirmask && ports_cover(r1, r2) &&
	       addrset_covers(&r1->from, &r2->from) && addrset_covers(&r1->to, &r2->to);
}

int ms_policy_lint(const struct ms_policy *p, const char *file, struct ms_diag *d)
{
	uint32_t *ord;
	int err = 0;

	if (p->n_rules > MS_LINT_MAX_RULES)
		return 0;
	ord = ms_policy_order(p);
	if (!ord)
		return -ENOMEM;
	for (size_t i = 1; i < p->n_rules && !err; i++) {
		const struct ms_rule *later = &p->rules[ord[i] - 1];

		for (size_t j = 0; j < i; j++) {
			const struct ms_rule *first = &p->rules[ord[j] - 1];

			if (!ms_rule_covers(first, later))
				continue;
			if (first->priority != later->priority)
				err = ms_diag_add(d, file, later->pos, false,
						  "rule '%s' can never match: rule '%s' (line %u, "
						  "priority %d) is evaluated first and matches "
						  "every flow it would",
						  later->name, first->name, first->pos.line,
						  first->priority);
			else
				err = ms_diag_add(d, file, later->pos, false,
						  "rule '%s' can never match: rule '%s' (line %u) "
						  "comes first and matches every flow it would",
						  later->name, first->name, first->pos.line);
			break;
		}
	}
	free(ord);
	return err;
}
