/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* Building policies in code for tests, and random policies and flows for
 * the differential tests. */
#ifndef MICROSEGD_TEST_POLBUILD_H
#define MICROSEGD_TEST_POLBUILD_H

#include "policy.h"

/* Append a rule; priority 100, any direction, any selector, any port. */
struct ms_rule *pb_rule(struct ms_policy *p, const char *name, uint8_t action);
/* Add a term to a selector: comma-separated CIDRs, optional excepts. */
void pb_cidrs(struct ms_addrset *s, const char *cidrs, const char *except);
void pb_port(struct ms_rule *r, uint8_t proto, uint16_t lo, uint16_t hi);

uint64_t pb_rand(uint64_t *state);
/* A random policy with 1..max_rules rules over 198.18.0.0/15 and
 * 2001:db8::/32: overlapping CIDRs with excepts, port and ICMP type ranges,
 * priorities, directions, every action. */
struct ms_policy *pb_random_policy(uint64_t *rng, unsigned int max_rules);
/* A random flow aimed at the policy's boundaries (CIDR edges, range edges). */
void pb_random_flow(uint64_t *rng, const struct ms_policy *p, struct ms_flow *f);

#endif
