/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * `microsegd --check`: parse, validate and compile a policy without BPF or
 * privilege, and print what it amounts to.
 */
#ifndef MICROSEGD_POLICY_CHECK_H
#define MICROSEGD_POLICY_CHECK_H

#include <stdio.h>

/*
 * Check the policy in path. Errors and warnings go to stderr as
 * "FILE:LINE:COL: ..." lines; on success a summary (rules, workloads,
 * compiled map entries and their memory) goes to out. mode_override is NULL,
 * "enforce" or "monitor" (--mode). Returns the process exit status: 0 valid,
 * 1 invalid or unreadable policy (including one too large to compile),
 * 2 bad mode_override, 3 out of memory.
 */
int ms_policy_check(const char *path, const char *mode_override, FILE *out);

#endif /* MICROSEGD_POLICY_CHECK_H */
