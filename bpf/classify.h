/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * A flow's first packet against the installed policy: the rule and action
 * of a tuple in a fixed number of lookups (src/policy/policy_compile.h).
 */
#ifndef MICROSEGD_BPF_CLASSIFY_H
#define MICROSEGD_BPF_CLASSIFY_H

/*
 * Policy lookup for a flow's first packet: no loop over rules. A missing
 * class entry can only mean no policy is installed in this slot yet.
 */
static __always_inline void classify(__u32 slot, __u8 dir, __u8 family, const __u8 *src,
				     const __u8 *dst, __u8 proto, __u16 port, __u32 *rule_id,
				     __u8 *action, const struct ms_slot_info *si)
{
	struct ms_addr_key ak = { .prefixlen = MS_ADDR_KEY_DATA_BITS,
				  .slot = slot,
				  .family = family };
	__u32 pidx = slot * MS_PORT_SLOT_ENTRIES + ms_port_index(dir, proto, port);
	__u32 pair = pidx >> 1;
	struct ms_decision_key dk = { .slot = slot };
	struct ms_decision *d;
	void *dmap;
	__u32 *c;

	*rule_id = MS_RULE_DEFAULT;
	*action = si->default_action;
	dmap = bpf_map_lookup_elem(&decisions, &slot);
	if (!dmap)
		return;
	__builtin_memcpy(ak.addr, src, 16);
	c = bpf_map_lookup_elem(&src_class, &ak);
	if (!c)
		return;
	dk.src_class = *c;
	__builtin_memcpy(ak.addr, dst, 16);
	c = bpf_map_lookup_elem(&dst_class, &ak);
	if (!c)
		return;
	dk.dst_class = *c;
	c = bpf_map_lookup_elem(&port_class, &pair);
	if (!c)
		return;
	dk.port_class = c[pidx & 1];
	d = bpf_map_lookup_elem(dmap, &dk);
	/* Wildcard fallbacks, each tried only if the policy has such entries:
	 * the better ranked of (*,d,p) and (s,*,p), else (*,*,p). */
	if (!d && (si->wildcards & (MS_SLOT_WILD_SRC | MS_SLOT_WILD_DST))) {
		struct ms_decision *a = NULL, *b = NULL;
		__u32 s = dk.src_class;

		if (si->wildcards & MS_SLOT_WILD_SRC) {
			dk.src_class = MS_CLASS_ANY;
			a = bpf_map_lookup_elem(dmap, &dk);
			dk.src_class = s;
		}
		if (si->wildcards & MS_SLOT_WILD_DST) {
			__u32 dc = dk.dst_class;

			dk.dst_class = MS_CLASS_ANY;
			b = bpf_map_lookup_elem(dmap, &dk);
			dk.dst_class = dc;
		}
		d = a && (!b || a->rank < b->rank) ? a : b;
	}
	if (!d && (si->wildcards & MS_SLOT_WILD_BOTH)) {
		dk.src_class = MS_CLASS_ANY;
		dk.dst_class = MS_CLASS_ANY;
		d = bpf_map_lookup_elem(dmap, &dk);
	}
	if (!d)
		return;
	*rule_id = d->rule_id;
	*action = d->action;
}

static __always_inline __u8 to_verdict(__u8 action, __u8 monitor)
{
	if (action != MS_ACT_DENY)
		return MS_VERDICT_ALLOW;
	return monitor ? MS_VERDICT_AUDIT : MS_VERDICT_DENY;
}

#endif /* MICROSEGD_BPF_CLASSIFY_H */
