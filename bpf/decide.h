/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The decision of one packet: passthrough, fragments and malformed frames,
 * ICMP errors, known sessions (expiry, replies to a denied flow,
 * reclassification after a policy change) and new flows. Needs what
 * session.h needs of its includer, and ms_ctx_parse(ctx, pkt): parse.h's
 * outcome for the hook's packet, read however that hook reaches its bytes.
 */
#ifndef MICROSEGD_BPF_DECIDE_H
#define MICROSEGD_BPF_DECIDE_H

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
static __always_inline int reverse_of_denied(MS_CTX *ctx, struct ms_session_key *key,
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
			rs->bytes[0] += ms_ctx_len(ctx);
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
		new_session(&ns, ctx, p, dir, src_is_lo, rule_id, verdict, si->generation, now);
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
		return MS_PASS;
	}
	if (verdict == MS_VERDICT_AUDIT) {
		s->last_seen_ns = now;
		s->packets[1] += 1;
		s->bytes[1] += ms_ctx_len(ctx);
		track_tcp(s, p, 0);
		count(MS_CNT_AUDIT);
		return MS_PASS;
	}
	key->flags = MS_KEY_REVERSE;
	new_session(&ns, ctx, p, dir, src_is_lo, rule_id, MS_VERDICT_DENY, si->generation, now);
	if (bpf_map_update_elem(&embryos, key, &ns, BPF_ANY))
		count(MS_CNT_SESSION_FAIL);
	emit(MS_EV_FLOW_DENY, key, &v, &ns, now, p->icmp_type, p->icmp_code);
	count(MS_CNT_NEW_FLOWS);
	count_rule(slot, rule_id);
	count(MS_CNT_DENIED);
	return MS_DROP;
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
static __always_inline int icmp_error_allowed(MS_CTX *ctx, const struct pkt *p, __u8 dir,
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
		new_session(&ns, ctx, p, dir, lo, rule_id, MS_VERDICT_ALLOW, si->generation, now);
		v.src = p->src;
		v.dst = p->dst;
		v.sport = p->sport;
		v.dport = p->dport;
		emit(MS_EV_FLOW_NEW, &key, &v, &ns, now, p->icmp_type, p->icmp_code);
	}
	return 1;
}

/* The verdict of a packet seen at hook dir; pkt arrives zeroed. */
static __always_inline int ms_decide(MS_CTX *ctx, __u8 dir, struct pkt *pkt)
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

	r = ms_ctx_parse(ctx, pkt);
	if (r == PARSE_PASS) {
		count(MS_CNT_PASSTHROUGH);
		return MS_PASS;
	}
	cfg = bpf_map_lookup_elem(&ms_config, &slot);
	if (cfg)
		slot = cfg->active_slot & 1;
	si = bpf_map_lookup_elem(&slot_info, &slot);
	if (!si)
		return MS_PASS;
	if (r == PARSE_FRAG)
		return frag_follow(pkt, si);
	if (r == PARSE_BAD || r == PARSE_UNCLASS) {
		count(MS_CNT_MALFORMED);
		if (r == PARSE_UNCLASS)
			count(MS_CNT_UNCLASSIFIABLE);
		if (si->monitor) {
			count(MS_CNT_AUDIT);
			return MS_PASS;
		}
		count(MS_CNT_DENIED);
		return MS_DROP;
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
			return MS_PASS;
		}
		__builtin_memset(&key, 0, sizeof(key));
	}

	if (pkt->icmp_error && icmp_error_allowed(ctx, pkt, dir, slot, si, now))
		return MS_PASS;
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
			return reverse_of_denied(ctx, &key, s, pkt, dir, src_is_lo, slot, si, now);
		} else {
			s->last_seen_ns = now;
			s->packets[!fwd] += 1;
			s->bytes[!fwd] += ms_ctx_len(ctx);
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
	new_session(&ns, ctx, pkt, dir, src_is_lo, rule_id, verdict, si->generation, now);
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
		return MS_PASS;
	case MS_VERDICT_AUDIT:
		count(MS_CNT_AUDIT);
		return MS_PASS;
	default:
		count(MS_CNT_DENIED);
		return MS_DROP;
	}
}

#endif /* MICROSEGD_BPF_DECIDE_H */
