/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The flow graph (docs/API.md, GET /v1/graph): every flow aggregated into edges
 * (src node, dst node, proto, responder port) between nodes that are
 * workloads or bare addresses. The agent feeds it from flow events and its
 * session sweeps; microsegctl feeds it from flow logs. Memory is bounded by
 * max_edges; flows of edges past the bound are counted, never silently lost.
 */
#ifndef MICROSEGD_GRAPH_H
#define MICROSEGD_GRAPH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "policy.h"

#define MS_GRAPH_DEFAULT_MAX_EDGES 100000
/* Rule names kept per edge; more are dropped (the edge's count stays right). */
#define MS_GRAPH_MAX_RULES 16

struct ms_graph;

/*
 * One observation. `counts` is true for a flow being counted (its end, its
 * first denial, or a live session at query time); false for a repeat report
 * of a flow already counted, which only moves last_seen. Strings are
 * borrowed for the call.
 */
struct ms_flowrec {
	uint64_t time_ms; /* Unix time, milliseconds */
	uint8_t verdict;  /* enum ms_verdict */
	uint8_t proto;	  /* IP protocol number */
	uint16_t port;	  /* responder port (ICMP: type); 0 when the protocol has none */
	bool counts;
	const char *src;	  /* initiator address, inet_ntop form */
	const char *dst;	  /* responder address */
	const char *src_workload; /* NULL: none */
	const char *dst_workload;
	const char *rule; /* rule name or "default"; NULL: unknown */
	uint64_t packets;
	uint64_t bytes;
	/* With counts: more flows of the same edge, verdict and rule that this
	 * observation stands for (the open sessions, counted by group). */
	uint64_t more;
};

/* A new empty graph holding at most max_edges edges. Returns 0 or -ENOMEM. */
int ms_graph_new(size_t max_edges, struct ms_graph **out);
void ms_graph_free(struct ms_graph **g);

/*
 * Record the workloads of a policy (names, labels, addresses) so their nodes
 * carry them; replaces those recorded before. Nodes of workloads no longer
 * in the policy keep what they had. Returns 0 or -ENOMEM.
 */
int ms_graph_set_workloads(struct ms_graph *g, const struct ms_policy *p);

/*
 * Add one observation. Returns 0, -ENOSPC when its edge is new and the graph
 * is full (counted in dropped_edges; nothing is created, not even its nodes),
 * or -ENOMEM. O(1): two node and one edge hash lookups.
 */
int ms_graph_add(struct ms_graph *g, const struct ms_flowrec *r);

/*
 * ms_graph_add in two steps, for callers that remember where a flow's edge
 * is: the index of r's edge, created with its nodes if absent (-ENOSPC when
 * the graph is full, counted as dropped; -ENOMEM), then the observation
 * added to the edge at that index. Indices stay valid for the graph's
 * life: nothing is ever removed. ms_graph_add_at returns 0, -EINVAL for an
 * index past the edges, or -ENOMEM.
 */
long ms_graph_edge_of(struct ms_graph *g, const struct ms_flowrec *r);
int ms_graph_add_at(struct ms_graph *g, size_t edge, const struct ms_flowrec *r);

/* The node id of an endpoint: "workload:NAME" when workload is not NULL,
 * else "ip:ADDR". Returns buf, truncated to len. */
const char *ms_graph_node_id(char *buf, size_t len, const char *workload, const char *addr);

/* Whether g has the edge of r (its endpoints' nodes, protocol and port). */
bool ms_graph_has_edge(const struct ms_graph *g, const struct ms_flowrec *r);

/* Add every edge of src into g (counts summed, first/last seen widened,
 * rules merged), with the workloads src knows; since becomes the earlier of
 * the two, dropped_edges the sum. Returns 0, -ENOSPC (some edges dropped,
 * counted) or -ENOMEM. */
int ms_graph_merge(struct ms_graph *g, const struct ms_graph *src);

/* A deep copy, with the same bound. Returns 0 or -ENOMEM. */
int ms_graph_clone(const struct ms_graph *g, struct ms_graph **out);

size_t ms_graph_nodes(const struct ms_graph *g);
size_t ms_graph_edges(const struct ms_graph *g);
uint64_t ms_graph_dropped(const struct ms_graph *g);
size_t ms_graph_max_edges(const struct ms_graph *g);

/* The graph in the JSON of docs/API.md (GET /v1/graph) (generated = now). NULL on
 * allocation failure. Nodes and edges are in a stable order (by id, then by
 * edge key). */
cJSON *ms_graph_to_json(const struct ms_graph *g);

/* The same JSON as text, written directly: byte for byte
 * cJSON_PrintUnformatted(ms_graph_to_json(g)), at a fraction of its time
 * and memory. A malloc'd string, or NULL on allocation failure. */
char *ms_graph_print(const struct ms_graph *g);

/* Both with a given "generated" time, so that they can be compared. */
cJSON *ms_graph_to_json_at(const struct ms_graph *g, uint64_t now_ms);
char *ms_graph_print_at(const struct ms_graph *g, uint64_t now_ms);

/* The graph in Graphviz dot. Returns a malloc'd string or NULL. */
char *ms_graph_to_dot(const struct ms_graph *g);

/*
 * Load a graph from its JSON (as ms_graph_to_json writes it) into an empty
 * graph g. Returns 0, -EINVAL if the JSON is not a graph (errmsg, if not NULL,
 * gets a malloc'd reason) or -ENOMEM; on failure g holds part of it. Edges
 * past g's bound are dropped and counted, like added ones.
 */
int ms_graph_from_json(struct ms_graph *g, const cJSON *j, char **errmsg);

/*
 * Persistence in a state directory: write DIR/graph.json atomically
 * (write to a temporary file, fsync, rename). Returns 0 or -errno.
 */
int ms_graph_save(const struct ms_graph *g, const char *dir);

/*
 * Load DIR/graph.json into the empty graph g. A missing file is not an
 * error (returns 0, g stays empty). A file that cannot be parsed is renamed
 * to DIR/graph.json.corrupt-<unix time> and 1 is returned (the caller warns;
 * errmsg gets the reason). Returns -errno on I/O errors (the file is left
 * as it is), also when a corrupt file cannot be moved aside (g is empty).
 */
int ms_graph_load(struct ms_graph *g, const char *dir, char **errmsg);

/*
 * One flow-log line (a JSON object, README, "The flow log") as an observation,
 * with the graph's counting rule: flow_end counts (verdict allow or audit),
 * flow_deny counts unless it is a repeat report ("repeat": true),
 * flow_revoked counts as denied; flow_new and flow_audit only move last_seen.
 * Returns 1 and fills r (strings point into j), 0 for a line that is not a
 * flow event (anomaly, ...), or -EINVAL (errmsg names the bad field).
 */
int ms_flowrec_from_json(const cJSON *j, struct ms_flowrec *r, char **errmsg);

#endif /* MICROSEGD_GRAPH_H */
