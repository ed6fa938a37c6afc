// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "graph.h"
#include "safefile.h"
#include "jsonout.h"
#include "microsegd_abi.h"
#include "jsonadd.h"
#include "names.h"
#include "proto.h"
#include "timefmt.h"

/*
 * Nodes and edges live in growing arrays; two open-addressing tables of
 * indices (node id -> node, edge key -> edge) make an add O(1). Nothing is
 * ever removed, so the tables need no deletion.
 */
struct node {
	char *id; /* "workload:NAME" or "ip:ADDR" */
	bool workload;
	cJSON *labels;	  /* object, workloads only */
	cJSON *addresses; /* array, workloads only */
	cJSON *seen;	  /* addresses seen of a workload whose addresses are not known */
};

/* Addresses remembered per workload known only by name (flow logs read
 * without their policy), so suggest can still define it. */
#define MAX_SEEN 64

struct edge {
	uint32_t src, dst; /* node indices */
	uint8_t proto;
	uint16_t port;
	uint64_t flows, packets, bytes, allowed, denied, audit;
	uint64_t first_ms, last_ms;
	char **rules; /* sorted; grown one at a time, most edges have one */
	uint8_t n_rules;
};

struct ms_graph {
	struct node *nodes;
	size_t n_nodes, cap_nodes;
	struct edge *edges;
	size_t n_edges, cap_edges;
	uint32_t *node_tab, *edge_tab; /* index + 1; 0 = empty */
	size_t node_tab_cap, edge_tab_cap;
	size_t max_edges;
	uint64_t dropped;
	uint64_t since_ms;
};

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
static long node_get(struct ms_graph *g, const char *id, bool create)
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

static int add_rule(struct edge *e, const char *rule)
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
static long edge_at(struct ms_graph *g, const char *sid, const char *did, uint8_t proto,
		    uint16_t port)
{
	bool room = g->n_edges < g->max_edges;
	long s = node_get(g, sid, room), d;

	if (s == -ENOENT)
		goto dropped;
	if (s < 0)
		return s;
	d = node_get(g, did, room);
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
		s = node_get((struct ms_graph *)g, sid.s, false);
		nid_free(&sid);
	}
	if (s >= 0 && !nid_make(&did, r->dst_workload, r->dst)) {
		d = node_get((struct ms_graph *)g, did.s, false);
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

static int note_seen(struct node *n, const char *addr)
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
	ei = edge_at(g, sid.s, did.s, r->proto, r->port);
	nid_free(&sid);
	nid_free(&did);
	if (ei < 0)
		return ei;
	e = &g->edges[ei];
	if (note_seen(&g->nodes[e->src], r->src) || note_seen(&g->nodes[e->dst], r->dst))
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
		return add_rule(e, r->rule);
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

static void node_set_meta(struct node *n, cJSON *labels, cJSON *addrs)
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
		n = node_get(g, id.s, true);
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
		node_set_meta(&g->nodes[n], labels, addrs);
	}
	return 0;
}

static int merge_edge(struct ms_graph *g, const struct ms_graph *src, const struct edge *se)
{
	long ei = edge_at(g, src->nodes[se->src].id, src->nodes[se->dst].id, se->proto, se->port);
	struct edge *e;

	if (ei < 0)
		return (int)ei;
	e = &g->edges[ei];
	e->flows += se->flows;
	e->packets += se->packets;
	e->bytes += se->bytes;
	e->allowed += se->allowed;
	e->denied += se->denied;
	e->audit += se->audit;
	if (!e->first_ms || (se->first_ms && se->first_ms < e->first_ms))
		e->first_ms = se->first_ms;
	if (se->last_ms > e->last_ms)
		e->last_ms = se->last_ms;
	for (int i = 0; i < se->n_rules; i++)
		if (add_rule(e, se->rules[i]))
			return -ENOMEM;
	return 0;
}

int ms_graph_merge(struct ms_graph *g, const struct ms_graph *src)
{
	int ret = 0;

	/* Edges first: they bring their nodes, within g's bound. */
	for (size_t i = 0; i < src->n_edges; i++) {
		int r = merge_edge(g, src, &src->edges[i]);

		if (r == -ENOMEM)
			return r;
		if (r)
			ret = r;
	}
	/* Then what nodes carry: a policy's workloads exist without edges,
	 * other nodes only if one of their edges made it in. */
	for (size_t i = 0; i < src->n_nodes; i++) {
		const struct node *sn = &src->nodes[i];
		long n = node_get(g, sn->id, sn->labels != NULL);

		if (n == -ENOENT)
			continue;
		if (n < 0)
			return (int)n;
		if (sn->labels && !g->nodes[n].labels) {
			cJSON *l = cJSON_Duplicate(sn->labels, 1);
			cJSON *a = sn->addresses ? cJSON_Duplicate(sn->addresses, 1)
						 : cJSON_CreateArray();

			if (!l || !a) {
				cJSON_Delete(l);
				cJSON_Delete(a);
				return -ENOMEM;
			}
			node_set_meta(&g->nodes[n], l, a);
		}
		if (sn->seen) {
			const cJSON *it;

			cJSON_ArrayForEach(it, sn->seen)
			{
				if (note_seen(&g->nodes[n], it->valuestring))
					return -ENOMEM;
			}
		}
	}
	g->dropped += src->dropped;
	if (src->since_ms && src->since_ms < g->since_ms)
		g->since_ms = src->since_ms;
	return ret;
}

static int dup_json(const cJSON *in, cJSON **out)
{
	*out = in ? cJSON_Duplicate(in, 1) : NULL;
	return in && !*out ? -ENOMEM : 0;
}

/* A copy of the arrays and tables as they are: the API clones the graph
 * for every request, and re-adding each edge cost two string-keyed node
 * lookups apiece. Nodes keep their indices, so the tables stay right. */
int ms_graph_clone(const struct ms_graph *g, struct ms_graph **out)
{
	struct ms_graph *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->max_edges = g->max_edges;
	c->dropped = g->dropped;
	c->since_ms = g->since_ms;
	c->nodes = calloc(g->cap_nodes ? g->cap_nodes : 1, sizeof(*c->nodes));
	c->edges = calloc(g->cap_edges ? g->cap_edges : 1, sizeof(*c->edges));
	c->node_tab = calloc(g->node_tab_cap ? g->node_tab_cap : 1, sizeof(*c->node_tab));
	c->edge_tab = calloc(g->edge_tab_cap ? g->edge_tab_cap : 1, sizeof(*c->edge_tab));
	if (!c->nodes || !c->edges || !c->node_tab || !c->edge_tab)
		goto nomem;
	c->cap_nodes = g->cap_nodes;
	c->cap_edges = g->cap_edges;
	c->node_tab_cap = g->node_tab_cap;
	c->edge_tab_cap = g->edge_tab_cap;
	/* An empty graph has no tables yet, and memcpy from NULL is undefined
	 * even for no bytes. */
	if (g->node_tab_cap)
		memcpy(c->node_tab, g->node_tab, g->node_tab_cap * sizeof(*c->node_tab));
	if (g->edge_tab_cap)
		memcpy(c->edge_tab, g->edge_tab, g->edge_tab_cap * sizeof(*c->edge_tab));
	for (size_t i = 0; i < g->n_nodes; i++) {
		const struct node *sn = &g->nodes[i];
		struct node *n = &c->nodes[i];

		n->workload = sn->workload;
		n->id = strdup(sn->id);
		c->n_nodes++;
		if (!n->id || dup_json(sn->labels, &n->labels) ||
		    dup_json(sn->addresses, &n->addresses) || dup_json(sn->seen, &n->seen))
			goto nomem;
	}
	for (size_t i = 0; i < g->n_edges; i++) {
		const struct edge *se = &g->edges[i];
		struct edge *e = &c->edges[i];

		*e = *se;
		e->rules = NULL;
		e->n_rules = 0;
		c->n_edges++;
		if (!se->n_rules)
			continue;
		e->rules = calloc(se->n_rules, sizeof(*e->rules));
		if (!e->rules)
			goto nomem;
		for (int k = 0; k < se->n_rules; k++) {
			e->rules[k] = strdup(se->rules[k]);
			if (!e->rules[k])
				goto nomem;
			e->n_rules++;
		}
	}
	*out = c;
	return 0;
nomem:
	ms_graph_free(&c);
	return -ENOMEM;
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

static bool add_time(cJSON *o, const char *key, uint64_t ms)
{
	char buf[MS_TIME_STRLEN];

	return cJSON_AddStringToObject(o, key, ms_time_format_ms(ms, buf)) != NULL;
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
static int sorted(const struct ms_graph *g, uint32_t **nodes, uint32_t **edges)
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

static bool add_proto(cJSON *o, uint8_t proto)
{
	const char *n = ms_proto_name(proto);

	return n ? cJSON_AddStringToObject(o, "proto", n) != NULL
		 : ms_json_add_u64(o, "proto", proto);
}

static cJSON *node_json(const struct node *n)
{
	cJSON *o = cJSON_CreateObject();
	const char *name = strchr(n->id, ':') + 1;
	bool ok = o != NULL;

	if (!ok)
		return NULL;
	ok &= cJSON_AddStringToObject(o, "id", n->id) != NULL;
	ok &= cJSON_AddStringToObject(o, "kind", n->workload ? "workload" : "address") != NULL;
	ok &= cJSON_AddStringToObject(o, "name", name) != NULL;
	if (n->labels)
		ok &= cJSON_AddItemToObject(o, "labels", cJSON_Duplicate(n->labels, 1));
	if (n->addresses)
		ok &= cJSON_AddItemToObject(o, "addresses", cJSON_Duplicate(n->addresses, 1));
	else if (n->seen)
		ok &= cJSON_AddItemToObject(o, "seen_addresses", cJSON_Duplicate(n->seen, 1));
	if (!ok) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

static cJSON *edge_json(const struct ms_graph *g, const struct edge *e)
{
	cJSON *o = cJSON_CreateObject(), *rules;
	bool ok = o != NULL;

	if (!ok)
		return NULL;
	ok &= cJSON_AddStringToObject(o, "src", g->nodes[e->src].id) != NULL;
	ok &= cJSON_AddStringToObject(o, "dst", g->nodes[e->dst].id) != NULL;
	ok &= add_proto(o, e->proto);
	ok &= ms_json_add_u64(o, "port", e->port);
	ok &= ms_json_add_u64(o, "flows", e->flows);
	ok &= ms_json_add_u64(o, "packets", e->packets);
	ok &= ms_json_add_u64(o, "bytes", e->bytes);
	ok &= ms_json_add_u64(o, "allowed", e->allowed);
	ok &= ms_json_add_u64(o, "denied", e->denied);
	ok &= ms_json_add_u64(o, "audit", e->audit);
	rules = cJSON_AddArrayToObject(o, "rules");
	ok &= rules != NULL;
	for (int i = 0; rules && i < e->n_rules; i++)
		ok &= cJSON_AddItemToArray(rules, cJSON_CreateString(e->rules[i]));
	ok &= add_time(o, "first_seen", e->first_ms);
	ok &= add_time(o, "last_seen", e->last_ms);
	if (!ok) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

cJSON *ms_graph_to_json(const struct ms_graph *g)
{
	return ms_graph_to_json_at(g, ms_time_now_ms());
}

cJSON *ms_graph_to_json_at(const struct ms_graph *g, uint64_t now_ms)
{
	cJSON *o = cJSON_CreateObject(), *nodes, *edges;
	uint32_t *no = NULL, *eo = NULL;
	bool ok = o && !sorted(g, &no, &eo);

	if (!ok)
		goto out;
	ok &= add_time(o, "generated", now_ms);
	ok &= add_time(o, "since", g->since_ms);
	ok &= cJSON_AddBoolToObject(o, "truncated", g->dropped > 0) != NULL;
	ok &= ms_json_add_u64(o, "dropped_edges", g->dropped);
	ok &= ms_json_add_u64(o, "max_edges", g->max_edges);
	nodes = cJSON_AddArrayToObject(o, "nodes");
	edges = cJSON_AddArrayToObject(o, "edges");
	ok &= nodes && edges;
	for (size_t i = 0; ok && i < g->n_nodes; i++)
		ok &= cJSON_AddItemToArray(nodes, node_json(&g->nodes[no[i]]));
	for (size_t i = 0; ok && i < g->n_edges; i++)
		ok &= cJSON_AddItemToArray(edges, edge_json(g, &g->edges[eo[i]]));
out:
	free(no);
	free(eo);
	if (!ok) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

/* A dot string literal: quotes and backslashes escaped. */
/*
 * The text of ms_graph_to_json_at, byte for byte, without the tree: a
 * console polls the graph every few seconds, and building, printing and
 * freeing a cJSON tree of 10,000 edges held the agent's loop for tens of
 * milliseconds. The rare parts (workload labels and addresses) are still
 * printed by cJSON.
 */
#define PUT_LIT MS_JSON_PUT_LIT

static char *put_time(char *o, uint64_t ms)
{
	char buf[MS_TIME_STRLEN];

	return ms_json_put_str(o, ms_time_format_ms(ms, buf));
}

/* ,"key": and a cJSON item printed unformatted; false when out of memory. */
static bool put_item(struct ms_json_buf *b, const char *key, const cJSON *item)
{
	char *txt = cJSON_PrintUnformatted(item), *o;
	size_t n = txt ? strlen(txt) : 0;

	o = txt ? ms_json_reserve(b, n + ms_json_str_max(key) + 2) : NULL;
	if (!o) {
		free(txt);
		b->failed = 1;
		return false;
	}
	*o++ = ',';
	o = ms_json_put_str(o, key);
	*o++ = ':';
	memcpy(o, txt, n);
	b->len = (size_t)(o + n - b->p);
	free(txt);
	return true;
}

static void print_node(struct ms_json_buf *b, const struct node *n, bool first)
{
	const char *name = strchr(n->id, ':') + 1;
	char *o = ms_json_reserve(b, 64 + ms_json_str_max(n->id) + ms_json_str_max(name));

	if (!o)
		return;
	if (!first)
		*o++ = ',';
	o = PUT_LIT(o, "{\"id\":");
	o = ms_json_put_str(o, n->id);
	o = n->workload ? PUT_LIT(o, ",\"kind\":\"workload\"")
			: PUT_LIT(o, ",\"kind\":\"address\"");
	o = PUT_LIT(o, ",\"name\":");
	o = ms_json_put_str(o, name);
	b->len = (size_t)(o - b->p);
	if (n->labels && !put_item(b, "labels", n->labels))
		return;
	if (n->addresses) {
		if (!put_item(b, "addresses", n->addresses))
			return;
	} else if (n->seen && !put_item(b, "seen_addresses", n->seen)) {
		return;
	}
	o = ms_json_reserve(b, 1);
	if (o) {
		*o = '}';
		b->len++;
	}
}

static void print_edge(struct ms_json_buf *b, const struct ms_graph *g, const struct edge *e,
		       bool first)
{
	const char *sid = g->nodes[e->src].id, *did = g->nodes[e->dst].id;
	const char *pn = ms_proto_name(e->proto);
	size_t room = 512 + ms_json_str_max(sid) + ms_json_str_max(did);
	char *o;

	for (int i = 0; i < e->n_rules; i++)
		room += ms_json_str_max(e->rules[i]) + 1;
	o = ms_json_reserve(b, room);
	if (!o)
		return;
	if (!first)
		*o++ = ',';
	o = PUT_LIT(o, "{\"src\":");
	o = ms_json_put_str(o, sid);
	o = PUT_LIT(o, ",\"dst\":");
	o = ms_json_put_str(o, did);
	o = PUT_LIT(o, ",\"proto\":");
	o = pn ? ms_json_put_str(o, pn) : ms_json_put_u64(o, e->proto);
	o = PUT_LIT(o, ",\"port\":");
	o = ms_json_put_u64(o, e->port);
	o = PUT_LIT(o, ",\"flows\":");
	o = ms_json_put_u64(o, e->flows);
	o = PUT_LIT(o, ",\"packets\":");
	o = ms_json_put_u64(o, e->packets);
	o = PUT_LIT(o, ",\"bytes\":");
	o = ms_json_put_u64(o, e->bytes);
	o = PUT_LIT(o, ",\"allowed\":");
	o = ms_json_put_u64(o, e->allowed);
	o = PUT_LIT(o, ",\"denied\":");
	o = ms_json_put_u64(o, e->denied);
	o = PUT_LIT(o, ",\"audit\":");
	o = ms_json_put_u64(o, e->audit);
	o = PUT_LIT(o, ",\"rules\":[");
	for (int i = 0; i < e->n_rules; i++) {
		if (i)
			*o++ = ',';
		o = ms_json_put_str(o, e->rules[i]);
	}
	o = PUT_LIT(o, "],\"first_seen\":");
	o = put_time(o, e->first_ms);
	o = PUT_LIT(o, ",\"last_seen\":");
	o = put_time(o, e->last_ms);
	*o++ = '}';
	b->len = (size_t)(o - b->p);
}

char *ms_graph_print_at(const struct ms_graph *g, uint64_t now_ms)
{
	struct ms_json_buf b = { 0 };
	uint32_t *no = NULL, *eo = NULL;
	char *o;

	if (sorted(g, &no, &eo))
		return NULL;
	o = ms_json_reserve(&b, 512);
	if (o) {
		o = PUT_LIT(o, "{\"generated\":");
		o = put_time(o, now_ms);
		o = PUT_LIT(o, ",\"since\":");
		o = put_time(o, g->since_ms);
		o = g->dropped ? PUT_LIT(o, ",\"truncated\":true")
			       : PUT_LIT(o, ",\"truncated\":false");
		o = PUT_LIT(o, ",\"dropped_edges\":");
		o = ms_json_put_u64(o, g->dropped);
		o = PUT_LIT(o, ",\"max_edges\":");
		o = ms_json_put_u64(o, g->max_edges);
		o = PUT_LIT(o, ",\"nodes\":[");
		b.len = (size_t)(o - b.p);
	}
	for (size_t i = 0; !b.failed && i < g->n_nodes; i++)
		print_node(&b, &g->nodes[no[i]], i == 0);
	o = ms_json_reserve(&b, 16);
	if (o) {
		o = PUT_LIT(o, "],\"edges\":[");
		b.len = (size_t)(o - b.p);
	}
	for (size_t i = 0; !b.failed && i < g->n_edges; i++)
		print_edge(&b, g, &g->edges[eo[i]], i == 0);
	o = ms_json_reserve(&b, 3);
	if (o) {
		o = PUT_LIT(o, "]}");
		*o = '\0';
	}
	free(no);
	free(eo);
	if (b.failed) {
		free(b.p);
		return NULL;
	}
	return b.p;
}

char *ms_graph_print(const struct ms_graph *g)
{
	return ms_graph_print_at(g, ms_time_now_ms());
}

static void dot_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		fputc(*s == '\n' ? ' ' : *s, f);
	}
	fputc('"', f);
}

char *ms_graph_to_dot(const struct ms_graph *g)
{
	uint32_t *no = NULL, *eo = NULL;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	if (sorted(g, &no, &eo))
		return NULL;
	f = open_memstream(&buf, &len);
	if (!f) {
		free(no);
		free(eo);
		return NULL;
	}
	fputs("digraph microsegd {\n\trankdir=LR;\n\tnode [shape=box, style=rounded];\n", f);
	for (size_t i = 0; i < g->n_nodes; i++) {
		const struct node *n = &g->nodes[no[i]];

		fputc('\t', f);
		dot_str(f, n->id);
		fputs(" [label=", f);
		dot_str(f, strchr(n->id, ':') + 1);
		if (!n->workload)
			fputs(", style=\"rounded,dashed\"", f);
		fputs("];\n", f);
	}
	for (size_t i = 0; i < g->n_edges; i++) {
		const struct edge *e = &g->edges[eo[i]];
		const char *pn = ms_proto_name(e->proto);
		char label[96];

		if (pn)
			snprintf(label, sizeof(label), "%s/%u (%" PRIu64 ")", pn, e->port,
				 e->flows);
		else
			snprintf(label, sizeof(label), "%u (%" PRIu64 ")", e->proto, e->flows);
		fputc('\t', f);
		dot_str(f, g->nodes[e->src].id);
		fputs(" -> ", f);
		dot_str(f, g->nodes[e->dst].id);
		fputs(" [label=", f);
		dot_str(f, label);
		fprintf(f, ", color=%s];\n", e->denied ? "red" : e->audit ? "orange" : "darkgreen");
	}
	fputs("}\n", f);
	free(no);
	free(eo);
	if (fclose(f)) {
		free(buf);
		return NULL;
	}
	return buf;
}

static int err_msg(char **errmsg, const char *what)
{
	if (errmsg)
		*errmsg = strdup(what);
	return -EINVAL;
}

/* A JSON number that is a whole number in [0, 2^64). cJSON holds numbers
 * as doubles, and converting one out of range to an integer is undefined:
 * flow logs come from anywhere. Counts round-trip exactly up to 2^53, far
 * beyond any edge's. */
static int num_u64(const cJSON *v, uint64_t *out)
{
	double d;
	uint64_t u;

	if (!cJSON_IsNumber(v))
		return -EINVAL;
	d = v->valuedouble;
	if (!(d >= 0 && d < 18446744073709551616.0))
		return -EINVAL;
	u = (uint64_t)d;
	if ((double)u != d)
		return -EINVAL;
	*out = u;
	return 0;
}

static int get_u64(const cJSON *o, const char *key, uint64_t *out)
{
	return num_u64(cJSON_GetObjectItemCaseSensitive(o, key), out);
}

/* A protocol as a name or a number 0-255; -1 if neither. */
static int get_proto(const cJSON *v)
{
	uint64_t n;

	if (cJSON_IsString(v))
		return ms_proto_parse(v->valuestring);
	if (!num_u64(v, &n) && n <= 255)
		return (int)n;
	return -1;
}

static int get_time(const cJSON *o, const char *key, uint64_t *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? ms_time_parse_ms(v->valuestring, out) : -EINVAL;
}

static int load_edge(struct ms_graph *g, const cJSON *je, char **errmsg)
{
	const cJSON *src = cJSON_GetObjectItemCaseSensitive(je, "src");
	const cJSON *dst = cJSON_GetObjectItemCaseSensitive(je, "dst");
	const cJSON *proto = cJSON_GetObjectItemCaseSensitive(je, "proto");
	const cJSON *rules = cJSON_GetObjectItemCaseSensitive(je, "rules");
	struct edge e = { 0 };
	struct ms_graph one = { 0 };
	int p = get_proto(proto), r;
	uint64_t port;

	if (!cJSON_IsString(src) || !cJSON_IsString(dst) || !strchr(src->valuestring, ':') ||
	    !strchr(dst->valuestring, ':'))
		return err_msg(errmsg, "an edge without src or dst node id");
	if (p < 0 || get_u64(je, "port", &port) || port > 65535 || get_u64(je, "flows", &e.flows) ||
	    get_u64(je, "packets", &e.packets) || get_u64(je, "bytes", &e.bytes) ||
	    get_u64(je, "allowed", &e.allowed) || get_u64(je, "denied", &e.denied) ||
	    get_u64(je, "audit", &e.audit) || get_time(je, "first_seen", &e.first_ms) ||
	    get_time(je, "last_seen", &e.last_ms))
		return err_msg(errmsg, "an edge with a missing or invalid field");
	e.proto = (uint8_t)p;
	e.port = (uint16_t)port;
	/* Merge it as a one-edge graph: the same code as merging graphs. */
	struct node nodes[2] = { { .id = src->valuestring }, { .id = dst->valuestring } };
	one.nodes = nodes;
	one.n_nodes = 2;
	e.src = 0;
	e.dst = 1;
	char *names[MS_GRAPH_MAX_RULES];

	e.rules = names;
	if (cJSON_IsArray(rules)) {
		const cJSON *ru;

		cJSON_ArrayForEach(ru, rules)
		{
			if (cJSON_IsString(ru) && e.n_rules < MS_GRAPH_MAX_RULES)
				e.rules[e.n_rules++] = ru->valuestring;
		}
	}
	r = merge_edge(g, &one, &e);
	return r == -ENOSPC ? 0 : r;
}

/* Whether every member of an object or array is a string. */
static bool all_strings(const cJSON *c)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, c)
	{
		if (!cJSON_IsString(it))
			return false;
	}
	return true;
}

/* What a node of the JSON carries (labels, addresses, seen addresses). */
static int load_node(struct ms_graph *g, const cJSON *jn, char **errmsg)
{
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(jn, "id");
	const cJSON *labels = cJSON_GetObjectItemCaseSensitive(jn, "labels");
	const cJSON *addrs = cJSON_GetObjectItemCaseSensitive(jn, "addresses");
	const cJSON *seen = cJSON_GetObjectItemCaseSensitive(jn, "seen_addresses"), *sa;
	long n;

	if (!cJSON_IsString(id) || !strchr(id->valuestring, ':'))
		return err_msg(errmsg, "a node without an id");
	if ((labels && (!cJSON_IsObject(labels) || !all_strings(labels))) ||
	    (addrs && (!cJSON_IsArray(addrs) || !all_strings(addrs))) ||
	    (seen && (!cJSON_IsArray(seen) || !all_strings(seen))))
		return err_msg(errmsg, "a node whose labels or addresses are not strings");
	/* A workload of a policy exists without edges; any other node only if
	 * one of its edges was loaded (within the bound). */
	n = node_get(g, id->valuestring, labels != NULL);
	if (n == -ENOENT)
		return 0;
	if (n < 0)
		return (int)n;
	if (labels) {
		cJSON *l = cJSON_Duplicate(labels, 1);
		cJSON *a = addrs ? cJSON_Duplicate(addrs, 1) : cJSON_CreateArray();

		if (!l || !a) {
			cJSON_Delete(l);
			cJSON_Delete(a);
			return -ENOMEM;
		}
		node_set_meta(&g->nodes[n], l, a);
	}
	cJSON_ArrayForEach(sa, seen)
	{
		if (note_seen(&g->nodes[n], sa->valuestring))
			return -ENOMEM;
	}
	return 0;
}

int ms_graph_from_json(struct ms_graph *g, const cJSON *j, char **errmsg)
{
	const cJSON *nodes = cJSON_GetObjectItemCaseSensitive(j, "nodes");
	const cJSON *edges = cJSON_GetObjectItemCaseSensitive(j, "edges");
	const cJSON *it;
	uint64_t since, dropped = 0;

	if (errmsg)
		*errmsg = NULL;
	if (!cJSON_IsObject(j) || !cJSON_IsArray(nodes) || !cJSON_IsArray(edges))
		return err_msg(errmsg, "not a flow graph (no nodes and edges arrays)");
	if (!get_time(j, "since", &since))
		g->since_ms = since;
	get_u64(j, "dropped_edges", &dropped);
	/* Edges first: they bring their nodes, within g's bound. */
	cJSON_ArrayForEach(it, edges)
	{
		int r = load_edge(g, it, errmsg);

		if (r)
			return r;
	}
	cJSON_ArrayForEach(it, nodes)
	{
		int r = load_node(g, it, errmsg);

		if (r)
			return r;
	}
	g->dropped += dropped;
	return 0;
}

static int path_in(const char *dir, const char *name, char **out)
{
	return asprintf(out, "%s/%s", dir, name) < 0 ? -ENOMEM : 0;
}

int ms_graph_save(const struct ms_graph *g, const char *dir)
{
	char *path = NULL, *tmp = NULL, *text = NULL;
	size_t len, off = 0;
	int fd = -1, err = 0;

	/* A name nobody can guess or hold in advance, created exclusively. */
	if (path_in(dir, "graph.json", &path) || path_in(dir, ".graph.json.XXXXXX", &tmp)) {
		err = -ENOMEM;
		goto out;
	}
	text = ms_graph_print(g);
	if (!text) {
		err = -ENOMEM;
		goto out;
	}
	len = strlen(text);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		free(tmp);
		tmp = NULL; /* nothing of ours to remove */
		goto out;
	}
	if (fchmod(fd, 0640)) {
		err = -errno;
		goto out;
	}
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			goto out;
		}
		off += (size_t)n;
	}
	if (fsync(fd)) {
		err = -errno;
		goto out;
	}
	close(fd);
	fd = -1;
	if (rename(tmp, path)) {
		err = -errno;
		goto out;
	}
	/* The rename itself is durable once the directory is synced. */
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd))
		err = -errno;
out:
	if (fd >= 0)
		close(fd);
	if (err && tmp)
		unlink(tmp);
	free(text);
	free(path);
	free(tmp);
	return err;
}

int ms_graph_load(struct ms_graph *g, const char *dir, char **errmsg)
{
	const char *why = NULL;
	char *path = NULL, *text = NULL, *aside = NULL;
	struct stat st;
	cJSON *j = NULL;
	int fd = -1, err = 0;
	size_t off = 0;

	if (errmsg)
		*errmsg = NULL;
	if (path_in(dir, "graph.json", &path))
		return -ENOMEM;
	/* Never blocks on a FIFO, never follows a link: what is not a
	 * regular file is not a graph. */
	fd = ms_open_regular(path, &why);
	if (fd < 0) {
		err = fd == -ENOENT ? 0 : fd;
		if (err && why && errmsg)
			*errmsg = strdup(why);
		fd = -1;
		goto out;
	}
	if (fstat(fd, &st)) {
		err = -errno;
		goto out;
	}
	text = malloc((size_t)st.st_size + 1);
	if (!text) {
		err = -ENOMEM;
		goto out;
	}
	while (off < (size_t)st.st_size) {
		ssize_t n = read(fd, text + off, (size_t)st.st_size - off);

		if (n < 0 && errno == EINTR)
			continue;
		/* A file that cannot be read is not corrupt: leave it be. */
		if (n < 0) {
			err = -errno;
			goto out;
		}
		if (!n)
			break;
		off += (size_t)n;
	}
	text[off] = '\0';
	j = cJSON_ParseWithLength(text, off);
	if (!j) {
		if (errmsg)
			*errmsg = strdup("not valid JSON");
		err = 1;
	} else {
		err = ms_graph_from_json(g, j, errmsg);
		if (err == -EINVAL)
			err = 1;
	}
	if (err == 1) {
		if (asprintf(&aside, "%s.corrupt-%lld", path, (long long)time(NULL)) < 0) {
			aside = NULL;
			err = -ENOMEM;
		} else if (rename(path, aside)) {
			/* Not moved aside: say so rather than let the next save
			 * overwrite it unannounced. */
			err = -errno;
		}
		/* What was read of the corrupt file is not kept. */
		struct ms_graph *fresh = NULL;

		if (!ms_graph_new(g->max_edges, &fresh)) {
			struct ms_graph tmp = *g;

			*g = *fresh;
			*fresh = tmp;
			ms_graph_free(&fresh);
		}
	}
out:
	if (fd >= 0)
		close(fd);
	cJSON_Delete(j);
	free(text);
	free(path);
	free(aside);
	return err;
}

int ms_flowrec_from_json(const cJSON *j, struct ms_flowrec *r, char **errmsg)
{
	const cJSON *ev = cJSON_GetObjectItemCaseSensitive(j, "event");
	const cJSON *v;
	const char *e;
	int p;
	uint64_t n;

	if (errmsg)
		*errmsg = NULL;
	memset(r, 0, sizeof(*r));
	if (!cJSON_IsObject(j) || !cJSON_IsString(ev))
		return err_msg(errmsg, "not a flow-log event (no \"event\")");
	e = ev->valuestring;
	if (ms_event_type_parse(e) < 0)
		return 0;
	v = cJSON_GetObjectItemCaseSensitive(j, "verdict");
	if (!cJSON_IsString(v))
		return err_msg(errmsg, "missing \"verdict\"");
	p = ms_verdict_parse(v->valuestring);
	if (p < 0)
		return err_msg(errmsg, "invalid \"verdict\"");
	r->verdict = (uint8_t)p;
	p = get_proto(cJSON_GetObjectItemCaseSensitive(j, "proto"));
	if (p < 0)
		return err_msg(errmsg, "missing or invalid \"proto\"");
	r->proto = (uint8_t)p;
	v = cJSON_GetObjectItemCaseSensitive(j, "time");
	if (!cJSON_IsString(v) || ms_time_parse_ms(v->valuestring, &r->time_ms))
		return err_msg(errmsg, "missing or invalid \"time\"");
	v = cJSON_GetObjectItemCaseSensitive(j, "src");
	if (!cJSON_IsString(v))
		return err_msg(errmsg, "missing \"src\"");
	r->src = v->valuestring;
	v = cJSON_GetObjectItemCaseSensitive(j, "dst");
	if (!cJSON_IsString(v))
		return err_msg(errmsg, "missing \"dst\"");
	r->dst = v->valuestring;
	v = cJSON_GetObjectItemCaseSensitive(j, "src_workload");
	r->src_workload = cJSON_IsString(v) ? v->valuestring : NULL;
	v = cJSON_GetObjectItemCaseSensitive(j, "dst_workload");
	r->dst_workload = cJSON_IsString(v) ? v->valuestring : NULL;
	v = cJSON_GetObjectItemCaseSensitive(j, "rule");
	r->rule = cJSON_IsString(v) ? v->valuestring : NULL;
	if (ms_proto_has_ports(r->proto)) {
		if (get_u64(j, "dport", &n) || n > 65535)
			return err_msg(errmsg, "missing or invalid \"dport\"");
		r->port = (uint16_t)n;
	} else if (ms_proto_is_icmp(r->proto)) {
		if (get_u64(j, "icmp_type", &n) || n > 255)
			return err_msg(errmsg, "missing or invalid \"icmp_type\"");
		r->port = (uint16_t)n;
	}
	if (!strcmp(e, "flow_end")) {
		r->counts = r->verdict != MS_VERDICT_DENY;
		if (get_u64(j, "packets", &r->packets) || get_u64(j, "bytes", &r->bytes))
			return err_msg(errmsg, "flow_end without \"packets\" or \"bytes\"");
	} else if (!strcmp(e, "flow_deny")) {
		r->counts = !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "repeat"));
	} else if (!strcmp(e, "flow_revoked")) {
		r->counts = true;
		r->verdict = MS_VERDICT_DENY;
	}
	return 1;
}
