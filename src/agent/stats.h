/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The periodic stats line (README, "Stats") and the SIGUSR1 report.
 * Counts are cumulative since the daemon started: the classifier's per-CPU
 * counters live as long as its maps, which live as long as the daemon.
 */
#ifndef MICROSEGD_STATS_H
#define MICROSEGD_STATS_H

#include <stdint.h>

#include "loader.h"
#include "microsegd_abi.h"
#include "policy.h"

/*
 * Format the stats line ("stats: allowed=N denied=N audit=N new_flows=N
 * sessions=N events_lost=N ...") from counters cnt[MS_CNT_MAX]. lost_user is
 * added to the data plane's lost events. Returns a malloc'd string or NULL.
 */
char *ms_stats_format(const uint64_t *cnt, uint64_t sessions, uint64_t lost_user);

/* Read the counters and log the stats line at info level. Returns 0 or -errno. */
int ms_stats_log(const struct ms_dp *dp, uint64_t sessions, uint64_t lost_user);

/*
 * Log, at info level, the flows each rule of p (installed as the data
 * plane's current policy) decided since it was installed, by rule name, and
 * the session table's occupancy. Returns 0 or -errno.
 */
int ms_stats_report(const struct ms_dp *dp, const struct ms_policy *p, uint64_t sessions);

/*
 * Warn when events were lost since the last call (*last holds the total seen
 * then), so losses show up in the log when they happen, not only in the next
 * stats line. Returns 0 or -errno.
 */
int ms_stats_check_lost(const struct ms_dp *dp, uint64_t lost_user, uint64_t *last);

/* Warn when frames were refused as unclassifiable since *last (their count
 * then), so that a link that carries them is noticed; updates *last. */
int ms_stats_check_unclassifiable(const struct ms_dp *dp, uint64_t *last);

/* A short STATUS= text for systemd: policy generation, rules, counts. */
char *ms_stats_status(const struct ms_dp *dp, const struct ms_policy *p, uint64_t sessions);

#endif /* MICROSEGD_STATS_H */
