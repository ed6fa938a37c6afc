/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * What the files of the policy compiler share (policy_compile.h is its
 * interface): the 128-bit values every dimension is measured in, the
 * interval sets of the rules, the dimensions cut into classes, and the
 * steps ms_compile chains (prefixed mc_):
 *
 *   compile_intervals.c  a rule's addresses and ports as interval sets
 *   compile_classes.c    a dimension cut into segments, grouped in classes
 *   compile_tables.c     the LPM entries and the dense port table
 *   compile_decisions.c  the decision table, wildcards resolved
 *   compile_eval.c       the userspace evaluator (tests, --check, replay)
 *   compile_err.c        the one error path (mc_set_err)
 *   compile.c            ms_compile itself, limits, memory estimate
 */
#ifndef MICROSEGD_COMPILE_INT_H
#define MICROSEGD_COMPILE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy_compile.h"

typedef unsigned __int128 u128;

#define U128_MAX (~(u128)0)
#define PORT_SPACE_MAX ((u128)0x01ffffff) /* dir (0..1) << 24 | proto << 16 | port */

/*
 * The address dimensions are two lines each, one per family, whose classes
 * are numbered together: IPv4 as 32-bit values, IPv6 as 128-bit ones. An
 * IPv6 prefix covers IPv6 addresses only, ::ffff:0:0/96 (IPv4-mapped, as
 * written) included, and an IPv4 prefix IPv4 addresses only.
 */
#define V4_SPACE_MAX ((u128)0xffffffffu)

struct ival {
	u128 lo, hi; /* inclusive */
};

struct ivec {
	struct ival *v;
	size_t n, cap;
};

static inline u128 addr_to_u128(const uint8_t *a)
{
	u128 v = 0;

	for (int i = 0; i < 16; i++)
		v = (v << 8) | a[i];
	return v;
}

static inline void u128_to_addr(u128 v, uint8_t *a)
{
	for (int i = 15; i >= 0; i--) {
		a[i] = (uint8_t)v;
		v >>= 8;
	}
}

/*
 * One dimension (src addresses, dst addresses or ports): the space cut into
 * segments at every interval boundary of every rule's set, and segments
 * grouped into classes of equal membership.
 */
struct dim {
	u128 space_max;
	struct ivec *sets; /* per rule */
	bool *any;	   /* per rule: covers the whole space, sets[r] empty */
	size_t n_sets;
	u128 *starts; /* segment i = [starts[i], starts[i+1] - 1] */
	size_t n_seg;
	uint32_t *seg_class;
	uint32_t n_class;
	/* per interval (rule r's i-th is number ival_off[r] + i): the segment
	 * its lo starts, and the one after its hi (n_seg past the end) */
	size_t *ival_off;
	uint32_t *seg_lo, *seg_end;
	/* per rule: the classes its set covers */
	uint32_t **rule_classes;
	uint32_t *rule_n_classes;
};

static inline size_t seg_index(const struct dim *d, u128 v)
{
	size_t lo = 0, hi = d->n_seg; /* first start > v, minus one */

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (d->starts[mid] <= v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo - 1;
}

/* LPM entries being emitted for one address table. */
struct addr_out {
	struct ms_addr_entry **arr;
	size_t *n;
	size_t cap;
	uint32_t limit;
	bool overflow;
};

/* Normalized interval sets of an address set (one family's line) and of
 * a rule's ports (in the port space); 0 or -ENOMEM. */
int mc_addrset_ivals(const struct ms_addrset *s, bool v4, struct ivec *out);
int mc_ports_ivals(const struct ms_rule *r, struct ivec *out);

/* Segments and classes of the nd lines of one dimension (numbered
 * together), then each rule's classes, kept in the first line's dim. */
int mc_dim_classify_lines(struct dim **ds, int nd);
int mc_dim_classify(struct dim *d);
int mc_dim_rule_classes_lines(struct dim **ds, int nd);
int mc_dim_rule_classes(struct dim *d);
void mc_dim_free(struct dim *d);

/* The LPM entries of one address line, appended to o; the port table. */
int mc_dim_emit(const struct dim *d, bool v4, struct addr_out *o);
int mc_port_table(const struct dim *d, struct ms_compiled *c);

/* The decision table of p from its three dimensions (src, dst, ports). */
int mc_fill_decisions(const struct ms_policy *p, const struct ms_limits *l, struct dim dims[3],
		      struct ms_compiled *c, char **errmsg);

/* Set *errmsg (malloc'd) and return -E2BIG. */
__attribute__((format(printf, 2, 3))) int mc_set_err(char **errmsg, const char *fmt, ...);

#endif /* MICROSEGD_COMPILE_INT_H */
