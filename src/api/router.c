// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "discovery.h"
#include "handlers.h"
#include "history.h"
#include "loader.h"
#include "log.h"
#include "metrics.h"
#include "observer.h"
#include "policy_compile.h"
#include "policy_parse.h"
#include "proto.h"
#include "replay.h"
#include "suggest.h"
#include "timefmt.h"
#include "web_assets.h"

#define CT_JSON "application/json"
#define MS_XSTR(x) #x
#define MS_STR(x) MS_XSTR(x)

static const char *const counter_names[MS_CNT_MAX] = {
	[MS_CNT_ALLOWED] = "allowed",
	[MS_CNT_DENIED] = "denied",
	[MS_CNT_AUDIT] = "audit",
	[MS_CNT_NEW_FLOWS] = "new_flows",
	[MS_CNT_EVENTS_LOST] = "events_lost",
	[MS_CNT_MALFORMED] = "malformed",
	[MS_CNT_PASSTHROUGH] = "passthrough",
	[MS_CNT_REVOKED] = "revoked",
	[MS_CNT_SESSION_FAIL] = "session_fail",
	[MS_CNT_PASSING] = "passing_flows",
	[MS_CNT_FRAG_DROPPED] = "fragments_dropped",
	[MS_CNT_UNCLASSIFIABLE] = "unclassifiable",
};

void ms_api_resp_clear(struct ms_api_resp *resp)
{
	if (!resp->static_body)
		free(resp->body);
	if (resp->follow)
		ms_flow_filter_clear(&resp->filter);
	memset(resp, 0, sizeof(*resp));
}

static void set_body(struct ms_api_resp *resp, unsigned int status, const char *ct, char *body)
{
	free(resp->body);
	if (!body) {
		resp->status = 500;
		resp->content_type = NULL;
		resp->body = NULL;
		resp->len = 0;
		return;
	}
	resp->status = status;
	resp->content_type = ct;
	resp->body = body;
	resp->len = strlen(body);
}

void ms_api_error(struct ms_api_resp *resp, unsigned int status, const char *msg)
{
	cJSON *o = cJSON_CreateObject();
	char *s = NULL;

	if (o && cJSON_AddStringToObject(o, "error", msg))
		s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	set_body(resp, status, CT_JSON, s);
}

/* Answer with j (taken over), or 500 when building it ran out of memory. */
static void reply_json(struct ms_api_resp *resp, unsigned int status, cJSON *j, bool ok)
{
	char *s = ok && j ? cJSON_PrintUnformatted(j) : NULL;

	cJSON_Delete(j);
	set_body(resp, status, CT_JSON, s);
}

/* cJSON numbers are doubles; counters are written exactly instead. */
static bool add_u64(cJSON *o, const char *key, uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	return cJSON_AddRawToObject(o, key, buf) != NULL;
}

static bool add_time(cJSON *o, const char *key, uint64_t ms)
{
	char buf[MS_TIME_STRLEN];

	if (!ms)
		return cJSON_AddNullToObject(o, key) != NULL;
	return cJSON_AddStringToObject(o, key, ms_time_format_ms(ms, buf)) != NULL;
}

/* Durations to a tenth of a millisecond: more digits are noise. */
static double round_ms(double ms)
{
	return (double)(long long)(ms * 10 + 0.5) / 10;
}

static const char *action_name(uint8_t a)
{
	return a == MS_ACT_ALLOW ? "allow" : a == MS_ACT_DENY ? "deny" : "log";
}

static const char *verdict_name(uint8_t v)
{
	return v == MS_VERDICT_ALLOW ? "allow" : v == MS_VERDICT_DENY ? "deny" : "audit";
}

static const char *dir_name(uint8_t mask)
{
	return mask == MS_DIRMASK_INGRESS  ? "ingress"
	       : mask == MS_DIRMASK_EGRESS ? "egress"
					   : "any";
}

static bool add_proto(cJSON *o, const char *key, uint8_t proto)
{
	const char *n = ms_proto_name(proto);

	return n ? cJSON_AddStringToObject(o, key, n) != NULL : add_u64(o, key, proto);
}

static const char *mode_of(const struct ms_daemon *d, const struct ms_policy *p)
{
	if (p)
		return p->monitor ? "monitor" : "enforce";
	return d->mode ? d->mode : "enforce";
}

static void h_status(struct ms_daemon *d, const struct ms_api_counters *cnt,
		     struct ms_api_resp *resp)
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
	ok &= add_u64(o, "pid", (uint64_t)getpid());
	ok &= add_time(o, "started", d->started_ms);
	ok &= add_u64(o, "uptime_s", now > d->started_ms ? (now - d->started_ms) / 1000 : 0);
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
		ok &= add_u64(pol, "generation", ms_dp_generation(d->dp));
		ok &= add_u64(pol, "rules", p ? p->n_rules : 0);
		ok &= add_u64(pol, "workloads", p ? p->n_workloads : 0);
		ok &= cJSON_AddStringToObject(
			      pol, "default",
			      p && p->default_action == MS_ACT_ALLOW ? "allow" : "deny") != NULL;
		ok &= add_time(pol, "loaded", d->loaded_ms);
		ok &= add_u64(pol, "reloads_ok", d->reloads_ok);
		ok &= add_u64(pol, "reloads_failed", d->reloads_failed);
	} else {
		ok = false;
	}
	cn = cJSON_AddObjectToObject(o, "counters");
	for (int i = 0; cn && i < MS_CNT_MAX; i++) {
		uint64_t v = c[i];

		if (i == MS_CNT_EVENTS_LOST)
			v += ms_events_lost(d->ev);
		ok &= add_u64(cn, counter_names[i], v);
	}
	ok &= cn != NULL;
	ok &= add_u64(o, "sessions", ms_events_sessions(d->ev));
	ok &= add_u64(o, "sessions_max", ms_dp_session_max(d->dp));
	ok &= add_u64(o, "sessions_evicted", ms_events_evicted(d->ev));
	ok &= add_u64(o, "flows_unseen", ms_events_unseen(d->ev));
	/* The data plane's identity: the program ids change with every start
	 * (a restart really loads new programs), the pinned state may not. */
	{
		cJSON *dpo = cJSON_AddObjectToObject(o, "datapath");
		const char *pin = ms_dp_pin_path(d->dp);

		ok &= dpo != NULL;
		if (dpo) {
			ok &= add_u64(dpo, "prog_id_ingress", ms_dp_prog_id(d->dp, MS_DIR_INGRESS));
			ok &= add_u64(dpo, "prog_id_egress", ms_dp_prog_id(d->dp, MS_DIR_EGRESS));
			ok &= (pin ? cJSON_AddStringToObject(dpo, "pinned", pin)
				   : cJSON_AddNullToObject(dpo, "pinned")) != NULL;
			ok &= cJSON_AddBoolToObject(dpo, "adopted", ms_dp_adopted(d->dp)) != NULL;
		}
	}
	gr = cJSON_AddObjectToObject(o, "graph");
	if (gr && g) {
		ok &= add_u64(gr, "nodes", ms_graph_nodes(g));
		ok &= add_u64(gr, "edges", ms_graph_edges(g));
		ok &= add_u64(gr, "dropped_edges", ms_graph_dropped(g));
		ok &= add_u64(gr, "max_edges", ms_graph_max_edges(g));
	}
	ok &= gr != NULL;
	api = cJSON_AddObjectToObject(o, "api");
	if (api && cnt) {
		ok &= add_u64(api, "connections", cnt->connections);
		ok &= add_u64(api, "follow_clients", cnt->follow_clients);
		ok &= add_u64(api, "follow_dropped", cnt->follow_dropped);
		ok &= add_u64(api, "slow_cut", cnt->slow_cut);
		ok &= add_u64(api, "requests", cnt->requests);
	}
	ok &= api != NULL;
out:
	reply_json(resp, 200, o, ok);
}

static void h_policy(struct ms_daemon *d, struct ms_api_resp *resp)
{
	const struct ms_policy *p = d->ev ? ms_events_policy(d->ev) : NULL;
	uint32_t n = p ? (uint32_t)p->n_rules + 1 : 1, *order = NULL;
	uint64_t *hits = NULL;
	cJSON *o, *rules;
	bool ok;

	if (!d->dp || !p) {
		ms_api_error(resp, 503, "no policy is installed");
		return;
	}
	hits = calloc(n, sizeof(*hits));
	order = ms_policy_order(p);
	o = cJSON_CreateObject();
	ok = hits && order && o;
	if (ok && ms_dp_rule_hits(d->dp, hits, n)) {
		free(hits);
		free(order);
		cJSON_Delete(o);
		ms_api_error(resp, 503, "cannot read the rule counters");
		return;
	}
	if (!ok)
		goto out;
	ok &= cJSON_AddStringToObject(o, "path", d->policy_path) != NULL;
	ok &= add_u64(o, "generation", ms_dp_generation(d->dp));
	ok &= cJSON_AddStringToObject(o, "mode", mode_of(d, p)) != NULL;
	ok &= cJSON_AddStringToObject(o, "default",
				      p->default_action == MS_ACT_ALLOW ? "allow" : "deny") != NULL;
	ok &= add_time(o, "loaded", d->loaded_ms);
	ok &= cJSON_AddNumberToObject(o, "load_ms", round_ms(d->load_took_ms)) != NULL;
	ok &= add_u64(o, "reloads_ok", d->reloads_ok);
	ok &= add_u64(o, "reloads_failed", d->reloads_failed);
	if (d->last_reload_ms) {
		cJSON *lr = cJSON_AddObjectToObject(o, "last_reload");

		ok &= lr != NULL;
		ok &= lr && add_time(lr, "time", d->last_reload_ms);
		ok &= lr && cJSON_AddBoolToObject(lr, "ok", d->last_reload_ok) != NULL;
		ok &= lr && cJSON_AddNumberToObject(lr, "took_ms",
						    round_ms(d->last_reload_took_ms)) != NULL;
	} else {
		ok &= cJSON_AddNullToObject(o, "last_reload") != NULL;
	}
	ok &= cJSON_AddStringToObject(o, "source", d->source ? d->source : "") != NULL;
	rules = cJSON_AddArrayToObject(o, "rules");
	ok &= rules != NULL;
	for (size_t i = 0; rules && i < p->n_rules; i++) {
		const struct ms_rule *r = &p->rules[order[i] - 1];
		cJSON *ro = cJSON_CreateObject();

		if (!ro || !cJSON_AddItemToArray(rules, ro)) {
			cJSON_Delete(ro);
			ok = false;
			break;
		}
		ok &= add_u64(ro, "id", order[i]);
		ok &= cJSON_AddStringToObject(ro, "name", r->name) != NULL;
		ok &= add_u64(ro, "priority", (uint64_t)r->priority);
		ok &= cJSON_AddStringToObject(ro, "action", action_name(r->action)) != NULL;
		ok &= cJSON_AddStringToObject(ro, "direction", dir_name(r->dirmask)) != NULL;
		ok &= add_u64(ro, "hits", hits[order[i]]);
	}
	ok &= add_u64(o, "default_hits", hits[0]);
out:
	free(hits);
	free(order);
	reply_json(resp, 200, o, ok);
}

/* {"line","col","severity","message"} for each diagnostic; the message
 * without its "FILE:LINE:COL: severity: " prefix. */
static cJSON *diag_json(const struct ms_diag *dg)
{
	cJSON *a = cJSON_CreateArray();

	for (size_t i = 0; a && i < dg->n; i++) {
		const char *m = dg->msgs[i], *sev = dg->is_error[i] ? "error" : "warning";
		const char *tag = dg->is_error[i] ? "error: " : "warning: ";
		const char *at = strstr(m, tag);
		cJSON *o = cJSON_CreateObject();
		bool ok = o && cJSON_AddItemToArray(a, o);

		if (!ok) {
			cJSON_Delete(o);
			cJSON_Delete(a);
			return NULL;
		}
		ok &= add_u64(o, "line", dg->pos[i].line);
		ok &= add_u64(o, "col", dg->pos[i].col);
		ok &= cJSON_AddStringToObject(o, "severity", sev) != NULL;
		ok &= cJSON_AddStringToObject(o, "message", at ? at + strlen(tag) : m) != NULL;
		if (!ok) {
			cJSON_Delete(a);
			return NULL;
		}
	}
	return a;
}

static int replay_line(void *cls, const char *line, size_t len)
{
	cJSON *j = cJSON_ParseWithLength(line, len);
	int r = j ? ms_replay_add(cls, j, NULL) : 0;

	cJSON_Delete(j);
	return r == -ENOMEM ? r : 0;
}

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

static void check_env_of(const struct ms_daemon *d, struct check_env *env)
{
	memset(env, 0, sizeof(*env));
	env->mode = d->mode;
	env->limits = d->dp_opts.limits;
	env->ring = d->obs ? ms_observer_ring(d->obs) : NULL;
}

/* The candidate against the agent's recent flows (the ring of /v1/flows). */
static cJSON *replay_recent(const struct check_env *env, const struct ms_policy *p,
			    const struct ms_compiled *c)
{
	struct ms_flow_filter all;
	struct ms_replay *r = NULL;
	cJSON *j = NULL;
	int err = 0;

	memset(&all, 0, sizeof(all));
	ms_flow_filter_clear(&all);
	all.limit = MS_FLOW_FILTER_MAX_LIMIT;
	if (ms_replay_new(p, c, &r))
		return NULL;
	if (env->ring) {
		err = ms_flowring_query(env->ring, &all, replay_line, r);
	} else {
		for (size_t i = 0; !err && i < env->lines_len;) {
			const char *nl = memchr(env->lines + i, '\n', env->lines_len - i);
			size_t n = nl ? (size_t)(nl - env->lines) - i : env->lines_len - i;

			err = replay_line(r, env->lines + i, n);
			i += n + 1;
		}
	}
	if (!err)
		j = ms_replay_json(r, 20);
	ms_replay_free(&r);
	return j;
}

/*
 * Validate and compile text as microsegd --check does, without installing
 * it: {"ok","diagnostics","summary"}, and "replay" against the recent flows
 * when asked. NULL when out of memory.
 */
static cJSON *check_json(const struct check_env *env, const char *name, const char *text,
			 size_t len, bool replay)
{
	struct ms_diag dg = { 0 };
	struct ms_policy *p = NULL;
	struct ms_compiled *c = NULL;
	struct ms_limits lim;
	char *errmsg = NULL;
	cJSON *o = cJSON_CreateObject(), *sum, *diags;
	bool ok = o != NULL;
	int r;

	if (!ok)
		goto out;
	r = ms_policy_parse_mem(name, text ? text : "", len, &p, &dg);
	if (r == -ENOMEM) {
		ok = false;
		goto out;
	}
	if (!r) {
		if (env->mode)
			p->monitor = !strcmp(env->mode, "monitor");
		lim = env->limits;
		if (!lim.max_decision_entries)
			ms_limits_default(&lim);
		r = ms_compile(p, &lim, &c, &errmsg);
		if (r == -ENOMEM) {
			ok = false;
			goto out;
		}
		if (r)
			ms_diag_add(&dg, name, (struct ms_pos){ 0, 0 }, true, "%s",
				    errmsg ? errmsg : strerror(-r));
	}
	ok &= cJSON_AddBoolToObject(o, "ok", !r) != NULL;
	diags = diag_json(&dg);
	ok &= diags && cJSON_AddItemToObject(o, "diagnostics", diags);
	if (r) {
		ok &= cJSON_AddNullToObject(o, "summary") != NULL;
		goto out;
	}
	sum = cJSON_AddObjectToObject(o, "summary");
	ok &= sum != NULL;
	if (sum) {
		ok &= add_u64(sum, "rules", p->n_rules);
		ok &= add_u64(sum, "workloads", p->n_workloads);
		ok &= cJSON_AddStringToObject(sum, "mode", p->monitor ? "monitor" : "enforce") !=
		      NULL;
		ok &= cJSON_AddStringToObject(sum, "default",
					      p->default_action == MS_ACT_ALLOW ? "allow"
										: "deny") != NULL;
		ok &= add_u64(sum, "decision_entries", c->n_dec);
		ok &= add_u64(sum, "map_bytes", ms_compiled_bytes(c));
	}
	if (replay) {
		cJSON *rj;

		ms_compiled_index(c);
		rj = replay_recent(env, p, c);

		ok &= rj && cJSON_AddItemToObject(o, "replay", rj);
	}
out:
	free(errmsg);
	ms_compiled_free(&c);
	ms_policy_free(&p);
	ms_diag_free(&dg);
	if (!ok) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

static void h_check(struct ms_daemon *d, const struct ms_api_req *req, struct ms_api_resp *resp)
{
	const char *rp = req->arg(req->arg_cls, "replay");
	struct check_env env;
	cJSON *o;

	check_env_of(d, &env);
	o = check_json(&env, "policy", req->body, req->body_len, rp && strcmp(rp, "0"));

	reply_json(resp, 200, o, o != NULL);
}

static void h_reload(struct ms_daemon *d, struct ms_api_resp *resp)
{
	struct ms_diag dg = { 0 };
	cJSON *o, *diags;
	bool ok;
	int r;

	if (!d->dp) {
		ms_api_error(resp, 503, "the data plane is not loaded");
		return;
	}
	r = ms_daemon_reload(d, &dg);
	o = cJSON_CreateObject();
	ok = o != NULL;
	if (ok) {
		const struct ms_policy *p = ms_events_policy(d->ev);

		ok &= cJSON_AddBoolToObject(o, "ok", !r) != NULL;
		ok &= add_u64(o, "generation", ms_dp_generation(d->dp));
		ok &= add_u64(o, "rules", p ? p->n_rules : 0);
		diags = diag_json(&dg);
		ok &= diags && cJSON_AddItemToObject(o, "diagnostics", diags);
		if (r)
			ok &= cJSON_AddStringToObject(
				      o, "error",
				      r == -ENOMEM ? "out of memory"
						   : "the policy is not valid; the previous "
						     "policy stays in force") != NULL;
	}
	ms_diag_free(&dg);
	reply_json(resp, r ? (r == -ENOMEM ? 503 : 422) : 200, o, ok);
}

/* Growing text buffer for list answers built from many lines. */
struct sbuf {
	char *s;
	size_t len, cap;
	bool oom;
};

static void sb_put(struct sbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t ncap = b->cap ? b->cap : 4096;
		char *ns;

		while (ncap < b->len + n + 1)
			ncap *= 2;
		ns = realloc(b->s, ncap);
		if (!ns) {
			b->oom = true;
			return;
		}
		b->s = ns;
		b->cap = ncap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

struct flows_ctx {
	struct sbuf b;
	size_t n;
	bool ndjson;
};

static int put_line(void *cls, const char *line, size_t len)
{
	struct flows_ctx *c = cls;

	if (!c->ndjson && c->n)
		sb_put(&c->b, ",", 1);
	sb_put(&c->b, line, len);
	if (c->ndjson)
		sb_put(&c->b, "\n", 1);
	c->n++;
	return c->b.oom ? -ENOMEM : 0;
}

static void h_flows(struct ms_daemon *d, const struct ms_api_req *req, struct ms_api_resp *resp)
{
	struct flows_ctx c = { 0 };
	struct ms_flow_filter f;
	char *errmsg = NULL;
	int r;

	r = ms_flow_filter_parse(&f, req->arg, req->arg_cls, &errmsg);
	if (r) {
		ms_api_error(resp, r == -ENOMEM ? 500 : 400, errmsg ? errmsg : "out of memory");
		free(errmsg);
		ms_flow_filter_clear(&f);
		return;
	}
	c.ndjson = f.follow;
	if (!c.ndjson)
		sb_put(&c.b, "{\"flows\":[", 10);
	if (d->obs)
		ms_flowring_query(ms_observer_ring(d->obs), &f, put_line, &c);
	if (!c.ndjson)
		sb_put(&c.b, "]}", 2);
	else
		sb_put(&c.b, "", 0); /* an empty backlog is still a body */
	if (c.b.oom) {
		free(c.b.s);
		ms_flow_filter_clear(&f);
		set_body(resp, 500, NULL, NULL);
		return;
	}
	set_body(resp, 200, c.ndjson ? "application/x-ndjson" : CT_JSON, c.b.s);
	if (f.follow) {
		resp->follow = true;
		resp->filter = f;
	} else {
		ms_flow_filter_clear(&f);
	}
}

struct sess_ctx {
	struct ms_daemon *d;
	const struct ms_flow_filter *f;
	cJSON *arr;
	size_t n;
	uint64_t total;
	bool ok;
};

static const char *tcp_state(const struct ms_session *s)
{
	if (s->tcp_state & MS_TCP_RST)
		return "closed";
	if ((s->tcp_state & (MS_TCP_FIN_INIT | MS_TCP_FIN_RESP)) ==
	    (MS_TCP_FIN_INIT | MS_TCP_FIN_RESP))
		return "closed";
	if (s->tcp_state & (MS_TCP_FIN_INIT | MS_TCP_FIN_RESP))
		return "closing";
	if (s->tcp_state & MS_TCP_SEEN_REPLY)
		return "established";
	return "syn";
}

static int add_session(void *cls, const struct ms_session_key *k, const struct ms_session *s)
{
	struct sess_ctx *c = cls;
	struct ms_event_info in;
	struct ms_flowent fe;
	struct ms_event e;
	cJSON *o;
	bool ok = true;

	c->total++;
	ms_events_session_event(k, s, s->last_seen_ns, &e);
	ms_events_describe(c->d->ev, &e, &in);
	ms_observer_flowent(&in, &fe);
	fe.type = 0;
	if (!ms_flow_filter_match(c->f, &fe) || c->n >= c->f->limit)
		return 0;
	o = cJSON_CreateObject();
	if (!o || !cJSON_AddItemToArray(c->arr, o)) {
		cJSON_Delete(o);
		c->ok = false;
		return -ENOMEM;
	}
	c->n++;
	ok &= cJSON_AddStringToObject(o, "family", k->family == MS_FAMILY_IPV4 ? "ipv4" : "ipv6") !=
	      NULL;
	ok &= add_proto(o, "proto", k->proto);
	ok &= cJSON_AddStringToObject(o, "src", in.src) != NULL;
	ok &= cJSON_AddStringToObject(o, "dst", in.dst) != NULL;
	if (ms_proto_has_ports(k->proto)) {
		ok &= add_u64(o, "sport", fe.sport);
		ok &= add_u64(o, "dport", fe.dport);
	} else if (ms_proto_is_icmp(k->proto)) {
		ok &= add_u64(o, "icmp_type", s->cls_port);
	}
	ok &= cJSON_AddStringToObject(o, "direction",
				      s->direction == MS_DIR_EGRESS ? "egress" : "ingress") != NULL;
	ok &= cJSON_AddStringToObject(o, "interface", in.ifname) != NULL;
	ok &= cJSON_AddStringToObject(o, "verdict", verdict_name(s->verdict)) != NULL;
	ok &= cJSON_AddStringToObject(o, "rule", in.rule) != NULL;
	if (in.src_workload)
		ok &= cJSON_AddStringToObject(o, "src_workload", in.src_workload) != NULL;
	if (in.dst_workload)
		ok &= cJSON_AddStringToObject(o, "dst_workload", in.dst_workload) != NULL;
	ok &= cJSON_AddStringToObject(o, "state",
				      k->proto == MS_PROTO_TCP ? tcp_state(s) : "active") != NULL;
	ok &= add_u64(o, "packets", s->packets[0] + s->packets[1]);
	ok &= add_u64(o, "bytes", s->bytes[0] + s->bytes[1]);
	ok &= add_time(o, "first_seen", ms_events_real_ms(c->d->ev, s->first_seen_ns));
	ok &= add_time(o, "last_seen", ms_events_real_ms(c->d->ev, s->last_seen_ns));
	ok &= add_u64(o, "generation", s->generation);
	if (!ok) {
		c->ok = false;
		return -ENOMEM;
	}
	return 0;
}

/* GET /v1/sessions in steps: the table is read a batch at a time. */
struct sessions_req {
	struct sess_ctx c;
	struct ms_flow_filter f;
	cJSON *o;
	struct ms_session_cursor *cur;
};

static void sessions_clear(struct sessions_req *sr)
{
	cJSON_Delete(sr->o);
	cJSON_Delete(sr->c.arr);
	ms_flow_filter_clear(&sr->f);
	ms_events_sessions_close(&sr->cur);
	memset(sr, 0, sizeof(*sr));
}

/* false with resp filled when the request is refused. */
static bool sessions_begin(struct ms_daemon *d, const struct ms_api_req *req,
			   struct sessions_req *sr, struct ms_api_resp *resp)
{
	char *errmsg = NULL;
	int r;

	memset(sr, 0, sizeof(*sr));
	if (!d->dp) {
		ms_api_error(resp, 503, "the data plane is not loaded");
		return false;
	}
	r = ms_flow_filter_parse(&sr->f, req->arg, req->arg_cls, &errmsg);
	if (!r && (sr->f.event >= 0 || sr->f.since_ms || sr->f.follow)) {
		r = -EINVAL;
		errmsg = strdup("event, since and follow do not apply to sessions");
	}
	if (r) {
		ms_api_error(resp, r == -ENOMEM ? 500 : 400, errmsg ? errmsg : "out of memory");
		free(errmsg);
		ms_flow_filter_clear(&sr->f);
		return false;
	}
	sr->c = (struct sess_ctx){ .d = d, .f = &sr->f };
	sr->o = cJSON_CreateObject();
	sr->c.arr = cJSON_CreateArray();
	sr->c.ok = sr->o && sr->c.arr;
	r = ms_events_sessions_open(d->ev, &sr->cur);
	if (r) {
		sessions_clear(sr);
		ms_api_error(resp, r == -ENOMEM ? 500 : 503, "cannot read the session table");
		return false;
	}
	return true;
}

/*
 * One batch of the table; true when it is all read: then the answer is in
 * resp already (an error), or sr->o is complete for sessions_print.
 */
static bool sessions_step(struct sessions_req *sr, struct ms_api_resp *resp)
{
	int r = sr->c.ok ? ms_events_sessions_step(sr->cur, add_session, &sr->c) : 1;

	if (!r)
		return false;
	ms_events_sessions_close(&sr->cur);
	if (r < 0 && r != -ENOMEM) {
		sessions_clear(sr);
		ms_api_error(resp, 503, "cannot read the session table");
		return true;
	}
	if (sr->c.ok) {
		sr->c.ok &= add_u64(sr->o, "count", sr->c.total);
		sr->c.ok &= add_u64(sr->o, "max", ms_dp_session_max(sr->c.d->dp));
		sr->c.ok &= cJSON_AddItemToObject(sr->o, "sessions", sr->c.arr);
		sr->c.arr = NULL;
	}
	return true;
}

/* The answer from what sessions_step gathered (any thread: sr only). */
static void sessions_print(struct sessions_req *sr, struct ms_api_resp *resp)
{
	if (resp->status)
		return; /* answered by sessions_step */
	reply_json(resp, 200, sr->o, sr->c.ok);
	sr->o = NULL;
	sessions_clear(sr);
}

static void h_sessions(struct ms_daemon *d, const struct ms_api_req *req, struct ms_api_resp *resp)
{
	struct sessions_req sr;

	if (!sessions_begin(d, req, &sr, resp))
		return;
	while (!sessions_step(&sr, resp))
		;
	sessions_print(&sr, resp);
}

static void h_graph(struct ms_daemon *d, const struct ms_api_req *req, struct ms_api_resp *resp)
{
	const char *fmt = req->arg(req->arg_cls, "format");

	if (!d->obs) {
		ms_api_error(resp, 503, "no flow graph");
		return;
	}
	if (!fmt || !strcmp(fmt, "json")) {
		set_body(resp, 200, CT_JSON, ms_observer_graph_text(d->obs, d->dp ? d->ev : NULL));
	} else if (!strcmp(fmt, "dot")) {
		set_body(resp, 200, "text/vnd.graphviz; charset=utf-8",
			 ms_observer_graph_dot(d->obs, d->dp ? d->ev : NULL));
	} else {
		ms_api_error(resp, 400, "invalid format (json or dot)");
	}
}

/* What discovery found of a workload: its namespace and listeners. */
static bool add_discovered(const struct ms_daemon *d, const char *name, cJSON *wo)
{
	const struct ms_discovered *inv;
	size_t n = 0;
	cJSON *ls;
	bool ok = true;

	inv = d->disc ? ms_discovery_inventory(d->disc, &n) : NULL;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(inv[i].name, name))
			continue;
		if (inv[i].netns)
			ok &= cJSON_AddStringToObject(wo, "netns", inv[i].netns) != NULL;
		ls = cJSON_AddArrayToObject(wo, "listeners");
		ok &= ls != NULL;
		for (size_t j = 0; ls && j < inv[i].n_listeners; j++) {
			const struct ms_listener *l = &inv[i].listeners[j];
			cJSON *lo = cJSON_CreateObject();

			if (!lo || !cJSON_AddItemToArray(ls, lo)) {
				cJSON_Delete(lo);
				return false;
			}
			ok &= add_proto(lo, "proto", l->proto);
			ok &= add_u64(lo, "port", l->port);
			ok &= (l->comm ? cJSON_AddStringToObject(lo, "process", l->comm)
				       : cJSON_AddNullToObject(lo, "process")) != NULL;
		}
		break;
	}
	return ok;
}

static void h_workloads(struct ms_daemon *d, struct ms_api_resp *resp)
{
	const struct ms_policy *p = d->ev ? ms_events_policy(d->ev) : NULL;
	cJSON *o = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(o, "workloads");
	bool ok = o && arr;

	for (size_t i = 0; ok && p && i < p->n_workloads; i++) {
		const struct ms_workload *w = &p->workloads[i];
		cJSON *wo = cJSON_CreateObject(), *labels, *addrs;

		if (!wo || !cJSON_AddItemToArray(arr, wo)) {
			cJSON_Delete(wo);
			ok = false;
			break;
		}
		ok &= cJSON_AddStringToObject(wo, "name", w->name) != NULL;
		labels = cJSON_AddObjectToObject(wo, "labels");
		ok &= labels != NULL;
		for (size_t j = 0; labels && j < w->n_labels; j++)
			ok &= cJSON_AddStringToObject(labels, w->labels[j].key,
						      w->labels[j].value) != NULL;
		addrs = cJSON_AddArrayToObject(wo, "addresses");
		ok &= addrs != NULL;
		for (size_t j = 0; addrs && j < w->n_addrs; j++) {
			char buf[MS_CIDR_STRLEN];

			ok &= cJSON_AddItemToArray(
				addrs, cJSON_CreateString(ms_cidr_format(&w->addrs[j], buf)));
		}
		ok &= cJSON_AddStringToObject(wo, "source",
					      w->discovered ? "discovery" : "policy") != NULL;
		if (w->discovered)
			ok &= add_discovered(d, w->name, wo);
	}
	reply_json(resp, 200, o, ok);
}

static void h_metrics(struct ms_daemon *d, const struct ms_api_counters *cnt,
		      struct ms_api_resp *resp)
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
	set_body(resp, 200, "text/plain; version=0.0.4; charset=utf-8", s);
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
	reply_json(resp, 200, o, ok);
}

/* The query of GET /v1/suggest; false with resp filled when it is invalid. */
static bool suggest_args(const struct ms_api_req *req, struct ms_suggest_opts *so, bool *json,
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
static void suggest_reply(const struct check_env *env, int err, char *yaml, bool json,
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
		set_body(resp, 500, NULL, NULL);
	else if (json)
		suggest_json(env, yaml, resp);
	else
		set_body(resp, 200, "application/yaml; charset=utf-8", yaml);
}

static void h_suggest(struct ms_daemon *d, const struct ms_api_req *req, struct ms_api_resp *resp)
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
			set_body(resp, 500, NULL, NULL);
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
			set_body(resp, 500, NULL, NULL);
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
		set_body(resp, 500, NULL, NULL);
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
		set_body(&j->resp, 200, CT_JSON, j->text ? strdup(j->text) : NULL);
		break;
	case JOB_GRAPH_DOT:
		set_body(&j->resp, 200, "text/vnd.graphviz; charset=utf-8", ms_graph_to_dot(j->g));
		break;
	case JOB_CHECK: {
		cJSON *o = check_json(&j->env, "policy", j->body, j->body_len, j->replay);

		reply_json(&j->resp, 200, o, o != NULL);
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

static void h_history(struct ms_daemon *d, struct ms_api_resp *resp)
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
	ok &= add_u64(o, "interval_s", MS_HISTORY_INTERVAL_SEC);
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
		ok &= add_time(so, "time", t);
		for (int f = 0; f < MS_HIST_MAX; f++)
			ok &= add_u64(so, ms_history_field_name(f), v[f]);
	}
	reply_json(resp, 200, o, ok);
}

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
