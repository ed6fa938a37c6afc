// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "autolabel.h"
#include "parse_ctx.h"

static void do_labels(struct pctx *c, const struct ynode *n, struct ms_workload *w)
{
	if (!pp_want(c, n, Y_MAP, "labels"))
		return;
	/* Room for every pair at once; a realloc per label added up. */
	if (n->n_kids >= 2) {
		w->labels = reallocarray(NULL, n->n_kids / 2, sizeof(*w->labels));
		if (!w->labels) {
			c->err = -ENOMEM;
			return;
		}
	}
	for (size_t i = 0; i + 1 < n->n_kids; i += 2) {
		const struct ynode *k = n->kids[i], *v = n->kids[i + 1];
		struct ms_label *l;

		if (k->skip || !pp_want(c, k, Y_SCALAR, "a label key") ||
		    !pp_want(c, v, Y_SCALAR, "a label value"))
			continue;
		if (!pp_printable(k->str) || !pp_printable(v->str)) {
			pp_perr(c, k->pos, "label '%s: %s' holds control characters", pp_disp(c, k),
				pp_disp(c, v));
			continue;
		}
		l = &w->labels[w->n_labels];
		l->key = pp_xstrdup(c, k->str);
		l->value = pp_xstrdup(c, v->str);
		w->n_labels++;
	}
}

/* host: {labels: {env: prod, loc: eu-west}}: labels every discovered
 * workload of this host carries. */
void pp_do_host(struct pctx *c, const struct ynode *n)
{
	static const char *const keys[] = { "labels" };
	struct ynode *fk[1], *fv[1];
	struct ms_workload tmp = { 0 };

	if (!pp_want(c, n, Y_MAP, "'host' (a mapping)"))
		return;
	pp_map_fields(c, n, "'host'", keys, 1, fk, fv);
	if (!fv[0])
		return;
	do_labels(c, fv[0], &tmp);
	c->p->host_labels = tmp.labels;
	c->p->n_host_labels = tmp.n_labels;
}

/* autolabels: {tcp/9000: app, ...}: roles of listening ports, ahead of
 * the shipped table, in file order. */
void pp_do_autolabels(struct pctx *c, const struct ynode *n)
{
	struct ms_policy *p = c->p;

	if (!pp_want(c, n, Y_MAP, "'autolabels' (a mapping of PROTO/PORT to a role)"))
		return;
	p->autolabels = n->n_kids >= 2 ? calloc(n->n_kids / 2, sizeof(*p->autolabels)) : NULL;
	if (n->n_kids >= 2 && !p->autolabels) {
		c->err = -ENOMEM;
		return;
	}
	for (size_t i = 0; i + 1 < n->n_kids; i += 2) {
		const struct ynode *k = n->kids[i], *v = n->kids[i + 1];
		struct ms_portrange pr;
		struct ms_autolabel *a;

		if (k->skip || !pp_want(c, k, Y_SCALAR, "a port such as tcp/5432") ||
		    !pp_parse_port_spec(c, k, &pr))
			continue;
		if (!strchr(k->str, '/')) {
			pp_perr(c, k->pos, "autolabels need a port: '%s/PORT', not '%s' alone",
				pp_disp(c, k), pp_disp(c, k));
			continue;
		}
		if (!pp_want_name(c, v, "role"))
			continue;
		a = &p->autolabels[p->n_autolabels++];
		a->proto = pr.proto;
		a->lo = pr.lo;
		a->hi = pr.hi;
		a->role = pp_xstrdup(c, v->str);
	}
}

/* discovery: true | false | {enabled: BOOL} */
void pp_do_discovery(struct pctx *c, const struct ynode *n)
{
	static const char *const bools[] = { "false", "true" };
	static const char *const keys[] = { "enabled" };
	struct ynode *fk[1], *fv[1];
	int i;

	if (n->kind == Y_MAP) {
		pp_map_fields(c, n, "'discovery'", keys, 1, fk, fv);
		if (!fv[0])
			return;
		n = fv[0];
	}
	if ((i = pp_want_enum(c, n, "discovery", bools, 2)) >= 0)
		c->p->discovery = i == 1;
}

/* The workloads discovery found, labelled by this policy, after the file's
 * own; a name the file already uses stays the file's. */
void pp_add_inventory(struct pctx *c, struct ms_pos at)
{
	const struct ms_parse_opts *o = c->o;

	for (size_t i = 0; o && i < o->n_inventory && !c->err; i++) {
		const struct ms_discovered *d = &o->inventory[i];
		struct ms_workload *w;
		bool taken = false;

		for (size_t j = 0; j < c->p->n_workloads && !taken; j++)
			taken = !strcmp(c->p->workloads[j].name, d->name);
		if (taken) {
			pp_pwarn(c, at,
				 "discovered workload '%s' has the name of one in the policy; the "
				 "policy's is kept",
				 d->name);
			continue;
		}
		w = ms_policy_add_workload(c->p);
		if (!w || ms_autolabel_workload(c->p, d, w))
			c->err = -ENOMEM;
	}
}

void pp_do_workloads(struct pctx *c, const struct ynode *n)
{
	static const char *const keys[] = { "labels", "addresses" };

	if (!pp_want(c, n, Y_MAP, "workloads"))
		return;
	for (size_t i = 0; i + 1 < n->n_kids && !c->err; i += 2) {
		const struct ynode *k = n->kids[i], *v = n->kids[i + 1];
		struct ynode *fk[2], *fv[2];
		struct ms_workload *w;

		if (k->skip || !pp_want_name(c, k, "workload name"))
			continue;
		w = ms_policy_add_workload(c->p);
		if (!w) {
			c->err = -ENOMEM;
			return;
		}
		w->name = pp_xstrdup(c, k->str);
		w->pos = k->pos;
		if (!pp_want(c, v, Y_MAP, "a workload"))
			continue;
		pp_map_fields(c, v, "a workload", keys, 2, fk, fv);
		if (fv[0])
			do_labels(c, fv[0], w);
		if (fv[1])
			pp_parse_addr_list(c, fv[1], "addresses", &w->addrs, &w->n_addrs);
		else
			pp_perr(c, k->pos, "workload '%s' has no 'addresses'", pp_disp(c, k));
	}
}

static int cmp_workload_name(const void *a, const void *b)
{
	const struct ms_workload *x = *(struct ms_workload *const *)a;
	const struct ms_workload *y = *(struct ms_workload *const *)b;

	return strcmp(x->name, y->name);
}

uint64_t pp_hash_str(uint64_t h, const char *s)
{
	/* FNV-1a: short names, no adversary worth more (a policy is trusted). */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	return h;
}

/* The first slot to probe for hash h. FNV's low bits alone cluster badly on
 * names that differ only in trailing digits (w1, w2, ...): mix first. */
size_t pp_itab_first(const struct itab *t, uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return (size_t)h & t->mask;
}

bool pp_itab_init(struct pctx *c, struct itab *t, size_t n)
{
	size_t cap = 16;

	while (cap < n * 2)
		cap *= 2;
	t->slot = pp_xcalloc(c, cap, sizeof(*t->slot));
	t->mask = cap - 1;
	return t->slot != NULL;
}

/* Workloads by name: slots index c->p->workloads. */
struct wl_index {
	struct itab tab;
};

void pp_index_workloads(struct pctx *c)
{
	const struct ms_policy *p = c->p;
	struct wl_index *x = pp_xcalloc(c, 1, sizeof(*x));

	if (!x)
		return;
	c->wl_idx = x;
	if (!pp_itab_init(c, &x->tab, p->n_workloads))
		return;
	for (size_t i = 0; i < p->n_workloads; i++) {
		const char *name = p->workloads[i].name;
		size_t j;

		if (!name)
			continue;
		for (j = pp_itab_first(&x->tab, pp_hash_str(HASH_INIT, name)); x->tab.slot[j];
		     j = (j + 1) & x->tab.mask)
			if (!strcmp(p->workloads[x->tab.slot[j] - 1].name, name))
				break;
		if (!x->tab.slot[j]) /* names are unique; keep the first anyway */
			x->tab.slot[j] = i + 1;
	}
}

void pp_free_wl_index(struct wl_index *x)
{
	if (x)
		free(x->tab.slot);
	free(x);
}

static struct ms_workload *lookup_workload(struct pctx *c, const char *name)
{
	const struct wl_index *x = c->wl_idx;
	struct ms_workload *w;

	if (!x || !x->tab.slot)
		return NULL;
	for (size_t j = pp_itab_first(&x->tab, pp_hash_str(HASH_INIT, name)); x->tab.slot[j];
	     j = (j + 1) & x->tab.mask) {
		w = &c->p->workloads[x->tab.slot[j] - 1];
		if (!strcmp(w->name, name))
			return w;
	}
	return NULL;
}

/* The names in sorted order, the order suggestions are drawn in. Only
 * needed for a mistake, so built on the first. */
static bool sort_workload_names(struct pctx *c)
{
	struct ms_policy *p = c->p;

	if (c->by_name)
		return true;
	c->by_name = pp_xcalloc(c, p->n_workloads + 1, sizeof(*c->by_name));
	if (!c->by_name)
		return false;
	for (size_t i = 0; i < p->n_workloads; i++)
		if (p->workloads[i].name)
			c->by_name[c->n_by_name++] = &p->workloads[i];
	qsort(c->by_name, c->n_by_name, sizeof(*c->by_name), cmp_workload_name);
	return true;
}

struct ms_workload *pp_find_workload(struct pctx *c, const struct ynode *n)
{
	struct ms_workload *hit = lookup_workload(c, n->str);
	const char **names;
	const char *s;

	if (hit || !sort_workload_names(c))
		return hit;
	names = pp_xcalloc(c, c->n_by_name + 1, sizeof(*names));
	if (!names)
		return NULL;
	for (size_t i = 0; i < c->n_by_name; i++)
		names[i] = c->by_name[i]->name;
	s = pp_suggest(n->str, names, c->n_by_name);
	if (pp_discovering(c))
		pp_pwarn(c, n->pos,
			 "no workload '%s' is known or discovered yet; it matches no address "
			 "until one is",
			 pp_disp(c, n));
	else if (s)
		pp_perr(c, n->pos, "unknown workload '%s'; did you mean '%s'?", pp_disp(c, n), s);
	else
		pp_perr(c, n->pos, "unknown workload '%s'", pp_disp(c, n));
	free(names);
	return NULL;
}

static size_t *label_slot(const struct label_index *x, const char *k, const char *v)
{
	size_t j = pp_itab_first(&x->tab, pp_hash_str(pp_hash_str(HASH_INIT, k) * 31 + 1, v));

	for (; x->tab.slot[j]; j = (j + 1) & x->tab.mask) {
		const struct label_ent *e = &x->ents[x->tab.slot[j] - 1];

		if (!strcmp(e->key, k) && !strcmp(e->value, v))
			break;
	}
	return &x->tab.slot[j];
}

const struct label_ent *pp_lookup_label(const struct label_index *x, const char *k, const char *v)
{
	size_t s = *label_slot(x, k, v);

	return s ? &x->ents[s - 1] : NULL;
}

void pp_free_label_index(struct label_index *x)
{
	if (x) {
		free(x->tab.slot);
		free(x->ents);
		free(x->ws);
	}
	free(x);
}

/* Build c->lbl_idx; false (c->err set) when out of memory. */
bool pp_index_labels(struct pctx *c)
{
	const struct ms_policy *p = c->p;
	struct label_index *x;
	size_t total = 0, *occ, o = 0;

	if (c->lbl_idx)
		return true;
	for (size_t w = 0; w < p->n_workloads; w++)
		total += p->workloads[w].n_labels;
	x = pp_xcalloc(c, 1, sizeof(*x));
	occ = pp_xcalloc(c, total + 1, sizeof(*occ)); /* entry of each label, in order */
	if (!x || !occ || !pp_itab_init(c, &x->tab, total) ||
	    !(x->ents = pp_xcalloc(c, total + 1, sizeof(*x->ents))) ||
	    !(x->ws = pp_xcalloc(c, total + 1, sizeof(*x->ws)))) {
		pp_free_label_index(x);
		free(occ);
		return false;
	}
	/* Count the workloads of each pair, then place them by prefix sums. */
	for (size_t w = 0; w < p->n_workloads; w++) {
		const struct ms_workload *wl = &p->workloads[w];

		for (size_t i = 0; i < wl->n_labels; i++, o++) {
			const struct ms_label *l = &wl->labels[i];
			size_t *slot = label_slot(x, l->key, l->value);

			if (!*slot) {
				x->ents[x->n_ents] = (struct label_ent){ l->key, l->value, 0, 0 };
				*slot = ++x->n_ents;
			}
			occ[o] = *slot - 1;
			x->ents[occ[o]].n++;
		}
	}
	for (size_t e = 0, sum = 0; e < x->n_ents; e++) {
		x->ents[e].first = sum;
		sum += x->ents[e].n;
		x->ents[e].n = 0;
	}
	o = 0;
	for (size_t w = 0; w < p->n_workloads; w++)
		for (size_t i = 0; i < p->workloads[w].n_labels; i++, o++) {
			struct label_ent *e = &x->ents[occ[o]];

			x->ws[e->first + e->n++] = w;
		}
	free(occ);
	c->lbl_idx = x;
	return true;
}

void pp_add_workload_addrs(struct pctx *c, struct ms_addr_term *t, const struct ms_workload *w)
{
	for (size_t i = 0; i < w->n_addrs; i++)
		if (ms_cidr_push(&t->cidrs, &t->n_cidrs, &w->addrs[i]))
			c->err = -ENOMEM;
}

bool pp_has_label(const struct ms_workload *w, const char *k, const char *v)
{
	for (size_t i = 0; i < w->n_labels; i++)
		if (w->labels[i].key && w->labels[i].value && !strcmp(w->labels[i].key, k) &&
		    !strcmp(w->labels[i].value, v))
			return true;
	return false;
}
