// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * suggest: the suggested policy is valid, allows every flow observed
 * passing and denies what was not observed (checked with the real compiler
 * and its evaluator), merges by labels only where that allows nothing more,
 * and reads the same every time.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph.h"
#include "policy_compile.h"
#include "policy_parse.h"
#include "polbuild.h"
#include "proto.h"
#include "suggest.h"
#include "testlib.h"

struct obs {
	char src[48], dst[48];
	uint8_t proto;
	uint16_t port;
	uint8_t verdict;
};

static void addr_of(char *buf, size_t len, bool v6, unsigned int host)
{
	if (v6)
		snprintf(buf, len, "2001:db8:%u::%u", host / 8, host % 8 + 1);
	else
		snprintf(buf, len, "198.18.%u.%u", host / 8, host % 8 + 1);
}

static uint8_t proto_of(uint64_t r)
{
	static const uint8_t protos[] = { MS_PROTO_TCP, MS_PROTO_UDP, MS_PROTO_ICMP, 47 };

	return protos[r % 4];
}

static struct ms_policy *parse(const char *yaml)
{
	struct ms_diag d = { 0 };
	struct ms_policy *p = NULL;

	if (ms_policy_parse_mem("suggested.yaml", yaml, strlen(yaml), &p, &d)) {
		ms_diag_print(&d, stdout);
		printf("%s", yaml);
	}
	CHECK(d.n_errors == 0, "the suggestion is a valid policy");
	CHECK(d.n_warnings == 0, "and has no warnings");
	ms_diag_free(&d);
	return p;
}

static uint8_t verdict(const struct ms_compiled *c, const struct obs *o)
{
	struct ms_flow f = { .dir = MS_DIR_INGRESS, .proto = o->proto, .port = o->port };
	struct ms_cidr a;
	uint8_t action;

	ms_cidr_parse(o->src, &a);
	memcpy(f.src, a.addr, 16);
	ms_cidr_parse(o->dst, &a);
	memcpy(f.dst, a.addr, 16);
	ms_compiled_eval(c, &f, &action);
	return action;
}

/* The node an address is in the graph: its workload's name, or itself. */
static const char *node_of(const struct ms_policy *cur, const char *addr)
{
	struct ms_cidr x;

	ms_cidr_parse(addr, &x);
	for (size_t k = 0; cur && k < cur->n_workloads; k++)
		for (size_t a = 0; a < cur->workloads[k].n_addrs; a++)
			if (ms_cidr_contains(&cur->workloads[k].addrs[a], x.addr))
				return cur->workloads[k].name;
	return addr;
}

/* Observed passing between the same nodes: a workload is the unit of
 * policy, so its addresses are alike. */
static bool observed(const struct ms_policy *cur, const struct obs *v, size_t n,
		     const struct obs *o)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].verdict != MS_VERDICT_DENY &&
		    !strcmp(node_of(cur, v[i].src), node_of(cur, o->src)) &&
		    !strcmp(node_of(cur, v[i].dst), node_of(cur, o->dst)) &&
		    v[i].proto == o->proto && v[i].port == o->port)
			return true;
	return false;
}

/* Random graphs over a few hosts, with and without a current policy whose
 * workloads carry labels. */
static void test_property(void)
{
	uint64_t rng = 0x5e551;
	unsigned int checked = 0, denied_ok = 0;

	for (int round = 0; round < 40; round++) {
		struct ms_graph *g = NULL;
		struct obs v[200];
		size_t n = 0;
		struct ms_policy *cur = NULL, *p;
		struct ms_compiled *c = NULL;
		struct ms_limits lim;
		struct ms_suggest_opts so = { .group = round % 2 ? MS_GROUP_WORKLOAD
								 : MS_GROUP_LABELS };
		char *yaml = NULL, *err = NULL;
		bool v6 = round % 3 == 0;

		REQUIRE(!ms_graph_new(10000, &g), "graph");
		if (round % 4 < 2) {
			/* Workloads of two hosts each, labelled by pairs alike. */
			char text[2048], a0[48], a1[48];
			size_t off =
				(size_t)snprintf(text, sizeof(text), "version: 1\nworkloads:\n");

			for (unsigned int w = 0; w < 4; w++) {
				addr_of(a0, sizeof(a0), v6, w * 2);
				addr_of(a1, sizeof(a1), v6, w * 2 + 1);
				off += (size_t)snprintf(text + off, sizeof(text) - off,
							"  w%u: {labels: {role: r%u}, addresses: "
							"[\"%s\", \"%s\"]}\n",
							w, w / 2, a0, a1);
			}
			snprintf(text + off, sizeof(text) - off,
				 "rules:\n  - {name: x, action: allow, ports: [tcp/1]}\n");
			struct ms_diag d = { 0 };

			REQUIRE(!ms_policy_parse_mem("cur.yaml", text, strlen(text), &cur, &d),
				"current policy");
			ms_diag_free(&d);
			ms_graph_set_workloads(g, cur);
			so.current = cur;
		}
		for (unsigned int i = 0; i < 60; i++) {
			struct obs *o = &v[n++];
			struct ms_flowrec r = { .counts = true, .time_ms = 1000 + i };
			const struct ms_workload *ws = NULL, *wd = NULL;

			addr_of(o->src, sizeof(o->src), v6, (unsigned int)(pb_rand(&rng) % 12));
			addr_of(o->dst, sizeof(o->dst), v6, (unsigned int)(pb_rand(&rng) % 12));
			o->proto = proto_of(pb_rand(&rng));
			if (v6 && o->proto == MS_PROTO_ICMP)
				o->proto = MS_PROTO_ICMPV6;
			o->port = o->proto == 47 ? 0
				  : ms_proto_is_icmp(o->proto)
					  ? (uint16_t)(pb_rand(&rng) % 3 + (v6 ? 128 : 8))
					  : (uint16_t)(1000 + pb_rand(&rng) % 12);
			o->verdict = (uint8_t)(pb_rand(&rng) % 3);
			for (size_t k = 0; cur && k < cur->n_workloads; k++)
				for (size_t a = 0; a < cur->workloads[k].n_addrs; a++) {
					struct ms_cidr x;

					ms_cidr_parse(o->src, &x);
					if (ms_cidr_contains(&cur->workloads[k].addrs[a], x.addr))
						ws = &cur->workloads[k];
					ms_cidr_parse(o->dst, &x);
					if (ms_cidr_contains(&cur->workloads[k].addrs[a], x.addr))
						wd = &cur->workloads[k];
				}
			r.src = o->src;
			r.dst = o->dst;
			r.src_workload = ws ? ws->name : NULL;
			r.dst_workload = wd ? wd->name : NULL;
			r.proto = o->proto;
			r.port = o->port;
			r.verdict = o->verdict;
			r.rule = "r";
			REQUIRE(ms_graph_add(g, &r) == 0, "add");
		}
		int rc = ms_suggest(g, &so, &yaml);

		if (rc == -ENODATA) {
			ms_graph_free(&g);
			ms_policy_free(&cur);
			continue;
		}
		REQUIRE(rc == 0, "suggest: %d", rc);
		p = parse(yaml);
		REQUIRE(p, "parses");
		ms_limits_default(&lim);
		REQUIRE(!ms_compile(p, &lim, &c, &err), "compiles: %s", err ? err : "");
		/* The indexed search (replay's) finds what the scan finds. */
		uint8_t before[200];

		for (size_t i = 0; i < n; i++)
			before[i] = verdict(c, &v[i]);
		ms_compiled_index(c);
		for (size_t i = 0; i < n; i++)
			CHECK(verdict(c, &v[i]) == before[i], "indexed eval agrees");
		for (size_t i = 0; i < n; i++) {
			if (v[i].verdict == MS_VERDICT_DENY)
				continue;
			CHECK(verdict(c, &v[i]) != MS_ACT_DENY,
			      "round %d: observed %s -> %s %u/%u allowed", round, v[i].src,
			      v[i].dst, v[i].proto, v[i].port);
			checked++;
		}
		for (int k = 0; k < 100; k++) {
			struct obs o = { 0 };

			addr_of(o.src, sizeof(o.src), v6, (unsigned int)(pb_rand(&rng) % 14));
			addr_of(o.dst, sizeof(o.dst), v6, (unsigned int)(pb_rand(&rng) % 14));
			o.proto = MS_PROTO_TCP;
			o.port = (uint16_t)(995 + pb_rand(&rng) % 20);
			if (observed(cur, v, n, &o))
				continue;
			CHECK(verdict(c, &o) == MS_ACT_DENY,
			      "round %d: unobserved %s -> %s tcp/%u denied", round, o.src, o.dst,
			      o.port);
			denied_ok++;
		}
		/* The same graph, the same text. */
		char *again = NULL;

		CHECK(!ms_suggest(g, &so, &again) && !strcmp(yaml, again), "deterministic");
		free(again);
		free(yaml);
		free(err);
		ms_compiled_free(&c);
		ms_policy_free(&p);
		ms_policy_free(&cur);
		ms_graph_free(&g);
	}
	printf("  %u observed flows allowed, %u unobserved denied\n", checked, denied_ok);
	CHECK(checked > 500 && denied_ok > 1000, "the property was exercised");
}

static char *suggest_text(struct ms_graph *g, const struct ms_policy *cur,
			  enum ms_suggest_group grp)
{
	struct ms_suggest_opts so = { .group = grp, .current = cur };
	char *yaml = NULL;

	CHECK(!ms_suggest(g, &so, &yaml), "suggest");
	return yaml;
}

static void edge(struct ms_graph *g, const char *s, const char *sw, const char *d, const char *dw,
		 uint8_t proto, uint16_t port)
{
	struct ms_flowrec r = { .counts = true,
				.src = s,
				.dst = d,
				.src_workload = sw,
				.dst_workload = dw,
				.proto = proto,
				.port = port,
				.time_ms = 5 };

	ms_graph_add(g, &r);
}

/* Two web servers with the same labels and the same clients become one
 * labels selector; ports merge into ranges; a third web server with other
 * edges keeps them apart. */
static void test_grouping(void)
{
	static const char cur_text[] =
		"version: 1\nworkloads:\n"
		"  web1: {labels: {role: web}, addresses: [198.18.1.1]}\n"
		"  web2: {labels: {role: web}, addresses: [198.18.1.2]}\n"
		"  db: {labels: {role: db}, addresses: [\"2001:db8:2::1\", 198.18.2.1]}\n"
		"rules:\n  - {name: x, action: allow, ports: [tcp/1]}\n";
	struct ms_diag d = { 0 };
	struct ms_policy *cur = NULL;
	struct ms_graph *g = NULL;
	char *y;

	REQUIRE(!ms_policy_parse_mem("c.yaml", cur_text, strlen(cur_text), &cur, &d), "policy");
	ms_diag_free(&d);
	REQUIRE(!ms_graph_new(100, &g), "graph");
	ms_graph_set_workloads(g, cur);
	for (uint16_t port = 8080; port <= 8082; port++) {
		edge(g, "198.18.9.1", NULL, "198.18.1.1", "web1", MS_PROTO_TCP, port);
		edge(g, "198.18.9.1", NULL, "198.18.1.2", "web2", MS_PROTO_TCP, port);
	}
	edge(g, "198.18.9.1", NULL, "198.18.1.1", "web1", MS_PROTO_TCP, 443);
	edge(g, "198.18.9.1", NULL, "198.18.1.2", "web2", MS_PROTO_TCP, 443);
	edge(g, "198.18.1.1", "web1", "198.18.2.1", "db", MS_PROTO_TCP, 5432);
	edge(g, "198.18.1.2", "web2", "198.18.2.1", "db", MS_PROTO_TCP, 5432);
	y = suggest_text(g, cur, MS_GROUP_LABELS);
	REQUIRE(y, "text");
	CHECK(strstr(y, "to: {labels: {\"role\": \"web\"}}\n    ports: [tcp/443, tcp/8080-8082]"),
	      "one labels rule, ports merged into a range:\n%s", y);
	CHECK(strstr(y, "from: {labels: {\"role\": \"web\"}}\n    to: {workload: db}"),
	      "the web group to db");
	CHECK(!strstr(y, "workload: web1"), "no per-workload rule left");
	free(y);
	y = suggest_text(g, cur, MS_GROUP_WORKLOAD);
	CHECK(y && strstr(y, "to: {workload: web1}") && !strstr(y, ": {labels:"),
	      "--group workload keeps them apart");
	free(y);
	/* web2 also talks to a port web1 does not: their edges differ. */
	edge(g, "198.18.1.2", "web2", "198.18.2.1", "db", MS_PROTO_TCP, 6379);
	y = suggest_text(g, cur, MS_GROUP_LABELS);
	CHECK(y && strstr(y, "to: {workload: web1}") &&
		      !strstr(y, ": {labels: {\"role\": \"web\"}}"),
	      "no merge where the edges disagree");
	free(y);
	ms_graph_free(&g);
	ms_policy_free(&cur);
}

int main(void)
{
	RUN(test_property);
	RUN(test_grouping);
	return t_done();
}
