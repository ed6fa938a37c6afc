// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "counters.h"
#include "log.h"
#include "stats.h"

char *ms_stats_format(const uint64_t *cnt, uint64_t sessions, uint64_t lost_user)
{
	char *s = NULL;
	size_t len;
	FILE *f = open_memstream(&s, &len);

	if (!f)
		return NULL;
	fputs("stats:", f);
	for (int i = 0; i < MS_CNT_MAX; i++) {
		const struct ms_counter_desc *k = &ms_counters[i];

		if (!k->line)
			continue;
		fprintf(f, " %s=%" PRIu64, k->key,
			cnt[k->id] + (k->id == MS_CNT_EVENTS_LOST ? lost_user : 0));
		/* The session count, no counter, has its place after new_flows. */
		if (k->id == MS_CNT_NEW_FLOWS)
			fprintf(f, " sessions=%" PRIu64, sessions);
	}
	if (fclose(f) || !s) {
		free(s);
		return NULL;
	}
	return s;
}

int ms_stats_log(const struct ms_dp *dp, uint64_t sessions, uint64_t lost_user)
{
	uint64_t cnt[MS_CNT_MAX];
	char *line;
	int err;

	err = ms_dp_counters(dp, cnt);
	if (err)
		return err;
	line = ms_stats_format(cnt, sessions, lost_user);
	if (!line)
		return -ENOMEM;
	log_info("%s", line);
	free(line);
	return 0;
}

int ms_stats_report(const struct ms_dp *dp, const struct ms_policy *p, uint64_t sessions)
{
	uint32_t n = (uint32_t)(p ? p->n_rules + 1 : 1);
	uint32_t max = ms_dp_session_max(dp);
	uint64_t *hits = calloc(n, sizeof(*hits));
	int err;

	if (!hits)
		return -ENOMEM;
	err = ms_dp_rule_hits(dp, hits, n);
	if (err)
		goto out;
	log_info("rule hits: flows decided by each rule of policy generation %" PRIu64
		 " since it was installed",
		 ms_dp_generation(dp));
	for (uint32_t i = 1; i < n; i++)
		log_info("rule hits: rule=%s hits=%" PRIu64, p->rules[i - 1].name, hits[i]);
	log_info("rule hits: rule=default hits=%" PRIu64, hits[0]);
	log_info("sessions: %" PRIu64 " of %" PRIu32 " (%.1f%%)", sessions, max,
		 max ? 100.0 * (double)sessions / max : 0.0);
out:
	free(hits);
	return err;
}

int ms_stats_check_lost(const struct ms_dp *dp, uint64_t lost_user, uint64_t *last)
{
	uint64_t cnt[MS_CNT_MAX], total;
	int err = ms_dp_counters(dp, cnt);

	if (err)
		return err;
	total = cnt[MS_CNT_EVENTS_LOST] + lost_user;
	if (total > *last)
		log_warn("%" PRIu64 " flow events lost (%" PRIu64
			 " in all): the ring buffer was full "
			 "(see --ringbuf-size) or the flow log could not be written",
			 total - *last, total);
	*last = total;
	return 0;
}

int ms_stats_check_unclassifiable(const struct ms_dp *dp, uint64_t *last)
{
	uint64_t cnt[MS_CNT_MAX];
	int err = ms_dp_counters(dp, cnt);

	if (err)
		return err;
	if (cnt[MS_CNT_UNCLASSIFIABLE] > *last)
		log_warn("%" PRIu64 " frames the classifier could not follow to an IP header "
			 "(%" PRIu64 " in all): more VLAN tags than it parses, MPLS, PPPoE or an "
			 "unknown ethertype; dropped (passed in monitor mode)",
			 cnt[MS_CNT_UNCLASSIFIABLE] - *last, cnt[MS_CNT_UNCLASSIFIABLE]);
	*last = cnt[MS_CNT_UNCLASSIFIABLE];
	return 0;
}

char *ms_stats_status(const struct ms_dp *dp, const struct ms_policy *p, uint64_t sessions)
{
	uint64_t cnt[MS_CNT_MAX] = { 0 };
	char *s = NULL;

	if (ms_dp_counters(dp, cnt))
		memset(cnt, 0, sizeof(cnt));
	if (asprintf(&s,
		     "%s policy generation %" PRIu64 " (%zu rules); %" PRIu64 " sessions, %" PRIu64
		     " packets allowed, %" PRIu64 " denied",
		     p && p->monitor ? "Monitoring with" : "Enforcing", ms_dp_generation(dp),
		     p ? p->n_rules : 0, sessions, cnt[MS_CNT_ALLOWED] + cnt[MS_CNT_AUDIT],
		     cnt[MS_CNT_DENIED]) < 0)
		return NULL;
	return s;
}
