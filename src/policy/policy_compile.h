/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The policy compiler: turns a struct ms_policy into the lookup tables the
 * classifier uses, so a flow's first packet is decided by a fixed number of
 * lookups whatever the number of rules:
 *
 *   src address --LPM--> src class
 *   dst address --LPM--> dst class           (decision)
 *   (dir, proto, port) --array--> port class --> hash(src, dst, port class) -> rule
 *
 * A class is a set of addresses (or ports) that every rule treats alike.
 * The decision table holds, for every class triple some rule matches, the
 * first such rule in (priority, file order); a miss means the default.
 * Rules whose `from` or `to` is any are stored once with MS_CLASS_ANY in
 * that place rather than once per class; on a miss of (s,d,p) the
 * classifier takes the better ranked of (*,d,p) and (s,*,p), else
 * (*,*,p).
 */
#ifndef MICROSEGD_POLICY_COMPILE_H
#define MICROSEGD_POLICY_COMPILE_H

#include "policy.h"

/* Table capacities for one policy (the maps hold two policies at once). */
struct ms_limits {
	uint32_t max_rules;
	uint32_t max_addr_entries; /* per address table (src, dst) */
	uint32_t max_decision_entries;
};

#define MS_DEFAULT_MAX_RULES 131072
#define MS_DEFAULT_MAX_ADDR_ENTRIES 262144
#define MS_DEFAULT_MAX_DECISION_ENTRIES 1048576

void ms_limits_default(struct ms_limits *l);

struct ms_addr_entry {
	uint8_t addr[16]; /* IPv4-mapped for IPv4 */
	uint8_t plen;	  /* 0..128; IPv4 /n is 96 + n */
	uint8_t family;	  /* MS_FAMILY_*: the entry matches addresses of this family only */
	uint32_t cls;
};

struct ms_decision_entry {
	uint32_t src_class;
	uint32_t dst_class;
	uint32_t port_class;
	uint32_t rule_id;
	uint32_t rank; /* of rule_id in (priority, file order), 0 first */
	uint8_t action;
};

/* Wildcard tables present in a compiled policy (bits of ms_compiled.wildcards
 * and ms_slot_info.wildcards): the classifier skips lookups that cannot hit. */
#define MS_WILD_SRC MS_SLOT_WILD_SRC   /* (*, d, p) entries */
#define MS_WILD_DST MS_SLOT_WILD_DST   /* (s, *, p) entries */
#define MS_WILD_BOTH MS_SLOT_WILD_BOTH /* (*, *, p) entries */

struct ms_compiled {
	struct ms_addr_entry *src;
	size_t n_src;
	struct ms_addr_entry *dst;
	size_t n_dst;
	uint32_t *port_table; /* MS_PORT_SLOT_ENTRIES classes, by ms_port_index() */
	size_t n_port;	      /* its size in entries */
	struct ms_decision_entry *dec;
	size_t n_dec;
	uint32_t n_src_classes;
	uint32_t n_dst_classes;
	uint32_t n_port_classes;
	uint32_t n_rules;
	uint8_t default_action;
	uint8_t wildcards; /* MS_WILD_* */
	bool monitor;
	bool dec_sorted; /* dec sorted by classes: ms_compiled_eval searches it */
};

/*
 * Compile p within the limits l. Returns 0 and sets *out, or a negative errno
 * with a malloc'd one-line explanation in *errmsg (caller frees): -E2BIG when
 * a table would overflow (naming the table, what it needs and the limit),
 * -ENOMEM. *out is untouched on failure.
 */
int ms_compile(const struct ms_policy *p, const struct ms_limits *l, struct ms_compiled **out,
	       char **errmsg);

void ms_compiled_free(struct ms_compiled **c);

/* Estimated kernel memory of one compiled policy's map entries, in bytes. */
uint64_t ms_compiled_bytes(const struct ms_compiled *c);

/*
 * Evaluate a flow against the compiled tables in userspace, doing the same
 * lookups the classifier does. For tests and --check; returns the rule id.
 */
uint32_t ms_compiled_eval(const struct ms_compiled *c, const struct ms_flow *f, uint8_t *action);

/* Sort the decision entries so ms_compiled_eval finds them by binary search
 * instead of a scan: for evaluating many flows (replay). The loader does not
 * care about their order. */
void ms_compiled_index(struct ms_compiled *c);

#endif /* MICROSEGD_POLICY_COMPILE_H */
