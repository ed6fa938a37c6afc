/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* microsegctl's side of the control API: HTTP over the agent's unix socket,
 * through libcurl. */
#ifndef MICROSEGCTL_HTTP_H
#define MICROSEGCTL_HTTP_H

#include <stddef.h>

/* Exit statuses of microsegctl (microsegctl(8)). */
#define CTL_OK 0
#define CTL_FAILED 1 /* failed check or reload, or the agent said no */
#define CTL_USAGE 2
#define CTL_UNREACHABLE 3
#define CTL_REPLAY_GATE 4

struct ctl_http {
	const char *socket;
};

struct ctl_resp {
	long status;
	char *body; /* NUL-terminated, malloc'd */
	size_t len;
};

void ctl_http_init(void);
void ctl_http_cleanup(void);

/*
 * One request: method "GET" or "POST", path with its query, body (may be
 * NULL). Returns CTL_OK with resp filled (whatever the HTTP status), or
 * CTL_UNREACHABLE after printing why on stderr.
 */
int ctl_request(const struct ctl_http *h, const char *method, const char *path, const char *body,
		size_t body_len, struct ctl_resp *resp);

/*
 * GET path and call on_line for each line as it arrives (NDJSON streams),
 * until the agent ends the stream (also by closing the connection: that is
 * noted on stderr), SIGINT or SIGTERM, or on_line returns non-zero. Returns
 * CTL_OK, CTL_FAILED (an error status, printed) or CTL_UNREACHABLE.
 */
int ctl_stream(const struct ctl_http *h, const char *path,
	       int (*on_line)(void *cls, const char *line, size_t len), void *cls);

void ctl_resp_free(struct ctl_resp *r);

/* Print the agent's {"error": ...} answer (or the status) and return
 * CTL_FAILED. */
int ctl_agent_error(const struct ctl_resp *r);

/* Append "key=value" (value URL-encoded) to a query being built in *q
 * ("?" first, then "&"). Returns 0 or -ENOMEM. */
int ctl_query_add(char **q, const char *key, const char *value);

#endif /* MICROSEGCTL_HTTP_H */
