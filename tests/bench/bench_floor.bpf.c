// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Benchmark only, never loaded by microsegd: the floors the classifier's
 * costs are compared with, in the same run (bench_classifier.c).
 *   floor_lookup: parse the packet as the classifier does (bpf/parse.h),
 *     build its session key, one lookup in an LRU_HASH of the session
 *     table's key, value and size. The key is inserted on the first
 *     repetition's miss; every later one finds it.
 *   floor_insert: the same parse and key, one insert of the (fresh, behind
 *     the fresh-tuple harness) key into an LRU_HASH of the session table's
 *     kind and size.
 * bench_classifier sets both maps' max_entries to the session table's.
 */
#include "vmlinux.h"
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "microsegd_abi.h"
#include "parse.h"

#define TC_ACT_OK 0
#define TC_ACT_SHOT 2

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct ms_session_key);
	__type(value, struct ms_session);
} floor_present SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct ms_session_key);
	__type(value, struct ms_session);
} floor_fresh SEC(".maps");

static __always_inline int floor_key(struct __sk_buff *skb, struct ms_session_key *k)
{
	struct pkt p = {};
	int lo;

	if (parse_frame((void *)(long)skb->data, (void *)(long)skb->data_end, &p) != PARSE_OK)
		return -1;
	build_key(k, p.src, p.sport, p.dst, p.dport, p.proto, p.family, &lo);
	return 0;
}

SEC("tc")
int floor_lookup(struct __sk_buff *skb)
{
	struct ms_session_key k = {};
	struct ms_session *s, ns = {};

	if (floor_key(skb, &k))
		return TC_ACT_SHOT;
	s = bpf_map_lookup_elem(&floor_present, &k);
	if (!s) {
		bpf_map_update_elem(&floor_present, &k, &ns, BPF_ANY);
		return TC_ACT_SHOT;
	}
	return TC_ACT_OK;
}

SEC("tc")
int floor_insert(struct __sk_buff *skb)
{
	struct ms_session_key k = {};
	struct ms_session ns = {};

	if (floor_key(skb, &k))
		return TC_ACT_SHOT;
	/* The classifier's clock is jiffies (now_ns()): the same cost here. */
	ns.first_seen_ns = ns.last_seen_ns = bpf_jiffies64();
	if (bpf_map_update_elem(&floor_fresh, &k, &ns, BPF_NOEXIST))
		return TC_ACT_SHOT;
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
