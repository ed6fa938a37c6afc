// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* The server's answers: a response queued, an error, the security headers. */
#include <stdio.h>

#include <microhttpd.h>

#include "server_internal.h"

/* Every answer, the console's page and the API's JSON alike, may only
 * load from and talk to this agent: no other origin, no inline script. */
void srv_add_security_headers(struct MHD_Response *r)
{
	MHD_add_response_header(r, "Content-Security-Policy", MS_API_CSP);
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
}

enum MHD_Result srv_queue(struct MHD_Connection *conn, struct ms_api_resp *rs)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	if (!rs->body)
		r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	else if (rs->static_body)
		r = MHD_create_response_from_buffer(rs->len, rs->body, MHD_RESPMEM_PERSISTENT);
	else
		r = MHD_create_response_from_buffer(rs->len, rs->body, MHD_RESPMEM_MUST_FREE);
	if (!r)
		return MHD_NO;
	rs->body = NULL; /* libmicrohttpd frees it, or it is static */
	if (rs->content_type)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, rs->content_type);
	/* The console's files are revalidated (a cheap 304 while unchanged,
	 * the new ones right after an upgrade); the API's answers are live. */
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL,
				rs->asset ? "no-cache" : "no-store");
	if (rs->etag)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, rs->etag);
	srv_add_security_headers(r);
	ret = MHD_queue_response(conn, rs->status ? rs->status : 500, r);
	MHD_destroy_response(r);
	return ret;
}

enum MHD_Result srv_answer_error(struct MHD_Connection *conn, unsigned int status, const char *msg)
{
	struct ms_api_resp rs = { 0 };
	enum MHD_Result ret;

	ms_api_error(&rs, status, msg);
	ret = srv_queue(conn, &rs);
	ms_api_resp_clear(&rs);
	return ret;
}

enum MHD_Result srv_too_large(struct MHD_Connection *conn)
{
	char msg[64];

	snprintf(msg, sizeof(msg), "request body larger than %u bytes", MS_API_MAX_BODY);
	return srv_answer_error(conn, 413, msg);
}
