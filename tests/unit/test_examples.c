// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * The example policies in policies/ promise verdicts in their comments; this
 * parses each file and checks those verdicts with the reference evaluator,
 * then checks that the compiled tables agree with it on those flows and on
 * flows built from every address and port the policy mentions.
 */
#include <string.h>

#include "policy_compile.h"
#include "policy_parse.h"
#include "testlib.h"

#ifndef POLICY_DIR
#define POLICY_DIR "policies"
#endif

enum { IN = 1, OUT = 2, BOTH = 3 }; /* directions a flow is tried in */

struct want {
	int dirs;
	const char *proto; /* a ports entry: "tcp/443", "icmp/8", "47" */
	const char *src, *dst;
	const char *verdict; /* allow | deny | log */
	const char *rule;    /* rule name or "default" */
};

static struct ms_policy *load(const char *file)
{
	struct ms_diag d = { 0 };
	struct ms_policy *p = NULL;
	char *path;
	int r;

	if (asprintf(&path, "%s/%s", POLICY_DIR, file) < 0)
		return NULL;
	r = ms_policy_parse_file(path, &p, &d);
	if (r || d.n_warnings) {
		printf("  %s: parse returned %d\n", path, r);
		ms_diag_print(&d, stdout);
	}
	CHECK(d.n_warnings == 0, "%s has %zu warnings", path, d.n_warnings);
	ms_diag_free(&d);
	free(path);
	return r ? NULL : p;
}

static bool addr(const char *s, uint8_t *out)
{
	struct ms_cidr c;

	if (ms_cidr_parse(s, &c))
		return false;
	memcpy(out, c.addr, 16);
	return true;
}

static bool flow_proto(const char *spec, struct ms_flow *f)
{
	static const struct {
		const char *name;
		uint8_t proto;
	} names[] = {
		{ "tcp", 6 }, { "udp", 17 }, { "sctp", 132 }, { "icmp", 1 }, { "icmpv6", 58 }
	};
	const char *slash = strchr(spec, '/');
	size_t len = slash ? (size_t)(slash - spec) : strlen(spec);

	f->proto = 0;
	f->port = slash ? (uint16_t)atoi(slash + 1) : 0;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i].name) == len && !strncmp(spec, names[i].name, len)) {
			f->proto = names[i].proto;
			return true;
		}
	f->proto = (uint8_t)atoi(spec);
	return true;
}

static const char *act_name(uint8_t a)
{
	return a == MS_ACT_ALLOW  ? "allow"
	       : a == MS_ACT_DENY ? "deny"
	       : a == MS_ACT_LOG  ? "log"
				  : "?";
}

static void check_flows(const char *file, const struct want *w, size_t n)
{
	struct ms_policy *p = load(file);
	struct ms_compiled *c = NULL;
	struct ms_limits lim;
	char *err = NULL;
	int r;

	REQUIRE(p, "%s does not parse", file);
	ms_limits_default(&lim);
	r = ms_compile(p, &lim, &c, &err);
	CHECK(r == 0, "%s: compile: %d %s", file, r, err ? err : "");
	free(err);
	for (size_t i = 0; i < n; i++) {
		for (int dir = 0; dir < 2; dir++) {
			struct ms_flow f = { 0 };
			uint8_t act, cact;
			uint32_t id, cid;
			const char *rule;

			if (!(w[i].dirs & (dir ? OUT : IN)))
				continue;
			f.dir = dir ? MS_DIR_EGRESS : MS_DIR_INGRESS;
			if (!addr(w[i].src, f.src) || !addr(w[i].dst, f.dst) ||
			    !flow_proto(w[i].proto, &f)) {
				CHECK(0, "bad flow %zu", i);
				continue;
			}
			id = ms_policy_eval(p, &f, &act);
			rule = id ? p->rules[id - 1].name : "default";
			CHECK(!strcmp(rule, w[i].rule) && !strcmp(act_name(act), w[i].verdict),
			      "%s: %s %s %s -> %s: got %s (%s), want %s (%s)", file,
			      dir ? "egress" : "ingress", w[i].proto, w[i].src, w[i].dst,
			      act_name(act), rule, w[i].verdict, w[i].rule);
			if (!c)
				continue;
			cid = ms_compiled_eval(c, &f, &cact);
			CHECK(cid == id && cact == act,
			      "%s: flow %zu: compiled says rule %u action %u, reference %u %u",
			      file, i, cid, cact, id, act);
		}
	}
	ms_compiled_free(&c);
	ms_policy_free(&p);
}

/* Probe addresses: the first, last and one-past-last address of every CIDR
 * the policy names, where verdicts change. */
static void add_probe(uint8_t (**v)[16], size_t *n, const uint8_t *a)
{
	uint8_t(*nv)[16] = realloc(*v, (*n + 1) * sizeof(**v));

	if (!nv)
		abort();
	*v = nv;
	memcpy((*v)[(*n)++], a, 16);
}

static void probe_cidr(uint8_t (**v)[16], size_t *n, const struct ms_cidr *c)
{
	uint8_t a[16];
	int carry = 1;

	memcpy(a, c->addr, 16);
	add_probe(v, n, a);
	for (int bit = c->plen; bit < 128; bit++)
		a[bit / 8] |= (uint8_t)(0x80 >> (bit % 8));
	add_probe(v, n, a);
	for (int i = 15; i >= 0 && carry; i--)
		carry = ++a[i] == 0;
	add_probe(v, n, a);
}

static void probe_set(uint8_t (**v)[16], size_t *n, const struct ms_addrset *s)
{
	for (size_t i = 0; i < s->n_terms; i++) {
		for (size_t j = 0; j < s->terms[i].n_cidrs; j++)
			probe_cidr(v, n, &s->terms[i].cidrs[j]);
		for (size_t j = 0; j < s->terms[i].n_except; j++)
			probe_cidr(v, n, &s->terms[i].except[j]);
	}
}

static void differential(const char *file)
{
	static const uint8_t protos[] = { 1, 6, 17, 47, 58, 132 };
	struct ms_policy *p = load(file);
	struct ms_compiled *c = NULL;
	uint8_t(*addrs)[16] = NULL;
	size_t n_addrs = 0, n_flows = 0, bad = 0;
	struct ms_limits lim;
	char *err = NULL;
	uint16_t ports[64];
	size_t n_ports = 0;

	REQUIRE(p, "%s does not parse", file);
	ms_limits_default(&lim);
	REQUIRE(ms_compile(p, &lim, &c, &err) == 0, "%s: compile: %s", file, err ? err : "");
	for (size_t i = 0; i < p->n_rules; i++) {
		probe_set(&addrs, &n_addrs, &p->rules[i].from);
		probe_set(&addrs, &n_addrs, &p->rules[i].to);
		for (size_t j = 0; j < p->rules[i].n_ports && n_ports + 3 <= 64; j++) {
			ports[n_ports++] = p->rules[i].ports[j].lo;
			ports[n_ports++] = p->rules[i].ports[j].hi;
			ports[n_ports++] = (uint16_t)(p->rules[i].ports[j].hi + 1);
		}
	}
	for (size_t i = 0; i < p->n_workloads; i++)
		for (size_t j = 0; j < p->workloads[i].n_addrs; j++)
			probe_cidr(&addrs, &n_addrs, &p->workloads[i].addrs[j]);
	ports[n_ports++] = 0;
	for (size_t s = 0; s < n_addrs; s++)
		for (size_t d = 0; d < n_addrs; d++)
			for (size_t pr = 0; pr < sizeof(protos); pr++)
				for (size_t po = 0; po < n_ports; po++)
					for (uint8_t dir = 0; dir < 2; dir++) {
						struct ms_flow f = { .dir = dir,
								     .proto = protos[pr],
								     .port = ports[po] };
						uint8_t a1, a2;

						/* A protocol without ports only ever
						 * has port 0 (struct ms_flow). */
						if (protos[pr] == 47 && ports[po])
							continue;
						memcpy(f.src, addrs[s], 16);
						memcpy(f.dst, addrs[d], 16);
						n_flows++;
						if (ms_policy_eval(p, &f, &a1) !=
							    ms_compiled_eval(c, &f, &a2) ||
						    a1 != a2)
							bad++;
					}
	CHECK(bad == 0, "%s: compiled and reference disagree on %zu of %zu flows", file, bad,
	      n_flows);
	free(addrs);
	free(err);
	ms_compiled_free(&c);
	ms_policy_free(&p);
}

static void test_default_yaml(void)
{
	static const struct want w[] = {
		{ IN, "icmp/8", "198.18.0.2", "198.18.0.1", "allow", "ping" },
		{ IN, "icmpv6/128", "2001:db8::2", "2001:db8::1", "allow", "ping" },
		{ OUT, "icmp/8", "198.18.0.1", "198.18.0.2", "allow", "ping" },
		{ OUT, "icmpv6/128", "2001:db8::1", "2001:db8::2", "allow", "ping" },
		{ IN, "tcp/8080", "198.18.0.2", "198.18.0.1", "allow", "peer-to-web" },
		{ IN, "tcp/8080", "2001:db8::2", "2001:db8::1", "allow", "peer-to-web" },
		{ IN, "tcp/8443", "198.18.0.2", "198.18.0.1", "log", "peer-to-web-tls" },
		{ IN, "tcp/9090", "198.18.0.2", "198.18.0.1", "deny", "no-metrics" },
		{ IN, "tcp/9090", "2001:db8::2", "2001:db8::1", "deny", "no-metrics" },
		{ IN, "tcp/22", "198.18.0.2", "198.18.0.1", "deny", "default" },
		{ IN, "udp/8080", "198.18.0.2", "198.18.0.1", "deny", "default" },
		{ IN, "tcp/8080", "198.18.0.3", "198.18.0.1", "deny", "default" },
		{ OUT, "tcp/8080", "198.18.0.1", "198.18.0.2", "deny", "default" },
		{ IN, "icmp/13", "198.18.0.2", "198.18.0.1", "deny", "default" },
	};

	check_flows("default.yaml", w, sizeof(w) / sizeof(w[0]));
}

static void test_example_yaml(void)
{
	static const struct want w[] = {
		{ BOTH, "tcp/23", "198.18.1.5", "198.18.3.10", "deny", "no-telnet" },
		{ BOTH, "tcp/443", "198.18.66.9", "198.18.1.5", "deny", "quarantine" },
		{ BOTH, "udp/53", "198.18.3.20", "198.18.5.53", "deny", "quarantine" },
		{ BOTH, "tcp/443", "198.18.77.1", "198.18.1.5", "allow", "clients-to-web" },
		{ BOTH, "tcp/80", "2001:db8:77::1", "2001:db8:1::5", "allow", "clients-to-web" },
		{ BOTH, "tcp/443", "198.18.99.1", "198.18.1.5", "deny", "default" },
		{ BOTH, "tcp/8080", "198.18.1.5", "198.18.2.5", "allow", "web-to-api" },
		{ BOTH, "tcp/8100", "198.18.1.5", "198.18.2.5", "deny", "default" },
		{ BOTH, "tcp/5432", "198.18.2.5", "198.18.3.10", "allow", "to-db" },
		{ BOTH, "tcp/5432", "2001:db8:4::7", "2001:db8:3::10", "allow", "to-db" },
		{ BOTH, "tcp/5432", "198.18.2.5", "198.18.3.20", "deny", "default" },
		{ BOTH, "tcp/9100", "198.18.9.3", "198.18.2.5", "log", "monitoring" },
		{ OUT, "udp/53", "198.18.0.10", "198.18.5.53", "allow", "dns" },
		{ OUT, "udp/53", "198.18.0.10", "198.18.3.53", "deny", "default" },
		{ IN, "udp/53", "198.18.0.10", "198.18.5.53", "deny", "default" },
		{ BOTH, "icmp/8", "198.18.1.5", "198.18.2.5", "allow", "ping" },
		{ BOTH, "icmpv6/128", "2001:db8:1::5", "2001:db8::10", "allow", "ping" },
		{ BOTH, "icmp/13", "198.18.1.5", "198.18.2.5", "deny", "default" },
		{ IN, "sctp/3868", "198.18.7.1", "198.18.0.10", "allow", "signalling" },
		{ IN, "udp/5061", "198.18.7.1", "198.18.0.10", "allow", "signalling" },
		{ OUT, "sctp/3868", "198.18.7.1", "198.18.0.10", "deny", "default" },
		{ BOTH, "47", "198.18.200.1", "198.18.0.10", "allow", "gre-tunnel" },
	};

	check_flows("example.yaml", w, sizeof(w) / sizeof(w[0]));
}

static void test_three_tier_yaml(void)
{
	static const struct want w[] = {
		{ BOTH, "tcp/443", "198.18.77.1", "198.18.10.10", "allow", "internet-to-lb" },
		{ BOTH, "tcp/80", "2001:db8:77::1", "2001:db8:10::11", "allow", "internet-to-lb" },
		{ BOTH, "tcp/8080", "198.18.10.11", "198.18.11.20", "allow", "lb-to-web" },
		{ BOTH, "tcp/9000", "198.18.11.20", "198.18.12.7", "allow", "web-to-app" },
		{ BOTH, "tcp/5432", "198.18.12.7", "198.18.13.5", "log", "app-to-db" },
		{ BOTH, "tcp/22", "198.18.14.2", "198.18.13.6", "allow", "admin-ssh" },
		{ BOTH, "tcp/22", "2001:db8:14::2", "2001:db8:11::9", "allow", "admin-ssh" },
		{ BOTH, "tcp/9100", "198.18.14.10", "198.18.12.7", "allow", "node-exporter" },
		{ BOTH, "icmp/8", "198.18.14.10", "198.18.13.5", "allow", "ops-ping" },
		/* tier skipping and strangers */
		{ BOTH, "tcp/9000", "198.18.10.10", "198.18.12.7", "deny", "default" },
		{ BOTH, "tcp/5432", "198.18.11.20", "198.18.13.5", "deny", "default" },
		{ BOTH, "tcp/8080", "198.18.77.1", "198.18.11.20", "deny", "default" },
		{ BOTH, "tcp/22", "198.18.77.1", "198.18.13.5", "deny", "default" },
		{ BOTH, "icmp/8", "198.18.11.20", "198.18.13.5", "deny", "default" },
	};

	check_flows("three-tier.yaml", w, sizeof(w) / sizeof(w[0]));
}

static void test_ssh_only_yaml(void)
{
	static const struct want w[] = {
		{ IN, "tcp/22", "198.18.30.7", "198.18.20.5", "allow", "admin-ssh" },
		{ IN, "tcp/22", "2001:db8:30::7", "2001:db8:20::5", "allow", "admin-ssh" },
		{ IN, "tcp/22", "198.18.30.200", "198.18.20.5", "deny", "default" },
		{ IN, "tcp/22", "198.18.31.7", "198.18.20.5", "deny", "default" },
		{ OUT, "tcp/22", "198.18.20.5", "198.18.30.7", "deny", "default" },
		{ IN, "icmp/8", "198.18.30.200", "198.18.20.5", "allow", "admin-ping" },
		{ OUT, "udp/53", "198.18.20.5", "198.18.0.53", "allow", "dns-out" },
		{ OUT, "tcp/53", "2001:db8:20::5", "2001:db8::53", "allow", "dns-out" },
		{ OUT, "udp/53", "198.18.20.5", "198.18.0.54", "deny", "default" },
		{ OUT, "tcp/443", "198.18.20.5", "198.18.99.1", "allow", "https-out" },
		{ OUT, "tcp/80", "198.18.20.5", "198.18.99.1", "deny", "default" },
		{ IN, "tcp/443", "198.18.99.1", "198.18.20.5", "deny", "default" },
	};

	check_flows("ssh-only.yaml", w, sizeof(w) / sizeof(w[0]));
}

static void test_differential(void)
{
	differential("default.yaml");
	differential("example.yaml");
	differential("three-tier.yaml");
	differential("ssh-only.yaml");
}

int main(void)
{
	RUN(test_default_yaml);
	RUN(test_example_yaml);
	RUN(test_three_tier_yaml);
	RUN(test_ssh_only_yaml);
	RUN(test_differential);
	return t_done();
}
