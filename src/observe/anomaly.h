/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Anomalies (docs/LEARNING.md), found in the stream of flows:
 *  - scan: one source reaching at least N distinct (destination, port)
 *    pairs that were denied or audited within T seconds; reported once per
 *    source per window, whatever the number of packets or flows after.
 *  - new_edge: a flow whose edge is not in a baseline graph; reported once
 *    per edge.
 * State is bounded: a fixed table of sources, the oldest replaced when a
 * new one finds no room (counted).
 */
#ifndef MICROSEGD_ANOMALY_H
#define MICROSEGD_ANOMALY_H

#include <stdbool.h>
#include <stdint.h>

#include "graph.h"

enum ms_anomaly_kind { MS_ANOMALY_SCAN, MS_ANOMALY_NEW_EDGE, MS_ANOMALY_KINDS };

/* Sources followed for scans at once. */
#define MS_ANOMALY_SOURCES 1024

/* Called for each anomaly found: for a scan, r is the flow that completed
 * it and targets/window say what was seen. */
typedef void (*ms_anomaly_emit)(void *cls, enum ms_anomaly_kind kind, const struct ms_flowrec *r,
				unsigned int targets, unsigned int window);

struct ms_anomaly;

/* baseline (taken over; may be NULL: no new_edge detection). Returns 0 or
 * -ENOMEM. */
int ms_anomaly_new(struct ms_graph *baseline, struct ms_anomaly **out);
void ms_anomaly_free(struct ms_anomaly **a);

/* Scan thresholds (from the policy's anomaly: section). */
void ms_anomaly_set_scan(struct ms_anomaly *a, unsigned int targets, unsigned int window_s);

/*
 * Look at one flow. attempt: its first denial or audit (a would-be-denied
 * attempt, counted toward scans); r->counts: a flow counted once (checked
 * against the baseline). now_ms orders windows. Returns 0 or -ENOMEM.
 */
int ms_anomaly_observe(struct ms_anomaly *a, const struct ms_flowrec *r, bool attempt,
		       uint64_t now_ms, ms_anomaly_emit emit, void *cls);

uint64_t ms_anomaly_count(const struct ms_anomaly *a, enum ms_anomaly_kind kind);

/* The name of a kind: "scan", "new_edge". */
const char *ms_anomaly_name(enum ms_anomaly_kind kind);

#endif /* MICROSEGD_ANOMALY_H */
