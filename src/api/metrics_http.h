/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * --metrics ADDR:PORT: a TCP listener that serves GET /metrics and nothing
 * else (404), for a Prometheus on the node network, while the console and
 * the API stay on the unix socket and a local --web. libmicrohttpd in
 * external epoll mode, driven from the daemon's one loop like the API.
 */
#ifndef MICROSEGD_METRICS_HTTP_H
#define MICROSEGD_METRICS_HTTP_H

#include "daemon.h"

/* Connections at once, and seconds an idle one is kept: a scraper needs
 * one, briefly. */
#define MS_METRICS_MAX_CONNECTIONS 16
#define MS_METRICS_IDLE_TIMEOUT_SEC 10

struct ms_metrics_http;

/* Listen on spec ("ADDR:PORT" or "[V6ADDR]:PORT"; numeric only). Errors
 * are logged; returns 0 or -errno. */
int ms_metrics_http_new(struct ms_daemon *d, const char *spec, struct ms_metrics_http **out);
void ms_metrics_http_free(struct ms_metrics_http **m);

/* The fd to wait on (readable: call ms_metrics_http_run). */
int ms_metrics_http_fd(const struct ms_metrics_http *m);
void ms_metrics_http_run(struct ms_metrics_http *m);

#endif /* MICROSEGD_METRICS_HTTP_H */
