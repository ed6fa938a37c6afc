/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Impact preview (docs/LEARNING.md): the distinct flows of flow logs
 * evaluated against a candidate policy through its compiled tables (the
 * lookups the classifier does, never a second reading of the YAML), compared
 * with the verdicts they were recorded with.
 */
#ifndef MICROSEGD_REPLAY_H
#define MICROSEGD_REPLAY_H

#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "policy.h"
#include "policy_compile.h"

struct ms_replay;

/* Replay against policy p compiled as c (both borrowed for the replay's
 * life). Returns 0 or -ENOMEM. */
int ms_replay_new(const struct ms_policy *p, const struct ms_compiled *c, struct ms_replay **out);
void ms_replay_free(struct ms_replay **r);

/*
 * Take one flow-log object. A flow is (direction, source, destination,
 * protocol, ports or ICMP type): its events (denials and their repeats,
 * flow_new, flow_audit, flow_end) are one flow, recorded as passed if any of
 * them passed it. Returns 1 for a flow event, 0 for another line (anomaly),
 * -EINVAL (errmsg names the field) or -ENOMEM.
 */
int ms_replay_add(struct ms_replay *r, const cJSON *line, char **errmsg);

/* The summary, as JSON: flows, allowed, denied, unchanged, newly_denied,
 * newly_allowed, and the top changes by flows (edges with their old and new
 * verdict and the deciding rule). NULL when out of memory. */
cJSON *ms_replay_json(struct ms_replay *r, size_t top);

/* The same for people. */
void ms_replay_print(struct ms_replay *r, FILE *f, size_t top);

/* Flows recorded as allow or audit that the candidate denies. */
uint64_t ms_replay_new_denies(const struct ms_replay *r);

#endif /* MICROSEGD_REPLAY_H */
