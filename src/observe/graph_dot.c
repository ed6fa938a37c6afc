// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* The graph in Graphviz DOT. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph_int.h"
#include "proto.h"

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

	if (graph_sorted(g, &no, &eo))
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
