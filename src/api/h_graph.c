// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers_internal.h"
#include "log.h"
#include "observer.h"

#define MS_XSTR(x) #x
#define MS_STR(x) MS_XSTR(x)

void h_graph(struct ms_daemon *d, const struct ms_api_req *req, struct ms_api_resp *resp)
{
	const char *fmt = req->arg(req->arg_cls, "format");

	if (!d->obs) {
		ms_api_error(resp, 503, "no flow graph");
		return;
	}
	if (!fmt || !strcmp(fmt, "json")) {
		ms_api_set_body(resp, 200, CT_JSON,
				ms_observer_graph_text(d->obs, d->dp ? d->ev : NULL));
	} else if (!strcmp(fmt, "dot")) {
		ms_api_set_body(resp, 200, "text/vnd.graphviz; charset=utf-8",
				ms_observer_graph_dot(d->obs, d->dp ? d->ev : NULL));
	} else {
		ms_api_error(resp, 400, "invalid format (json or dot)");
	}
}

/* format=json: the policy with its own check and a replay of the recent
 * flows, so the read-only console can show what it would change. Takes yaml. */
static void suggest_json(const struct check_env *env, char *yaml, struct ms_api_resp *resp)
{
	cJSON *o = cJSON_CreateObject(), *chk = NULL;
	bool ok = o && cJSON_AddStringToObject(o, "policy", yaml);

	if (ok)
		chk = check_json(env, "suggested", yaml, strlen(yaml), true);
	ok &= chk && cJSON_AddItemToObject(o, "check", chk);
	free(yaml);
	ms_api_reply_json(resp, 200, o, ok);
}

/* The query of GET /v1/suggest; false with resp filled when it is invalid. */
bool suggest_args(const struct ms_api_req *req, struct ms_suggest_opts *so, bool *json,
		  struct ms_api_resp *resp)
{
	const char *group = req->arg(req->arg_cls, "group");
	const char *deny = req->arg(req->arg_cls, "include_denied");
	const char *fmt = req->arg(req->arg_cls, "format");

	memset(so, 0, sizeof(*so));
	so->group = MS_GROUP_LABELS;
	if (fmt && strcmp(fmt, "yaml") && strcmp(fmt, "json")) {
		ms_api_error(resp, 400, "invalid format (yaml or json)");
		return false;
	}
	*json = fmt && !strcmp(fmt, "json");
	if (group && !strcmp(group, "workload"))
		so->group = MS_GROUP_WORKLOAD;
	else if (group && strcmp(group, "labels")) {
		ms_api_error(resp, 400, "invalid group (labels or workload)");
		return false;
	}
	if (deny && strcmp(deny, "0") && strcmp(deny, "1")) {
		ms_api_error(resp, 400, "invalid include_denied (1 or 0)");
		return false;
	}
	so->include_denied = deny && !strcmp(deny, "1");
	return true;
}

/* The answer from ms_suggest's outcome; takes yaml. */
void suggest_reply(const struct check_env *env, int err, char *yaml, bool json,
		   struct ms_api_resp *resp)
{
	if (err == -ENODATA)
		ms_api_error(resp, 409,
			     "no flow observed passing yet: let traffic run (in monitor mode) "
			     "first");
	else if (err == -ECANCELED)
		ms_api_error(resp, 503,
			     "the suggestion took longer than " MS_STR(
				     MS_API_JOB_TIMEOUT_SEC) " s "
							     "and was stopped: the flow graph is "
							     "too large (see --graph-max-edges)");
	else if (err)
		ms_api_set_body(resp, 500, NULL, NULL);
	else if (json)
		suggest_json(env, yaml, resp);
	else
		ms_api_set_body(resp, 200, "application/yaml; charset=utf-8", yaml);
}

void h_suggest(struct ms_daemon *d, const struct ms_api_req *req, struct ms_api_resp *resp)
{
	struct ms_suggest_opts so;
	struct check_env env;
	const struct ms_graph *g;
	char *yaml = NULL, *src = NULL;
	bool json;
	int err;

	if (!suggest_args(req, &so, &json, resp))
		return;
	if (!d->obs) {
		ms_api_error(resp, 503, "no flow graph");
		return;
	}
	so.current = d->ev ? ms_events_policy(d->ev) : NULL;
	if (asprintf(&src, "the flow graph of the agent (policy %s)", d->policy_path) < 0)
		src = NULL;
	so.source = src;
	/* A policy from the last sweep would deny the flows of the last second
	 * once applied: the table is read now. (The server asks through
	 * ms_api_defer instead, which waits for a sweep without holding the
	 * loop.) */
	if (d->dp && d->ev) {
		err = ms_events_sweep(d->ev, false);
		if (err)
			log_warn("suggest: cannot read the session table: %s", strerror(-err));
	}
	g = ms_observer_live_graph(d->obs, d->dp ? d->ev : NULL);
	err = g ? ms_suggest(g, &so, &yaml) : -ENOMEM;
	free(src);
	check_env_of(d, &env);
	suggest_reply(&env, err, yaml, json, resp);
}
