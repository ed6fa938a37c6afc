// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* The commands that ask the running agent. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl.h"
#include "policy_parse.h"
#include "table.h"

const char *const ctl_filter_keys[F_MAX] = {
	[F_EVENT] = "event", [F_VERDICT] = "verdict", [F_WORKLOAD] = "workload",
	[F_IP] = "ip",	     [F_PORT] = "port",	      [F_PROTO] = "proto",
	[F_SINCE] = "since", [F_LIMIT] = "limit",
};

const char *ctl_str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

const char *ctl_text(const cJSON *o, const char *key)
{
	const char *s = ctl_str(o, key);

	return s ? s : "-";
}

const char *ctl_num(const cJSON *o, const char *key, char *buf, size_t len)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	if (cJSON_IsNumber(v))
		snprintf(buf, len, "%.0f", v->valuedouble);
	else if (cJSON_IsString(v))
		snprintf(buf, len, "%s", v->valuestring);
	else if (cJSON_IsBool(v))
		snprintf(buf, len, "%s", cJSON_IsTrue(v) ? "true" : "false");
	else
		snprintf(buf, len, "-");
	return buf;
}

int ctl_get_json(const struct ctl_opts *o, const char *path, cJSON **out, char **raw)
{
	struct ctl_resp r;
	int ret = ctl_request(&o->http, "GET", path, NULL, 0, &r);

	if (ret)
		return ret;
	if (r.status != 200) {
		ret = ctl_agent_error(&r);
		ctl_resp_free(&r);
		return ret;
	}
	*out = cJSON_Parse(r.body);
	if (!*out) {
		fprintf(stderr, "microsegctl: the agent's answer to %s is not JSON\n", path);
		ctl_resp_free(&r);
		return CTL_FAILED;
	}
	if (raw)
		*raw = r.body;
	else
		free(r.body);
	return CTL_OK;
}

/* --json: the agent's answer as is. */
static int print_raw(const struct ctl_opts *o, const char *path)
{
	cJSON *j = NULL;
	char *raw = NULL;
	int ret = ctl_get_json(o, path, &j, &raw);

	if (!ret)
		printf("%s\n", raw);
	cJSON_Delete(j);
	free(raw);
	return ret;
}

static const cJSON *obj(const cJSON *o, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(o, key);
}

int cmd_status(const struct ctl_opts *o)
{
	const cJSON *p, *c, *g, *a, *it;
	char b[8][32];
	cJSON *j = NULL;
	int ret;

	if (o->json)
		return print_raw(o, "/v1/status");
	ret = ctl_get_json(o, "/v1/status", &j, NULL);
	if (ret)
		return ret;
	p = obj(j, "policy");
	c = obj(j, "counters");
	g = obj(j, "graph");
	a = obj(j, "api");
	printf("agent:       microsegd %s, pid %s, up %s s, started %s\n", ctl_text(j, "version"),
	       ctl_num(j, "pid", b[0], 32), ctl_num(j, "uptime_s", b[1], 32),
	       ctl_text(j, "started"));
	printf("interfaces: ");
	cJSON_ArrayForEach(it, obj(j, "interfaces"))
	{
		printf(" %s", cJSON_IsString(it) ? it->valuestring : "?");
	}
	printf("\nmode:        %s\n", ctl_text(j, "mode"));
	printf("policy:      %s, generation %s, %s rules, %s workloads, default %s\n",
	       ctl_text(p, "path"), ctl_num(p, "generation", b[0], 32),
	       ctl_num(p, "rules", b[1], 32), ctl_num(p, "workloads", b[2], 32),
	       ctl_text(p, "default"));
	printf("loaded:      %s; reloads %s ok, %s failed\n", ctl_num(p, "loaded", b[0], 32),
	       ctl_num(p, "reloads_ok", b[1], 32), ctl_num(p, "reloads_failed", b[2], 32));
	printf("packets:     allowed %s, denied %s, audit %s, malformed %s (unclassifiable %s), "
	       "passthrough %s\n",
	       ctl_num(c, "allowed", b[0], 32), ctl_num(c, "denied", b[1], 32),
	       ctl_num(c, "audit", b[2], 32), ctl_num(c, "malformed", b[3], 32),
	       ctl_num(c, "unclassifiable", b[5], 32), ctl_num(c, "passthrough", b[4], 32));
	printf("flows:       classified %s, revoked %s; events lost %s\n",
	       ctl_num(c, "new_flows", b[0], 32), ctl_num(c, "revoked", b[1], 32),
	       ctl_num(c, "events_lost", b[2], 32));
	printf("sessions:    %s of %s (evicted %s, insert failures %s)\n",
	       ctl_num(j, "sessions", b[0], 32), ctl_num(j, "sessions_max", b[1], 32),
	       ctl_num(j, "sessions_evicted", b[2], 32), ctl_num(c, "session_fail", b[3], 32));
	printf("graph:       %s nodes, %s edges, %s dropped\n", ctl_num(g, "nodes", b[0], 32),
	       ctl_num(g, "edges", b[1], 32), ctl_num(g, "dropped_edges", b[2], 32));
	printf("api:         %s connections, %s followers (%s dropped)\n",
	       ctl_num(a, "connections", b[0], 32), ctl_num(a, "follow_clients", b[1], 32),
	       ctl_num(a, "follow_dropped", b[2], 32));
	cJSON_Delete(j);
	return CTL_OK;
}

/* base with the filters as its query; NULL (said) when out of memory. */
static char *filtered_path(const struct ctl_opts *o, const char *base, bool follow)
{
	char *q = NULL, *path = NULL;

	for (int i = 0; i < F_MAX; i++)
		if (o->filter[i] && ctl_query_add(&q, ctl_filter_keys[i], o->filter[i]))
			goto oom;
	if (follow && ctl_query_add(&q, "follow", "1"))
		goto oom;
	if (asprintf(&path, "%s%s", base, q ? q : "") < 0)
		goto oom;
	free(q);
	return path;
oom:
	free(q);
	fprintf(stderr, "microsegctl: out of memory\n");
	return NULL;
}

/* "198.18.0.2:40000 (web)" */
static void endpoint(char *buf, size_t len, const cJSON *f, const char *addr, const char *port,
		     const char *wl)
{
	char pb[16];
	const char *a = ctl_str(f, addr), *w = ctl_str(f, wl);
	const cJSON *pv = obj(f, port);

	if (cJSON_IsNumber(pv))
		snprintf(pb, sizeof(pb), "%s%.0f", a && strchr(a, ':') ? "." : ":",
			 pv->valuedouble);
	else
		pb[0] = '\0';
	snprintf(buf, len, "%s%s%s%s%s", a ? a : "?", pb, w ? " (" : "", w ? w : "", w ? ")" : "");
}

static void proto_text(char *buf, size_t len, const cJSON *f)
{
	char p[16], t[16], c[16];

	ctl_num(f, "proto", p, sizeof(p));
	if (obj(f, "icmp_type"))
		snprintf(buf, len, "%s %s/%s", p, ctl_num(f, "icmp_type", t, sizeof(t)),
			 ctl_num(f, "icmp_code", c, sizeof(c)));
	else
		snprintf(buf, len, "%s", p);
}

static void flow_cells(const cJSON *f, char cells[7][160])
{
	snprintf(cells[0], 160, "%s", ctl_str(f, "time") ? ctl_str(f, "time") : "-");
	snprintf(cells[1], 160, "%s", ctl_str(f, "event") ? ctl_str(f, "event") : "-");
	snprintf(cells[2], 160, "%s", ctl_str(f, "verdict") ? ctl_str(f, "verdict") : "-");
	snprintf(cells[3], 160, "%s", ctl_str(f, "rule") ? ctl_str(f, "rule") : "-");
	proto_text(cells[4], 160, f);
	endpoint(cells[5], 160, f, "src", "sport", "src_workload");
	endpoint(cells[6], 160, f, "dst", "dport", "dst_workload");
}

static const char *const flow_header[7] = { "TIME",  "EVENT",  "VERDICT",    "RULE",
					    "PROTO", "SOURCE", "DESTINATION" };

struct follow_ctx {
	bool json;
};

static int follow_line(void *cls, const char *line, size_t len)
{
	struct follow_ctx *fc = cls;
	char cells[7][160];
	cJSON *f;

	if (fc->json) {
		fwrite(line, 1, len, stdout);
		fputc('\n', stdout);
	} else {
		f = cJSON_ParseWithLength(line, len);
		if (!f)
			return 0; /* not ours to judge; keep following */
		flow_cells(f, cells);
		printf("%-24s  %-12s  %-7s  %-16s  %-10s  %-32s  %s\n", cells[0], cells[1],
		       cells[2], cells[3], cells[4], cells[5], cells[6]);
		cJSON_Delete(f);
	}
	/* A reader on the other end of a pipe gone: stop. */
	return fflush(stdout) ? 1 : 0;
}

int cmd_flows(const struct ctl_opts *o)
{
	char *path = filtered_path(o, "/v1/flows", o->follow);
	struct ctl_table t;
	cJSON *j = NULL;
	const cJSON *f;
	int ret;

	if (!path)
		return CTL_FAILED;
	if (o->follow) {
		struct follow_ctx fc = { .json = o->json };

		/* A reader of our output gone is a clean end of the stream. */
		signal(SIGPIPE, SIG_IGN);
		if (!o->json)
			printf("%-24s  %-12s  %-7s  %-16s  %-10s  %-32s  %s\n", "TIME", "EVENT",
			       "VERDICT", "RULE", "PROTO", "SOURCE", "DESTINATION");
		fflush(stdout);
		ret = ctl_stream(&o->http, path, follow_line, &fc);
		free(path);
		return ret;
	}
	if (o->json) {
		ret = print_raw(o, path);
		free(path);
		return ret;
	}
	ret = ctl_get_json(o, path, &j, NULL);
	free(path);
	if (ret)
		return ret;
	ctl_table_init(&t, 7, flow_header);
	cJSON_ArrayForEach(f, obj(j, "flows"))
	{
		char cells[7][160];
		const char *row[7];

		flow_cells(f, cells);
		for (int i = 0; i < 7; i++)
			row[i] = cells[i];
		ctl_table_row(&t, row);
	}
	ctl_table_print(&t, stdout);
	ctl_table_free(&t);
	cJSON_Delete(j);
	return CTL_OK;
}

int cmd_sessions(const struct ctl_opts *o)
{
	static const char *const header[8] = { "PROTO",	  "SOURCE", "DESTINATION", "STATE",
					       "VERDICT", "RULE",   "PACKETS",	   "BYTES" };
	char *path = filtered_path(o, "/v1/sessions", false), b[2][32];
	struct ctl_table t;
	cJSON *j = NULL;
	const cJSON *s;
	int ret;

	if (!path)
		return CTL_FAILED;
	if (o->json) {
		ret = print_raw(o, path);
		free(path);
		return ret;
	}
	ret = ctl_get_json(o, path, &j, NULL);
	free(path);
	if (ret)
		return ret;
	ctl_table_init(&t, 8, header);
	cJSON_ArrayForEach(s, obj(j, "sessions"))
	{
		char p[64], src[160], dst[160];
		const char *row[8];

		proto_text(p, sizeof(p), s);
		endpoint(src, sizeof(src), s, "src", "sport", "src_workload");
		endpoint(dst, sizeof(dst), s, "dst", "dport", "dst_workload");
		row[0] = p;
		row[1] = src;
		row[2] = dst;
		row[3] = ctl_str(s, "state");
		row[4] = ctl_str(s, "verdict");
		row[5] = ctl_str(s, "rule");
		row[6] = ctl_num(s, "packets", b[0], 32);
		row[7] = ctl_num(s, "bytes", b[1], 32);
		ctl_table_row(&t, row);
	}
	ctl_table_print(&t, stdout);
	printf("%s sessions of %s\n", ctl_num(j, "count", b[0], 32), ctl_num(j, "max", b[1], 32));
	ctl_table_free(&t);
	cJSON_Delete(j);
	return CTL_OK;
}

char *ctl_join(const cJSON *items, const char *sep, bool with_keys)
{
	char *s = NULL, *n;
	const cJSON *it;

	cJSON_ArrayForEach(it, items)
	{
		const char *v = cJSON_IsString(it) ? it->valuestring : "?";

		if (asprintf(&n, "%s%s%s%s%s", s ? s : "", s ? sep : "",
			     with_keys ? it->string : "", with_keys ? "=" : "", v) < 0) {
			free(s);
			return NULL;
		}
		free(s);
		s = n;
	}
	return s ? s : strdup("-");
}

int cmd_workloads(const struct ctl_opts *o)
{
	static const char *const header[4] = { "NAME", "SOURCE", "LABELS", "ADDRESSES" };
	struct ctl_table t;
	cJSON *j = NULL;
	const cJSON *w;
	int ret;

	if (o->json)
		return print_raw(o, "/v1/workloads");
	ret = ctl_get_json(o, "/v1/workloads", &j, NULL);
	if (ret)
		return ret;
	ctl_table_init(&t, 4, header);
	cJSON_ArrayForEach(w, obj(j, "workloads"))
	{
		char *labels = ctl_join(obj(w, "labels"), ",", true);
		char *addrs = ctl_join(obj(w, "addresses"), " ", false);
		const char *row[4] = { ctl_str(w, "name"), ctl_str(w, "source"), labels, addrs };

		ctl_table_row(&t, row);
		free(labels);
		free(addrs);
	}
	ctl_table_print(&t, stdout);
	ctl_table_free(&t);
	cJSON_Delete(j);
	return CTL_OK;
}

static void print_diags(const cJSON *diags, const char *file)
{
	const cJSON *d;

	cJSON_ArrayForEach(d, diags)
	{
		char l[16], c[16];

		ctl_num(d, "line", l, sizeof(l));
		ctl_num(d, "col", c, sizeof(c));
		if (strcmp(l, "0"))
			fprintf(stderr, "%s:%s:%s: %s: %s\n", file, l, c, ctl_text(d, "severity"),
				ctl_text(d, "message"));
		else
			fprintf(stderr, "%s: %s: %s\n", file, ctl_text(d, "severity"),
				ctl_text(d, "message"));
	}
}

int cmd_check(const struct ctl_opts *o)
{
	const char *file = o->args[0];
	struct ctl_resp r;
	char *buf = NULL, b[4][32];
	size_t len = 0;
	cJSON *j;
	int ret, err;

	err = ms_policy_read_file(file, &buf, &len);
	if (err) {
		fprintf(stderr, "microsegctl: cannot read %s: %s\n", file, strerror(-err));
		return CTL_FAILED;
	}
	ret = ctl_request(&o->http, "POST", "/v1/policy/check", buf, len, &r);
	free(buf);
	if (ret)
		return ret;
	if (r.status != 200) {
		ret = ctl_agent_error(&r);
		ctl_resp_free(&r);
		return ret;
	}
	j = cJSON_Parse(r.body);
	if (!j) {
		fprintf(stderr, "microsegctl: the agent's answer is not JSON\n");
		ctl_resp_free(&r);
		return CTL_FAILED;
	}
	if (o->json)
		printf("%s\n", r.body);
	else
		print_diags(obj(j, "diagnostics"), file);
	ret = cJSON_IsTrue(obj(j, "ok")) ? CTL_OK : CTL_FAILED;
	if (!o->json && !ret) {
		const cJSON *s = obj(j, "summary");

		printf("%s: policy OK: %s rules, %s workloads, mode %s, default %s, %s decision "
		       "entries (%s bytes)\n",
		       file, ctl_num(s, "rules", b[0], 32), ctl_num(s, "workloads", b[1], 32),
		       ctl_text(s, "mode"), ctl_text(s, "default"),
		       ctl_num(s, "decision_entries", b[2], 32), ctl_num(s, "map_bytes", b[3], 32));
	} else if (!o->json) {
		fprintf(stderr, "%s: policy not valid\n", file);
	}
	cJSON_Delete(j);
	ctl_resp_free(&r);
	return ret;
}

int cmd_reload(const struct ctl_opts *o)
{
	struct ctl_resp r;
	char b[2][32];
	cJSON *j;
	int ret = ctl_request(&o->http, "POST", "/v1/reload", NULL, 0, &r);

	if (ret)
		return ret;
	j = cJSON_Parse(r.body);
	if (!j || !obj(j, "ok")) {
		ret = ctl_agent_error(&r);
		cJSON_Delete(j);
		ctl_resp_free(&r);
		return ret;
	}
	ret = cJSON_IsTrue(obj(j, "ok")) ? CTL_OK : CTL_FAILED;
	if (o->json) {
		printf("%s\n", r.body);
	} else {
		print_diags(obj(j, "diagnostics"), "policy");
		if (!ret)
			printf("policy reloaded: generation %s, %s rules\n",
			       ctl_num(j, "generation", b[0], 32), ctl_num(j, "rules", b[1], 32));
		else
			fprintf(stderr, "reload failed: %s (generation %s stays in force)\n",
				ctl_str(j, "error") ? ctl_str(j, "error") : "",
				ctl_num(j, "generation", b[0], 32));
	}
	cJSON_Delete(j);
	ctl_resp_free(&r);
	return ret;
}

/* A text answer (metrics, suggested YAML) printed as is. */
static int print_text(const struct ctl_opts *o, const char *path)
{
	struct ctl_resp r;
	int ret = ctl_request(&o->http, "GET", path, NULL, 0, &r);

	if (ret)
		return ret;
	if (r.status != 200)
		ret = ctl_agent_error(&r);
	else
		fputs(r.body, stdout);
	ctl_resp_free(&r);
	return ret;
}

int cmd_metrics(const struct ctl_opts *o)
{
	return print_text(o, "/metrics");
}

int ctl_print_text(const struct ctl_opts *o, const char *path)
{
	return print_text(o, path);
}

int cmd_version(const struct ctl_opts *o)
{
	cJSON *j = NULL, *out;
	char *text;
	int ret;

	if (!o->json)
		printf("microsegctl %s\n", MS_VERSION);
	fflush(stdout);
	ret = ctl_get_json(o, "/v1/status", &j, NULL);
	if (!o->json) {
		if (!ret)
			printf("microsegd %s (agent at %s)\n", ctl_text(j, "version"),
			       o->http.socket);
		cJSON_Delete(j);
		return ret;
	}
	out = cJSON_CreateObject();
	if (out && cJSON_AddStringToObject(out, "microsegctl", MS_VERSION) &&
	    (ret ? cJSON_AddNullToObject(out, "microsegd") != NULL
		 : cJSON_AddStringToObject(out, "microsegd", ctl_text(j, "version")) != NULL) &&
	    (text = cJSON_PrintUnformatted(out))) {
		printf("%s\n", text);
		free(text);
	} else {
		fprintf(stderr, "microsegctl: out of memory\n");
		ret = CTL_FAILED;
	}
	cJSON_Delete(out);
	cJSON_Delete(j);
	return ret;
}
