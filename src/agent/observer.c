// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "log.h"
#include "names.h"
#include "observer.h"
#include "proto.h"
#include "timefmt.h"

/*
 * Where the edges of recent flows are in the graph, by the flow's raw
 * endpoints: finding an edge by its nodes' names costs two string hashes
 * and compares per event, most of the graph's share of the event path.
 * Edges are never removed, so a remembered index stays right for as long
 * as the names it was found by: the same generation's policy, and the
 * events' policy history unchanged (names_epoch).
 */
#define MEMO_SIZE 65536

struct edge_memo {
	uint8_t src[16], dst[16];
	uint64_t generation;
	uint64_t names_epoch; /* 0: empty */
	uint32_t edge;
	uint16_t port;
	uint8_t proto;
	uint8_t family; /* the addresses' text depends on it */
};

struct ms_observer {
	struct ms_graph *graph;
	struct edge_memo *memo; /* MEMO_SIZE entries; NULL: none */
	struct ms_flowring *ring;
	char *state_dir;
	ms_observer_publish_fn publish;
	void *publish_cls;
	uint64_t flows[3];
	unsigned int ticks;
	bool save_failing;
	struct ms_anomaly *anomaly;
	struct ms_events *ev; /* where anomaly lines go */
	/* The graph with the open sessions, made at most once per sweep. */
	struct ms_graph *live;
	char *live_text;      /* its JSON, once asked for */
	uint64_t live_sweeps; /* ms_events_sweeps() when made */
	uint64_t live_ms;     /* Unix ms when made */
};

static int prepare_state_dir(const char *dir)
{
	struct stat st;

	if (!mkdir(dir, 0750))
		return 0;
	if (errno != EEXIST)
		return -errno;
	if (stat(dir, &st))
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

int ms_observer_new(const struct ms_observer_opts *opts, struct ms_observer **out)
{
	struct ms_observer *o = calloc(1, sizeof(*o));
	char *errmsg = NULL;
	int err;

	if (!o)
		return -ENOMEM;
	/* Without the memo the graph works as well, only slower. */
	o->memo = calloc(MEMO_SIZE, sizeof(*o->memo));
	err = ms_graph_new(opts->max_edges, &o->graph);
	if (!err)
		err = ms_flowring_new(opts->ring_size, &o->ring);
	if (err)
		goto fail;
	if (opts->state_dir) {
		err = prepare_state_dir(opts->state_dir);
		if (err) {
			log_warn("state directory %s unusable: %s; the flow graph will not be "
				 "kept across restarts",
				 opts->state_dir, strerror(-err));
		} else {
			o->state_dir = strdup(opts->state_dir);
			if (!o->state_dir) {
				err = -ENOMEM;
				goto fail;
			}
			err = ms_graph_load(o->graph, o->state_dir, &errmsg);
			if (err == 1)
				log_warn("%s/graph.json is corrupt (%s); moved aside, starting "
					 "with an empty flow graph",
					 o->state_dir, errmsg ? errmsg : "unreadable");
			else if (err < 0)
				log_warn("cannot load %s/graph.json: %s; starting with an empty "
					 "flow graph",
					 o->state_dir, errmsg ? errmsg : strerror(-err));
			else
				log_info("flow graph loaded from %s: %zu nodes, %zu edges",
					 o->state_dir, ms_graph_nodes(o->graph),
					 ms_graph_edges(o->graph));
			free(errmsg);
			if (err == -ENOMEM)
				goto fail;
			err = 0;
		}
	}
	*out = o;
	return 0;
fail:
	ms_observer_free(&o);
	return -ENOMEM;
}

static void drop_live(struct ms_observer *o)
{
	ms_graph_free(&o->live);
	free(o->live_text);
	o->live_text = NULL;
}

void ms_observer_free(struct ms_observer **op)
{
	struct ms_observer *o = *op;

	if (!o)
		return;
	if (o->state_dir && o->graph)
		ms_observer_save(o);
	ms_graph_free(&o->graph);
	drop_live(o);
	free(o->memo);
	ms_flowring_free(&o->ring);
	ms_anomaly_free(&o->anomaly);
	free(o->state_dir);
	free(o);
	*op = NULL;
}

void ms_observer_flowent(const struct ms_event_info *in, struct ms_flowent *fe)
{
	const struct ms_event *e = in->e;

	memset(fe, 0, sizeof(*fe));
	fe->time_ms = in->time_ms;
	fe->type = e->type;
	fe->verdict = e->verdict;
	fe->proto = e->proto;
	fe->family = e->family;
	if (ms_proto_has_ports(e->proto)) {
		fe->sport = ntohs(e->sport);
		fe->dport = ntohs(e->dport);
	}
	memcpy(fe->src, e->src, 16);
	memcpy(fe->dst, e->dst, 16);
	fe->src_workload = in->src_workload;
	fe->dst_workload = in->dst_workload;
}

/* The graph's view of an event; counts says whether it is the flow's one
 * count (see the header). */
static void to_flowrec(const struct ms_event_info *in, bool counts, struct ms_flowrec *r)
{
	const struct ms_event *e = in->e;

	memset(r, 0, sizeof(*r));
	r->time_ms = in->time_ms;
	r->verdict = e->verdict;
	r->proto = e->proto;
	if (ms_proto_has_ports(e->proto))
		r->port = ntohs(e->dport);
	else if (ms_proto_is_icmp(e->proto))
		r->port = e->icmp_type;
	r->counts = counts;
	r->src = in->src;
	r->dst = in->dst;
	r->src_workload = in->src_workload;
	r->dst_workload = in->dst_workload;
	r->rule = in->rule;
	if (e->type == MS_EV_FLOW_END) {
		r->packets = e->packets[0] + e->packets[1];
		r->bytes = e->bytes[0] + e->bytes[1];
	}
}

static bool add_str(cJSON *o, const char *k, const char *v)
{
	return !v || cJSON_AddStringToObject(o, k, v) != NULL;
}

/* An anomaly as a flow-log line ("event": "anomaly") and a warning. */
static void emit_anomaly(void *cls, enum ms_anomaly_kind kind, const struct ms_flowrec *r,
			 unsigned int targets, unsigned int window)
{
	struct ms_observer *o = cls;
	char tbuf[MS_TIME_STRLEN], *line = NULL;
	const char *pn = ms_proto_name(r->proto);
	cJSON *j = cJSON_CreateObject();
	bool ok = j != NULL;

	ok &= ok && add_str(j, "time", ms_time_format_ms(ms_time_now_ms(), tbuf));
	ok &= ok && add_str(j, "event", "anomaly");
	ok &= ok && add_str(j, "kind", ms_anomaly_name(kind));
	ok &= ok && add_str(j, "src", r->src) && add_str(j, "src_workload", r->src_workload);
	if (kind == MS_ANOMALY_SCAN) {
		ok &= ok && cJSON_AddNumberToObject(j, "targets", targets) &&
		      cJSON_AddNumberToObject(j, "window", window);
		log_warn("anomaly: scan from %s: %u denied destinations and ports within %u s",
			 r->src, targets, window);
	} else {
		ok &= ok && add_str(j, "dst", r->dst) &&
		      add_str(j, "dst_workload", r->dst_workload);
		ok &= ok && (pn ? add_str(j, "proto", pn)
				: cJSON_AddNumberToObject(j, "proto", r->proto) != NULL);
		ok &= ok && cJSON_AddNumberToObject(j, "port", r->port);
		ok &= ok && add_str(j, "verdict", ms_verdict_name(r->verdict));
		ok &= ok && add_str(j, "rule", r->rule);
		log_warn("anomaly: new edge %s -> %s %s/%u, not in the baseline",
			 r->src_workload ? r->src_workload : r->src,
			 r->dst_workload ? r->dst_workload : r->dst, pn ? pn : "ip", r->port);
	}
	line = ok ? cJSON_PrintUnformatted(j) : NULL;
	cJSON_Delete(j);
	if (line && o->ev)
		ms_events_write_line(o->ev, line);
	free(line);
}

void ms_observer_set_anomaly(struct ms_observer *o, struct ms_anomaly *a, struct ms_events *ev)
{
	ms_anomaly_free(&o->anomaly);
	o->anomaly = a;
	o->ev = ev;
}

uint64_t ms_observer_anomalies(const struct ms_observer *o, enum ms_anomaly_kind kind)
{
	return o->anomaly ? ms_anomaly_count(o->anomaly, kind) : 0;
}

static size_t memo_slot(const struct ms_event *e, uint16_t port)
{
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ e->generation;
	uint64_t w[4];

	memcpy(w, e->src + 8, 8);
	memcpy(w + 1, e->dst + 8, 8);
	memcpy(w + 2, e->src, 8);
	memcpy(w + 3, e->dst, 8);
	h ^= w[0] * 0xbf58476d1ce4e5b9ULL;
	h ^= w[1] * 0x94d049bb133111ebULL;
	h ^= (w[2] ^ w[3]) * 0xff51afd7ed558ccdULL;
	h ^= ((uint64_t)e->proto << 16 | port) * 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 29;
	return (size_t)(h * 0x9e3779b97f4a7c15ULL >> 50) & (MEMO_SIZE - 1);
}

static int graph_add(struct ms_observer *o, const struct ms_event_info *in,
		     const struct ms_flowrec *r)
{
	const struct ms_event *e = in->e;
	struct edge_memo *m;
	long ei;

	if (!o->memo)
		return ms_graph_add(o->graph, r);
	m = &o->memo[memo_slot(e, r->port)];
	if (m->names_epoch == in->names_epoch && m->generation == e->generation &&
	    m->port == r->port && m->proto == r->proto && m->family == e->family &&
	    !memcmp(m->src, e->src, 16) && !memcmp(m->dst, e->dst, 16))
		return ms_graph_add_at(o->graph, m->edge, r);
	ei = ms_graph_edge_of(o->graph, r);
	if (ei < 0)
		return (int)ei;
	memcpy(m->src, e->src, 16);
	memcpy(m->dst, e->dst, 16);
	m->generation = e->generation;
	m->names_epoch = in->names_epoch;
	m->port = r->port;
	m->proto = r->proto;
	m->family = e->family;
	m->edge = (uint32_t)ei;
	return ms_graph_add_at(o->graph, (size_t)ei, r);
}

void ms_observer_sink(void *cls, const struct ms_event_info *in)
{
	struct ms_observer *o = cls;
	const struct ms_event *e = in->e;
	struct ms_flowrec r;
	struct ms_flowent fe;
	bool counts;

	switch (e->type) {
	case MS_EV_FLOW_END:
	case MS_EV_FLOW_REVOKED:
		counts = true;
		break;
	case MS_EV_FLOW_DENY:
		counts = !in->repeat;
		break;
	default:
		counts = false;
		break;
	}
	to_flowrec(in, counts, &r);
	/* -ENOSPC is counted by the graph as a dropped edge. */
	if (graph_add(o, in, &r) == -ENOMEM)
		log_warn("out of memory adding a flow to the graph");
	if (counts && e->verdict < 3)
		o->flows[e->verdict]++;
	if (in->line) {
		ms_observer_flowent(in, &fe);
		ms_flowring_push(o->ring, &fe, in->line, in->len);
		if (o->publish)
			o->publish(o->publish_cls, &fe, in->line, in->len);
	}
	/* Last: an anomaly line may move the flow log's buffer under in->line. */
	if (o->anomaly) {
		bool attempt = (e->type == MS_EV_FLOW_DENY && !in->repeat) ||
			       (e->type == MS_EV_FLOW_AUDIT && e->packets[0] + e->packets[1] == 1);

		if (ms_anomaly_observe(o->anomaly, &r, attempt, in->time_ms, emit_anomaly, o))
			log_warn("out of memory looking for anomalies");
	}
}

void ms_observer_set_policy(struct ms_observer *o, const struct ms_policy *p)
{
	if (o->anomaly)
		ms_anomaly_set_scan(o->anomaly, p->scan_targets, p->scan_window);
	if (ms_graph_set_workloads(o->graph, p))
		log_warn("out of memory recording the policy's workloads in the flow graph");
}

void ms_observer_set_publish(struct ms_observer *o, ms_observer_publish_fn fn, void *cls)
{
	o->publish = fn;
	o->publish_cls = cls;
}

int ms_observer_save(struct ms_observer *o)
{
	int err;

	if (!o->state_dir)
		return 0;
	err = ms_graph_save(o->graph, o->state_dir);
	if (err && !o->save_failing)
		log_warn("cannot save the flow graph in %s: %s; will retry", o->state_dir,
			 strerror(-err));
	else if (!err && o->save_failing)
		log_info("flow graph saved in %s again", o->state_dir);
	o->save_failing = err != 0;
	return err;
}

void ms_observer_tick(struct ms_observer *o)
{
	/* Nobody looked for a while: give its memory back. */
	if (o->live && ms_time_now_ms() - o->live_ms > MS_GRAPH_SAVE_SEC * 1000ULL)
		drop_live(o);
	if (++o->ticks < MS_GRAPH_SAVE_SEC)
		return;
	o->ticks = 0;
	ms_observer_save(o);
}

/*
 * Open sessions of the same edge, verdict and rule: the live part of the
 * graph is added group by group. Naming a session (workloads, addresses,
 * rule) and finding its edge is microseconds under load, and a full table
 * has a hundred thousand sessions over a few hundred edges.
 */
struct live_group {
	uint8_t src[16], dst[16];
	uint64_t generation;
	uint64_t n; /* sessions; 0: slot empty */
	uint64_t packets, bytes;
	uint64_t first_ns, last_ns; /* the earliest and latest last_seen */
	uint32_t rule_id, ifindex;
	uint16_t port;
	uint8_t proto, family, verdict;
};

struct live_ctx {
	struct live_group *t;
	size_t mask;
};

static size_t group_slot(const struct ms_event *e, uint16_t port, size_t mask)
{
	uint64_t h = (uint64_t)e->rule_id << 8 | e->verdict;
	size_t i = memo_slot(e, port);

	h = (h ^ i) * 0x9e3779b97f4a7c15ULL;
	return (size_t)(h >> 20 ^ h) & mask;
}

static uint16_t event_port(const struct ms_event *e)
{
	if (ms_proto_has_ports(e->proto))
		return ntohs(e->dport);
	return ms_proto_is_icmp(e->proto) ? e->icmp_type : 0;
}

static void add_live(void *cls, const struct ms_session_key *k, const struct ms_session *s)
{
	struct live_ctx *c = cls;
	struct live_group *gr;
	struct ms_event e;
	uint16_t port;
	size_t i;

	if (s->verdict == MS_VERDICT_DENY)
		return; /* counted when denied */
	ms_events_session_event(k, s, s->last_seen_ns, &e);
	port = event_port(&e);
	for (i = group_slot(&e, port, c->mask);; i = (i + 1) & c->mask) {
		gr = &c->t[i];
		if (!gr->n)
			break;
		if (gr->generation == e.generation && gr->rule_id == e.rule_id &&
		    gr->verdict == e.verdict && gr->port == port && gr->proto == e.proto &&
		    gr->family == e.family && !memcmp(gr->src, e.src, 16) &&
		    !memcmp(gr->dst, e.dst, 16))
			break;
	}
	if (!gr->n) {
		memcpy(gr->src, e.src, 16);
		memcpy(gr->dst, e.dst, 16);
		gr->generation = e.generation;
		gr->rule_id = e.rule_id;
		gr->ifindex = e.ifindex;
		gr->verdict = e.verdict;
		gr->port = port;
		gr->proto = e.proto;
		gr->family = e.family;
		gr->first_ns = gr->last_ns = s->last_seen_ns;
	}
	gr->n++;
	gr->packets += s->packets[0] + s->packets[1];
	gr->bytes += s->bytes[0] + s->bytes[1];
	if (s->last_seen_ns < gr->first_ns)
		gr->first_ns = s->last_seen_ns;
	if (s->last_seen_ns > gr->last_ns)
		gr->last_ns = s->last_seen_ns;
}

/* One group into g: its flows at the latest time, then the earliest. */
static int add_group(struct ms_events *ev, struct ms_graph *g, const struct live_group *gr)
{
	struct ms_event_info in;
	struct ms_flowrec r;
	struct ms_event e = {
		.time_ns = gr->last_ns,
		.generation = gr->generation,
		.rule_id = gr->rule_id,
		.ifindex = gr->ifindex,
		.type = MS_EV_FLOW_END,
		.verdict = gr->verdict,
		.family = gr->family,
		.proto = gr->proto,
	};
	int err;

	memcpy(e.src, gr->src, 16);
	memcpy(e.dst, gr->dst, 16);
	if (ms_proto_has_ports(gr->proto))
		e.dport = htons(gr->port);
	else if (ms_proto_is_icmp(gr->proto))
		e.icmp_type = (uint8_t)gr->port;
	e.packets[0] = gr->packets;
	e.bytes[0] = gr->bytes;
	ms_events_describe(ev, &e, &in);
	to_flowrec(&in, true, &r);
	r.more = gr->n - 1;
	err = ms_graph_add(g, &r);
	if (err || gr->first_ns == gr->last_ns)
		return err;
	r.counts = false;
	r.more = r.packets = r.bytes = 0;
	r.time_ms = ms_events_real_ms(ev, gr->first_ns);
	return ms_graph_add(g, &r);
}

/*
 * A copy of the graph with the open sessions counted in: they are flows
 * too, only not finished. The open sessions are those of the last sweep
 * (ms_events_for_each_open), not a read of the table: under load that read
 * takes seconds. So the copy changes only with a sweep, and is made once
 * per sweep however often it is asked for; its "generated" is when.
 */
static struct ms_graph *live_graph(struct ms_observer *o, struct ms_events *ev)
{
	uint64_t sweeps = ev ? ms_events_sweeps(ev) : 0;
	size_t open = ev ? ms_events_open_count(ev) : 0, cap = 64;
	struct live_ctx c = { 0 };
	struct ms_graph *g;
	int err = 0;

	if (o->live && o->live_sweeps == sweeps && sweeps)
		return o->live;
	if (ms_graph_clone(o->graph, &g))
		return NULL;
	if (open) {
		while (cap < 2 * open)
			cap *= 2;
		c.t = calloc(cap, sizeof(*c.t));
		c.mask = cap - 1;
		err = c.t ? 0 : -ENOMEM;
		if (!err)
			ms_events_for_each_open(ev, add_live, &c);
		for (size_t i = 0; err != -ENOMEM && i < cap; i++)
			if (c.t[i].n)
				err = add_group(ev, g, &c.t[i]);
		free(c.t);
	}
	/* -ENOSPC: a full graph, its edges counted as dropped. */
	if (err == -ENOMEM) {
		ms_graph_free(&g);
		return NULL;
	}
	drop_live(o);
	o->live = g;
	o->live_sweeps = sweeps;
	o->live_ms = ms_time_now_ms();
	return o->live;
}

const struct ms_graph *ms_observer_live_graph(struct ms_observer *o, struct ms_events *ev)
{
	return live_graph(o, ev);
}

cJSON *ms_observer_graph_json(struct ms_observer *o, struct ms_events *ev)
{
	struct ms_graph *g = live_graph(o, ev);

	return g ? ms_graph_to_json_at(g, o->live_ms) : NULL;
}

char *ms_observer_graph_text(struct ms_observer *o, struct ms_events *ev)
{
	struct ms_graph *g = live_graph(o, ev);

	if (!g)
		return NULL;
	/* The console asks every few seconds, and the text of a large graph
	 * is milliseconds to write: written once per copy. */
	if (!o->live_text)
		o->live_text = ms_graph_print_at(g, o->live_ms);
	return o->live_text ? strdup(o->live_text) : NULL;
}

char *ms_observer_graph_dot(struct ms_observer *o, struct ms_events *ev)
{
	struct ms_graph *g = live_graph(o, ev);

	return g ? ms_graph_to_dot(g) : NULL;
}

int ms_observer_live_copy(struct ms_observer *o, struct ms_events *ev, struct ms_graph **copy,
			  uint64_t *at_ms, uint64_t *sweep)
{
	struct ms_graph *g = live_graph(o, ev);

	if (!g || ms_graph_clone(g, copy))
		return -ENOMEM;
	*at_ms = o->live_ms;
	*sweep = o->live_sweeps;
	return 0;
}

bool ms_observer_graph_text_cached(const struct ms_observer *o, const struct ms_events *ev)
{
	uint64_t sweeps = ev ? ms_events_sweeps(ev) : 0;

	return o->live && o->live_text && sweeps && o->live_sweeps == sweeps;
}

void ms_observer_graph_keep_text(struct ms_observer *o, uint64_t sweep, const char *text)
{
	if (o->live && !o->live_text && sweep && o->live_sweeps == sweep)
		o->live_text = strdup(text); /* only a cache: NULL is no harm */
}

const struct ms_flowring *ms_observer_ring(const struct ms_observer *o)
{
	return o->ring;
}

const struct ms_graph *ms_observer_graph(const struct ms_observer *o)
{
	return o->graph;
}

uint64_t ms_observer_flows(const struct ms_observer *o, uint8_t verdict)
{
	return verdict < 3 ? o->flows[verdict] : 0;
}
