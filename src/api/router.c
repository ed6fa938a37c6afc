// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <stdio.h>
#include <string.h>

#include "handlers_internal.h"
#include "web_assets.h"

struct route {
	const char *path;
	const char *method; /* the one method it answers */
	int id;
};

enum {
	R_STATUS,
	R_POLICY,
	R_CHECK,
	R_RELOAD,
	R_FLOWS,
	R_SESSIONS,
	R_GRAPH,
	R_WORKLOADS,
	R_SUGGEST,
	R_METRICS,
	R_HISTORY,
};

static const struct route routes[] = {
	{ "/v1/status", "GET", R_STATUS },	 { "/v1/policy", "GET", R_POLICY },
	{ "/v1/policy/check", "POST", R_CHECK }, { "/v1/reload", "POST", R_RELOAD },
	{ "/v1/flows", "GET", R_FLOWS },	 { "/v1/sessions", "GET", R_SESSIONS },
	{ "/v1/graph", "GET", R_GRAPH },	 { "/v1/workloads", "GET", R_WORKLOADS },
	{ "/v1/suggest", "GET", R_SUGGEST },	 { "/metrics", "GET", R_METRICS },
	{ "/v1/history", "GET", R_HISTORY },
};

/* The route of req, or NULL with resp filled with the refusal. */
static const struct route *route_of(const struct ms_api_req *req, struct ms_api_resp *resp)
{
	const struct route *rt = NULL;
	bool get;

	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (!strcmp(req->path, routes[i].path))
			rt = &routes[i];
	if (!rt) {
		ms_api_error(resp, 404, "no such endpoint");
		return NULL;
	}
	/* HEAD is answered like GET; the server sends no body for it. */
	get = !strcmp(req->method, "GET") || !strcmp(req->method, "HEAD");
	if (req->readonly && !get) {
		ms_api_error(resp, 405, "read-only listener: only GET is served here");
		return NULL;
	}
	if (strcmp(rt->method, "GET") ? strcmp(req->method, rt->method) != 0 : !get) {
		char msg[64];

		snprintf(msg, sizeof(msg), "method not allowed (use %s)", rt->method);
		ms_api_error(resp, 405, msg);
		return NULL;
	}
	return rt;
}

bool ms_api_refuse(const struct ms_api_req *req, struct ms_api_resp *resp, bool *body)
{
	const struct route *rt;

	memset(resp, 0, sizeof(*resp));
	*body = false;
	if (ms_web_asset_find(req->path))
		return false; /* no body; ms_web_serve answers other methods */
	rt = route_of(req, resp);
	if (!rt)
		return true;
	*body = rt->id == R_CHECK;
	return false;
}

void ms_api_handle(struct ms_daemon *d, const struct ms_api_counters *cnt,
		   const struct ms_api_req *req, struct ms_api_resp *resp)
{
	const struct route *rt;
	const struct ms_web_asset *wa;

	memset(resp, 0, sizeof(*resp));
	wa = ms_web_asset_find(req->path);
	if (wa) {
		ms_web_serve(wa, req, resp);
		return;
	}
	rt = route_of(req, resp);
	if (!rt)
		return;
	switch (rt->id) {
	case R_STATUS:
		h_status(d, cnt, resp);
		break;
	case R_POLICY:
		h_policy(d, resp);
		break;
	case R_CHECK:
		h_check(d, req, resp);
		break;
	case R_RELOAD:
		h_reload(d, resp);
		break;
	case R_FLOWS:
		h_flows(d, req, resp);
		break;
	case R_SESSIONS:
		h_sessions(d, req, resp);
		break;
	case R_GRAPH:
		h_graph(d, req, resp);
		break;
	case R_WORKLOADS:
		h_workloads(d, resp);
		break;
	case R_SUGGEST:
		h_suggest(d, req, resp);
		break;
	case R_METRICS:
		h_metrics(d, cnt, resp);
		break;
	case R_HISTORY:
		h_history(d, resp);
		break;
	}
}
