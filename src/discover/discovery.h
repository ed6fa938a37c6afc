/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Workload discovery (README, "Containers"): for each attached veth, the
 * namespace at its far end, with its addresses and listening processes,
 * as an inventory of struct ms_discovered the policy labels and selects
 * from. Namespaces behind no attached interface are never looked at.
 */
#ifndef MICROSEGD_DISCOVERY_H
#define MICROSEGD_DISCOVERY_H

#include <stddef.h>

#include "policy.h"

struct ms_discovery;

int ms_discovery_new(struct ms_discovery **out);
void ms_discovery_free(struct ms_discovery **ds);

/*
 * Look behind the interfaces ifindex[0..n). Returns 1 when the inventory
 * changed (a workload came, went, or changed addresses or listeners), 0
 * when not, or -errno (the inventory is then unchanged). A namespace that
 * cannot be scanned is left out with a warning, once.
 */
int ms_discovery_refresh(struct ms_discovery *ds, const int *ifindex, size_t n);

/* The inventory, sorted by name; valid until the next refresh. */
const struct ms_discovered *ms_discovery_inventory(const struct ms_discovery *ds, size_t *n);

/* True if the two inventories hold the same workloads with the same facts. */
bool ms_discovered_equal(const struct ms_discovered *a, size_t na, const struct ms_discovered *b,
			 size_t nb);

#endif /* MICROSEGD_DISCOVERY_H */
