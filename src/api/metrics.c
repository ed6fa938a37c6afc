// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "counters.h"
#include "loader.h"
#include "discovery.h"
#include "metrics.h"
#include "names.h"
#include "observer.h"

void ms_metrics_label_value(FILE *f, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\')
			fputs("\\\\", f);
		else if (*v == '"')
			fputs("\\\"", f);
		else if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
}

static void head(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void one(FILE *f, const char *name, const char *type, const char *help, uint64_t v)
{
	head(f, name, type, help);
	fprintf(f, "%s %" PRIu64 "\n", name, v);
}

static void by_verdict(FILE *f, const char *name, const char *help, const uint64_t v[3])
{
	head(f, name, "counter", help);
	for (int i = 0; i < 3; i++)
		fprintf(f, "%s{verdict=\"%s\"} %" PRIu64 "\n", name, ms_verdict_name((uint8_t)i),
			v[i]);
}

char *ms_metrics_render(struct ms_daemon *d, const struct ms_api_counters *cnt, size_t *len)
{
	const struct ms_policy *p = ms_events_policy(d->ev);
	const struct ms_graph *g = d->obs ? ms_observer_graph(d->obs) : NULL;
	uint64_t c[MS_CNT_MAX], pk[3], fl[3], *hits = NULL;
	uint32_t n_hits = p ? (uint32_t)p->n_rules + 1 : 1;
	char *buf = NULL;
	FILE *f;
	int err;

	err = ms_dp_counters(d->dp, c);
	if (err) {
		errno = -err;
		return NULL;
	}
	hits = calloc(n_hits, sizeof(*hits));
	if (!hits || ms_dp_rule_hits(d->dp, hits, n_hits)) {
		errno = hits ? EIO : ENOMEM;
		free(hits);
		return NULL;
	}
	f = open_memstream(&buf, len);
	if (!f) {
		free(hits);
		errno = ENOMEM;
		return NULL;
	}
	pk[MS_VERDICT_ALLOW] = c[MS_CNT_ALLOWED];
	pk[MS_VERDICT_DENY] = c[MS_CNT_DENIED];
	pk[MS_VERDICT_AUDIT] = c[MS_CNT_AUDIT];
	by_verdict(f, "microsegd_packets_total", "Packets by verdict.", pk);
	for (int i = 0; i < 3; i++)
		fl[i] = d->obs ? ms_observer_flows(d->obs, (uint8_t)i) : 0;
	by_verdict(f, "microsegd_flows_total",
		   "Flows observed by verdict, counted when they end or are first denied.", fl);
	head(f, "microsegd_rule_hits_total", "counter",
	     "Flows decided by each rule since the policy in force was installed.");
	for (uint32_t i = 1; p && i < n_hits; i++) {
		fputs("microsegd_rule_hits_total{rule=\"", f);
		ms_metrics_label_value(f, p->rules[i - 1].name);
		fprintf(f, "\"} %" PRIu64 "\n", hits[i]);
	}
	fprintf(f, "microsegd_rule_hits_total{rule=\"default\"} %" PRIu64 "\n", hits[0]);
	c[MS_CNT_EVENTS_LOST] += ms_events_lost(d->ev);
	for (int i = 0; i < MS_CNT_MAX; i++)
		if (ms_counters[i].prom)
			one(f, ms_counters[i].prom, "counter", ms_counters[i].help,
			    c[ms_counters[i].id]);
	one(f, "microsegd_sessions", "gauge", "Sessions in the session table at the last sweep.",
	    ms_events_sessions(d->ev));
	one(f, "microsegd_sessions_max", "gauge", "Capacity of the session table.",
	    ms_dp_session_max(d->dp));
	one(f, "microsegd_sessions_evicted_total", "counter",
	    "Allowed sessions evicted from a full session table (reported as flow_end).",
	    ms_events_evicted(d->ev));
	one(f, "microsegd_flows_unseen_total", "counter",
	    "Flows that ended without being seen (begun and evicted between two sweeps of a "
	    "full session table, or their flow_end lost): in no graph or flow log.",
	    ms_events_unseen(d->ev));
	one(f, "microsegd_policy_generation", "gauge", "Generation of the policy in force.",
	    ms_dp_generation(d->dp));
	one(f, "microsegd_policy_rules", "gauge", "Rules of the policy in force.",
	    p ? p->n_rules : 0);
	head(f, "microsegd_policy_reloads_total", "counter", "Policy reloads by result.");
	fprintf(f, "microsegd_policy_reloads_total{result=\"ok\"} %" PRIu64 "\n", d->reloads_ok);
	fprintf(f, "microsegd_policy_reloads_total{result=\"failed\"} %" PRIu64 "\n",
		d->reloads_failed);
	head(f, "microsegd_policy_last_reload_timestamp_seconds", "gauge",
	     "Unix time of the last reload attempt (0: none yet).");
	fprintf(f, "microsegd_policy_last_reload_timestamp_seconds %.3f\n",
		(double)d->last_reload_ms / 1000.0);
	one(f, "microsegd_interfaces", "gauge", "Interfaces attached (globs follow them).",
	    ms_dp_n_ifaces(d->dp));
	if (d->disc) {
		size_t n_disc = 0;

		ms_discovery_inventory(d->disc, &n_disc);
		one(f, "microsegd_discovered_workloads", "gauge",
		    "Workloads found behind the attached interfaces.", n_disc);
		head(f, "microsegd_discovery_reloads_total", "counter",
		     "Recompiles of the policy because discovery changed its workloads, by "
		     "result.");
		fprintf(f, "microsegd_discovery_reloads_total{result=\"ok\"} %" PRIu64 "\n",
			d->discovery_reloads);
		fprintf(f, "microsegd_discovery_reloads_total{result=\"failed\"} %" PRIu64 "\n",
			d->discovery_failed);
	}
	head(f, "microsegd_anomalies_total", "counter", "Anomalies reported, by kind.");
	for (int k = 0; k < MS_ANOMALY_KINDS; k++)
		fprintf(f, "microsegd_anomalies_total{kind=\"%s\"} %" PRIu64 "\n",
			ms_anomaly_name((enum ms_anomaly_kind)k),
			d->obs ? ms_observer_anomalies(d->obs, (enum ms_anomaly_kind)k) : 0);
	one(f, "microsegd_graph_edges", "gauge", "Edges of the flow graph.",
	    g ? ms_graph_edges(g) : 0);
	one(f, "microsegd_graph_nodes", "gauge", "Nodes of the flow graph.",
	    g ? ms_graph_nodes(g) : 0);
	one(f, "microsegd_graph_dropped_edges_total", "counter",
	    "Edges not recorded because the graph was full (--graph-max-edges).",
	    g ? ms_graph_dropped(g) : 0);
	if (cnt) {
		one(f, "microsegd_api_connections", "gauge", "Open API connections.",
		    cnt->connections);
		one(f, "microsegd_api_follow_dropped_total", "counter",
		    "Flow followers disconnected for not keeping up.", cnt->follow_dropped);
	}
	head(f, "microsegd_build_info", "gauge", "Build information; always 1.");
	fprintf(f, "microsegd_build_info{version=\"%s\"} 1\n", MS_VERSION);
	free(hits);
	if (fclose(f) || !buf) {
		free(buf);
		errno = ENOMEM;
		return NULL;
	}
	return buf;
}
