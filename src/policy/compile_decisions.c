// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <errno.h>
#include <stdlib.h>

#include "compile_int.h"

/* Work (class triples visited) allowed per decision entry the limit permits,
 * so that heavily shadowed policies fail clearly instead of compiling for
 * minutes. */
#define WORK_PER_ENTRY 16

/*
 * Open-addressing index of class triples into c->dec. A slot holds the
 * entry's index + 1 (0 = empty) and, above it, the upper half of the
 * triple's hash: a probe that meets another triple can mostly tell from the
 * slot alone, without a second cache miss into c->dec.
 */
struct dtab {
	uint64_t *slot;
	size_t cap;
};

static uint64_t dhash(uint32_t s, uint32_t d, uint32_t p)
{
	uint64_t h = ((uint64_t)s * 0x9e3779b97f4a7c15ULL) ^ ((uint64_t)d * 0xc2b2ae3d27d4eb4fULL) ^
		     ((uint64_t)p * 0x165667b19e3779f9ULL);

	return h ^ (h >> 29);
}

static uint64_t slot_of(uint64_t hash, size_t i)
{
	return (hash & ~(uint64_t)UINT32_MAX) | (uint32_t)(i + 1);
}

/* The entry a full slot points to. */
static size_t slot_entry(uint64_t v)
{
	return (uint32_t)v - 1;
}

static int dtab_grow(struct dtab *t, const struct ms_decision_entry *dec, size_t n)
{
	size_t ncap = t->cap ? t->cap * 2 : 1024;
	uint64_t *ns = calloc(ncap, sizeof(*ns));

	if (!ns)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		uint64_t hash = dhash(dec[i].src_class, dec[i].dst_class, dec[i].port_class);
		size_t h = hash & (ncap - 1);

		while (ns[h])
			h = (h + 1) & (ncap - 1);
		ns[h] = slot_of(hash, i);
	}
	free(t->slot);
	t->slot = ns;
	t->cap = ncap;
	return 0;
}

/* Slot of (s, d, p), whose hash is given: it points to the triple's entry,
 * or is 0 where the triple would go. */
static size_t dtab_find(const struct dtab *t, const struct ms_decision_entry *dec, uint64_t hash,
			uint32_t s, uint32_t d, uint32_t p)
{
	size_t h = hash & (t->cap - 1);

	for (uint64_t v; (v = t->slot[h]); h = (h + 1) & (t->cap - 1)) {
		const struct ms_decision_entry *e = &dec[slot_entry(v)];

		if ((v ^ hash) >> 32 == 0 && e->src_class == s && e->dst_class == d &&
		    e->port_class == p)
			break;
	}
	return h;
}

/* Filling state of the decision table. */
struct dfill {
	const struct ms_policy *p;
	const struct ms_limits *l;
	struct ms_compiled *c;
	struct dtab t;
	size_t cap;
	const uint32_t *rank; /* rule id -> position in (priority, file order) */
	char **errmsg;
};

/* Insert (s, d, p), whose hash is given, -> rule unless present; a present
 * entry keeps the rule that comes first. Returns 0 or -errno. */
static int dput(struct dfill *f, uint64_t hash, uint32_t s, uint32_t d, uint32_t p,
		uint32_t rule_id)
{
	struct ms_compiled *c = f->c;
	size_t h;
	int err;

	if (c->n_dec * 2 >= f->t.cap && (err = dtab_grow(&f->t, c->dec, c->n_dec)))
		return err;
	h = dtab_find(&f->t, c->dec, hash, s, d, p);
	if (f->t.slot[h]) {
		struct ms_decision_entry *e = &c->dec[slot_entry(f->t.slot[h])];

		if (f->rank[rule_id] < f->rank[e->rule_id]) {
			e->rule_id = rule_id;
			e->action = f->p->rules[rule_id - 1].action;
		}
		return 0;
	}
	if (c->n_dec >= f->l->max_decision_entries) {
		const char *name = f->p->rules[rule_id - 1].name;

		return mc_set_err(
			f->errmsg,
			"decision table overflow: more than %u entries needed when adding "
			"rule '%s'; "
			"rules combining broad selectors with many ports multiply, raise "
			"the limit or split the policy",
			f->l->max_decision_entries, name ? name : "?");
	}
	if (c->n_dec == f->cap) {
		size_t ncap = f->cap ? f->cap * 2 : 256;
		struct ms_decision_entry *nv = realloc(c->dec, ncap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		c->dec = nv;
		f->cap = ncap;
	}
	c->dec[c->n_dec] =
		(struct ms_decision_entry){ s, d, p, rule_id, 0, f->p->rules[rule_id - 1].action };
	f->t.slot[h] = slot_of(hash, c->n_dec++);
	return 0;
}

/*
 * Triples wait DPUT_AHEAD steps between the prefetch of their index slot and
 * their insert. The index of a large policy is far larger than the caches
 * and its slots are visited in hash order, so inserting one triple at a time
 * waited for each slot's cache line in turn (a fifth of the compile of
 * 100,000 rules).
 */
#define DPUT_AHEAD 16

struct dqueue {
	struct {
		uint64_t hash;
		uint32_t s, d, p, rule_id;
	} v[DPUT_AHEAD];
	unsigned int head, n;
};

static int dq_pop(struct dfill *f, struct dqueue *q)
{
	unsigned int i = q->head;

	q->head = (q->head + 1) % DPUT_AHEAD;
	q->n--;
	return dput(f, q->v[i].hash, q->v[i].s, q->v[i].d, q->v[i].p, q->v[i].rule_id);
}

static int dq_push(struct dfill *f, struct dqueue *q, uint32_t s, uint32_t d, uint32_t p,
		   uint32_t rule_id)
{
	int err = q->n == DPUT_AHEAD ? dq_pop(f, q) : 0;
	unsigned int i = (q->head + q->n++) % DPUT_AHEAD;

	q->v[i].hash = dhash(s, d, p);
	q->v[i].s = s;
	q->v[i].d = d;
	q->v[i].p = p;
	q->v[i].rule_id = rule_id;
	__builtin_prefetch(&f->t.slot[q->v[i].hash & (f->t.cap - 1)]);
	return err;
}

/* Insert what waits, in order; the first error stops, as without the queue. */
static int dq_flush(struct dfill *f, struct dqueue *q)
{
	int err = 0;

	while (q->n && !err)
		err = dq_pop(f, q);
	return err;
}

/* Rule id of (s, d, p) if present, else 0. */
static uint32_t dget(const struct dfill *f, uint32_t s, uint32_t d, uint32_t p)
{
	size_t h = dtab_find(&f->t, f->c->dec, dhash(s, d, p), s, d, p);

	return f->t.slot[h] ? f->c->dec[slot_entry(f->t.slot[h])].rule_id : 0;
}

/*
 * Wildcards. A rule whose `from` (or `to`) is any is stored once with
 * MS_CLASS_ANY there instead of once per class. The classifier looks up
 * (s,d,p); on a miss it looks up (*,d,p) and (s,*,p) and takes the one of
 * lower rank (position in priority order); if neither exists, (*,*,p).
 * For that to give the first matching rule, every exact entry must hold the
 * best of itself and the wildcard entries that apply to it, and the two
 * one-sided wildcard entries the best of themselves and (*,*,p). Comparing
 * ranks at run time, rather than adding an exact entry wherever a (*,d,p)
 * and an (s,*,p) entry meet, keeps the table linear in such rules.
 */
static bool bit_get(const uint64_t *b, uint32_t i)
{
	return b[i / 64] >> (i % 64) & 1;
}

static void bit_set(uint64_t *b, uint32_t i)
{
	b[i / 64] |= 1ULL << (i % 64);
}

/* Filled by fill_decisions: the classes that any wildcard entry names, so
 * that resolve_wildcards looks up only the entries that can exist. */
struct wild_seen {
	uint64_t *by_dst;  /* (*, d, p) exists for some p */
	uint64_t *by_src;  /* (s, *, p) exists for some p */
	uint64_t *by_port; /* (*, *, p) exists */
};

static int wild_seen_init(struct wild_seen *w, const struct dfill *f)
{
	const struct ms_compiled *c = f->c;

	w->by_dst = calloc(c->n_dst_classes / 64 + 1, sizeof(uint64_t));
	w->by_src = calloc(c->n_src_classes / 64 + 1, sizeof(uint64_t));
	w->by_port = calloc(c->n_port_classes / 64 + 1, sizeof(uint64_t));
	if (!w->by_dst || !w->by_src || !w->by_port)
		return -ENOMEM;
	for (size_t i = 0; i < c->n_dec; i++) {
		const struct ms_decision_entry *e = &c->dec[i];
		bool as = e->src_class == MS_CLASS_ANY, ad = e->dst_class == MS_CLASS_ANY;

		if (as && ad)
			bit_set(w->by_port, e->port_class);
		else if (as)
			bit_set(w->by_dst, e->dst_class);
		else if (ad)
			bit_set(w->by_src, e->src_class);
	}
	return 0;
}

static void wild_seen_free(struct wild_seen *w)
{
	free(w->by_dst);
	free(w->by_src);
	free(w->by_port);
}

static int resolve_wildcards(struct dfill *f)
{
	struct ms_compiled *c = f->c;
	struct wild_seen w;
	int err = wild_seen_init(&w, f);

	if (err) {
		wild_seen_free(&w);
		return err;
	}
	for (size_t i = 0; i < c->n_dec; i++) {
		struct ms_decision_entry *e = &c->dec[i];
		uint32_t cand[3] = { 0, 0, 0 };

		if (e->src_class != MS_CLASS_ANY && e->dst_class != MS_CLASS_ANY) {
			if (bit_get(w.by_dst, e->dst_class))
				cand[0] = dget(f, MS_CLASS_ANY, e->dst_class, e->port_class);
			if (bit_get(w.by_src, e->src_class))
				cand[1] = dget(f, e->src_class, MS_CLASS_ANY, e->port_class);
		}
		if ((e->src_class != MS_CLASS_ANY || e->dst_class != MS_CLASS_ANY) &&
		    bit_get(w.by_port, e->port_class))
			cand[2] = dget(f, MS_CLASS_ANY, MS_CLASS_ANY, e->port_class);
		for (int k = 0; k < 3; k++)
			if (cand[k] && f->rank[cand[k]] < f->rank[e->rule_id]) {
				e->rule_id = cand[k];
				e->action = f->p->rules[cand[k] - 1].action;
			}
	}
	/* Ranks last: the folding above reads the entries' original rules. */
	for (size_t i = 0; i < c->n_dec; i++)
		c->dec[i].rank = f->rank[c->dec[i].rule_id];
	wild_seen_free(&w);
	return 0;
}

/*
 * Size the entries and their index once for at most as many entries as
 * there are class triples to visit (bounded by the limit), instead of
 * doubling both from small, which rehashed every entry about twice.
 */
static int dfill_presize(struct dfill *f, const struct dim dims[3])
{
	uint64_t est = 0;
	size_t cap = 1024;

	for (size_t r = 0; r < f->p->n_rules && est < f->l->max_decision_entries; r++)
		est += (uint64_t)(dims[0].any[r] ? 1 : dims[0].rule_n_classes[r]) *
		       (dims[1].any[r] ? 1 : dims[1].rule_n_classes[r]) * dims[2].rule_n_classes[r];
	if (est > f->l->max_decision_entries)
		est = f->l->max_decision_entries;
	while (cap <= 2 * est)
		cap <<= 1;
	f->t.slot = calloc(cap, sizeof(*f->t.slot));
	f->c->dec = malloc((est ? est : 1) * sizeof(*f->c->dec));
	if (!f->t.slot || !f->c->dec)
		return -ENOMEM;
	f->t.cap = cap;
	f->cap = est ? est : 1;
	return 0;
}

int mc_fill_decisions(const struct ms_policy *p, const struct ms_limits *l, struct dim dims[3],
		      struct ms_compiled *c, char **errmsg)
{
	uint64_t work = 0, work_limit = (uint64_t)l->max_decision_entries * WORK_PER_ENTRY;
	uint32_t *ord = ms_policy_order(p), *rank = calloc(p->n_rules + 1, sizeof(*rank));
	static const uint32_t any_class = MS_CLASS_ANY;
	struct dfill f = { .p = p, .l = l, .c = c, .errmsg = errmsg };
	struct dqueue q = { .n = 0 };
	int err = 0;

	if (!ord || !rank) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < p->n_rules; i++)
		rank[ord[i]] = (uint32_t)i;
	f.rank = rank;
	err = dfill_presize(&f, dims);
	for (size_t oi = 0; oi < p->n_rules && !err; oi++) {
		uint32_t id = ord[oi];
		size_t r = id - 1;
		bool as = dims[0].any[r], ad = dims[1].any[r];
		const uint32_t *S = as ? &any_class : dims[0].rule_classes[r];
		const uint32_t *D = ad ? &any_class : dims[1].rule_classes[r];
		const uint32_t *P = dims[2].rule_classes[r];
		uint32_t ns = as ? 1 : dims[0].rule_n_classes[r];
		uint32_t nd = ad ? 1 : dims[1].rule_n_classes[r];
		uint32_t np = dims[2].rule_n_classes[r];

		work += (uint64_t)ns * nd * np;
		/* The triples of the rules before come first, their errors too. */
		if (work > work_limit && !(err = dq_flush(&f, &q))) {
			err = mc_set_err(
				errmsg,
				"policy too complex to compile: rule '%s' brings the class "
				"triples to examine past %llu "
				"(%u src x %u dst x %u port classes); narrow broad selectors "
				"or port ranges, or raise the decision table limit",
				p->rules[r].name ? p->rules[r].name : "?",
				(unsigned long long)work_limit, ns, nd, np);
			break;
		}
		for (uint32_t a = 0; a < ns && !err; a++)
			for (uint32_t b = 0; b < nd && !err; b++)
				for (uint32_t k = 0; k < np && !err; k++)
					err = dq_push(&f, &q, S[a], D[b], P[k], id);
	}
	if (!err)
		err = dq_flush(&f, &q);
	if (!err)
		err = resolve_wildcards(&f);
	for (size_t i = 0; !err && i < c->n_dec; i++) {
		bool as = c->dec[i].src_class == MS_CLASS_ANY,
		     ad = c->dec[i].dst_class == MS_CLASS_ANY;

		c->wildcards |= (uint8_t)(as && !ad   ? MS_WILD_SRC
					  : !as && ad ? MS_WILD_DST
					  : as && ad  ? MS_WILD_BOTH
						      : 0);
	}
out:
	free(f.t.slot);
	free(ord);
	free(rank);
	return err;
}
