/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The ABI between the TC classifier (bpf/) and the daemon (src/): every map
 * key, map value and event that crosses the boundary is defined here once.
 * Fixed-width types, explicit padding and size assertions keep both compilers
 * agreeing on the layout.
 */
#ifndef MICROSEGD_ABI_H
#define MICROSEGD_ABI_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#include "microsegd_counters.h"

/* Action of a rule and verdict of a flow. */
enum ms_action {
	MS_ACT_ALLOW = 0,
	MS_ACT_DENY = 1,
	MS_ACT_LOG = 2, /* allow, and report every new flow */
};

enum ms_verdict {
	MS_VERDICT_ALLOW = 0,
	MS_VERDICT_DENY = 1,
	MS_VERDICT_AUDIT = 2, /* would be denied, passed because of monitor mode */
};

/* Direction of the hook that saw a flow's first packet. */
enum ms_dir {
	MS_DIR_INGRESS = 0,
	MS_DIR_EGRESS = 1,
};

enum ms_event_type {
	MS_EV_FLOW_NEW = 1,	/* new flow matched by a log rule */
	MS_EV_FLOW_DENY = 2,	/* denied flow (first packet, then every 10 s) */
	MS_EV_FLOW_AUDIT = 3,	/* would-be deny in monitor mode */
	MS_EV_FLOW_REVOKED = 4, /* allowed flow denied by a newer policy */
	MS_EV_FLOW_END = 5,	/* session expired or closed */
};

/* Per-CPU counters, index into the `counters` map: one row each in
 * microsegd_counters.h, which says what each counts. */
enum ms_counter {
	MS_COUNTERS(MS_CNT_ENUM_) MS_CNT_MAX = 0 MS_COUNTERS(MS_CNT_ONE_),
};
/* Indexes 0..MS_CNT_MAX-1, each once: the pinned map's layout. */
_Static_assert((0 MS_COUNTERS(MS_CNT_BIT_)) == (1ULL << MS_CNT_MAX) - 1,
	       "counter indexes are dense and unique");

#define MS_DENY_REPORT_NS (10ULL * 1000000000ULL)

/* Session timeouts, in seconds since the last packet (Cilium's defaults). */
#define MS_TIMEOUT_TCP_SYN 60
#define MS_TIMEOUT_TCP_ESTABLISHED 21600
#define MS_TIMEOUT_TCP_CLOSING 10
#define MS_TIMEOUT_OTHER 60
#define MS_TIMEOUT_DENY 60

/* Session TCP state bits (ms_session.tcp_state). */
#define MS_TCP_SEEN_REPLY 0x01 /* the responder has sent a packet */
#define MS_TCP_FIN_INIT 0x02
#define MS_TCP_FIN_RESP 0x04
#define MS_TCP_RST 0x08

/* IP protocol numbers, here so both sides can use them without libc. */
#define MS_PROTO_ICMP 1
#define MS_PROTO_TCP 6
#define MS_PROTO_UDP 17
#define MS_PROTO_ICMPV6 58
#define MS_PROTO_SCTP 132

#define MS_FAMILY_IPV4 4
#define MS_FAMILY_IPV6 6

/* Rule id 0 is the policy's default verdict; rules are numbered from 1. */
#define MS_RULE_DEFAULT 0

/*
 * Session key. Orientation-free: the (address, port) pair that compares
 * lower is stored first, so both directions of a flow find the entry with one
 * lookup; ms_session.init_is_hi says which side started the flow. IPv4
 * addresses are stored IPv4-mapped (::ffff:a.b.c.d).
 */
struct ms_session_key {
	__u8 addr_lo[16];
	__u8 addr_hi[16];
	__be16 port_lo; /* ICMP echo: the identifier as request source / reply destination */
	__be16 port_hi;
	__u8 proto;
	__u8 family;
	__u8 icmp;  /* ICMP/ICMPv6: ms_icmp_key_type() of the flow's type; else 0 */
	__u8 flags; /* MS_KEY_* */
};
_Static_assert(sizeof(struct ms_session_key) == 40, "session key layout");

/* Session key flags (ms_session_key.flags). */
#define MS_KEY_REVERSE 0x01 /* the denial of the reversed tuple of a denied flow */

struct ms_session {
	__u64 first_seen_ns; /* CLOCK_MONOTONIC, at tick resolution */
	__u64 last_seen_ns;
	__u64 last_report_ns; /* last deny/audit event, for rate limiting */
	__u64 generation;     /* policy generation that decided this session */
	__u64 packets[2];     /* [0] initiator->responder, [1] replies */
	__u64 bytes[2];
	__u32 rule_id;
	__u32 ifindex; /* interface of the first packet */
	__u8 verdict;  /* enum ms_verdict */
	__u8 init_is_hi;
	__u8 direction; /* enum ms_dir of the first packet */
	__u8 tcp_state;
	__u16 cls_port; /* port (ICMP: type) the flow was classified with, host order */
	__u8 flags;	/* MS_SF_* */
	__u8 pad[1];
	/* cgroup v2 id of the local socket of the flow's first packet: the
	 * sender's at egress, the one that takes it (listening or connected)
	 * at ingress; 0 when no local socket is involved (forwarded). */
	__u64 cgroup_id;
};
_Static_assert(sizeof(struct ms_session) == 88, "session layout");

/* Session flags (ms_session.flags). */
#define MS_SF_REVOKED 0x01 /* allowed once, then denied by a newer policy */

/*
 * Policy lookup structures. Two complete policies live side by side, told
 * apart by `slot` (0 or 1) in every key; the classifier reads
 * ms_config.active_slot and uses only that slot's entries, so writing the one
 * 32-bit active_slot flips from one whole policy to the other.
 */
struct ms_addr_key {	 /* LPM_TRIE key: src_class and dst_class maps */
	__u32 prefixlen; /* 16 (slot, family) + address prefix length (IPv4: 96 + n) */
	__u8 slot;
	/* MS_FAMILY_*: an IPv6 address never matches an IPv4 prefix, even one
	 * in ::ffff:0:0/96, where IPv4 addresses are stored (IPv4-mapped) */
	__u8 family;
	__u8 addr[16];
	__u8 pad[2];
};
_Static_assert(sizeof(struct ms_addr_key) == 24, "addr key layout");
#define MS_ADDR_KEY_DATA_BITS (8 + 8 + 128)
#define MS_ADDR_KEY_FIXED_BITS 16 /* slot and family: every entry's prefix covers them */

/*
 * port_class: an ARRAY indexed directly by (slot, dir, protocol, port), so
 * the port lookup is one array access and userspace fills a whole slot with
 * one memcpy through mmap. Protocols with ports (and ICMP/ICMPv6, whose
 * "port" is the type) have a 65536-entry row each; every other protocol
 * shares the last row, indexed by protocol number.
 */
#define MS_PORT_ROWS 6 /* tcp, udp, sctp, icmp, icmpv6, other */
#define MS_PORT_ROW_OTHER 5
#define MS_PORT_SLOT_ENTRIES (2u * MS_PORT_ROWS * 65536u)
#define MS_PORT_TABLE_ENTRIES (2u * MS_PORT_SLOT_ENTRIES)

static inline __attribute__((always_inline)) int ms_port_row(__u8 proto)
{
	switch (proto) {
	case MS_PROTO_TCP:
		return 0;
	case MS_PROTO_UDP:
		return 1;
	case MS_PROTO_SCTP:
		return 2;
	case MS_PROTO_ICMP:
		return 3;
	case MS_PROTO_ICMPV6:
		return 4;
	default:
		return MS_PORT_ROW_OTHER;
	}
}

/* Index within one slot's part of port_class. */
static inline __attribute__((always_inline)) __u32 ms_port_index(__u8 dir, __u8 proto, __u16 port)
{
	int row = ms_port_row(proto);

	if (row == MS_PORT_ROW_OTHER)
		port = proto;
	return ((__u32)(dir & 1) * MS_PORT_ROWS + (__u32)row) * 65536u + port;
}

struct ms_decision_key { /* key of a slot's decision map (HASH, inner map of decisions) */
	__u32 src_class;
	__u32 dst_class;
	__u32 port_class;
	__u32 slot;
};
_Static_assert(sizeof(struct ms_decision_key) == 16, "decision key layout");

/* Class number standing for "any" in a decision key (wildcard entries). */
#define MS_CLASS_ANY 0xffffffffu

struct ms_decision {
	__u32 rule_id; /* 1-based index into the policy's rules in file order */
	__u32 rank;    /* the rule's position in (priority, file order) */
	__u8 action;   /* enum ms_action */
	__u8 pad[3];
};
_Static_assert(sizeof(struct ms_decision) == 12, "decision layout");

struct ms_slot_info {	     /* ARRAY[2], indexed by slot */
	__u64 generation;    /* increases with every policy installed */
	__u8 default_action; /* MS_ACT_ALLOW or MS_ACT_DENY */
	__u8 monitor;	     /* 1: never drop, report would-be denies as audit */
	__u8 wildcards;	     /* MS_SLOT_WILD_*: which wildcard lookups can hit */
	__u8 pad[5];
};
_Static_assert(sizeof(struct ms_slot_info) == 16, "slot info layout");

#define MS_SLOT_WILD_SRC 0x1  /* (*, dst, port) entries exist */
#define MS_SLOT_WILD_DST 0x2  /* (src, *, port) entries exist */
#define MS_SLOT_WILD_BOTH 0x4 /* (*, *, port) entries exist */

struct ms_config { /* ARRAY[1] */
	__u32 active_slot;
	__u32 pad;
};
_Static_assert(sizeof(struct ms_config) == 8, "config layout");

/*
 * Fragmented datagrams (LRU_HASH frags), as Cilium's fragment map: the first
 * fragment carries the ports and is decided like any packet; its verdict is
 * kept under the datagram's identity, and the later fragments (no ports)
 * follow it. A later fragment whose first was denied, never seen or seen
 * longer than MS_TIMEOUT_FRAG ago is dropped (passed, as audit, in monitor
 * mode) and counted in MS_CNT_FRAG_DROPPED.
 */
struct ms_frag_key {
	__u8 src[16]; /* IPv4-mapped for IPv4 */
	__u8 dst[16];
	__u32 id; /* IPv4: the 16-bit identification; IPv6: the fragment header's */
	__u8 proto;
	__u8 family;
	__u8 pad[2];
};
_Static_assert(sizeof(struct ms_frag_key) == 40, "fragment key layout");

struct ms_frag {
	__u64 seen_ns; /* the first fragment, CLOCK_MONOTONIC at tick resolution */
	__u8 pass;     /* 1: the first fragment passed */
	__u8 pad[7];
};
_Static_assert(sizeof(struct ms_frag) == 16, "fragment layout");

#define MS_TIMEOUT_FRAG 30 /* seconds: the kernel's ipfrag_time */
#define MS_FRAG_MAX 8192

/*
 * Pinned state (bpffs, one directory per network namespace): what a restart
 * of the agent carries over. ms_meta holds one ms_pin_meta, written last when
 * a state is created, so a set of pins without it is an unfinished one.
 * MS_PIN_ABI_VERSION changes whenever the layout or the meaning of any
 * pinned map changes: a starting agent adopts only a state of its own
 * version, and replaces any other with a warning, never misreading it.
 */
#define MS_PIN_MAGIC 0x4d534750u /* "MSGP" */
/* 2: sessions and events carry the local cgroup id; 3: decisions is an
 * ARRAY_OF_MAPS[2] of per-slot decision hashes (was one HASH of both), and
 * rule_hits is mmapable; 4: address keys carry the family, session keys the
 * ICMP type and MS_KEY_REVERSE, a counter of unclassifiable frames */
#define MS_PIN_ABI_VERSION 4u

struct ms_pin_meta { /* ARRAY[1]: ms_meta */
	__u32 magic;
	__u32 abi_version;
	__u64 netns_cookie; /* SO_NETNS_COOKIE of the namespace it serves; 0: unknown */
	__u32 session_key_size;
	__u32 session_size;
	__u64 created_ns; /* CLOCK_REALTIME when the state was created */
};
_Static_assert(sizeof(struct ms_pin_meta) == 32, "pin meta layout");

/* Interfaces microsegd is attached to (HASH ms_ifaces, key: ifindex), so a
 * later agent or `microsegd --cleanup` knows which clsact qdiscs are ours. */
struct ms_iface_rec {
	__u32 flags; /* MS_IFACE_* */
	__u32 pad;
};
_Static_assert(sizeof(struct ms_iface_rec) == 8, "iface record layout");

#define MS_IFACE_QDISC_OURS 0x1 /* the clsact qdisc was created by microsegd */

/* Ring-buffer event. Addresses and ports are those of the initiator (src)
 * and responder (dst). */
struct ms_event {
	__u64 time_ns; /* CLOCK_MONOTONIC */
	__u64 generation;
	__u64 packets[2]; /* flow_end: [0] initiator->responder, [1] replies */
	__u64 bytes[2];
	__u8 src[16];
	__u8 dst[16];
	__u32 rule_id;
	__u32 ifindex;
	__be16 sport;
	__be16 dport;
	__u8 type;	/* enum ms_event_type */
	__u8 verdict;	/* enum ms_verdict */
	__u8 direction; /* enum ms_dir */
	__u8 family;	/* MS_FAMILY_IPV4 or MS_FAMILY_IPV6 */
	__u8 proto;
	__u8 icmp_type;
	__u8 icmp_code;
	__u8 pad[5];
	__u64 cgroup_id; /* the session's: the local socket's cgroup, 0: none */
};
_Static_assert(sizeof(struct ms_event) == 112, "event layout");

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

/*
 * ICMP in session keys. A query (echo; for IPv4 also timestamp, information
 * and address mask) and its reply share one session, keyed on the request's
 * type, with the identifier as the request's source "port" and the reply's
 * destination "port". Every other message is one-way: keyed on its own type,
 * with the type as destination "port", so that a message of the same type
 * sent back is a flow of its own sender's and never passes as a reply, and
 * a session of one type never passes another. Returns 1 for a request, 2
 * for a reply, 0 for a one-way message.
 */
static __always_inline int ms_icmp_query(__u8 family, __u8 type)
{
	if (family == MS_FAMILY_IPV6)
		return type == 128 ? 1 : type == 129 ? 2 : 0;
	switch (type) {
	case 8:
	case 13:
	case 15:
	case 17:
		return 1;
	case 0:
	case 14:
	case 16:
	case 18:
		return 2;
	default:
		return 0;
	}
}

/* ms_session_key.icmp of a message: its request's type for a query. */
static __always_inline __u8 ms_icmp_key_type(__u8 family, __u8 type)
{
	if (ms_icmp_query(family, type) != 2)
		return type;
	if (family == MS_FAMILY_IPV6)
		return 128;
	return type == 0 ? 8 : (__u8)(type - 1);
}

/* Idle time after which a session expires; the classifier and the daemon's
 * sweep use the same rule. */
static __always_inline __u64 ms_session_timeout_ns(const struct ms_session *s, __u8 proto)
{
	__u64 sec = MS_TIMEOUT_OTHER;

	if (s->verdict == MS_VERDICT_DENY)
		sec = MS_TIMEOUT_DENY;
	else if (proto == MS_PROTO_TCP) {
		if ((s->tcp_state & MS_TCP_RST) ||
		    (s->tcp_state & (MS_TCP_FIN_INIT | MS_TCP_FIN_RESP)) ==
			    (MS_TCP_FIN_INIT | MS_TCP_FIN_RESP))
			sec = MS_TIMEOUT_TCP_CLOSING;
		else if (s->tcp_state & MS_TCP_SEEN_REPLY)
			sec = MS_TIMEOUT_TCP_ESTABLISHED;
		else
			sec = MS_TIMEOUT_TCP_SYN;
	}
	return sec * 1000000000ULL;
}

/*
 * Orientation of a session key: true when (a, pa) is to be stored as the
 * "lo" side. Only determinism matters, so the addresses are compared as two
 * native 64-bit words.
 */
static __always_inline int ms_tuple_is_lo(const __u8 *a, __be16 pa, const __u8 *b, __be16 pb)
{
	__u64 a0, a1, b0, b1;

	__builtin_memcpy(&a0, a, 8);
	__builtin_memcpy(&a1, a + 8, 8);
	__builtin_memcpy(&b0, b, 8);
	__builtin_memcpy(&b1, b + 8, 8);
	if (a0 != b0)
		return a0 < b0;
	if (a1 != b1)
		return a1 < b1;
	return pa <= pb;
}

#endif /* MICROSEGD_ABI_H */
