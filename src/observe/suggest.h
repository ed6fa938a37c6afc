/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * From traffic to policy (docs/LEARNING.md): a least-privilege policy
 * that allows every flow of a flow graph observed as allowed or audited, and
 * nothing else (default deny).
 *
 * Nodes become selectors: a workload keeps its name (and its definition from
 * the current policy, when there is one); an address outside every workload
 * becomes a workload of its own. With grouping by labels, workloads with the
 * same labels and the very same edges are one `labels:` selector, used only
 * where it selects exactly them. Edges of one (source, destination,
 * protocol) become one rule, their ports merged into ranges where
 * contiguous. Every rule allows only what was observed: each pair of
 * workloads it covers was seen on each of its ports.
 */
#ifndef MICROSEGD_SUGGEST_H
#define MICROSEGD_SUGGEST_H

#include <stdbool.h>

#include <stdatomic.h>

#include "graph.h"
#include "policy.h"

enum ms_suggest_group {
	MS_GROUP_LABELS,   /* merge workloads by shared labels where edges agree */
	MS_GROUP_WORKLOAD, /* one selector per workload */
};

struct ms_suggest_opts {
	enum ms_suggest_group group;
	bool include_denied;		 /* allow flows observed as denied too */
	const struct ms_policy *current; /* its workloads are kept; may be NULL */
	const char *source;		 /* what the graph was learned from, for the header */
	/* Set by another thread to stop a suggestion that takes too long
	 * (-ECANCELED); NULL: runs to the end. */
	const atomic_bool *cancel;
};

/*
 * The suggested policy as YAML, in a stable order, with a header comment
 * saying what it was learned from and a comment on each rule with its
 * observed flows and first/last seen; denied flows are listed in comments
 * unless included. Returns 0 and a malloc'd string in *out, -ENODATA when
 * the graph has no flow to allow, -ECANCELED when o->cancel was set, or
 * -ENOMEM.
 */
int ms_suggest(const struct ms_graph *g, const struct ms_suggest_opts *o, char **out);

#endif /* MICROSEGD_SUGGEST_H */
