// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* microsegctl suggest: a least-privilege policy from what was observed, by
 * the running agent or in flow logs. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "graph.h"
#include "policy_parse.h"
#include "suggest.h"

static int offline(const struct ctl_opts *o, struct ms_suggest_opts *so)
{
	struct ms_policy *p = NULL;
	struct ms_graph *g = NULL;
	char *yaml = NULL, *src = NULL;
	int ret = CTL_FAILED, err;

	if (o->policy) {
		struct ms_diag d = { 0 };

		err = ms_policy_parse_file(o->policy, &p, &d);
		ms_diag_print(&d, stderr);
		ms_diag_free(&d);
		if (err)
			return CTL_FAILED;
	}
	if (ms_graph_new(CTL_OFFLINE_MAX_EDGES, &g))
		goto out;
	if (p)
		ms_graph_set_workloads(g, p);
	ret = ctl_read_flowlogs(o, ctl_graph_line, g);
	if (ret)
		goto out;
	if (ms_graph_dropped(g))
		fprintf(stderr,
			"microsegctl: warning: more than %d edges; flows on the %llu left out are "
			"not allowed by this suggestion\n",
			CTL_OFFLINE_MAX_EDGES, (unsigned long long)ms_graph_dropped(g));
	if (asprintf(&src, "%zu flow log%s", o->n_from, o->n_from == 1 ? "" : "s") < 0)
		src = NULL;
	so->current = p;
	so->source = src;
	err = ms_suggest(g, so, &yaml);
	if (err == -ENODATA) {
		fprintf(stderr, "microsegctl: no flow in these logs passed: nothing to allow\n");
		ret = CTL_FAILED;
	} else if (err) {
		fprintf(stderr, "microsegctl: out of memory\n");
		ret = CTL_FAILED;
	} else {
		fputs(yaml, stdout);
	}
out:
	free(yaml);
	free(src);
	ms_graph_free(&g);
	ms_policy_free(&p);
	return ret;
}

int cmd_suggest(const struct ctl_opts *o)
{
	struct ms_suggest_opts so = { .group = MS_GROUP_LABELS,
				      .include_denied = o->include_denied };
	char *path = NULL;
	int ret;

	if (o->group && !strcmp(o->group, "workload"))
		so.group = MS_GROUP_WORKLOAD;
	if (o->n_from)
		return offline(o, &so);
	if (asprintf(&path, "/v1/suggest?group=%s%s",
		     so.group == MS_GROUP_WORKLOAD ? "workload" : "labels",
		     o->include_denied ? "&include_denied=1" : "") < 0) {
		fprintf(stderr, "microsegctl: out of memory\n");
		return CTL_FAILED;
	}
	ret = ctl_print_text(o, path);
	free(path);
	return ret;
}
