// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* The flow log's state: opened, reopened, freed, and the policies that name
 * events (events.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "clock.h"
#include "events_int.h"
#include "log.h"
#include "safefile.h"
#include "shadow.h"
#include "workload_index.h"

static void polref_clear(struct polref *r)
{
	ms_wl_index_free(&r->wl);
	ms_policy_free(&r->p);
	memset(r, 0, sizeof(*r));
}

int ms_events_set_policy(struct ms_events *ev, struct ms_policy **p, uint64_t gen)
{
	struct polref r = { .p = *p, .gen = gen };
	int err;

	*p = NULL;
	err = ms_wl_index_new(r.p, &r.wl);
	if (err) {
		log_warn("out of memory indexing the policy's workloads: events of generation "
			 "%" PRIu64 " will name no workloads",
			 gen);
	}
	if (ev->n_hist == MS_POLICY_HISTORY)
		polref_clear(&ev->hist[--ev->n_hist]);
	memmove(&ev->hist[1], &ev->hist[0], ev->n_hist * sizeof(ev->hist[0]));
	ev->hist[0] = r;
	ev->n_hist++;
	ev->names_epoch++;
	return err;
}

const struct ms_policy *ms_events_policy(const struct ms_events *ev)
{
	return ev->n_hist ? ev->hist[0].p : NULL;
}

void ms_events_sync_clock(struct ms_events *ev)
{
	/* Bracket the realtime read with two monotonic ones; the midpoint is
	 * within half the (tiny) interval of the true offset. */
	uint64_t m0 = ms_mono_ns();
	uint64_t r = ms_clock_ns(CLOCK_REALTIME);
	uint64_t m1 = ms_mono_ns();

	ev->mono_to_real_ns = (int64_t)(r - (m0 + (m1 - m0) / 2));
}

int ms_events_new(const char *path, struct ms_dp *dp, struct ms_events **out)
{
	struct ms_events *ev = calloc(1, sizeof(*ev));
	int err;

	if (!ev)
		return -ENOMEM;
	ev->dp = dp;
	ev->fd = -1;
	if (ms_shadow_new(&ev->shadow)) {
		free(ev);
		return -ENOMEM;
	}
	/* One table's worth: what a full table under load needs. */
	if (dp)
		ms_shadow_expect(ev->shadow, ms_dp_session_max(dp));
	if (!path || !strcmp(path, "-")) {
		ev->fd = STDOUT_FILENO;
	} else {
		ev->path = strdup(path);
		if (!ev->path) {
			err = -ENOMEM;
			goto fail;
		}
		const char *why = NULL;

		ev->fd = ms_open_append(path, &why);
		if (ev->fd < 0) {
			err = ev->fd;
			if (why)
				log_error("refusing the flow log %s: %s", path, why);
			goto fail;
		}
	}
	ev->names_epoch = 1;
	ms_events_sync_clock(ev);
	*out = ev;
	return 0;
fail:
	ms_shadow_free(&ev->shadow);
	free(ev->path);
	free(ev);
	return err;
}

void ms_events_free(struct ms_events **evp)
{
	struct ms_events *ev = *evp;

	if (!ev)
		return;
	ring_buffer__free(ev->rb);
	if (ev->fd >= 0)
		ev_flush_lines(ev);
	if (ev->path && ev->fd >= 0)
		close(ev->fd);
	free(ev->buf);
	free(ev->path);
	ms_shadow_free(&ev->shadow);
	ev_sweep_free(&ev->sw);
	for (size_t i = 0; i < ev->n_hist; i++)
		polref_clear(&ev->hist[i]);
	free(ev);
	*evp = NULL;
}

int ms_events_reopen(struct ms_events *ev)
{
	int fd;

	const char *why = NULL;

	if (!ev->path)
		return 0;
	fd = ms_open_append(ev->path, &why);
	if (fd < 0) {
		if (why)
			log_error("refusing the flow log %s: %s", ev->path, why);
		return fd;
	}
	ev_flush_lines(ev);
	close(ev->fd);
	ev->fd = fd;
	return 0;
}

uint64_t ms_events_lost(const struct ms_events *ev)
{
	return ev->lost;
}

void ms_events_set_cgroups(struct ms_events *ev, struct ms_cgroups *cg)
{
	ev->cg = cg;
}

void ms_events_set_sink(struct ms_events *ev, ms_event_sink fn, void *cls)
{
	ev->sink = fn;
	ev->sink_cls = cls;
}

uint64_t ms_events_real_ms(const struct ms_events *ev, uint64_t mono_ns)
{
	return (mono_ns + (uint64_t)ev->mono_to_real_ns) / 1000000ULL;
}
