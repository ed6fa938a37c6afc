// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkt.h"
#include "polbuild.h"

static void die(const char *what)
{
	fprintf(stderr, "test setup failed: %s\n", what);
	abort();
}

struct ms_rule *pb_rule(struct ms_policy *p, const char *name, uint8_t action)
{
	struct ms_rule *r = ms_policy_add_rule(p);

	if (!r || !(r->name = strdup(name)))
		die("out of memory");
	r->action = action;
	return r;
}

static void push_list(struct ms_cidr **v, size_t *n, const char *list)
{
	char *copy = strdup(list), *save = NULL;

	if (!copy)
		die("out of memory");
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		struct ms_cidr c;

		if (ms_cidr_parse(t, &c) || ms_cidr_push(v, n, &c))
			die(t);
	}
	free(copy);
}

void pb_cidrs(struct ms_addrset *s, const char *cidrs, const char *except)
{
	struct ms_addr_term *t = ms_addrset_add_term(s);

	if (!t)
		die("out of memory");
	push_list(&t->cidrs, &t->n_cidrs, cidrs);
	if (except)
		push_list(&t->except, &t->n_except, except);
}

void pb_port(struct ms_rule *r, uint8_t proto, uint16_t lo, uint16_t hi)
{
	struct ms_portrange pr = { proto, lo, hi };

	r->any_port = false;
	if (ms_port_push(&r->ports, &r->n_ports, &pr))
		die("out of memory");
}

uint64_t pb_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static unsigned int rnd(uint64_t *s, unsigned int n)
{
	return (unsigned int)(pb_rand(s) % n);
}

/* Addresses cluster around a few anchors so CIDRs overlap and nest. */
static void rand_cidr(uint64_t *rng, struct ms_cidr *c)
{
	static const char *const anchors[] = {
		"198.18.0.0", "198.18.1.0",   "198.18.1.128",	  "198.19.255.0",
		"2001:db8::", "2001:db8:1::", "2001:db8:1::8000", "2001:db8:ffff::",
	};
	static const uint8_t spans[] = { 0, 1, 64, 80, 95 };
	const char *a = anchors[rnd(rng, 8)];
	bool v4 = strchr(a, '.') != NULL;
	unsigned int plen;

	memset(c, 0, sizeof(*c));
	/* Now and then an IPv6 prefix spanning the IPv4-mapped block (::/0),
	 * all of IPv4 (0.0.0.0/0), or an IPv6 prefix inside the block
	 * (::ffff:0:0/96, ::ffff:198.18.0.0/112): where families could mix. */
	if (rnd(rng, 12) == 0) {
		if (rnd(rng, 3) == 0) {
			c->addr[10] = c->addr[11] = 0xff;
			c->plen = 96;
			c->v6mapped = rnd(rng, 2);
		} else {
			c->plen = spans[rnd(rng, sizeof(spans))];
		}
		return;
	}
	if (v4 && rnd(rng, 10) == 0)
		c->v6mapped = true; /* the same prefix, written as IPv6 */
	pkt_addr(c->addr, a);
	if (v4) {
		plen = 96 + 15 + rnd(rng, 18); /* /15 .. /32 */
		c->addr[15] = (uint8_t)(c->addr[15] | rnd(rng, 4) * 8);
	} else {
		plen = 32 + rnd(rng, 97); /* /32 .. /128 */
		c->addr[15] = (uint8_t)rnd(rng, 16);
		c->addr[13] = (uint8_t)(c->addr[13] | rnd(rng, 2));
	}
	c->plen = (uint8_t)plen;
	for (unsigned int bit = plen; bit < 128; bit++)
		c->addr[bit / 8] &= (uint8_t) ~(0x80 >> (bit % 8));
}

static void rand_selector(uint64_t *rng, struct ms_addrset *s)
{
	unsigned int nt;

	if (rnd(rng, 10) < 3)
		return; /* any */
	nt = 1 + rnd(rng, 2);
	for (unsigned int t = 0; t < nt; t++) {
		struct ms_addr_term *term = ms_addrset_add_term(s);
		unsigned int nc = 1 + rnd(rng, 3), ne = rnd(rng, 3);
		struct ms_cidr c;

		if (!term)
			die("out of memory");
		for (unsigned int i = 0; i < nc; i++) {
			rand_cidr(rng, &c);
			if (ms_cidr_push(&term->cidrs, &term->n_cidrs, &c))
				die("out of memory");
		}
		for (unsigned int i = 0; i < ne; i++) {
			rand_cidr(rng, &c);
			if (ms_cidr_push(&term->except, &term->n_except, &c))
				die("out of memory");
		}
	}
}

static const uint8_t protos[] = { MS_PROTO_TCP,	 MS_PROTO_UDP,	  MS_PROTO_SCTP,
				  MS_PROTO_ICMP, MS_PROTO_ICMPV6, 47 };

static void rand_range(uint64_t *rng, uint8_t proto, uint16_t *lo, uint16_t *hi)
{
	static const uint16_t edges[] = { 0, 1, 22, 53, 80, 443, 1023, 1024, 8080, 65534, 65535 };
	unsigned int a, b;

	if (proto == MS_PROTO_ICMP || proto == MS_PROTO_ICMPV6) {
		a = rnd(rng, 256);
		b = rnd(rng, 4) ? a + rnd(rng, 20) : a;
		if (b > 255)
			b = 255;
	} else if (proto != MS_PROTO_TCP && proto != MS_PROTO_UDP && proto != MS_PROTO_SCTP) {
		a = 0;
		b = 65535;
	} else {
		a = edges[rnd(rng, 11)];
		b = rnd(rng, 3) ? a + rnd(rng, 3) * rnd(rng, 600) : edges[rnd(rng, 11)];
		if (b > 65535)
			b = 65535;
		if (b < a) {
			unsigned int t = a;

			a = b;
			b = t;
		}
	}
	*lo = (uint16_t)a;
	*hi = (uint16_t)b;
}

struct ms_policy *pb_random_policy(uint64_t *rng, unsigned int max_rules)
{
	static const int prios[] = { 10, 50, 100, 100, 100, 200 };
	struct ms_policy *p = ms_policy_new();
	unsigned int n = 1 + rnd(rng, max_rules);
	char name[32];

	if (!p)
		die("out of memory");
	p->default_action = rnd(rng, 2) ? MS_ACT_DENY : MS_ACT_ALLOW;
	for (unsigned int i = 0; i < n; i++) {
		struct ms_rule *r;

		snprintf(name, sizeof(name), "r%u", i + 1);
		r = pb_rule(p, name, (uint8_t)rnd(rng, 3));
		r->priority = prios[rnd(rng, 6)];
		r->dirmask = (uint8_t)(1 + rnd(rng, 3));
		rand_selector(rng, &r->from);
		rand_selector(rng, &r->to);
		if (rnd(rng, 4)) {
			unsigned int np = 1 + rnd(rng, 3);

			for (unsigned int k = 0; k < np; k++) {
				uint8_t proto = protos[rnd(rng, 6)];
				uint16_t lo, hi;

				rand_range(rng, proto, &lo, &hi);
				pb_port(r, proto, lo, hi);
			}
		}
	}
	return p;
}

/* An address at or next to an edge of some CIDR in the policy. */
static void rand_addr(uint64_t *rng, const struct ms_policy *p, bool v4, uint8_t *out)
{
	struct ms_cidr pool[64];
	unsigned int n = 0;

	for (size_t i = 0; i < p->n_rules; i++) {
		const struct ms_addrset *sets[2] = { &p->rules[i].from, &p->rules[i].to };

		for (int k = 0; k < 2; k++)
			for (size_t t = 0; t < sets[k]->n_terms; t++) {
				const struct ms_addr_term *term = &sets[k]->terms[t];

				/* Of either family: an IPv6 flow from inside an IPv4
				 * prefix's range is where families could mix. */
				for (size_t j = 0; j < term->n_cidrs && n < 64; j++)
					if (ms_cidr_is_v4(&term->cidrs[j]) == v4 ||
					    (!v4 && pkt_is_v4(term->cidrs[j].addr)))
						pool[n++] = term->cidrs[j];
				for (size_t j = 0; j < term->n_except && n < 64; j++)
					if (ms_cidr_is_v4(&term->except[j]) == v4 ||
					    (!v4 && pkt_is_v4(term->except[j].addr)))
						pool[n++] = term->except[j];
			}
	}
	if (n == 0 || rnd(rng, 10) == 0) {
		struct ms_cidr c;

		rand_cidr(rng, &c);
		while (ms_cidr_is_v4(&c) != v4)
			rand_cidr(rng, &c);
		pool[0] = c;
		n = 1;
	}
	const struct ms_cidr *c = &pool[rnd(rng, n)];

	memcpy(out, c->addr, 16);
	switch (rnd(rng, 4)) {
	case 0: /* first address */
		break;
	case 1: /* last address */
		for (unsigned int bit = c->plen; bit < 128; bit++)
			out[bit / 8] |= (uint8_t)(0x80 >> (bit % 8));
		break;
	case 2: { /* just before the first */
		int i = 15;

		while (i >= 0 && out[i] == 0)
			out[i--] = 0xff;
		if (i >= 0)
			out[i]--;
		break;
	}
	default: /* random inside */
		for (unsigned int bit = c->plen; bit < 128; bit++)
			if (pb_rand(rng) & 1)
				out[bit / 8] |= (uint8_t)(0x80 >> (bit % 8));
		break;
	}
	if (v4 && !pkt_is_v4(out)) /* stepped out of the mapped range */
		pkt_addr(out, "198.18.0.1");
	/* An IPv6 address inside ::ffff:0:0/96 stays: an IPv6 packet from an
	 * IPv4-mapped address must meet IPv6 prefixes only. */
}

void pb_random_flow(uint64_t *rng, const struct ms_policy *p, struct ms_flow *f)
{
	bool v4 = rnd(rng, 2);
	uint8_t proto;

	memset(f, 0, sizeof(*f));
	f->dir = (uint8_t)rnd(rng, 2);
	f->family = v4 ? MS_FAMILY_IPV4 : MS_FAMILY_IPV6;
	rand_addr(rng, p, v4, f->src);
	rand_addr(rng, p, v4, f->dst);
	proto = protos[rnd(rng, 6)];
	if (proto == MS_PROTO_ICMP && !v4)
		proto = MS_PROTO_ICMPV6;
	if (proto == MS_PROTO_ICMPV6 && v4)
		proto = MS_PROTO_ICMP;
	f->proto = proto;
	if (proto == 47) {
		f->port = 0;
	} else {
		/* Edges of a range some rule has for this protocol, or random. */
		const struct ms_rule *r = &p->rules[rnd(rng, (unsigned int)p->n_rules)];
		uint16_t port = (uint16_t)pb_rand(rng);

		for (size_t i = 0; i < r->n_ports; i++)
			if (r->ports[i].proto == proto && rnd(rng, 4)) {
				const struct ms_portrange *pr = &r->ports[i];

				switch (rnd(rng, 4)) {
				case 0:
					port = pr->lo;
					break;
				case 1:
					port = pr->hi;
					break;
				case 2:
					port = (uint16_t)(pr->lo - 1);
					break;
				default:
					port = (uint16_t)(pr->hi + 1);
					break;
				}
				break;
			}
		if (proto == MS_PROTO_ICMP || proto == MS_PROTO_ICMPV6) {
			port &= 0xff;
			/* Link control (NDP, MLD) always passes; not a policy case. */
			if (proto == MS_PROTO_ICMPV6 &&
			    ((port >= 130 && port <= 137) || port == 143))
				port = 128;
		}
		f->port = port;
	}
}
