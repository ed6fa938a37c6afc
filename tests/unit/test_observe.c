// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * The agent's observation path without BPF: flow events through the events
 * module's sink into the observer (flow graph, ring of recent flows, flow
 * counters), the filters of GET /v1/flows, the session shadow that finds
 * evicted sessions, and the graph's bound and persistence.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "anomaly.h"
#include "events.h"
#include "flowring.h"
#include "graph.h"
#include "observer.h"
#include "policy_parse.h"
#include "shadow.h"
#include "testlib.h"

static const char policy_text[] = "version: 1\n"
				  "workloads:\n"
				  "  web: {labels: {role: web}, addresses: [198.18.1.0/24]}\n"
				  "  db: {labels: {role: db}, addresses: [198.18.2.10]}\n"
				  "rules:\n"
				  "  - {name: web-db, action: allow, ports: [tcp/5432]}\n";

static void v4(uint8_t *a, const char *s)
{
	memset(a, 0, 16);
	a[10] = a[11] = 0xff;
	inet_pton(AF_INET, s, a + 12);
}

static struct ms_event ev_of(uint8_t type, uint8_t verdict, const char *src, const char *dst,
			     uint16_t dport, uint64_t packets)
{
	struct ms_event e;

	memset(&e, 0, sizeof(e));
	e.type = type;
	e.verdict = verdict;
	e.family = MS_FAMILY_IPV4;
	e.proto = MS_PROTO_TCP;
	e.generation = 1;
	e.rule_id = verdict == MS_VERDICT_ALLOW ? 1 : 0;
	v4(e.src, src);
	v4(e.dst, dst);
	e.sport = htons(40000);
	e.dport = htons(dport);
	e.packets[0] = packets;
	e.bytes[0] = packets * 100;
	return e;
}

struct fixture {
	struct ms_events *ev;
	struct ms_observer *obs;
};

static int fixture_new(struct fixture *f, const char *state_dir, size_t max_edges)
{
	struct ms_observer_opts oo = { .state_dir = state_dir,
				       .max_edges = max_edges,
				       .ring_size = 8 };
	struct ms_diag d = { 0 };
	struct ms_policy *p = NULL;

	if (ms_events_new("/dev/null", NULL, &f->ev) || ms_observer_new(&oo, &f->obs))
		return -1;
	ms_events_set_sink(f->ev, ms_observer_sink, f->obs);
	if (ms_policy_parse_mem("t.yaml", policy_text, strlen(policy_text), &p, &d))
		return -1;
	ms_diag_free(&d);
	ms_observer_set_policy(f->obs, p);
	ms_events_set_policy(f->ev, &p, 1);
	return 0;
}

static void fixture_free(struct fixture *f)
{
	ms_events_free(&f->ev);
	ms_observer_free(&f->obs);
}

/* Counts are written as raw numbers; read them back as a client would. */
static cJSON *reparse(cJSON *j)
{
	char *s = cJSON_PrintUnformatted(j);
	cJSON *r = s ? cJSON_Parse(s) : NULL;

	free(s);
	cJSON_Delete(j);
	return r;
}

static cJSON *find_edge(cJSON *g, const char *src, const char *dst, int port)
{
	cJSON *e;

	cJSON_ArrayForEach(e, cJSON_GetObjectItem(g, "edges"))
	{
		if (!strcmp(cJSON_GetObjectItem(e, "src")->valuestring, src) &&
		    !strcmp(cJSON_GetObjectItem(e, "dst")->valuestring, dst) &&
		    cJSON_GetObjectItem(e, "port")->valueint == port)
			return e;
	}
	return NULL;
}

static int num(cJSON *o, const char *k)
{
	cJSON *v = o ? cJSON_GetObjectItem(o, k) : NULL;

	return cJSON_IsNumber(v) ? v->valueint : -1;
}

/* A denial reported three times is one denied flow; an allowed flow counts
 * at its end; workload addresses resolve to workload nodes. */
static void test_one_count_per_flow(void)
{
	struct fixture f = { 0 };
	struct ms_event e;
	cJSON *g, *edge;

	REQUIRE(!fixture_new(&f, NULL, 100), "fixture");
	e = ev_of(MS_EV_FLOW_DENY, MS_VERDICT_DENY, "198.18.1.5", "198.18.2.10", 22, 1);
	ms_events_write(f.ev, &e);
	e.packets[0] = 7; /* the repeat reports of the same flow */
	ms_events_write(f.ev, &e);
	e.packets[0] = 19;
	ms_events_write(f.ev, &e);
	e = ev_of(MS_EV_FLOW_NEW, MS_VERDICT_ALLOW, "198.18.1.5", "198.18.2.10", 5432, 1);
	ms_events_write(f.ev, &e);
	e = ev_of(MS_EV_FLOW_END, MS_VERDICT_ALLOW, "198.18.1.5", "198.18.2.10", 5432, 12);
	ms_events_write(f.ev, &e);
	e = ev_of(MS_EV_FLOW_END, MS_VERDICT_ALLOW, "198.18.7.7", "198.18.2.10", 5432, 3);
	ms_events_write(f.ev, &e);

	g = reparse(ms_observer_graph_json(f.obs, NULL));
	REQUIRE(g, "graph json");
	edge = find_edge(g, "workload:web", "workload:db", 22);
	REQUIRE(edge, "denied edge web->db:22");
	CHECK(num(edge, "flows") == 1 && num(edge, "denied") == 1, "denied once, flows %d",
	      num(edge, "flows"));
	edge = find_edge(g, "workload:web", "workload:db", 5432);
	REQUIRE(edge, "allowed edge");
	CHECK(num(edge, "flows") == 1 && num(edge, "allowed") == 1 && num(edge, "packets") == 12,
	      "allowed once with its packets");
	CHECK(!strcmp(cJSON_GetArrayItem(cJSON_GetObjectItem(edge, "rules"), 0)->valuestring,
		      "web-db"),
	      "rule named");
	CHECK(find_edge(g, "ip:198.18.7.7", "workload:db", 5432), "unknown address is an ip node");
	CHECK(ms_observer_flows(f.obs, MS_VERDICT_DENY) == 1, "deny counter");
	CHECK(ms_observer_flows(f.obs, MS_VERDICT_ALLOW) == 2, "allow counter");
	cJSON_Delete(g);
	fixture_free(&f);
}

/* The graph remembers where recent flows' edges are; a policy change that
 * renames the workloads of the same addresses must send the next flows to
 * the new workloads' edge, and an older generation's flows to the old. */
static void test_edges_follow_policy_changes(void)
{
	static const char renamed[] = "version: 1\n"
				      "workloads:\n"
				      "  front: {addresses: [198.18.1.0/24]}\n"
				      "  db: {addresses: [198.18.2.10]}\n"
				      "rules:\n"
				      "  - {name: web-db, action: allow, ports: [tcp/5432]}\n";
	struct fixture f = { 0 };
	struct ms_diag d = { 0 };
	struct ms_policy *p = NULL;
	struct ms_event e;
	cJSON *g;

	REQUIRE(!fixture_new(&f, NULL, 100), "fixture");
	e = ev_of(MS_EV_FLOW_END, MS_VERDICT_ALLOW, "198.18.1.5", "198.18.2.10", 5432, 1);
	for (int i = 0; i < 3; i++)
		ms_events_write(f.ev, &e);
	/* A generation no policy of the history has is named by the newest. */
	e.generation = 7;
	ms_events_write(f.ev, &e);
	REQUIRE(!ms_policy_parse_mem("r.yaml", renamed, strlen(renamed), &p, &d), "renamed");
	ms_diag_free(&d);
	ms_observer_set_policy(f.obs, p);
	ms_events_set_policy(f.ev, &p, 2);
	ms_events_write(f.ev, &e); /* generation 7 again: now front */
	e.generation = 1;	   /* still web */
	ms_events_write(f.ev, &e);
	e.generation = 2;
	ms_events_write(f.ev, &e);
	e = ev_of(MS_EV_FLOW_END, MS_VERDICT_ALLOW, "198.18.9.9", "198.18.2.10", 5432, 1);
	ms_events_write(f.ev, &e);
	e.family = MS_FAMILY_IPV6; /* the same bytes, written as another address */
	ms_events_write(f.ev, &e);
	g = reparse(ms_observer_graph_json(f.obs, NULL));
	REQUIRE(g, "graph json");
	CHECK(num(find_edge(g, "workload:web", "workload:db", 5432), "flows") == 5,
	      "generation 1's flows, and 7's before the change, on web's edge");
	CHECK(num(find_edge(g, "workload:front", "workload:db", 5432), "flows") == 2,
	      "generation 2's, and 7's after the change, on front's edge");
	/* IPv4-mapped in an IPv6 packet: not the IPv4 workload's address. */
	CHECK(num(find_edge(g, "ip:198.18.9.9", "workload:db", 5432), "flows") == 1 &&
		      num(find_edge(g, "ip:::ffff:198.18.9.9", "ip:::ffff:198.18.2.10", 5432),
			  "flows") == 1,
	      "an IPv6 event of the same bytes has its own nodes, db's IPv4 address's too");
	cJSON_Delete(g);
	fixture_free(&f);
}

struct collect {
	char lines[16][512];
	int n;
};

static int collect(void *cls, const char *line, size_t len)
{
	struct collect *c = cls;

	if (c->n < 16 && len < 512) {
		memcpy(c->lines[c->n], line, len);
		c->lines[c->n][len] = '\0';
	}
	c->n++;
	return 0;
}

struct kv {
	const char *k[4], *v[4];
};

static const char *kv_get(void *cls, const char *key)
{
	struct kv *q = cls;

	for (int i = 0; i < 4 && q->k[i]; i++)
		if (!strcmp(q->k[i], key))
			return q->v[i];
	return NULL;
}

/* The ring keeps the newest events; filters and limit pick from them,
 * oldest first; bad arguments are named. */
static void test_ring_filters(void)
{
	struct fixture f = { 0 };
	struct ms_flow_filter flt;
	struct collect c = { 0 };
	struct kv q = { { "port", "limit" }, { "22", "2" } };
	char *err = NULL;

	REQUIRE(!fixture_new(&f, NULL, 100), "fixture");
	for (int i = 0; i < 12; i++) {
		struct ms_event e = ev_of(MS_EV_FLOW_DENY, MS_VERDICT_DENY, "198.18.1.5",
					  "198.18.2.10", (uint16_t)(i % 2 ? 22 : 80), 1);

		e.sport = htons((uint16_t)(1000 + i));
		ms_events_write(f.ev, &e);
	}
	CHECK(ms_flowring_count(ms_observer_ring(f.obs)) == 8, "ring keeps 8");
	REQUIRE(!ms_flow_filter_parse(&flt, kv_get, &q, &err), "parse");
	ms_flowring_query(ms_observer_ring(f.obs), &flt, collect, &c);
	CHECK(c.n == 2, "limit 2, got %d", c.n);
	CHECK(strstr(c.lines[0], "\"sport\":1009") && strstr(c.lines[1], "\"sport\":1011"),
	      "newest two, oldest first: %s / %s", c.lines[0], c.lines[1]);
	ms_flow_filter_clear(&flt);

	q = (struct kv){ { "workload" }, { "db" } };
	memset(&c, 0, sizeof(c));
	REQUIRE(!ms_flow_filter_parse(&flt, kv_get, &q, &err), "parse workload");
	ms_flowring_query(ms_observer_ring(f.obs), &flt, collect, &c);
	CHECK(c.n == 8, "every event has dst workload db: %d", c.n);
	ms_flow_filter_clear(&flt);

	q = (struct kv){ { "ip" }, { "198.18.9.9" } };
	memset(&c, 0, sizeof(c));
	REQUIRE(!ms_flow_filter_parse(&flt, kv_get, &q, &err), "parse ip");
	ms_flowring_query(ms_observer_ring(f.obs), &flt, collect, &c);
	CHECK(c.n == 0, "no event of that address");
	ms_flow_filter_clear(&flt);

	q = (struct kv){ { "verdict" }, { "maybe" } };
	CHECK(ms_flow_filter_parse(&flt, kv_get, &q, &err) == -EINVAL && err &&
		      strstr(err, "verdict 'maybe'"),
	      "bad verdict named: %s", err ? err : "(none)");
	free(err);
	ms_flow_filter_clear(&flt);
	fixture_free(&f);
}

struct reaped {
	int n;
	uint16_t port;
};

static void on_reap(void *cls, const struct ms_session_key *k, const struct ms_session *s)
{
	struct reaped *r = cls;

	(void)s;
	r->n++;
	r->port = ntohs(k->port_hi);
}

/* Sessions seen at one sweep and not the next are reaped (evicted); those
 * seen again, or deleted by the daemon, are not. */
static void test_shadow(void)
{
	struct ms_shadow *sh = NULL;
	struct ms_session s = { 0 };
	struct reaped r = { 0 };

	REQUIRE(!ms_shadow_new(&sh), "new");
	for (int i = 0; i < 5000; i++) {
		struct ms_session_key k = { .proto = 6, .family = 4 };

		k.port_hi = htons((uint16_t)i);
		REQUIRE(!ms_shadow_put(sh, &k, &s, 1), "put");
	}
	CHECK(ms_shadow_count(sh) == 5000, "count");
	for (int i = 0; i < 5000; i++) {
		struct ms_session_key k = { .proto = 6, .family = 4 };

		k.port_hi = htons((uint16_t)i);
		if (i == 4321)
			continue; /* vanished */
		if (i % 10 == 0)
			ms_shadow_del(sh, &k); /* deleted by the daemon */
		else
			ms_shadow_put(sh, &k, &s, 2);
	}
	ms_shadow_reap(sh, 2, on_reap, &r);
	CHECK(r.n == 1 && r.port == 4321, "one evicted (port 4321), got %d (port %u)", r.n, r.port);
	CHECK(ms_shadow_count(sh) == 4499, "left %zu", ms_shadow_count(sh));
	memset(&r, 0, sizeof(r));
	ms_shadow_reap(sh, 3, on_reap, &r);
	CHECK(r.n == 4499 && ms_shadow_count(sh) == 0, "all reaped: %d", r.n);
	ms_shadow_free(&sh);
}

/* Past max_edges, new edges are dropped and counted; known edges still
 * count. */
static void test_bound(void)
{
	struct ms_graph *g = NULL;
	struct ms_flowrec r = { .counts = true,
				.proto = 6,
				.src = "198.18.0.1",
				.dst = "198.18.0.2",
				.time_ms = 1000 };
	cJSON *j;

	REQUIRE(!ms_graph_new(3, &g), "new");
	for (int p = 1; p <= 5; p++) {
		r.port = (uint16_t)p;
		CHECK(ms_graph_add(g, &r) == (p <= 3 ? 0 : -ENOSPC), "add %d", p);
	}
	r.port = 2;
	CHECK(!ms_graph_add(g, &r), "known edge still counts");
	CHECK(ms_graph_edges(g) == 3 && ms_graph_dropped(g) == 2, "3 edges, 2 dropped");
	j = reparse(ms_graph_to_json(g));
	CHECK(cJSON_IsTrue(cJSON_GetObjectItem(j, "truncated")), "truncated");
	CHECK(num(j, "dropped_edges") == 2, "dropped_edges in JSON");
	cJSON_Delete(j);
	ms_graph_free(&g);
}

/* The graph survives a save and load; a corrupt file is moved aside. */
static void test_persistence(void)
{
	char dir[] = "/tmp/test_observe.XXXXXX", path[64], cmd[128];
	struct fixture f = { 0 };
	struct ms_graph *g = NULL;
	struct ms_event e;
	char *err = NULL;
	cJSON *j;
	FILE *fp;

	REQUIRE(mkdtemp(dir), "mkdtemp");
	REQUIRE(!fixture_new(&f, dir, 100), "fixture");
	e = ev_of(MS_EV_FLOW_END, MS_VERDICT_ALLOW, "198.18.1.5", "198.18.2.10", 5432, 4);
	ms_events_write(f.ev, &e);
	fixture_free(&f); /* saves */

	REQUIRE(!ms_graph_new(100, &g), "new");
	CHECK(ms_graph_load(g, dir, &err) == 0, "load: %s", err ? err : "");
	j = reparse(ms_graph_to_json(g));
	CHECK(find_edge(j, "workload:web", "workload:db", 5432), "edge back after load");
	cJSON_Delete(j);
	ms_graph_free(&g);

	snprintf(path, sizeof(path), "%s/graph.json", dir);
	fp = fopen(path, "w");
	REQUIRE(fp, "open");
	fputs("{\"nodes\": [", fp);
	fclose(fp);
	REQUIRE(!ms_graph_new(100, &g), "new");
	CHECK(ms_graph_load(g, dir, &err) == 1, "corrupt is reported");
	free(err);
	CHECK(ms_graph_edges(g) == 0, "empty after corrupt");
	CHECK(access(path, F_OK) != 0, "corrupt file moved away");
	ms_graph_free(&g);
	snprintf(cmd, sizeof(cmd), "ls %s | grep -q 'graph.json.corrupt-'", dir);
	CHECK(system(cmd) == 0, "corrupt file kept aside");
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK(system(cmd) == 0, "cleanup");
}

/* Flow-log lines count as the agent counts. */
static void test_flowrec_from_json(void)
{
	static const char *const lines[] = {
		"{\"time\":\"2026-11-24T00:00:01.000Z\",\"event\":\"flow_deny\",\"verdict\":"
		"\"deny\","
		"\"rule\":\"default\",\"proto\":\"tcp\",\"src\":\"198.18.0.2\",\"dst\":\"198.18.0."
		"1\","
		"\"sport\":1,\"dport\":22}",
		"{\"time\":\"2026-11-24T00:00:11.000Z\",\"event\":\"flow_deny\",\"verdict\":"
		"\"deny\","
		"\"rule\":\"default\",\"proto\":\"tcp\",\"src\":\"198.18.0.2\",\"dst\":\"198.18.0."
		"1\","
		"\"sport\":1,\"dport\":22,\"repeat\":true}",
		"{\"time\":\"2026-11-24T00:00:12.000Z\",\"event\":\"flow_end\",\"verdict\":"
		"\"allow\","
		"\"rule\":\"web\",\"proto\":\"icmp\",\"src\":\"198.18.0.2\",\"dst\":\"198.18.0.1\","
		"\"icmp_type\":8,\"icmp_code\":0,\"packets\":4,\"bytes\":336}",
	};
	struct ms_graph *g = NULL;
	struct ms_flowrec r;
	char *err = NULL;
	cJSON *j;

	REQUIRE(!ms_graph_new(10, &g), "new");
	for (size_t i = 0; i < 3; i++) {
		cJSON *o = cJSON_Parse(lines[i]);

		CHECK(ms_flowrec_from_json(o, &r, &err) == 1, "line %zu: %s", i, err ? err : "");
		ms_graph_add(g, &r);
		cJSON_Delete(o);
	}
	j = reparse(ms_graph_to_json(g));
	CHECK(num(find_edge(j, "ip:198.18.0.2", "ip:198.18.0.1", 22), "denied") == 1,
	      "repeat not counted");
	CHECK(num(find_edge(j, "ip:198.18.0.2", "ip:198.18.0.1", 8), "packets") == 4,
	      "icmp type as port");
	cJSON_Delete(j);
	{
		cJSON *o = cJSON_Parse("{\"event\":\"flow_end\",\"verdict\":\"allow\"}");

		CHECK(ms_flowrec_from_json(o, &r, &err) == -EINVAL && err, "bad line named");
		free(err);
		cJSON_Delete(o);
	}
	ms_graph_free(&g);
}

struct seen {
	int scans, new_edges;
	unsigned int targets;
};

static void on_anomaly(void *cls, enum ms_anomaly_kind kind, const struct ms_flowrec *r,
		       unsigned int targets, unsigned int window)
{
	struct seen *s = cls;

	(void)r;
	(void)window;
	if (kind == MS_ANOMALY_SCAN) {
		s->scans++;
		s->targets = targets;
	} else {
		s->new_edges++;
	}
}

/* A scan of 200 ports is one anomaly per window, however long it goes on;
 * normal traffic none; a baseline's missing edges one each. */
static void test_anomalies(void)
{
	struct ms_anomaly *a = NULL;
	struct ms_graph *base = NULL;
	struct seen s = { 0 };
	struct ms_flowrec r = { .counts = true,
				.verdict = MS_VERDICT_DENY,
				.proto = 6,
				.src = "198.18.0.2",
				.dst = "198.18.0.1",
				.time_ms = 1 };

	REQUIRE(!ms_graph_new(100, &base), "baseline");
	r.port = 443;
	ms_graph_add(base, &r);
	REQUIRE(!ms_anomaly_new(base, &a), "new");
	ms_anomaly_set_scan(a, 50, 60);
	for (int p = 1; p <= 200; p++) {
		r.port = (uint16_t)p;
		CHECK(!ms_anomaly_observe(a, &r, true, 1000 + (uint64_t)p, on_anomaly, &s), "obs");
	}
	CHECK(s.scans == 1 && s.targets == 50, "one scan in the window: %d", s.scans);
	for (int p = 201; p <= 400; p++) {
		r.port = (uint16_t)p;
		ms_anomaly_observe(a, &r, true, 61000 + 1000 + (uint64_t)p, on_anomaly, &s);
	}
	CHECK(s.scans == 2, "one more in the next window: %d", s.scans);
	CHECK(s.new_edges == 400, "each new edge once: %d", s.new_edges);
	r.port = 7;
	ms_anomaly_observe(a, &r, true, 200000, on_anomaly, &s);
	CHECK(s.new_edges == 400, "an edge reported before is not again");
	r.port = 443;
	ms_anomaly_observe(a, &r, false, 200001, on_anomaly, &s);
	CHECK(s.new_edges == 400, "a baseline edge is not new");
	/* Normal traffic: another source, a handful of denied ports. */
	r.src = "198.18.0.3";
	for (int p = 1; p <= 10; p++) {
		r.port = (uint16_t)p;
		ms_anomaly_observe(a, &r, true, 300000, on_anomaly, &s);
	}
	CHECK(s.scans == 2, "no scan from normal traffic");
	/* Repeats of one target do not add up. */
	r.src = "198.18.0.4";
	r.port = 22;
	for (int i = 0; i < 500; i++)
		ms_anomaly_observe(a, &r, true, 300000 + (uint64_t)i, on_anomaly, &s);
	CHECK(s.scans == 2, "one target retried is no scan");
	CHECK(ms_anomaly_count(a, MS_ANOMALY_SCAN) == 2, "counted");
	ms_anomaly_free(&a);
}

int main(void)
{
	RUN(test_anomalies);
	RUN(test_one_count_per_flow);
	RUN(test_edges_follow_policy_changes);
	RUN(test_ring_filters);
	RUN(test_shadow);
	RUN(test_bound);
	RUN(test_persistence);
	RUN(test_flowrec_from_json);
	return t_done();
}
