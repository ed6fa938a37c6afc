// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy_compile.h"

typedef unsigned __int128 u128;

#define U128_MAX (~(u128)0)
#define PORT_SPACE_MAX ((u128)0x01ffffff) /* dir (0..1) << 24 | proto << 16 | port */

/* Work (class triples visited) allowed per decision entry the limit permits,
 * so that heavily shadowed policies fail clearly instead of compiling for
 * minutes. */
#define WORK_PER_ENTRY 16

struct ival {
	u128 lo, hi; /* inclusive */
};

struct ivec {
	struct ival *v;
	size_t n, cap;
};

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

static u128 addr_to_u128(const uint8_t *a)
{
	u128 v = 0;

	for (int i = 0; i < 16; i++)
		v = (v << 8) | a[i];
	return v;
}

static void u128_to_addr(u128 v, uint8_t *a)
{
	for (int i = 15; i >= 0; i--) {
		a[i] = (uint8_t)v;
		v >>= 8;
	}
}

static struct ival cidr_ival(const struct ms_cidr *c)
{
	u128 lo = addr_to_u128(c->addr);
	u128 host = c->plen == 0 ? U128_MAX : (((u128)1 << (128 - c->plen)) - 1);
	struct ival r = { lo & ~host, (lo & ~host) | host };

	return r;
}

/*
 * The address dimensions are two lines each, one per family, whose classes
 * are numbered together: IPv4 as 32-bit values, IPv6 as 128-bit ones. An
 * IPv6 prefix covers IPv6 addresses only, ::ffff:0:0/96 (IPv4-mapped, as
 * written) included, and an IPv4 prefix IPv4 addresses only.
 */
#define V4_SPACE_MAX ((u128)0xffffffffu)

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

static int addrset_ivals(const struct ms_addrset *s, bool v4, struct ivec *out)
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

static int ports_ivals(const struct ms_rule *r, struct ivec *out)
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

/*
 * One dimension (src addresses, dst addresses or ports): the space cut into
 * segments at every interval boundary of every rule's set, and segments
 * grouped into classes of equal membership.
 */
struct dim {
	u128 space_max;
	struct ivec *sets; /* per rule */
	bool *any;	   /* per rule: covers the whole space, sets[r] empty */
	size_t n_sets;
	u128 *starts; /* segment i = [starts[i], starts[i+1] - 1] */
	size_t n_seg;
	uint32_t *seg_class;
	uint32_t n_class;
	/* per interval (rule r's i-th is number ival_off[r] + i): the segment
	 * its lo starts, and the one after its hi (n_seg past the end) */
	size_t *ival_off;
	uint32_t *seg_lo, *seg_end;
	/* per rule: the classes its set covers */
	uint32_t **rule_classes;
	uint32_t *rule_n_classes;
};

static size_t seg_index(const struct dim *d, u128 v)
{
	size_t lo = 0, hi = d->n_seg; /* first start > v, minus one */

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (d->starts[mid] <= v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo - 1;
}

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* An interval boundary: its value and which interval's lo (2 g) or
 * hi + 1 (2 g + 1) it is; EP_ORIGIN for the start of the space. */
struct ep {
	u128 v;
	uint32_t tag;
};
#define EP_ORIGIN UINT32_MAX

/*
 * Sort boundaries by value: LSD radix sort on bytes, skipping the bytes in
 * which all values agree (the upper 12 of IPv4-mapped addresses, all but
 * the low 4 of the port space), so typically 3-4 passes of one scan each
 * instead of a comparison sort with a callback. Returns the sorted array
 * (a or tmp).
 */
static struct ep *ep_sort(struct ep *a, struct ep *tmp, size_t n, size_t (*cnt)[256])
{
	for (size_t i = 0; i < n; i++)
		for (int b = 0; b < 16; b++)
			cnt[b][(uint8_t)(a[i].v >> (8 * b))]++;
	for (int b = 0; b < 16; b++) {
		size_t sum = 0;
		bool trivial = false;

		for (int x = 0; x < 256; x++)
			trivial |= cnt[b][x] == n;
		if (trivial)
			continue;
		for (int x = 0; x < 256; x++) {
			size_t c = cnt[b][x];

			cnt[b][x] = sum;
			sum += c;
		}
		for (size_t i = 0; i < n; i++)
			tmp[cnt[b][(uint8_t)(a[i].v >> (8 * b))]++] = a[i];
		struct ep *t = a;

		a = tmp;
		tmp = t;
	}
	return a;
}

/*
 * Segments: the space cut at every interval's lo and hi + 1, each
 * interval's first and next segment recorded as the boundaries are
 * numbered, so that nothing needs a binary search afterwards.
 */
static int dim_segments(struct dim *d)
{
	size_t m = 0, nb = 1;
	struct ep *a, *tmp, *sorted;
	size_t(*cnt)[256];
	int err = -ENOMEM;

	d->ival_off = malloc((d->n_sets + 1) * sizeof(*d->ival_off));
	if (!d->ival_off)
		return -ENOMEM;
	for (size_t r = 0; r < d->n_sets; r++) {
		d->ival_off[r] = m;
		m += d->sets[r].n;
	}
	d->ival_off[d->n_sets] = m;
	d->seg_lo = malloc((m ? m : 1) * sizeof(*d->seg_lo));
	d->seg_end = malloc((m ? m : 1) * sizeof(*d->seg_end));
	a = malloc((2 * m + 1) * sizeof(*a));
	tmp = malloc((2 * m + 1) * sizeof(*tmp));
	cnt = calloc(16, sizeof(*cnt));
	if (!d->seg_lo || !d->seg_end || !a || !tmp || !cnt)
		goto out;
	a[0] = (struct ep){ 0, EP_ORIGIN };
	for (size_t r = 0; r < d->n_sets; r++) {
		for (size_t i = 0; i < d->sets[r].n; i++) {
			const struct ival *iv = &d->sets[r].v[i];
			uint32_t g = (uint32_t)(d->ival_off[r] + i);

			a[nb++] = (struct ep){ iv->lo, 2 * g };
			if (iv->hi < d->space_max)
				a[nb++] = (struct ep){ iv->hi + 1, 2 * g + 1 };
			else
				d->seg_end[g] = UINT32_MAX; /* n_seg, once known */
		}
	}
	sorted = ep_sort(a, tmp, nb, cnt);
	d->starts = malloc(nb * sizeof(*d->starts));
	if (!d->starts)
		goto out;
	d->n_seg = 0;
	for (size_t i = 0; i < nb; i++) {
		const struct ep *e = &sorted[i];

		if (!d->n_seg || e->v != d->starts[d->n_seg - 1])
			d->starts[d->n_seg++] = e->v;
		if (e->tag != EP_ORIGIN)
			(e->tag & 1 ? d->seg_end : d->seg_lo)[e->tag >> 1] = (uint32_t)d->n_seg - 1;
	}
	for (size_t g = 0; g < m; g++)
		if (d->seg_end[g] == UINT32_MAX)
			d->seg_end[g] = (uint32_t)d->n_seg;
	err = 0;
out:
	free(a);
	free(tmp);
	free(cnt);
	return err;
}

/*
 * Segments get the XOR of a random 128-bit key per set covering them
 * (Zobrist hashing), built with a difference array in O(intervals +
 * segments); equal hashes mean equal membership except with probability
 * about segments^2 / 2^128. The lines of one dimension (an address
 * dimension has one per family) share the keys and one numbering of
 * classes, so that a class is a set of addresses of either family.
 */
static u128 *dim_hash(const struct dim *d)
{
	uint64_t seed = 0x6d6963726f736567ULL; /* fixed: compiles are reproducible */
	u128 *hash = calloc(d->n_seg + 1, sizeof(*hash));

	if (!hash)
		return NULL;
	for (size_t r = 0; r < d->n_sets; r++) {
		u128 key = ((u128)splitmix64(&seed) << 64) | splitmix64(&seed);

		for (size_t g = d->ival_off[r]; g < d->ival_off[r + 1]; g++) {
			hash[d->seg_lo[g]] ^= key;
			hash[d->seg_end[g]] ^= key; /* n_seg: past the end, unread */
		}
	}
	for (size_t i = 1; i < d->n_seg; i++)
		hash[i] ^= hash[i - 1];
	return hash;
}

static int dim_classify_lines(struct dim **ds, int nd)
{
	size_t tcap, total = 0;
	u128 *hash[2] = { NULL, NULL };
	uint32_t *tab = NULL, n_class = 0;
	/* the first segment of each class: line and segment index + 1 */
	uint32_t *first_line = NULL;
	int err = 0;

	for (int l = 0; l < nd && !err; l++)
		err = dim_segments(ds[l]);
	if (err)
		return err;
	err = -ENOMEM;
	for (int l = 0; l < nd; l++) {
		total += ds[l]->n_seg;
		hash[l] = dim_hash(ds[l]);
		ds[l]->seg_class = malloc((ds[l]->n_seg ? ds[l]->n_seg : 1) * sizeof(uint32_t));
		if (!hash[l] || !ds[l]->seg_class)
			goto out;
	}
	for (tcap = 16; tcap < 2 * total; tcap <<= 1)
		;
	tab = calloc(tcap, sizeof(*tab));
	first_line = calloc(tcap, sizeof(*first_line));
	if (!tab || !first_line)
		goto out;
	for (int l = 0; l < nd; l++) {
		struct dim *d = ds[l];

		for (size_t i = 0; i < d->n_seg; i++) {
			u128 hv = hash[l][i];
			size_t h = (size_t)(hv ^ (hv >> 64)) & (tcap - 1);

			while (tab[h] && hash[first_line[h]][tab[h] - 1] != hv)
				h = (h + 1) & (tcap - 1);
			if (tab[h]) {
				d->seg_class[i] = ds[first_line[h]]->seg_class[tab[h] - 1];
			} else {
				tab[h] = (uint32_t)i + 1;
				first_line[h] = (uint32_t)l;
				d->seg_class[i] = n_class++;
			}
		}
	}
	for (int l = 0; l < nd; l++)
		ds[l]->n_class = n_class;
	err = 0;
out:
	free(tab);
	free(first_line);
	for (int l = 0; l < nd; l++)
		free(hash[l]);
	return err;
}

static int dim_classify(struct dim *d)
{
	return dim_classify_lines(&d, 1);
}

/* For each rule, the list of classes its set covers, in all the lines of
 * its dimension; kept in the first line's dim. */
static int dim_rule_classes_lines(struct dim **ds, int nd)
{
	struct dim *d = ds[0];
	uint32_t *stamp = calloc(d->n_class ? d->n_class : 1, sizeof(*stamp));

	d->rule_classes = calloc(d->n_sets ? d->n_sets : 1, sizeof(*d->rule_classes));
	d->rule_n_classes = calloc(d->n_sets ? d->n_sets : 1, sizeof(*d->rule_n_classes));
	if (!stamp || !d->rule_classes || !d->rule_n_classes) {
		free(stamp);
		return -ENOMEM;
	}
	for (size_t r = 0; r < d->n_sets; r++) {
		size_t n = 0, cap = 0;
		uint32_t *v = NULL;

		for (int l = 0; l < nd; l++) {
			const struct dim *e = ds[l];

			for (size_t g = e->ival_off[r]; g < e->ival_off[r + 1]; g++) {
				for (size_t s = e->seg_lo[g]; s < e->seg_end[g]; s++) {
					uint32_t c = e->seg_class[s];

					if (stamp[c] == r + 1)
						continue;
					stamp[c] = (uint32_t)r + 1;
					if (n == cap) {
						uint32_t *nv;

						cap = cap ? cap * 2 : 8;
						nv = realloc(v, cap * sizeof(*v));
						if (!nv) {
							free(v);
							free(stamp);
							return -ENOMEM;
						}
						v = nv;
					}
					v[n++] = c;
				}
			}
		}
		d->rule_classes[r] = v;
		d->rule_n_classes[r] = (uint32_t)n;
	}
	free(stamp);
	return 0;
}

static int dim_rule_classes(struct dim *d)
{
	return dim_rule_classes_lines(&d, 1);
}

static void dim_free(struct dim *d)
{
	for (size_t r = 0; d->sets && r < d->n_sets; r++) {
		free(d->sets[r].v);
		if (d->rule_classes)
			free(d->rule_classes[r]);
	}
	free(d->sets);
	free(d->any);
	free(d->rule_classes);
	free(d->rule_n_classes);
	free(d->starts);
	free(d->seg_class);
	free(d->ival_off);
	free(d->seg_lo);
	free(d->seg_end);
}

static int ctz128(u128 v)
{
	uint64_t lo = (uint64_t)v, hi = (uint64_t)(v >> 64);

	if (lo)
		return __builtin_ctzll(lo);
	if (hi)
		return 64 + __builtin_ctzll(hi);
	return 128;
}

/* LPM entries being emitted for one address table. */
struct addr_out {
	struct ms_addr_entry **arr;
	size_t *n;
	size_t cap;
	uint32_t limit;
	bool overflow;
};

/* value and plen in the line's own width: 32 bits for IPv4, 128 for IPv6. */
static int addr_push(struct addr_out *o, bool v4, u128 value, unsigned int plen, uint32_t cls)
{
	struct ms_addr_entry *ae;

	if (*o->n >= o->limit) {
		o->overflow = true;
		return -E2BIG;
	}
	if (*o->n == o->cap) {
		size_t ncap = o->cap ? o->cap * 2 : 64;
		struct ms_addr_entry *nv = realloc(*o->arr, ncap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		*o->arr = nv;
		o->cap = ncap;
	}
	ae = &(*o->arr)[(*o->n)++];
	if (v4)
		value |= (u128)0xffff << 32; /* stored IPv4-mapped, as the classifier has it */
	u128_to_addr(value, ae->addr);
	ae->plen = (uint8_t)(plen + (v4 ? 96 : 0));
	ae->family = v4 ? MS_FAMILY_IPV4 : MS_FAMILY_IPV6;
	ae->cls = cls;
	return 0;
}

/* Cover [lo, hi] of a line with the fewest aligned prefixes. */
static int emit_range(struct addr_out *o, bool v4, u128 lo, u128 hi, uint32_t cls)
{
	int width = v4 ? 32 : 128;

	for (;;) {
		int k = ctz128(lo);
		u128 span;
		int err;

		if (k > width)
			k = width;
		for (;;) {
			span = k == 128 ? U128_MAX : (((u128)1 << k) - 1);
			if (hi - lo >= span)
				break;
			k--;
		}
		err = addr_push(o, v4, lo, (unsigned int)(width - k), cls);
		if (err)
			return err;
		if (hi - lo == span)
			return 0;
		lo += span + 1;
	}
}

/*
 * LPM entries for a dimension: one zero-length entry for the class with the
 * most runs of segments, then exact covers of every other run.
 */
static int dim_emit(const struct dim *d, bool v4, struct addr_out *o)
{
	uint32_t *runs = calloc(d->n_class ? d->n_class : 1, sizeof(*runs));
	uint32_t def = 0;
	int err;

	if (!runs)
		return -ENOMEM;
	for (size_t i = 0; i < d->n_seg; i++)
		if (!i || d->seg_class[i] != d->seg_class[i - 1])
			runs[d->seg_class[i]]++;
	for (uint32_t c = 1; c < d->n_class; c++)
		if (runs[c] > runs[def])
			def = c;
	free(runs);
	err = addr_push(o, v4, 0, 0, def);
	for (size_t i = 0; i < d->n_seg && !err;) {
		size_t j = i + 1;
		u128 hi;

		while (j < d->n_seg && d->seg_class[j] == d->seg_class[i])
			j++;
		hi = j < d->n_seg ? d->starts[j] - 1 : d->space_max;
		if (d->seg_class[i] != def)
			err = emit_range(o, v4, d->starts[i], hi, d->seg_class[i]);
		i = j;
	}
	return err;
}

/* The port dimension as the dense table the classifier indexes. */
static int port_table(const struct dim *d, struct ms_compiled *c)
{
	static const uint8_t row_proto[MS_PORT_ROW_OTHER] = { MS_PROTO_TCP, MS_PROTO_UDP,
							      MS_PROTO_SCTP, MS_PROTO_ICMP,
							      MS_PROTO_ICMPV6 };

	c->port_table = malloc(MS_PORT_SLOT_ENTRIES * sizeof(*c->port_table));
	if (!c->port_table)
		return -ENOMEM;
	c->n_port = MS_PORT_SLOT_ENTRIES;
	for (uint8_t dir = 0; dir < 2; dir++) {
		for (uint8_t row = 0; row < MS_PORT_ROW_OTHER; row++) {
			u128 base = ((u128)dir << 24) | ((u128)row_proto[row] << 16);
			size_t s = seg_index(d, base);

			for (uint32_t port = 0; port < 65536; port++) {
				while (s + 1 < d->n_seg && d->starts[s + 1] <= (base | port))
					s++;
				c->port_table[ms_port_index(dir, row_proto[row], (uint16_t)port)] =
					d->seg_class[s];
			}
		}
		/* Protocols without ports: one entry each, by protocol number. */
		for (uint32_t proto = 0; proto < 256; proto++) {
			u128 v = ((u128)dir << 24) | ((u128)proto << 16);
			uint32_t idx =
				((uint32_t)dir * MS_PORT_ROWS + MS_PORT_ROW_OTHER) * 65536u + proto;

			c->port_table[idx] = d->seg_class[seg_index(d, v)];
		}
	}
	return 0;
}

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

static __attribute__((format(printf, 2, 3))) int set_err(char **errmsg, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(errmsg, fmt, ap) < 0)
		*errmsg = NULL;
	va_end(ap);
	return -E2BIG;
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

		return set_err(f->errmsg,
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

static int fill_decisions(const struct ms_policy *p, const struct ms_limits *l, struct dim dims[3],
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
			err = set_err(errmsg,
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

void ms_limits_default(struct ms_limits *l)
{
	l->max_rules = MS_DEFAULT_MAX_RULES;
	l->max_addr_entries = MS_DEFAULT_MAX_ADDR_ENTRIES;
	l->max_decision_entries = MS_DEFAULT_MAX_DECISION_ENTRIES;
}

static const char *const dim_names[2] = { "source address", "destination address" };

/* Below this many rules a thread costs more than it saves. */
#define PARALLEL_RULES_MIN 2048

/*
 * Dimension which (0 src, 1 dst, 2 ports) of every rule: its intervals,
 * segments, classes and each rule's classes. An address dimension is d and
 * v6 (its IPv6 line), d its IPv4 line holding the rules' classes. Touches
 * only *d and *v6 and reads p, so the three can be built at once.
 */
static int dim_build(const struct ms_policy *p, struct dim *d, struct dim *v6, int which)
{
	struct dim *lines[2] = { d, v6 };
	int err;

	for (size_t r = 0; r < p->n_rules; r++) {
		const struct ms_rule *rule = &p->rules[r];
		const struct ms_addrset *as = which == 0 ? &rule->from : &rule->to;

		if (which == 2) {
			if (ports_ivals(rule, &d->sets[r]))
				return -ENOMEM;
			continue;
		}
		/* An `any` selector stays out of the segmentation: it covers
		 * every class, and leaving it out keeps class counts low. */
		d->any[r] = v6->any[r] = as->any;
		if (!as->any && (addrset_ivals(as, true, &d->sets[r]) ||
				 addrset_ivals(as, false, &v6->sets[r])))
			return -ENOMEM;
	}
	if (which == 2) {
		err = dim_classify(d);
		return err ? err : dim_rule_classes(d);
	}
	err = dim_classify_lines(lines, 2);
	return err ? err : dim_rule_classes_lines(lines, 2);
}

struct dim_job {
	const struct ms_policy *p;
	struct dim *d;
	int which;
	int err;
};

static void *dim_build_run(void *arg)
{
	struct dim_job *j = arg;

	j->err = dim_build(j->p, j->d, NULL, j->which);
	return NULL;
}

int ms_compile(const struct ms_policy *p, const struct ms_limits *l, struct ms_compiled **out,
	       char **errmsg)
{
	struct ms_compiled *c = calloc(1, sizeof(*c));
	/* src and dst IPv4, ports, src and dst IPv6 */
	struct dim dims[5] = { { .space_max = V4_SPACE_MAX },
			       { .space_max = V4_SPACE_MAX },
			       { .space_max = PORT_SPACE_MAX },
			       { .space_max = U128_MAX },
			       { .space_max = U128_MAX } };
	int err = -ENOMEM;

	*errmsg = NULL;
	if (!c)
		return -ENOMEM;
	if (p->n_rules > l->max_rules) {
		err = set_err(errmsg, "%zu rules, more than the limit of %u", p->n_rules,
			      l->max_rules);
		goto out;
	}
	c->n_rules = (uint32_t)p->n_rules;
	c->default_action = p->default_action;
	c->monitor = p->monitor;
	for (int i = 0; i < 5; i++) {
		dims[i].n_sets = p->n_rules;
		dims[i].sets = calloc(p->n_rules ? p->n_rules : 1, sizeof(struct ivec));
		dims[i].any = calloc(p->n_rules ? p->n_rules : 1, sizeof(bool));
		if (!dims[i].sets || !dims[i].any)
			goto out;
	}
	/* The three dimensions are independent: the port dimension, the
	 * largest, is built by a thread of its own beside the two address
	 * dimensions (when a thread cannot be made, here). */
	struct dim_job port_job = { .p = p, .d = &dims[2], .which = 2 };
	pthread_t th;
	bool threaded = p->n_rules >= PARALLEL_RULES_MIN &&
			!pthread_create(&th, NULL, dim_build_run, &port_job);

	err = dim_build(p, &dims[0], &dims[3], 0);
	if (!err)
		err = dim_build(p, &dims[1], &dims[4], 1);
	if (threaded)
		pthread_join(th, NULL);
	else
		dim_build_run(&port_job);
	if (!err)
		err = port_job.err;
	if (err)
		goto out;
	c->n_src_classes = dims[0].n_class;
	c->n_dst_classes = dims[1].n_class;
	c->n_port_classes = dims[2].n_class;
	for (int i = 0; i < 2; i++) {
		struct addr_out o = {
			.arr = i == 0 ? &c->src : &c->dst,
			.n = i == 0 ? &c->n_src : &c->n_dst,
			.limit = l->max_addr_entries,
		};

		err = dim_emit(&dims[i], true, &o);
		if (!err)
			err = dim_emit(&dims[i + 3], false, &o);
		if (o.overflow) {
			err = set_err(errmsg,
				      "%s table overflow: more than %u entries needed; the policy "
				      "has too many distinct address ranges",
				      dim_names[i], o.limit);
		}
		if (err)
			goto out;
	}
	err = port_table(&dims[2], c);
	if (err)
		goto out;
	err = fill_decisions(p, l, dims, c, errmsg);
out:
	for (int i = 0; i < 5; i++)
		dim_free(&dims[i]);
	if (err) {
		if (err == -ENOMEM && !*errmsg)
			*errmsg = strdup("out of memory");
		ms_compiled_free(&c);
		return err;
	}
	*out = c;
	return 0;
}

void ms_compiled_free(struct ms_compiled **cp)
{
	struct ms_compiled *c = *cp;

	if (!c)
		return;
	free(c->src);
	free(c->dst);
	free(c->port_table);
	free(c->dec);
	free(c);
	*cp = NULL;
}

/* Rough kernel cost per entry: an LPM trie node (rcu head, two children,
 * prefix length, flags, key data, value) with about as many intermediate
 * nodes as leaves; a hash element with its bucket share. */
#define LPM_ADDR_ENTRY_BYTES (2 * (40 + 17 + 4))
#define HASH_ENTRY_BYTES (48 + 16 + 16 + 8)

uint64_t ms_compiled_bytes(const struct ms_compiled *c)
{
	return (uint64_t)(c->n_src + c->n_dst) * LPM_ADDR_ENTRY_BYTES +
	       (uint64_t)c->n_port * sizeof(uint32_t) + (uint64_t)c->n_dec * HASH_ENTRY_BYTES;
}

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
