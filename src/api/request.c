// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <stdlib.h>
#include <string.h>

#include "request.h"

void ms_api_resp_clear(struct ms_api_resp *resp)
{
	if (!resp->static_body)
		free(resp->body);
	if (resp->follow)
		ms_flow_filter_clear(&resp->filter);
	memset(resp, 0, sizeof(*resp));
}

void ms_api_set_body(struct ms_api_resp *resp, unsigned int status, const char *ct, char *body)
{
	free(resp->body);
	if (!body) {
		resp->status = 500;
		resp->content_type = NULL;
		resp->body = NULL;
		resp->len = 0;
		return;
	}
	resp->status = status;
	resp->content_type = ct;
	resp->body = body;
	resp->len = strlen(body);
}

void ms_api_error(struct ms_api_resp *resp, unsigned int status, const char *msg)
{
	cJSON *o = cJSON_CreateObject();
	char *s = NULL;

	if (o && cJSON_AddStringToObject(o, "error", msg))
		s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	ms_api_set_body(resp, status, CT_JSON, s);
}

/* Answer with j (taken over), or 500 when building it ran out of memory. */
void ms_api_reply_json(struct ms_api_resp *resp, unsigned int status, cJSON *j, bool ok)
{
	char *s = ok && j ? cJSON_PrintUnformatted(j) : NULL;

	cJSON_Delete(j);
	ms_api_set_body(resp, status, CT_JSON, s);
}
