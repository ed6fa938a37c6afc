/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Inside the flow graph (graph.h): the state its files share. graph.c
 * keeps nodes and edges, graph_merge.c merges and copies graphs,
 * graph_json.c and graph_dot.c render them, graph_store.c reads them back
 * and keeps them in the state directory, graph_flowline.c decodes a
 * flow-log line.
 */
#ifndef MICROSEGD_GRAPH_INT_H
#define MICROSEGD_GRAPH_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "graph.h"

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

/* The index of node id, created if create; -ENOENT if absent and not
 * created, -ENOMEM. */
long graph_node_get(struct ms_graph *g, const char *id, bool create);
/* The edge between the nodes sid and did, created with them if the graph
 * has room (graph.c says more); negative errno on failure. */
long graph_edge_at(struct ms_graph *g, const char *sid, const char *did, uint8_t proto,
		   uint16_t port);
/* Adds rule to the edge's sorted list, once. */
int graph_add_rule(struct edge *e, const char *rule);
/* Remembers addr of a workload whose addresses are not known. */
int graph_note_seen(struct node *n, const char *addr);
/* Takes labels and addrs, either may be NULL. */
void graph_node_set_meta(struct node *n, cJSON *labels, cJSON *addrs);
/* Orders of nodes and edges for output; the caller frees both. */
int graph_sorted(const struct ms_graph *g, uint32_t **nodes, uint32_t **edges);
/* Adds the counts and rules of src's edge se to g's same edge. */
int graph_merge_edge(struct ms_graph *g, const struct ms_graph *src, const struct edge *se);

/* Sets *errmsg (when given) to a copy of what; returns -EINVAL. */
int graph_err_msg(char **errmsg, const char *what);
/* The whole number in [0, 2^64) at key; -EINVAL if absent or not one. */
int graph_get_u64(const cJSON *o, const char *key, uint64_t *out);
/* A protocol as a name or a number 0-255; -1 if neither. */
int graph_get_proto(const cJSON *v);
/* The time string at key, in ms since the epoch. */
int graph_get_time(const cJSON *o, const char *key, uint64_t *out);

#endif /* MICROSEGD_GRAPH_INT_H */
