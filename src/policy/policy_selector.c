// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <errno.h>

#include "parse_ctx.h"

enum { S_CIDR, S_EXCEPT, S_WORKLOAD, S_WORKLOADS, S_LABELS, S_N };
static const char *const sel_keys[] = { "cidr", "except", "workload", "workloads", "labels" };

static void sel_cidr(struct pctx *c, struct ms_addr_term *t, const struct ynode *cidr,
		     const struct ynode *except)
{
	bool ok = pp_parse_addr_list(c, cidr, "cidr", &t->cidrs, &t->n_cidrs);

	if (!except)
		return;
	if (!pp_parse_addr_list(c, except, "except", &t->except, &t->n_except) || !ok)
		return;
	/* An except outside every cidr excludes nothing: almost surely a typo. */
	for (size_t i = 0; i < t->n_except; i++) {
		const struct ms_cidr *e = &t->except[i];
		bool inside = false;

		bool equal = false;

		for (size_t j = 0; j < t->n_cidrs && !inside; j++) {
			inside = e->plen >= t->cidrs[j].plen &&
				 ms_cidr_contains_af(&t->cidrs[j], e->addr, ms_cidr_is_v4(e));
			equal = inside && e->plen == t->cidrs[j].plen;
		}
		if (!inside)
			pp_perr(c, except->kids[i]->pos,
				"except '%s' is not inside any cidr of this selector",
				pp_disp(c, except->kids[i]));
		else if (equal)
			pp_pwarn(
				c, except->kids[i]->pos,
				"except '%s' is its cidr whole: it removes every address that cidr "
				"adds",
				pp_disp(c, except->kids[i]));
	}
}

static void sel_labels(struct pctx *c, struct ms_addr_term *t, const struct ynode *n)
{
	const struct ms_policy *p = c->p;
	size_t matched = 0;
	bool ok = true;

	if (!pp_want(c, n, Y_MAP, "labels"))
		return;
	if (!n->n_kids) {
		pp_perr(c, n->pos, "labels selector is empty; name at least one label");
		return;
	}
	for (size_t i = 0; i + 1 < n->n_kids; i += 2)
		if (!n->kids[i]->skip && (!pp_want(c, n->kids[i], Y_SCALAR, "a label key") ||
					  !pp_want(c, n->kids[i + 1], Y_SCALAR, "a label value")))
			ok = false;
	if (!ok || !pp_index_labels(c))
		return;
	/* Only the workloads carrying the rarest pair can match them all. The
	 * pairs include those of keys flagged as duplicates (all must hold); a
	 * key or value that is no string (reported already) matches nothing. */
	const struct label_ent *rarest = NULL;

	for (size_t i = 0; i + 1 < n->n_kids; i += 2) {
		const char *k = n->kids[i]->str, *v = n->kids[i + 1]->str;
		const struct label_ent *e = k && v ? pp_lookup_label(c->lbl_idx, k, v) : NULL;

		if (!e) {
			rarest = NULL;
			break;
		}
		if (!rarest || e->n < rarest->n)
			rarest = e;
	}
	for (size_t j = 0; rarest && j < rarest->n; j++) {
		const struct ms_workload *w = &p->workloads[c->lbl_idx->ws[rarest->first + j]];
		bool all = true;

		for (size_t i = 0; i + 1 < n->n_kids && all; i += 2)
			all = pp_has_label(w, n->kids[i]->str, n->kids[i + 1]->str);
		if (all) {
			pp_add_workload_addrs(c, t, w);
			matched++;
		}
	}
	if (!matched && pp_discovering(c))
		pp_pwarn(c, n->pos,
			 "labels selector matches no workload yet; it matches no address "
			 "until a discovered one carries these labels");
	else if (!matched)
		pp_perr(c, n->pos, "labels selector matches no workload");
}

static void do_selector_map(struct pctx *c, const struct ynode *m, struct ms_addrset *s)
{
	struct ynode *k[S_N], *v[S_N];
	struct ms_addr_term *t;
	const struct ynode *first = NULL;
	int kind = -1, nkinds = 0;

	pp_map_fields(c, m, "a selector", sel_keys, S_N, k, v);
	for (size_t i = 0; i + 1 < m->n_kids; i += 2) {
		int idx;

		if (m->kids[i]->skip)
			continue;
		idx = pp_find_str(m->kids[i]->str, sel_keys, S_N);
		if (idx < 0 || idx == S_EXCEPT)
			continue;
		if (++nkinds == 1) {
			first = m->kids[i];
			kind = idx;
		} else {
			pp_perr(c, m->kids[i]->pos,
				"a selector holds exactly one of cidr, workload, workloads or "
				"labels, "
				"not both '%s' and '%s'; use a list of selectors for a union",
				first->str, m->kids[i]->str);
		}
	}
	if (!nkinds) {
		pp_perr(c, m->pos, "a selector needs one of cidr, workload, workloads or labels%s",
			k[S_EXCEPT] ? " ('except' only refines 'cidr')" : "");
		return;
	}
	if (k[S_EXCEPT] && kind != S_CIDR && !k[S_CIDR])
		pp_perr(c, k[S_EXCEPT]->pos, "'except' only refines 'cidr'");
	if (nkinds > 1)
		return;
	t = ms_addrset_add_term(s);
	if (!t) {
		c->err = -ENOMEM;
		return;
	}
	switch (kind) {
	case S_CIDR:
		sel_cidr(c, t, v[S_CIDR], v[S_EXCEPT]);
		break;
	case S_WORKLOAD: {
		const struct ms_workload *w;

		if (pp_want(c, v[S_WORKLOAD], Y_SCALAR, "workload") &&
		    (w = pp_find_workload(c, v[S_WORKLOAD])))
			pp_add_workload_addrs(c, t, w);
		break;
	}
	case S_WORKLOADS: {
		const struct ynode *n = v[S_WORKLOADS];

		if (!pp_want(c, n, Y_SEQ, "workloads"))
			break;
		if (!n->n_kids)
			pp_perr(c, n->pos, "workloads is an empty list");
		for (size_t i = 0; i < n->n_kids; i++) {
			const struct ms_workload *w;

			if (pp_want(c, n->kids[i], Y_SCALAR, "a workload name") &&
			    (w = pp_find_workload(c, n->kids[i])))
				pp_add_workload_addrs(c, t, w);
		}
		break;
	}
	case S_LABELS:
		sel_labels(c, t, v[S_LABELS]);
		break;
	}
}

void pp_do_selector(struct pctx *c, const struct ynode *n, const char *what, struct ms_addrset *s)
{
	if (n->kind == Y_BAD)
		return;
	s->any = false;
	if (pp_is_null(n)) {
		pp_perr(c, n->pos, "'%s' is empty; omit it to match any address", what);
		return;
	}
	if (n->kind == Y_MAP) {
		do_selector_map(c, n, s);
		return;
	}
	if (n->kind != Y_SEQ) {
		pp_perr(c, n->pos, "'%s' must be a selector mapping or a list of them, not '%s'",
			what, pp_disp(c, n));
		return;
	}
	if (!n->n_kids) {
		pp_perr(c, n->pos,
			"'%s' is an empty list, which matches nothing; omit it to "
			"match any address",
			what);
		return;
	}
	for (size_t i = 0; i < n->n_kids && !c->err; i++)
		if (pp_want(c, n->kids[i], Y_MAP, "a selector"))
			do_selector_map(c, n->kids[i], s);
}
