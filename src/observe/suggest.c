// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "suggest.h"
#include "timefmt.h"

/* Denied edges listed in the header comment at most. */
#define MAX_DENIED_LISTED 100

/* A string -> index map (open addressing, keys borrowed): suggest looks up
 * nodes and rules once per edge, and graphs have 100,000 edges. */
struct strmap {
	const char **keys;
	size_t *vals;
	size_t cap, n;
};

static size_t str_hash(const char *s)
{
	size_t h = 1469598103934665603ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static long map_get(const struct strmap *m, const char *k)
{
	if (!m->cap || !k)
		return -1;
	for (size_t i = str_hash(k) & (m->cap - 1); m->keys[i]; i = (i + 1) & (m->cap - 1))
		if (!strcmp(m->keys[i], k))
			return (long)m->vals[i];
	return -1;
}

static int map_put(struct strmap *m, const char *k, size_t v)
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

static void map_free(struct strmap *m)
{
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof(*m));
}

struct snode {
	const char *id;
	char *name;	     /* workload name in the suggested policy */
	const cJSON *labels; /* object or NULL */
	const cJSON *addrs;  /* array of addresses (graph's) or NULL */
	bool seen_only;	     /* addrs are addresses seen, not a definition */
	bool define;	     /* a workload this policy must define */
	bool in_current;     /* defined by the current policy */
	char *sig;	     /* its passing edges, for grouping */
	int group;	     /* index of its label group, or -1 */
};

struct group {
	char *key;	     /* canonical labels "k=v\n..." */
	const cJSON *labels; /* of the first member */
	int first;	     /* node index */
	size_t n;
	bool usable;
};

struct rule {
	char *src, *dst; /* selector YAML */
	char *src_name, *dst_name;
	int proto;
	uint16_t *ports;
	size_t n_ports, cap_ports;
	uint64_t flows, allowed, audit, denied;
	char first[MS_TIME_STRLEN], last[MS_TIME_STRLEN];
};

struct ctx {
	const struct ms_suggest_opts *o;
	cJSON *g;
	struct snode *nodes;
	size_t n_nodes;
	size_t cap_nodes; /* allocated, zeroed: freed up to this, also midway */
	struct group *groups;
	size_t n_groups;
	struct rule *rules;
	size_t n_rules;
	struct strmap node_ids; /* node id -> index */
	struct strmap names;	/* workload names given so far -> node index */
	size_t *holders;	/* nodes defined with addresses, in order */
	size_t n_holders;
	struct strmap rule_keys; /* "src\x1fdst\x1fproto" -> rule index */
	char **rule_key_text;	 /* the keys rule_keys borrows */
	FILE *f;
};

/* ------------------------------------------------------------ helpers */

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

/* A policy name from free text: [A-Za-z0-9._-], at most 100 characters. */
static char *sanitize(const char *s)
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

static const char *jstr(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static uint64_t jnum(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsNumber(v) && v->valuedouble > 0 ? (uint64_t)v->valuedouble : 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "k=v\n" for each label, sorted: equal label sets, equal keys. */
static char *labels_key(const cJSON *labels)
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
	qsort(v, n, sizeof(*v), cmp_str);
	out = calloc(1, len);
	for (i = 0; out && i < n; i++)
		strcat(out, v[i]);
out:
	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
	return out;
}

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

/* Checked once per node or edge in the loops over them. */
static bool cancelled(const struct ctx *c)
{
	return c->o->cancel && atomic_load_explicit(c->o->cancel, memory_order_relaxed);
}

static bool passing(const struct ctx *c, const cJSON *e)
{
	return jnum(e, "allowed") + jnum(e, "audit") > 0 ||
	       (c->o->include_denied && jnum(e, "denied") > 0);
}

static long node_index(const struct ctx *c, const char *id)
{
	return map_get(&c->node_ids, id);
}

/* Taken by the current policy or a node named before (a map: a flood of
 * addresses is a hundred thousand nodes). */
static bool name_taken(const struct ctx *c, const char *name)
{
	return current_wl(c->o->current, name) || map_get(&c->names, name) >= 0;
}

/* Node i has its final name. */
static int named(struct ctx *c, size_t i)
{
	return map_get(&c->names, c->nodes[i].name) >= 0 ? 0
							 : map_put(&c->names, c->nodes[i].name, i);
}

/* ------------------------------------------------------------- nodes */

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

static int load_nodes(struct ctx *c)
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
			const char *id = jstr(n, "id"), *name = jstr(n, "name"),
				   *kind = jstr(n, "kind");
			const struct ms_workload *cw = NULL;
			const struct snode *holder;
			char *base;

			if (cancelled(c))
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
				base = sanitize(name);
			} else {
				char *t = NULL;

				if (asprintf(&t, "host-%s", name) < 0)
					return -ENOMEM;
				base = sanitize(t);
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
		if (map_put(&c->node_ids, c->nodes[i].id, i))
			return -ENOMEM;
	return 0;
}

/* The labels a node's workload carries in the suggested policy. */
static char *node_labels_key(const struct ctx *c, const struct snode *s)
{
	const struct ms_workload *w = s->in_current ? current_wl(c->o->current, s->name) : NULL;
	cJSON *tmp;
	char *k;

	if (!w)
		return s->labels && cJSON_GetArraySize(s->labels) ? labels_key(s->labels) : NULL;
	if (!w->n_labels)
		return NULL;
	tmp = cJSON_CreateObject();
	for (size_t i = 0; tmp && i < w->n_labels; i++)
		cJSON_AddStringToObject(tmp, w->labels[i].key, w->labels[i].value);
	k = tmp ? labels_key(tmp) : NULL;
	cJSON_Delete(tmp);
	return k;
}

/* ------------------------------------------------------------ grouping */

static int append(char **s, size_t *len, const char *add)
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
	const char *ps = jstr(e, "proto");

	if (asprintf(&s, "%c|%s|%" PRIu64 "|%d\n", dir, peer, jnum(e, "port"),
		     ps ? ms_proto_parse(ps) : (int)jnum(e, "proto")) < 0)
		return NULL;
	return s;
}

static int signatures(struct ctx *c)
{
	const cJSON *edges = cJSON_GetObjectItemCaseSensitive(c->g, "edges"), *e;
	struct items *per = calloc(c->n_nodes + 1, sizeof(*per));
	int err = 0;

	if (!per)
		return -ENOMEM;
	cJSON_ArrayForEach(e, edges)
	{
		const char *src = jstr(e, "src"), *dst = jstr(e, "dst");
		long si = node_index(c, src), di = node_index(c, dst);

		if (!passing(c, e) || si < 0 || di < 0)
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
			qsort(per[i].v, per[i].n, sizeof(*per[i].v), cmp_str);
		c->nodes[i].sig = strdup("");
		for (size_t k = 0; k < per[i].n && c->nodes[i].sig && !err; k++)
			err = append(&c->nodes[i].sig, &len, per[i].v[k]);
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
		k = tmp ? labels_key(tmp) : NULL;
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
		k = labels_key(s->labels);
		if (!k)
			return false;
		hit = labels_include(k, key);
		free(k);
		if (hit)
			return false;
	}
	return true;
}

static int group_nodes(struct ctx *c)
{
	c->groups = calloc(c->n_nodes + 1, sizeof(*c->groups));
	if (!c->groups)
		return -ENOMEM;
	for (size_t i = 0; i < c->n_nodes; i++) {
		struct snode *s = &c->nodes[i];
		char *key;
		size_t g;

		if (cancelled(c))
			return -ECANCELED;
		if (!*s->sig)
			continue; /* no passing edge: no rule names it */
		key = node_labels_key(c, s);
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

		if (cancelled(c))
			return -ECANCELED;
		gr->usable = gr->usable && gr->n > 1 && selects_exactly(c, (int)g, gr->key);
		if (!gr->usable)
			for (size_t i = 0; i < c->n_nodes; i++)
				if (c->nodes[i].group == (int)g)
					c->nodes[i].group = -1;
	}
	return 0;
}

/* -------------------------------------------------------------- rules */

/* The selector of a node as YAML, and a short name for rule names. */
static int selector(const struct ctx *c, const struct snode *s, char **yaml, char **name)
{
	if (s->group >= 0) {
		const struct group *g = &c->groups[s->group];
		char *y = NULL, *n = NULL, *line = g->key;
		size_t yl = 0, nl = 0;
		int err = append(&y, &yl, "{labels: {");

		for (bool first = true; !err && *line; first = false) {
			char *eq = strchr(line, '='), *end = strchr(line, '\n');
			char *kv = NULL;

			if (asprintf(&kv, "%s\"%.*s\": \"%.*s\"", first ? "" : ", ",
				     (int)(eq - line), line, (int)(end - eq - 1), eq + 1) < 0)
				err = -ENOMEM;
			if (!err)
				err = append(&y, &yl, kv);
			free(kv);
			if (!err && asprintf(&kv, "%s%.*s", first ? "" : "-", (int)(end - eq - 1),
					     eq + 1) >= 0) {
				err = append(&n, &nl, kv);
				free(kv);
			}
			line = end + 1;
		}
		if (!err)
			err = append(&y, &yl, "}}");
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

static int build_rules(struct ctx *c)
{
	const cJSON *edges = cJSON_GetObjectItemCaseSensitive(c->g, "edges"), *e;

	c->rules = calloc((size_t)cJSON_GetArraySize(edges) + 1, sizeof(*c->rules));
	c->rule_key_text = calloc((size_t)cJSON_GetArraySize(edges) + 1, sizeof(char *));
	if (!c->rules || !c->rule_key_text)
		return -ENOMEM;
	cJSON_ArrayForEach(e, edges)
	{
		long si = node_index(c, jstr(e, "src")), di = node_index(c, jstr(e, "dst"));
		const char *ps = jstr(e, "proto"), *fs = jstr(e, "first_seen"),
			   *ls = jstr(e, "last_seen");
		int proto = ps ? ms_proto_parse(ps) : (int)jnum(e, "proto");
		char *sy = NULL, *sn = NULL, *dy = NULL, *dn = NULL;
		struct rule *r = NULL;
		int err;

		if (cancelled(c))
			return -ECANCELED;
		if (!passing(c, e) || si < 0 || di < 0 || proto < 0)
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
		ri = map_get(&c->rule_keys, key);
		if (ri >= 0) {
			r = &c->rules[ri];
			free(key);
		} else {
			c->rule_key_text[c->n_rules] = key;
			if (map_put(&c->rule_keys, key, c->n_rules)) {
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
		if (add_port(r, (uint16_t)jnum(e, "port")))
			return -ENOMEM;
		r->flows += jnum(e, "flows");
		r->allowed += jnum(e, "allowed");
		r->audit += jnum(e, "audit");
		r->denied += jnum(e, "denied");
		if (fs && (!r->first[0] || strcmp(fs, r->first) < 0))
			snprintf(r->first, sizeof(r->first), "%s", fs);
		if (ls && strcmp(ls, r->last) > 0)
			snprintf(r->last, sizeof(r->last), "%s", ls);
	}
	return 0;
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

/* ------------------------------------------------------------- output */

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

static void print_workloads(struct ctx *c)
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
		const char *src = jstr(e, "src"), *dst = jstr(e, "dst");

		if (!jnum(e, "denied") || !src || !dst)
			continue;
		if (!n)
			fputs("#\n# Denied and not allowed here (--include-denied to allow "
			      "them):\n",
			      c->f);
		if (n++ < MAX_DENIED_LISTED)
			fprintf(c->f, "#   %s -> %s %s/%" PRIu64 ": %" PRIu64 " flows\n",
				strchr(src, ':') + 1, strchr(dst, ':') + 1,
				jstr(e, "proto") ? jstr(e, "proto") : "?", jnum(e, "port"),
				jnum(e, "denied"));
	}
	if (n > MAX_DENIED_LISTED)
		fprintf(c->f, "#   ... and %zu more\n", n - MAX_DENIED_LISTED);
}

static int print_rules(struct ctx *c)
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

		if (cancelled(c)) {
			err = -ECANCELED;
			goto fail;
		}
		snprintf(pbuf, sizeof(pbuf), "%d", r->proto);
		if (asprintf(&raw, "%s-to-%s-%s", r->src_name, r->dst_name, pn ? pn : pbuf) < 0)
			goto fail;
		names[i] = sanitize(raw);
		free(raw);
		if (!names[i])
			goto fail;
		for (int k = 2;; k++) {
			if (map_get(&taken, names[i]) < 0)
				break;
			raw = names[i];
			if (asprintf(&names[i], "%s-%d", raw, k) < 0) {
				names[i] = raw;
				goto fail;
			}
			free(raw);
		}
		if (map_put(&taken, names[i], i))
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
	map_free(&taken);
	for (size_t i = 0; i < c->n_rules; i++)
		free(names[i]);
	free(names);
	return err;
}

static void header(struct ctx *c)
{
	const cJSON *edges = cJSON_GetObjectItemCaseSensitive(c->g, "edges"), *e;
	uint64_t flows = 0, passed = 0;
	char first[MS_TIME_STRLEN] = "", last[MS_TIME_STRLEN] = "";

	cJSON_ArrayForEach(e, edges)
	{
		const char *fs = jstr(e, "first_seen"), *ls = jstr(e, "last_seen");

		flows += jnum(e, "flows");
		passed += jnum(e, "allowed") + jnum(e, "audit");
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
			jnum(c->g, "dropped_edges"));
	fputs("# It allows what was observed passing, and nothing else. Preview it on\n"
	      "# recorded traffic before enforcing it:\n"
	      "#   microsegctl replay -p THIS-FILE --fail-on-new-deny FLOWLOG...\n",
	      c->f);
	print_denied(c);
}

int ms_suggest(const struct ms_graph *g, const struct ms_suggest_opts *o, char **out)
{
	struct ctx c = { .o = o };
	cJSON *raw = ms_graph_to_json(g);
	char *text = raw ? cJSON_PrintUnformatted(raw) : NULL, *buf = NULL;
	size_t len = 0;
	int err = 0;

	cJSON_Delete(raw);
	/* Counts are raw numbers in the graph's JSON: parse them back. */
	c.g = text ? cJSON_Parse(text) : NULL;
	free(text);
	if (!c.g)
		return -ENOMEM;
	err = load_nodes(&c);
	if (!err)
		err = signatures(&c);
	if (!err && o->group == MS_GROUP_LABELS)
		err = group_nodes(&c);
	if (!err)
		err = build_rules(&c);
	if (!err && !c.n_rules)
		err = -ENODATA;
	if (!err) {
		c.f = open_memstream(&buf, &len);
		if (!c.f)
			err = -ENOMEM;
	}
	if (!err) {
		header(&c);
		fputs("version: 1\nmode: enforce\ndefault: deny\n", c.f);
		print_workloads(&c);
		err = print_rules(&c);
		if (fclose(c.f) && !err)
			err = -ENOMEM;
		if (err) {
			free(buf);
			buf = NULL;
		}
	}
	for (size_t i = 0; c.nodes && i < c.cap_nodes; i++) {
		free(c.nodes[i].name);
		free(c.nodes[i].sig);
	}
	for (size_t i = 0; i < c.n_groups; i++)
		free(c.groups[i].key);
	for (size_t i = 0; c.rules && i < c.n_rules; i++) {
		free(c.rules[i].src);
		free(c.rules[i].dst);
		free(c.rules[i].src_name);
		free(c.rules[i].dst_name);
		free(c.rules[i].ports);
	}
	for (size_t i = 0; c.rule_key_text && i < c.n_rules; i++)
		free(c.rule_key_text[i]);
	free(c.rule_key_text);
	map_free(&c.node_ids);
	map_free(&c.names);
	free(c.holders);
	map_free(&c.rule_keys);
	free(c.rules);
	free(c.groups);
	free(c.nodes);
	cJSON_Delete(c.g);
	if (!err)
		*out = buf;
	return err;
}
