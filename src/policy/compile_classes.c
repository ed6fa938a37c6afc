// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <errno.h>
#include <stdlib.h>

#include "compile_int.h"

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

int mc_dim_classify_lines(struct dim **ds, int nd)
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

int mc_dim_classify(struct dim *d)
{
	return mc_dim_classify_lines(&d, 1);
}

/* For each rule, the list of classes its set covers, in all the lines of
 * its dimension; kept in the first line's dim. */
int mc_dim_rule_classes_lines(struct dim **ds, int nd)
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

int mc_dim_rule_classes(struct dim *d)
{
	return mc_dim_rule_classes_lines(&d, 1);
}

void mc_dim_free(struct dim *d)
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
