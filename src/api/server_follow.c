// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* The flow streams (GET /v1/flows?follow): each follower's bytes buffered
 * up to a bound, its connection parked while there is nothing to send. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <microhttpd.h>

#include "log.h"
#include "server_internal.h"

static void follower_free(void *cls)
{
	struct follower *f = cls, **pp;

	for (pp = &f->api->followers; *pp; pp = &(*pp)->next)
		if (*pp == f) {
			*pp = f->next;
			break;
		}
	if (f->api->cnt.follow_clients)
		f->api->cnt.follow_clients--;
	ms_flow_filter_clear(&f->filter);
	free(f->buf);
	free(f);
}

static ssize_t follower_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct follower *f = cls;
	size_t n;

	(void)pos;
	if (f->dropped)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	if (f->off == f->len) {
		/* Nothing to send: park the connection until an event comes;
		 * returning 0 alone would make the loop spin. */
		f->off = f->len = 0;
		f->suspended = true;
		MHD_suspend_connection(f->conn);
		return 0;
	}
	n = f->len - f->off < max ? f->len - f->off : max;
	memcpy(buf, f->buf + f->off, n);
	f->off += n;
	return (ssize_t)n;
}

static int follower_put(struct follower *f, const char *s, size_t n)
{
	if (f->len - f->off + n > MS_API_FOLLOW_MAX_PENDING)
		return -ENOBUFS;
	if (f->off && f->len + n > f->cap) {
		memmove(f->buf, f->buf + f->off, f->len - f->off);
		f->len -= f->off;
		f->off = 0;
	}
	if (f->len + n > f->cap) {
		size_t ncap = f->cap ? f->cap : 4096;
		char *nb;

		while (ncap < f->len + n)
			ncap *= 2;
		nb = realloc(f->buf, ncap);
		if (!nb)
			return -ENOMEM;
		f->buf = nb;
		f->cap = ncap;
	}
	memcpy(f->buf + f->len, s, n);
	f->len += n;
	return 0;
}

static void follower_wake(struct follower *f)
{
	if (f->suspended) {
		f->suspended = false;
		MHD_resume_connection(f->conn);
		f->api->need_run = true;
	}
}

enum MHD_Result srv_start_follow(struct ms_api *a, struct MHD_Connection *conn,
				 struct ms_api_resp *rs)
{
	struct follower *f = calloc(1, sizeof(*f));
	struct MHD_Response *r;
	enum MHD_Result ret;

	if (!f)
		return MHD_NO;
	f->api = a;
	f->conn = conn;
	f->filter = rs->filter;
	rs->follow = false; /* the filter is the follower's now */
	memset(&rs->filter, 0, sizeof(rs->filter));
	f->buf = rs->body;
	f->len = f->cap = rs->len;
	rs->body = NULL;
	r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, follower_read, f,
					      follower_free);
	if (!r) {
		ms_flow_filter_clear(&f->filter);
		free(f->buf);
		free(f);
		return MHD_NO;
	}
	f->next = a->followers;
	a->followers = f;
	a->cnt.follow_clients++;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/x-ndjson");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	srv_add_security_headers(r);
	ret = MHD_queue_response(conn, 200, r);
	MHD_destroy_response(r);
	return ret;
}

void ms_api_publish(void *cls, const struct ms_flowent *e, const char *line, size_t len)
{
	struct ms_api *a = cls;

	for (struct follower *f = a->followers; f; f = f->next) {
		if (f->dropped || !ms_flow_filter_match(&f->filter, e))
			continue;
		if (follower_put(f, line, len) || follower_put(f, "\n", 1)) {
			/* It does not read fast enough: rather than buffer without
			 * bound, end its stream. */
			f->dropped = true;
			a->cnt.follow_dropped++;
			log_warn("API: dropped a flow follower that fell more than %u bytes "
				 "behind",
				 MS_API_FOLLOW_MAX_PENDING);
		}
		follower_wake(f);
	}
}

void srv_follow_tick(struct ms_api *a)
{
	for (struct follower *f = a->followers; f; f = f->next) {
		if (!f->suspended) {
			f->idle_ticks = 0;
			continue;
		}
		if (++f->idle_ticks < MS_API_FOLLOW_HEARTBEAT_SEC)
			continue;
		f->idle_ticks = 0;
		if (!follower_put(f, "\n", 1))
			follower_wake(f);
	}
}

void srv_follow_end_all(struct ms_api *a)
{
	for (struct follower *f = a->followers; f; f = f->next) {
		f->dropped = true;
		follower_wake(f);
	}
}
