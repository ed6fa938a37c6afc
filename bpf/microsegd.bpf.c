// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * microsegd's TC classifier, attached at clsact ingress and egress.
 *
 * A packet of a known session is decided by one session lookup. The first
 * packet of a flow is classified by a fixed number of lookups whatever the
 * number of rules (src class, dst class, port class, decision, and up to
 * three wildcard decisions); see src/policy/policy_compile.h.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "microsegd_abi.h"
#include "parse.h"

#define TC_ACT_OK 0
#define TC_ACT_SHOT 2

/* What the hook-neutral headers need of their hook (session.h). */
#define MS_PASS TC_ACT_OK
#define MS_DROP TC_ACT_SHOT
#define MS_CTX struct __sk_buff

#include "maps.h"
#include "clock.h"

/*
 * The cgroup v2 id of a socket the stack found: tc programs have no
 * bpf_sk_cgroup_id, so it is read from the socket (CO-RE). TCP sockets of
 * either family and IPv6 UDP sockets (dual-stack ones too) have a helper
 * that gives the full socket; a plain IPv4 UDP socket has none, and no id.
 */
static __always_inline __u64 sock_cgroup(struct bpf_sock *sk)
{
	struct sock *s = NULL;
	struct tcp_sock *tp;
	struct udp6_sock *up;

	tp = bpf_skc_to_tcp_sock(sk);
	if (tp)
		s = &tp->inet_conn.icsk_inet.sk;
	else if ((up = bpf_skc_to_udp6_sock(sk)))
		s = &up->udp.inet.sk;
	if (!s)
		return 0;
	return BPF_CORE_READ(s, sk_cgrp_data.cgroup, kn, id);
}

/*
 * The cgroup of the local socket of a flow's first packet (process
 * identity): at egress the sending socket's; at ingress the socket the
 * packet is for, found as the stack will find it (a listener for a SYN).
 * Only first packets come here: an established flow pays nothing.
 */
static __always_inline __u64 local_cgroup(struct __sk_buff *skb, const struct pkt *p, __u8 dir)
{
	struct bpf_sock_tuple t = {};
	struct bpf_sock *sk;
	__u32 len;
	__u64 id = 0;

	if (dir == MS_DIR_EGRESS)
		return bpf_skb_cgroup_id(skb);
	if (p->proto != MS_PROTO_TCP && p->proto != MS_PROTO_UDP)
		return 0;
	if (p->family == MS_FAMILY_IPV4) {
		__builtin_memcpy(&t.ipv4.saddr, p->src + 12, 4);
		__builtin_memcpy(&t.ipv4.daddr, p->dst + 12, 4);
		t.ipv4.sport = p->sport;
		t.ipv4.dport = p->dport;
		len = sizeof(t.ipv4);
	} else {
		__builtin_memcpy(t.ipv6.saddr, p->src, 16);
		__builtin_memcpy(t.ipv6.daddr, p->dst, 16);
		t.ipv6.sport = p->sport;
		t.ipv6.dport = p->dport;
		len = sizeof(t.ipv6);
	}
	if (p->proto == MS_PROTO_TCP)
		sk = bpf_sk_lookup_tcp(skb, &t, len, BPF_F_CURRENT_NETNS, 0);
	else
		sk = bpf_sk_lookup_udp(skb, &t, len, BPF_F_CURRENT_NETNS, 0);
	if (sk) {
		id = sock_cgroup(sk);
		bpf_sk_release(sk);
	}
	return id;
}

static __always_inline __u32 ms_ctx_len(struct __sk_buff *skb)
{
	return skb->len;
}

static __always_inline __u32 ms_ctx_ifindex(struct __sk_buff *skb)
{
	return skb->ifindex;
}

static __always_inline __u64 ms_ctx_cgroup(struct __sk_buff *skb, const struct pkt *p, __u8 dir)
{
	return local_cgroup(skb, p, dir);
}

static __always_inline int parse_skb(struct __sk_buff *skb, struct pkt *p)
{
	return parse_frame((void *)(long)skb->data, (void *)(long)skb->data_end, p);
}

/* The outcome of parse.h for the frame (struct pkt filled for PARSE_OK and
 * PARSE_FRAG): the skb's linear part, or its first PULL_LEN bytes. */
static __always_inline int ms_ctx_parse(struct __sk_buff *skb, struct pkt *pkt)
{
	int r = parse_skb(skb, pkt);

	/* Headers past the linear part of a non-linear skb: pull them in and
	 * look once more. Only then: pulling may copy or unclone the skb, far
	 * too costly for every packet of a TCP stream. */
	if (r == PARSE_BAD && skb->len > skb->data_end - skb->data &&
	    !bpf_skb_pull_data(skb, skb->len < PULL_LEN ? skb->len : PULL_LEN)) {
		__builtin_memset(pkt, 0, sizeof(*pkt));
		r = parse_skb(skb, pkt);
	}
	return r;
}

#include "events.h"
#include "classify.h"
#include "session.h"
#include "frags.h"
#include "decide.h"

/* Every verdict of a first fragment is remembered for the later ones,
 * whichever of ms_decide()'s paths decided it. */
static __always_inline int classify_skb(struct __sk_buff *skb, __u8 dir)
{
	struct pkt p = {};
	int r = ms_decide(skb, dir, &p);

	if (p.frag_first)
		frag_remember(&p, r);
	return r;
}

SEC("tc")
int ms_ingress(struct __sk_buff *skb)
{
	return classify_skb(skb, MS_DIR_INGRESS);
}

SEC("tc")
int ms_egress(struct __sk_buff *skb)
{
	return classify_skb(skb, MS_DIR_EGRESS);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
