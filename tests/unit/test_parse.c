// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * The YAML front end: every valid form of every key, and every error class
 * with the exact FILE:LINE:COL the user sees.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "policy_check.h"
#include "policy_lint.h"
#include "policy_parse.h"
#include "testlib.h"

static struct ms_diag D;
static struct ms_policy *P;

/* Parse yaml as "t.yaml" into P and D; returns the parser's result. */
static int parse(const char *yaml)
{
	ms_policy_free(&P);
	ms_diag_free(&D);
	return ms_policy_parse_mem("t.yaml", yaml, strlen(yaml), &P, &D);
}

static void dump(void)
{
	for (size_t i = 0; i < D.n; i++)
		printf("    | %s\n", D.msgs[i]);
}

static bool has_msg(const char *prefix)
{
	for (size_t i = 0; i < D.n; i++)
		if (!strncmp(D.msgs[i], prefix, strlen(prefix)))
			return true;
	return false;
}

/* yaml must fail and report (among others) a message starting with msg. */
#define ERR(yaml, msg)                                                    \
	do {                                                              \
		int r_ = parse(yaml);                                     \
		CHECK(r_ == -EINVAL, "parse returned %d", r_);            \
		CHECK(P == NULL, "policy set on failure");                \
		if (!has_msg(msg)) {                                      \
			CHECK(0, "no message starting with \"%s\"", msg); \
			dump();                                           \
		}                                                         \
	} while (0)

#define OK(yaml)                                                \
	do {                                                    \
		int r_ = parse(yaml);                           \
		if (r_ || D.n_errors)                           \
			dump();                                 \
		REQUIRE(r_ == 0 && P, "parse returned %d", r_); \
	} while (0)

#define HDR "version: 1\n"
#define WL                                                      \
	"workloads:\n"                                          \
	"  web:\n"                                              \
	"    labels: {role: web, env: prod}\n"                  \
	"    addresses: [198.18.1.0/24, \"2001:db8:1::/64\"]\n" \
	"  web2:\n"                                             \
	"    labels: {role: web, env: dev}\n"                   \
	"    addresses: [198.18.4.4]\n"                         \
	"  db:\n"                                               \
	"    labels: {role: db, env: prod}\n"                   \
	"    addresses: [198.18.2.10, 2001:db8:2::10]\n"
/* WL ends on line 11 */

static struct ms_cidr C(const char *s) {
	struct ms_cidr c;

	if (ms_cidr_parse(s, &c))
		abort();
	return c;
}

static bool
cidr_eq(const struct ms_cidr *a, const char *s)
{
	struct ms_cidr b = C(s);

	return a->plen == b.plen && !memcmp(a->addr, b.addr, 16);
}

static uint32_t eval(int dir, uint8_t proto, uint16_t port, const char *src, const char *dst,
		     uint8_t *act)
{
	struct ms_flow f = { .dir = (uint8_t)dir, .proto = proto, .port = port };
	struct ms_cidr s = C(src), d = C(dst);

	memcpy(f.src, s.addr, 16);
	memcpy(f.dst, d.addr, 16);
	return ms_policy_eval(P, &f, act);
}

/* ---- valid forms ---- */

static void test_minimal(void)
{
	OK(HDR);
	CHECK(P->version == 1 && !P->monitor && P->default_action == MS_ACT_DENY, "defaults");
	CHECK(P->n_rules == 0 && P->n_workloads == 0, "empty");
	CHECK(P->path && !strcmp(P->path, "t.yaml"), "path");
	CHECK(D.n == 0, "no diagnostics");
	OK("# comment\n---\nversion: 1\nworkloads: {}\nrules: []\n...\n");
}

static void test_mode_default(void)
{
	OK(HDR "mode: monitor\ndefault: allow\n");
	CHECK(P->monitor && P->default_action == MS_ACT_ALLOW, "monitor/allow");
	OK(HDR "mode: enforce\ndefault: deny\n");
	CHECK(!P->monitor && P->default_action == MS_ACT_DENY, "enforce/deny");
	OK(HDR "mode: \"monitor\"\n");
	CHECK(P->monitor, "quoted enum");
}

static void test_workloads(void)
{
	const struct ms_workload *w;

	OK(HDR WL);
	REQUIRE(P->n_workloads == 3, "%zu workloads", P->n_workloads);
	w = &P->workloads[0];
	CHECK(!strcmp(w->name, "web") && w->pos.line == 3 && w->pos.col == 3, "web pos");
	REQUIRE(w->n_labels == 2 && w->n_addrs == 2, "web contents");
	CHECK(!strcmp(w->labels[0].key, "role") && !strcmp(w->labels[0].value, "web"), "label");
	CHECK(!strcmp(w->labels[1].key, "env") && !strcmp(w->labels[1].value, "prod"), "label 2");
	CHECK(cidr_eq(&w->addrs[0], "198.18.1.0/24") && w->addrs[0].plen == 96 + 24, "v4 cidr");
	CHECK(cidr_eq(&w->addrs[1], "2001:db8:1::/64") && w->addrs[1].plen == 64, "v6 cidr");
	w = &P->workloads[2];
	REQUIRE(w->n_addrs == 2, "db addrs");
	CHECK(w->addrs[0].plen == 128 && cidr_eq(&w->addrs[0], "198.18.2.10"), "v4 host");
	CHECK(w->addrs[1].plen == 128 && cidr_eq(&w->addrs[1], "2001:db8:2::10"),
	      "unquoted v6 host");
	/* Labels are optional; block style works; label values are strings. */
	OK(HDR "workloads:\n  a:\n    addresses:\n      - 198.18.0.0/15\n      - \"::1\"\n"
	       "      - \"2001:db8::\"\n  b:\n    labels:\n      tier: 1\n    addresses: "
	       "[0.0.0.0/0]\n");
	REQUIRE(P->n_workloads == 2 && P->workloads[0].n_addrs == 3, "block");
	CHECK(P->workloads[0].n_labels == 0, "no labels");
	CHECK(cidr_eq(&P->workloads[0].addrs[2], "2001:db8::/128"), "quoted v6 ending in ::");
	CHECK(!strcmp(P->workloads[1].labels[0].value, "1"), "numeric label value");
	CHECK(P->workloads[1].addrs[0].plen == 96, "0.0.0.0/0");
}

static void test_rule_fields(void)
{
	const struct ms_rule *r;

	OK(HDR "rules:\n"
	       "  - name: a\n    action: allow\n"
	       "  - name: b\n    action: deny\n    priority: 5\n    direction: ingress\n"
	       "  - name: c.d_e-1\n    action: log\n    direction: egress\n    priority: 0\n"
	       "  - {name: f, action: allow, direction: any, priority: 65535}\n");
	REQUIRE(P->n_rules == 4, "4 rules");
	r = &P->rules[0];
	CHECK(!strcmp(r->name, "a") && r->action == MS_ACT_ALLOW && r->priority == 100 &&
		      r->dirmask == MS_DIRMASK_ANY && r->from.any && r->to.any && r->any_port,
	      "defaults of a rule");
	CHECK(r->pos.line == 3 && r->pos.col == 5, "rule pos %u:%u", r->pos.line, r->pos.col);
	r = &P->rules[1];
	CHECK(r->action == MS_ACT_DENY && r->priority == 5 && r->dirmask == MS_DIRMASK_INGRESS,
	      "b");
	r = &P->rules[2];
	CHECK(r->action == MS_ACT_LOG && r->priority == 0 && r->dirmask == MS_DIRMASK_EGRESS, "c");
	r = &P->rules[3];
	CHECK(r->priority == 65535 && r->dirmask == MS_DIRMASK_ANY && r->pos.line == 13 &&
		      r->pos.col == 5,
	      "flow-style rule");
}

static void test_selectors(void)
{
	const struct ms_rule *r;
	const struct ms_addr_term *t;

	OK(HDR WL "rules:\n"
		  "  - name: cidr\n    action: allow\n"
		  "    from: {cidr: [198.18.0.0/16, \"2001:db8::/32\"], except: [198.18.9.0/24]}\n"
		  "  - name: wl\n    action: allow\n    to: {workload: db}\n"
		  "  - name: wls\n    action: allow\n    from: {workloads: [web, db]}\n"
		  "  - name: lab\n    action: allow\n    to: {labels: {env: prod}}\n"
		  "  - name: union\n    action: allow\n"
		  "    from:\n      - workload: web2\n      - cidr: [198.18.8.8]\n"
		  "      - labels: {role: db}\n");
	REQUIRE(P->n_rules == 5, "rules");
	r = &P->rules[0];
	REQUIRE(!r->from.any && r->from.n_terms == 1 && r->to.any, "cidr: one term");
	t = &r->from.terms[0];
	CHECK(t->n_cidrs == 2 && t->n_except == 1 && cidr_eq(&t->except[0], "198.18.9.0/24"),
	      "cidr+except");
	r = &P->rules[1];
	REQUIRE(r->to.n_terms == 1 && r->to.terms[0].n_cidrs == 2, "workload");
	CHECK(cidr_eq(&r->to.terms[0].cidrs[0], "198.18.2.10"), "workload addr");
	r = &P->rules[2];
	REQUIRE(r->from.n_terms == 1 && r->from.terms[0].n_cidrs == 4, "workloads union");
	r = &P->rules[3];
	REQUIRE(r->to.n_terms == 1, "labels");
	CHECK(r->to.terms[0].n_cidrs == 4, "env=prod selects web and db: %zu",
	      r->to.terms[0].n_cidrs);
	r = &P->rules[4];
	REQUIRE(r->from.n_terms == 3, "list = one term per selector");
}

static void test_selector_eval(void)
{
	uint8_t act;

	OK(HDR WL
	   "rules:\n"
	   "  - name: prod-to-db\n    action: allow\n"
	   "    from: {labels: {env: prod}}\n    to: {labels: {role: db}}\n"
	   "  - name: net\n    action: log\n"
	   "    from: [{cidr: [198.18.0.0/16], except: [198.18.1.0/24]}, {workload: web2}]\n");
	CHECK(eval(0, 6, 1, "198.18.1.7", "198.18.2.10", &act) == 1 && act == MS_ACT_ALLOW,
	      "web (prod) to db");
	CHECK(eval(0, 6, 1, "2001:db8:1::7", "2001:db8:2::10", &act) == 1, "v6 web to db");
	CHECK(eval(0, 6, 1, "198.18.4.4", "198.18.2.10", &act) == 2 && act == MS_ACT_LOG,
	      "web2 (dev) is not prod: falls to net");
	CHECK(eval(0, 6, 1, "198.18.1.9", "198.18.3.3", &act) == 0 && act == MS_ACT_DENY,
	      "except removes web's net");
	CHECK(eval(0, 6, 1, "198.18.7.1", "198.18.3.3", &act) == 2, "inside cidr");
	CHECK(eval(0, 6, 1, "198.19.7.1", "198.18.3.3", &act) == 0, "outside cidr");
}

static void test_ports(void)
{
	static const struct {
		const char *spec;
		uint8_t proto;
		uint16_t lo, hi;
	} cases[] = {
		{ "tcp", 6, 0, 65535 },
		{ "tcp/80", 6, 80, 80 },
		{ "tcp/8000-8099", 6, 8000, 8099 },
		{ "udp/53", 17, 53, 53 },
		{ "udp/0-65535", 17, 0, 65535 },
		{ "sctp/3868", 132, 3868, 3868 },
		{ "icmp", 1, 0, 255 },
		{ "icmp/8", 1, 8, 8 },
		{ "icmp/echo-request", 1, 8, 8 },
		{ "icmp/echo-reply", 1, 0, 0 },
		{ "icmp/3-4", 1, 3, 4 },
		{ "icmpv6", 58, 0, 255 },
		{ "icmpv6/128", 58, 128, 128 },
		{ "icmpv6/echo-request", 58, 128, 128 },
		{ "icmpv6/packet-too-big", 58, 2, 2 },
		{ "\"47\"", 47, 0, 0 },
		{ "\"0\"", 0, 0, 0 },
		{ "6/22", 6, 22, 22 },
		{ "17", 17, 0, 65535 },
		{ "\"255\"", 255, 0, 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *y;
		const struct ms_rule *r;

		if (asprintf(&y, HDR "rules:\n  - name: p\n    action: allow\n    ports: [%s]\n",
			     cases[i].spec) < 0)
			abort();
		parse(y);
		free(y);
		if (!P || D.n) {
			CHECK(0, "%s: did not parse cleanly", cases[i].spec);
			dump();
			continue;
		}
		r = &P->rules[0];
		CHECK(!r->any_port && r->n_ports == 1 && r->ports[0].proto == cases[i].proto &&
			      r->ports[0].lo == cases[i].lo && r->ports[0].hi == cases[i].hi,
		      "%s: got %u/%u-%u", cases[i].spec, r->ports[0].proto, r->ports[0].lo,
		      r->ports[0].hi);
	}
	OK(HDR
	   "rules:\n  - name: p\n    action: allow\n    ports:\n      - tcp/22\n      - udp/53\n");
	CHECK(P->rules[0].n_ports == 2, "block list of ports");
}

static void test_forward_reference(void)
{
	/* Rules may come before the workloads they name. */
	OK(HDR "rules:\n  - name: r\n    action: allow\n    to: {workload: late}\n"
	       "workloads:\n  late:\n    addresses: [198.18.5.5]\n");
	CHECK(P->rules[0].to.n_terms == 1 && P->rules[0].to.terms[0].n_cidrs == 1, "resolved");
}

static void test_ipv6_forms(void)
{
	OK(HDR "workloads:\n  a:\n    addresses: [\"::\", \"::/0\", \"::ffff:198.18.0.1\", "
	       "\"2001:db8::ff00:42:8329/128\", 2001:DB8::1, \"fe80::/10\"]\n");
	REQUIRE(P->workloads[0].n_addrs == 6, "six");
	CHECK(P->workloads[0].addrs[1].plen == 0, "::/0");
	CHECK(cidr_eq(&P->workloads[0].addrs[2], "198.18.0.1"), "v4-mapped equals v4");
	CHECK(cidr_eq(&P->workloads[0].addrs[4], "2001:db8::1"), "upper case");
	ERR(HDR "workloads:\n  a:\n    addresses:\n      - 2001:db8::\n",
	    "t.yaml:5:9: error: an address must be an address, not a mapping (quote IPv6");
	ERR(HDR "workloads:\n  a:\n    addresses: [\"2001:db8::1/32\"]\n",
	    "t.yaml:4:17: error: '2001:db8::1/32' has bits set beyond its prefix length; did "
	    "you mean 2001:db8::/32?");
	ERR(HDR "workloads:\n  a:\n    addresses: [\"2001:db8:::1\"]\n",
	    "t.yaml:4:17: error: invalid address '2001:db8:::1'");
	ERR(HDR "workloads:\n  a:\n    addresses: [\"2001:db8::/129\"]\n",
	    "t.yaml:4:17: error: invalid prefix length in '2001:db8::/129' (IPv6: 0-128)");
}

/* ---- errors, with positions ---- */

static void test_err_version(void)
{
	ERR("mode: enforce\n", "t.yaml:1:1: error: missing 'version'");
	ERR("version: 2\n", "t.yaml:1:10: error: unsupported policy version 2");
	ERR("version: \"1\"\n", "t.yaml:1:10: error: version must be an integer, not '1' "
				"(a quoted string)");
	ERR("version: 1.0\n", "t.yaml:1:10: error: version must be an integer");
	ERR("version: 01\n", "t.yaml:1:10: error: version must be an integer");
	ERR("version:\n", "t.yaml:1:9: error: version is empty");
	ERR("", "t.yaml:1:1: error: empty policy");
	ERR("# just a comment\n", "t.yaml:1:1: error: empty policy");
	ERR("- version: 1\n", "t.yaml:1:1: error: a policy must be a mapping, not a list");
	ERR("hello\n", "t.yaml:1:1: error: a policy must be a mapping, not the value 'hello'");
}

static void test_err_unknown_keys(void)
{
	ERR(HDR "defualt: deny\n",
	    "t.yaml:2:1: error: unknown key 'defualt' in the policy; did you mean 'default'?");
	ERR(HDR "rule: []\n",
	    "t.yaml:2:1: error: unknown key 'rule' in the policy; did you mean 'rules'?");
	ERR(HDR "colour: blue\n",
	    "t.yaml:2:1: error: unknown key 'colour' in the policy (expected version, mode, "
	    "default, workloads, rules, anomaly, discovery, host or autolabels)");
	ERR(HDR "workloads:\n  a:\n    adresses: [198.18.0.1]\n",
	    "t.yaml:4:5: error: unknown key 'adresses' in a workload; did you mean 'addresses'?");
	ERR(HDR "rules:\n  - name: a\n    action: allow\n    port: [tcp/1]\n",
	    "t.yaml:5:5: error: unknown key 'port' in a rule; did you mean 'ports'?");
	ERR(HDR "rules:\n  - name: a\n    action: allow\n    to: {cidrs: [198.18.0.0/16]}\n",
	    "t.yaml:5:10: error: unknown key 'cidrs' in a selector; did you mean 'cidr'?");
	ERR(HDR "rules:\n  - name: a\n    action: allow\n    Ports: [tcp/1]\n",
	    "t.yaml:5:5: error: unknown key 'Ports' in a rule; did you mean 'ports'?");
}

static void test_err_types(void)
{
	ERR(HDR "workloads: [a, b]\n",
	    "t.yaml:2:12: error: workloads must be a mapping, not a list");
	ERR(HDR "workloads:\n", "t.yaml:2:11: error: workloads is empty: expected a mapping");
	ERR(HDR "rules: {a: 1}\n", "t.yaml:2:8: error: rules must be a list, not a mapping");
	ERR(HDR "rules:\n  - just-a-name\n",
	    "t.yaml:3:5: error: a rule must be a mapping, not the value 'just-a-name'");
	ERR(HDR "mode: [enforce]\n", "t.yaml:2:7: error: mode must be a string, not a list");
	ERR(HDR "rules:\n  - name: a\n    action: allow\n    priority: high\n",
	    "t.yaml:5:15: error: priority must be an integer, not 'high'");
	ERR(HDR "rules:\n  - name: a\n    action: allow\n    priority: 65536\n",
	    "t.yaml:5:15: error: priority 65536 is out of range (0-65535)");
	ERR(HDR "rules:\n  - name: a\n    action: allow\n    priority: -1\n",
	    "t.yaml:5:15: error: priority -1 is out of range (0-65535)");
	ERR(HDR "rules:\n  - name: a\n    action: allow\n    from: anywhere\n",
	    "t.yaml:5:11: error: 'from' must be a selector mapping or a list of them, not "
	    "'anywhere'");
	ERR(HDR "rules:\n  - name: a\n    action: allow\n    from: [anywhere]\n",
	    "t.yaml:5:12: error: a selector must be a mapping, not the value 'anywhere'");
	ERR(HDR "rules:\n  - name: a\n    action: allow\n    ports: tcp/80\n",
	    "t.yaml:5:12: error: ports must be a list, not the value 'tcp/80'");
	ERR(HDR "rules:\n  - name: a\n    action: allow\n    ports: [[tcp/80]]\n",
	    "t.yaml:5:13: error: a ports entry must be a string, not a list");
	ERR(HDR "rules:\n  - name: [a]\n    action: allow\n",
	    "t.yaml:3:11: error: rule name must be a string, not a list");
	ERR(HDR "workloads:\n  a:\n    addresses: 198.18.0.1\n",
	    "t.yaml:4:16: error: addresses must be a list, not the value '198.18.0.1'");
	ERR(HDR "workloads:\n  a:\n    labels: [web]\n    addresses: [198.18.0.1]\n",
	    "t.yaml:4:13: error: labels must be a mapping, not a list");
	ERR(HDR "workloads:\n  a:\n    labels: {role: [x]}\n    addresses: [198.18.0.1]\n",
	    "t.yaml:4:20: error: a label value must be a string, not a list");
	ERR(HDR "workloads:\n  a: [198.18.0.1]\n",
	    "t.yaml:3:6: error: a workload must be a mapping, not a list");
	ERR(HDR "rules:\n  - name: a\n    action: allow\n    to: {workload: [db]}\n",
	    "t.yaml:5:20: error: workload must be a string, not a list");
}

static void test_err_enums(void)
{
	ERR(HDR "mode: enforc\n",
	    "t.yaml:2:7: error: invalid mode 'enforc'; did you mean 'enforce'?");
	ERR(HDR "mode: audit\n",
	    "t.yaml:2:7: error: invalid mode 'audit' (expected enforce or monitor)");
	ERR(HDR "default: drop\n",
	    "t.yaml:2:10: error: invalid default 'drop' (expected allow or deny)");
	ERR(HDR "rules:\n  - name: a\n    action: permit\n",
	    "t.yaml:4:13: error: invalid action 'permit' (expected allow, deny or log)");
	ERR(HDR "rules:\n  - name: a\n    action: alow\n",
	    "t.yaml:4:13: error: invalid action 'alow'; did you mean 'allow'?");
	ERR(HDR "rules:\n  - name: a\n    action: allow\n    direction: in\n",
	    "t.yaml:5:16: error: invalid direction 'in' (expected ingress, egress or any)");
	ERR(HDR "rules:\n  - name: a\n    action: allow\n    direction: egres\n",
	    "t.yaml:5:16: error: invalid direction 'egres'; did you mean 'egress'?");
}

static void test_err_addresses(void)
{
	ERR(HDR "workloads:\n  a:\n    addresses: [198.18.1.1/24]\n",
	    "t.yaml:4:17: error: '198.18.1.1/24' has bits set beyond its prefix length; did "
	    "you mean 198.18.1.0/24?");
	ERR(HDR "workloads:\n  a:\n    addresses: [198.18.0.0/33]\n",
	    "t.yaml:4:17: error: invalid prefix length in '198.18.0.0/33' (IPv4: 0-32)");
	ERR(HDR "workloads:\n  a:\n    addresses: [198.18.0.0/-1]\n",
	    "t.yaml:4:17: error: invalid prefix length in '198.18.0.0/-1' (IPv4: 0-32)");
	ERR(HDR "workloads:\n  a:\n    addresses: [198.18.0.0/]\n",
	    "t.yaml:4:17: error: invalid prefix length in '198.18.0.0/'");
	ERR(HDR "workloads:\n  a:\n    addresses: [198.18.300.1]\n",
	    "t.yaml:4:17: error: invalid address '198.18.300.1'");
	ERR(HDR "workloads:\n  a:\n    addresses: [example.com]\n",
	    "t.yaml:4:17: error: invalid address 'example.com'");
	ERR(HDR "workloads:\n  a:\n    addresses: []\n",
	    "t.yaml:4:16: error: addresses is an empty list");
	ERR(HDR "workloads:\n  a:\n    labels: {x: y}\n",
	    "t.yaml:3:3: error: workload 'a' has no 'addresses'");
	ERR(HDR "rules:\n  - name: a\n    action: allow\n"
		"    from: {cidr: [198.18.0.0/16], except: [198.19.0.0/24, 198.18.1.0/24]}\n",
	    "t.yaml:5:44: error: except '198.19.0.0/24' is not inside any cidr of this selector");
	ERR(HDR "rules:\n  - name: a\n    action: allow\n"
		"    from: {cidr: [198.18.1.0/24], except: [198.18.0.0/16]}\n",
	    "t.yaml:5:44: error: except '198.18.0.0/16' is not inside any cidr");
	ERR(HDR "rules:\n  - name: a\n    action: allow\n    to: {cidr: []}\n",
	    "t.yaml:5:16: error: cidr is an empty list");
}

static void test_err_ports(void)
{
#define PORTS(list) HDR "rules:\n  - name: a\n    action: allow\n    ports: " list "\n"
	ERR(PORTS("[tcp/90-80]"), "t.yaml:5:13: error: reversed range in 'tcp/90-80'; did you "
				  "mean tcp/80-90?");
	ERR(PORTS("[udp/65536]"), "t.yaml:5:13: error: port out of range in 'udp/65536' (0-65535)");
	ERR(PORTS("[udp/1-99999999999999999999]"), "t.yaml:5:13: error: port out of range");
	ERR(PORTS("[tpc/22]"),
	    "t.yaml:5:13: error: unknown protocol in 'tpc/22'; did you mean 'tcp'?");
	ERR(PORTS("[TCP/22]"),
	    "t.yaml:5:13: error: unknown protocol in 'TCP/22'; did you mean 'tcp'?");
	ERR(PORTS("[http]"), "t.yaml:5:13: error: unknown protocol in 'http' (expected tcp, udp, "
			     "sctp, icmp, icmpv6 or a number 0-255)");
	ERR(PORTS("[\"256\"]"),
	    "t.yaml:5:13: error: protocol number in '256' is out of range (0-255)");
	ERR(PORTS("[icmp/256]"),
	    "t.yaml:5:13: error: ICMP type out of range in 'icmp/256' (0-255)");
	ERR(PORTS("[tcp/echo-request]"), "t.yaml:5:13: error: ICMP type in 'tcp/echo-request', but "
					 "tcp is not icmp or icmpv6");
	ERR(PORTS("[udp/packet-too-big]"), "t.yaml:5:13: error: ICMP type in 'udp/packet-too-big'");
	ERR(PORTS("[icmp/packet-too-big]"), "t.yaml:5:13: error: invalid ICMP type in "
					    "'icmp/packet-too-big'");
	ERR(PORTS("[47/5]"), "t.yaml:5:13: error: protocol 47 has no ports, in '47/5'");
	ERR(PORTS("[tcp/]"),
	    "t.yaml:5:13: error: invalid port in 'tcp/' (expected PORT or PORT-PORT)");
	ERR(PORTS("[tcp/80-]"), "t.yaml:5:13: error: invalid port in 'tcp/80-'");
	ERR(PORTS("[tcp/+80]"), "t.yaml:5:13: error: invalid port in 'tcp/+80'");
	ERR(PORTS("[tcp/http]"), "t.yaml:5:13: error: invalid port in 'tcp/http'");
	ERR(PORTS("[]"), "t.yaml:5:12: error: 'ports' is an empty list, which matches nothing");
	ERR(PORTS(""), "t.yaml:5:11: error: 'ports' is empty; omit it");
	ERR(PORTS("[tcp/1, tcp/2-1, bogus]"), "t.yaml:5:20: error: reversed range");
	CHECK(has_msg("t.yaml:5:29: error: unknown protocol in 'bogus'"), "second error too");
	/* A bare number is a protocol: valid, but likely a forgotten tcp/. */
	OK(PORTS("[53]"));
	CHECK(D.n_warnings == 1 && has_msg("t.yaml:5:13: warning: '53' means every packet of IP "
					   "protocol 53"),
	      "bare number warns");
#undef PORTS
}

static void test_err_names(void)
{
	ERR(HDR "rules:\n  - name: a\n    action: allow\n  - name: b\n    action: deny\n"
		"  - name: a\n    action: log\n",
	    "t.yaml:7:11: error: duplicate rule name 'a' (first at line 3)");
	ERR(HDR
	    "workloads:\n  w:\n    addresses: [198.18.0.1]\n  w:\n    addresses: [198.18.0.2]\n",
	    "t.yaml:5:3: error: duplicate key 'w' (first at line 3)");
	ERR(HDR "rules:\n  - name: a\n    action: allow\n    action: deny\n",
	    "t.yaml:5:5: error: duplicate key 'action' (first at line 4)");
	ERR(HDR "version: 1\n", "t.yaml:2:1: error: duplicate key 'version' (first at line 1)");
	ERR(HDR "workloads:\n  w:\n    labels: {a: 1, a: 2}\n    addresses: [198.18.0.1]\n",
	    "t.yaml:4:20: error: duplicate key 'a' (first at line 4)");
	ERR(HDR "rules:\n  - action: allow\n", "t.yaml:3:5: error: rule has no 'name'");
	ERR(HDR "rules:\n  - name: a\n",
	    "t.yaml:3:5: error: rule has no 'action' (allow, deny or log)");
	ERR(HDR "rules:\n  - name: two words\n    action: allow\n",
	    "t.yaml:3:11: error: invalid rule name 'two words': use 1-128 letters, digits");
	ERR(HDR "rules:\n  - name: \"\"\n    action: allow\n",
	    "t.yaml:3:11: error: invalid rule name ''");
	ERR(HDR "workloads:\n  \"a\\nb\":\n    addresses: [198.18.0.1]\n",
	    "t.yaml:3:3: error: invalid workload name 'a\\x0ab'");
}

static void test_err_references(void)
{
	ERR(HDR WL "rules:\n  - name: a\n    action: allow\n    to: {workload: dbb}\n",
	    "t.yaml:15:20: error: unknown workload 'dbb'; did you mean 'db'?");
	ERR(HDR WL "rules:\n  - name: a\n    action: allow\n    to: {workload: cache}\n",
	    "t.yaml:15:20: error: unknown workload 'cache'");
	ERR(HDR WL "rules:\n  - name: a\n    action: allow\n    to: {workloads: [db, wbe]}\n",
	    "t.yaml:15:26: error: unknown workload 'wbe'; did you mean 'web'?");
	ERR(HDR WL "rules:\n  - name: a\n    action: allow\n    to: {workloads: []}\n",
	    "t.yaml:15:21: error: workloads is an empty list");
	ERR(HDR WL "rules:\n  - name: a\n    action: allow\n    to: {labels: {role: cache}}\n",
	    "t.yaml:15:18: error: labels selector matches no workload");
	ERR(HDR WL
	    "rules:\n  - name: a\n    action: allow\n    to: {labels: {role: web, env: test}}\n",
	    "t.yaml:15:18: error: labels selector matches no workload");
	ERR(HDR WL "rules:\n  - name: a\n    action: allow\n    to: {labels: {}}\n",
	    "t.yaml:15:18: error: labels selector is empty");
	ERR(HDR "rules:\n  - name: a\n    action: allow\n    to: {labels: {role: web}}\n",
	    "t.yaml:5:18: error: labels selector matches no workload");
}

/* Label selectors go through an index of (key, value) pairs: they must still
 * pick exactly the workloads carrying every pair, in file order. */
static void test_label_selectors(void)
{
	const struct ms_addr_term *t;

	OK(HDR WL "rules:\n"
		  "  - name: a\n    action: allow\n    to: {labels: {env: prod, role: web}}\n"
		  "  - name: b\n    action: allow\n    to: {labels: {role: web}}\n"
		  "  - name: c\n    action: allow\n    to: {labels: {env: prod}}\n");
	REQUIRE(P->n_rules == 3, "rules");
	t = &P->rules[0].to.terms[0];
	CHECK(t->n_cidrs == 2 && cidr_eq(&t->cidrs[0], "198.18.1.0/24"), "web only");
	t = &P->rules[1].to.terms[0];
	CHECK(t->n_cidrs == 3 && cidr_eq(&t->cidrs[2], "198.18.4.4"), "web, web2");
	t = &P->rules[2].to.terms[0];
	CHECK(t->n_cidrs == 4 && cidr_eq(&t->cidrs[0], "198.18.1.0/24") &&
		      cidr_eq(&t->cidrs[2], "198.18.2.10"),
	      "web then db, in file order");
	/* A pair no workload has, beside pairs many have. */
	ERR(HDR WL "rules:\n  - name: a\n    action: allow\n"
		   "    to: {labels: {env: prod, role: web2}}\n",
	    "t.yaml:15:18: error: labels selector matches no workload");
	/* A key that is not a string is reported, and matches nothing. */
	ERR(HDR WL "rules:\n  - name: a\n    action: allow\n    to: {labels: {[q]: web}}\n",
	    "t.yaml:15:19: error: a mapping key must be a plain string, not a list");
	ERR(HDR WL "rules:\n  - name: a\n    action: allow\n"
		   "    to: {labels: {role: web, role: [x]}}\n",
	    "t.yaml:15:30: error: duplicate key 'role' (first at line 15)");
}

static void test_err_selector_kinds(void)
{
#define SEL(s) HDR WL "rules:\n  - name: a\n    action: allow\n    from: " s "\n"
	ERR(SEL("{}"),
	    "t.yaml:15:11: error: a selector needs one of cidr, workload, workloads or labels");
	ERR(SEL("{except: [198.18.0.0/24]}"),
	    "t.yaml:15:11: error: a selector needs one of cidr, workload, workloads or labels "
	    "('except' only refines 'cidr')");
	ERR(SEL("{workload: web, labels: {role: db}}"),
	    "t.yaml:15:27: error: a selector holds exactly one of cidr, workload, workloads or "
	    "labels, not both 'workload' and 'labels'; use a list of selectors for a union");
	ERR(SEL("{workload: web, except: [198.18.1.0/25]}"),
	    "t.yaml:15:27: error: 'except' only refines 'cidr'");
	ERR(SEL("[]"), "t.yaml:15:11: error: 'from' is an empty list, which matches nothing");
	ERR(SEL(""), "t.yaml:15:10: error: 'from' is empty; omit it to match any address");
	ERR(SEL("[{workload: web}, {}]"), "t.yaml:15:29: error: a selector needs one of");
#undef SEL
}

static void test_err_yaml(void)
{
	ERR(HDR "rules: [\n",
	    "t.yaml:3:1: error: invalid YAML: did not find expected node content");
	ERR(HDR "mode: enforce\n  default: deny\n",
	    "t.yaml:3:10: error: invalid YAML: mapping values are not allowed in this context");
	ERR(HDR "workloads:\n  a: &x\n    addresses: [198.18.0.1]\n  b: *x\n",
	    "t.yaml:3:6: error: YAML anchors are not supported");
	CHECK(has_msg("t.yaml:5:6: error: YAML aliases are not supported"), "alias");
	ERR(HDR "---\nversion: 1\n", "t.yaml:2:1: error: a policy file holds one YAML document");
	ERR(HDR "mode: !!binary ZW5mb3JjZQ==\n", "t.yaml:2:7: error: unsupported YAML tag "
						 "'tag:yaml.org,2002:binary'");
	OK(HDR "mode: !!str monitor\n");
	CHECK(P->monitor, "!!str is a string");
	ERR(HDR "mode: \"enforce\\0\"\n", "t.yaml:2:7: error: NUL character in 'enforce\\x00'");
	ERR(HDR "mode: \xff\n", "t.yaml:2:7: error: invalid YAML: invalid leading UTF-8 octet");
	ERR(HDR "? [a]\n: b\n",
	    "t.yaml:2:3: error: a mapping key must be a plain string, not a list");
}

static void test_err_depth(void)
{
	char *y = malloc(20000);
	size_t o = 0;

	REQUIRE(y, "malloc");
	o += (size_t)sprintf(y, "version: 1\nx: ");
	for (int i = 0; i < 5000; i++)
		y[o++] = '[';
	for (int i = 0; i < 5000; i++)
		y[o++] = ']';
	y[o] = '\0';
	ERR(y, "t.yaml:2:");
	CHECK(has_msg("t.yaml:2:") && strstr(D.msgs[0], "nested more than 64 levels deep"),
	      "depth message: %s", D.n ? D.msgs[0] : "none");
	free(y);
}

static void test_all_errors_reported(void)
{
	int r = parse("version: 3\n"
		      "mode: sometimes\n"
		      "workloads:\n"
		      "  web:\n"
		      "    addresses: [198.18.1.1/24, 10.0.0.300]\n"
		      "rules:\n"
		      "  - name: a\n"
		      "    action: allow\n"
		      "    to: {workload: nope}\n"
		      "    ports: [tcp/2-1]\n"
		      "  - name: a\n"
		      "    action: allow\n"
		      "    colour: red\n");
	static const char *const want[] = {
		"t.yaml:1:10: error: unsupported policy version 3",
		"t.yaml:2:7: error: invalid mode 'sometimes'",
		"t.yaml:5:17: error: '198.18.1.1/24' has bits set",
		"t.yaml:5:32: error: invalid address '10.0.0.300'",
		"t.yaml:9:20: error: unknown workload 'nope'",
		"t.yaml:10:13: error: reversed range in 'tcp/2-1'",
		"t.yaml:11:11: error: duplicate rule name 'a'",
		"t.yaml:13:5: error: unknown key 'colour' in a rule",
	};

	CHECK(r == -EINVAL, "r=%d", r);
	REQUIRE(D.n == 8 && D.n_errors == 8, "%zu diagnostics", D.n);
	for (size_t i = 0; i < 8; i++) {
		CHECK(!strncmp(D.msgs[i], want[i], strlen(want[i])) && D.is_error[i],
		      "message %zu in file order: %s", i, D.msgs[i]);
	}
}

/* ---- shadowed rules ---- */

static void test_shadow(void)
{
	/* An earlier, broader rule hides a later one. */
	OK(HDR WL "rules:\n"
		  "  - name: web-any\n    action: allow\n    to: {workload: web}\n"
		  "  - name: web-https\n    action: deny\n    to: {cidr: [198.18.1.128/25]}\n"
		  "    ports: [tcp/443]\n    direction: ingress\n");
	CHECK(D.n_warnings == 1 && D.n_errors == 0, "one warning");
	CHECK(has_msg("t.yaml:16:5: warning: rule 'web-https' can never match: rule 'web-any' "
		      "(line 13) comes first and matches every flow it would"),
	      "shadow message");

	/* Priority puts a later rule first. */
	OK(HDR "rules:\n"
	       "  - name: ssh\n    action: allow\n    ports: [tcp/22]\n"
	       "  - name: lockdown\n    action: deny\n    priority: 1\n");
	CHECK(has_msg("t.yaml:3:5: warning: rule 'ssh' can never match: rule 'lockdown' (line 6, "
		      "priority 1) is evaluated first"),
	      "priority shadow");

	/* Port range and union coverage. */
	OK(HDR WL
	   "rules:\n"
	   "  - name: wide\n    action: allow\n    from: {cidr: [198.18.0.0/15, "
	   "\"2001:db8::/32\"]}\n"
	   "    ports: [tcp/1-1024, udp]\n"
	   "  - name: narrow\n    action: allow\n    from: [{workload: web}, {workload: db}]\n"
	   "    ports: [tcp/80, udp/53]\n");
	CHECK(D.n_warnings == 1 && has_msg("t.yaml:17:5: warning: rule 'narrow' can never match"),
	      "union covered");
}

static void test_no_false_shadow(void)
{
	static const char *const cases[] = {
		/* earlier rule narrower on direction */
		"  - name: a\n    action: allow\n    direction: ingress\n"
		"  - name: b\n    action: deny\n",
		/* different ports */
		"  - name: a\n    action: allow\n    ports: [tcp/80]\n"
		"  - name: b\n    action: deny\n    ports: [tcp/80-81]\n",
		/* different protocol, same numbers */
		"  - name: a\n    action: allow\n    ports: [tcp/53]\n"
		"  - name: b\n    action: deny\n    ports: [udp/53]\n",
		/* earlier except removes part of the later selector */
		"  - name: a\n    action: allow\n    from: {cidr: [198.18.0.0/16], except: "
		"[198.18.1.0/24]}\n"
		"  - name: b\n    action: deny\n    from: {cidr: [198.18.0.0/17]}\n",
		/* later selector is wider */
		"  - name: a\n    action: allow\n    to: {cidr: [198.18.1.0/24]}\n"
		"  - name: b\n    action: deny\n    to: {cidr: [198.18.0.0/16]}\n",
		/* earlier has a from, later any */
		"  - name: a\n    action: allow\n    from: {cidr: [0.0.0.0/0]}\n"
		"  - name: b\n    action: deny\n",
		/* later rule first by priority */
		"  - name: a\n    action: allow\n"
		"  - name: b\n    action: deny\n    priority: 50\n    ports: [tcp/1]\n",
		/* union not covered by a single term */
		"  - name: a\n    action: allow\n    from: {cidr: [198.18.1.0/24]}\n"
		"  - name: b\n    action: deny\n    from: [{cidr: [198.18.1.0/25]}, {cidr: "
		"[198.18.2.0/24]}]\n",
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *y;

		if (asprintf(&y, HDR "rules:\n%s", cases[i]) < 0)
			abort();
		parse(y);
		free(y);
		CHECK(P && D.n == 0, "case %zu: expected no diagnostics", i);
		if (D.n)
			dump();
	}
	/* Both rules with an except: the later one excludes at least as much. */
	OK(HDR "rules:\n"
	       "  - name: a\n    action: allow\n    from: {cidr: [198.18.0.0/16], except: "
	       "[198.18.1.0/24]}\n"
	       "  - name: b\n    action: deny\n    from: {cidr: [198.18.0.0/17], except: "
	       "[198.18.0.0/23]}\n");
	CHECK(D.n_warnings == 1, "except inside the later rule's except: shadowed");
}

/* ---- files and --check ---- */

static char *write_tmp(const char *content)
{
	char *path = strdup("/tmp/test_parse.XXXXXX");
	int fd;

	if (!path || (fd = mkstemp(path)) < 0)
		abort();
	if (write(fd, content, strlen(content)) != (ssize_t)strlen(content))
		abort();
	close(fd);
	return path;
}

static void test_parse_file(void)
{
	char *path = write_tmp(HDR "mode: monitor\n");
	int r;

	ms_policy_free(&P);
	ms_diag_free(&D);
	r = ms_policy_parse_file(path, &P, &D);
	CHECK(r == 0 && P && P->monitor && !strcmp(P->path, path), "parse_file");
	ms_policy_free(&P);
	unlink(path);
	r = ms_policy_parse_file(path, &P, &D);
	CHECK(r == -ENOENT && !P, "missing file: %d", r);
	REQUIRE(D.n == 1 && D.n_errors == 1, "one message");
	CHECK(!strncmp(D.msgs[0], path, strlen(path)) &&
		      !strcmp(D.msgs[0] + strlen(path), ": cannot open: No such file or directory"),
	      "message: %s", D.msgs[0]);
	ms_diag_free(&D);
	r = ms_policy_parse_file("/tmp", &P, &D);
	CHECK(r == -EISDIR && D.n == 1, "directory: %d", r);
	free(path);
}

/* anomaly: thresholds with defaults, ranges and unknown keys checked. */
static void test_anomaly_section(void)
{
	OK("version: 1\n");
	CHECK(P && P->scan_targets == MS_SCAN_TARGETS_DEFAULT &&
		      P->scan_window == MS_SCAN_WINDOW_DEFAULT,
	      "defaults");
	OK("version: 1\nanomaly: {scan_targets: 20, scan_window: 5}\n");
	CHECK(P && P->scan_targets == 20 && P->scan_window == 5, "values");
	ERR("version: 1\nanomaly: {scan_targets: 1}\n",
	    "t.yaml:2:25: error: scan_targets 1 is out of range (2-4096)");
	ERR("version: 1\nanomaly: {scan: 3}\n",
	    "t.yaml:2:11: error: unknown key 'scan' in 'anomaly'");
}

/* ::/0 is IPv6 only: said where it stands alone, not where IPv4 is named. */
static void test_v6_only_warning(void)
{
	OK("version: 1\nrules:\n  - name: r\n    action: allow\n    to: {cidr: [\"::/0\"]}\n");
	CHECK(D.n_warnings == 1 && has_msg("t.yaml:5:17: warning: '::/0' matches IPv6 addresses "
					   "only, never IPv4"),
	      "::/0 alone warns");
	OK("version: 1\nrules:\n  - name: r\n    action: allow\n"
	   "    to: {cidr: [\"::/0\", 0.0.0.0/0]}\n");
	CHECK(D.n_warnings == 0, "with 0.0.0.0/0: no warning");
	OK("version: 1\nworkloads:\n  w: {addresses: [\"::/64\"]}\nrules:\n"
	   "  - name: r\n    action: allow\n    to: {workload: w}\n");
	CHECK(D.n_warnings == 1, "workload addresses too");
	OK("version: 1\nrules:\n  - name: r\n    action: allow\n"
	   "    to: {cidr: [\"2001:db8::/32\"]}\n");
	CHECK(D.n_warnings == 0, "an IPv6 prefix that does not span IPv4: no warning");
}

/* An except equal to its cidr removes all of it: said, at the except. A
 * prefix written as IPv6 in ::ffff:0:0/96 is IPv6: said too. */
static void test_except_whole_and_mapped_warnings(void)
{
	OK("version: 1\nrules:\n  - name: r\n    action: allow\n"
	   "    from: {cidr: [198.18.0.0/16, 198.19.0.0/16], except: [198.18.0.0/16]}\n");
	CHECK(D.n_warnings == 1 && has_msg("t.yaml:5:59: warning: except '198.18.0.0/16' is its "
					   "cidr whole"),
	      "except equal to its cidr warns, at the except");
	OK("version: 1\nrules:\n  - name: r\n    action: allow\n"
	   "    from: {cidr: [198.18.0.0/16], except: [198.18.1.0/24]}\n");
	CHECK(D.n_warnings == 0, "a narrower except: no warning");
	OK("version: 1\nrules:\n  - name: r\n    action: allow\n"
	   "    from: {cidr: [\"::ffff:198.18.0.0/112\", 198.18.0.0/16]}\n");
	CHECK(D.n_warnings == 1 && has_msg("t.yaml:5:19: warning: '::ffff:198.18.0.0/112' is an "
					   "IPv6 prefix"),
	      "IPv6 inside ::ffff:0:0/96 warns");
	CHECK(P && P->rules[0].from.terms[0].cidrs[0].v6mapped &&
		      !ms_cidr_is_v4(&P->rules[0].from.terms[0].cidrs[0]) &&
		      ms_cidr_is_v4(&P->rules[0].from.terms[0].cidrs[1]),
	      "and is IPv6, the IPv4 prefix beside it IPv4");
	ERR("version: 1\nrules:\n  - name: r\n    action: allow\n"
	    "    from: {cidr: [\"::ffff:198.18.0.0/112\"], except: [198.18.1.0/24]}\n",
	    "t.yaml:5:54: error: except '198.18.1.0/24' is not inside any cidr of this selector");
}

static void test_check(void)
{
	char *good = write_tmp(HDR WL "rules:\n  - name: a\n    action: allow\n"
				      "    to: {workload: db}\n    ports: [tcp/5432]\n");
	char *bad = write_tmp(HDR "mode: loud\n");
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	REQUIRE(out, "memstream");
	CHECK(ms_policy_check(good, NULL, out) == 0, "good policy");
	CHECK(ms_policy_check(good, "monitor", out) == 0, "good policy, monitor");
	fclose(out);
	CHECK(buf && strstr(buf, "policy OK") && strstr(buf, "rules:     1 (1 allow") &&
		      strstr(buf, "workloads: 3 (5 addresses)") &&
		      strstr(buf, "decision entries") && strstr(buf, "memory:") &&
		      strstr(buf, "mode:      monitor (from --mode)"),
	      "summary: %s", buf ? buf : "");
	free(buf);
	CHECK(ms_policy_check(bad, NULL, stdout) == 1, "bad policy");
	CHECK(ms_policy_check("/nonexistent/policy.yaml", NULL, stdout) == 1, "missing file");
	CHECK(ms_policy_check(good, "loud", stdout) == 2, "bad mode override");
	unlink(good);
	unlink(bad);
	free(good);
	free(bad);
}

static void test_diag_api(void)
{
	struct ms_diag d = { 0 };

	CHECK(ms_diag_add(&d, "f", (struct ms_pos){ 3, 1 }, false, "w %d", 1) == 0, "add");
	CHECK(ms_diag_add(&d, "f", (struct ms_pos){ 2, 9 }, true, "e") == 0, "add");
	CHECK(ms_diag_add(&d, "f", (struct ms_pos){ 2, 9 }, true, "e2") == 0, "add");
	CHECK(ms_diag_add(&d, NULL, (struct ms_pos){ 0, 0 }, true, "x") == 0, "add");
	ms_diag_sort(&d);
	REQUIRE(d.n == 4 && d.n_errors == 3 && d.n_warnings == 1, "counts");
	CHECK(!strcmp(d.msgs[0], "error: x"), "%s", d.msgs[0]);
	CHECK(!strcmp(d.msgs[1], "f:2:9: error: e"), "%s", d.msgs[1]);
	CHECK(!strcmp(d.msgs[2], "f:2:9: error: e2"), "stable: %s", d.msgs[2]);
	CHECK(!strcmp(d.msgs[3], "f:3:1: warning: w 1") && !d.is_error[3], "%s", d.msgs[3]);
	ms_diag_free(&d);
	CHECK(d.n == 0 && !d.msgs, "freed");
}

int main(void)
{
	RUN(test_minimal);
	RUN(test_mode_default);
	RUN(test_workloads);
	RUN(test_rule_fields);
	RUN(test_selectors);
	RUN(test_selector_eval);
	RUN(test_ports);
	RUN(test_forward_reference);
	RUN(test_ipv6_forms);
	RUN(test_err_version);
	RUN(test_err_unknown_keys);
	RUN(test_err_types);
	RUN(test_err_enums);
	RUN(test_err_addresses);
	RUN(test_err_ports);
	RUN(test_err_names);
	RUN(test_err_references);
	RUN(test_label_selectors);
	RUN(test_err_selector_kinds);
	RUN(test_err_yaml);
	RUN(test_err_depth);
	RUN(test_all_errors_reported);
	RUN(test_shadow);
	RUN(test_no_false_shadow);
	RUN(test_parse_file);
	RUN(test_anomaly_section);
	RUN(test_v6_only_warning);
	RUN(test_except_whole_and_mapped_warnings);
	RUN(test_check);
	RUN(test_diag_api);
	ms_policy_free(&P);
	ms_diag_free(&D);
	return t_done();
}
