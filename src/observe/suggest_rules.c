// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* One rule per passing edge (or group of them), its ports merged. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "suggest_int.h"

/* The selector of a node as YAML, and a short name for rule names. */
static int selector(const struct ctx *c, const struct snode *s, char **yaml, char **name)
{
	if (s->group >= 0) {
		const struct group *g = &c->groups[s->group];
		char *y = NULL, *n = NULL, *line = g->key;
		size_t yl = 0, nl = 0;
		int err = suggest_append(&y, &yl, "{labels: {");

		for (bool first = true; !err && *line; first = false) {
			char *eq = strchr(line, '='), *end = strchr(line, '\n');
			char *kv = NULL;

			if (asprintf(&kv, "%s\"%.*s\": \"%.*s\"", first ? "" : ", ",
				     (int)(eq - line), line, (int)(end - eq - 1), eq + 1) < 0)
				err = -ENOMEM;
			if (!err)
				err = suggest_append(&y, &yl, kv);
			free(kv);
			if (!err && asprintf(&kv, "%s%.*s", first ? "" : "-", (int)(end - eq - 1),
					     eq + 1) >= 0) {
				err = suggest_append(&n, &nl, kv);
				free(kv);
			}
			line = end + 1;
		}
		if (!err)
			err = suggest_append(&y, &yl, "}}");
		if (err) {
			free(y);
			free(n);
			return err;
		}
		*yaml = y;
		*name = n;
		return 0;
	}
	if (asprintf(yaml, "{workload: %s}", s->name) < 0)
		return -ENOMEM;
	*name = strdup(s->name);
	return *name ? 0 : -ENOMEM;
}

static int add_port(struct rule *r, uint16_t port)
{
	for (size_t i = 0; i < r->n_ports; i++)
		if (r->ports[i] == port)
			return 0;
	if (r->n_ports == r->cap_ports) {
		size_t ncap = r->cap_ports ? r->cap_ports * 2 : 8;
		uint16_t *np = realloc(r->ports, ncap * sizeof(*np));

		if (!np)
			return -ENOMEM;
		r->ports = np;
		r->cap_ports = ncap;
	}
	r->ports[r->n_ports++] = port;
	return 0;
}

int suggest_build_rules(struct ctx *c)
{
	const cJSON *edges = cJSON_GetObjectItemCaseSensitive(c->g, "edges"), *e;

	c->rules = calloc((size_t)cJSON_GetArraySize(edges) + 1, sizeof(*c->rules));
	c->rule_key_text = calloc((size_t)cJSON_GetArraySize(edges) + 1, sizeof(char *));
	if (!c->rules || !c->rule_key_text)
		return -ENOMEM;
	cJSON_ArrayForEach(e, edges)
	{
		long si = suggest_node_index(c, suggest_jstr(e, "src")),
		     di = suggest_node_index(c, suggest_jstr(e, "dst"));
		const char *ps = suggest_jstr(e, "proto"), *fs = suggest_jstr(e, "first_seen"),
			   *ls = suggest_jstr(e, "last_seen");
		int proto = ps ? ms_proto_parse(ps) : (int)suggest_jnum(e, "proto");
		char *sy = NULL, *sn = NULL, *dy = NULL, *dn = NULL;
		struct rule *r = NULL;
		int err;

		if (suggest_cancelled(c))
			return -ECANCELED;
		if (!suggest_passing(c, e) || si < 0 || di < 0 || proto < 0)
			continue;
		err = selector(c, &c->nodes[si], &sy, &sn);
		if (!err)
			err = selector(c, &c->nodes[di], &dy, &dn);
		if (err) {
			free(sy);
			free(sn);
			free(dy);
			return err;
		}
		char *key = NULL;
		long ri;

		if (asprintf(&key, "%s\x1f%s\x1f%d", sy, dy, proto) < 0) {
			free(sy);
			free(sn);
			free(dy);
			free(dn);
			return -ENOMEM;
		}
		ri = suggest_map_get(&c->rule_keys, key);
		if (ri >= 0) {
			r = &c->rules[ri];
			free(key);
		} else {
			c->rule_key_text[c->n_rules] = key;
			if (suggest_map_put(&c->rule_keys, key, c->n_rules)) {
				free(sy);
				free(sn);
				free(dy);
				free(dn);
				return -ENOMEM;
			}
		}
		if (r) {
			free(sy);
			free(sn);
			free(dy);
			free(dn);
		} else {
			r = &c->rules[c->n_rules++];
			r->src = sy;
			r->src_name = sn;
			r->dst = dy;
			r->dst_name = dn;
			r->proto = proto;
		}
		if (add_port(r, (uint16_t)suggest_jnum(e, "port")))
			return -ENOMEM;
		r->flows += suggest_jnum(e, "flows");
		r->allowed += suggest_jnum(e, "allowed");
		r->audit += suggest_jnum(e, "audit");
		r->denied += suggest_jnum(e, "denied");
		if (fs && (!r->first[0] || strcmp(fs, r->first) < 0))
			snprintf(r->first, sizeof(r->first), "%s", fs);
		if (ls && strcmp(ls, r->last) > 0)
			snprintf(r->last, sizeof(r->last), "%s", ls);
	}
	return 0;
}
