// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* What the steps of a suggestion share: a string map, JSON field readers,
 * label keys, cancellation. Apart from ms_suggest so that the steps depend
 * on these and the entry point on the steps, never back. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suggest_int.h"

static size_t str_hash(const char *s)
{
	size_t h = 1469598103934665603ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

long suggest_map_get(const struct strmap *m, const char *k)
{
	if (!m->cap || !k)
		return -1;
	for (size_t i = str_hash(k) & (m->cap - 1); m->keys[i]; i = (i + 1) & (m->cap - 1))
		if (!strcmp(m->keys[i], k))
			return (long)m->vals[i];
	return -1;
}

int suggest_map_put(struct strmap *m, const char *k, size_t v)
{
	if ((m->n + 1) * 2 > m->cap) {
		size_t ncap = m->cap ? m->cap * 2 : 256;
		const char **nk = calloc(ncap, sizeof(*nk));
		size_t *nv = calloc(ncap, sizeof(*nv));

		if (!nk || !nv) {
			free(nk);
			free(nv);
			return -ENOMEM;
		}
		for (size_t i = 0; i < m->cap; i++) {
			size_t j;

			if (!m->keys[i])
				continue;
			for (j = str_hash(m->keys[i]) & (ncap - 1); nk[j]; j = (j + 1) & (ncap - 1))
				;
			nk[j] = m->keys[i];
			nv[j] = m->vals[i];
		}
		free(m->keys);
		free(m->vals);
		m->keys = nk;
		m->vals = nv;
		m->cap = ncap;
	}
	size_t i;

	for (i = str_hash(k) & (m->cap - 1); m->keys[i]; i = (i + 1) & (m->cap - 1))
		if (!strcmp(m->keys[i], k))
			break;
	if (!m->keys[i])
		m->n++;
	m->keys[i] = k;
	m->vals[i] = v;
	return 0;
}

void suggest_map_free(struct strmap *m)
{
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof(*m));
}

/* A policy name from free text: [A-Za-z0-9._-], at most 100 characters. */
char *suggest_sanitize(const char *s)
{
	size_t n = strlen(s) < 100 ? strlen(s) : 100;
	char *out = malloc(n + 1);

	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++)
		out[i] = isalnum((unsigned char)s[i]) || s[i] == '.' || s[i] == '_' || s[i] == '-'
				 ? s[i]
				 : '-';
	out[n] = '\0';
	return out;
}

const char *suggest_jstr(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

uint64_t suggest_jnum(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsNumber(v) && v->valuedouble > 0 ? (uint64_t)v->valuedouble : 0;
}

int suggest_cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "k=v\n" for each label, sorted: equal label sets, equal keys. */
char *suggest_labels_key(const cJSON *labels)
{
	size_t n = (size_t)cJSON_GetArraySize(labels), i = 0, len = 1;
	char **v = calloc(n ? n : 1, sizeof(*v)), *out = NULL;
	const cJSON *l;

	if (!v)
		return NULL;
	cJSON_ArrayForEach(l, labels)
	{
		if (!cJSON_IsString(l) || asprintf(&v[i], "%s=%s\n", l->string, l->valuestring) < 0)
			goto out;
		len += strlen(v[i++]);
	}
	qsort(v, n, sizeof(*v), suggest_cmp_str);
	out = calloc(1, len);
	for (i = 0; out && i < n; i++)
		strcat(out, v[i]);
out:
	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
	return out;
}

/* Checked once per node or edge in the loops over them. */
bool suggest_cancelled(const struct ctx *c)
{
	return c->o->cancel && atomic_load_explicit(c->o->cancel, memory_order_relaxed);
}

bool suggest_passing(const struct ctx *c, const cJSON *e)
{
	return suggest_jnum(e, "allowed") + suggest_jnum(e, "audit") > 0 ||
	       (c->o->include_denied && suggest_jnum(e, "denied") > 0);
}

long suggest_node_index(const struct ctx *c, const char *id)
{
	return suggest_map_get(&c->node_ids, id);
}
