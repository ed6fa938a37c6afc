// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* Nodes grouped by what they talk to and by their labels. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "suggest_int.h"

int suggest_append(char **s, size_t *len, const char *add)
{
	size_t n = strlen(add);
	char *ns = realloc(*s, *len + n + 1);

	if (!ns)
		return -ENOMEM;
	memcpy(ns + *len, add, n + 1);
	*s = ns;
	*len += n;
	return 0;
}

/* Each node's passing edges as one sorted string: nodes with equal
 * signatures talk to the same peers on the same ports. One pass over the
 * edges, then one sort per node. */
struct items {
	char **v;
	size_t n, cap;
};

static int items_push(struct items *it, char *s)
{
	if (!s)
		return -ENOMEM;
	if (it->n == it->cap) {
		size_t ncap = it->cap ? it->cap * 2 : 8;
		char **nv = realloc(it->v, ncap * sizeof(*nv));

		if (!nv) {
			free(s);
			return -ENOMEM;
		}
		it->v = nv;
		it->cap = ncap;
	}
	it->v[it->n++] = s;
	return 0;
}

static char *sig_item(char dir, const char *peer, const cJSON *e)
{
	char *s = NULL;
	const char *ps = suggest_jstr(e, "proto");

	if (asprintf(&s, "%c|%s|%" PRIu64 "|%d\n", dir, peer, suggest_jnum(e, "port"),
		     ps ? ms_proto_parse(ps) : (int)suggest_jnum(e, "proto")) < 0)
		return NULL;
	return s;
}

int suggest_signatures(struct ctx *c)
{
	const cJSON *edges = cJSON_GetObjectItemCaseSensitive(c->g, "edges"), *e;
	struct items *per = calloc(c->n_nodes + 1, sizeof(*per));
	int err = 0;

	if (!per)
		return -ENOMEM;
	cJSON_ArrayForEach(e, edges)
	{
		const char *src = suggest_jstr(e, "src"), *dst = suggest_jstr(e, "dst");
		long si = suggest_node_index(c, src), di = suggest_node_index(c, dst);

		if (!suggest_passing(c, e) || si < 0 || di < 0)
			continue;
		err = items_push(&per[si], sig_item('o', dst, e));
		if (!err)
			err = items_push(&per[di], sig_item('i', src, e));
		if (err)
			break;
	}
	for (size_t i = 0; i < c->n_nodes && !err; i++) {
		size_t len = 0;

		if (per[i].n)
			qsort(per[i].v, per[i].n, sizeof(*per[i].v), suggest_cmp_str);
		c->nodes[i].sig = strdup("");
		for (size_t k = 0; k < per[i].n && c->nodes[i].sig && !err; k++)
			err = suggest_append(&c->nodes[i].sig, &len, per[i].v[k]);
		if (!c->nodes[i].sig)
			err = -ENOMEM;
	}
	for (size_t i = 0; i < c->n_nodes; i++) {
		for (size_t k = 0; k < per[i].n; k++)
			free(per[i].v[k]);
		free(per[i].v);
	}
	free(per);
	return err;
}

/* Both are "k=v\n" lines: does have hold every line of want? */
static bool labels_include(const char *have, const char *want)
{
	for (const char *l = want; *l;) {
		const char *end = strchr(l, '\n');
		size_t n = (size_t)(end - l) + 1;
		bool found = false;

		for (const char *h = have; *h && !found;) {
			const char *he = strchr(h, '\n');

			found = (size_t)(he - h) + 1 == n && !strncmp(h, l, n);
			h = he + 1;
		}
		if (!found)
			return false;
		l = end + 1;
	}
	return true;
}

static bool in_group(const struct ctx *c, int g, const char *name)
{
	for (size_t n = 0; n < c->n_nodes; n++)
		if (c->nodes[n].group == g && !strcmp(c->nodes[n].name, name))
			return true;
	return false;
}

/* Would a labels selector of group g's labels select exactly its members
 * among every workload the policy defines? A workload whose labels include
 * them is selected too, member or not. */
static bool selects_exactly(const struct ctx *c, int g, const char *key)
{
	const struct ms_policy *p = c->o->current;

	for (size_t i = 0; p && i < p->n_workloads; i++) {
		cJSON *tmp = cJSON_CreateObject();
		char *k;
		bool hit;

		for (size_t j = 0; tmp && j < p->workloads[i].n_labels; j++)
			cJSON_AddStringToObject(tmp, p->workloads[i].labels[j].key,
						p->workloads[i].labels[j].value);
		k = tmp ? suggest_labels_key(tmp) : NULL;
		cJSON_Delete(tmp);
		if (!k)
			return false;
		hit = labels_include(k, key);
		free(k);
		if (hit && !in_group(c, g, p->workloads[i].name))
			return false;
	}
	for (size_t n = 0; n < c->n_nodes; n++) {
		const struct snode *s = &c->nodes[n];
		char *k;
		bool hit;

		if (!s->define || !*s->sig || s->group == g || !s->labels)
			continue;
		k = suggest_labels_key(s->labels);
		if (!k)
			return false;
		hit = labels_include(k, key);
		free(k);
		if (hit)
			return false;
	}
	return true;
}

int suggest_group_nodes(struct ctx *c)
{
	c->groups = calloc(c->n_nodes + 1, sizeof(*c->groups));
	if (!c->groups)
		return -ENOMEM;
	for (size_t i = 0; i < c->n_nodes; i++) {
		struct snode *s = &c->nodes[i];
		char *key;
		size_t g;

		if (suggest_cancelled(c))
			return -ECANCELED;
		if (!*s->sig)
			continue; /* no passing edge: no rule names it */
		key = suggest_node_labels_key(c, s);
		if (!key)
			continue;
		for (g = 0; g < c->n_groups; g++)
			if (!strcmp(c->groups[g].key, key))
				break;
		if (g == c->n_groups) {
			c->groups[g].key = key;
			c->groups[g].first = (int)i;
			c->groups[g].usable = true;
			c->n_groups++;
		} else {
			free(key);
			/* Merged only when every member has the same edges. */
			if (strcmp(c->nodes[c->groups[g].first].sig, s->sig))
				c->groups[g].usable = false;
		}
		c->groups[g].n++;
		s->group = (int)g;
	}
	for (size_t g = 0; g < c->n_groups; g++) {
		struct group *gr = &c->groups[g];

		if (suggest_cancelled(c))
			return -ECANCELED;
		gr->usable = gr->usable && gr->n > 1 && selects_exactly(c, (int)g, gr->key);
		if (!gr->usable)
			for (size_t i = 0; i < c->n_nodes; i++)
				if (c->nodes[i].group == (int)g)
					c->nodes[i].group = -1;
	}
	return 0;
}
