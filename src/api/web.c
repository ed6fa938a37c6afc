// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <string.h>

#include "web_assets.h"

const struct ms_web_asset *ms_web_asset_find(const char *path)
{
	if (!strcmp(path, "/"))
		path = "/index.html";
	for (size_t i = 0; i < ms_web_n_assets; i++)
		if (!strcmp(path, ms_web_assets[i].path))
			return &ms_web_assets[i];
	return NULL;
}

/* If-None-Match holds one ETag or a list of them. */
static bool etag_matches(const char *inm, const char *etag)
{
	size_t n = strlen(etag);

	for (const char *p = inm; (p = strstr(p, etag)); p += n)
		if ((p == inm || p[-1] == ' ' || p[-1] == ',') &&
		    (!p[n] || p[n] == ',' || p[n] == ' '))
			return true;
	return !strcmp(inm, "*");
}

void ms_web_serve(const struct ms_web_asset *a, const struct ms_api_req *req,
		  struct ms_api_resp *resp)
{
	const char *inm = req->header ? req->header(req->arg_cls, "If-None-Match") : NULL;

	if (strcmp(req->method, "GET") && strcmp(req->method, "HEAD")) {
		ms_api_error(resp, 405, "method not allowed (use GET)");
		return;
	}
	resp->asset = true;
	resp->etag = a->etag;
	if (inm && etag_matches(inm, a->etag)) {
		resp->status = 304;
		return;
	}
	resp->status = 200;
	resp->content_type = a->type;
	resp->static_body = true;
	resp->body = (char *)a->data;
	resp->len = a->len;
}
