/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Which workload of a policy an address belongs to: the longest prefix that
 * holds it, the first workload in file order among equal prefixes. One
 * sorted array per prefix length, longest first, so a lookup costs (distinct
 * prefix lengths) binary searches instead of a scan of every workload
 * address: the flow log names two workloads per event, and replay one per
 * changed flow end.
 */
#ifndef MICROSEGD_WORKLOAD_INDEX_H
#define MICROSEGD_WORKLOAD_INDEX_H

#include <stdint.h>

#include "policy.h"

struct ms_wl_index;

/* The index of p's workload addresses; p must outlive it. 0 or -ENOMEM. */
int ms_wl_index_new(const struct ms_policy *p, struct ms_wl_index **out);
void ms_wl_index_free(struct ms_wl_index **ix);

/* The workload of addr (128-bit, IPv4-mapped for IPv4), or NULL. */
const struct ms_workload *ms_wl_index_find(const struct ms_wl_index *ix, const uint8_t *addr);

#endif /* MICROSEGD_WORKLOAD_INDEX_H */
