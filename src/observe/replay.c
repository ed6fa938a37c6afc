// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "jsonadd.h"
#include "names.h"
#include "proto.h"
#include "replay.h"
#include "workload_index.h"

/* What the logs said of a flow: any event that passed it, or denied it. */
#define REC_ALLOW 0x1
#define REC_AUDIT 0x2
#define REC_DENY 0x4

/* The edge's fields first: sorted, the flows of one edge are adjacent and
 * the candidate is asked once per edge, not once per flow. */
struct flow {
	uint8_t src[16], dst[16];
	uint16_t port; /* the responder's, or the ICMP type */
	uint8_t proto, dir;
	uint8_t family; /* MS_FAMILY_* */
	uint8_t pad;
	uint16_t sport;
	uint8_t rec; /* REC_* */
	uint8_t pad2;
};

/* Flows are collected, then sorted and merged once: a million lines need
 * one sort, not a million hash probes. */
struct ms_replay {
	const struct ms_policy *p;
	const struct ms_compiled *c;
	struct ms_wl_index *wl; /* the candidate's workloads, built on first use */
	struct flow *f;
	size_t n, cap;
	bool merged;
	uint64_t allowed, denied, unchanged, newly_denied, newly_allowed;
	struct change *ch;
	size_t n_ch;
	bool evaluated;
};

struct change {
	const char *src, *dst; /* workload names of the candidate, or NULL */
	uint8_t src_addr[16], dst_addr[16];
	uint8_t proto;
	uint16_t port;
	uint8_t from, to; /* enum ms_verdict */
	uint32_t rule;
	uint64_t flows;
};

int ms_replay_new(const struct ms_policy *p, const struct ms_compiled *c, struct ms_replay **out)
{
	struct ms_replay *r = calloc(1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	r->p = p;
	r->c = c;
	*out = r;
	return 0;
}

void ms_replay_free(struct ms_replay **rp)
{
	if (!*rp)
		return;
	free((*rp)->f);
	free((*rp)->ch);
	ms_wl_index_free(&(*rp)->wl);
	free(*rp);
	*rp = NULL;
}

static int bad(char **errmsg, const char *what)
{
	if (errmsg)
		*errmsg = strdup(what);
	return -EINVAL;
}

static const char *str(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int num(const cJSON *o, const char *k, unsigned int max, unsigned int *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > max)
		return -EINVAL;
	*out = (unsigned int)v->valuedouble;
	return 0;
}

/* The address, and *v4 whether it is IPv4 (as the flow log writes an IPv6
 * packet's IPv4-mapped address, ::ffff:198.18.0.1, it stays IPv6). */
static int host_addr(const char *s, uint8_t *out, bool *v4)
{
	struct ms_cidr c;

	if (!s || strchr(s, '/') || ms_cidr_parse(s, &c))
		return -EINVAL;
	memcpy(out, c.addr, 16);
	*v4 = ms_cidr_is_v4(&c);
	return 0;
}

int ms_replay_add(struct ms_replay *r, const cJSON *j, char **errmsg)
{
	const char *ev = str(j, "event"), *v, *d, *ps;
	const cJSON *pj;
	struct flow f = { 0 };
	unsigned int n;
	int proto = -1;
	bool v4s, v4d;

	if (errmsg)
		*errmsg = NULL;
	if (!ev)
		return bad(errmsg, "not a flow-log event (no \"event\")");
	if (ms_event_type_parse(ev) < 0)
		return 0;
	v = str(j, "verdict");
	d = str(j, "direction");
	if (ms_verdict_parse(v) < 0)
		return bad(errmsg, "missing or invalid \"verdict\"");
	if (ms_dir_parse(d) < 0)
		return bad(errmsg, "missing or invalid \"direction\"");
	pj = cJSON_GetObjectItemCaseSensitive(j, "proto");
	ps = cJSON_IsString(pj) ? pj->valuestring : NULL;
	if (ps)
		proto = ms_proto_parse(ps);
	else if (cJSON_IsNumber(pj) && pj->valuedouble >= 0 && pj->valuedouble <= 255)
		proto = (int)pj->valuedouble;
	if (proto < 0)
		return bad(errmsg, "missing or invalid \"proto\"");
	if (host_addr(str(j, "src"), f.src, &v4s) || host_addr(str(j, "dst"), f.dst, &v4d))
		return bad(errmsg, "missing or invalid \"src\" or \"dst\"");
	if (v4s != v4d)
		return bad(errmsg, "\"src\" and \"dst\" of different families");
	f.family = v4s ? MS_FAMILY_IPV4 : MS_FAMILY_IPV6;
	f.proto = (uint8_t)proto;
	f.dir = (uint8_t)ms_dir_parse(d);
	if (ms_proto_has_ports(f.proto)) {
		if (num(j, "dport", 65535, &n))
			return bad(errmsg, "missing or invalid \"dport\"");
		f.port = (uint16_t)n;
		if (num(j, "sport", 65535, &n))
			return bad(errmsg, "missing or invalid \"sport\"");
		f.sport = (uint16_t)n;
	} else if (ms_proto_is_icmp(f.proto)) {
		if (num(j, "icmp_type", 255, &n))
			return bad(errmsg, "missing or invalid \"icmp_type\"");
		f.port = (uint16_t)n;
	}
	/* A revoked flow passed until its revocation. */
	if (!strcmp(ev, "flow_revoked"))
		f.rec = REC_ALLOW | REC_DENY;
	else
		f.rec = !strcmp(v, "allow")   ? REC_ALLOW
			: !strcmp(v, "audit") ? REC_AUDIT
					      : REC_DENY;
	if (r->n == r->cap) {
		size_t ncap = r->cap ? r->cap * 2 : 1024;
		struct flow *nf = realloc(r->f, ncap * sizeof(*nf));

		if (!nf)
			return -ENOMEM;
		r->f = nf;
		r->cap = ncap;
	}
	r->f[r->n++] = f;
	r->merged = r->evaluated = false;
	return 1;
}

static int cmp_flow(const void *a, const void *b)
{
	const struct flow *x = a, *y = b;

	/* Everything but the recorded verdict is the key. */
	return memcmp(x, y, offsetof(struct flow, rec));
}

static void merge(struct ms_replay *r)
{
	size_t m = 0;

	if (r->merged)
		return;
	if (r->n)
		qsort(r->f, r->n, sizeof(*r->f), cmp_flow);
	for (size_t i = 0; i < r->n; i++) {
		if (m && !cmp_flow(&r->f[m - 1], &r->f[i])) {
			r->f[m - 1].rec |= r->f[i].rec;
			continue;
		}
		r->f[m++] = r->f[i];
	}
	r->n = m;
	r->merged = true;
}

/* The candidate's workload of addr: longest prefix, first in file order. */
static const char *workload_of(const struct ms_wl_index *ix, const uint8_t *addr)
{
	const struct ms_workload *w = ms_wl_index_find(ix, addr);

	return w ? w->name : NULL;
}

static int cmp_change(const void *a, const void *b)
{
	const struct change *x = a, *y = b;
	int c;

	if (x->flows != y->flows)
		return x->flows > y->flows ? -1 : 1;
	c = memcmp(x->src_addr, y->src_addr, 16);
	if (c)
		return c;
	c = memcmp(x->dst_addr, y->dst_addr, 16);
	if (c)
		return c;
	if (x->proto != y->proto)
		return x->proto < y->proto ? -1 : 1;
	return x->port < y->port ? -1 : x->port > y->port;
}

/* Changes are grouped by edge: the workloads (or addresses) at both ends,
 * protocol and port, and the two verdicts. */
static int cmp_end(const char *a, const uint8_t *aa, const char *b, const uint8_t *ba)
{
	if (a && b)
		return strcmp(a, b);
	if (a || b)
		return a ? -1 : 1;
	return memcmp(aa, ba, 16);
}

static int cmp_edge(const void *pa, const void *pb)
{
	const struct change *a = pa, *b = pb;
	int c = cmp_end(a->src, a->src_addr, b->src, b->src_addr);

	if (!c)
		c = cmp_end(a->dst, a->dst_addr, b->dst, b->dst_addr);
	if (!c)
		c = (int)a->proto - (int)b->proto;
	if (!c)
		c = (int)a->port - (int)b->port;
	if (!c)
		c = (int)a->from - (int)b->from;
	if (!c)
		c = (int)a->to - (int)b->to;
	return c;
}

static int evaluate(struct ms_replay *r)
{
	merge(r);
	if (r->evaluated)
		return 0;
	if (!r->wl && ms_wl_index_new(r->p, &r->wl))
		return -ENOMEM;
	free(r->ch);
	r->ch = NULL;
	r->n_ch = 0;
	r->allowed = r->denied = r->unchanged = r->newly_denied = r->newly_allowed = 0;
	uint8_t action = 0;
	uint32_t rule = 0;

	for (size_t i = 0; i < r->n; i++) {
		const struct flow *f = &r->f[i];
		uint8_t from, to;
		bool passed = f->rec & (REC_ALLOW | REC_AUDIT);

		if (!i || memcmp(f, &r->f[i - 1], offsetof(struct flow, sport))) {
			struct ms_flow mf = { .dir = f->dir,
					      .family = f->family,
					      .proto = f->proto,
					      .port = f->port };

			memcpy(mf.src, f->src, 16);
			memcpy(mf.dst, f->dst, 16);
			rule = ms_compiled_eval(r->c, &mf, &action);
		}
		to = action == MS_ACT_DENY ? MS_VERDICT_DENY : MS_VERDICT_ALLOW;
		from = f->rec & REC_ALLOW   ? MS_VERDICT_ALLOW
		       : f->rec & REC_AUDIT ? MS_VERDICT_AUDIT
					    : MS_VERDICT_DENY;
		if (to == MS_VERDICT_DENY)
			r->denied++;
		else
			r->allowed++;
		if (passed == (to == MS_VERDICT_ALLOW)) {
			r->unchanged++;
			continue;
		}
		if (passed)
			r->newly_denied++;
		else
			r->newly_allowed++;
		if ((r->n_ch & (r->n_ch - 1)) == 0) { /* grow at powers of two */
			struct change *grown =
				realloc(r->ch, (r->n_ch ? 2 * r->n_ch : 16) * sizeof(*grown));

			if (!grown)
				return -ENOMEM;
			r->ch = grown;
		}
		struct change *nc = &r->ch[r->n_ch++];
		memset(nc, 0, sizeof(*nc));
		nc->src = workload_of(r->wl, f->src);
		nc->dst = workload_of(r->wl, f->dst);
		memcpy(nc->src_addr, f->src, 16);
		memcpy(nc->dst_addr, f->dst, 16);
		nc->proto = f->proto;
		nc->port = f->port;
		nc->from = from;
		nc->to = to;
		nc->rule = rule;
		nc->flows = 1;
	}
	/* Merge the changes of one edge (a workload's addresses are one end),
	 * then order by flows. */
	size_t m = 0;

	if (!r->n_ch) {
		r->evaluated = true;
		return 0;
	}
	qsort(r->ch, r->n_ch, sizeof(*r->ch), cmp_edge);
	for (size_t i = 0; i < r->n_ch; i++) {
		if (m && !cmp_edge(&r->ch[m - 1], &r->ch[i]))
			r->ch[m - 1].flows++;
		else
			r->ch[m++] = r->ch[i];
	}
	r->n_ch = m;
	qsort(r->ch, r->n_ch, sizeof(*r->ch), cmp_change);
	r->evaluated = true;
	return 0;
}

uint64_t ms_replay_new_denies(const struct ms_replay *r)
{
	return r->newly_denied;
}

static void end_name(char *buf, size_t len, const char *wl, const uint8_t *addr)
{
	struct ms_cidr c = { .plen = 128 };
	char *slash;

	if (wl) {
		snprintf(buf, len, "%s", wl);
		return;
	}
	memcpy(c.addr, addr, 16);
	ms_cidr_format(&c, buf);
	slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
}

static const char *rule_name(const struct ms_replay *r, uint32_t id)
{
	return id && id <= r->p->n_rules ? r->p->rules[id - 1].name : "default";
}

static void service(char *buf, size_t len, uint8_t proto, uint16_t port)
{
	const char *n = ms_proto_name(proto);

	if (n && (ms_proto_has_ports(proto) || ms_proto_is_icmp(proto)))
		snprintf(buf, len, "%s/%u", n, port);
	else if (n)
		snprintf(buf, len, "%s", n);
	else
		snprintf(buf, len, "%u", proto);
}

cJSON *ms_replay_json(struct ms_replay *r, size_t top)
{
	cJSON *o, *arr;
	bool ok;

	if (evaluate(r))
		return NULL;
	o = cJSON_CreateObject();
	ok = o != NULL;
	ok &= o && ms_json_add_u64(o, "flows", r->n);
	ok &= o && ms_json_add_u64(o, "allowed", r->allowed);
	ok &= o && ms_json_add_u64(o, "denied", r->denied);
	ok &= o && ms_json_add_u64(o, "unchanged", r->unchanged);
	ok &= o && ms_json_add_u64(o, "newly_denied", r->newly_denied);
	ok &= o && ms_json_add_u64(o, "newly_allowed", r->newly_allowed);
	arr = o ? cJSON_AddArrayToObject(o, "changes") : NULL;
	ok &= arr != NULL;
	for (size_t i = 0; ok && i < r->n_ch && i < top; i++) {
		const struct change *c = &r->ch[i];
		cJSON *e = cJSON_CreateObject();
		char s[MS_CIDR_STRLEN], d[MS_CIDR_STRLEN];
		const char *pn = ms_proto_name(c->proto);

		ok &= e && cJSON_AddItemToArray(arr, e);
		if (!ok) {
			cJSON_Delete(e);
			break;
		}
		end_name(s, sizeof(s), c->src, c->src_addr);
		end_name(d, sizeof(d), c->dst, c->dst_addr);
		ok &= cJSON_AddStringToObject(e, "src", s) != NULL;
		ok &= cJSON_AddStringToObject(e, "dst", d) != NULL;
		ok &= pn ? cJSON_AddStringToObject(e, "proto", pn) != NULL
			 : ms_json_add_u64(e, "proto", c->proto);
		ok &= ms_json_add_u64(e, "port", c->port);
		ok &= cJSON_AddStringToObject(e, "from", ms_verdict_name(c->from)) != NULL;
		ok &= cJSON_AddStringToObject(e, "to", ms_verdict_name(c->to)) != NULL;
		ok &= cJSON_AddStringToObject(e, "rule", rule_name(r, c->rule)) != NULL;
		ok &= ms_json_add_u64(e, "flows", c->flows);
	}
	if (!ok) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

void ms_replay_print(struct ms_replay *r, FILE *f, size_t top)
{
	if (evaluate(r)) {
		fprintf(f, "out of memory\n");
		return;
	}
	fprintf(f, "%zu flows: %" PRIu64 " allowed, %" PRIu64 " denied by the candidate\n", r->n,
		r->allowed, r->denied);
	fprintf(f,
		"%" PRIu64 " unchanged, %" PRIu64 " newly denied (recorded as allow or audit), "
		"%" PRIu64 " newly allowed (recorded as deny)\n",
		r->unchanged, r->newly_denied, r->newly_allowed);
	if (!r->n_ch)
		return;
	fprintf(f, "\n%-7s  %-12s  %-24s  %-24s  %-12s  %s\n", "FLOWS", "CHANGE", "SOURCE",
		"DESTINATION", "SERVICE", "RULE");
	for (size_t i = 0; i < r->n_ch && i < top; i++) {
		const struct change *c = &r->ch[i];
		char s[MS_CIDR_STRLEN], d[MS_CIDR_STRLEN], svc[32], chg[24];

		end_name(s, sizeof(s), c->src, c->src_addr);
		end_name(d, sizeof(d), c->dst, c->dst_addr);
		service(svc, sizeof(svc), c->proto, c->port);
		snprintf(chg, sizeof(chg), "%s->%s", ms_verdict_name(c->from),
			 ms_verdict_name(c->to));
		fprintf(f, "%-7" PRIu64 "  %-12s  %-24s  %-24s  %-12s  %s\n", c->flows, chg, s, d,
			svc, rule_name(r, c->rule));
	}
	if (r->n_ch > top)
		fprintf(f, "... and %zu more edges\n", r->n_ch - top);
}
