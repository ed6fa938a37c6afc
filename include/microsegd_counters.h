/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The data plane's counters, declared once. Each row is one per-CPU
 * counter of the `counters` map: the BPF program increments it by its
 * enum name (MS_CNT_<NAME>), and every renderer -- the stats line,
 * GET /v1/status, GET /v1/history, /metrics -- iterates over this list,
 * so a new counter is one row here and the BPF code that counts it.
 *
 *   X(NAME, INDEX, KEY, LINE, CHART, PROM, HELP)
 *
 * NAME   the enum's MS_CNT_<NAME>.
 * INDEX  its index in the counters map. The map is pinned and adopted
 *        across restarts, so an index is never reused or renumbered: a new
 *        counter takes the next one. Gaps and duplicates fail to compile.
 * KEY    its name in /v1/status's "counters", in the stats line and in
 *        /v1/history.
 * LINE   LINE: in the periodic stats line ("stats: allowed=N ..."); NOLINE:
 *        not.
 * CHART  CHART: sampled into /v1/history for the console's charts;
 *        NOCHART: not.
 * PROM   its /metrics name (a counter), or NULL: not exported on its own
 *        (allowed, denied and audit are microsegd_packets_total{verdict}).
 * HELP   its /metrics help text (NULL with PROM NULL).
 *
 * The rows' order is the order the renderers show them in; the stats line
 * puts the session count, which is no counter, after new_flows.
 */
#ifndef MICROSEGD_COUNTERS_H
#define MICROSEGD_COUNTERS_H

/* clang-format off */
#define MS_COUNTERS(X)                                                                 \
	/* packets passed by policy or session */                                     \
	X(ALLOWED, 0, "allowed", LINE, CHART, NULL, NULL)                              \
	/* packets dropped */                                                          \
	X(DENIED, 1, "denied", LINE, CHART, NULL, NULL)                                \
	/* packets passed only because of monitor mode */                              \
	X(AUDIT, 2, "audit", LINE, CHART, NULL, NULL)                                  \
	/* flows classified (first packet or reclassified) */                          \
	X(NEW_FLOWS, 3, "new_flows", LINE, CHART, "microsegd_new_flows_total",         \
	  "Flows classified by the policy (first packets and reclassifications).")     \
	/* ring-buffer reservations that failed; the daemon adds the events it        \
	 * lost itself (flow log not writable) */                                      \
	X(EVENTS_LOST, 4, "events_lost", LINE, CHART, "microsegd_events_lost_total",   \
	  "Flow events lost: ring buffer full or flow log not writable.")              \
	/* flows revoked after a policy swap */                                        \
	X(REVOKED, 7, "revoked", LINE, CHART, "microsegd_revoked_flows_total",         \
	  "Allowed flows denied by a newer policy.")                                   \
	/* IP packets that could not be parsed */                                      \
	X(MALFORMED, 5, "malformed", LINE, NOCHART, "microsegd_malformed_packets_total", \
	  "Frames dropped (passed in monitor mode) because they could not be parsed: "  \
	  "malformed IP and unclassifiable frames.")                                   \
	/* non-IP, NDP and MLD */                                                      \
	X(PASSTHROUGH, 6, "passthrough", LINE, NOCHART,                                \
	  "microsegd_passthrough_packets_total",                                       \
	  "Packets passed without policy: non-IP, neighbour discovery, non-first "     \
	  "fragments.")                                                                \
	/* session inserts that failed */                                              \
	X(SESSION_FAIL, 8, "session_fail", LINE, NOCHART,                              \
	  "microsegd_session_insert_failures_total",                                   \
	  "Session table inserts that failed.")                                        \
	/* sessions that began to pass traffic (allow or audit) */                     \
	X(PASSING, 9, "passing_flows", NOLINE, NOCHART, NULL, NULL)                    \
	/* non-first fragments dropped: first denied or never seen */                  \
	X(FRAG_DROPPED, 10, "fragments_dropped", LINE, NOCHART, NULL, NULL)            \
	/* frames neither followed to an IP header nor known as non-IP (a VLAN        \
	 * stack deeper than the parser's bound, MPLS, PPPoE, an unknown              \
	 * ethertype): dropped, and counted in MS_CNT_MALFORMED too */                 \
	X(UNCLASSIFIABLE, 11, "unclassifiable", LINE, NOCHART,                         \
	  "microsegd_unclassifiable_frames_total",                                     \
	  "Frames neither followed to an IP header nor known as non-IP (VLAN stacks "  \
	  "past the parser's depth, MPLS, PPPoE, unknown ethertypes), counted as "     \
	  "malformed too.")
/* clang-format on */

/* Expanders for the enum (microsegd_abi.h) and its checks. */
#define MS_CNT_ENUM_(name, idx, ...) MS_CNT_##name = (idx),
#define MS_CNT_ONE_(...) +1
#define MS_CNT_BIT_(name, idx, ...) | (1ULL << (idx))

/* LINE and CHART as values and as a choice of expansion. */
#define MS_CNT_IN_LINE 1
#define MS_CNT_IN_NOLINE 0
#define MS_CNT_IN_CHART 1
#define MS_CNT_IN_NOCHART 0
#define MS_CNT_IF_CHART(...) __VA_ARGS__
#define MS_CNT_IF_NOCHART(...)

#endif /* MICROSEGD_COUNTERS_H */
