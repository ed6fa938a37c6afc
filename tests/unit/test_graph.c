// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * The flow graph (src/observe/graph.c) as its users see it: the JSON and dot
 * it prints, what it keeps across save and load, how flow-log lines count,
 * its bound. Counts are read back from printed JSON, as a client reads them.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "events.h"
#include "graph.h"
#include "microsegd_abi.h"
#include "policy_parse.h"
#include "testlib.h"

static const char policy_text[] =
	"version: 1\n"
	"workloads:\n"
	"  web: {labels: {role: web, env: prod}, addresses: [198.18.1.0/24]}\n"
	"  db: {labels: {role: db}, addresses: [198.18.2.10, "
	"\"2001:db8:2::10\"]}\n"
	"rules:\n"
	"  - {name: web-db, action: allow, ports: [tcp/5432]}\n";

static struct ms_policy *policy(void)
{
	struct ms_diag d = { 0 };
	struct ms_policy *p = NULL;

	ms_policy_parse_mem("t.yaml", policy_text, strlen(policy_text), &p, &d);
	ms_diag_free(&d);
	return p;
}

/* The graph's JSON printed and parsed again, as served and as written. */
static cJSON *printed(const struct ms_graph *g)
{
	char *s = ms_graph_print(g);
	cJSON *r = s ? cJSON_Parse(s) : NULL;

	free(s);
	return r;
}

static const cJSON *find_edge(const cJSON *g, const char *src, const char *dst, const char *proto,
			      int port)
{
	const cJSON *e;

	cJSON_ArrayForEach(e, cJSON_GetObjectItem(g, "edges"))
	{
		const cJSON *p = cJSON_GetObjectItem(e, "proto");
		char pb[8];

		if (cJSON_IsNumber(p))
			snprintf(pb, sizeof(pb), "%d", p->valueint);
		if (!strcmp(cJSON_GetObjectItem(e, "src")->valuestring, src) &&
		    !strcmp(cJSON_GetObjectItem(e, "dst")->valuestring, dst) &&
		    !strcmp(cJSON_IsString(p) ? p->valuestring : pb, proto) &&
		    cJSON_GetObjectItem(e, "port")->valueint == port)
			return e;
	}
	return NULL;
}

static const cJSON *find_node(const cJSON *g, const char *id)
{
	const cJSON *n;

	cJSON_ArrayForEach(n, cJSON_GetObjectItem(g, "nodes"))
	{
		if (!strcmp(cJSON_GetObjectItem(n, "id")->valuestring, id))
			return n;
	}
	return NULL;
}

static long long num(const cJSON *o, const char *k)
{
	const cJSON *v = o ? cJSON_GetObjectItem(o, k) : NULL;

	return cJSON_IsNumber(v) ? (long long)v->valuedouble : -1;
}

static const char *str(const cJSON *o, const char *k)
{
	const cJSON *v = o ? cJSON_GetObjectItem(o, k) : NULL;

	return cJSON_IsString(v) ? v->valuestring : "";
}

static struct ms_flowrec rec(const char *src, const char *dst, uint8_t proto, uint16_t port,
			     uint8_t verdict, bool counts, uint64_t time_ms)
{
	return (struct ms_flowrec){ .src = src,
				    .dst = dst,
				    .proto = proto,
				    .port = port,
				    .verdict = verdict,
				    .counts = counts,
				    .time_ms = time_ms,
				    .rule = verdict == MS_VERDICT_ALLOW ? "web-db" : "default" };
}

/* A denied flow reported once and then repeatedly is one flow; an allowed
 * flow counts at its end with its packets; flow_new only widens the times. */
static void test_one_flow_counted_once(void)
{
	struct ms_graph *g = NULL;
	struct ms_flowrec r;
	const cJSON *e;
	cJSON *j;

	REQUIRE(!ms_graph_new(100, &g), "new");
	r = rec("198.18.0.2", "198.18.0.1", MS_PROTO_TCP, 22, MS_VERDICT_DENY, true, 1000);
	CHECK(!ms_graph_add(g, &r), "first denial");
	for (int i = 1; i <= 50; i++) {
		r = rec("198.18.0.2", "198.18.0.1", MS_PROTO_TCP, 22, MS_VERDICT_DENY, false,
			1000 + 10000 * (uint64_t)i);
		CHECK(!ms_graph_add(g, &r), "repeat %d", i);
	}
	r = rec("198.18.0.2", "198.18.0.1", MS_PROTO_TCP, 80, MS_VERDICT_ALLOW, false, 2000);
	ms_graph_add(g, &r); /* flow_new */
	r = rec("198.18.0.2", "198.18.0.1", MS_PROTO_TCP, 80, MS_VERDICT_ALLOW, true, 9000);
	r.packets = 12;
	r.bytes = 3400;
	ms_graph_add(g, &r); /* flow_end */
	r = rec("198.18.0.2", "198.18.0.1", MS_PROTO_TCP, 80, MS_VERDICT_AUDIT, true, 9500);
	r.rule = "audit-me";
	ms_graph_add(g, &r);
	/* Open sessions come by group: one record standing for five flows. */
	r = rec("198.18.0.2", "198.18.0.1", MS_PROTO_UDP, 53, MS_VERDICT_ALLOW, true, 9600);
	r.more = 4;
	r.packets = 10;
	ms_graph_add(g, &r);

	j = printed(g);
	REQUIRE(j, "json");
	e = find_edge(j, "ip:198.18.0.2", "ip:198.18.0.1", "tcp", 22);
	REQUIRE(e, "edge of the denied flow");
	CHECK(num(e, "flows") == 1 && num(e, "denied") == 1 && num(e, "allowed") == 0,
	      "one denied flow, got flows %lld denied %lld", num(e, "flows"), num(e, "denied"));
	CHECK(!strcmp(str(e, "first_seen"), "1970-01-01T00:00:01.000Z") &&
		      !strcmp(str(e, "last_seen"), "1970-01-01T00:08:21.000Z"),
	      "repeats widen last_seen: %s .. %s", str(e, "first_seen"), str(e, "last_seen"));
	e = find_edge(j, "ip:198.18.0.2", "ip:198.18.0.1", "tcp", 80);
	REQUIRE(e, "edge of the allowed flow");
	CHECK(num(e, "flows") == 2 && num(e, "allowed") == 1 && num(e, "audit") == 1,
	      "flow_new did not count, the two ends did: flows %lld", num(e, "flows"));
	CHECK(num(e, "packets") == 12 && num(e, "bytes") == 3400, "packets and bytes");
	CHECK(!strcmp(str(e, "first_seen"), "1970-01-01T00:00:02.000Z"),
	      "flow_new moved first_seen: %s", str(e, "first_seen"));
	CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(e, "rules")) == 2 &&
		      !strcmp(cJSON_GetArrayItem(cJSON_GetObjectItem(e, "rules"), 0)->valuestring,
			      "audit-me"),
	      "rules sorted");
	e = find_edge(j, "ip:198.18.0.2", "ip:198.18.0.1", "udp", 53);
	REQUIRE(e, "edge of the grouped flows");
	CHECK(num(e, "flows") == 5 && num(e, "allowed") == 5 && num(e, "packets") == 10,
	      "a group of five: flows %lld allowed %lld", num(e, "flows"), num(e, "allowed"));
	CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(j, "edges")) == 3, "three edges");
	cJSON_Delete(j);
	ms_graph_free(&g);
}

/* Endpoints with a workload are that workload's node, carrying its labels
 * and addresses; other addresses are nodes of their own. */
static void test_nodes(void)
{
	struct ms_policy *p = policy();
	struct ms_graph *g = NULL;
	struct ms_flowrec r;
	const cJSON *n;
	cJSON *j;

	REQUIRE(p, "policy");
	REQUIRE(!ms_graph_new(100, &g), "new");
	REQUIRE(!ms_graph_set_workloads(g, p), "workloads");
	r = rec("198.18.1.7", "198.18.2.10", MS_PROTO_TCP, 5432, MS_VERDICT_ALLOW, true, 1);
	r.src_workload = "web";
	r.dst_workload = "db";
	ms_graph_add(g, &r);
	r = rec("198.18.9.9", "198.18.2.10", MS_PROTO_TCP, 5432, MS_VERDICT_DENY, true, 2);
	r.dst_workload = "db";
	ms_graph_add(g, &r);
	r = rec("2001:db8::9", "198.18.2.10", 47, 0, MS_VERDICT_DENY, true, 3);
	ms_graph_add(g, &r);

	j = printed(g);
	REQUIRE(j, "json");
	CHECK(find_edge(j, "workload:web", "workload:db", "tcp", 5432), "workload to workload");
	CHECK(find_edge(j, "ip:198.18.9.9", "workload:db", "tcp", 5432), "address to workload");
	CHECK(find_edge(j, "ip:2001:db8::9", "ip:198.18.2.10", "47", 0),
	      "a protocol without a name is its number, port 0");
	n = find_node(j, "workload:web");
	CHECK(!strcmp(str(n, "kind"), "workload") && !strcmp(str(n, "name"), "web"), "web node");
	CHECK(!strcmp(str(cJSON_GetObjectItem(n, "labels"), "env"), "prod"), "web's labels");
	CHECK(!strcmp(cJSON_GetArrayItem(cJSON_GetObjectItem(n, "addresses"), 0)->valuestring,
		      "198.18.1.0/24"),
	      "web's addresses");
	n = find_node(j, "workload:db");
	CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(n, "addresses")) == 2, "db's two addresses");
	n = find_node(j, "ip:198.18.9.9");
	CHECK(!strcmp(str(n, "kind"), "address") && !strcmp(str(n, "name"), "198.18.9.9") &&
		      !cJSON_GetObjectItem(n, "labels"),
	      "an address node");
	CHECK(ms_graph_nodes(g) == 5, "web db 198.18.9.9 2001:db8::9 198.18.2.10: %zu",
	      ms_graph_nodes(g));
	cJSON_Delete(j);
	ms_graph_free(&g);
	ms_policy_free(&p);
}

/* Workload names longer than any fixed buffer stay distinct nodes. */
static void test_long_names(void)
{
	char a[400], b[400], id[420];
	struct ms_graph *g = NULL;
	struct ms_flowrec r;
	cJSON *j;

	memset(a, 'x', sizeof(a) - 1);
	a[sizeof(a) - 1] = '\0';
	memcpy(b, a, sizeof(b));
	b[sizeof(b) - 2] = 'y';
	REQUIRE(!ms_graph_new(100, &g), "new");
	r = rec("198.18.0.1", "198.18.0.2", MS_PROTO_UDP, 53, MS_VERDICT_ALLOW, true, 1);
	r.src_workload = a;
	ms_graph_add(g, &r);
	r.src_workload = b;
	ms_graph_add(g, &r);
	CHECK(ms_graph_edges(g) == 2 && ms_graph_nodes(g) == 3, "two sources: %zu edges",
	      ms_graph_edges(g));
	CHECK(ms_graph_has_edge(g, &r), "has_edge finds the long name");
	j = printed(g);
	snprintf(id, sizeof(id), "workload:%s", b);
	CHECK(find_node(j, id), "the node's id is the whole name");
	cJSON_Delete(j);
	ms_graph_free(&g);
}

/* Past max_edges, new edges are dropped and counted and create nothing;
 * known edges still count. */
static void test_bound(void)
{
	struct ms_graph *g = NULL;
	struct ms_flowrec r;
	char addr[32];
	const cJSON *e;
	cJSON *j;

	REQUIRE(!ms_graph_new(3, &g), "new");
	for (int i = 1; i <= 3; i++) {
		r = rec("198.18.0.2", "198.18.0.1", MS_PROTO_TCP, (uint16_t)i, MS_VERDICT_ALLOW,
			true, 1);
		CHECK(!ms_graph_add(g, &r), "edge %d fits", i);
	}
	for (int i = 0; i < 1000; i++) {
		snprintf(addr, sizeof(addr), "198.19.%d.%d", i / 250, i % 250 + 1);
		r = rec(addr, "198.18.0.1", MS_PROTO_TCP, 9, MS_VERDICT_DENY, true, 2);
		CHECK(ms_graph_add(g, &r) == -ENOSPC, "new edge %d refused", i);
	}
	r = rec("198.18.0.2", "198.18.0.1", MS_PROTO_TCP, 4, MS_VERDICT_DENY, true, 2);
	CHECK(ms_graph_add(g, &r) == -ENOSPC, "new edge between known nodes refused");
	r = rec("198.18.0.2", "198.18.0.1", MS_PROTO_TCP, 2, MS_VERDICT_ALLOW, true, 3);
	CHECK(!ms_graph_add(g, &r), "a known edge still counts");
	CHECK(ms_graph_edges(g) == 3 && ms_graph_dropped(g) == 1001, "3 edges, %llu dropped",
	      (unsigned long long)ms_graph_dropped(g));
	CHECK(ms_graph_nodes(g) == 2, "the dropped edges left no nodes behind: %zu",
	      ms_graph_nodes(g));
	j = printed(g);
	CHECK(cJSON_IsTrue(cJSON_GetObjectItem(j, "truncated")), "truncated");
	CHECK(num(j, "dropped_edges") == 1001, "dropped_edges %lld", num(j, "dropped_edges"));
	e = find_edge(j, "ip:198.18.0.2", "ip:198.18.0.1", "tcp", 2);
	CHECK(num(e, "flows") == 2, "known edge counted twice");
	cJSON_Delete(j);
	ms_graph_free(&g);

	REQUIRE(!ms_graph_new(3, &g), "new");
	j = printed(g);
	CHECK(cJSON_IsFalse(cJSON_GetObjectItem(j, "truncated")) && num(j, "dropped_edges") == 0,
	      "an empty graph is not truncated");
	CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(j, "nodes")) == 0 &&
		      cJSON_GetArraySize(cJSON_GetObjectItem(j, "edges")) == 0,
	      "and has no nodes or edges");
	cJSON_Delete(j);
	ms_graph_free(&g);
}

/* Rule names: sorted, unique, at most MS_GRAPH_MAX_RULES; counts unaffected. */
static void test_rules(void)
{
	struct ms_graph *g = NULL;
	struct ms_flowrec r =
		rec("198.18.0.2", "198.18.0.1", MS_PROTO_TCP, 80, MS_VERDICT_ALLOW, true, 1);
	const cJSON *e, *rules;
	char name[16];
	cJSON *j;

	REQUIRE(!ms_graph_new(10, &g), "new");
	for (int i = 40; i > 0; i--) {
		snprintf(name, sizeof(name), "r%02d", i % 20);
		r.rule = name;
		ms_graph_add(g, &r);
	}
	j = printed(g);
	e = find_edge(j, "ip:198.18.0.2", "ip:198.18.0.1", "tcp", 80);
	rules = cJSON_GetObjectItem(e, "rules");
	CHECK(cJSON_GetArraySize(rules) == MS_GRAPH_MAX_RULES, "%d rules kept",
	      cJSON_GetArraySize(rules));
	for (int i = 1; i < cJSON_GetArraySize(rules); i++)
		CHECK(strcmp(cJSON_GetArrayItem(rules, i - 1)->valuestring,
			     cJSON_GetArrayItem(rules, i)->valuestring) < 0,
		      "sorted and unique at %d", i);
	CHECK(num(e, "flows") == 40, "every flow counted: %lld", num(e, "flows"));
	cJSON_Delete(j);
	ms_graph_free(&g);
}

/* Everything but "generated", compared as printed. */
static char *without_generated(cJSON *j)
{
	char *s;

	cJSON_DeleteItemFromObject(j, "generated");
	s = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	return s;
}

static struct ms_graph *sample(void)
{
	struct ms_policy *p = policy();
	struct ms_graph *g = NULL;
	struct ms_flowrec r;

	if (!p || ms_graph_new(100, &g)) {
		ms_policy_free(&p);
		return NULL;
	}
	ms_graph_set_workloads(g, p);
	ms_policy_free(&p);
	r = rec("198.18.1.7", "198.18.2.10", MS_PROTO_TCP, 5432, MS_VERDICT_ALLOW, true,
		1790000000123ULL);
	r.src_workload = "web";
	r.dst_workload = "db";
	r.packets = 340;
	r.bytes = 51200;
	ms_graph_add(g, &r);
	r = rec("2001:db8::9", "2001:db8:2::10", MS_PROTO_ICMPV6, 128, MS_VERDICT_DENY, true,
		1790000001000ULL);
	r.dst_workload = "db";
	ms_graph_add(g, &r);
	r = rec("198.18.9.9", "198.18.2.10", MS_PROTO_SCTP, 9, MS_VERDICT_AUDIT, true,
		1790000002000ULL);
	r.src_workload = "unknown-to-policy";
	ms_graph_add(g, &r);
	return g;
}

/* What to_json prints, from_json reads back to the same graph, "since"
 * included; JSON that is not a graph is refused with a reason. */
static void test_json_round_trip(void)
{
	struct ms_graph *g = sample(), *h = NULL;
	char *a = NULL, *b = NULL, *err = NULL;
	cJSON *j, *bad;

	REQUIRE(g, "sample");
	j = printed(g);
	REQUIRE(j, "json");
	CHECK(!strcmp(str(find_edge(j, "workload:web", "workload:db", "tcp", 5432), "first_seen"),
		      "2026-09-21T14:13:20.123Z"),
	      "RFC 3339 with milliseconds: %s",
	      str(find_edge(j, "workload:web", "workload:db", "tcp", 5432), "first_seen"));
	REQUIRE(!ms_graph_new(100, &h), "new");
	CHECK(!ms_graph_from_json(h, j, &err), "from_json: %s", err ? err : "");
	a = without_generated(j);
	b = without_generated(printed(h));
	CHECK(a && b && !strcmp(a, b), "the same graph:\n  %s\n  %s", a, b);
	free(a);
	free(b);
	ms_graph_free(&h);

	bad = cJSON_Parse("{\"policy\":{}}");
	REQUIRE(!ms_graph_new(100, &h), "new");
	CHECK(ms_graph_from_json(h, bad, &err) == -EINVAL && err && strstr(err, "not a flow graph"),
	      "not a graph: %s", err ? err : "(no reason)");
	free(err);
	err = NULL;
	cJSON_Delete(bad);
	bad = cJSON_Parse("{\"nodes\":[],\"edges\":[{\"src\":\"ip:a\",\"dst\":\"ip:b\","
			  "\"proto\":\"tcp\",\"port\":1e30}]}");
	CHECK(ms_graph_from_json(h, bad, &err) == -EINVAL && err, "port 1e30 refused: %s",
	      err ? err : "(no reason)");
	free(err);
	cJSON_Delete(bad);
	ms_graph_free(&h);
	ms_graph_free(&g);
}

/* A JSON graph loaded into a smaller graph keeps its bound. */
static void test_load_keeps_bound(void)
{
	struct ms_graph *g = sample(), *h = NULL;
	cJSON *j = printed(g);

	REQUIRE(j && !ms_graph_new(1, &h), "setup");
	CHECK(!ms_graph_from_json(h, j, NULL), "loaded");
	CHECK(ms_graph_edges(h) == 1 && ms_graph_dropped(h) == 2, "1 edge, 2 dropped");
	/* The first edge in order (2001:db8::9 -> db), and web, a workload of
	 * the policy; none of the dropped edges' other nodes. */
	CHECK(ms_graph_nodes(h) == 3, "nodes %zu", ms_graph_nodes(h));
	CHECK(ms_graph_has_edge(h, &(struct ms_flowrec){ .src = "2001:db8::9",
							 .dst_workload = "db",
							 .proto = MS_PROTO_ICMPV6,
							 .port = 128 }),
	      "the edge first in order");
	cJSON_Delete(j);
	ms_graph_free(&h);
	ms_graph_free(&g);
}

/* Count (and with unlink_them, remove) the files moved aside in dir. */
static int aside(const char *dir, bool unlink_them)
{
	struct dirent *d;
	DIR *dh = opendir(dir);
	char path[512];
	int n = 0;

	while (dh && (d = readdir(dh))) {
		if (strncmp(d->d_name, "graph.json.corrupt-", 19))
			continue;
		n++;
		snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
		if (unlink_them)
			unlink(path);
	}
	if (dh)
		closedir(dh);
	return n;
}

static void rm_rf(const char *dir)
{
	struct dirent *d;
	DIR *dh = opendir(dir);
	char path[512];

	while (dh && (d = readdir(dh))) {
		if (d->d_name[0] == '.' && (!d->d_name[1] || !strcmp(d->d_name, "..")))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
		unlink(path);
	}
	if (dh)
		closedir(dh);
	rmdir(dir);
}

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

/* save then load gives the same graph, "since" included; nothing else is
 * left in the directory. A missing file is an empty graph. */
static void test_save_load(void)
{
	char dir[] = "/tmp/test_graph.XXXXXX", path[64];
	struct ms_graph *g = sample(), *h = NULL;
	char *a, *b, *err = NULL;
	struct dirent *d;
	int files = 0;
	DIR *dh;

	REQUIRE(g && mkdtemp(dir), "setup");
	REQUIRE(!ms_graph_new(100, &h), "new");
	CHECK(ms_graph_load(h, dir, &err) == 0 && ms_graph_edges(h) == 0 && !err,
	      "missing file: empty graph");
	ms_graph_free(&h);

	CHECK(!ms_graph_save(g, dir), "save");
	CHECK(!ms_graph_save(g, dir), "save again over it");
	dh = opendir(dir);
	while (dh && (d = readdir(dh)))
		files += d->d_name[0] != '.';
	if (dh)
		closedir(dh);
	CHECK(files == 1, "only graph.json in the directory (%d files)", files);
	REQUIRE(!ms_graph_new(100, &h), "new");
	CHECK(ms_graph_load(h, dir, &err) == 0, "load: %s", err ? err : "");
	a = without_generated(printed(g));
	b = without_generated(printed(h));
	CHECK(a && b && !strcmp(a, b), "the same graph:\n  %s\n  %s", a, b);
	free(a);
	free(b);
	ms_graph_free(&h);

	snprintf(path, sizeof(path), "%s/nowhere", dir);
	CHECK(ms_graph_save(g, path) == -ENOENT, "save into a missing directory: -ENOENT");
	ms_graph_free(&g);
	rm_rf(dir);
}

/* A state file that is not JSON, or not a graph, is moved aside: the load
 * says so (1, with a reason) and the graph starts empty. */
static void test_corrupt_moved_aside(void)
{
	static const char *const bad[] = { "{\"nodes\": [", "[1,2,3]", "",
					   "{\"nodes\":[],\"edges\":[{\"src\":\"ip:x\"}]}" };
	char dir[] = "/tmp/test_graph.XXXXXX", path[64];

	REQUIRE(mkdtemp(dir), "mkdtemp");
	snprintf(path, sizeof(path), "%s/graph.json", dir);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ms_graph *g = NULL;
		char *err = NULL;

		REQUIRE(!write_file(path, bad[i]), "write");
		REQUIRE(!ms_graph_new(100, &g), "new");
		CHECK(ms_graph_load(g, dir, &err) == 1 && err, "case %zu: reported (%s)", i,
		      err ? err : "no reason");
		CHECK(ms_graph_edges(g) == 0 && ms_graph_nodes(g) == 0, "case %zu: empty", i);
		CHECK(access(path, F_OK) != 0, "case %zu: graph.json moved away", i);
		CHECK(aside(dir, true) == 1, "case %zu: kept as graph.json.corrupt-*", i);
		CHECK(!ms_graph_save(g, dir), "case %zu: a new graph can be saved", i);
		unlink(path);
		free(err);
		ms_graph_free(&g);
	}
	rm_rf(dir);
}

/* Lines as the agent's flow-log writer prints them, read back. */
static char *agent_line(struct ms_events *ev, uint8_t type, uint8_t verdict, uint8_t proto,
			uint64_t packets)
{
	struct ms_event e;

	memset(&e, 0, sizeof(e));
	e.type = type;
	e.verdict = verdict;
	e.family = MS_FAMILY_IPV4;
	e.proto = proto;
	e.generation = 1;
	e.rule_id = verdict == MS_VERDICT_ALLOW ? 1 : 0;
	e.src[10] = e.src[11] = e.dst[10] = e.dst[11] = 0xff;
	inet_pton(AF_INET, "198.18.1.5", e.src + 12);
	inet_pton(AF_INET, "198.18.2.10", e.dst + 12);
	e.sport = htons(40000);
	e.dport = htons(5432);
	e.icmp_type = 8;
	e.packets[0] = packets;
	e.bytes[0] = packets * 100;
	return ms_event_json(ev, &e);
}

struct want {
	uint8_t type, verdict, proto;
	uint64_t packets;
	bool counts;
	uint8_t verdict_out;
	uint16_t port;
};

static void test_flowrec_agent_lines(void)
{
	static const struct want w[] = {
		{ MS_EV_FLOW_NEW, MS_VERDICT_ALLOW, MS_PROTO_TCP, 1, false, MS_VERDICT_ALLOW,
		  5432 },
		{ MS_EV_FLOW_DENY, MS_VERDICT_DENY, MS_PROTO_TCP, 1, true, MS_VERDICT_DENY, 5432 },
		/* a later report of the same denial: more than one packet seen */
		{ MS_EV_FLOW_DENY, MS_VERDICT_DENY, MS_PROTO_TCP, 9, false, MS_VERDICT_DENY, 5432 },
		{ MS_EV_FLOW_AUDIT, MS_VERDICT_AUDIT, MS_PROTO_UDP, 1, false, MS_VERDICT_AUDIT,
		  5432 },
		{ MS_EV_FLOW_REVOKED, MS_VERDICT_DENY, MS_PROTO_SCTP, 3, true, MS_VERDICT_DENY,
		  5432 },
		{ MS_EV_FLOW_END, MS_VERDICT_ALLOW, MS_PROTO_TCP, 12, true, MS_VERDICT_ALLOW,
		  5432 },
		{ MS_EV_FLOW_END, MS_VERDICT_AUDIT, MS_PROTO_ICMP, 4, true, MS_VERDICT_AUDIT, 8 },
		{ MS_EV_FLOW_END, MS_VERDICT_ALLOW, 47, 2, true, MS_VERDICT_ALLOW, 0 },
	};
	struct ms_policy *p = policy();
	struct ms_events *ev = NULL;

	REQUIRE(p && !ms_events_new("/dev/null", NULL, &ev), "events");
	ms_events_set_policy(ev, &p, 1);
	for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++) {
		char *line = agent_line(ev, w[i].type, w[i].verdict, w[i].proto, w[i].packets);
		cJSON *j = line ? cJSON_Parse(line) : NULL;
		struct ms_flowrec r;
		char *err = NULL;

		REQUIRE(j, "line %zu", i);
		CHECK(ms_flowrec_from_json(j, &r, &err) == 1, "line %zu: %s: %s", i, line,
		      err ? err : "");
		CHECK(r.counts == w[i].counts, "line %zu counts=%d: %s", i, r.counts, line);
		CHECK(r.verdict == w[i].verdict_out && r.proto == w[i].proto && r.port == w[i].port,
		      "line %zu verdict %u proto %u port %u", i, r.verdict, r.proto, r.port);
		CHECK(!strcmp(r.src, "198.18.1.5") && !strcmp(r.dst, "198.18.2.10") &&
			      r.src_workload && !strcmp(r.src_workload, "web") && r.dst_workload &&
			      !strcmp(r.dst_workload, "db"),
		      "line %zu endpoints", i);
		CHECK(r.time_ms > 0, "line %zu time", i);
		if (w[i].type == MS_EV_FLOW_END)
			CHECK(r.packets == w[i].packets && r.bytes == w[i].packets * 100,
			      "line %zu packets %llu", i, (unsigned long long)r.packets);
		free(err);
		free(line);
		cJSON_Delete(j);
	}
	ms_events_free(&ev);
}

/* Lines as the contract writes them (any host's agent, any log pipeline),
 * good and bad: each bad one is refused with the field it lacks. */
static void test_flowrec_lines(void)
{
	static const struct {
		const char *line;
		int rc;
		const char *why; /* in errmsg when rc < 0 */
		uint64_t time_ms;
		uint16_t port;
		uint8_t proto;
	} c[] = {
		{ "{\"time\":\"2026-11-24T06:00:00.250Z\",\"event\":\"flow_end\",\"verdict\":"
		  "\"allow\",\"rule\":\"web\",\"proto\":\"tcp\",\"src\":\"198.18.5.1\",\"dst\":"
		  "\"198.18.5.2\",\"sport\":40000,\"dport\":443,\"packets\":10,\"bytes\":1000}",
		  1, NULL, 1795500000250ULL, 443, 6 },
		/* a number for the protocol, an offset in the time */
		{ "{\"time\":\"2026-11-24T07:00:00+01:00\",\"event\":\"flow_deny\",\"verdict\":"
		  "\"deny\",\"rule\":\"default\",\"proto\":17,\"src\":\"2001:db8::1\",\"dst\":"
		  "\"2001:db8::2\",\"sport\":1,\"dport\":53}",
		  1, NULL, 1795500000000ULL, 53, 17 },
		{ "{\"time\":\"2026-11-24T06:00:00Z\",\"event\":\"flow_deny\",\"verdict\":\"deny\","
		  "\"proto\":\"icmpv6\",\"src\":\"2001:db8::1\",\"dst\":\"2001:db8::2\","
		  "\"icmp_type\":128,\"icmp_code\":0}",
		  1, NULL, 1795500000000ULL, 128, 58 },
		{ "{\"time\":\"2026-11-24T06:00:00Z\",\"event\":\"anomaly\",\"kind\":\"scan\"}", 0,
		  NULL, 0, 0, 0 },
		{ "[1,2]", -EINVAL, "event", 0, 0, 0 },
		{ "{\"time\":\"2026-11-24T06:00:00Z\",\"event\":\"flow_end\",\"verdict\":\"allow\","
		  "\"proto\":\"tcp\",\"src\":\"198.18.5.1\",\"dst\":\"198.18.5.2\",\"sport\":1,"
		  "\"packets\":1,\"bytes\":1}",
		  -EINVAL, "dport", 0, 0, 0 },
		{ "{\"time\":\"yesterday\",\"event\":\"flow_deny\",\"verdict\":\"deny\","
		  "\"proto\":\"tcp\",\"src\":\"198.18.5.1\",\"dst\":\"198.18.5.2\",\"dport\":1}",
		  -EINVAL, "time", 0, 0, 0 },
		{ "{\"time\":\"2026-11-24T06:00:00Z\",\"event\":\"flow_deny\",\"verdict\":"
		  "\"maybe\","
		  "\"proto\":\"tcp\",\"src\":\"198.18.5.1\",\"dst\":\"198.18.5.2\",\"dport\":1}",
		  -EINVAL, "verdict", 0, 0, 0 },
		{ "{\"time\":\"2026-11-24T06:00:00Z\",\"event\":\"flow_deny\",\"verdict\":\"deny\","
		  "\"proto\":300,\"src\":\"198.18.5.1\",\"dst\":\"198.18.5.2\"}",
		  -EINVAL, "proto", 0, 0, 0 },
		{ "{\"time\":\"2026-11-24T06:00:00Z\",\"event\":\"flow_deny\",\"verdict\":\"deny\","
		  "\"proto\":\"tcp\",\"src\":\"198.18.5.1\",\"dst\":\"198.18.5.2\",\"dport\":1e30}",
		  -EINVAL, "dport", 0, 0, 0 },
		{ "{\"time\":\"2026-11-24T06:00:00Z\",\"event\":\"flow_deny\",\"verdict\":\"deny\","
		  "\"proto\":\"tcp\",\"src\":\"198.18.5.1\",\"dst\":\"198.18.5.2\",\"dport\":80.5}",
		  -EINVAL, "dport", 0, 0, 0 },
		{ "{\"time\":\"2026-11-24T06:00:00Z\",\"event\":\"flow_end\",\"verdict\":\"allow\","
		  "\"proto\":\"udp\",\"src\":\"198.18.5.1\",\"dst\":\"198.18.5.2\",\"dport\":1,"
		  "\"packets\":-1,\"bytes\":1}",
		  -EINVAL, "packets", 0, 0, 0 },
		{ "{\"time\":\"2026-11-24T06:00:00Z\",\"event\":\"flow_deny\",\"verdict\":\"deny\","
		  "\"proto\":\"tcp\",\"dst\":\"198.18.5.2\",\"dport\":1}",
		  -EINVAL, "src", 0, 0, 0 },
	};

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		cJSON *j = cJSON_Parse(c[i].line);
		struct ms_flowrec r;
		char *err = NULL;
		int rc;

		REQUIRE(j, "case %zu parses", i);
		rc = ms_flowrec_from_json(j, &r, &err);
		CHECK(rc == c[i].rc, "case %zu: %d, expected %d (%s)", i, rc, c[i].rc,
		      err ? err : "");
		if (c[i].rc < 0)
			CHECK(err && strstr(err, c[i].why), "case %zu names %s: %s", i, c[i].why,
			      err ? err : "(nothing)");
		if (c[i].rc == 1)
			CHECK(r.time_ms == c[i].time_ms && r.port == c[i].port &&
				      r.proto == c[i].proto,
			      "case %zu: time %llu port %u proto %u", i,
			      (unsigned long long)r.time_ms, r.port, r.proto);
		free(err);
		cJSON_Delete(j);
	}
}

/* Two hosts' graphs merge into one: counts summed, times widened, rules
 * united, since the earlier; a clone is a deep copy. */
static void test_merge_clone(void)
{
	struct ms_graph *a = NULL, *b = NULL, *c = NULL;
	struct ms_flowrec r;
	const cJSON *e;
	cJSON *j;

	REQUIRE(!ms_graph_new(100, &a) && !ms_graph_new(100, &b), "new");
	r = rec("198.18.5.1", "198.18.5.2", MS_PROTO_TCP, 443, MS_VERDICT_ALLOW, true, 5000);
	r.rule = "web";
	r.packets = 10;
	ms_graph_add(a, &r);
	r.time_ms = 1000;
	r.rule = "web-v2";
	r.packets = 6;
	ms_graph_add(b, &r);
	r = rec("198.18.9.9", "198.18.5.2", MS_PROTO_TCP, 22, MS_VERDICT_DENY, true, 7000);
	ms_graph_add(b, &r);
	CHECK(!ms_graph_merge(a, b), "merge");
	CHECK(!ms_graph_clone(a, &c), "clone");
	ms_graph_free(&a);
	ms_graph_free(&b);
	j = printed(c);
	e = find_edge(j, "ip:198.18.5.1", "ip:198.18.5.2", "tcp", 443);
	CHECK(num(e, "flows") == 2 && num(e, "allowed") == 2 && num(e, "packets") == 16,
	      "summed: flows %lld packets %lld", num(e, "flows"), num(e, "packets"));
	CHECK(!strcmp(str(e, "first_seen"), "1970-01-01T00:00:01.000Z") &&
		      !strcmp(str(e, "last_seen"), "1970-01-01T00:00:05.000Z"),
	      "times widened: %s .. %s", str(e, "first_seen"), str(e, "last_seen"));
	CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(e, "rules")) == 2, "rules united");
	CHECK(find_edge(j, "ip:198.18.9.9", "ip:198.18.5.2", "tcp", 22), "b's own edge");
	CHECK(ms_graph_nodes(c) == 3 && ms_graph_edges(c) == 2, "3 nodes, 2 edges");
	cJSON_Delete(j);

	/* Merging into a full graph: dropped and counted, no stray nodes. */
	REQUIRE(!ms_graph_new(1, &a), "new");
	CHECK(ms_graph_merge(a, c) == -ENOSPC, "some edges did not fit");
	CHECK(ms_graph_edges(a) == 1 && ms_graph_dropped(a) == 1 && ms_graph_nodes(a) == 2,
	      "1 edge, 1 dropped, 2 nodes: %zu %llu %zu", ms_graph_edges(a),
	      (unsigned long long)ms_graph_dropped(a), ms_graph_nodes(a));
	ms_graph_free(&a);
	ms_graph_free(&c);
}

/* Graphviz: nodes by name, each edge labelled with service and flows and
 * coloured by what happened on it. */
static void test_dot(void)
{
	struct ms_graph *g = sample();
	char *dot;

	REQUIRE(g, "sample");
	dot = ms_graph_to_dot(g);
	REQUIRE(dot, "dot");
	CHECK(!strncmp(dot, "digraph", 7), "a digraph");
	CHECK(strstr(dot, "\"workload:web\" [label=\"web\""), "web named: %s", dot);
	CHECK(strstr(dot, "\"workload:web\" -> \"workload:db\" [label=\"tcp/5432 (1)\", "
			  "color=darkgreen]"),
	      "allowed edge, green: %s", dot);
	CHECK(strstr(dot, "\"ip:2001:db8::9\" -> \"workload:db\" [label=\"icmpv6/128 (1)\", "
			  "color=red]"),
	      "denied edge, red");
	CHECK(strstr(dot, "[label=\"sctp/9 (1)\", color=orange]"), "audited edge, orange");
	free(dot);
	ms_graph_free(&g);
}

/* The agent adds up to a million records a second: 200k adds over 20k
 * edges must not crawl (no timing assertion, just sanity). */
static void test_many_adds(void)
{
	struct ms_graph *g = NULL;
	char src[64][32], dst[32][32];
	struct timespec t0, t1;
	double secs;

	for (int i = 0; i < 64; i++)
		snprintf(src[i], sizeof(src[i]), "198.18.%d.%d", i / 200, i % 200 + 1);
	for (int i = 0; i < 32; i++)
		snprintf(dst[i], sizeof(dst[i]), "2001:db8::%x", i + 1);
	REQUIRE(!ms_graph_new(MS_GRAPH_DEFAULT_MAX_EDGES, &g), "new");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (uint32_t i = 0; i < 200000; i++) {
		uint32_t x = i * 2654435761u;
		struct ms_flowrec r =
			rec(src[x % 64], dst[(x >> 8) % 32], MS_PROTO_TCP,
			    (uint16_t)(1 + (x >> 16) % 10), MS_VERDICT_ALLOW, true, 1000 + i);

		if (ms_graph_add(g, &r)) {
			CHECK(0, "add %u failed", i);
			break;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("  200000 adds, %zu edges, %zu nodes in %.3f s (sanitized build)\n",
	       ms_graph_edges(g), ms_graph_nodes(g), secs);
	CHECK(ms_graph_edges(g) <= 64 * 32 * 10 && ms_graph_nodes(g) == 96, "edges %zu nodes %zu",
	      ms_graph_edges(g), ms_graph_nodes(g));
	ms_graph_free(&g);
}

static uint64_t rng = 0x6a5e;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* A name of the bytes JSON treats specially, or a plain one. */
static const char *rnd_name(char *buf, size_t cap)
{
	static const char pick[] = "\"\\\b\f\n\r\t\x01\x1f\x7f\xc3\xa9\xff"
				   "az09-_:./";
	size_t n = 1 + rnd() % (cap - 1);

	for (size_t i = 0; i < n; i++)
		buf[i] = rnd() % 2 ? pick[rnd() % (sizeof(pick) - 1)] : (char)(1 + rnd() % 255);
	buf[n] = '\0';
	return buf;
}

/* The graph's text is cJSON's text of its tree, byte for byte: random
 * graphs of address and workload nodes (labelled, with addresses, or known
 * by name only), hostile names, unknown protocols, many rules per edge,
 * huge counts, a full graph's dropped edges. */
static void test_print_is_cjson_print(void)
{
	static const uint8_t protos[] = { MS_PROTO_TCP, MS_PROTO_UDP, MS_PROTO_ICMP, 47, 0 };
	struct ms_policy *p = policy();
	unsigned int differ = 0;

	REQUIRE(p, "policy");
	for (int round = 0; round < 60; round++) {
		struct ms_graph *g = NULL;
		char names[4][40], rule[40], src[48], dst[48];
		cJSON *j;
		char *ref, *ours;

		REQUIRE(!ms_graph_new(1 + rnd() % 300, &g), "graph");
		if (rnd() % 2)
			ms_graph_set_workloads(g, p);
		for (int i = 0; i < 400; i++) {
			struct ms_flowrec r = { 0 };

			snprintf(src, sizeof(src), "198.18.%u.%u", (unsigned)(rnd() % 3),
				 (unsigned)(rnd() % 20));
			snprintf(dst, sizeof(dst), "2001:db8::%x", (unsigned)(rnd() % 30));
			r.src = src;
			r.dst = dst;
			r.src_workload = rnd() % 3   ? NULL
					 : rnd() % 2 ? "web"
						     : rnd_name(names[0], sizeof(names[0]));
			r.dst_workload = rnd() % 3   ? NULL
					 : rnd() % 2 ? "db"
						     : rnd_name(names[1], sizeof(names[1]));
			r.proto = protos[rnd() % sizeof(protos)];
			r.port = (uint16_t)rnd();
			r.verdict = (uint8_t)(rnd() % 3);
			r.counts = rnd() % 4 != 0;
			r.packets = rnd() % 2 ? rnd() : rnd() % 100;
			r.bytes = rnd();
			r.time_ms = rnd() % 5 ? 1700000000000ULL + rnd() % 100000000 : 0;
			r.rule = rnd() % 5 ? rnd_name(rule, 2 + rnd() % 6) : NULL;
			ms_graph_add(g, &r);
		}
		j = ms_graph_to_json_at(g, 1765000000123ULL);
		ref = j ? cJSON_PrintUnformatted(j) : NULL;
		ours = ms_graph_print_at(g, 1765000000123ULL);
		REQUIRE(ref && ours, "printed");
		if (strcmp(ref, ours) && differ++ < 2) {
			size_t k = 0;

			while (ref[k] && ref[k] == ours[k])
				k++;
			CHECK(0, "graphs differ at byte %zu:\n  cJSON: %.120s\n  ours:  %.120s", k,
			      ref + (k > 40 ? k - 40 : 0), ours + (k > 40 ? k - 40 : 0));
		}
		cJSON_Delete(j);
		free(ref);
		free(ours);
		ms_graph_free(&g);
	}
	CHECK(differ == 0, "%u of 60 graphs differ", differ);
	ms_policy_free(&p);
}

int main(void)
{
	RUN(test_one_flow_counted_once);
	RUN(test_print_is_cjson_print);
	RUN(test_nodes);
	RUN(test_long_names);
	RUN(test_bound);
	RUN(test_rules);
	RUN(test_json_round_trip);
	RUN(test_load_keeps_bound);
	RUN(test_save_load);
	RUN(test_corrupt_moved_aside);
	RUN(test_flowrec_agent_lines);
	RUN(test_flowrec_lines);
	RUN(test_merge_clone);
	RUN(test_dot);
	RUN(test_many_adds);
	return t_done();
}
