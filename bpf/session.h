/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The session machine: finding a flow's session among the answered and the
 * unanswered, TCP's open and close, promotion once answered, and a new
 * session for a first packet.
 *
 * Hook-neutral: the one BPF program that includes it defines, first,
 *   MS_PASS, MS_DROP        its hook's codes to pass and to drop a packet;
 *   MS_CTX                  its hook's context type;
 *   ms_ctx_len(ctx)         the packet's length, as counted in sessions;
 *   ms_ctx_ifindex(ctx)     the interface it was seen on;
 *   ms_ctx_cgroup(ctx, p, dir)  the cgroup of the flow's local socket, or 0.
 */
#ifndef MICROSEGD_BPF_SESSION_H
#define MICROSEGD_BPF_SESSION_H

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
		return MS_PASS;
	case MS_VERDICT_AUDIT:
		count(MS_CNT_AUDIT);
		report_repeat(k, s, p, now);
		return MS_PASS;
	default:
		count(MS_CNT_DENIED);
		report_repeat(k, s, p, now);
		return MS_DROP;
	}
}

/* A session for a flow whose first packet is p, seen at hook dir. */
static __always_inline void new_session(struct ms_session *ns, MS_CTX *ctx, const struct pkt *p,
					__u8 dir, int src_is_lo, __u32 rule_id, __u8 verdict,
					__u64 generation, __u64 now)
{
	ns->first_seen_ns = now;
	ns->last_seen_ns = now;
	ns->generation = generation;
	ns->packets[0] = 1;
	ns->bytes[0] = ms_ctx_len(ctx);
	ns->rule_id = rule_id;
	ns->ifindex = ms_ctx_ifindex(ctx);
	ns->verdict = verdict;
	ns->init_is_hi = !src_is_lo;
	ns->direction = dir;
	ns->cls_port = p->cls_port;
	ns->cgroup_id = ms_ctx_cgroup(ctx, p, dir);
	track_tcp(ns, p, 1);
	if (verdict != MS_VERDICT_ALLOW)
		ns->last_report_ns = now;
}

#endif /* MICROSEGD_BPF_SESSION_H */
