// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * The policy compiler without BPF: class computation, range splitting into
 * prefixes, table limits and overflow errors, and a userspace differential
 * check of the compiled tables against the reference evaluator.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkt.h"
#include "polbuild.h"
#include "policy_compile.h"
#include "testlib.h"

static struct ms_compiled *compile_ok(const struct ms_policy *p)
{
	struct ms_limits l;
	struct ms_compiled *c = NULL;
	char *msg = NULL;
	int err;

	ms_limits_default(&l);
	err = ms_compile(p, &l, &c, &msg);
	if (err) {
		printf("  compile failed: %s\n", msg ? msg : "?");
		free(msg);
		return NULL;
	}
	return c;
}

static struct ms_flow flow(const char *src, const char *dst, uint8_t proto, uint16_t port,
			   uint8_t dir)
{
	struct ms_flow f = { .dir = dir, .proto = proto, .port = port };

	pkt_addr(f.src, src);
	pkt_addr(f.dst, dst);
	return f;
}

static uint32_t eval(const struct ms_compiled *c, const struct ms_flow *f)
{
	uint8_t a;

	return ms_compiled_eval(c, f, &a);
}

static void t_classes_nested(void)
{
	struct ms_policy *p = ms_policy_new();
	struct ms_rule *r;
	struct ms_compiled *c;

	r = pb_rule(p, "wide", MS_ACT_ALLOW);
	pb_cidrs(&r->from, "198.18.0.0/16", NULL);
	r = pb_rule(p, "narrow", MS_ACT_DENY);
	pb_cidrs(&r->from, "198.18.1.0/24", NULL);
	r->priority = 10;
	c = compile_ok(p);
	REQUIRE(c, "compiles");
	/* outside both, in /16 only, in /24 (and so /16) */
	CHECK(c->n_src_classes == 3, "3 source classes, got %u", c->n_src_classes);
	CHECK(c->n_dst_classes == 1, "destination untouched: 1 class, got %u", c->n_dst_classes);
	/* the /0 defaults of both families + the /16 minus the /24 (8
	 * prefixes) + the /24, at most */
	CHECK(c->n_src <= 2 + 8 + 1, "few LPM entries: %zu", c->n_src);
	struct ms_flow a = flow("198.18.1.5", "198.18.9.9", MS_PROTO_TCP, 80, 0);
	struct ms_flow b = flow("198.18.2.5", "198.18.9.9", MS_PROTO_TCP, 80, 0);
	struct ms_flow o = flow("198.19.2.5", "198.18.9.9", MS_PROTO_TCP, 80, 0);

	CHECK(eval(c, &a) == 2, "inner /24 -> narrow (priority 10)");
	CHECK(eval(c, &b) == 1, "rest of /16 -> wide");
	CHECK(eval(c, &o) == MS_RULE_DEFAULT, "outside -> default");
	ms_compiled_free(&c);
	ms_policy_free(&p);
}

static void t_classes_merge_equal_membership(void)
{
	struct ms_policy *p = ms_policy_new();
	struct ms_rule *r;
	struct ms_compiled *c;

	/* Two disjoint host groups used identically by every rule share a class. */
	r = pb_rule(p, "a", MS_ACT_ALLOW);
	pb_cidrs(&r->from, "198.18.1.1,198.18.7.7,2001:db8::7", NULL);
	r = pb_rule(p, "b", MS_ACT_DENY);
	pb_cidrs(&r->from, "198.18.1.1,198.18.7.7,2001:db8::7", NULL);
	c = compile_ok(p);
	REQUIRE(c, "compiles");
	CHECK(c->n_src_classes == 2, "in the group / not: 2 classes, got %u", c->n_src_classes);
	ms_compiled_free(&c);
	ms_policy_free(&p);
}

static void t_range_split(void)
{
	struct ms_policy *p = ms_policy_new();
	struct ms_rule *r = pb_rule(p, "range", MS_ACT_ALLOW);
	struct ms_compiled *c;

	pb_port(r, MS_PROTO_TCP, 1000, 2000);
	r->dirmask = MS_DIRMASK_INGRESS;
	c = compile_ok(p);
	REQUIRE(c, "compiles");
	CHECK(c->n_port_classes == 2, "in the range or not: 2 port classes, got %u",
	      c->n_port_classes);
	for (unsigned int port = 990; port <= 2010; port++) {
		struct ms_flow f =
			flow("198.18.0.2", "198.18.0.1", MS_PROTO_TCP, (uint16_t)port, 0);
		uint32_t want = port >= 1000 && port <= 2000 ? 1 : MS_RULE_DEFAULT;

		CHECK(eval(c, &f) == want, "port %u", port);
	}
	struct ms_flow eg = flow("198.18.0.2", "198.18.0.1", MS_PROTO_TCP, 1500, 1);
	struct ms_flow udp = flow("198.18.0.2", "198.18.0.1", MS_PROTO_UDP, 1500, 0);

	CHECK(eval(c, &eg) == MS_RULE_DEFAULT, "egress is another port class");
	CHECK(eval(c, &udp) == MS_RULE_DEFAULT, "udp is another port class");
	ms_compiled_free(&c);
	ms_policy_free(&p);
}

static void t_full_range_and_any(void)
{
	struct ms_policy *p = ms_policy_new();
	struct ms_rule *r = pb_rule(p, "all-tcp", MS_ACT_DENY);
	struct ms_compiled *c;

	pb_port(r, MS_PROTO_TCP, 0, 65535);
	pb_cidrs(&r->to, "::/0,0.0.0.0/0", NULL); /* every address, both families */
	c = compile_ok(p);
	REQUIRE(c, "compiles");
	struct ms_flow f0 = flow("198.18.0.2", "198.18.0.1", MS_PROTO_TCP, 0, 0);
	struct ms_flow f1 = flow("2001:db8::2", "2001:db8::1", MS_PROTO_TCP, 65535, 1);
	struct ms_flow f2 = flow("2001:db8::2", "2001:db8::1", MS_PROTO_UDP, 1, 1);

	CHECK(eval(c, &f0) == 1 && eval(c, &f1) == 1, "full range, both families");
	CHECK(eval(c, &f2) == MS_RULE_DEFAULT, "other protocol");
	CHECK(c->n_dst_classes == 1, "::/0 with 0.0.0.0/0 is the same class as any: %u",
	      c->n_dst_classes);
	ms_compiled_free(&c);
	ms_policy_free(&p);
}

/* IPv4 is matched by IPv4 prefixes only: ::/0 (or any IPv6 prefix spanning
 * the IPv4-mapped block) is IPv6 only, in the compiled tables and in the
 * reference evaluator; so is ::ffff:0:0/96, which holds IPv6 packets'
 * IPv4-mapped addresses and no IPv4 address. */
static void t_families_never_mix(void)
{
	static const char *const v6_spans[] = { "::/0", "::/64", "::/80" };

	for (size_t i = 0; i < 3; i++) {
		struct ms_policy *p = ms_policy_new();
		struct ms_rule *r = pb_rule(p, "v6", MS_ACT_DENY);
		struct ms_compiled *c;
		uint8_t a;

		pb_cidrs(&r->to, v6_spans[i], NULL);
		c = compile_ok(p);
		REQUIRE(c, "compiles");
		struct ms_flow v4 = flow("198.18.0.2", "198.18.0.1", MS_PROTO_TCP, 80, 0);
		struct ms_flow v6 = flow("2001:db8::2", "::1", MS_PROTO_TCP, 80, 0);

		CHECK(eval(c, &v4) == MS_RULE_DEFAULT, "%s does not match IPv4", v6_spans[i]);
		CHECK(ms_policy_eval(p, &v4, &a) == MS_RULE_DEFAULT, "reference: %s, IPv4",
		      v6_spans[i]);
		CHECK(eval(c, &v6) == 1 && ms_policy_eval(p, &v6, &a) == 1, "%s matches IPv6",
		      v6_spans[i]);
		ms_compiled_free(&c);
		ms_policy_free(&p);
	}
	/* An IPv6 packet from or to an IPv4-mapped address is IPv6: IPv6
	 * prefixes match it (::ffff:0:0/96 written as such is one), IPv4 ones
	 * never. */
	static const char *const mapped_rules[] = { "::ffff:0:0/96", "::ffff:198.18.0.0/112",
						    "::/0", "0.0.0.0/0", "198.18.0.0/16" };

	for (size_t i = 0; i < 5; i++) {
		struct ms_policy *p = ms_policy_new();
		struct ms_rule *r = pb_rule(p, "r", MS_ACT_DENY);
		struct ms_compiled *c;
		bool v6rule = strchr(mapped_rules[i], ':') != NULL;
		uint8_t a;

		pb_cidrs(&r->from, mapped_rules[i], NULL);
		c = compile_ok(p);
		REQUIRE(c, "compiles");
		struct ms_flow v4 = flow("198.18.0.2", "198.18.0.1", MS_PROTO_TCP, 80, 0);
		struct ms_flow m6 =
			flow("::ffff:198.18.0.2", "::ffff:198.18.0.1", MS_PROTO_TCP, 80, 0);
		uint32_t want4 = v6rule ? MS_RULE_DEFAULT : 1, want6 = v6rule ? 1 : MS_RULE_DEFAULT;

		m6.family = MS_FAMILY_IPV6;
		v4.family = MS_FAMILY_IPV4;
		CHECK(eval(c, &v4) == want4 && ms_policy_eval(p, &v4, &a) == want4,
		      "%s and IPv4 198.18.0.2", mapped_rules[i]);
		CHECK(eval(c, &m6) == want6 && ms_policy_eval(p, &m6, &a) == want6,
		      "%s and IPv6 ::ffff:198.18.0.2", mapped_rules[i]);
		ms_compiled_free(&c);
		ms_policy_free(&p);
	}
}

static void t_empty_selector_never_matches(void)
{
	struct ms_policy *p = ms_policy_new();
	struct ms_rule *r = pb_rule(p, "nobody", MS_ACT_DENY);
	struct ms_compiled *c;

	ms_addrset_add_term(&r->from); /* a term with no addresses */
	p->default_action = MS_ACT_ALLOW;
	c = compile_ok(p);
	REQUIRE(c, "compiles");
	struct ms_flow f = flow("198.18.0.2", "198.18.0.1", MS_PROTO_TCP, 22, 0);

	CHECK(eval(c, &f) == MS_RULE_DEFAULT, "empty selector matches nothing");
	CHECK(c->n_dec == 0, "no decision entries: %zu", c->n_dec);
	ms_compiled_free(&c);
	ms_policy_free(&p);
}

static void t_overflow_errors(void)
{
	struct ms_policy *p = ms_policy_new();
	struct ms_limits l;
	struct ms_compiled *c = NULL;
	char *msg = NULL, name[32];
	int err;

	for (int i = 0; i < 64; i++) {
		struct ms_rule *r;
		char cidr[32];

		snprintf(name, sizeof(name), "r%d", i);
		r = pb_rule(p, name, MS_ACT_ALLOW);
		snprintf(cidr, sizeof(cidr), "198.18.%d.0/24", i);
		pb_cidrs(&r->to, cidr, NULL);
		pb_port(r, MS_PROTO_TCP, (uint16_t)(1000 + i), (uint16_t)(1000 + i));
	}
	ms_limits_default(&l);
	l.max_rules = 10;
	err = ms_compile(p, &l, &c, &msg);
	CHECK(err == -E2BIG && msg && strstr(msg, "64 rules"), "rule limit: %s", msg ? msg : "");
	CHECK(c == NULL, "out untouched");
	free(msg);
	msg = NULL;

	ms_limits_default(&l);
	l.max_addr_entries = 16;
	err = ms_compile(p, &l, &c, &msg);
	CHECK(err == -E2BIG && msg && strstr(msg, "destination address table overflow"), "addr: %s",
	      msg ? msg : "");
	free(msg);
	msg = NULL;

	ms_limits_default(&l);
	l.max_decision_entries = 32;
	err = ms_compile(p, &l, &c, &msg);
	CHECK(err == -E2BIG && msg && strstr(msg, "decision table overflow") &&
		      strstr(msg, "'r32'"),
	      "decisions (names the rule that overflowed): %s", msg ? msg : "");
	free(msg);
	msg = NULL;

	ms_limits_default(&l);
	err = ms_compile(p, &l, &c, &msg);
	CHECK(err == 0 && c && c->n_dec == 64, "fits the defaults with one entry per rule: %zu",
	      c ? c->n_dec : 0);
	ms_compiled_free(&c);
	free(msg);
	ms_policy_free(&p);
}

/* 10,000 overlapping CIDRs: every rule's source is a /32, /24, /20 or the
 * /16 that holds them all, so they nest deeply. */
static struct ms_policy *overlapping(unsigned int n_ports, uint16_t port_span)
{
	static const int plens[] = { 32, 24, 20, 16 };
	struct ms_policy *p = ms_policy_new();
	char name[32], cidr[48];

	for (int i = 0; i < 10000; i++) {
		struct ms_rule *r;
		struct ms_cidr cc;

		snprintf(name, sizeof(name), "r%d", i);
		r = pb_rule(p, name, i % 3 == 0 ? MS_ACT_DENY : MS_ACT_ALLOW);
		r->priority = i % 7;
		snprintf(cidr, sizeof(cidr), "198.%d.%d.%d/%d", 18 + (i >> 14 & 1), (i >> 6) & 0xff,
			 (i * 37) & 0xff, plens[i % 4]);
		ms_cidr_parse(cidr, &cc); /* clears the host bits */
		pb_cidrs(&r->from, ms_cidr_format(&cc, cidr), NULL);
		pb_port(r, MS_PROTO_TCP, (uint16_t)(i % n_ports),
			(uint16_t)(i % n_ports + port_span));
	}
	return p;
}

static int spot_check(const struct ms_policy *p, const struct ms_compiled *c, int n)
{
	uint64_t rng = 42;
	int bad = 0;

	for (int i = 0; i < n; i++) {
		struct ms_flow f;
		uint8_t a1, a2;

		pb_random_flow(&rng, p, &f);
		if (ms_compiled_eval(c, &f, &a1) != ms_policy_eval(p, &f, &a2) || a1 != a2)
			bad++;
	}
	return bad;
}

static void t_adversarial_overlap(void)
{
	struct ms_policy *p = overlapping(50, 0);
	struct ms_compiled *c = compile_ok(p);

	CHECK(c != NULL, "10,000 overlapping CIDRs compile within the default limits");
	if (c) {
		printf("  10000 nested CIDRs: %u src classes, %u port classes; %zu src + %zu "
		       "decision entries, %" PRIu64 " bytes\n",
		       c->n_src_classes, c->n_port_classes, c->n_src, c->n_dec,
		       ms_compiled_bytes(c));
		CHECK(c->n_src < 4 * 10000, "source table linear in the CIDRs: %zu", c->n_src);
		CHECK(c->n_dec <= MS_DEFAULT_MAX_DECISION_ENTRIES, "decision table bounded");
		CHECK(spot_check(p, c, 300) == 0, "agrees with the reference");
	}
	ms_compiled_free(&c);
	ms_policy_free(&p);
}

/* The same with 20,000-port ranges: the class cross product cannot fit, and
 * the compiler must say so clearly (and quickly), never drop rules. */
static void t_adversarial_wide_ports(void)
{
	struct ms_policy *p = overlapping(1000, 20000);
	struct ms_limits l;
	struct ms_compiled *c = NULL;
	char *msg = NULL;
	int err;

	ms_limits_default(&l);
	err = ms_compile(p, &l, &c, &msg);
	if (err == 0) {
		CHECK(c->n_dec <= l.max_decision_entries, "bounded");
		CHECK(spot_check(p, c, 300) == 0, "agrees with the reference");
	} else {
		printf("  wide ranges: %s\n", msg ? msg : "?");
		CHECK(err == -E2BIG && msg &&
			      (strstr(msg, "decision table overflow") ||
			       strstr(msg, "too complex")),
		      "clear overflow error: %s", msg ? msg : "(none)");
	}
	free(msg);
	ms_compiled_free(&c);
	ms_policy_free(&p);
}

/* `any` selectors are stored once as wildcards, not once per class. */
static void t_any_is_compact(void)
{
	struct ms_policy *p = ms_policy_new();
	struct ms_compiled *c;
	char name[32], host[48];

	for (int i = 0; i < 5000; i++) {
		struct ms_rule *r;

		snprintf(name, sizeof(name), "host%d", i);
		r = pb_rule(p, name, MS_ACT_ALLOW);
		snprintf(host, sizeof(host), "198.18.%d.%d", i / 250, i % 250 + 1);
		pb_cidrs(&r->from, host, NULL);
		snprintf(host, sizeof(host), "198.19.%d.%d", i / 250, i % 250 + 1);
		pb_cidrs(&r->to, host, NULL);
		pb_port(r, MS_PROTO_TCP, (uint16_t)(8000 + i % 100), (uint16_t)(8000 + i % 100));
	}
	for (int i = 0; i < 50; i++) {
		struct ms_rule *r;

		snprintf(name, sizeof(name), "any-to-db%d", i);
		r = pb_rule(p, name, i % 2 ? MS_ACT_DENY : MS_ACT_ALLOW);
		r->priority = i % 3 ? 50 : 150;
		snprintf(host, sizeof(host), "198.19.%d.%d", i, i + 1);
		pb_cidrs(&r->to, host, NULL); /* from any */
		pb_port(r, MS_PROTO_TCP, 5432, 5432);
		snprintf(name, sizeof(name), "admin%d-to-any", i);
		r = pb_rule(p, name, MS_ACT_LOG);
		snprintf(host, sizeof(host), "198.18.%d.%d", i, i + 1);
		pb_cidrs(&r->from, host, NULL);	   /* to any */
		r = pb_rule(p, name, MS_ACT_DENY); /* any to any */
		pb_port(r, MS_PROTO_UDP, (uint16_t)i, (uint16_t)i);
	}
	c = compile_ok(p);
	REQUIRE(c, "compiles");
	printf("  %zu rules: %u src classes, %zu decision entries, wildcards 0x%x\n", p->n_rules,
	       c->n_src_classes, c->n_dec, c->wildcards);
	CHECK(c->n_dec < 20000, "no per-class expansion of any: %zu entries", c->n_dec);
	CHECK(c->wildcards == (MS_WILD_SRC | MS_WILD_DST | MS_WILD_BOTH),
	      "all three wildcard tables");
	CHECK(spot_check(p, c, 2000) == 0, "agrees with the reference");
	ms_compiled_free(&c);
	ms_policy_free(&p);
}

/* Rules with `from` omitted and rules with `to` omitted on the same port
 * must not need an entry for every pair of them. */
static void t_one_sided_wildcards_linear(void)
{
	struct ms_policy *p = ms_policy_new();
	struct ms_compiled *c;
	char name[32], host[48];

	for (int i = 0; i < 1400; i++) {
		struct ms_rule *r;

		snprintf(name, sizeof(name), "to%d", i);
		r = pb_rule(p, name, i % 4 ? MS_ACT_ALLOW : MS_ACT_DENY);
		r->priority = 10 + i % 90;
		snprintf(host, sizeof(host), "198.18.%d.%d", i / 250, i % 250 + 1);
		pb_cidrs(&r->to, host, NULL);
		pb_port(r, MS_PROTO_TCP, 443, 443);
	}
	for (int i = 0; i < 670; i++) {
		struct ms_rule *r;

		snprintf(name, sizeof(name), "from%d", i);
		r = pb_rule(p, name, i % 3 ? MS_ACT_ALLOW : MS_ACT_DENY);
		r->priority = 10 + i % 90;
		snprintf(host, sizeof(host), "198.19.%d.%d", i / 250, i % 250 + 1);
		pb_cidrs(&r->from, host, NULL);
		pb_port(r, MS_PROTO_TCP, 443, 443);
	}
	c = compile_ok(p);
	REQUIRE(c, "compiles");
	CHECK(c->n_dec <= 1400 + 670, "one entry per rule, not per pair: %zu", c->n_dec);
	CHECK(spot_check(p, c, 3000) == 0, "agrees with the reference");
	ms_compiled_free(&c);
	ms_policy_free(&p);
}

static void t_userspace_differential(void)
{
	uint64_t rng = 0xd1ff;
	unsigned long cases = 0, bad = 0;

	for (int i = 0; i < 1500 && bad < 5; i++) {
		struct ms_policy *p = pb_random_policy(&rng, 24);
		struct ms_compiled *c = compile_ok(p);

		REQUIRE(c, "random policy %d compiles", i);
		for (int k = 0; k < 100; k++, cases++) {
			struct ms_flow f;
			uint8_t a1, a2;
			uint32_t r1, r2;

			pb_random_flow(&rng, p, &f);
			r1 = ms_compiled_eval(c, &f, &a1);
			r2 = ms_policy_eval(p, &f, &a2);
			if (r1 != r2 || a1 != a2) {
				bad++;
				t_fail(__FILE__, __LINE__, "compiled == reference",
				       "policy %d flow %d: rule %u want %u", i, k, r1, r2);
			}
		}
		ms_compiled_free(&c);
		ms_policy_free(&p);
	}
	printf("  %lu cases, %lu mismatches\n", cases, bad);
}

static void t_cidr_parse(void)
{
	struct ms_cidr c;
	char buf[MS_CIDR_STRLEN];

	CHECK(ms_cidr_parse("198.18.1.0/24", &c) == 0 && c.plen == 120, "v4 prefix");
	CHECK(strcmp(ms_cidr_format(&c, buf), "198.18.1.0/24") == 0, "format v4: %s", buf);
	CHECK(ms_cidr_parse("198.18.1.1/24", &c) == -ERANGE, "host bits set");
	CHECK(ms_cidr_parse("2001:db8::/32", &c) == 0 && c.plen == 32, "v6 prefix");
	CHECK(ms_cidr_parse("2001:db8::1", &c) == 0 && c.plen == 128, "v6 host");
	CHECK(ms_cidr_parse("198.18.1.1/33", &c) == -EINVAL, "prefix too long");
	CHECK(ms_cidr_parse("198.18.1/24", &c) == -EINVAL, "short address");
	CHECK(ms_cidr_parse("198.18.1.0/+4", &c) == -EINVAL, "signed prefix");
	CHECK(ms_cidr_parse("", &c) == -EINVAL, "empty");
	CHECK(ms_cidr_parse("/8", &c) == -EINVAL, "no address");
}

int main(void)
{
	RUN(t_cidr_parse);
	RUN(t_classes_nested);
	RUN(t_classes_merge_equal_membership);
	RUN(t_range_split);
	RUN(t_full_range_and_any);
	RUN(t_families_never_mix);
	RUN(t_empty_selector_never_matches);
	RUN(t_overflow_errors);
	RUN(t_adversarial_overlap);
	RUN(t_adversarial_wide_ports);
	RUN(t_any_is_compact);
	RUN(t_one_sided_wildcards_linear);
	RUN(t_userspace_differential);
	return t_done();
}
