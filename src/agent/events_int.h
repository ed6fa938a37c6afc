/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Inside the flow log (events.h): the state its files share. events.c
 * opens and closes it, events_name.c names events, events_write.c writes
 * lines, events_ring.c drains the ring buffer, events_sweep.c sweeps the
 * session tables.
 */
#ifndef MICROSEGD_EVENTS_INT_H
#define MICROSEGD_EVENTS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "events.h"

struct polref {
	struct ms_policy *p;
	uint64_t gen;
	struct ms_wl_index *wl; /* NULL: out of memory, no workload names */
};

struct sweep;

struct ms_events {
	int fd;
	char *path; /* NULL: stdout */
	struct ms_dp *dp;
	struct ring_buffer *rb;
	struct polref hist[MS_POLICY_HISTORY]; /* [0] is the current policy */
	size_t n_hist;
	int64_t mono_to_real_ns;
	uint64_t lost;
	bool torn; /* the flow log ends in part of a line that could not be cut */
	uint64_t sessions;
	bool write_failing; /* warned about a failing flow log, not yet recovered */
	bool batching;	    /* inside a drain or sweep: flush at its end */
	char *buf;	    /* whole lines not yet written */
	size_t buf_len, buf_cap;
	time_t time_sec;      /* second of time_prefix */
	char time_prefix[64]; /* "YYYY-MM-DDTHH:MM:SS" of time_sec */
	size_t time_prefix_len;
	ms_event_sink sink;
	void *sink_cls;
	struct ms_shadow *shadow; /* allowed sessions of the last sweep */
	uint64_t sweep_epoch;
	struct sweep *sw; /* the sweep under way; NULL before the first */
	uint64_t sweeps;  /* completed */
	uint64_t evicted;
	/* For the flows nobody saw end: passing flows ended (flow_end) or
	 * revoked so far, and the estimate of those that ended unseen. */
	uint64_t ended, revoked;
	uint64_t unseen;
	unsigned int budget;   /* events left in this drain; 0: no limit */
	struct ms_cgroups *cg; /* process identity; NULL: off */
	uint64_t names_epoch;  /* policy changes so far, plus one */
	uint32_t if_last;      /* ifindex of if_last_name */
	uint64_t if_last_sec;  /* second (of event time) it was asked in */
	char if_last_name[24]; /* the last unattached interface's name */
};

/* Write out the buffered lines (events_write.c). */
void ev_flush_lines(struct ms_events *ev);

/* The sweep's memory, freed; sets *sw NULL (events_sweep.c). */
void ev_sweep_free(struct sweep **sw);

/* The time of clock id, in ns. */

/* A CLOCK_REALTIME time in ns as the flow log writes times, into buf
 * (events_name.c). */
void ev_format_time(struct ms_events *ev, char *buf, size_t len, uint64_t real_ns);

#endif /* MICROSEGD_EVENTS_INT_H */
