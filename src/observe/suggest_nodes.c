// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* The graph's nodes as workloads of the suggested policy, each named once. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suggest_int.h"

static const struct ms_workload *current_wl(const struct ms_policy *p, const char *name)
{
	for (size_t i = 0; p && i < p->n_workloads; i++)
		if (!strcmp(p->workloads[i].name, name))
			return &p->workloads[i];
	return NULL;
}

/* The current policy's workload holding addr (longest prefix), or NULL. */
static const struct ms_workload *current_holding(const struct ms_policy *p, const char *addr)
{
	const struct ms_workload *best = NULL;
	struct ms_cidr c;
	int best_len = -1;

	if (!p || ms_cidr_parse(addr, &c))
		return NULL;
	for (size_t i = 0; i < p->n_workloads; i++)
		for (size_t j = 0; j < p->workloads[i].n_addrs; j++) {
			const struct ms_cidr *w = &p->workloads[i].addrs[j];

			if (w->plen > best_len && ms_cidr_contains(w, c.addr)) {
				best = &p->workloads[i];
				best_len = w->plen;
			}
		}
	return best;
}

/* Taken by the current policy or a node named before (a map: a flood of
 * addresses is a hundred thousand nodes). */
static bool name_taken(const struct ctx *c, const char *name)
{
	return current_wl(c->o->current, name) || suggest_map_get(&c->names, name) >= 0;
}

/* Node i has its final name. */
static int named(struct ctx *c, size_t i)
{
	return suggest_map_get(&c->names, c->nodes[i].name) >= 0
		       ? 0
		       : suggest_map_put(&c->names, c->nodes[i].name, i);
}

/* Among the first n nodes, a workload defined here whose addresses (or
 * addresses seen) hold addr. */
static const struct snode *node_holding(const struct ctx *c, size_t n, const char *addr)
{
	struct ms_cidr a;

	if (ms_cidr_parse(addr, &a))
		return NULL;
	for (size_t h = 0; h < c->n_holders && c->holders[h] < n; h++) {
		size_t i = c->holders[h];
		const cJSON *it;

		cJSON_ArrayForEach(it, c->nodes[i].addrs)
		{
			struct ms_cidr w;

			if (cJSON_IsString(it) && !ms_cidr_parse(it->valuestring, &w) &&
			    ms_cidr_contains(&w, a.addr))
				return &c->nodes[i];
		}
	}
	return NULL;
}

int suggest_load_nodes(struct ctx *c)
{
	const cJSON *nodes = cJSON_GetObjectItemCaseSensitive(c->g, "nodes"), *n;
	size_t i = 0;

	c->cap_nodes = (size_t)cJSON_GetArraySize(nodes) + 1;
	c->nodes = calloc(c->cap_nodes, sizeof(*c->nodes));
	c->holders = calloc(c->cap_nodes, sizeof(*c->holders));
	if (!c->nodes || !c->holders)
		return -ENOMEM;
	/* Workloads first: an address node that is one of a workload's
	 * addresses (a log that spans a policy change names it both ways) is
	 * that workload. */
	for (int pass = 0; pass < 2; pass++)
		cJSON_ArrayForEach(n, nodes)
		{
			struct snode *s = &c->nodes[i];
			const char *id = suggest_jstr(n, "id"), *name = suggest_jstr(n, "name"),
				   *kind = suggest_jstr(n, "kind");
			const struct ms_workload *cw = NULL;
			const struct snode *holder;
			char *base;

			if (suggest_cancelled(c))
				return -ECANCELED;
			if (!id || !name || !kind || (strcmp(kind, "workload") == 0) == (pass == 1))
				continue;
			holder = pass ? node_holding(c, i, name) : NULL;
			if (holder) {
				s->id = id;
				s->group = -1;
				s->name = strdup(holder->name);
				if (!s->name || named(c, i))
					return -ENOMEM;
				i++;
				continue;
			}
			s->id = id;
			s->group = -1;
			s->labels = cJSON_GetObjectItemCaseSensitive(n, "labels");
			s->addrs = cJSON_GetObjectItemCaseSensitive(n, "addresses");
			if (!s->addrs) {
				s->addrs = cJSON_GetObjectItemCaseSensitive(n, "seen_addresses");
				s->seen_only = s->addrs != NULL;
			}
			if (!strcmp(kind, "workload"))
				cw = current_wl(c->o->current, name);
			else
				cw = current_holding(c->o->current, name);
			if (cw) {
				/* The current policy defines it: keep its name and labels. */
				s->name = strdup(cw->name);
				s->in_current = true;
				s->labels = NULL;
				if (!s->name || named(c, i))
					return -ENOMEM;
				i++;
				continue;
			}
			if (!strcmp(kind, "workload")) {
				base = suggest_sanitize(name);
			} else {
				char *t = NULL;

				if (asprintf(&t, "host-%s", name) < 0)
					return -ENOMEM;
				base = suggest_sanitize(t);
				free(t);
				/* An address is a workload of one. */
				s->addrs = NULL;
				s->seen_only = false;
			}
			if (!base)
				return -ENOMEM;
			s->name = strdup(base);
			for (int k = 2; s->name && name_taken(c, s->name); k++) {
				free(s->name);
				if (asprintf(&s->name, "%s-%d", base, k) < 0)
					s->name = NULL;
			}
			free(base);
			if (!s->name || named(c, i))
				return -ENOMEM;
			s->define = true;
			if (s->addrs)
				c->holders[c->n_holders++] = i;
			i++;
		}
	c->n_nodes = i;
	for (i = 0; i < c->n_nodes; i++)
		if (suggest_map_put(&c->node_ids, c->nodes[i].id, i))
			return -ENOMEM;
	return 0;
}

/* The labels a node's workload carries in the suggested policy. */
char *suggest_node_labels_key(const struct ctx *c, const struct snode *s)
{
	const struct ms_workload *w = s->in_current ? current_wl(c->o->current, s->name) : NULL;
	cJSON *tmp;
	char *k;

	if (!w)
		return s->labels && cJSON_GetArraySize(s->labels) ? suggest_labels_key(s->labels)
								  : NULL;
	if (!w->n_labels)
		return NULL;
	tmp = cJSON_CreateObject();
	for (size_t i = 0; tmp && i < w->n_labels; i++)
		cJSON_AddStringToObject(tmp, w->labels[i].key, w->labels[i].value);
	k = tmp ? suggest_labels_key(tmp) : NULL;
	cJSON_Delete(tmp);
	return k;
}
