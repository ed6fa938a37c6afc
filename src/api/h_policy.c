// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "handlers_internal.h"
#include "names.h"
#include "observer.h"
#include "replay.h"

void h_policy(struct ms_daemon *d, struct ms_api_resp *resp)
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
	ok &= api_add_u64(o, "generation", ms_dp_generation(d->dp));
	ok &= cJSON_AddStringToObject(o, "mode", mode_of(d, p)) != NULL;
	ok &= cJSON_AddStringToObject(o, "default",
				      p->default_action == MS_ACT_ALLOW ? "allow" : "deny") != NULL;
	ok &= api_add_time(o, "loaded", d->loaded_ms);
	ok &= cJSON_AddNumberToObject(o, "load_ms", api_round_ms(d->load_took_ms)) != NULL;
	ok &= api_add_u64(o, "reloads_ok", d->reloads_ok);
	ok &= api_add_u64(o, "reloads_failed", d->reloads_failed);
	if (d->last_reload_ms) {
		cJSON *lr = cJSON_AddObjectToObject(o, "last_reload");

		ok &= lr != NULL;
		ok &= lr && api_add_time(lr, "time", d->last_reload_ms);
		ok &= lr && cJSON_AddBoolToObject(lr, "ok", d->last_reload_ok) != NULL;
		ok &= lr && cJSON_AddNumberToObject(lr, "took_ms",
						    api_round_ms(d->last_reload_took_ms)) != NULL;
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
		ok &= api_add_u64(ro, "id", order[i]);
		ok &= cJSON_AddStringToObject(ro, "name", r->name) != NULL;
		ok &= api_add_u64(ro, "priority", (uint64_t)r->priority);
		ok &= cJSON_AddStringToObject(ro, "action", ms_action_name(r->action)) != NULL;
		ok &= cJSON_AddStringToObject(ro, "direction", ms_dirmask_name(r->dirmask)) != NULL;
		ok &= api_add_u64(ro, "hits", hits[order[i]]);
	}
	ok &= api_add_u64(o, "default_hits", hits[0]);
out:
	free(hits);
	free(order);
	ms_api_reply_json(resp, 200, o, ok);
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
		ok &= api_add_u64(o, "line", dg->pos[i].line);
		ok &= api_add_u64(o, "col", dg->pos[i].col);
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

void check_env_of(const struct ms_daemon *d, struct check_env *env)
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
cJSON *check_json(const struct check_env *env, const char *name, const char *text, size_t len,
		  bool replay)
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
		ok &= api_add_u64(sum, "rules", p->n_rules);
		ok &= api_add_u64(sum, "workloads", p->n_workloads);
		ok &= cJSON_AddStringToObject(sum, "mode", p->monitor ? "monitor" : "enforce") !=
		      NULL;
		ok &= cJSON_AddStringToObject(sum, "default",
					      p->default_action == MS_ACT_ALLOW ? "allow"
										: "deny") != NULL;
		ok &= api_add_u64(sum, "decision_entries", c->n_dec);
		ok &= api_add_u64(sum, "map_bytes", ms_compiled_bytes(c));
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

void h_check(struct ms_daemon *d, const struct ms_api_req *req, struct ms_api_resp *resp)
{
	const char *rp = req->arg(req->arg_cls, "replay");
	struct check_env env;
	cJSON *o;

	check_env_of(d, &env);
	o = check_json(&env, "policy", req->body, req->body_len, rp && strcmp(rp, "0"));

	ms_api_reply_json(resp, 200, o, o != NULL);
}

void h_reload(struct ms_daemon *d, struct ms_api_resp *resp)
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
		ok &= api_add_u64(o, "generation", ms_dp_generation(d->dp));
		ok &= api_add_u64(o, "rules", p ? p->n_rules : 0);
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
	ms_api_reply_json(resp, r ? (r == -ENOMEM ? 503 : 422) : 200, o, ok);
}
