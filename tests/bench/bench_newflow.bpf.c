// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Benchmark harness only, never loaded by microsegd: gives every repetition
 * of BPF_PROG_TEST_RUN a fresh 5-tuple, then tail-calls the program under
 * test, so repeat = 1,000,000 measures first packets of new flows.
 * The frame is IPv4 with TCP or UDP: the source port and the low nibble of
 * the source address change (1,048,576 distinct tuples inside a /28).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} target SEC(".maps");

__u32 counter;

/* The next tuple: the port at offset port and the low nibble of the IPv4
 * address byte at offset addr (constants, so the verifier sees the bound). */
static __always_inline int next_tuple(struct __sk_buff *skb, const int port, const int addr)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	__u8 *p = data;
	__u32 c;

	if (data + 38 > data_end)
		return 2;
	c = counter++;
	p[port] = (__u8)(c >> 8);
	p[port + 1] = (__u8)c;
	p[addr] = (__u8)((p[addr] & 0xf0) | ((c >> 16) & 0x0f));
	bpf_tail_call(skb, &target, 0);
	return 2;
}

/* The source port and address change. */
SEC("tc")
int fresh_tuple(struct __sk_buff *skb)
{
	return next_tuple(skb, 34, 29);
}

/* The replies to fresh_tuple's packets, in the same order (the counter
 * reset between the two): the destination port and address change. */
SEC("tc")
int fresh_reply(struct __sk_buff *skb)
{
	return next_tuple(skb, 36, 33);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
