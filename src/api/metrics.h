/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* GET /metrics: the Prometheus text exposition format (version 0.0.4). */
#ifndef MICROSEGD_METRICS_H
#define MICROSEGD_METRICS_H

#include "daemon.h"
#include "handlers.h"

/* The metrics text, malloc'd, or NULL when out of memory or the data plane
 * cannot be read (errno says which). */
char *ms_metrics_render(struct ms_daemon *d, const struct ms_api_counters *cnt, size_t *len);

/* Escape a label value (backslash, double quote, newline) into f. */
#include <stdio.h>
void ms_metrics_label_value(FILE *f, const char *v);

#endif /* MICROSEGD_METRICS_H */
