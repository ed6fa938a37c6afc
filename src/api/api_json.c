// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>

#include "handlers_internal.h"
#include "proto.h"
#include "timefmt.h"

/* cJSON numbers are doubles; counters are written exactly instead. */
bool api_add_u64(cJSON *o, const char *key, uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	return cJSON_AddRawToObject(o, key, buf) != NULL;
}

bool api_add_time(cJSON *o, const char *key, uint64_t ms)
{
	char buf[MS_TIME_STRLEN];

	if (!ms)
		return cJSON_AddNullToObject(o, key) != NULL;
	return cJSON_AddStringToObject(o, key, ms_time_format_ms(ms, buf)) != NULL;
}

/* Durations to a tenth of a millisecond: more digits are noise. */
double api_round_ms(double ms)
{
	return (double)(long long)(ms * 10 + 0.5) / 10;
}

const char *api_action_name(uint8_t a)
{
	return a == MS_ACT_ALLOW ? "allow" : a == MS_ACT_DENY ? "deny" : "log";
}

const char *api_verdict_name(uint8_t v)
{
	return v == MS_VERDICT_ALLOW ? "allow" : v == MS_VERDICT_DENY ? "deny" : "audit";
}

const char *api_dir_name(uint8_t mask)
{
	return mask == MS_DIRMASK_INGRESS  ? "ingress"
	       : mask == MS_DIRMASK_EGRESS ? "egress"
					   : "any";
}

bool api_add_proto(cJSON *o, const char *key, uint8_t proto)
{
	const char *n = ms_proto_name(proto);

	return n ? cJSON_AddStringToObject(o, key, n) != NULL : api_add_u64(o, key, proto);
}
