/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * IP fragments: a first fragment's verdict is remembered, and the later
 * fragments of its datagram, which carry no ports, follow it. Needs MS_PASS
 * and MS_DROP (session.h).
 */
#ifndef MICROSEGD_BPF_FRAGS_H
#define MICROSEGD_BPF_FRAGS_H

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
	struct ms_frag f = { .seen_ns = now_ns(), .pass = verdict_tc == MS_PASS };

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
		return MS_PASS;
	}
	count(MS_CNT_FRAG_DROPPED);
	if (si->monitor) {
		count(MS_CNT_AUDIT);
		return MS_PASS;
	}
	count(MS_CNT_DENIED);
	return MS_DROP;
}

#endif /* MICROSEGD_BPF_FRAGS_H */
