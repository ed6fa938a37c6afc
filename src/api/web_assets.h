/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The web console (README, "The web console"): its HTML, CSS, JS and D3, embedded
 * in the binary at build time by scripts/embed-web.sh, served at / of the
 * --web listener (and of the unix socket, for a tunnel).
 */
#ifndef MICROSEGD_WEB_ASSETS_H
#define MICROSEGD_WEB_ASSETS_H

#include <stddef.h>

#include "request.h"

struct ms_web_asset {
	const char *path; /* URL path */
	const char *type; /* Content-Type */
	const char *etag; /* quoted, as sent */
	const unsigned char *data;
	size_t len;
};

/* Generated in the build directory. */
extern const struct ms_web_asset ms_web_assets[];
extern const size_t ms_web_n_assets;

/* The asset served at path ("/" is the console's page), or NULL. */
const struct ms_web_asset *ms_web_asset_find(const char *path);

/*
 * Answer a request for an asset: 200 with its bytes (static, not copied),
 * 304 when the client's If-None-Match already names its ETag, 405 for any
 * method but GET and HEAD.
 */
void ms_web_serve(const struct ms_web_asset *a, const struct ms_api_req *req,
		  struct ms_api_resp *resp);

#endif /* MICROSEGD_WEB_ASSETS_H */
