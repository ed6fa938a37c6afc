// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "counters.h"
#include "handlers_internal.h"
#include "history.h"
#include "metrics.h"
#include "observer.h"
#include "timefmt.h"

const char *mode_of(const struct ms_daemon *d, const struct ms_policy *p)
{
	if (p)
		return p->monitor ? "monitor" : "enforce";
	return d->mode ? d->mode : "enforce";
}

void h_status(struct ms_daemon *d, const struct ms_api_counters *cnt, struct ms_api_resp *resp)
{
	const struct ms_policy *p = d->ev ? ms_events_policy(d->ev) : NULL;
	const struct ms_graph *g = d->obs ? ms_observer_graph(d->obs) : NULL;
	uint64_t c[MS_CNT_MAX] = { 0 }, now = ms_time_now_ms();
	cJSON *o = cJSON_CreateObject(), *a, *pol, *cn, *gr, *api;
	bool ok = o != NULL;

	if (!d->dp) {
		cJSON_Delete(o);
		ms_api_error(resp, 503, "the data plane is not loaded");
		return;
	}
	if (ms_dp_counters(d->dp, c)) {
		cJSON_Delete(o);
		ms_api_error(resp, 503, "cannot read the data plane's counters");
		return;
	}
	if (!ok)
		goto out;
	ok &= cJSON_AddStringToObject(o, "version", MS_VERSION) != NULL;
	ok &= api_add_u64(o, "pid", (uint64_t)getpid());
	ok &= api_add_time(o, "started", d->started_ms);
	ok &= api_add_u64(o, "uptime_s", now > d->started_ms ? (now - d->started_ms) / 1000 : 0);
	a = cJSON_AddArrayToObject(o, "interfaces");
	ok &= a != NULL;
	{
		/* What is attached now: globs attach and release as interfaces
		 * come and go. */
		size_t n = ms_dp_n_ifaces(d->dp);
		const char **names = calloc(n ? n : 1, sizeof(*names));

		ok &= names != NULL;
		n = names ? ms_dp_ifnames(d->dp, names, n) : 0;
		for (size_t i = 0; a && i < n; i++)
			ok &= cJSON_AddItemToArray(a, cJSON_CreateString(names[i]));
		free(names);
	}
	ok &= cJSON_AddStringToObject(o, "mode", mode_of(d, p)) != NULL;
	pol = cJSON_AddObjectToObject(o, "policy");
	if (pol) {
		ok &= cJSON_AddStringToObject(pol, "path", d->policy_path) != NULL;
		ok &= api_add_u64(pol, "generation", ms_dp_generation(d->dp));
		ok &= api_add_u64(pol, "rules", p ? p->n_rules : 0);
		ok &= api_add_u64(pol, "workloads", p ? p->n_workloads : 0);
		ok &= cJSON_AddStringToObject(
			      pol, "default",
			      p && p->default_action == MS_ACT_ALLOW ? "allow" : "deny") != NULL;
		ok &= api_add_time(pol, "loaded", d->loaded_ms);
		ok &= api_add_u64(pol, "reloads_ok", d->reloads_ok);
		ok &= api_add_u64(pol, "reloads_failed", d->reloads_failed);
	} else {
		ok = false;
	}
	cn = cJSON_AddObjectToObject(o, "counters");
	c[MS_CNT_EVENTS_LOST] += ms_events_lost(d->ev);
	for (int i = 0; cn && i < MS_CNT_MAX; i++)
		ok &= api_add_u64(cn, ms_counters[i].key, c[ms_counters[i].id]);
	ok &= cn != NULL;
	ok &= api_add_u64(o, "sessions", ms_events_sessions(d->ev));
	ok &= api_add_u64(o, "sessions_max", ms_dp_session_max(d->dp));
	ok &= api_add_u64(o, "sessions_evicted", ms_events_evicted(d->ev));
	ok &= api_add_u64(o, "flows_unseen", ms_events_unseen(d->ev));
	/* The data plane's identity: the program ids change with every start
	 * (a restart really loads new programs), the pinned state may not. */
	{
		cJSON *dpo = cJSON_AddObjectToObject(o, "datapath");
		const char *pin = ms_dp_pin_path(d->dp);

		ok &= dpo != NULL;
		if (dpo) {
			ok &= api_add_u64(dpo, "prog_id_ingress",
					  ms_dp_prog_id(d->dp, MS_DIR_INGRESS));
			ok &= api_add_u64(dpo, "prog_id_egress",
					  ms_dp_prog_id(d->dp, MS_DIR_EGRESS));
			ok &= (pin ? cJSON_AddStringToObject(dpo, "pinned", pin)
				   : cJSON_AddNullToObject(dpo, "pinned")) != NULL;
			ok &= cJSON_AddBoolToObject(dpo, "adopted", ms_dp_adopted(d->dp)) != NULL;
		}
	}
	gr = cJSON_AddObjectToObject(o, "graph");
	if (gr && g) {
		ok &= api_add_u64(gr, "nodes", ms_graph_nodes(g));
		ok &= api_add_u64(gr, "edges", ms_graph_edges(g));
		ok &= api_add_u64(gr, "dropped_edges", ms_graph_dropped(g));
		ok &= api_add_u64(gr, "max_edges", ms_graph_max_edges(g));
	}
	ok &= gr != NULL;
	api = cJSON_AddObjectToObject(o, "api");
	if (api && cnt) {
		ok &= api_add_u64(api, "connections", cnt->connections);
		ok &= api_add_u64(api, "follow_clients", cnt->follow_clients);
		ok &= api_add_u64(api, "follow_dropped", cnt->follow_dropped);
		ok &= api_add_u64(api, "slow_cut", cnt->slow_cut);
		ok &= api_add_u64(api, "requests", cnt->requests);
	}
	ok &= api != NULL;
out:
	ms_api_reply_json(resp, 200, o, ok);
}

void h_metrics(struct ms_daemon *d, const struct ms_api_counters *cnt, struct ms_api_resp *resp)
{
	size_t len = 0;
	char *s;

	if (!d->dp) {
		ms_api_error(resp, 503, "the data plane is not loaded");
		return;
	}
	s = ms_metrics_render(d, cnt, &len);
	if (!s && errno != ENOMEM) {
		ms_api_error(resp, 503, "cannot read the data plane's counters");
		return;
	}
	ms_api_set_body(resp, 200, "text/plain; version=0.0.4; charset=utf-8", s);
}

void h_history(struct ms_daemon *d, struct ms_api_resp *resp)
{
	cJSON *o = cJSON_CreateObject(), *a;
	bool ok = o != NULL;
	size_t n;

	if (!d->hist) {
		cJSON_Delete(o);
		ms_api_error(resp, 503, "no counter history");
		return;
	}
	n = ms_history_len(d->hist);
	ok &= api_add_u64(o, "interval_s", MS_HISTORY_INTERVAL_SEC);
	a = cJSON_AddArrayToObject(o, "samples");
	ok &= a != NULL;
	for (size_t i = 0; ok && i < n; i++) {
		uint64_t v[MS_HIST_MAX];
		uint64_t t = ms_history_get(d->hist, i, v);
		cJSON *so = cJSON_CreateObject();

		if (!so || !cJSON_AddItemToArray(a, so)) {
			cJSON_Delete(so);
			ok = false;
			break;
		}
		ok &= api_add_time(so, "time", t);
		for (int f = 0; f < MS_HIST_MAX; f++)
			ok &= api_add_u64(so, ms_history_field_name(f), v[f]);
	}
	ms_api_reply_json(resp, 200, o, ok);
}
