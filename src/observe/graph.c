// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "graph_int.h"
#include "jsonadd.h"
#include "timefmt.h"

/* The graph's nodes and edges: adding flows, workloads and counts
 * (graph_int.h holds the layout). */

static uint64_t hash_bytes(const void *p, size_t n, uint64_t h)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

#define HASH_SEED 0xcbf29ce484222325ULL

static uint64_t edge_hash(uint32_t src, uint32_t dst, uint8_t proto, uint16_t port)
{
	uint64_t h = hash_bytes(&src, sizeof(src), HASH_SEED);

	h = hash_bytes(&dst, sizeof(dst), h);
	h = hash_bytes(&proto, sizeof(proto), h);
	return hash_bytes(&port, sizeof(port), h);
}

int ms_graph_new(size_t max_edges, struct ms_graph **out)
{
	struct ms_graph *g = calloc(1, sizeof(*g));

	if (!g)
		return -ENOMEM;
	g->max_edges = max_edges ? max_edges : MS_GRAPH_DEFAULT_MAX_EDGES;
	g->since_ms = ms_time_now_ms();
	*out = g;
	return 0;
}

void ms_graph_free(struct ms_graph **gp)
{
	struct ms_graph *g = *gp;

	if (!g)
		return;
	for (size_t i = 0; i < g->n_nodes; i++) {
		free(g->nodes[i].id);
		cJSON_Delete(g->nodes[i].labels);
		cJSON_Delete(g->nodes[i].addresses);
		cJSON_Delete(g->nodes[i].seen);
	}
	for (size_t i = 0; i < g->n_edges; i++) {
		for (int j = 0; j < g->edges[i].n_rules; j++)
			free(g->edges[i].rules[j]);
		free(g->edges[i].rules);
	}
	free(g->nodes);
	free(g->edges);
	free(g->node_tab);
	free(g->edge_tab);
	free(g);
	*gp = NULL;
}

/* Rebuild a table of cap slots from the array (load stays under 1/2). */
static int rehash_nodes(struct ms_graph *g, size_t cap)
{
	uint32_t *t = calloc(cap, sizeof(*t));

	if (!t)
		return -ENOMEM;
	for (size_t i = 0; i < g->n_nodes; i++) {
		const char *id = g->nodes[i].id;
		size_t h = (size_t)hash_bytes(id, strlen(id), HASH_SEED) & (cap - 1);

		while (t[h])
			h = (h + 1) & (cap - 1);
		t[h] = (uint32_t)i + 1;
	}
	free(g->node_tab);
	g->node_tab = t;
	g->node_tab_cap = cap;
	return 0;
}

static int rehash_edges(struct ms_graph *g, size_t cap)
{
	uint32_t *t = calloc(cap, sizeof(*t));

	if (!t)
		return -ENOMEM;
	for (size_t i = 0; i < g->n_edges; i++) {
		const struct edge *e = &g->edges[i];
		size_t h = (size_t)edge_hash(e->src, e->dst, e->proto, e->port) & (cap - 1);

		while (t[h])
			h = (h + 1) & (cap - 1);
		t[h] = (uint32_t)i + 1;
	}
	free(g->edge_tab);
	g->edge_tab = t;
	g->edge_tab_cap = cap;
	return 0;
}

/* Index of the node with this id, created if absent; -ENOMEM on failure. */
long graph_node_get(struct ms_graph *g, const char *id, bool create)
{
	size_t h;

	if (g->node_tab_cap) {
		h = (size_t)hash_bytes(id, strlen(id), HASH_SEED) & (g->node_tab_cap - 1);
		while (g->node_tab[h]) {
			uint32_t i = g->node_tab[h] - 1;

			if (!strcmp(g->nodes[i].id, id))
				return i;
			h = (h + 1) & (g->node_tab_cap - 1);
		}
	}
	if (!create)
		return -ENOENT;
	if (g->n_nodes == g->cap_nodes) {
		size_t ncap = g->cap_nodes ? g->cap_nodes * 2 : 64;
		struct node *nn = realloc(g->nodes, ncap * sizeof(*nn));

		if (!nn)
			return -ENOMEM;
		g->nodes = nn;
		g->cap_nodes = ncap;
	}
	memset(&g->nodes[g->n_nodes], 0, sizeof(struct node));
	g->nodes[g->n_nodes].id = strdup(id);
	if (!g->nodes[g->n_nodes].id)
		return -ENOMEM;
	g->nodes[g->n_nodes].workload = !strncmp(id, "workload:", 9);
	g->n_nodes++;
	if (g->n_nodes * 2 > g->node_tab_cap) {
		if (rehash_nodes(g, g->node_tab_cap ? g->node_tab_cap * 2 : 128)) {
			free(g->nodes[--g->n_nodes].id);
			return -ENOMEM;
		}
	} else {
		h = (size_t)hash_bytes(id, strlen(id), HASH_SEED) & (g->node_tab_cap - 1);
		while (g->node_tab[h])
			h = (h + 1) & (g->node_tab_cap - 1);
		g->node_tab[h] = (uint32_t)g->n_nodes;
	}
	return (long)g->n_nodes - 1;
}

static long edge_get(struct ms_graph *g, uint32_t src, uint32_t dst, uint8_t proto, uint16_t port)
{
	size_t h;
	struct edge *e;

	if (g->edge_tab_cap) {
		h = (size_t)edge_hash(src, dst, proto, port) & (g->edge_tab_cap - 1);
		while (g->edge_tab[h]) {
			uint32_t i = g->edge_tab[h] - 1;

			e = &g->edges[i];
			if (e->src == src && e->dst == dst && e->proto == proto && e->port == port)
				return i;
			h = (h + 1) & (g->edge_tab_cap - 1);
		}
	}
	if (g->n_edges >= g->max_edges) {
		g->dropped++;
		return -ENOSPC;
	}
	if (g->n_edges == g->cap_edges) {
		size_t ncap = g->cap_edges ? g->cap_edges * 2 : 64;
		struct edge *ne = realloc(g->edges, ncap * sizeof(*ne));

		if (!ne)
			return -ENOMEM;
		g->edges = ne;
		g->cap_edges = ncap;
	}
	e = &g->edges[g->n_edges];
	memset(e, 0, sizeof(*e));
	e->src = src;
	e->dst = dst;
	e->proto = proto;
	e->port = port;
	g->n_edges++;
	if (g->n_edges * 2 > g->edge_tab_cap) {
		if (rehash_edges(g, g->edge_tab_cap ? g->edge_tab_cap * 2 : 128)) {
			g->n_edges--;
			return -ENOMEM;
		}
	} else {
		h = (size_t)edge_hash(src, dst, proto, port) & (g->edge_tab_cap - 1);
		while (g->edge_tab[h])
			h = (h + 1) & (g->edge_tab_cap - 1);
		g->edge_tab[h] = (uint32_t)g->n_edges;
	}
	return (long)g->n_edges - 1;
}

int graph_add_rule(struct edge *e, const char *rule)
{
	int i;

	for (i = 0; i < e->n_rules; i++) {
		int c = strcmp(e->rules[i], rule);

		if (!c)
			return 0;
		if (c > 0)
			break;
	}
	if (e->n_rules == MS_GRAPH_MAX_RULES)
		return 0; /* the counts stay right; only the list is cut */
	char *dup = strdup(rule);
	char **nr = dup ? realloc(e->rules, (e->n_rules + 1u) * sizeof(*nr)) : NULL;

	if (!nr) {
		free(dup);
		return -ENOMEM;
	}
	e->rules = nr;
	memmove(&e->rules[i + 1], &e->rules[i], (size_t)(e->n_rules - i) * sizeof(e->rules[0]));
	e->rules[i] = dup;
	e->n_rules++;
	return 0;
}

const char *ms_graph_node_id(char *buf, size_t len, const char *workload, const char *addr)
{
	if (workload)
		snprintf(buf, len, "workload:%s", workload);
	else
		snprintf(buf, len, "ip:%s", addr ? addr : "?");
	return buf;
}

/* A node id: on the stack when short (every address, most names), else on
 * the heap, so that two long names never share a truncated id. */
struct nid {
	char buf[128];
	char *heap;
	const char *s;
};

static int nid_make(struct nid *n, const char *workload, const char *addr)
{
	const char *prefix = workload ? "workload:" : "ip:";
	const char *name = workload ? workload : addr ? addr : "?";
	size_t lp = workload ? 9 : 3, ln = strlen(name);
	char *d = n->buf;

	/* Two per flow event: no printf. */
	n->heap = NULL;
	if (lp + ln >= sizeof(n->buf)) {
		n->heap = malloc(lp + ln + 1);
		if (!n->heap)
			return -ENOMEM;
		d = n->heap;
	}
	memcpy(d, prefix, lp);
	memcpy(d + lp, name, ln + 1);
	n->s = d;
	return 0;
}

static void nid_free(struct nid *n)
{
	free(n->heap);
	n->heap = NULL;
}

/*
 * The edge between the nodes sid and did, created (with its nodes) if absent
 * and the graph has room. When the graph is full a new edge creates nothing,
 * not even its nodes: nodes without edges would grow past the bound that is
 * there to cap memory. It is counted as dropped instead.
 */
long graph_edge_at(struct ms_graph *g, const char *sid, const char *did, uint8_t proto,
		   uint16_t port)
{
	bool room = g->n_edges < g->max_edges;
	long s = graph_node_get(g, sid, room), d;

	if (s == -ENOENT)
		goto dropped;
	if (s < 0)
		return s;
	d = graph_node_get(g, did, room);
	if (d == -ENOENT)
		goto dropped;
	if (d < 0)
		return d;
	return edge_get(g, (uint32_t)s, (uint32_t)d, proto, port);
dropped:
	g->dropped++;
	return -ENOSPC;
}

bool ms_graph_has_edge(const struct ms_graph *g, const struct ms_flowrec *r)
{
	struct nid sid, did;
	long s = -1, d = -1;

	/* node_get does not create with create=false, so g is not changed. */
	if (!nid_make(&sid, r->src_workload, r->src)) {
		s = graph_node_get((struct ms_graph *)g, sid.s, false);
		nid_free(&sid);
	}
	if (s >= 0 && !nid_make(&did, r->dst_workload, r->dst)) {
		d = graph_node_get((struct ms_graph *)g, did.s, false);
		nid_free(&did);
	}
	if (d < 0 || !g->edge_tab_cap)
		return false;
	for (size_t h = (size_t)edge_hash((uint32_t)s, (uint32_t)d, r->proto, r->port) &
			(g->edge_tab_cap - 1);
	     g->edge_tab[h]; h = (h + 1) & (g->edge_tab_cap - 1)) {
		const struct edge *e = &g->edges[g->edge_tab[h] - 1];

		if (e->src == (uint32_t)s && e->dst == (uint32_t)d && e->proto == r->proto &&
		    e->port == r->port)
			return true;
	}
	return false;
}

int graph_note_seen(struct node *n, const char *addr)
{
	const cJSON *it;

	if (!n->workload || n->addresses || !addr)
		return 0;
	if (!n->seen) {
		n->seen = cJSON_CreateArray();
		if (!n->seen)
			return -ENOMEM;
	}
	if (cJSON_GetArraySize(n->seen) >= MAX_SEEN)
		return 0;
	cJSON_ArrayForEach(it, n->seen)
	{
		if (!strcmp(it->valuestring, addr))
			return 0;
	}
	return cJSON_AddItemToArray(n->seen, cJSON_CreateString(addr)) ? 0 : -ENOMEM;
}

long ms_graph_edge_of(struct ms_graph *g, const struct ms_flowrec *r)
{
	struct nid sid, did;
	struct edge *e;
	long ei;
	int err;

	err = nid_make(&sid, r->src_workload, r->src);
	if (err)
		return err;
	err = nid_make(&did, r->dst_workload, r->dst);
	if (err) {
		nid_free(&sid);
		return err;
	}
	ei = graph_edge_at(g, sid.s, did.s, r->proto, r->port);
	nid_free(&sid);
	nid_free(&did);
	if (ei < 0)
		return ei;
	e = &g->edges[ei];
	if (graph_note_seen(&g->nodes[e->src], r->src) ||
	    graph_note_seen(&g->nodes[e->dst], r->dst))
		return -ENOMEM;
	return ei;
}

int ms_graph_add_at(struct ms_graph *g, size_t ei, const struct ms_flowrec *r)
{
	struct edge *e;

	if (ei >= g->n_edges)
		return -EINVAL;
	e = &g->edges[ei];
	if (r->counts) {
		uint64_t n = 1 + r->more;

		e->flows += n;
		if (r->verdict == MS_VERDICT_ALLOW)
			e->allowed += n;
		else if (r->verdict == MS_VERDICT_DENY)
			e->denied += n;
		else
			e->audit += n;
	}
	e->packets += r->packets;
	e->bytes += r->bytes;
	if (!e->first_ms || (r->time_ms && r->time_ms < e->first_ms))
		e->first_ms = r->time_ms;
	if (r->time_ms > e->last_ms)
		e->last_ms = r->time_ms;
	if (r->rule && r->counts)
		return graph_add_rule(e, r->rule);
	return 0;
}

int ms_graph_add(struct ms_graph *g, const struct ms_flowrec *r)
{
	long ei = ms_graph_edge_of(g, r);

	return ei < 0 ? (int)ei : ms_graph_add_at(g, (size_t)ei, r);
}

static cJSON *labels_json(const struct ms_workload *w)
{
	cJSON *o = cJSON_CreateObject();

	for (size_t i = 0; o && i < w->n_labels; i++)
		if (!cJSON_AddStringToObject(o, w->labels[i].key, w->labels[i].value)) {
			cJSON_Delete(o);
			return NULL;
		}
	return o;
}

static cJSON *addrs_json(const struct ms_workload *w)
{
	cJSON *a = cJSON_CreateArray();

	for (size_t i = 0; a && i < w->n_addrs; i++) {
		char buf[MS_CIDR_STRLEN];

		if (!cJSON_AddItemToArray(a,
					  cJSON_CreateString(ms_cidr_format(&w->addrs[i], buf)))) {
			cJSON_Delete(a);
			return NULL;
		}
	}
	return a;
}

void graph_node_set_meta(struct node *n, cJSON *labels, cJSON *addrs)
{
	cJSON_Delete(n->labels);
	cJSON_Delete(n->addresses);
	n->labels = labels;
	n->addresses = addrs;
}

int ms_graph_set_workloads(struct ms_graph *g, const struct ms_policy *p)
{
	for (size_t i = 0; p && i < p->n_workloads; i++) {
		const struct ms_workload *w = &p->workloads[i];
		cJSON *labels, *addrs;
		struct nid id;
		long n;
		int err = nid_make(&id, w->name, NULL);

		if (err)
			return err;
		n = graph_node_get(g, id.s, true);
		nid_free(&id);
		if (n < 0)
			return (int)n;
		labels = labels_json(w);
		addrs = addrs_json(w);
		if (!labels || !addrs) {
			cJSON_Delete(labels);
			cJSON_Delete(addrs);
			return -ENOMEM;
		}
		graph_node_set_meta(&g->nodes[n], labels, addrs);
	}
	return 0;
}

size_t ms_graph_nodes(const struct ms_graph *g)
{
	return g->n_nodes;
}

size_t ms_graph_edges(const struct ms_graph *g)
{
	return g->n_edges;
}

uint64_t ms_graph_dropped(const struct ms_graph *g)
{
	return g->dropped;
}

size_t ms_graph_max_edges(const struct ms_graph *g)
{
	return g->max_edges;
}

static int cmp_node(const void *a, const void *b, void *ctx)
{
	const struct ms_graph *sort_g = ctx;

	return strcmp(sort_g->nodes[*(const uint32_t *)a].id,
		      sort_g->nodes[*(const uint32_t *)b].id);
}

static int cmp_edge(const void *a, const void *b, void *ctx)
{
	const struct ms_graph *sort_g = ctx;
	const struct edge *x = &sort_g->edges[*(const uint32_t *)a];
	const struct edge *y = &sort_g->edges[*(const uint32_t *)b];
	int c = strcmp(sort_g->nodes[x->src].id, sort_g->nodes[y->src].id);

	if (c)
		return c;
	c = strcmp(sort_g->nodes[x->dst].id, sort_g->nodes[y->dst].id);
	if (c)
		return c;
	if (x->proto != y->proto)
		return x->proto < y->proto ? -1 : 1;
	return x->port < y->port ? -1 : x->port > y->port;
}

/* Orders of nodes and edges for output; the caller frees both. */
int graph_sorted(const struct ms_graph *g, uint32_t **nodes, uint32_t **edges)
{
	*nodes = malloc((g->n_nodes + 1) * sizeof(**nodes));
	*edges = malloc((g->n_edges + 1) * sizeof(**edges));
	if (!*nodes || !*edges) {
		free(*nodes);
		free(*edges);
		return -ENOMEM;
	}
	for (size_t i = 0; i < g->n_nodes; i++)
		(*nodes)[i] = (uint32_t)i;
	for (size_t i = 0; i < g->n_edges; i++)
		(*edges)[i] = (uint32_t)i;
	qsort_r(*nodes, g->n_nodes, sizeof(**nodes), cmp_node, (void *)g);
	qsort_r(*edges, g->n_edges, sizeof(**edges), cmp_edge, (void *)g);
	return 0;
}
