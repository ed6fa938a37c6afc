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

/* Set by the loader before load: rule_hits holds two slots of max_rules + 1. */
const volatile __u32 max_rules = 1;

/* The running kernel's, read by libbpf from /proc/config.gz or
 * /boot/config-*; 0 when neither is there. */
extern unsigned int CONFIG_HZ __kconfig __weak;

/* CLOCK_MONOTONIC minus jiffies in nanoseconds, taken once (now_ns). */
__u64 jiffies_offset_ns;

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

/* The session of k: answered ones first, the fast path of established
 * flows; *embryo says it was found among the unanswered. */
static __always_inline struct ms_session *session_find(const struct ms_session_key *k, int *embryo)
{
	struct ms_session *s = bpf_map_lookup_elem(&sessions, k);

	*embryo = 0;
	if (s)
		return s;
	s = bpf_map_lookup_elem(&embryos, k);
	*embryo = s != 0;
	return s;
}

/*
 * CLOCK_MONOTONIC at the last tick, what bpf_ktime_get_coarse_ns returns,
 * for ~1 ns a packet instead of ~18 (measured, docs/PERFORMANCE.md):
 * jiffies advance by exactly one TICK_NSEC of the
 * monotonic clock (tick_do_update_jiffies64), so one pair of readings maps
 * every later jiffies value onto that clock, within the tick that is the
 * coarse clock's own resolution. The verifier inlines bpf_jiffies64 and,
 * CONFIG_HZ being a constant of a frozen map, keeps one case of the
 * switch. Racing first packets each store a valid offset.
 */
static __always_inline __u64 now_ns(void)
{
	__u64 tick, off;

	switch (CONFIG_HZ) {
	case 100:
		tick = 10000000;
		break;
	case 250:
		tick = 4000000;
		break;
	case 300:
		tick = 3333333; /* TICK_NSEC, rounded as the kernel rounds it */
		break;
	case 1000:
		tick = 1000000;
		break;
	default:
		return bpf_ktime_get_coarse_ns();
	}
	off = jiffies_offset_ns;
	if (!off) {
		off = bpf_ktime_get_coarse_ns() - bpf_jiffies64() * tick;
		jiffies_offset_ns = off;
	}
	return bpf_jiffies64() * tick + off;
}

/*
 * now - then, or 0 if then is later. Another CPU may stamp a session with a
 * clock reading taken after ours: a plain unsigned difference then wraps to
 * a huge age, and an active flow looked expired and was classified anew
 * from whichever side sent the packet (a reply: often denied).
 */
static __always_inline __u64 age(__u64 now, __u64 then)
{
	return now > then ? now - then : 0;
}

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

/* The initiator's side of a session: addresses and ports as it sent them. */
struct flow_view {
	const __u8 *src;
	const __u8 *dst;
	__be16 sport;
	__be16 dport;
};

static __always_inline void session_view(const struct ms_session_key *k, const struct ms_session *s,
					 struct flow_view *v)
{
	if (s->init_is_hi) {
		v->src = k->addr_hi;
		v->dst = k->addr_lo;
		v->sport = k->port_hi;
		v->dport = k->port_lo;
	} else {
		v->src = k->addr_lo;
		v->dst = k->addr_hi;
		v->sport = k->port_lo;
		v->dport = k->port_hi;
	}
}

static __always_inline void emit(__u8 type, const struct ms_session_key *k,
				 const struct flow_view *v, const struct ms_session *s, __u64 now,
				 __u8 icmp_type, __u8 icmp_code)
{
	struct ms_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		count(MS_CNT_EVENTS_LOST);
		return;
	}
	e->time_ns = now;
	e->generation = s->generation;
	e->packets[0] = s->packets[0];
	e->packets[1] = s->packets[1];
	e->bytes[0] = s->bytes[0];
	e->bytes[1] = s->bytes[1];
	__builtin_memcpy(e->src, v->src, 16);
	__builtin_memcpy(e->dst, v->dst, 16);
	e->rule_id = s->rule_id;
	e->ifindex = s->ifindex;
	e->sport = v->sport;
	e->dport = v->dport;
	e->type = type;
	e->verdict = s->verdict;
	e->direction = s->direction;
	e->family = k->family;
	e->proto = k->proto;
	e->icmp_type = icmp_type;
	e->icmp_code = icmp_code;
	__builtin_memset(e->pad, 0, sizeof(e->pad));
	e->cgroup_id = s->cgroup_id;
	bpf_ringbuf_submit(e, 0);
}

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

static __always_inline int tcp_closed(const struct ms_session *s)
{
	return (s->tcp_state & MS_TCP_RST) ||
	       (s->tcp_state & (MS_TCP_FIN_INIT | MS_TCP_FIN_RESP)) ==
		       (MS_TCP_FIN_INIT | MS_TCP_FIN_RESP);
}

static __always_inline void track_tcp(struct ms_session *s, const struct pkt *p, int fwd)
{
	__u8 st = s->tcp_state;

	if (p->proto != MS_PROTO_TCP)
		return;
	if (!fwd)
		st |= MS_TCP_SEEN_REPLY;
	if (p->tcp_flags & TCP_FLAG_RST)
		st |= MS_TCP_RST;
	if (p->tcp_flags & TCP_FLAG_FIN)
		st |= fwd ? MS_TCP_FIN_INIT : MS_TCP_FIN_RESP;
	if (st != s->tcp_state)
		s->tcp_state = st;
}

/* Deny and audit events: once when decided, then at most every 10 s. */
static __always_inline void report_repeat(const struct ms_session_key *k, struct ms_session *s,
					  const struct pkt *p, __u64 now)
{
	struct flow_view v;

	if (age(now, s->last_report_ns) < MS_DENY_REPORT_NS)
		return;
	s->last_report_ns = now;
	session_view(k, s, &v);
	emit(s->verdict == MS_VERDICT_DENY ? MS_EV_FLOW_DENY : MS_EV_FLOW_AUDIT, k, &v, s, now,
	     p->icmp_type, p->icmp_code);
}

/*
 * A session just answered (after the packet that answered it was applied)
 * moves to the table of answered ones. Another CPU may update the old
 * entry meanwhile; those counts are lost, as with the tolerated per-CPU
 * races on session counts.
 */
static __always_inline void promote(const struct ms_session_key *k, struct ms_session *s)
{
	if (bpf_map_update_elem(&sessions, k, s, BPF_ANY))
		count(MS_CNT_SESSION_FAIL);
	else
		bpf_map_delete_elem(&embryos, k);
}

static __always_inline int answered(const struct ms_session_key *k, const struct ms_session *s,
				    int fwd)
{
	if (s->verdict == MS_VERDICT_DENY)
		return 0;
	if (k->proto == MS_PROTO_TCP)
		return fwd && (s->tcp_state & MS_TCP_SEEN_REPLY);
	return !fwd;
}

static __always_inline int apply(const struct ms_session_key *k, struct ms_session *s,
				 const struct pkt *p, __u64 now)
{
	switch (s->verdict) {
	case MS_VERDICT_ALLOW:
		count(MS_CNT_ALLOWED);
		return TC_ACT_OK;
	case MS_VERDICT_AUDIT:
		count(MS_CNT_AUDIT);
		report_repeat(k, s, p, now);
		return TC_ACT_OK;
	default:
		count(MS_CNT_DENIED);
		report_repeat(k, s, p, now);
		return TC_ACT_SHOT;
	}
}

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

/* A session for a flow whose first packet is p, seen at hook dir. */
static __always_inline void new_session(struct ms_session *ns, struct __sk_buff *skb,
					const struct pkt *p, __u8 dir, int src_is_lo, __u32 rule_id,
					__u8 verdict, __u64 generation, __u64 now)
{
	ns->first_seen_ns = now;
	ns->last_seen_ns = now;
	ns->generation = generation;
	ns->packets[0] = 1;
	ns->bytes[0] = skb->len;
	ns->rule_id = rule_id;
	ns->ifindex = skb->ifindex;
	ns->verdict = verdict;
	ns->init_is_hi = !src_is_lo;
	ns->direction = dir;
	ns->cls_port = p->cls_port;
	ns->cgroup_id = local_cgroup(skb, p, dir);
	track_tcp(ns, p, 1);
	if (verdict != MS_VERDICT_ALLOW)
		ns->last_report_ns = now;
}

/*
 * A packet from the responder's side of a flow that was denied (or, in
 * monitor mode, audited) at its first packet. In enforce mode the denied
 * packet never arrived, so this one answers nothing: it is the first packet
 * of a flow of its own sender's, decided by the rules. Were it taken for a
 * reply, a spoofed packet could block this host's allowed flows to the
 * spoofed address for as long as they retry.
 *
 * Allowed: the flow replaces the denial, a session like any other. Denied:
 * a denial of its own, in embryos under the same tuple marked
 * MS_KEY_REVERSE: its own first report, report rate, timeout and policy
 * generation, refreshed by its own sender only, so that neither side's
 * packets hold back or refresh the other's reports, and later packets are
 * decided by that one lookup. In monitor mode the audited packet did
 * arrive, so a packet the rules do not allow on its own passes as the
 * audited flow's reply, unreported.
 *
 * A revoked flow (allowed, then denied by a reload) really existed: its
 * replies stay replies and are dropped with it; the caller never comes here
 * for one. Racing CPUs may both replace the entry; the last write wins and
 * either is a correct session for the packet that made it.
 */
static __always_inline int reverse_of_denied(struct __sk_buff *skb, struct ms_session_key *key,
					     struct ms_session *s, const struct pkt *p, __u8 dir,
					     int src_is_lo, __u32 slot,
					     const struct ms_slot_info *si, __u64 now)
{
	struct ms_session ns = {}, *rs;
	struct flow_view v;
	__u32 rule_id;
	__u8 action, verdict;

	if (s->verdict == MS_VERDICT_DENY) {
		key->flags = MS_KEY_REVERSE;
		rs = bpf_map_lookup_elem(&embryos, key);
		if (rs && rs->generation == si->generation &&
		    age(now, rs->last_seen_ns) < MS_TIMEOUT_DENY * 1000000000ULL) {
			rs->last_seen_ns = now;
			rs->packets[0] += 1;
			rs->bytes[0] += skb->len;
			return apply(key, rs, p, now);
		}
		key->flags = 0;
	}
	classify(slot, dir, p->family, p->src, p->dst, p->proto, p->cls_port, &rule_id, &action,
		 si);
	verdict = to_verdict(action, si->monitor);
	v.src = p->src;
	v.dst = p->dst;
	v.sport = p->sport;
	v.dport = p->dport;
	if (verdict == MS_VERDICT_ALLOW) {
		/* An audited flow passed traffic: it ends here. */
		if (s->verdict == MS_VERDICT_AUDIT) {
			struct flow_view ov;

			session_view(key, s, &ov);
			emit(MS_EV_FLOW_END, key, &ov, s, now, (__u8)s->cls_port, 0);
		}
		new_session(&ns, skb, p, dir, src_is_lo, rule_id, verdict, si->generation, now);
		/* Unanswered, like any new flow; the denial it replaces may
		 * have been an answered flow's, revoked to audit. */
		if (bpf_map_update_elem(&embryos, key, &ns, BPF_ANY))
			count(MS_CNT_SESSION_FAIL);
		else
			count(MS_CNT_PASSING);
		bpf_map_delete_elem(&sessions, key);
		count(MS_CNT_NEW_FLOWS);
		count_rule(slot, rule_id);
		if (action == MS_ACT_LOG)
			emit(MS_EV_FLOW_NEW, key, &v, &ns, now, p->icmp_type, p->icmp_code);
		count(MS_CNT_ALLOWED);
		return TC_ACT_OK;
	}
	if (verdict == MS_VERDICT_AUDIT) {
		s->last_seen_ns = now;
		s->packets[1] += 1;
		s->bytes[1] += skb->len;
		track_tcp(s, p, 0);
		count(MS_CNT_AUDIT);
		return TC_ACT_OK;
	}
	key->flags = MS_KEY_REVERSE;
	new_session(&ns, skb, p, dir, src_is_lo, rule_id, MS_VERDICT_DENY, si->generation, now);
	if (bpf_map_update_elem(&embryos, key, &ns, BPF_ANY))
		count(MS_CNT_SESSION_FAIL);
	emit(MS_EV_FLOW_DENY, key, &v, &ns, now, p->icmp_type, p->icmp_code);
	count(MS_CNT_NEW_FLOWS);
	count_rule(slot, rule_id);
	count(MS_CNT_DENIED);
	return TC_ACT_SHOT;
}

static __always_inline void frag_key(struct ms_frag_key *fk, const struct pkt *p)
{
	__builtin_memcpy(fk->src, p->src, 16);
	__builtin_memcpy(fk->dst, p->dst, 16);
	fk->id = p->frag_id;
	fk->proto = p->frag_proto;
	fk->family = p->family;
}

/* A first fragment was decided: its datagram's later fragments follow. */
static __always_inline void frag_remember(const struct pkt *p, int verdict_tc)
{
	struct ms_frag_key fk = {};
	struct ms_frag f = { .seen_ns = now_ns(), .pass = verdict_tc == TC_ACT_OK };

	frag_key(&fk, p);
	bpf_map_update_elem(&frags, &fk, &f, BPF_ANY);
}

/* A later fragment: the verdict of its first, if that passed recently. */
static __always_inline int frag_follow(const struct pkt *p, const struct ms_slot_info *si)
{
	struct ms_frag_key fk = {};
	struct ms_frag *f;

	frag_key(&fk, p);
	f = bpf_map_lookup_elem(&frags, &fk);
	if (f && f->pass && age(now_ns(), f->seen_ns) < MS_TIMEOUT_FRAG * 1000000000ULL) {
		count(MS_CNT_ALLOWED);
		return TC_ACT_OK;
	}
	count(MS_CNT_FRAG_DROPPED);
	if (si->monitor) {
		count(MS_CNT_AUDIT);
		return TC_ACT_OK;
	}
	count(MS_CNT_DENIED);
	return TC_ACT_SHOT;
}

/*
 * An ICMP error that quotes no flow we let through is decided alone, by the
 * rules, at every packet: it never creates a session that passes anything,
 * so an allowed error type opens neither another type nor the way back. An
 * allowed one passes here (counted as a flow, and logged for a log rule);
 * a denied (or audited) one goes on to the session path, where a denial is
 * remembered only to drop its repeats with one lookup and report them at
 * the usual rate.
 */
static __always_inline int icmp_error_allowed(struct __sk_buff *skb, const struct pkt *p, __u8 dir,
					      __u32 slot, const struct ms_slot_info *si, __u64 now)
{
	struct ms_session_key key = {};
	struct ms_session ns = {};
	struct flow_view v;
	__u32 rule_id;
	__u8 action;
	int lo;

	classify(slot, dir, p->family, p->src, p->dst, p->proto, p->cls_port, &rule_id, &action,
		 si);
	if (action == MS_ACT_DENY)
		return 0;
	count(MS_CNT_NEW_FLOWS);
	count_rule(slot, rule_id);
	count(MS_CNT_ALLOWED);
	if (action == MS_ACT_LOG) {
		build_key(&key, p->src, p->sport, p->dst, p->dport, p->proto, p->family, &lo);
		key.icmp = p->icmp_key;
		new_session(&ns, skb, p, dir, lo, rule_id, MS_VERDICT_ALLOW, si->generation, now);
		v.src = p->src;
		v.dst = p->dst;
		v.sport = p->sport;
		v.dport = p->dport;
		emit(MS_EV_FLOW_NEW, &key, &v, &ns, now, p->icmp_type, p->icmp_code);
	}
	return 1;
}

static __always_inline int handle(struct __sk_buff *skb, __u8 dir, struct pkt *pkt)
{
	struct ms_session_key key = {};
	struct ms_session *s, ns;
	struct ms_slot_info *si;
	struct ms_config *cfg;
	struct flow_view v;
	__u32 slot = 0, rule_id;
	int r, src_is_lo, fwd, embryo;
	__u8 action, verdict;
	__u64 now;

	r = parse_packet(skb, pkt);
	/* Headers past the linear part of a non-linear skb: pull them in and
	 * look once more. Only then: pulling may copy or unclone the skb, far
	 * too costly for every packet of a TCP stream. */
	if (r == PARSE_BAD && skb->len > skb->data_end - skb->data &&
	    !bpf_skb_pull_data(skb, skb->len < PULL_LEN ? skb->len : PULL_LEN)) {
		__builtin_memset(pkt, 0, sizeof(*pkt));
		r = parse_packet(skb, pkt);
	}
	if (r == PARSE_PASS) {
		count(MS_CNT_PASSTHROUGH);
		return TC_ACT_OK;
	}
	cfg = bpf_map_lookup_elem(&ms_config, &slot);
	if (cfg)
		slot = cfg->active_slot & 1;
	si = bpf_map_lookup_elem(&slot_info, &slot);
	if (!si)
		return TC_ACT_OK;
	if (r == PARSE_FRAG)
		return frag_follow(pkt, si);
	if (r == PARSE_BAD || r == PARSE_UNCLASS) {
		count(MS_CNT_MALFORMED);
		if (r == PARSE_UNCLASS)
			count(MS_CNT_UNCLASSIFIABLE);
		if (si->monitor) {
			count(MS_CNT_AUDIT);
			return TC_ACT_OK;
		}
		count(MS_CNT_DENIED);
		return TC_ACT_SHOT;
	}
	/* Tick resolution: the precise clock costs ~30 ns a packet here, and
	 * timeouts and rate limits need milliseconds. */
	now = now_ns();

	if (pkt->has_inner) {
		/* An ICMP error passes when it quotes a flow we let through. */
		build_key(&key, pkt->inner_src, pkt->inner_sport, pkt->inner_dst, pkt->inner_dport,
			  pkt->inner_proto, pkt->family, &src_is_lo);
		key.icmp = pkt->inner_icmp;
		s = session_find(&key, &embryo);
		if (s && s->verdict != MS_VERDICT_DENY &&
		    age(now, s->last_seen_ns) < ms_session_timeout_ns(s, key.proto)) {
			count(MS_CNT_ALLOWED);
			return TC_ACT_OK;
		}
		__builtin_memset(&key, 0, sizeof(key));
	}

	if (pkt->icmp_error && icmp_error_allowed(skb, pkt, dir, slot, si, now))
		return TC_ACT_OK;
	build_key(&key, pkt->src, pkt->sport, pkt->dst, pkt->dport, pkt->proto, pkt->family,
		  &src_is_lo);
	key.icmp = pkt->icmp_key;
	s = session_find(&key, &embryo);
	if (s) {
		fwd = src_is_lo != s->init_is_hi;
		if (age(now, s->last_seen_ns) >= ms_session_timeout_ns(s, key.proto) ||
		    (key.proto == MS_PROTO_TCP && tcp_closed(s) &&
		     (pkt->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN)) {
			/* Expired but not yet swept, or a new connection on the
			 * 4-tuple of a closed one: report its end, start anew. */
			if (s->verdict != MS_VERDICT_DENY) {
				session_view(&key, s, &v);
				emit(MS_EV_FLOW_END, &key, &v, s, now, (__u8)s->cls_port, 0);
			}
			/* The new flow starts unanswered. */
			if (!embryo)
				bpf_map_delete_elem(&sessions, &key);
			s = NULL;
		} else if (!fwd && s->verdict != MS_VERDICT_ALLOW && !(s->flags & MS_SF_REVOKED)) {
			return reverse_of_denied(skb, &key, s, pkt, dir, src_is_lo, slot, si, now);
		} else {
			s->last_seen_ns = now;
			s->packets[!fwd] += 1;
			s->bytes[!fwd] += skb->len;
			track_tcp(s, pkt, fwd);
			if (s->generation != si->generation) {
				/* Decided by an older policy: classify it again
				 * as its initiator sent it. */
				__u8 old = s->verdict;
				__u32 old_rule = s->rule_id;

				session_view(&key, s, &v);
				classify(slot, s->direction, key.family, v.src, v.dst, key.proto,
					 s->cls_port, &rule_id, &action, si);
				verdict = to_verdict(action, si->monitor);
				s->generation = si->generation;
				s->rule_id = rule_id;
				s->verdict = verdict;
				if (old == MS_VERDICT_DENY && verdict != MS_VERDICT_DENY)
					count(MS_CNT_PASSING);
				count(MS_CNT_NEW_FLOWS);
				count_rule(slot, rule_id);
				if (verdict == MS_VERDICT_DENY && old != MS_VERDICT_DENY) {
					count(MS_CNT_REVOKED);
					s->flags |= MS_SF_REVOKED;
					s->last_report_ns = now;
					emit(MS_EV_FLOW_REVOKED, &key, &v, s, now, pkt->icmp_type,
					     pkt->icmp_code);
				} else if (verdict == MS_VERDICT_AUDIT && old != MS_VERDICT_AUDIT) {
					s->last_report_ns = now;
					emit(MS_EV_FLOW_AUDIT, &key, &v, s, now, pkt->icmp_type,
					     pkt->icmp_code);
				} else if (action == MS_ACT_LOG && old_rule != rule_id) {
					emit(MS_EV_FLOW_NEW, &key, &v, s, now, pkt->icmp_type,
					     pkt->icmp_code);
				}
			}
			r = apply(&key, s, pkt, now);
			if (embryo && answered(&key, s, fwd))
				promote(&key, s);
			return r;
		}
	}

	/* A new flow: the packet's sender is the initiator. */
	classify(slot, dir, pkt->family, pkt->src, pkt->dst, pkt->proto, pkt->cls_port, &rule_id,
		 &action, si);
	verdict = to_verdict(action, si->monitor);
	/* Zeroed here, not where declared: known sessions never use it. */
	__builtin_memset(&ns, 0, sizeof(ns));
	new_session(&ns, skb, pkt, dir, src_is_lo, rule_id, verdict, si->generation, now);
	if (bpf_map_update_elem(&embryos, &key, &ns, BPF_ANY))
		count(MS_CNT_SESSION_FAIL);
	else if (verdict != MS_VERDICT_DENY)
		count(MS_CNT_PASSING);
	count(MS_CNT_NEW_FLOWS);
	count_rule(slot, rule_id);

	v.src = pkt->src;
	v.dst = pkt->dst;
	v.sport = pkt->sport;
	v.dport = pkt->dport;
	if (verdict == MS_VERDICT_DENY)
		emit(MS_EV_FLOW_DENY, &key, &v, &ns, now, pkt->icmp_type, pkt->icmp_code);
	else if (verdict == MS_VERDICT_AUDIT)
		emit(MS_EV_FLOW_AUDIT, &key, &v, &ns, now, pkt->icmp_type, pkt->icmp_code);
	else if (action == MS_ACT_LOG)
		emit(MS_EV_FLOW_NEW, &key, &v, &ns, now, pkt->icmp_type, pkt->icmp_code);

	switch (verdict) {
	case MS_VERDICT_ALLOW:
		count(MS_CNT_ALLOWED);
		return TC_ACT_OK;
	case MS_VERDICT_AUDIT:
		count(MS_CNT_AUDIT);
		return TC_ACT_OK;
	default:
		count(MS_CNT_DENIED);
		return TC_ACT_SHOT;
	}
}

/* Every verdict of a first fragment is remembered for the later ones,
 * whichever of handle()'s paths decided it. */
static __always_inline int classify_skb(struct __sk_buff *skb, __u8 dir)
{
	struct pkt p = {};
	int r = handle(skb, dir, &p);

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
