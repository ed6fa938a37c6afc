/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The YAML v1 policy front end: reads a policy file (docs/POLICY.md)
 * through libyaml's event API, validates it and produces the in-memory model
 * of policy.h. Selectors come out resolved to address terms: `workload`,
 * `workloads` and `labels` become the addresses of the workloads they name,
 * `cidr` with `except` becomes one term, an omitted selector is `any`.
 *
 * Every problem of a file is collected, not just the first, as one line
 * "FILE:LINE:COL: error: message" (or "warning:") with the 1-based position
 * of the offending YAML node.
 */
#ifndef MICROSEGD_POLICY_PARSE_H
#define MICROSEGD_POLICY_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "diag.h"
#include "policy.h"

/*
 * Parse and validate the policy in path. Returns 0 and sets *out, or -EINVAL
 * (the errors are in d), or -errno if the file cannot be read (the message
 * "FILE: cannot open: strerror" is in d). Warnings (shadowed rules) are
 * appended to d also on success. *out is untouched on failure; on success
 * (*out)->path is a copy of path.
 */
int ms_policy_parse_file(const char *path, struct ms_policy **out, struct ms_diag *d);

/* Like ms_policy_parse_file, for a policy held in memory; name is used in
 * diagnostics and as the policy's path. */
int ms_policy_parse_mem(const char *name, const void *buf, size_t len, struct ms_policy **out,
			struct ms_diag *d);

/* struct ms_parse_opts, what the agent adds to a policy's own text, is in
 * policy.h. */

/* Like ms_policy_parse_mem, with the agent's additions (o may be NULL). */
int ms_policy_parse_mem_opts(const char *name, const void *buf, size_t len,
			     const struct ms_parse_opts *o, struct ms_policy **out,
			     struct ms_diag *d);

/*
 * Read a whole policy file (at most MS_POLICY_MAX_BYTES) into a malloc'd
 * buffer (*buf NULL for an empty file). Returns 0 or -errno (-EFBIG when too
 * large).
 */
int ms_policy_read_file(const char *path, char **buf, size_t *len);

/* Largest policy file accepted, to bound memory on a mistaken path. */
#define MS_POLICY_MAX_BYTES (64u << 20)

#endif /* MICROSEGD_POLICY_PARSE_H */
