// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* The graph as JSON: a cJSON tree, and the same text printed directly for
 * the API, without building the tree. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph_int.h"
#include "jsonadd.h"
#include "jsonout.h"
#include "proto.h"
#include "timefmt.h"

static bool add_time(cJSON *o, const char *key, uint64_t ms)
{
	char buf[MS_TIME_STRLEN];

	return cJSON_AddStringToObject(o, key, ms_time_format_ms(ms, buf)) != NULL;
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
	bool ok = o && !graph_sorted(g, &no, &eo);

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

	if (graph_sorted(g, &no, &eo))
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
