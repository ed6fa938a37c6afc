/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The agent's recent counters, for the console's charts (GET /v1/history):
 * a ring of samples taken every few seconds, so a page opened now shows the
 * last minutes at once instead of starting from nothing.
 */
#ifndef MICROSEGD_HISTORY_H
#define MICROSEGD_HISTORY_H

#include <stddef.h>
#include <stdint.h>

#include "microsegd_abi.h"

#define MS_HISTORY_INTERVAL_SEC 5
#define MS_HISTORY_SAMPLES 180 /* 15 minutes at 5 s */

/* What one sample holds: cumulative counts since the agent started (the
 * counters whose row in microsegd_counters.h says CHART), and the session
 * table's occupancy then. */
#define MS_HIST_FIELD_(name, idx, key, line, chart, ...) MS_CNT_IF_##chart(MS_HIST_##name, )
enum ms_history_field {
	MS_COUNTERS(MS_HIST_FIELD_) MS_HIST_SESSIONS,
	MS_HIST_MAX,
};

/* One sample's values from the counters c (the daemon's own losses already
 * added to events_lost) and the session count. */
void ms_history_from_counters(const uint64_t c[MS_CNT_MAX], uint64_t sessions,
			      uint64_t v[MS_HIST_MAX]);

/* The field's name in the API. */
const char *ms_history_field_name(enum ms_history_field f);

struct ms_history;

/* A ring of cap samples. Returns 0 or -ENOMEM. */
int ms_history_new(size_t cap, struct ms_history **out);
void ms_history_free(struct ms_history **h);

/* Remember one sample taken at time_ms (Unix ms); the oldest is forgotten
 * when the ring is full. */
void ms_history_add(struct ms_history *h, uint64_t time_ms, const uint64_t v[MS_HIST_MAX]);

/* Samples held now. */
size_t ms_history_len(const struct ms_history *h);

/* Sample i, 0 the oldest; its values in v. Returns its time. i must be
 * below ms_history_len. */
uint64_t ms_history_get(const struct ms_history *h, size_t i, uint64_t v[MS_HIST_MAX]);

#endif /* MICROSEGD_HISTORY_H */
