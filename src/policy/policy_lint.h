/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Policy lint: warnings about policies that are valid but surely not what
 * their author meant. Today: shadowed rules, rules that can never match
 * because a rule evaluated before them (in (priority, file order)) matches
 * every flow they would.
 *
 * The coverage test is conservative: it may miss a shadowed rule (say, one
 * covered only by the union of two earlier rules), but it never warns about a
 * rule that can match.
 */
#ifndef MICROSEGD_POLICY_LINT_H
#define MICROSEGD_POLICY_LINT_H

#include "policy.h"
#include "diag.h"

/* The shadow check compares every pair of rules; above this many rules it is
 * skipped to keep --check and reloads fast. */
#define MS_LINT_MAX_RULES 4096

/* True if every flow r2 matches is also matched by r1 (ignoring order). */
bool ms_rule_covers(const struct ms_rule *r1, const struct ms_rule *r2);

/*
 * Append a warning to d, at the shadowed rule, for every shadowed rule of a
 * valid policy p; file names the policy in the messages. Returns 0 or -ENOMEM.
 * Does nothing for policies of more than MS_LINT_MAX_RULES rules.
 */
int ms_policy_lint(const struct ms_policy *p, const char *file, struct ms_diag *d);

#endif /* MICROSEGD_POLICY_LINT_H */
