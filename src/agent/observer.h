/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * What the agent has seen: every flow event goes through here (as the flow
 * log's sink) into the flow graph, the ring of recent flows that GET
 * /v1/flows reads, the per-verdict flow counters and the API's follow
 * streams. The graph persists in the state directory.
 *
 * One count per flow: a flow is counted when it ends (allowed and audited
 * flows, whose sessions end or are evicted), when it is first denied, or
 * when it is revoked; repeat reports of a denial only move last_seen.
 */
#ifndef MICROSEGD_OBSERVER_H
#define MICROSEGD_OBSERVER_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "anomaly.h"
#include "events.h"
#include "flowring.h"
#include "graph.h"
#include "policy.h"

/* Seconds between saves of the graph. */
#define MS_GRAPH_SAVE_SEC 60

struct ms_observer_opts {
	const char *state_dir; /* NULL: nothing persisted */
	size_t max_edges;
	size_t ring_size;
};

struct ms_observer;

/*
 * Create the observer and load the graph saved in o->state_dir (creating
 * the directory if needed). A corrupt graph file is renamed aside with a
 * warning; an unusable state directory is warned about and the agent runs
 * without persistence. Returns 0 or -ENOMEM.
 */
int ms_observer_new(const struct ms_observer_opts *o, struct ms_observer **out);

/* Save the graph (if persisting) and free everything; sets *o NULL. */
void ms_observer_free(struct ms_observer **o);

/* The sink for ms_events_set_sink (cls is the observer). */
void ms_observer_sink(void *cls, const struct ms_event_info *in);

/* Workloads (names, labels, addresses) for the graph's nodes. */
void ms_observer_set_policy(struct ms_observer *o, const struct ms_policy *p);

/* Find anomalies in the flows (a taken over), reported as "anomaly" lines of
 * ev's flow log and warnings in the log. */
void ms_observer_set_anomaly(struct ms_observer *o, struct ms_anomaly *a, struct ms_events *ev);

/* Anomalies reported so far, by kind. */
uint64_t ms_observer_anomalies(const struct ms_observer *o, enum ms_anomaly_kind kind);

/* Who to tell about each new event (the API's follow streams). */
typedef void (*ms_observer_publish_fn)(void *cls, const struct ms_flowent *e, const char *line,
				       size_t len);
void ms_observer_set_publish(struct ms_observer *o, ms_observer_publish_fn fn, void *cls);

/* Called every second: saves the graph every MS_GRAPH_SAVE_SEC. */
void ms_observer_tick(struct ms_observer *o);

/* Save the graph now. Returns 0, or -errno (warned about once per outage). */
int ms_observer_save(struct ms_observer *o);

/*
 * The graph with the sessions still open counted in, as JSON (see graph.h):
 * the open sessions as of the last sweep of ev (ms_events_for_each_open),
 * made once per sweep, "generated" saying when. ev may be NULL (no live
 * sessions; made anew each time). NULL on allocation failure.
 */
cJSON *ms_observer_graph_json(struct ms_observer *o, struct ms_events *ev);

/* The same as JSON text (ms_graph_print). NULL on allocation failure. */
char *ms_observer_graph_text(struct ms_observer *o, struct ms_events *ev);
/* That graph itself, owned by o and valid until the next call or
 * ms_observer_tick; NULL when out of memory. */
const struct ms_graph *ms_observer_live_graph(struct ms_observer *o, struct ms_events *ev);

/* The same in Graphviz dot; a malloc'd string or NULL. */
char *ms_observer_graph_dot(struct ms_observer *o, struct ms_events *ev);

/*
 * For work away from the loop: a copy of that graph, its own to free, the
 * Unix ms it was made at and the sweep it is of. Returns 0 or -ENOMEM.
 */
int ms_observer_live_copy(struct ms_observer *o, struct ms_events *ev, struct ms_graph **copy,
			  uint64_t *at_ms, uint64_t *sweep);

/* Whether ms_observer_graph_text would only copy text already written. */
bool ms_observer_graph_text_cached(const struct ms_observer *o, const struct ms_events *ev);

/* The text of the copy of sweep, written elsewhere: kept for the next ask
 * if that graph is still the live one (text is copied, not taken). */
void ms_observer_graph_keep_text(struct ms_observer *o, uint64_t sweep, const char *text);

const struct ms_flowring *ms_observer_ring(const struct ms_observer *o);
const struct ms_graph *ms_observer_graph(const struct ms_observer *o);

/* Flows counted so far, by enum ms_verdict. */
uint64_t ms_observer_flows(const struct ms_observer *o, uint8_t verdict);

/* A flow-ring entry for an event described by ms_events_describe. */
void ms_observer_flowent(const struct ms_event_info *in, struct ms_flowent *fe);

#endif /* MICROSEGD_OBSERVER_H */
