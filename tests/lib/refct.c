// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <stdlib.h>
#include <string.h>

#include "refct.h"

void ref_ct_init(struct ref_ct *ct, const struct ms_policy *p)
{
	memset(ct, 0, sizeof(*ct));
	ct->p = p;
	ct->gen = 1;
}

void ref_ct_free(struct ref_ct *ct)
{
	free(ct->f);
	memset(ct, 0, sizeof(*ct));
}

void ref_ct_policy(struct ref_ct *ct, const struct ms_policy *p)
{
	ct->p = p;
	ct->gen++;
}

static bool same_end(const uint8_t *a, uint16_t pa, const uint8_t *b, uint16_t pb)
{
	return pa == pb && !memcmp(a, b, 16);
}

/* The flow s belongs to, either way round; *from_init says which side. */
static struct ref_flow *find(struct ref_ct *ct, const struct pkt_spec *s, bool *from_init)
{
	for (unsigned int i = 0; i < ct->n; i++) {
		struct ref_flow *f = &ct->f[i];

		if (f->proto != s->proto || f->v4 != pkt_spec_v4(s))
			continue;
		if (same_end(f->init, f->init_port, s->src, s->sport) &&
		    same_end(f->resp, f->resp_port, s->dst, s->dport)) {
			*from_init = true;
			return f;
		}
		if (same_end(f->resp, f->resp_port, s->src, s->sport) &&
		    same_end(f->init, f->init_port, s->dst, s->dport)) {
			*from_init = false;
			return f;
		}
	}
	return NULL;
}

void ref_ct_forget(struct ref_ct *ct, const struct pkt_spec *s)
{
	bool from_init;
	struct ref_flow *f = find(ct, s, &from_init);

	if (f)
		*f = ct->f[--ct->n];
}

static bool decide(const struct ref_ct *ct, uint8_t dir, bool v4, const uint8_t *src,
		   const uint8_t *dst, uint8_t proto, uint16_t port)
{
	struct ms_flow fl = { .dir = dir,
			      .family = v4 ? MS_FAMILY_IPV4 : MS_FAMILY_IPV6,
			      .proto = proto,
			      .port = port };
	uint8_t action;

	memcpy(fl.src, src, 16);
	memcpy(fl.dst, dst, 16);
	ms_policy_eval(ct->p, &fl, &action);
	return action != MS_ACT_DENY;
}

/* A new flow with s's sender as initiator, in place of *slot or appended. */
static bool start(struct ref_ct *ct, struct ref_flow *slot, uint8_t dir, const struct pkt_spec *s)
{
	struct ref_flow nf = { .proto = s->proto,
			       .v4 = pkt_spec_v4(s),
			       .init_port = s->sport,
			       .resp_port = s->dport,
			       .dir = dir,
			       .gen = ct->gen };

	memcpy(nf.init, s->src, 16);
	memcpy(nf.resp, s->dst, 16);
	nf.allowed = decide(ct, dir, nf.v4, s->src, s->dst, s->proto, s->dport);
	if (!slot) {
		if (ct->n == ct->cap) {
			unsigned int ncap = ct->cap ? ct->cap * 2 : 16;
			struct ref_flow *nv = realloc(ct->f, ncap * sizeof(*nv));

			if (!nv)
				abort();
			ct->f = nv;
			ct->cap = ncap;
		}
		slot = &ct->f[ct->n++];
	}
	*slot = nf;
	return nf.allowed;
}

bool ref_ct_packet(struct ref_ct *ct, uint8_t dir, const struct pkt_spec *s)
{
	bool from_init;
	struct ref_flow *f = find(ct, s, &from_init);

	if (!f)
		return start(ct, NULL, dir, s);
	/* The other side of a flow denied at its first packet: that packet
	 * never arrived, so this one is a new flow of its own sender's. If the
	 * rules allow it, it takes the place of the denial. */
	if (!from_init && !f->allowed && !f->revoked) {
		struct ref_flow keep = *f;

		if (start(ct, f, dir, s))
			return true;
		*f = keep;
		return false;
	}
	/* Decided by an older policy: decided again, as its initiator sent it. */
	if (f->gen != ct->gen) {
		bool now = decide(ct, f->dir, f->v4, f->init, f->resp, f->proto, f->resp_port);

		if (f->allowed && !now)
			f->revoked = true;
		f->allowed = now;
		f->gen = ct->gen;
	}
	return f->allowed;
}
