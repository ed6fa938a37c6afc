/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The control API's endpoints (docs/API.md), independent of the HTTP
 * server: a request in, a response out. The server (server.c) speaks HTTP;
 * the fuzzer drives these directly.
 */
#ifndef MICROSEGD_HANDLERS_H
#define MICROSEGD_HANDLERS_H

#include <stdbool.h>
#include <stddef.h>

#include "daemon.h"
#include "flowring.h"

/* Largest request body accepted (a policy for POST /v1/policy/check). */
#define MS_API_MAX_BODY (8u << 20)

struct ms_api_req {
	const char *method;
	const char *path; /* without the query string */
	/* Query argument by name, NULL when absent. */
	const char *(*arg)(void *cls, const char *key);
	void *arg_cls;
	/* Request header by name (also called with arg_cls); NULL: none. */
	const char *(*header)(void *cls, const char *key);
	const char *body;
	size_t body_len;
	bool readonly; /* the TCP listener: only GET */
};

struct ms_api_resp {
	unsigned int status;
	const char *content_type;
	char *body; /* malloc'd, unless static_body */
	size_t len;
	bool static_body; /* body is an embedded asset: neither copied nor freed */
	bool asset;	  /* a console file: revalidated by etag, not no-store */
	const char *etag; /* static; NULL: none */
	/* GET /v1/flows?follow=1: after body (the backlog), stream the events
	 * that match filter; the server takes filter over. */
	bool follow;
	struct ms_flow_filter filter;
};

/* Counters of the HTTP side, for /v1/status and /metrics. */
struct ms_api_counters {
	unsigned int connections;
	unsigned int follow_clients;
	unsigned long long follow_dropped;
	unsigned long long requests;
};

/*
 * Answer one request. d->dp may be NULL (tests): what needs the data plane
 * answers 503. cnt may be NULL. Always fills resp (status 500 with no body
 * when out of memory); free with ms_api_resp_clear.
 */
void ms_api_handle(struct ms_daemon *d, const struct ms_api_counters *cnt,
		   const struct ms_api_req *req, struct ms_api_resp *resp);
void ms_api_resp_clear(struct ms_api_resp *resp);

/* Fill resp with {"error": msg} and status. */
void ms_api_error(struct ms_api_resp *resp, unsigned int status, const char *msg);

#endif /* MICROSEGD_HANDLERS_H */
