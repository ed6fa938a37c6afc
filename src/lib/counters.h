/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The data plane's counters as the renderers see them: the rows of
 * microsegd_counters.h, in their order, for the stats line, /v1/status,
 * /v1/history and /metrics to iterate over.
 */
#ifndef MICROSEGD_LIB_COUNTERS_H
#define MICROSEGD_LIB_COUNTERS_H

#include <stdbool.h>

#include "microsegd_abi.h"

struct ms_counter_desc {
	enum ms_counter id;
	const char *key;  /* /v1/status, the stats line, /v1/history */
	bool line;	  /* in the stats line */
	bool chart;	  /* in /v1/history */
	const char *prom; /* /metrics name, or NULL: not exported on its own */
	const char *help; /* /metrics help */
};

/* Every counter once, in microsegd_counters.h's order. */
extern const struct ms_counter_desc ms_counters[MS_CNT_MAX];

#endif /* MICROSEGD_LIB_COUNTERS_H */
