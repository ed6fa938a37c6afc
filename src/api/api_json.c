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

bool api_add_proto(cJSON *o, const char *key, uint8_t proto)
{
	const char *n = ms_proto_name(proto);

	return n ? cJSON_AddStringToObject(o, key, n) != NULL : api_add_u64(o, key, proto);
}
