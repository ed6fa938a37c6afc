// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

static void addrset_free(struct ms_addrset *s)
{
	for (size_t i = 0; i < s->n_terms; i++) {
		free(s->terms[i].cidrs);
		free(s->terms[i].except);
	}
	free(s->terms);
	s->terms = NULL;
	s->n_terms = 0;
}

static void labels_free(struct ms_label *l, size_t n)
{
	for (size_t j = 0; j < n; j++) {
		free(l[j].key);
		free(l[j].value);
	}
	free(l);
}

void ms_discovered_clear(struct ms_discovered *d)
{
	free(d->name);
	free(d->netns);
	free(d->addrs);
	for (size_t i = 0; i < d->n_listeners; i++)
		free(d->listeners[i].comm);
	free(d->listeners);
	memset(d, 0, sizeof(*d));
}

void ms_policy_free(struct ms_policy **pp)
{
	struct ms_policy *p = *pp;

	if (!p)
		return;
	for (size_t i = 0; i < p->n_rules; i++) {
		struct ms_rule *r = &p->rules[i];

		free(r->name);
		addrset_free(&r->from);
		addrset_free(&r->to);
		free(r->ports);
	}
	free(p->rules);
	for (size_t i = 0; i < p->n_workloads; i++) {
		struct ms_workload *w = &p->workloads[i];

		free(w->name);
		labels_free(w->labels, w->n_labels);
		free(w->addrs);
	}
	free(p->workloads);
	labels_free(p->host_labels, p->n_host_labels);
	for (size_t i = 0; i < p->n_autolabels; i++)
		free(p->autolabels[i].role);
	free(p->autolabels);
	free(p->path);
	free(p);
	*pp = NULL;
}

struct ms_policy *ms_policy_new(void)
{
	struct ms_policy *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->version = 1;
	p->default_action = MS_ACT_DENY;
	p->scan_targets = MS_SCAN_TARGETS_DEFAULT;
	p->scan_window = MS_SCAN_WINDOW_DEFAULT;
	return p;
}

/* Grow the array *vp of *n elements of size sz by one zeroed element. The
 * capacity is implied by *n: the array is reallocated whenever *n reaches a
 * power of two, so no capacity field has to travel with every array. */
static void *grow(void *vp, size_t *n, size_t sz)
{
	void **v = vp;
	char *nv;

	if ((*n & (*n - 1)) == 0) {
		size_t ncap = *n ? *n * 2 : 1;

		nv = realloc(*v, ncap * sz);
		if (!nv)
			return NULL;
		*v = nv;
	}
	nv = (char *)*v + *n * sz;
	memset(nv, 0, sz);
	(*n)++;
	return nv;
}

struct ms_rule *ms_policy_add_rule(struct ms_policy *p)
{
	struct ms_rule *r = grow(&p->rules, &p->n_rules, sizeof(*r));

	if (r) {
		r->priority = MS_DEFAULT_PRIORITY;
		r->dirmask = MS_DIRMASK_ANY;
		r->from.any = true;
		r->to.any = true;
		r->any_port = true;
	}
	return r;
}

struct ms_workload *ms_policy_add_workload(struct ms_policy *p)
{
	return grow(&p->workloads, &p->n_workloads, sizeof(struct ms_workload));
}

struct ms_addr_term *ms_addrset_add_term(struct ms_addrset *s)
{
	s->any = false;
	return grow(&s->terms, &s->n_terms, sizeof(struct ms_addr_term));
}

int ms_cidr_push(struct ms_cidr **v, size_t *n, const struct ms_cidr *c)
{
	struct ms_cidr *e = grow(v, n, sizeof(*e));

	if (!e)
		return -ENOMEM;
	*e = *c;
	return 0;
}

int ms_port_push(struct ms_portrange **v, size_t *n, const struct ms_portrange *r)
{
	struct ms_portrange *e = grow(v, n, sizeof(*e));

	if (!e)
		return -ENOMEM;
	*e = *r;
	return 0;
}

static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

int ms_cidr_parse(const char *s, struct ms_cidr *c)
{
	char buf[INET6_ADDRSTRLEN + 8];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	unsigned long plen;
	int max, ret = 0;
	bool v4;

	if (alen == 0 || alen >= INET6_ADDRSTRLEN)
		return -EINVAL;
	memcpy(buf, s, alen);
	buf[alen] = '\0';
	memset(c, 0, sizeof(*c));
	if (inet_pton(AF_INET, buf, c->addr + 12) == 1) {
		memcpy(c->addr, v4mapped, 12);
		v4 = true;
	} else if (inet_pton(AF_INET6, buf, c->addr) == 1) {
		v4 = false;
	} else {
		return -EINVAL;
	}
	max = v4 ? 32 : 128;
	if (slash) {
		const char *p = slash + 1;
		char *end;

		/* strtoul accepts signs and spaces; a prefix length does not. */
		if (*p < '0' || *p > '9' || strlen(p) > 3)
			return -EINVAL;
		plen = strtoul(p, &end, 10);
		if (*end || plen > (unsigned long)max)
			return -EINVAL;
	} else {
		plen = max;
	}
	c->plen = (uint8_t)(plen + (v4 ? 96 : 0));
	c->v6mapped = !v4 && c->plen >= 96 && !memcmp(c->addr, v4mapped, 12);
	for (int bit = c->plen; bit < 128; bit++) {
		uint8_t m = 0x80 >> (bit % 8);

		if (c->addr[bit / 8] & m) {
			c->addr[bit / 8] &= ~m;
			ret = -ERANGE;
		}
	}
	return ret;
}

const char *ms_cidr_format(const struct ms_cidr *c, char *buf)
{
	char a[INET6_ADDRSTRLEN];

	if (ms_cidr_is_v4(c)) {
		inet_ntop(AF_INET, c->addr + 12, a, sizeof(a));
		snprintf(buf, MS_CIDR_STRLEN, "%s/%u", a, c->plen - 96);
	} else {
		inet_ntop(AF_INET6, c->addr, a, sizeof(a));
		snprintf(buf, MS_CIDR_STRLEN, "%s/%u", a, c->plen);
	}
	return buf;
}

bool ms_addr_is_v4(const uint8_t *addr)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	return !memcmp(addr, mapped, sizeof(mapped));
}

bool ms_cidr_is_v4(const struct ms_cidr *c)
{
	return !c->v6mapped && c->plen >= 96 && ms_addr_is_v4(c->addr);
}

bool ms_flow_is_v4(const struct ms_flow *f)
{
	return f->family ? f->family == MS_FAMILY_IPV4 : ms_addr_is_v4(f->src);
}

bool ms_cidr_contains(const struct ms_cidr *c, const uint8_t *addr)
{
	return ms_cidr_contains_af(c, addr, ms_addr_is_v4(addr));
}

bool ms_cidr_contains_af(const struct ms_cidr *c, const uint8_t *addr, bool v4)
{
	unsigned int full = c->plen / 8, rem = c->plen % 8;

	/* A prefix shorter than /96 is IPv6, even one that spans the
	 * IPv4-mapped block (::/0), and so is one written as IPv6 inside it. */
	if (ms_cidr_is_v4(c) != v4)
		return false;

	if (memcmp(c->addr, addr, full))
		return false;
	if (rem) {
		uint8_t m = (uint8_t)(0xff << (8 - rem));

		return (c->addr[full] & m) == (addr[full] & m);
	}
	return true;
}

bool ms_cidr_spans_v4(const struct ms_cidr *c)
{
	static const uint8_t block[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (c->plen >= 96)
		return false;
	for (unsigned int i = 0; i < c->plen / 8; i++)
		if (c->addr[i] != block[i])
			return false;
	if (c->plen % 8) {
		uint8_t m = (uint8_t)(0xff << (8 - c->plen % 8));

		return (c->addr[c->plen / 8] & m) == (block[c->plen / 8] & m);
	}
	return true;
}

static bool in_any(const struct ms_cidr *v, size_t n, const uint8_t *addr, bool v4)
{
	for (size_t i = 0; i < n; i++)
		if (ms_cidr_contains_af(&v[i], addr, v4))
			return true;
	return false;
}

bool ms_addrset_contains_af(const struct ms_addrset *s, const uint8_t *addr, bool v4)
{
	if (s->any)
		return true;
	for (size_t i = 0; i < s->n_terms; i++) {
		const struct ms_addr_term *t = &s->terms[i];

		if (in_any(t->cidrs, t->n_cidrs, addr, v4) &&
		    !in_any(t->except, t->n_except, addr, v4))
			return true;
	}
	return false;
}

bool ms_addrset_contains(const struct ms_addrset *s, const uint8_t *addr)
{
	return ms_addrset_contains_af(s, addr, ms_addr_is_v4(addr));
}

static int cmp_rule_order(const void *a, const void *b, void *ctx)
{
	const struct ms_policy *p = ctx;
	uint32_t ia = *(const uint32_t *)a, ib = *(const uint32_t *)b;
	int pa = p->rules[ia - 1].priority;
	int pb = p->rules[ib - 1].priority;

	if (pa != pb)
		return pa < pb ? -1 : 1;
	return ia < ib ? -1 : ia > ib;
}

uint32_t *ms_policy_order(const struct ms_policy *p)
{
	uint32_t *ord = malloc((p->n_rules ? p->n_rules : 1) * sizeof(*ord));

	if (!ord)
		return NULL;
	for (size_t i = 0; i < p->n_rules; i++)
		ord[i] = (uint32_t)(i + 1);
	qsort_r(ord, p->n_rules, sizeof(*ord), cmp_rule_order, (void *)p);
	return ord;
}

static bool ports_match(const struct ms_rule *r, uint8_t proto, uint16_t port)
{
	if (r->any_port)
		return true;
	for (size_t i = 0; i < r->n_ports; i++)
		if (r->ports[i].proto == proto && port >= r->ports[i].lo && port <= r->ports[i].hi)
			return true;
	return false;
}

uint32_t ms_policy_eval(const struct ms_policy *p, const struct ms_flow *f, uint8_t *action)
{
	uint32_t *ord = ms_policy_order(p);
	uint32_t win = MS_RULE_DEFAULT;
	bool v4 = ms_flow_is_v4(f);

	if (!ord)
		abort(); /* test-only code: no sensible way to go on */
	for (size_t i = 0; i < p->n_rules; i++) {
		const struct ms_rule *r = &p->rules[ord[i] - 1];

		if ((r->dirmask & (1u << f->dir)) && ports_match(r, f->proto, f->port) &&
		    ms_addrset_contains_af(&r->from, f->src, v4) &&
		    ms_addrset_contains_af(&r->to, f->dst, v4)) {
			win = ord[i];
			break;
		}
	}
	free(ord);
	*action = win ? p->rules[win - 1].action : p->default_action;
	return win;
}
