/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Labels for discovered workloads (README, "Containers"): `netns` (its
 * namespace), `app` (the main listening process's command), `role` (from
 * its listening ports: the policy's autolabels: first, then the shipped
 * table), and the host's own labels from the policy's host: section.
 */
#ifndef MICROSEGD_AUTOLABEL_H
#define MICROSEGD_AUTOLABEL_H

#include <stddef.h>

#include "policy.h"

/* The shipped port -> role table, in the order roles win: a workload
 * listening on 5432 and 22 is a db, not ssh. */
extern const struct ms_autolabel ms_autolabels_shipped[];
extern const size_t ms_n_autolabels_shipped;

/*
 * The role of a workload listening on these ports: the first entry of the
 * policy's table, then of the shipped one, that one of its ports falls in;
 * NULL when none does.
 */
const char *ms_autolabel_role(const struct ms_policy *p, const struct ms_listener *l, size_t n);

/*
 * The command of the main listening process: the one holding the most
 * listening ports (ties: the lowest port). NULL when no process is known.
 */
const char *ms_autolabel_app(const struct ms_listener *l, size_t n);

/*
 * Fill w (zeroed) from d, labelled under policy p: name and addresses
 * copied, labels netns, app, role and then p's host labels (a host label
 * never replaces one found). Returns 0 or -ENOMEM (w then holds what was
 * made; the caller frees it with the policy).
 */
int ms_autolabel_workload(const struct ms_policy *p, const struct ms_discovered *d,
			  struct ms_workload *w);

#endif /* MICROSEGD_AUTOLABEL_H */
