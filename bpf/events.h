/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Flow events into the ring buffer (struct ms_event, include/microsegd_abi.h):
 * a session seen from its initiator's side, and the rate of repeated deny and
 * audit reports.
 */
#ifndef MICROSEGD_BPF_EVENTS_H
#define MICROSEGD_BPF_EVENTS_H

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

#endif /* MICROSEGD_BPF_EVENTS_H */
