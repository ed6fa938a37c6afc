// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* microsegctl graph: the agent's flow graph, or one built offline from flow
 * logs of any number of hosts. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "graph.h"
#include "policy_parse.h"
#include "table.h"

struct edge_ref {
	const cJSON *e;
	double flows;
};

static int by_flows(const void *a, const void *b)
{
	const struct edge_ref *x = a, *y = b;

	return x->flows < y->flows ? 1 : x->flows > y->flows ? -1 : 0;
}

static int print_table(const cJSON *g)
{
	static const char *const header[9] = { "SOURCE", "DESTINATION", "SERVICE",
					       "FLOWS",	 "ALLOWED",	"DENIED",
					       "AUDIT",	 "BYTES",	"RULES" };
	const cJSON *edges = cJSON_GetObjectItemCaseSensitive(g, "edges"), *e;
	size_t n = (size_t)cJSON_GetArraySize(edges), i = 0;
	struct edge_ref *refs = calloc(n ? n : 1, sizeof(*refs));
	struct ctl_table t;
	char b[6][32];

	if (!refs)
		return CTL_FAILED;
	cJSON_ArrayForEach(e, edges)
	{
		const cJSON *f = cJSON_GetObjectItemCaseSensitive(e, "flows");

		refs[i].e = e;
		refs[i++].flows = cJSON_IsNumber(f) ? f->valuedouble : 0;
	}
	qsort(refs, n, sizeof(*refs), by_flows);
	ctl_table_init(&t, 9, header);
	for (i = 0; i < n; i++) {
		const cJSON *x = refs[i].e;
		char svc[48],
			*rules = ctl_join(cJSON_GetObjectItemCaseSensitive(x, "rules"), ",", false);
		const char *src = ctl_str(x, "src"), *dst = ctl_str(x, "dst");
		const char *row[9];

		snprintf(svc, sizeof(svc), "%s/%s", ctl_num(x, "proto", b[0], 32),
			 ctl_num(x, "port", b[1], 32));
		/* Node ids without their kind prefix read better. */
		row[0] = src && strchr(src, ':') ? strchr(src, ':') + 1 : src;
		row[1] = dst && strchr(dst, ':') ? strchr(dst, ':') + 1 : dst;
		row[2] = svc;
		row[3] = ctl_num(x, "flows", b[2], 32);
		row[4] = ctl_num(x, "allowed", b[3], 32);
		row[5] = ctl_num(x, "denied", b[4], 32);
		row[6] = ctl_num(x, "audit", b[5], 32);
		row[7] = ctl_num(x, "bytes", b[0], 32);
		row[8] = rules;
		ctl_table_row(&t, row);
		free(rules);
	}
	ctl_table_print(&t, stdout);
	printf("%zu edges, %d nodes%s\n", n,
	       cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(g, "nodes")),
	       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(g, "truncated"))
		       ? " (truncated: the graph was full, see dropped_edges)"
		       : "");
	ctl_table_free(&t);
	free(refs);
	return CTL_OK;
}

int ctl_graph_line(void *cls, const cJSON *j, char **err)
{
	struct ms_flowrec r;
	int rc = ms_flowrec_from_json(j, &r, err);

	if (rc != 1)
		return rc;
	/* An edge past the graph's bound is counted there, not an error here. */
	return ms_graph_add(cls, &r) == -ENOMEM ? -ENOMEM : 0;
}

static int offline(const struct ctl_opts *o, const char *fmt)
{
	struct ms_graph *g = NULL;
	int ret = CTL_OK;

	if (ms_graph_new(CTL_OFFLINE_MAX_EDGES, &g)) {
		fprintf(stderr, "microsegctl: out of memory\n");
		return CTL_FAILED;
	}
	if (o->policy) {
		struct ms_diag d = { 0 };
		struct ms_policy *p = NULL;
		int r = ms_policy_parse_file(o->policy, &p, &d);

		ms_diag_print(&d, stderr);
		ms_diag_free(&d);
		if (r) {
			ms_graph_free(&g);
			return CTL_FAILED;
		}
		ms_graph_set_workloads(g, p);
		ms_policy_free(&p);
	}
	ret = ctl_read_flowlogs(o, ctl_graph_line, g);
	if (!ret) {
		cJSON *j = ms_graph_to_json(g);
		char *text = j ? cJSON_PrintUnformatted(j) : NULL;

		if (!strcmp(fmt, "dot")) {
			char *dot = ms_graph_to_dot(g);

			if (dot)
				fputs(dot, stdout);
			free(dot);
		} else if (!strcmp(fmt, "json") && text) {
			printf("%s\n", text);
		} else if (text) {
			/* Counts are raw numbers in j: read them back parsed. */
			cJSON *p = cJSON_Parse(text);

			ret = p ? print_table(p) : CTL_FAILED;
			cJSON_Delete(p);
		} else {
			ret = CTL_FAILED;
		}
		free(text);
		cJSON_Delete(j);
	}
	ms_graph_free(&g);
	return ret;
}

int cmd_graph(const struct ctl_opts *o)
{
	const char *fmt = o->format ? o->format : o->json ? "json" : "table";
	struct ctl_resp r;
	cJSON *j = NULL;
	int ret;

	if (o->n_from)
		return offline(o, fmt);
	if (!strcmp(fmt, "table")) {
		ret = ctl_get_json(o, "/v1/graph", &j, NULL);
		if (!ret)
			ret = print_table(j);
		cJSON_Delete(j);
		return ret;
	}
	ret = ctl_request(&o->http, "GET",
			  !strcmp(fmt, "dot") ? "/v1/graph?format=dot" : "/v1/graph", NULL, 0, &r);
	if (ret)
		return ret;
	if (r.status != 200)
		ret = ctl_agent_error(&r);
	else
		printf("%s%s", r.body, r.len && r.body[r.len - 1] == '\n' ? "" : "\n");
	ctl_resp_free(&r);
	return ret;
}
