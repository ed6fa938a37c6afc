// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "workload_index.h"

struct wl_entry {
	uint8_t addr[16]; /* masked to the level's prefix length */
	uint32_t wl;	  /* index into the policy's workloads */
};

struct wl_level {
	uint8_t plen;
	struct wl_entry *e;
	size_t n;
};

struct ms_wl_index {
	const struct ms_policy *p;
	struct wl_level *lv; /* longest prefix first */
	size_t n_lv;
	struct wl_entry *entries; /* storage of every level */
};

static void mask_addr(uint8_t *out, const uint8_t *in, unsigned int plen)
{
	for (unsigned int i = 0; i < 16; i++) {
		unsigned int bits = plen > i * 8 ? plen - i * 8 : 0;

		out[i] = bits >= 8 ? in[i] : (uint8_t)(in[i] & (0xff00 >> bits));
	}
}

struct wl_sort {
	struct wl_entry e;
	uint8_t plen;
};

static int wl_sort_cmp(const void *a, const void *b)
{
	const struct wl_sort *x = a, *y = b;
	int c;

	if (x->plen != y->plen)
		return x->plen > y->plen ? -1 : 1;
	c = memcmp(x->e.addr, y->e.addr, 16);
	if (c)
		return c;
	return x->e.wl < y->e.wl ? -1 : x->e.wl > y->e.wl;
}

static int wl_entry_cmp(const void *a, const void *b)
{
	return memcmp(((const struct wl_entry *)a)->addr, ((const struct wl_entry *)b)->addr, 16);
}

void ms_wl_index_free(struct ms_wl_index **ixp)
{
	struct ms_wl_index *ix = *ixp;

	if (!ix)
		return;
	free(ix->lv);
	free(ix->entries);
	free(ix);
	*ixp = NULL;
}

int ms_wl_index_new(const struct ms_policy *p, struct ms_wl_index **out)
{
	struct ms_wl_index *ix = calloc(1, sizeof(*ix));
	struct wl_sort *s = NULL;
	size_t n = 0, m = 0, nl = 0;

	if (!ix)
		return -ENOMEM;
	ix->p = p;
	for (size_t i = 0; i < p->n_workloads; i++)
		n += p->workloads[i].n_addrs;
	if (!n) {
		*out = ix;
		return 0;
	}
	s = calloc(n, sizeof(*s));
	ix->entries = calloc(n, sizeof(*ix->entries));
	if (!s || !ix->entries)
		goto nomem;
	for (size_t i = 0; i < p->n_workloads; i++)
		for (size_t j = 0; j < p->workloads[i].n_addrs; j++) {
			const struct ms_cidr *c = &p->workloads[i].addrs[j];

			mask_addr(s[m].e.addr, c->addr, c->plen);
			s[m].e.wl = (uint32_t)i;
			s[m].plen = c->plen;
			m++;
		}
	qsort(s, n, sizeof(*s), wl_sort_cmp);
	/* Keep the first workload (in file order) of equal prefixes. */
	m = 0;
	for (size_t i = 0; i < n; i++) {
		if (i && s[i].plen == s[i - 1].plen && !memcmp(s[i].e.addr, s[i - 1].e.addr, 16))
			continue;
		if (!m || s[i].plen != s[m - 1].plen)
			nl++;
		s[m++] = s[i];
	}
	ix->lv = calloc(nl, sizeof(*ix->lv));
	if (!ix->lv)
		goto nomem;
	for (size_t i = 0; i < m; i++) {
		if (!i || s[i].plen != s[i - 1].plen) {
			ix->lv[ix->n_lv].plen = s[i].plen;
			ix->lv[ix->n_lv].e = &ix->entries[i];
			ix->n_lv++;
		}
		ix->entries[i] = s[i].e;
		ix->lv[ix->n_lv - 1].n++;
	}
	free(s);
	*out = ix;
	return 0;
nomem:
	free(s);
	ms_wl_index_free(&ix);
	return -ENOMEM;
}

const struct ms_workload *ms_wl_index_find(const struct ms_wl_index *ix, const uint8_t *addr)
{
	bool v4 = ms_addr_is_v4(addr);
	struct wl_entry key;

	for (size_t i = 0; i < ix->n_lv; i++) {
		const struct wl_level *l = &ix->lv[i];
		const struct wl_entry *e;

		/* Levels are longest first: past /96 only IPv6 prefixes remain,
		 * and those never hold an IPv4 address. */
		if (v4 && l->plen < 96)
			break;
		mask_addr(key.addr, addr, l->plen);
		e = bsearch(&key, l->e, l->n, sizeof(*l->e), wl_entry_cmp);
		if (e)
			return &ix->p->workloads[e->wl];
	}
	return NULL;
}
