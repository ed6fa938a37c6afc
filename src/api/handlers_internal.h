/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * What the files of the control API share (handlers.h is its public face):
 * router.c sends each request to the handler of its endpoint, h_*.c answer
 * one group of endpoints each, jobs.c runs the costly answers off the loop,
 * request.c and api_json.c build the answers.
 */
#ifndef MICROSEGD_HANDLERS_INTERNAL_H
#define MICROSEGD_HANDLERS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "handlers.h"
#include "policy_compile.h"
#include "suggest.h"

/*
 * What a check needs of the agent: on the loop, the agent itself; on the
 * worker thread, copies (the recent flows as lines, one per '\n').
 */
struct check_env {
	const char *mode; /* NULL, "enforce" or "monitor" */
	struct ms_limits limits;
	const struct ms_flowring *ring; /* NULL: lines */
	const char *lines;
	size_t lines_len;
};

/* Growing text buffer for list answers built from many lines. */
struct sbuf {
	char *s;
	size_t len, cap;
	bool oom;
};

struct sess_ctx {
	struct ms_daemon *d;
	const struct ms_flow_filter *f;
	cJSON *arr;
	size_t n;
	uint64_t total;
	bool ok;
};

/* GET /v1/sessions in steps: the table is read a batch at a time. */
struct sessions_req {
	struct sess_ctx c;
	struct ms_flow_filter f;
	cJSON *o;
	struct ms_session_cursor *cur;
};

bool api_add_proto(cJSON *o, const char *key, uint8_t proto);
bool api_add_time(cJSON *o, const char *key, uint64_t ms);
bool api_add_u64(cJSON *o, const char *key, uint64_t v);
double api_round_ms(double ms);

/* GET /v1/status, /metrics, /v1/history (h_status.c) */
void h_history(struct ms_daemon *d, struct ms_api_resp *resp);
void h_metrics(struct ms_daemon *d, const struct ms_api_counters *cnt, struct ms_api_resp *resp);
void h_status(struct ms_daemon *d, const struct ms_api_counters *cnt, struct ms_api_resp *resp);
const char *mode_of(const struct ms_daemon *d, const struct ms_policy *p);

/* GET /v1/policy, POST /v1/policy/check and /v1/reload (h_policy.c) */
void check_env_of(const struct ms_daemon *d, struct check_env *env);
cJSON *check_json(const struct check_env *env, const char *name, const char *text, size_t len,
		  bool replay);
void h_check(struct ms_daemon *d, const struct ms_api_req *req, struct ms_api_resp *resp);
void h_policy(struct ms_daemon *d, struct ms_api_resp *resp);
void h_reload(struct ms_daemon *d, struct ms_api_resp *resp);

/* GET /v1/flows and /v1/sessions (h_flows.c) */
void h_flows(struct ms_daemon *d, const struct ms_api_req *req, struct ms_api_resp *resp);
void h_sessions(struct ms_daemon *d, const struct ms_api_req *req, struct ms_api_resp *resp);
void sb_put(struct sbuf *b, const char *s, size_t n);
bool sessions_begin(struct ms_daemon *d, const struct ms_api_req *req, struct sessions_req *sr,
		    struct ms_api_resp *resp);
void sessions_clear(struct sessions_req *sr);
void sessions_print(struct sessions_req *sr, struct ms_api_resp *resp);
bool sessions_step(struct sessions_req *sr, struct ms_api_resp *resp);

/* GET /v1/graph and /v1/suggest (h_graph.c) */
void h_graph(struct ms_daemon *d, const struct ms_api_req *req, struct ms_api_resp *resp);
void h_suggest(struct ms_daemon *d, const struct ms_api_req *req, struct ms_api_resp *resp);
bool suggest_args(const struct ms_api_req *req, struct ms_suggest_opts *so, bool *json,
		  struct ms_api_resp *resp);
void suggest_reply(const struct check_env *env, int err, char *yaml, bool json,
		   struct ms_api_resp *resp);

/* GET /v1/workloads (h_workloads.c) */
void h_workloads(struct ms_daemon *d, struct ms_api_resp *resp);

#endif /* MICROSEGD_HANDLERS_INTERNAL_H */
