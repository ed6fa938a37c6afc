/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The classifier's maps, by the names userspace opens them with
 * (skel->maps.NAME, src/agent/), and its two counters' accessors. Included
 * once, by the one BPF program of a hook: each map is defined here.
 */
#ifndef MICROSEGD_BPF_MAPS_H
#define MICROSEGD_BPF_MAPS_H

/* Set by the loader before load: rule_hits holds two slots of max_rules + 1. */
const volatile __u32 max_rules = 1;

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct ms_session_key);
	__type(value, struct ms_session);
} sessions SEC(".maps");

/*
 * Sessions not yet answered: new flows until their reply (TCP: until the
 * initiator's packet after the responder's, the handshake's end), and
 * denied flows for good. Floods of new flows, spoofed or not, turn over
 * this table only: an answered session in `sessions` is never evicted in
 * favour of an unanswered one (what conntrack's early drop approximates).
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct ms_session_key);
	__type(value, struct ms_session);
} embryos SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1024);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ms_addr_key);
	__type(value, __u32);
} src_class SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1024);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ms_addr_key);
	__type(value, __u32);
} dst_class SEC(".maps");

/* Two 32-bit classes per element: mmapable array elements are 8 bytes, and
 * userspace writes the table as one array of 32-bit classes. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MS_PORT_TABLE_ENTRIES / 2);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __u64);
} port_class SEC(".maps");

/* The decision map of each slot: an inner hash that userspace creates at
 * the exact size of its policy, preallocated (cheap inserts), fills, and
 * swaps in whole; the one it replaces is freed by the kernel, never cleared
 * entry by entry. This definition is only the inner maps' template, given
 * by sizes, not types: clang leaves types seen only here as forward
 * declarations, which libbpf cannot size. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(
		values, struct {
			__uint(type, BPF_MAP_TYPE_HASH);
			__uint(max_entries, 1);
			__uint(key_size, sizeof(struct ms_decision_key));
			__uint(value_size, sizeof(struct ms_decision));
		});
} decisions SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct ms_slot_info);
} slot_info SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ms_config);
} ms_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MS_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

/* Flows decided per rule. Shared, not per-CPU: only a flow's first packet
 * touches it, and per-CPU copies of 2 x max_rules counters would cost too
 * much memory on large machines. Mmapable: userspace zeroes a slot's
 * counters with one memset and reads them without a syscall each. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __u64);
} rule_hits SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MS_FRAG_MAX);
	__type(key, struct ms_frag_key);
	__type(value, struct ms_frag);
} frags SEC(".maps");

/* Userspace's bookkeeping of the pinned state; the classifier never reads
 * them (see include/microsegd_abi.h). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ms_pin_meta);
} ms_meta SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct ms_iface_rec);
} ms_ifaces SEC(".maps");

static __always_inline void count(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&counters, &idx);

	if (c)
		*c += 1;
}

static __always_inline void count_rule(__u32 slot, __u32 rule_id)
{
	__u32 idx = slot * (max_rules + 1) + rule_id;
	__u64 *c = bpf_map_lookup_elem(&rule_hits, &idx);

	if (c)
		__sync_fetch_and_add(c, 1);
}

#endif /* MICROSEGD_BPF_MAPS_H */
