/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * A control API request and its answer, as the HTTP server (server.c), the
 * router and handlers (handlers.h) and the web console's files (web.c) see
 * them, and the helpers that fill an answer.
 */
#ifndef MICROSEGD_REQUEST_H
#define MICROSEGD_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "flowring.h"

#define CT_JSON "application/json"

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

/* Free what resp holds; leaves it zeroed. */
void ms_api_resp_clear(struct ms_api_resp *resp);

/* Fill resp with {"error": msg} and status. */
void ms_api_error(struct ms_api_resp *resp, unsigned int status, const char *msg);

/* Answer body (taken over) with status and Content-Type ct; 500 with no body
 * when body is NULL (out of memory). */
void ms_api_set_body(struct ms_api_resp *resp, unsigned int status, const char *ct, char *body);

/* Answer with j (taken over), or 500 when building it ran out of memory. */
void ms_api_reply_json(struct ms_api_resp *resp, unsigned int status, cJSON *j, bool ok);

#endif /* MICROSEGD_REQUEST_H */
