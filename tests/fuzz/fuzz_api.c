// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * libFuzzer target for the control API's request handlers: any method,
 * path, query string and body must get a well-formed answer (a known status;
 * valid JSON whenever the content type says JSON) without crashes, undefined
 * behaviour or leaks. The agent behind it has a policy, recent flows and a
 * flow graph, but no data plane (those endpoints answer 503).
 *
 * Input: METHOD-BYTE PATH '?' QUERY '\n' BODY
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "daemon.h"
#include "handlers.h"
#include "observer.h"
#include "policy_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char policy_text[] =
	"version: 1\n"
	"default: deny\n"
	"workloads:\n"
	"  web: {labels: {role: web}, addresses: [198.18.1.0/24]}\n"
	"  db: {labels: {role: db}, addresses: [\"2001:db8:1::/64\"]}\n"
	"rules:\n"
	"  - {name: web-db, action: allow, from: {workload: web}, to: "
	"{workload: db}, ports: [tcp/5432]}\n"
	"  - {name: no-telnet, priority: 10, action: deny, ports: [tcp/23]}\n";

static struct ms_daemon D;

static void setup(void)
{
	struct ms_observer_opts oo = { .max_edges = 64, .ring_size = 16 };
	struct ms_diag dg = { 0 };
	struct ms_policy *p = NULL;
	struct ms_event e;

	D.policy_path = "fuzz.yaml";
	if (ms_events_new("/dev/null", NULL, &D.ev) || ms_observer_new(&oo, &D.obs))
		abort();
	ms_events_set_sink(D.ev, ms_observer_sink, D.obs);
	if (ms_policy_parse_mem("fuzz.yaml", policy_text, strlen(policy_text), &p, &dg))
		abort();
	ms_diag_free(&dg);
	ms_observer_set_policy(D.obs, p);
	ms_events_set_policy(D.ev, &p, 1);
	/* A few events of each kind, so flows and the graph have content. */
	for (int i = 0; i < 40; i++) {
		memset(&e, 0, sizeof(e));
		e.type = (uint8_t)(1 + i % 5);
		e.verdict = (uint8_t)(i % 3);
		e.family = i % 2 ? MS_FAMILY_IPV6 : MS_FAMILY_IPV4;
		e.proto = i % 4 ? 6 : 1;
		e.generation = 1;
		e.rule_id = (uint32_t)(i % 3);
		e.packets[0] = (uint64_t)(i % 3);
		e.src[10] = e.src[11] = 0xff;
		e.src[12] = 198;
		e.src[13] = 18;
		e.src[14] = 1;
		e.src[15] = (uint8_t)i;
		e.dst[0] = 0x20;
		e.dst[1] = 0x01;
		e.dst[2] = 0x0d;
		e.dst[3] = 0xb8;
		e.dst[15] = (uint8_t)(i * 7);
		e.sport = (uint16_t)(40000 + i);
		e.dport = (uint16_t)(i % 2 ? 0x3815 : 0x1700);
		ms_events_write(D.ev, &e);
	}
}

struct query {
	char *s;
};

/* Look key up in "a=1&b=2" (no decoding: the server decodes before). */
static const char *arg(void *cls, const char *key)
{
	struct query *q = cls;
	size_t kl = strlen(key);
	char *p = q->s;

	while (p && *p) {
		char *amp = strchr(p, '&');
		size_t len = amp ? (size_t)(amp - p) : strlen(p);

		if (len > kl && !strncmp(p, key, kl) && p[kl] == '=') {
			static char val[256];
			size_t vl = len - kl - 1 < sizeof(val) - 1 ? len - kl - 1 : sizeof(val) - 1;

			memcpy(val, p + kl + 1, vl);
			val[vl] = '\0';
			return val;
		}
		p = amp ? amp + 1 : NULL;
	}
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const methods[] = { "GET", "POST", "PUT", "DELETE", "HEAD" };
	static const char *const paths[] = { "/v1/status", "/v1/policy",    "/v1/policy/check",
					     "/v1/reload", "/v1/flows",	    "/v1/sessions",
					     "/v1/graph",  "/v1/workloads", "/v1/suggest",
					     "/metrics",   "/v1/history",   "/",
					     "/map.js" };
	struct ms_api_counters cnt = { 0 };
	struct ms_api_resp resp;
	struct ms_api_req req = { 0 };
	struct query q = { 0 };
	char *buf, *nl, *qm, *path;

	if (!D.ev)
		setup();
	if (size < 2)
		return 0;
	buf = malloc(size + 1);
	if (!buf)
		return 0;
	memcpy(buf, data + 2, size - 2);
	buf[size - 2] = '\0';
	req.method = methods[data[0] % 5];
	/* The second byte picks a known path, or (high bit) takes it from the
	 * input. */
	path = (data[1] & 0x80) ? buf : (char *)paths[data[1] % (sizeof(paths) / sizeof(paths[0]))];
	nl = strchr(buf, '\n');
	if (nl) {
		*nl = '\0';
		req.body = nl + 1;
		req.body_len = size - 2 - (size_t)(nl + 1 - buf);
	}
	qm = strchr(buf, '?');
	if (qm) {
		*qm = '\0';
		q.s = qm + 1;
	} else if (!(data[1] & 0x80)) {
		q.s = buf;
	}
	req.path = path;
	req.arg = arg;
	req.arg_cls = &q;
	req.header = arg; /* headers from the same query string: If-None-Match= */
	req.readonly = data[1] & 0x40;
	ms_api_handle(&D, &cnt, &req, &resp);
	if (resp.status < 200 || resp.status > 599)
		abort();
	if (resp.content_type && !strcmp(resp.content_type, "application/json")) {
		cJSON *j = cJSON_ParseWithLength(resp.body, resp.len);

		if (!j)
			abort();
		cJSON_Delete(j);
	}
	ms_api_resp_clear(&resp);
	free(buf);
	return 0;
}
