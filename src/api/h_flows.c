// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "handlers_internal.h"
#include "names.h"
#include "observer.h"
#include "proto.h"

void sb_put(struct sbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t ncap = b->cap ? b->cap : 4096;
		char *ns;

		while (ncap < b->len + n + 1)
			ncap *= 2;
		ns = realloc(b->s, ncap);
		if (!ns) {
			b->oom = true;
			return;
		}
		b->s = ns;
		b->cap = ncap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

struct flows_ctx {
	struct sbuf b;
	size_t n;
	bool ndjson;
};

static int put_line(void *cls, const char *line, size_t len)
{
	struct flows_ctx *c = cls;

	if (!c->ndjson && c->n)
		sb_put(&c->b, ",", 1);
	sb_put(&c->b, line, len);
	if (c->ndjson)
		sb_put(&c->b, "\n", 1);
	c->n++;
	return c->b.oom ? -ENOMEM : 0;
}

void h_flows(struct ms_daemon *d, const struct ms_api_req *req, struct ms_api_resp *resp)
{
	struct flows_ctx c = { 0 };
	struct ms_flow_filter f;
	char *errmsg = NULL;
	int r;

	r = ms_flow_filter_parse(&f, req->arg, req->arg_cls, &errmsg);
	if (r) {
		ms_api_error(resp, r == -ENOMEM ? 500 : 400, errmsg ? errmsg : "out of memory");
		free(errmsg);
		ms_flow_filter_clear(&f);
		return;
	}
	c.ndjson = f.follow;
	if (!c.ndjson)
		sb_put(&c.b, "{\"flows\":[", 10);
	if (d->obs)
		ms_flowring_query(ms_observer_ring(d->obs), &f, put_line, &c);
	if (!c.ndjson)
		sb_put(&c.b, "]}", 2);
	else
		sb_put(&c.b, "", 0); /* an empty backlog is still a body */
	if (c.b.oom) {
		free(c.b.s);
		ms_flow_filter_clear(&f);
		ms_api_set_body(resp, 500, NULL, NULL);
		return;
	}
	ms_api_set_body(resp, 200, c.ndjson ? "application/x-ndjson" : CT_JSON, c.b.s);
	if (f.follow) {
		resp->follow = true;
		resp->filter = f;
	} else {
		ms_flow_filter_clear(&f);
	}
}

static const char *tcp_state(const struct ms_session *s)
{
	if (s->tcp_state & MS_TCP_RST)
		return "closed";
	if ((s->tcp_state & (MS_TCP_FIN_INIT | MS_TCP_FIN_RESP)) ==
	    (MS_TCP_FIN_INIT | MS_TCP_FIN_RESP))
		return "closed";
	if (s->tcp_state & (MS_TCP_FIN_INIT | MS_TCP_FIN_RESP))
		return "closing";
	if (s->tcp_state & MS_TCP_SEEN_REPLY)
		return "established";
	return "syn";
}

static int add_session(void *cls, const struct ms_session_key *k, const struct ms_session *s)
{
	struct sess_ctx *c = cls;
	struct ms_event_info in;
	struct ms_flowent fe;
	struct ms_event e;
	cJSON *o;
	bool ok = true;

	c->total++;
	ms_events_session_event(k, s, s->last_seen_ns, &e);
	ms_events_describe(c->d->ev, &e, &in);
	ms_observer_flowent(&in, &fe);
	fe.type = 0;
	if (!ms_flow_filter_match(c->f, &fe) || c->n >= c->f->limit)
		return 0;
	o = cJSON_CreateObject();
	if (!o || !cJSON_AddItemToArray(c->arr, o)) {
		cJSON_Delete(o);
		c->ok = false;
		return -ENOMEM;
	}
	c->n++;
	ok &= cJSON_AddStringToObject(o, "family", k->family == MS_FAMILY_IPV4 ? "ipv4" : "ipv6") !=
	      NULL;
	ok &= api_add_proto(o, "proto", k->proto);
	ok &= cJSON_AddStringToObject(o, "src", in.src) != NULL;
	ok &= cJSON_AddStringToObject(o, "dst", in.dst) != NULL;
	if (ms_proto_has_ports(k->proto)) {
		ok &= api_add_u64(o, "sport", fe.sport);
		ok &= api_add_u64(o, "dport", fe.dport);
	} else if (ms_proto_is_icmp(k->proto)) {
		ok &= api_add_u64(o, "icmp_type", s->cls_port);
	}
	ok &= cJSON_AddStringToObject(o, "direction",
				      s->direction == MS_DIR_EGRESS ? "egress" : "ingress") != NULL;
	ok &= cJSON_AddStringToObject(o, "interface", in.ifname) != NULL;
	ok &= cJSON_AddStringToObject(o, "verdict", ms_verdict_name(s->verdict)) != NULL;
	ok &= cJSON_AddStringToObject(o, "rule", in.rule) != NULL;
	if (in.src_workload)
		ok &= cJSON_AddStringToObject(o, "src_workload", in.src_workload) != NULL;
	if (in.dst_workload)
		ok &= cJSON_AddStringToObject(o, "dst_workload", in.dst_workload) != NULL;
	ok &= cJSON_AddStringToObject(o, "state",
				      k->proto == MS_PROTO_TCP ? tcp_state(s) : "active") != NULL;
	ok &= api_add_u64(o, "packets", s->packets[0] + s->packets[1]);
	ok &= api_add_u64(o, "bytes", s->bytes[0] + s->bytes[1]);
	ok &= api_add_time(o, "first_seen", ms_events_real_ms(c->d->ev, s->first_seen_ns));
	ok &= api_add_time(o, "last_seen", ms_events_real_ms(c->d->ev, s->last_seen_ns));
	ok &= api_add_u64(o, "generation", s->generation);
	if (!ok) {
		c->ok = false;
		return -ENOMEM;
	}
	return 0;
}

void sessions_clear(struct sessions_req *sr)
{
	cJSON_Delete(sr->o);
	cJSON_Delete(sr->c.arr);
	ms_flow_filter_clear(&sr->f);
	ms_events_sessions_close(&sr->cur);
	memset(sr, 0, sizeof(*sr));
}

/* false with resp filled when the request is refused. */
bool sessions_begin(struct ms_daemon *d, const struct ms_api_req *req, struct sessions_req *sr,
		    struct ms_api_resp *resp)
{
	char *errmsg = NULL;
	int r;

	memset(sr, 0, sizeof(*sr));
	if (!d->dp) {
		ms_api_error(resp, 503, "the data plane is not loaded");
		return false;
	}
	r = ms_flow_filter_parse(&sr->f, req->arg, req->arg_cls, &errmsg);
	if (!r && (sr->f.event >= 0 || sr->f.since_ms || sr->f.follow)) {
		r = -EINVAL;
		errmsg = strdup("event, since and follow do not apply to sessions");
	}
	if (r) {
		ms_api_error(resp, r == -ENOMEM ? 500 : 400, errmsg ? errmsg : "out of memory");
		free(errmsg);
		ms_flow_filter_clear(&sr->f);
		return false;
	}
	sr->c = (struct sess_ctx){ .d = d, .f = &sr->f };
	sr->o = cJSON_CreateObject();
	sr->c.arr = cJSON_CreateArray();
	sr->c.ok = sr->o && sr->c.arr;
	r = ms_events_sessions_open(d->ev, &sr->cur);
	if (r) {
		sessions_clear(sr);
		ms_api_error(resp, r == -ENOMEM ? 500 : 503, "cannot read the session table");
		return false;
	}
	return true;
}

/*
 * One batch of the table; true when it is all read: then the answer is in
 * resp already (an error), or sr->o is complete for sessions_print.
 */
bool sessions_step(struct sessions_req *sr, struct ms_api_resp *resp)
{
	int r = sr->c.ok ? ms_events_sessions_step(sr->cur, add_session, &sr->c) : 1;

	if (!r)
		return false;
	ms_events_sessions_close(&sr->cur);
	if (r < 0 && r != -ENOMEM) {
		sessions_clear(sr);
		ms_api_error(resp, 503, "cannot read the session table");
		return true;
	}
	if (sr->c.ok) {
		sr->c.ok &= api_add_u64(sr->o, "count", sr->c.total);
		sr->c.ok &= api_add_u64(sr->o, "max", ms_dp_session_max(sr->c.d->dp));
		sr->c.ok &= cJSON_AddItemToObject(sr->o, "sessions", sr->c.arr);
		sr->c.arr = NULL;
	}
	return true;
}

/* The answer from what sessions_step gathered (any thread: sr only). */
void sessions_print(struct sessions_req *sr, struct ms_api_resp *resp)
{
	if (resp->status)
		return; /* answered by sessions_step */
	ms_api_reply_json(resp, 200, sr->o, sr->c.ok);
	sr->o = NULL;
	sessions_clear(sr);
}

void h_sessions(struct ms_daemon *d, const struct ms_api_req *req, struct ms_api_resp *resp)
{
	struct sessions_req sr;

	if (!sessions_begin(d, req, &sr, resp))
		return;
	while (!sessions_step(&sr, resp))
		;
	sessions_print(&sr, resp);
}
