// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* The suggested policy written as YAML, its header comment first. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "suggest_int.h"
#include "timefmt.h"

/* Denied edges listed in the header comment at most. */
#define MAX_DENIED_LISTED 100

static void yaml_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		if ((unsigned char)*s < 0x20)
			fprintf(f, "\\x%02x", (unsigned char)*s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

static int cmp_u16(const void *a, const void *b)
{
	return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
}

static int cmp_rule(const void *a, const void *b)
{
	const struct rule *x = a, *y = b;
	int c = strcmp(x->src_name, y->src_name);

	if (!c)
		c = strcmp(x->dst_name, y->dst_name);
	if (!c)
		c = strcmp(x->src, y->src);
	if (!c)
		c = strcmp(x->dst, y->dst);
	return c ? c : x->proto - y->proto;
}

/* "tcp/80, tcp/8000-8002": contiguous ports as ranges. */
static void print_ports(FILE *f, const struct rule *r)
{
	const char *pn = ms_proto_name((uint8_t)r->proto);

	if (!pn ||
	    (!ms_proto_has_ports((uint8_t)r->proto) && !ms_proto_is_icmp((uint8_t)r->proto))) {
		/* Quoted: a protocol number, not a forgotten port. */
		fprintf(f, "\"%d\"", r->proto);
		return;
	}
	qsort(r->ports, r->n_ports, sizeof(*r->ports), cmp_u16);
	for (size_t i = 0; i < r->n_ports;) {
		size_t j = i;

		while (j + 1 < r->n_ports && r->ports[j + 1] == r->ports[j] + 1)
			j++;
		fprintf(f, "%s%s/%u", i ? ", " : "", pn, r->ports[i]);
		if (j > i)
			fprintf(f, "-%u", r->ports[j]);
		i = j + 1;
	}
}

static void print_workload(FILE *f, const char *name, const cJSON *labels,
			   const struct ms_workload *w, const char *const *addrs, size_t n_addrs)
{
	fprintf(f, "  %s:\n", name);
	if (w && w->n_labels) {
		fputs("    labels: {", f);
		for (size_t i = 0; i < w->n_labels; i++) {
			fputs(i ? ", " : "", f);
			yaml_str(f, w->labels[i].key);
			fputs(": ", f);
			yaml_str(f, w->labels[i].value);
		}
		fputs("}\n", f);
	} else if (labels && cJSON_GetArraySize(labels)) {
		const cJSON *l;
		bool first = true;

		fputs("    labels: {", f);
		cJSON_ArrayForEach(l, labels)
		{
			fputs(first ? "" : ", ", f);
			yaml_str(f, l->string);
			fputs(": ", f);
			yaml_str(f, cJSON_IsString(l) ? l->valuestring : "");
			first = false;
		}
		fputs("}\n", f);
	}
	fputs("    addresses: [", f);
	if (w) {
		for (size_t i = 0; i < w->n_addrs; i++) {
			char b[MS_CIDR_STRLEN];

			fputs(i ? ", " : "", f);
			yaml_str(f, ms_cidr_format(&w->addrs[i], b));
		}
	} else {
		for (size_t i = 0; i < n_addrs; i++) {
			fputs(i ? ", " : "", f);
			yaml_str(f, addrs[i]);
		}
	}
	fputs("]\n", f);
}

void suggest_print_workloads(struct ctx *c)
{
	const struct ms_policy *p = c->o->current;

	fputs("workloads:\n", c->f);
	for (size_t i = 0; p && i < p->n_workloads; i++)
		print_workload(c->f, p->workloads[i].name, NULL, &p->workloads[i], NULL, 0);
	for (size_t i = 0; i < c->n_nodes; i++) {
		const struct snode *s = &c->nodes[i];
		const char *one[1];
		const char **addrs = one;
		size_t n = 0;

		if (!s->define || !*s->sig)
			continue;
		if (s->addrs) {
			const cJSON *a;

			addrs = calloc((size_t)cJSON_GetArraySize(s->addrs) + 1, sizeof(*addrs));
			if (!addrs)
				continue;
			cJSON_ArrayForEach(a, s->addrs)
			{
				if (cJSON_IsString(a))
					addrs[n++] = a->valuestring;
			}
		} else if (!strncmp(s->id, "ip:", 3)) {
			one[0] = s->id + 3;
			n = 1;
		}
		if (s->seen_only)
			fprintf(c->f, "  # %s: the addresses it was seen with\n", s->name);
		print_workload(c->f, s->name, s->labels, NULL, addrs, n);
		if (addrs != one)
			free(addrs);
	}
}

static void print_denied(struct ctx *c)
{
	const cJSON *edges = cJSON_GetObjectItemCaseSensitive(c->g, "edges"), *e;
	size_t n = 0;

	if (c->o->include_denied)
		return;
	cJSON_ArrayForEach(e, edges)
	{
		const char *src = suggest_jstr(e, "src"), *dst = suggest_jstr(e, "dst");

		if (!suggest_jnum(e, "denied") || !src || !dst)
			continue;
		if (!n)
			fputs("#\n# Denied and not allowed here (--include-denied to allow "
			      "them):\n",
			      c->f);
		if (n++ < MAX_DENIED_LISTED)
			fprintf(c->f, "#   %s -> %s %s/%" PRIu64 ": %" PRIu64 " flows\n",
				strchr(src, ':') + 1, strchr(dst, ':') + 1,
				suggest_jstr(e, "proto") ? suggest_jstr(e, "proto") : "?",
				suggest_jnum(e, "port"), suggest_jnum(e, "denied"));
	}
	if (n > MAX_DENIED_LISTED)
		fprintf(c->f, "#   ... and %zu more\n", n - MAX_DENIED_LISTED);
}

int suggest_print_rules(struct ctx *c)
{
	char **names = calloc(c->n_rules + 1, sizeof(*names));
	struct strmap taken = { 0 }; /* the rule names given so far */
	int err = -ENOMEM;

	if (!names)
		return -ENOMEM;
	qsort(c->rules, c->n_rules, sizeof(*c->rules), cmp_rule);
	fputs("rules:\n", c->f);
	for (size_t i = 0; i < c->n_rules; i++) {
		const struct rule *r = &c->rules[i];
		const char *pn = ms_proto_name((uint8_t)r->proto);
		char pbuf[8], *raw = NULL;

		if (suggest_cancelled(c)) {
			err = -ECANCELED;
			goto fail;
		}
		snprintf(pbuf, sizeof(pbuf), "%d", r->proto);
		if (asprintf(&raw, "%s-to-%s-%s", r->src_name, r->dst_name, pn ? pn : pbuf) < 0)
			goto fail;
		names[i] = suggest_sanitize(raw);
		free(raw);
		if (!names[i])
			goto fail;
		for (int k = 2;; k++) {
			if (suggest_map_get(&taken, names[i]) < 0)
				break;
			raw = names[i];
			if (asprintf(&names[i], "%s-%d", raw, k) < 0) {
				names[i] = raw;
				goto fail;
			}
			free(raw);
		}
		if (suggest_map_put(&taken, names[i], i))
			goto fail;
		fprintf(c->f,
			"  # %" PRIu64 " flow%s (%" PRIu64 " allowed, %" PRIu64 " audit, %" PRIu64
			" denied), first %s, last %s\n",
			r->flows, r->flows == 1 ? "" : "s", r->allowed, r->audit, r->denied,
			r->first, r->last);
		fprintf(c->f,
			"  - name: %s\n    action: allow\n    from: %s\n    to: %s\n    ports: [",
			names[i], r->src, r->dst);
		print_ports(c->f, r);
		fputs("]\n", c->f);
	}
	err = 0;
fail:
	suggest_map_free(&taken);
	for (size_t i = 0; i < c->n_rules; i++)
		free(names[i]);
	free(names);
	return err;
}

void suggest_header(struct ctx *c)
{
	const cJSON *edges = cJSON_GetObjectItemCaseSensitive(c->g, "edges"), *e;
	uint64_t flows = 0, passed = 0;
	char first[MS_TIME_STRLEN] = "", last[MS_TIME_STRLEN] = "";

	cJSON_ArrayForEach(e, edges)
	{
		const char *fs = suggest_jstr(e, "first_seen"), *ls = suggest_jstr(e, "last_seen");

		flows += suggest_jnum(e, "flows");
		passed += suggest_jnum(e, "allowed") + suggest_jnum(e, "audit");
		if (fs && (!first[0] || strcmp(fs, first) < 0))
			snprintf(first, sizeof(first), "%s", fs);
		if (ls && strcmp(ls, last) > 0)
			snprintf(last, sizeof(last), "%s", ls);
	}
	fprintf(c->f,
		"# Suggested by microsegd from %s: %" PRIu64 " flows (%" PRIu64
		" allowed or audited)\n# on %d edges, first seen %s, last seen %s.\n",
		c->o->source ? c->o->source : "a flow graph", flows, passed,
		cJSON_GetArraySize(edges), first[0] ? first : "-", last[0] ? last : "-");
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c->g, "truncated")))
		fprintf(c->f,
			"# WARNING: the flow graph was full and dropped %" PRIu64
			" edges: their flows are not allowed here.\n",
			suggest_jnum(c->g, "dropped_edges"));
	fputs("# It allows what was observed suggest_passing, and nothing else. Preview it on\n"
	      "# recorded traffic before enforcing it:\n"
	      "#   microsegctl replay -p THIS-FILE --fail-on-new-deny FLOWLOG...\n",
	      c->f);
	print_denied(c);
}
