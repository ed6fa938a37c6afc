/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Flow events to the flow log (DESIGN.md section 4): the classifier's
 * ring-buffer events and the daemon's own flow_end reports from sweeping the
 * session table, written as one JSON object per line.
 *
 * Rule ids in events are resolved to names with the policy of the event's
 * generation; the last MS_POLICY_HISTORY policies are kept for that, so
 * events of a policy just replaced (still in the ring buffer, or sessions
 * decided before a reload) keep their names.
 */
#ifndef MICROSEGD_EVENTS_H
#define MICROSEGD_EVENTS_H

#include <stdbool.h>
#include <stdint.h>

#include "loader.h"
#include "microsegd_abi.h"
#include "policy.h"

#define MS_POLICY_HISTORY 4

struct ms_events;

/*
 * Open the flow log at path ("-" = stdout; a file is created if needed and
 * appended to). dp may be NULL (tests): interfaces are then named "if<N>"
 * and there is no ring buffer or session table. Returns 0 or -errno.
 */
int ms_events_new(const char *path, struct ms_dp *dp, struct ms_events **out);

/* Close the flow log and the ring buffer, free the policies; sets *ev NULL. */
void ms_events_free(struct ms_events **ev);

/* Reopen the flow log file (after logrotate moved it). On failure the old
 * file stays in use and -errno is returned. No-op for stdout. */
int ms_events_reopen(struct ms_events *ev);

/*
 * Make *p, installed as generation gen, the current policy for naming rules
 * and workloads; takes ownership (sets *p to NULL). The oldest of the
 * history is freed. Returns 0 or -ENOMEM (then *p is freed anyway and the
 * events of gen show rule ids as "#N" and no workloads).
 */
int ms_events_set_policy(struct ms_events *ev, struct ms_policy **p, uint64_t gen);

/* The current policy, or NULL before the first one. */
const struct ms_policy *ms_events_policy(const struct ms_events *ev);

/*
 * Create the ring-buffer consumer on dp's events map. Returns a file
 * descriptor to wait on for readability (owned by ev), or -errno.
 */
int ms_events_ringbuf_fd(struct ms_events *ev);

/* Write every event waiting in the ring buffer. Returns the count or -errno. */
int ms_events_drain(struct ms_events *ev);

/*
 * Sweep the session table: delete sessions idle longer than
 * ms_session_timeout_ns() and report each one whose verdict is not deny as
 * flow_end. With final, delete nothing and report every session that is not
 * denied (at shutdown, so no flow goes unreported). Returns 0 or -errno.
 */
int ms_events_sweep(struct ms_events *ev, bool final);

/* Sessions in the table at the last sweep. */
uint64_t ms_events_sessions(const struct ms_events *ev);

/* Events lost in userspace: failed flow-log writes and malformed records. */
uint64_t ms_events_lost(const struct ms_events *ev);

/* Re-measure CLOCK_REALTIME - CLOCK_MONOTONIC, which a clock step changes. */
void ms_events_sync_clock(struct ms_events *ev);

/*
 * Format e as one JSON object (no newline), in the flow-log schema. Returns
 * a malloc'd string or NULL (out of memory, or an unknown event type).
 */
char *ms_event_json(struct ms_events *ev, const struct ms_event *e);

/* Format and write e to the flow log (at the end of the drain or sweep in
 * progress, if any); failures are counted as lost. */
void ms_events_write(struct ms_events *ev, const struct ms_event *e);

/*
 * Workload of addr (16 bytes, IPv4-mapped for IPv4) in policy generation gen
 * (or the current policy if gen is unknown): the one whose address contains
 * it with the longest prefix, the first in file order on a tie; NULL if none.
 */
const char *ms_events_workload(const struct ms_events *ev, uint64_t gen, const uint8_t *addr);

#endif /* MICROSEGD_EVENTS_H */
