// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "microsegd_abi.h"
#include "pkt.h"
#include "policy.h"

void pkt_addr(uint8_t *out, const char *text)
{
	struct ms_cidr c;

	if (ms_cidr_parse(text, &c)) {
		fprintf(stderr, "bad test address %s\n", text);
		abort();
	}
	memcpy(out, c.addr, 16);
}

bool pkt_is_v4(const uint8_t *a)
{
	static const uint8_t pfx[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	return !memcmp(a, pfx, 12);
}

bool pkt_spec_v4(const struct pkt_spec *s)
{
	return !s->ipv6 && pkt_is_v4(s->src);
}

static uint16_t csum(const uint8_t *p, size_t n)
{
	uint32_t s = 0;

	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		s += (uint32_t)p[n - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* IP header + L4 of s at p; returns its length. Checksums are filled in for
 * realism, though the classifier does not verify them. */
static size_t build_ip(const struct pkt_spec *s, uint8_t *p, size_t cap)
{
	bool v4 = pkt_spec_v4(s);
	size_t l3 = v4 ? 20 + s->ip_opts
		       : 40 + 8 * s->ext_hdrs + ((s->frag_later || s->frag_first) ? 8 : 0) +
				    (s->frag_dstopts ? 8 : 0);
	size_t l4 = 0, inner_len = 0;
	uint8_t *q;
	uint8_t inner[256];
	bool is_icmp = (s->proto == MS_PROTO_ICMP && v4) || (s->proto == MS_PROTO_ICMPV6 && !v4);

	if (s->inner)
		inner_len = build_ip(s->inner, inner, sizeof(inner));
	if (s->proto == MS_PROTO_TCP)
		l4 = 20;
	else if (s->proto == MS_PROTO_UDP)
		l4 = 8;
	else if (s->proto == MS_PROTO_SCTP)
		l4 = 12;
	else if (is_icmp)
		l4 = 8 + (inner_len > 48 ? 48 : inner_len);
	else
		l4 = 8;
	if (l3 + l4 + s->payload > cap)
		abort();
	memset(p, 0, l3 + l4 + s->payload);
	if (v4) {
		p[0] = (uint8_t)(0x40 | ((20 + s->ip_opts) / 4));
		put16(p + 2, (uint16_t)(l3 + l4 + s->payload));
		put16(p + 4, 0x1234);
		if (s->frag_later)
			put16(p + 6, 0x2000 | 185); /* MF, offset 1480 */
		else if (s->frag_first)
			put16(p + 6, 0x2000);
		p[8] = 64;
		p[9] = s->proto;
		memcpy(p + 12, s->src + 12, 4);
		memcpy(p + 16, s->dst + 12, 4);
		memset(p + 20, 1, s->ip_opts); /* NOP options */
		put16(p + 10, csum(p, l3));
	} else {
		bool frag = s->frag_later || s->frag_first;
		uint8_t *prev = p + 6; /* where the next-header value goes */

		p[0] = 0x60;
		put16(p + 4, (uint16_t)(l3 - 40 + l4 + s->payload));
		p[7] = 64;
		memcpy(p + 8, s->src, 16);
		memcpy(p + 24, s->dst, 16);
		for (unsigned int i = 0; i < s->ext_hdrs; i++) {
			uint8_t *h = p + 40 + 8 * i;

			*prev = 60;
			h[2] = 1; /* a PadN option filling the header */
			h[3] = 4;
			prev = h;
		}
		if (frag) {
			uint8_t *h = p + 40 + 8 * s->ext_hdrs;

			*prev = 44;
			put16(h + 2, s->frag_later ? (uint16_t)(1480 | 1) : 1);
			prev = h;
			if (s->frag_dstopts) {
				/* The fragment header names it in every fragment;
				 * a later fragment's copy stands for payload. */
				uint8_t *o = h + 8;

				*prev = 60;
				o[2] = 1;
				o[3] = 4;
				prev = o;
			}
		}
		*prev = s->proto;
	}
	q = p + l3;
	if (s->proto == MS_PROTO_TCP || s->proto == MS_PROTO_UDP || s->proto == MS_PROTO_SCTP) {
		put16(q, s->sport);
		put16(q + 2, s->dport);
		if (s->proto == MS_PROTO_TCP) {
			q[12] = 5 << 4;
			q[13] = s->tcp_flags_set ? s->tcp_flags : 0x02;
			put16(q + 14, 65535);
		} else if (s->proto == MS_PROTO_UDP) {
			put16(q + 4, (uint16_t)(8 + s->payload));
		}
	} else if (is_icmp) {
		q[0] = s->icmp_type;
		q[1] = s->icmp_code;
		put16(q + 4, s->icmp_id);
		put16(q + 6, 1);
		if (inner_len)
			memcpy(q + 8, inner, l4 - 8);
		put16(q + 2, csum(q, l4 + s->payload));
	}
	return l3 + l4 + s->payload;
}

size_t pkt_build(const struct pkt_spec *s, uint8_t *buf, size_t cap)
{
	size_t n;

	if (cap < 14)
		abort();
	memset(buf, 0, 14);
	memcpy(buf, "\x02\x00\x00\x00\x00\x01", 6);
	memcpy(buf + 6, "\x02\x00\x00\x00\x00\x02", 6);
	if (s->ethertype) {
		put16(buf + 12, s->ethertype);
		memset(buf + 14, 0, cap - 14 < 46 ? cap - 14 : 46);
		n = 14 + 46;
	} else {
		size_t tags = 4 * (size_t)s->vlan_tags;

		if (cap < 14 + tags)
			abort();
		for (unsigned int i = 0; i < s->vlan_tags; i++) {
			put16(buf + 12 + 4 * i, s->vlan_tpid ? s->vlan_tpid : 0x8100);
			put16(buf + 14 + 4 * i, 0); /* priority tag: PCP 0, VID 0 */
		}
		put16(buf + 12 + tags, pkt_spec_v4(s) ? 0x0800 : 0x86dd);
		n = 14 + tags + build_ip(s, buf + 14 + tags, cap - 14 - tags);
	}
	if (s->truncate && s->truncate < n)
		n = s->truncate;
	return n;
}
