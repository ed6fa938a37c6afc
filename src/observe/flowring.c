// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flowring.h"
#include "microsegd_abi.h"
#include "policy.h"
#include "names.h"
#include "proto.h"
#include "timefmt.h"

struct slot {
	struct ms_flowent e; /* workload strings owned by the slot */
	char *line;
	size_t len, cap;
};

struct ms_flowring {
	struct slot *s;
	size_t cap;
	size_t head; /* next slot to write */
	size_t n;
	uint64_t total;
};

static int bad(char **errmsg, const char *key, const char *val, const char *want)
{
	if (asprintf(errmsg, "invalid %s '%s' (%s)", key, val, want) < 0) {
		*errmsg = NULL;
		return -ENOMEM;
	}
	return -EINVAL;
}

static int parse_uint(const char *s, unsigned long long max, unsigned long long *out)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

void ms_flow_filter_clear(struct ms_flow_filter *f)
{
	free(f->workload);
	memset(f, 0, sizeof(*f));
	f->event = f->verdict = f->proto = f->port = -1;
	f->limit = MS_FLOW_FILTER_DEFAULT_LIMIT;
}

int ms_flow_filter_parse(struct ms_flow_filter *f, const char *(*get)(void *cls, const char *key),
			 void *cls, char **errmsg)
{
	unsigned long long v;
	const char *s;

	memset(f, 0, sizeof(*f));
	ms_flow_filter_clear(f);
	*errmsg = NULL;
	if ((s = get(cls, "event"))) {
		f->event = ms_event_type_parse(s);
		if (f->event < 0)
			return bad(errmsg, "event", s,
				   "flow_new, flow_deny, flow_audit, flow_revoked or flow_end");
	}
	if ((s = get(cls, "verdict"))) {
		f->verdict = ms_verdict_parse(s);
		if (f->verdict < 0)
			return bad(errmsg, "verdict", s, "allow, deny or audit");
	}
	if ((s = get(cls, "proto"))) {
		f->proto = ms_proto_parse(s);
		if (f->proto < 0)
			return bad(errmsg, "proto", s,
				   "tcp, udp, sctp, icmp, icmpv6 or a number 0-255");
	}
	if ((s = get(cls, "port"))) {
		if (parse_uint(s, 65535, &v))
			return bad(errmsg, "port", s, "0-65535");
		f->port = (int)v;
	}
	if ((s = get(cls, "ip"))) {
		struct ms_cidr c;

		if (strchr(s, '/') || ms_cidr_parse(s, &c))
			return bad(errmsg, "ip", s, "an IPv4 or IPv6 address");
		memcpy(f->ip, c.addr, 16);
		f->has_ip = true;
	}
	if ((s = get(cls, "workload"))) {
		f->workload = strdup(s);
		if (!f->workload)
			return -ENOMEM;
	}
	if ((s = get(cls, "since"))) {
		if (ms_time_parse_ms(s, &f->since_ms))
			return bad(errmsg, "since", s, "an RFC 3339 time");
	}
	if ((s = get(cls, "limit"))) {
		if (parse_uint(s, MS_FLOW_FILTER_MAX_LIMIT, &v) || !v)
			return bad(errmsg, "limit", s, "1-1000000");
		f->limit = (size_t)v;
	}
	if ((s = get(cls, "follow"))) {
		if (strcmp(s, "0") && strcmp(s, "1") && strcmp(s, "true") && strcmp(s, "false"))
			return bad(errmsg, "follow", s, "1 or 0");
		f->follow = !strcmp(s, "1") || !strcmp(s, "true");
	}
	return 0;
}

static bool streq(const char *a, const char *b)
{
	return a && b && !strcmp(a, b);
}

bool ms_flow_filter_match(const struct ms_flow_filter *f, const struct ms_flowent *e)
{
	if (f->event >= 0 && e->type != f->event)
		return false;
	if (f->verdict >= 0 && e->verdict != f->verdict)
		return false;
	if (f->proto >= 0 && e->proto != f->proto)
		return false;
	if (f->port >= 0 &&
	    (!ms_proto_has_ports(e->proto) || (e->sport != f->port && e->dport != f->port)))
		return false;
	if (f->has_ip && memcmp(e->src, f->ip, 16) && memcmp(e->dst, f->ip, 16))
		return false;
	if (f->workload && !streq(e->src_workload, f->workload) &&
	    !streq(e->dst_workload, f->workload))
		return false;
	if (f->since_ms && e->time_ms < f->since_ms)
		return false;
	return true;
}

int ms_flowring_new(size_t cap, struct ms_flowring **out)
{
	struct ms_flowring *r = calloc(1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	r->cap = cap ? cap : 1;
	r->s = calloc(r->cap, sizeof(*r->s));
	if (!r->s) {
		free(r);
		return -ENOMEM;
	}
	*out = r;
	return 0;
}

static void slot_names_free(struct slot *s)
{
	free((char *)s->e.src_workload);
	free((char *)s->e.dst_workload);
	s->e.src_workload = s->e.dst_workload = NULL;
}

void ms_flowring_free(struct ms_flowring **rp)
{
	struct ms_flowring *r = *rp;

	if (!r)
		return;
	for (size_t i = 0; i < r->cap; i++) {
		slot_names_free(&r->s[i]);
		free(r->s[i].line);
	}
	free(r->s);
	free(r);
	*rp = NULL;
}

static int dup_or_null(const char *s, char **out)
{
	*out = NULL;
	if (!s)
		return 0;
	*out = strdup(s);
	return *out ? 0 : -ENOMEM;
}

int ms_flowring_push(struct ms_flowring *r, const struct ms_flowent *e, const char *line,
		     size_t len)
{
	struct slot *s = &r->s[r->head];
	char *sw = NULL, *dw = NULL;

	if (len + 1 > s->cap) {
		/* Lines are a few hundred bytes: keep slot buffers once grown. */
		size_t ncap = len + 1 < 256 ? 256 : len + 1;
		char *nl = realloc(s->line, ncap);

		if (!nl)
			return -ENOMEM;
		s->line = nl;
		s->cap = ncap;
	}
	if (dup_or_null(e->src_workload, &sw) || dup_or_null(e->dst_workload, &dw)) {
		free(sw);
		free(dw);
		return -ENOMEM;
	}
	slot_names_free(s);
	s->e = *e;
	s->e.src_workload = sw;
	s->e.dst_workload = dw;
	memcpy(s->line, line, len);
	s->line[len] = '\0';
	s->len = len;
	r->head = (r->head + 1) % r->cap;
	if (r->n < r->cap)
		r->n++;
	r->total++;
	return 0;
}

int ms_flowring_query(const struct ms_flowring *r, const struct ms_flow_filter *f,
		      int (*fn)(void *cls, const char *line, size_t len), void *cls)
{
	size_t oldest = (r->head + r->cap - r->n) % r->cap, start = r->n, matched = 0;

	/* Walk back from the newest to find where the newest `limit` matches
	 * begin, then emit forward so the output reads oldest first. */
	for (size_t i = r->n; i > 0 && matched < f->limit; i--) {
		const struct slot *s = &r->s[(oldest + i - 1) % r->cap];

		if (ms_flow_filter_match(f, &s->e)) {
			matched++;
			start = i - 1;
		}
	}
	for (size_t i = start; i < r->n && matched; i++) {
		const struct slot *s = &r->s[(oldest + i) % r->cap];
		int rc;

		if (!ms_flow_filter_match(f, &s->e))
			continue;
		matched--;
		rc = fn(cls, s->line, s->len);
		if (rc)
			return rc;
	}
	return 0;
}

size_t ms_flowring_count(const struct ms_flowring *r)
{
	return r->n;
}

uint64_t ms_flowring_total(const struct ms_flowring *r)
{
	return r->total;
}
