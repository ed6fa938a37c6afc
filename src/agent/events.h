/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Flow events to the flow log (README, "The flow log"): the classifier's
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

#include <cjson/cJSON.h>

#include "loader.h"
#include "microsegd_abi.h"
#include "policy.h"

#define MS_POLICY_HISTORY 4

struct ms_events;

/* An event with the names the flow log gives it. */
struct ms_event_info {
	const struct ms_event *e;
	uint64_t time_ms; /* Unix time of the event */
	const char *rule; /* rule name, "default", or "#N" for an unknown id */
	const char *ifname;
	const char *src_workload; /* NULL: none */
	const char *dst_workload;
	/* The local process's unit (or cgroup path) and command, NULL when
	 * unknown; for the src (local_is_src) or the dst. */
	const char *unit, *process;
	bool local_is_src;
	char src[46]; /* addresses in inet_ntop form */
	char dst[46];
	bool repeat; /* a repeat report of a denial already reported */
	/* Changes with every policy change of ev: the names of two events of
	 * the same generation and addresses are the same while it does not. */
	uint64_t names_epoch;
	const char *line; /* the flow-log line (no newline); NULL if it could not be made */
	size_t len;
	char rule_buf[16];
};

/*
 * Called for every event written (with its line) and every event whose line
 * could not be made (line NULL); the daemon feeds the flow graph and the
 * API's ring of recent flows from here. Must not write events itself.
 */
typedef void (*ms_event_sink)(void *cls, const struct ms_event_info *in);

struct ms_cgroups;
/* Name the local process of each flow through cg (NULL: do not). */
void ms_events_set_cgroups(struct ms_events *ev, struct ms_cgroups *cg);
void ms_events_set_sink(struct ms_events *ev, ms_event_sink fn, void *cls);

/* Fill in the names of e; strings point into in, ev's policies and dp. They
 * stay valid until the next policy change. */
void ms_events_describe(struct ms_events *ev, const struct ms_event *e, struct ms_event_info *in);

/* The flow_end event of a session, as of now (CLOCK_MONOTONIC ns). */
void ms_events_session_event(const struct ms_session_key *k, const struct ms_session *s,
			     uint64_t now, struct ms_event *e);

/* The session key of a flow_end or flow_revoked event of the classifier:
 * the inverse of ms_events_session_event. */
void ms_events_event_key(const struct ms_event *e, struct ms_session_key *k);

/* Unix milliseconds of a CLOCK_MONOTONIC time of the classifier. */
uint64_t ms_events_real_ms(const struct ms_events *ev, uint64_t mono_ns);

/*
 * Call fn for each session in the table, read now in batches; stops at and
 * returns fn's first non-zero value. Returns 0 or -errno.
 */
int ms_events_for_each_session(struct ms_events *ev,
			       int (*fn)(void *cls, const struct ms_session_key *k,
					 const struct ms_session *s),
			       void *cls);

/*
 * The same in steps, for a reader that must not hold the loop: each step
 * reads one batch (a few hundred sessions) and calls fn on them; returns 0
 * while there is more, 1 at the end, or fn's value or -errno. The cursor
 * must not outlive ev.
 */
struct ms_session_cursor;
int ms_events_sessions_open(struct ms_events *ev, struct ms_session_cursor **c);
int ms_events_sessions_step(struct ms_session_cursor *c,
			    int (*fn)(void *cls, const struct ms_session_key *k,
				      const struct ms_session *s),
			    void *cls);
void ms_events_sessions_close(struct ms_session_cursor **c);

/*
 * Call fn for each session that passes traffic as the last sweep saw it
 * (its counts then), less those the classifier ended or revoked since:
 * the open flows, without reading the table. fn must not write events.
 */
typedef void (*ms_events_open_fn)(void *cls, const struct ms_session_key *k,
				  const struct ms_session *s);
void ms_events_for_each_open(struct ms_events *ev, ms_events_open_fn fn, void *cls);
/* How many there are. */
size_t ms_events_open_count(const struct ms_events *ev);

/* Write a line of the daemon's own (an anomaly) to the flow log, in order
 * with the events; lost lines are counted. */
void ms_events_write_line(struct ms_events *ev, const char *line);

/* A CLOCK_MONOTONIC time as the flow log writes times. Returns buf. */
char *ms_events_time(struct ms_events *ev, uint64_t mono_ns, char *buf, size_t len);

/* Allowed sessions the kernel evicted from a full table, reported as
 * flow_end with the counts of the sweep before. */
uint64_t ms_events_evicted(const struct ms_events *ev);

/* Passing flows that ended without the daemon seeing them end (begun and
 * evicted between two sweeps, or their flow_end lost): an estimate from
 * below, updated at each sweep. */
uint64_t ms_events_unseen(const struct ms_events *ev);

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
 * Write at most max waiting events (0: every one). The event loop drains in
 * slices, so a flood of events never holds up the API or the timers for
 * long; the ring buffer's fd stays readable while events wait. Returns the
 * count or -errno.
 */
int ms_events_drain_some(struct ms_events *ev, unsigned int max);

/*
 * Sweep the session table: delete sessions idle longer than
 * ms_session_timeout_ns() and report each one whose verdict is not deny as
 * flow_end. With final, delete nothing and report every session that is not
 * denied (at shutdown, so no flow goes unreported). Returns 0 or -errno.
 */
int ms_events_sweep(struct ms_events *ev, bool final);

/*
 * The same sweep (not final) in steps, for the event loop: a full table
 * under load is seconds of work, and the API and the ring buffer are served
 * between steps. ms_events_sweep_start begins one unless one is under way
 * (0 or -errno); ms_events_sweep_step does the next step of at most a
 * few hundred sessions and returns 1 while there is more, 0 when the sweep is
 * complete (or none is under way), or -errno (the sweep is abandoned; the
 * next one starts over). ms_events_sweep gives a sweep under way up and
 * does a whole one.
 */
int ms_events_sweep_start(struct ms_events *ev);
int ms_events_sweep_step(struct ms_events *ev);
bool ms_events_sweeping(const struct ms_events *ev);

/* Sweeps completed so far. */
uint64_t ms_events_sweeps(const struct ms_events *ev);

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

/* The line of a described event as a cJSON object, built the way the flow
 * log was first printed: the reference that the hand-written printer
 * (flowline.h) must match byte for byte. NULL: out of memory or an unknown
 * event type. */
cJSON *ms_event_info_cjson(struct ms_events *ev, const struct ms_event_info *in);

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
