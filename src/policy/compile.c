// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compile_int.h"

void ms_limits_default(struct ms_limits *l)
{
	l->max_rules = MS_DEFAULT_MAX_RULES;
	l->max_addr_entries = MS_DEFAULT_MAX_ADDR_ENTRIES;
	l->max_decision_entries = MS_DEFAULT_MAX_DECISION_ENTRIES;
}

static const char *const dim_names[2] = { "source address", "destination address" };

/* Below this many rules a thread costs more than it saves. */
#define PARALLEL_RULES_MIN 2048

/*
 * Dimension which (0 src, 1 dst, 2 ports) of every rule: its intervals,
 * segments, classes and each rule's classes. An address dimension is d and
 * v6 (its IPv6 line), d its IPv4 line holding the rules' classes. Touches
 * only *d and *v6 and reads p, so the three can be built at once.
 */
static int dim_build(const struct ms_policy *p, struct dim *d, struct dim *v6, int which)
{
	struct dim *lines[2] = { d, v6 };
	int err;

	for (size_t r = 0; r < p->n_rules; r++) {
		const struct ms_rule *rule = &p->rules[r];
		const struct ms_addrset *as = which == 0 ? &rule->from : &rule->to;

		if (which == 2) {
			if (mc_ports_ivals(rule, &d->sets[r]))
				return -ENOMEM;
			continue;
		}
		/* An `any` selector stays out of the segmentation: it covers
		 * every class, and leaving it out keeps class counts low. */
		d->any[r] = v6->any[r] = as->any;
		if (!as->any && (mc_addrset_ivals(as, true, &d->sets[r]) ||
				 mc_addrset_ivals(as, false, &v6->sets[r])))
			return -ENOMEM;
	}
	if (which == 2) {
		err = mc_dim_classify(d);
		return err ? err : mc_dim_rule_classes(d);
	}
	err = mc_dim_classify_lines(lines, 2);
	return err ? err : mc_dim_rule_classes_lines(lines, 2);
}

struct dim_job {
	const struct ms_policy *p;
	struct dim *d;
	int which;
	int err;
};

static void *dim_build_run(void *arg)
{
	struct dim_job *j = arg;

	j->err = dim_build(j->p, j->d, NULL, j->which);
	return NULL;
}

int ms_compile(const struct ms_policy *p, const struct ms_limits *l, struct ms_compiled **out,
	       char **errmsg)
{
	struct ms_compiled *c = calloc(1, sizeof(*c));
	/* src and dst IPv4, ports, src and dst IPv6 */
	struct dim dims[5] = { { .space_max = V4_SPACE_MAX },
			       { .space_max = V4_SPACE_MAX },
			       { .space_max = PORT_SPACE_MAX },
			       { .space_max = U128_MAX },
			       { .space_max = U128_MAX } };
	int err = -ENOMEM;

	*errmsg = NULL;
	if (!c)
		return -ENOMEM;
	if (p->n_rules > l->max_rules) {
		err = mc_set_err(errmsg, "%zu rules, more than the limit of %u", p->n_rules,
				 l->max_rules);
		goto out;
	}
	c->n_rules = (uint32_t)p->n_rules;
	c->default_action = p->default_action;
	c->monitor = p->monitor;
	for (int i = 0; i < 5; i++) {
		dims[i].n_sets = p->n_rules;
		dims[i].sets = calloc(p->n_rules ? p->n_rules : 1, sizeof(struct ivec));
		dims[i].any = calloc(p->n_rules ? p->n_rules : 1, sizeof(bool));
		if (!dims[i].sets || !dims[i].any)
			goto out;
	}
	/* The three dimensions are independent: the port dimension, the
	 * largest, is built by a thread of its own beside the two address
	 * dimensions (when a thread cannot be made, here). */
	struct dim_job port_job = { .p = p, .d = &dims[2], .which = 2 };
	pthread_t th;
	bool threaded = p->n_rules >= PARALLEL_RULES_MIN &&
			!pthread_create(&th, NULL, dim_build_run, &port_job);

	err = dim_build(p, &dims[0], &dims[3], 0);
	if (!err)
		err = dim_build(p, &dims[1], &dims[4], 1);
	if (threaded)
		pthread_join(th, NULL);
	else
		dim_build_run(&port_job);
	if (!err)
		err = port_job.err;
	if (err)
		goto out;
	c->n_src_classes = dims[0].n_class;
	c->n_dst_classes = dims[1].n_class;
	c->n_port_classes = dims[2].n_class;
	for (int i = 0; i < 2; i++) {
		struct addr_out o = {
			.arr = i == 0 ? &c->src : &c->dst,
			.n = i == 0 ? &c->n_src : &c->n_dst,
			.limit = l->max_addr_entries,
		};

		err = mc_dim_emit(&dims[i], true, &o);
		if (!err)
			err = mc_dim_emit(&dims[i + 3], false, &o);
		if (o.overflow) {
			err = mc_set_err(
				errmsg,
				"%s table overflow: more than %u entries needed; the policy "
				"has too many distinct address ranges",
				dim_names[i], o.limit);
		}
		if (err)
			goto out;
	}
	err = mc_port_table(&dims[2], c);
	if (err)
		goto out;
	err = mc_fill_decisions(p, l, dims, c, errmsg);
out:
	for (int i = 0; i < 5; i++)
		mc_dim_free(&dims[i]);
	if (err) {
		if (err == -ENOMEM && !*errmsg)
			*errmsg = strdup("out of memory");
		ms_compiled_free(&c);
		return err;
	}
	*out = c;
	return 0;
}

void ms_compiled_free(struct ms_compiled **cp)
{
	struct ms_compiled *c = *cp;

	if (!c)
		return;
	free(c->src);
	free(c->dst);
	free(c->port_table);
	free(c->dec);
	free(c);
	*cp = NULL;
}

/* Rough kernel cost per entry: an LPM trie node (rcu head, two children,
 * prefix length, flags, key data, value) with about as many intermediate
 * nodes as leaves; a hash element with its bucket share. */
#define LPM_ADDR_ENTRY_BYTES (2 * (40 + 17 + 4))
#define HASH_ENTRY_BYTES (48 + 16 + 16 + 8)

uint64_t ms_compiled_bytes(const struct ms_compiled *c)
{
	return (uint64_t)(c->n_src + c->n_dst) * LPM_ADDR_ENTRY_BYTES +
	       (uint64_t)c->n_port * sizeof(uint32_t) + (uint64_t)c->n_dec * HASH_ENTRY_BYTES;
}
