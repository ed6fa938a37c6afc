// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* Reading JSON numbers and protocols exactly, and one flow-log line
 * decoded into a flow record. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "graph_int.h"
#include "microsegd_abi.h"
#include "names.h"
#include "proto.h"
#include "timefmt.h"

int graph_err_msg(char **errmsg, const char *what)
{
	if (errmsg)
		*errmsg = strdup(what);
	return -EINVAL;
}

/* A JSON number that is a whole number in [0, 2^64). cJSON holds numbers
 * as doubles, and converting one out of range to an integer is undefined:
 * flow logs come from anywhere. Counts round-trip exactly up to 2^53, far
 * beyond any edge's. */
static int num_u64(const cJSON *v, uint64_t *out)
{
	double d;
	uint64_t u;

	if (!cJSON_IsNumber(v))
		return -EINVAL;
	d = v->valuedouble;
	if (!(d >= 0 && d < 18446744073709551616.0))
		return -EINVAL;
	u = (uint64_t)d;
	if ((double)u != d)
		return -EINVAL;
	*out = u;
	return 0;
}

int graph_get_u64(const cJSON *o, const char *key, uint64_t *out)
{
	return num_u64(cJSON_GetObjectItemCaseSensitive(o, key), out);
}

/* A protocol as a name or a number 0-255; -1 if neither. */
int graph_get_proto(const cJSON *v)
{
	uint64_t n;

	if (cJSON_IsString(v))
		return ms_proto_parse(v->valuestring);
	if (!num_u64(v, &n) && n <= 255)
		return (int)n;
	return -1;
}

int graph_get_time(const cJSON *o, const char *key, uint64_t *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? ms_time_parse_ms(v->valuestring, out) : -EINVAL;
}

int ms_flowrec_from_json(const cJSON *j, struct ms_flowrec *r, char **errmsg)
{
	const cJSON *ev = cJSON_GetObjectItemCaseSensitive(j, "event");
	const cJSON *v;
	const char *e;
	int p;
	uint64_t n;

	if (errmsg)
		*errmsg = NULL;
	memset(r, 0, sizeof(*r));
	if (!cJSON_IsObject(j) || !cJSON_IsString(ev))
		return graph_err_msg(errmsg, "not a flow-log event (no \"event\")");
	e = ev->valuestring;
	if (ms_event_type_parse(e) < 0)
		return 0;
	v = cJSON_GetObjectItemCaseSensitive(j, "verdict");
	if (!cJSON_IsString(v))
		return graph_err_msg(errmsg, "missing \"verdict\"");
	p = ms_verdict_parse(v->valuestring);
	if (p < 0)
		return graph_err_msg(errmsg, "invalid \"verdict\"");
	r->verdict = (uint8_t)p;
	p = graph_get_proto(cJSON_GetObjectItemCaseSensitive(j, "proto"));
	if (p < 0)
		return graph_err_msg(errmsg, "missing or invalid \"proto\"");
	r->proto = (uint8_t)p;
	v = cJSON_GetObjectItemCaseSensitive(j, "time");
	if (!cJSON_IsString(v) || ms_time_parse_ms(v->valuestring, &r->time_ms))
		return graph_err_msg(errmsg, "missing or invalid \"time\"");
	v = cJSON_GetObjectItemCaseSensitive(j, "src");
	if (!cJSON_IsString(v))
		return graph_err_msg(errmsg, "missing \"src\"");
	r->src = v->valuestring;
	v = cJSON_GetObjectItemCaseSensitive(j, "dst");
	if (!cJSON_IsString(v))
		return graph_err_msg(errmsg, "missing \"dst\"");
	r->dst = v->valuestring;
	v = cJSON_GetObjectItemCaseSensitive(j, "src_workload");
	r->src_workload = cJSON_IsString(v) ? v->valuestring : NULL;
	v = cJSON_GetObjectItemCaseSensitive(j, "dst_workload");
	r->dst_workload = cJSON_IsString(v) ? v->valuestring : NULL;
	v = cJSON_GetObjectItemCaseSensitive(j, "rule");
	r->rule = cJSON_IsString(v) ? v->valuestring : NULL;
	if (ms_proto_has_ports(r->proto)) {
		if (graph_get_u64(j, "dport", &n) || n > 65535)
			return graph_err_msg(errmsg, "missing or invalid \"dport\"");
		r->port = (uint16_t)n;
	} else if (ms_proto_is_icmp(r->proto)) {
		if (graph_get_u64(j, "icmp_type", &n) || n > 255)
			return graph_err_msg(errmsg, "missing or invalid \"icmp_type\"");
		r->port = (uint16_t)n;
	}
	if (!strcmp(e, "flow_end")) {
		r->counts = r->verdict != MS_VERDICT_DENY;
		if (graph_get_u64(j, "packets", &r->packets) ||
		    graph_get_u64(j, "bytes", &r->bytes))
			return graph_err_msg(errmsg, "flow_end without \"packets\" or \"bytes\"");
	} else if (!strcmp(e, "flow_deny")) {
		r->counts = !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "repeat"));
	} else if (!strcmp(e, "flow_revoked")) {
		r->counts = true;
		r->verdict = MS_VERDICT_DENY;
	}
	return 1;
}
