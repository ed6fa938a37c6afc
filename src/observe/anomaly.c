// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "anomaly.h"

/* Probes for a source's slot; past them the oldest of the probed slots is
 * replaced, so a flood of spoofed sources costs a bounded time each. */
#define PROBES 8

struct source {
	char addr[48];
	bool used;
	bool fired; /* reported in this window */
	uint64_t window_start_ms;
	uint32_t *targets; /* hashes of (destination, protocol, port), distinct */
	unsigned int n;
};

struct ms_anomaly {
	struct source src[MS_ANOMALY_SOURCES];
	unsigned int scan_targets, scan_window_s;
	struct ms_graph *baseline;
	struct ms_graph *reported; /* new edges already reported */
	uint64_t count[MS_ANOMALY_KINDS];
	uint64_t replaced; /* sources dropped for room */
};

static uint32_t hash_str(const char *s, uint32_t h)
{
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

int ms_anomaly_new(struct ms_graph *baseline, struct ms_anomaly **out)
{
	struct ms_anomaly *a = calloc(1, sizeof(*a));

	if (!a) {
		ms_graph_free(&baseline);
		return -ENOMEM;
	}
	a->scan_targets = MS_SCAN_TARGETS_DEFAULT;
	a->scan_window_s = MS_SCAN_WINDOW_DEFAULT;
	a->baseline = baseline;
	if (baseline && ms_graph_new(MS_GRAPH_DEFAULT_MAX_EDGES, &a->reported)) {
		ms_anomaly_free(&a);
		return -ENOMEM;
	}
	*out = a;
	return 0;
}

void ms_anomaly_free(struct ms_anomaly **ap)
{
	struct ms_anomaly *a = *ap;

	if (!a)
		return;
	for (size_t i = 0; i < MS_ANOMALY_SOURCES; i++)
		free(a->src[i].targets);
	ms_graph_free(&a->baseline);
	ms_graph_free(&a->reported);
	free(a);
	*ap = NULL;
}

void ms_anomaly_set_scan(struct ms_anomaly *a, unsigned int targets, unsigned int window_s)
{
	if (targets != a->scan_targets) {
		/* Sets sized for the old threshold: start over. */
		for (size_t i = 0; i < MS_ANOMALY_SOURCES; i++) {
			free(a->src[i].targets);
			memset(&a->src[i], 0, sizeof(a->src[i]));
		}
	}
	a->scan_targets = targets;
	a->scan_window_s = window_s;
}

static struct source *source_of(struct ms_anomaly *a, const char *addr, uint64_t now)
{
	size_t h = hash_str(addr, 2166136261u) % MS_ANOMALY_SOURCES, oldest = h;

	for (size_t i = 0; i < PROBES; i++) {
		struct source *s = &a->src[(h + i) % MS_ANOMALY_SOURCES];

		if (s->used && !strcmp(s->addr, addr))
			return s;
		if (!s->used) {
			oldest = (h + i) % MS_ANOMALY_SOURCES;
			break;
		}
		if (s->window_start_ms < a->src[oldest].window_start_ms)
			oldest = (h + i) % MS_ANOMALY_SOURCES;
	}
	struct source *s = &a->src[oldest];

	if (s->used)
		a->replaced++;
	s->used = true;
	s->fired = false;
	s->n = 0;
	s->window_start_ms = now;
	strncpy(s->addr, addr, sizeof(s->addr) - 1);
	s->addr[sizeof(s->addr) - 1] = '\0';
	return s;
}

static int scan(struct ms_anomaly *a, const struct ms_flowrec *r, uint64_t now,
		ms_anomaly_emit emit, void *cls)
{
	struct source *s = source_of(a, r->src, now);
	uint32_t t;

	if (now - s->window_start_ms >= (uint64_t)a->scan_window_s * 1000) {
		s->window_start_ms = now;
		s->n = 0;
		s->fired = false;
	}
	if (s->fired)
		return 0;
	if (!s->targets) {
		s->targets = calloc(a->scan_targets, sizeof(*s->targets));
		if (!s->targets)
			return -ENOMEM;
	}
	/* The target: its address, then protocol and port folded in as the
	 * bytes they are (no printf on the flow path). */
	t = hash_str(r->dst ? r->dst : "", 2166136261u);
	t = (t ^ r->proto) * 16777619u;
	t = (t ^ (r->port & 0xff)) * 16777619u;
	t = (t ^ (r->port >> 8)) * 16777619u;
	for (unsigned int i = 0; i < s->n; i++)
		if (s->targets[i] == t)
			return 0;
	s->targets[s->n++] = t;
	if (s->n < a->scan_targets)
		return 0;
	s->fired = true;
	a->count[MS_ANOMALY_SCAN]++;
	emit(cls, MS_ANOMALY_SCAN, r, s->n, a->scan_window_s);
	return 0;
}

int ms_anomaly_observe(struct ms_anomaly *a, const struct ms_flowrec *r, bool attempt,
		       uint64_t now_ms, ms_anomaly_emit emit, void *cls)
{
	int err = 0;

	if (attempt && r->src)
		err = scan(a, r, now_ms, emit, cls);
	if (!err && a->baseline && r->counts && !ms_graph_has_edge(a->baseline, r) &&
	    !ms_graph_has_edge(a->reported, r)) {
		err = ms_graph_add(a->reported, r);
		if (err == -ENOSPC)
			err = 0; /* too many to remember: report no more */
		else if (!err) {
			a->count[MS_ANOMALY_NEW_EDGE]++;
			emit(cls, MS_ANOMALY_NEW_EDGE, r, 0, 0);
		}
	}
	return err;
}

uint64_t ms_anomaly_count(const struct ms_anomaly *a, enum ms_anomaly_kind kind)
{
	return kind < MS_ANOMALY_KINDS ? a->count[kind] : 0;
}

const char *ms_anomaly_name(enum ms_anomaly_kind kind)
{
	return kind == MS_ANOMALY_SCAN ? "scan" : "new_edge";
}
