// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* Merging one graph into another and copying a graph whole. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "graph_int.h"

int graph_merge_edge(struct ms_graph *g, const struct ms_graph *src, const struct edge *se)
{
	long ei = graph_edge_at(g, src->nodes[se->src].id, src->nodes[se->dst].id, se->proto,
				se->port);
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
		if (graph_add_rule(e, se->rules[i]))
			return -ENOMEM;
	return 0;
}

int ms_graph_merge(struct ms_graph *g, const struct ms_graph *src)
{
	int ret = 0;

	/* Edges first: they bring their nodes, within g's bound. */
	for (size_t i = 0; i < src->n_edges; i++) {
		int r = graph_merge_edge(g, src, &src->edges[i]);

		if (r == -ENOMEM)
			return r;
		if (r)
			ret = r;
	}
	/* Then what nodes carry: a policy's workloads exist without edges,
	 * other nodes only if one of their edges made it in. */
	for (size_t i = 0; i < src->n_nodes; i++) {
		const struct node *sn = &src->nodes[i];
		long n = graph_node_get(g, sn->id, sn->labels != NULL);

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
			graph_node_set_meta(&g->nodes[n], l, a);
		}
		if (sn->seen) {
			const cJSON *it;

			cJSON_ArrayForEach(it, sn->seen)
			{
				if (graph_note_seen(&g->nodes[n], it->valuestring))
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
