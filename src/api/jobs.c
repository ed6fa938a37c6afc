// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers_internal.h"
#include "observer.h"
#include "timefmt.h"

/* ------------------------------------------------- answers off the loop */

enum job_kind { JOB_SUGGEST, JOB_GRAPH_JSON, JOB_GRAPH_DOT, JOB_CHECK, JOB_SESSIONS };

struct ms_api_job {
	enum job_kind kind;
	/* suggest: the request, and the sweep that makes the table fresh */
	struct ms_suggest_opts so;
	bool json;
	/* check: the candidate policy, and whether to replay recent flows */
	char *body;
	size_t body_len;
	bool replay;
	/* sessions: read on the loop, a batch per step (ms_api_job_step) */
	struct sessions_req sr;
	char *source;
	uint64_t sweep_target;
	uint64_t asked_ms;
	/* the snapshot, the job's own */
	struct ms_policy *current; /* the workloads of the policy in force */
	struct ms_graph *g;
	uint64_t graph_ms, graph_sweep;
	struct check_env env;
	struct sbuf lines; /* the recent flows, for the replay of format=json */
	/* the outcome */
	struct ms_api_resp resp;
	char *text; /* JOB_GRAPH_JSON: the text, for the observer's cache */
};

void ms_api_job_free(struct ms_api_job **jp)
{
	struct ms_api_job *j = *jp;

	if (!j)
		return;
	free(j->source);
	free(j->body);
	if (j->kind == JOB_SESSIONS)
		sessions_clear(&j->sr);
	ms_policy_free(&j->current);
	ms_graph_free(&j->g);
	free(j->lines.s);
	ms_api_resp_clear(&j->resp);
	free(j->text);
	free(j);
	*jp = NULL;
}

bool ms_api_defer(struct ms_daemon *d, const struct ms_api_req *req, struct ms_api_resp *resp,
		  struct ms_api_job **out)
{
	struct ms_api_job *j;
	bool suggest = !strcmp(req->path, "/v1/suggest"), graph = !strcmp(req->path, "/v1/graph");
	bool check = !strcmp(req->path, "/v1/policy/check");
	const char *fmt = graph ? req->arg(req->arg_cls, "format") : NULL;

	*out = NULL;
	if (check && !req->readonly && !strcmp(req->method, "POST")) {
		const char *rp = req->arg(req->arg_cls, "replay");

		/* A policy of 8 MiB takes seconds to compile. */
		memset(resp, 0, sizeof(*resp));
		j = calloc(1, sizeof(*j));
		if (j && req->body_len) {
			j->body = malloc(req->body_len);
			if (j->body)
				memcpy(j->body, req->body, req->body_len);
		}
		if (!j || (req->body_len && !j->body)) {
			ms_api_job_free(&j);
			ms_api_set_body(resp, 500, NULL, NULL);
			return true;
		}
		j->kind = JOB_CHECK;
		j->body_len = req->body_len;
		j->replay = rp && strcmp(rp, "0");
		*out = j;
		return true;
	}
	if (!strcmp(req->path, "/v1/sessions") && d->dp &&
	    (!strcmp(req->method, "GET") || !strcmp(req->method, "HEAD"))) {
		/* A full table is seconds to read and describe: in steps. */
		memset(resp, 0, sizeof(*resp));
		j = calloc(1, sizeof(*j));
		if (!j) {
			ms_api_set_body(resp, 500, NULL, NULL);
			return true;
		}
		j->kind = JOB_SESSIONS;
		if (!sessions_begin(d, req, &j->sr, resp)) {
			ms_api_job_free(&j);
			return true;
		}
		*out = j;
		return true;
	}
	if ((!suggest && !graph) || !d->obs ||
	    (strcmp(req->method, "GET") && strcmp(req->method, "HEAD")))
		return false; /* answered by ms_api_handle, errors included */
	if (graph && fmt && strcmp(fmt, "json") && strcmp(fmt, "dot"))
		return false;
	/* The console's graph, already written for this sweep, is a copy. */
	if (graph && (!fmt || !strcmp(fmt, "json")) &&
	    ms_observer_graph_text_cached(d->obs, d->dp ? d->ev : NULL))
		return false;
	memset(resp, 0, sizeof(*resp));
	j = calloc(1, sizeof(*j));
	if (!j) {
		ms_api_set_body(resp, 500, NULL, NULL);
		return true;
	}
	j->kind = suggest		       ? JOB_SUGGEST
		  : fmt && !strcmp(fmt, "dot") ? JOB_GRAPH_DOT
					       : JOB_GRAPH_JSON;
	if (suggest) {
		if (!suggest_args(req, &j->so, &j->json, resp)) {
			ms_api_job_free(&j);
			return true;
		}
		if (asprintf(&j->source, "the flow graph of the agent (policy %s)",
			     d->policy_path) < 0)
			j->source = NULL;
		/* A policy from a sweep older than the request would deny the
		 * flows of the last second once applied: wait for one that
		 * began after it (the loop runs it in steps). */
		if (d->dp && d->ev) {
			j->sweep_target =
				ms_events_sweeps(d->ev) + (ms_events_sweeping(d->ev) ? 2 : 1);
			if (!ms_events_sweeping(d->ev) && ms_events_sweep_start(d->ev))
				j->sweep_target = 0;
		}
		j->asked_ms = ms_time_now_ms();
	}
	*out = j;
	return true;
}

bool ms_api_job_ready(const struct ms_daemon *d, const struct ms_api_job *j, uint64_t now_ms)
{
	if (j->kind != JOB_SUGGEST || !j->sweep_target || !d->dp || !d->ev)
		return true;
	return ms_events_sweeps(d->ev) >= j->sweep_target ||
	       now_ms - j->asked_ms > MS_API_SWEEP_WAIT_SEC * 1000ULL;
}

static int copy_workloads(const struct ms_policy *p, struct ms_policy **out)
{
	struct ms_policy *c = ms_policy_new();

	if (!c)
		return -ENOMEM;
	for (size_t i = 0; p && i < p->n_workloads; i++) {
		const struct ms_workload *w = &p->workloads[i];
		struct ms_workload *cw = ms_policy_add_workload(c);

		if (!cw || !(cw->name = strdup(w->name)))
			goto nomem;
		cw->pos = w->pos;
		cw->discovered = w->discovered;
		if (w->n_labels) {
			cw->labels = calloc(w->n_labels, sizeof(*cw->labels));
			if (!cw->labels)
				goto nomem;
			for (size_t k = 0; k < w->n_labels; k++) {
				cw->labels[k].key = strdup(w->labels[k].key);
				cw->labels[k].value = strdup(w->labels[k].value);
				cw->n_labels++;
				if (!cw->labels[k].key || !cw->labels[k].value)
					goto nomem;
			}
		}
		if (w->n_addrs) {
			cw->addrs = malloc(w->n_addrs * sizeof(*cw->addrs));
			if (!cw->addrs)
				goto nomem;
			memcpy(cw->addrs, w->addrs, w->n_addrs * sizeof(*cw->addrs));
			cw->n_addrs = w->n_addrs;
		}
	}
	*out = c;
	return 0;
nomem:
	ms_policy_free(&c);
	return -ENOMEM;
}

static int copy_line(void *cls, const char *line, size_t len)
{
	struct sbuf *b = cls;

	sb_put(b, line, len);
	sb_put(b, "\n", 1);
	return b->oom ? -ENOMEM : 0;
}

bool ms_api_job_sliced(const struct ms_api_job *j)
{
	return j->kind == JOB_SESSIONS;
}

bool ms_api_job_step(struct ms_api_job *j)
{
	return sessions_step(&j->sr, &j->resp);
}

int ms_api_job_snapshot(struct ms_daemon *d, struct ms_api_job *j)
{
	struct ms_events *ev = d->dp ? d->ev : NULL;
	int err;

	if (j->kind == JOB_SESSIONS)
		return 0; /* read already, in steps */
	check_env_of(d, &j->env);
	j->env.ring = NULL;
	if (j->kind != JOB_CHECK) {
		err = ms_observer_live_copy(d->obs, ev, &j->g, &j->graph_ms, &j->graph_sweep);
		if (err || j->kind != JOB_SUGGEST)
			return err;
		err = copy_workloads(d->ev ? ms_events_policy(d->ev) : NULL, &j->current);
		if (err)
			return err;
		j->so.current = j->current;
		j->so.source = j->source;
	}
	if ((j->json || j->replay) && d->obs) {
		struct ms_flow_filter all;

		memset(&all, 0, sizeof(all));
		ms_flow_filter_clear(&all);
		all.limit = MS_FLOW_FILTER_MAX_LIMIT;
		if (ms_flowring_query(ms_observer_ring(d->obs), &all, copy_line, &j->lines))
			return -ENOMEM;
		j->env.lines = j->lines.s;
		j->env.lines_len = j->lines.len;
	}
	return 0;
}

void ms_api_job_run(struct ms_api_job *j, const atomic_bool *cancel)
{
	char *yaml = NULL;
	int err;

	switch (j->kind) {
	case JOB_SUGGEST:
		j->so.cancel = cancel;
		err = ms_suggest(j->g, &j->so, &yaml);
		suggest_reply(&j->env, err, yaml, j->json, &j->resp);
		break;
	case JOB_GRAPH_JSON:
		j->text = ms_graph_print_at(j->g, j->graph_ms);
		ms_api_set_body(&j->resp, 200, CT_JSON, j->text ? strdup(j->text) : NULL);
		break;
	case JOB_GRAPH_DOT:
		ms_api_set_body(&j->resp, 200, "text/vnd.graphviz; charset=utf-8",
				ms_graph_to_dot(j->g));
		break;
	case JOB_CHECK: {
		cJSON *o = check_json(&j->env, "policy", j->body, j->body_len, j->replay);

		ms_api_reply_json(&j->resp, 200, o, o != NULL);
		break;
	}
	case JOB_SESSIONS:
		/* Read on the loop in steps; the text of a large table is
		 * written here. */
		sessions_print(&j->sr, &j->resp);
		break;
	}
	/* What the answer needs is in resp now: the snapshot goes early. */
	ms_graph_free(&j->g);
	ms_policy_free(&j->current);
}

void ms_api_job_finish(struct ms_daemon *d, struct ms_api_job **jp, int err,
		       struct ms_api_resp *resp)
{
	struct ms_api_job *j = *jp;

	memset(resp, 0, sizeof(*resp));
	if (err) {
		ms_api_error(resp, err == -ENOMEM ? 500 : 503,
			     err == -ENOMEM ? "out of memory" : "the agent is shutting down");
	} else {
		*resp = j->resp;
		memset(&j->resp, 0, sizeof(j->resp));
		if (j->text && d->obs)
			ms_observer_graph_keep_text(d->obs, j->graph_sweep, j->text);
	}
	ms_api_job_free(jp);
}
