/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Inside suggest (suggest.h): the state its steps share. suggest.c runs
 * them in order, suggest_util.c holds the helpers they share; suggest_nodes.c names the graph's
 * nodes as workloads, suggest_group.c groups them, suggest_rules.c builds
 * the rules, suggest_print.c writes the policy.
 */
#ifndef MICROSEGD_SUGGEST_INT_H
#define MICROSEGD_SUGGEST_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "suggest.h"
#include "timefmt.h"

/* A string -> index map (open addressing, keys borrowed): suggest looks up
 * nodes and rules once per edge, and graphs have 100,000 edges. */
struct strmap {
	const char **keys;
	size_t *vals;
	size_t cap, n;
};

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

/* The index of k, or -1. */
long suggest_map_get(const struct strmap *m, const char *k);
/* Maps k (borrowed, must outlive the map) to v; -ENOMEM. */
int suggest_map_put(struct strmap *m, const char *k, size_t v);
void suggest_map_free(struct strmap *m);

/* A policy name from free text: [A-Za-z0-9._-], at most 100 characters. */
char *suggest_sanitize(const char *s);
/* The string at k, or NULL. */
const char *suggest_jstr(const cJSON *o, const char *k);
/* The positive number at k, or 0. */
uint64_t suggest_jnum(const cJSON *o, const char *k);
/* qsort's comparison of strings held by pointer. */
int suggest_cmp_str(const void *a, const void *b);
/* "k=v\n" for each label, sorted: equal label sets, equal keys. */
char *suggest_labels_key(const cJSON *labels);
/* Checked once per node or edge in the loops over them. */
bool suggest_cancelled(const struct ctx *c);
/* An edge the suggestion allows: it passed, or it was denied and denied
 * flows are included. */
bool suggest_passing(const struct ctx *c, const cJSON *e);
long suggest_node_index(const struct ctx *c, const char *id);
/* Appends add to the string *s of length *len; -ENOMEM. */
int suggest_append(char **s, size_t *len, const char *add);

/* The steps, in the order ms_suggest runs them; each returns 0 or a
 * negative errno (-ECANCELED when cancelled). */
int suggest_load_nodes(struct ctx *c);
int suggest_signatures(struct ctx *c);
int suggest_group_nodes(struct ctx *c);
int suggest_build_rules(struct ctx *c);
void suggest_header(struct ctx *c);
void suggest_print_workloads(struct ctx *c);
int suggest_print_rules(struct ctx *c);

/* The labels a node's workload carries in the suggested policy. */
char *suggest_node_labels_key(const struct ctx *c, const struct snode *s);

#endif /* MICROSEGD_SUGGEST_INT_H */
