// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "parse_ctx.h"

enum { R_NAME, R_PRIORITY, R_ACTION, R_DIRECTION, R_FROM, R_TO, R_PORTS, R_N };
static const char *const rule_keys[] = { "name", "priority", "action", "direction",
					 "from", "to",	     "ports" };

struct rule_name {
	const char *name;
	struct ms_pos pos;
};

/* Report every rule name seen before, at the later rule, through a hash
 * table of the names in file order. Every message has its own position, so
 * after ms_diag_sort the order is the file's whatever order we add them in. */
static void check_rule_names(struct pctx *c, const struct rule_name *names, size_t n)
{
	struct itab t;

	if (!pp_itab_init(c, &t, n))
		return;
	for (size_t i = 0; i < n; i++) {
		size_t j = pp_itab_first(&t, pp_hash_str(HASH_INIT, names[i].name));

		for (; t.slot[j]; j = (j + 1) & t.mask)
			if (!strcmp(names[t.slot[j] - 1].name, names[i].name))
				break;
		if (t.slot[j])
			pp_perr(c, names[i].pos, "duplicate rule name '%s' (first at line %u)",
				names[i].name, names[t.slot[j] - 1].pos.line);
		else
			t.slot[j] = i + 1;
	}
	free(t.slot);
}

static void do_rule(struct pctx *c, const struct ynode *m, struct ms_rule *r,
		    struct rule_name *name)
{
	static const char *const actions[] = { "allow", "deny", "log" };
	static const uint8_t action_val[] = { MS_ACT_ALLOW, MS_ACT_DENY, MS_ACT_LOG };
	static const char *const dirs[] = { "ingress", "egress", "any" };
	static const uint8_t dir_val[] = { MS_DIRMASK_INGRESS, MS_DIRMASK_EGRESS, MS_DIRMASK_ANY };
	struct ynode *k[R_N], *v[R_N];
	long prio;
	int i;

	pp_map_fields(c, m, "a rule", rule_keys, R_N, k, v);
	if (!v[R_NAME])
		pp_perr(c, m->pos, "rule has no 'name'");
	else if (pp_want_name(c, v[R_NAME], "rule name")) {
		r->name = pp_xstrdup(c, v[R_NAME]->str);
		name->name = r->name;
		name->pos = v[R_NAME]->pos;
	}
	if (v[R_PRIORITY] && pp_want_int(c, v[R_PRIORITY], "priority", 0, 65535, &prio))
		r->priority = (int)prio;
	if (!v[R_ACTION])
		pp_perr(c, m->pos, "rule has no 'action' (allow, deny or log)");
	else if ((i = pp_want_enum(c, v[R_ACTION], "action", actions, 3)) >= 0)
		r->action = action_val[i];
	if (v[R_DIRECTION] && (i = pp_want_enum(c, v[R_DIRECTION], "direction", dirs, 3)) >= 0)
		r->dirmask = dir_val[i];
	if (v[R_FROM])
		pp_do_selector(c, v[R_FROM], "from", &r->from);
	if (v[R_TO])
		pp_do_selector(c, v[R_TO], "to", &r->to);
	if (v[R_PORTS])
		pp_do_ports(c, v[R_PORTS], r);
}

void pp_do_rules(struct pctx *c, const struct ynode *n)
{
	struct rule_name *names;
	size_t nn = 0;

	if (!pp_want(c, n, Y_SEQ, "rules"))
		return;
	names = pp_xcalloc(c, n->n_kids + 1, sizeof(*names));
	if (!names)
		return;
	for (size_t i = 0; i < n->n_kids && !c->err; i++) {
		const struct ynode *m = n->kids[i];
		struct ms_rule *r;

		if (!pp_want(c, m, Y_MAP, "a rule"))
			continue;
		r = ms_policy_add_rule(c->p);
		if (!r) {
			c->err = -ENOMEM;
			break;
		}
		r->pos = m->pos;
		do_rule(c, m, r, &names[nn]);
		if (names[nn].name)
			nn++;
	}
	if (!c->err)
		check_rule_names(c, names, nn);
	free(names);
}
