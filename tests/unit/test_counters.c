// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* The counters' table every renderer iterates over (include/
 * microsegd_counters.h): each counter once, a name the API and the stats
 * line can print, a Prometheus name a scraper accepts; and the words of the
 * ABI's enums both ways. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "counters.h"
#include "history.h"
#include "names.h"
#include "stats.h"
#include "testlib.h"

static bool prom_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (strncmp(s, "microsegd_", 10) || n < 16 || strcmp(s + n - 6, "_total"))
		return false;
	for (; *s; s++)
		if (!islower((unsigned char)*s) && !isdigit((unsigned char)*s) && *s != '_')
			return false;
	return true;
}

static void test_each_counter_once(void)
{
	bool seen[MS_CNT_MAX] = { false };

	for (int i = 0; i < MS_CNT_MAX; i++) {
		const struct ms_counter_desc *k = &ms_counters[i];

		REQUIRE((unsigned int)k->id < MS_CNT_MAX, "row %d: index in range", i);
		CHECK(!seen[k->id], "%s: one row", k->key);
		seen[k->id] = true;
		CHECK(k->key && *k->key && !strpbrk(k->key, " =\""), "row %d: a printable key", i);
		CHECK(!k->prom == !k->help, "%s: a help text exactly when exported", k->key);
		CHECK(!k->prom || prom_name_ok(k->prom), "%s: Prometheus name %s", k->key, k->prom);
		for (int j = 0; j < i; j++) {
			CHECK(strcmp(k->key, ms_counters[j].key), "%s: key unique", k->key);
			CHECK(!k->prom || !ms_counters[j].prom ||
				      strcmp(k->prom, ms_counters[j].prom),
			      "%s: Prometheus name unique", k->key);
		}
	}
}

static void test_stats_line_and_history_from_table(void)
{
	uint64_t c[MS_CNT_MAX], v[MS_HIST_MAX];
	char *s;

	for (int i = 0; i < MS_CNT_MAX; i++)
		c[i] = 1000 + (uint64_t)i;
	s = ms_stats_format(c, 7, 0);
	REQUIRE(s, "format");
	for (int i = 0; i < MS_CNT_MAX; i++) {
		char want[64];

		snprintf(want, sizeof(want), " %s=%d", ms_counters[i].key,
			 1000 + ms_counters[i].id);
		CHECK(!strstr(s, want) == !ms_counters[i].line, "%s in the stats line: %s",
		      ms_counters[i].key, s);
	}
	free(s);
	ms_history_from_counters(c, 7, v);
	CHECK(v[MS_HIST_REVOKED] == 1000 + MS_CNT_REVOKED, "history: revoked");
	CHECK(v[MS_HIST_SESSIONS] == 7, "history: sessions");
}

static void test_names_round_trip(void)
{
	for (int t = 0; t < 256; t++) {
		const char *n = ms_event_type_name((uint8_t)t);

		CHECK(!n || ms_event_type_parse(n) == t, "event %d", t);
		n = ms_verdict_name((uint8_t)t);
		CHECK(!n || ms_verdict_parse(n) == t, "verdict %d", t);
		n = ms_dir_name((uint8_t)t);
		CHECK(!n || ms_dir_parse(n) == t, "direction %d", t);
	}
	CHECK(!strcmp(ms_event_type_name(MS_EV_FLOW_END), "flow_end"), "flow_end");
	CHECK(ms_event_type_name(0) == NULL, "no event 0");
	CHECK(ms_verdict_parse("audit") == MS_VERDICT_AUDIT, "audit");
	CHECK(ms_verdict_parse("allowed") == -1 && ms_verdict_parse(NULL) == -1, "not verdicts");
	CHECK(!strcmp(ms_action_name(MS_ACT_LOG), "log"), "log");
	CHECK(!strcmp(ms_dirmask_name(1u << MS_DIR_INGRESS | 1u << MS_DIR_EGRESS), "any"), "any");
	CHECK(ms_dirmask_name(0) == NULL, "no directions");
}

int main(void)
{
	RUN(test_each_counter_once);
	RUN(test_stats_line_and_history_from_table);
	RUN(test_names_round_trip);
	return t_done();
}
