/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Packet parsing for the classifier. Every read is bounds-checked against
 * data_end. Outcomes:
 *   PARSE_OK      an IP packet whose flow tuple is in struct pkt;
 *   PARSE_PASS    not ours to police: a frame positively not IP (one of
 *                 the link-control ethertypes of is_link_control(), or an
 *                 802.3 length frame: LLC, STP), IPv6 link control
 *                 (neighbour discovery, ICMPv6 133-137, and multicast
 *                 listener discovery, 130-132 and 143, without which
 *                 switches that snoop MLD stop forwarding NDP multicast),
 *   PARSE_FRAG    a non-first fragment: no ports, only the datagram's
 *                 identity (src, dst, proto, frag_id); it follows the verdict
 *                 of its first fragment (frags map);
 *   PARSE_BAD     an IP packet whose headers are truncated or inconsistent,
 *                 or more than MAX_EXT_HDRS IPv6 extension headers: dropped
 *                 (passed and counted in monitor mode);
 *   PARSE_UNCLASS a frame the parser cannot follow to an IP header and does
 *                 not know as non-IP: more than MAX_VLAN_TAGS VLAN tags,
 *                 MPLS, PPPoE, any other ethertype. Dropped like PARSE_BAD:
 *                 whatever the kernel might make of it, it is never waved
 *                 through unclassified.
 */
#ifndef MICROSEGD_BPF_PARSE_H
#define MICROSEGD_BPF_PARSE_H

enum { PARSE_OK = 0, PARSE_PASS, PARSE_BAD, PARSE_FRAG, PARSE_UNCLASS };

#define ETH_HLEN_ 14
#define ETH_P_IP_ 0x0800
#define ETH_P_IPV6_ 0x86DD
#define ETH_P_8021Q_ 0x8100
#define ETH_P_8021AD_ 0x88A8

#define TCP_FLAG_FIN 0x01
#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_RST 0x04
#define TCP_FLAG_ACK 0x10

#define MAX_EXT_HDRS 6
/*
 * VLAN tags (802.1Q, 802.1ad; priority tags, VID 0, included) followed in
 * the frame. The kernel strips priority tags however many there are and
 * hands the packet to IP, so a deeper stack is not IP we may pass: it is
 * dropped as unclassifiable. At ingress the kernel (or the NIC) has already
 * moved the outer tag out of the frame into skb->vlan_tci before tc runs,
 * and at egress a VLAN device's tag is still there: either way the frame
 * bytes hold the rest of the stack, which is what is parsed here, so up to
 * MAX_VLAN_TAGS + 1 tags on the wire are classified.
 */
#define MAX_VLAN_TAGS 8
/* Headers beyond this offset are not looked at; keeps offsets bounded for
 * the verifier and covers Ethernet + 8 VLAN tags + IPv6 + 6 extension
 * headers of any sane size. */
#define MAX_L4_OFF 512
#define PULL_LEN 256

struct pkt {
	__u8 src[16]; /* IPv4-mapped for IPv4 */
	__u8 dst[16];
	__u8 inner_src[16]; /* the flow an ICMP error quotes */
	__u8 inner_dst[16];
	__be16 sport; /* ICMP echo: the identifier */
	__be16 dport;
	__be16 inner_sport;
	__be16 inner_dport;
	__u16 cls_port; /* what policy matches: dport, ICMP type, or 0 */
	__u8 proto;
	__u8 family;
	__u8 inner_proto;
	__u8 has_inner;
	__u8 icmp_type;
	__u8 icmp_code;
	__u8 tcp_flags;
	__u8 frag_first; /* a first fragment (more follow): remember its verdict */
	__u8 frag_proto; /* the datagram's: IPv4 protocol, IPv6 fragment header's next header */
	__u8 icmp_key;	 /* ms_icmp_key_type() of an ICMP packet, for its session key */
	__u8 inner_icmp; /* the same of the quoted packet */
	__u8 icmp_error; /* an ICMP error: decided alone, never a session that passes */
	__u32 frag_id;	 /* PARSE_FRAG and frag_first: the datagram's identification */
};

static __always_inline void map_v4(__u8 *dst, __be32 a)
{
	__builtin_memset(dst, 0, 10);
	dst[10] = 0xff;
	dst[11] = 0xff;
	__builtin_memcpy(dst + 12, &a, 4);
}

/*
 * The "ports" of an ICMP message in its session key (ms_icmp_query,
 * include/microsegd_abi.h): a query's identifier as the request's source
 * and the reply's destination; a one-way message's type as destination.
 * Returns 0 when the identifier is past data_end.
 */
static __always_inline int icmp_ports(__u8 family, const __u8 *l4, void *data_end, __be16 *sport,
				      __be16 *dport)
{
	int q = ms_icmp_query(family, l4[0]);

	if (!q) {
		*sport = 0;
		*dport = bpf_htons(l4[0]);
		return 1;
	}
	if ((void *)(l4 + 8) > data_end)
		return 0;
	if (q == 1) {
		__builtin_memcpy(sport, l4 + 4, 2);
		*dport = 0;
	} else {
		*sport = 0;
		__builtin_memcpy(dport, l4 + 4, 2);
	}
	return 1;
}

static __always_inline int is_icmp_error(__u8 family, __u8 type)
{
	if (family == MS_FAMILY_IPV4)
		return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
	return type >= 1 && type <= 4;
}

/* The quoted packet of an ICMP error: IP header and 8 bytes of L4. Failure
 * only means the error is classified as a packet of its own. */
static __always_inline void parse_inner(void *data, void *data_end, __u32 off, struct pkt *p)
{
	__u8 proto, *l4;

	if (off > MAX_L4_OFF)
		return;
	if (p->family == MS_FAMILY_IPV4) {
		struct iphdr *ip = data + off;

		if ((void *)(ip + 1) > data_end || ip->version != 4 || ip->ihl < 5)
			return;
		proto = ip->protocol;
		l4 = (__u8 *)ip + ip->ihl * 4;
		map_v4(p->inner_src, ip->saddr);
		map_v4(p->inner_dst, ip->daddr);
	} else {
		struct ipv6hdr *ip6 = data + off;

		if ((void *)(ip6 + 1) > data_end || ip6->version != 6)
			return;
		proto = ip6->nexthdr;
		l4 = (__u8 *)(ip6 + 1);
		__builtin_memcpy(p->inner_src, &ip6->saddr, 16);
		__builtin_memcpy(p->inner_dst, &ip6->daddr, 16);
	}
	if ((void *)(l4 + 8) > data_end)
		return;
	if (proto == MS_PROTO_TCP || proto == MS_PROTO_UDP || proto == MS_PROTO_SCTP) {
		__builtin_memcpy(&p->inner_sport, l4, 2);
		__builtin_memcpy(&p->inner_dport, l4 + 2, 2);
	} else if ((proto == MS_PROTO_ICMP && p->family == MS_FAMILY_IPV4) ||
		   (proto == MS_PROTO_ICMPV6 && p->family == MS_FAMILY_IPV6)) {
		if (is_icmp_error(p->family, l4[0]) ||
		    !icmp_ports(p->family, l4, data_end, &p->inner_sport, &p->inner_dport))
			return;
		p->inner_icmp = ms_icmp_key_type(p->family, l4[0]);
	} else {
		return;
	}
	p->inner_proto = proto;
	p->has_inner = 1;
}

static __always_inline int parse_l4(void *data, void *data_end, __u32 off, struct pkt *p)
{
	__u8 *l4;

	if (off > MAX_L4_OFF)
		return PARSE_BAD;
	l4 = data + off;
	switch (p->proto) {
	case MS_PROTO_TCP:
		if ((void *)(l4 + 20) > data_end || (l4[12] >> 4) < 5)
			return PARSE_BAD;
		p->tcp_flags = l4[13];
		goto ports;
	case MS_PROTO_UDP:
		if ((void *)(l4 + 8) > data_end)
			return PARSE_BAD;
		goto ports;
	case MS_PROTO_SCTP:
		if ((void *)(l4 + 12) > data_end)
			return PARSE_BAD;
		goto ports;
	case MS_PROTO_ICMP:
	case MS_PROTO_ICMPV6:
		if ((p->proto == MS_PROTO_ICMP) != (p->family == MS_FAMILY_IPV4))
			return PARSE_OK; /* ICMP in IPv6 or ICMPv6 in IPv4: no ports */
		if ((void *)(l4 + 4) > data_end)
			return PARSE_BAD;
		p->icmp_type = l4[0];
		p->icmp_code = l4[1];
		p->cls_port = l4[0];
		if (p->family == MS_FAMILY_IPV6 && ((l4[0] >= 130 && l4[0] <= 137) || l4[0] == 143))
			return PARSE_PASS;
		p->icmp_key = ms_icmp_key_type(p->family, l4[0]);
		if (is_icmp_error(p->family, l4[0])) {
			p->icmp_error = 1;
			p->dport = bpf_htons(l4[0]); /* one-way, should a denial be kept */
			parse_inner(data, data_end, off + 8, p);
		} else if (!icmp_ports(p->family, l4, data_end, &p->sport, &p->dport)) {
			return PARSE_BAD;
		}
		return PARSE_OK;
	default:
		return PARSE_OK;
	}
ports:
	__builtin_memcpy(&p->sport, l4, 2);
	__builtin_memcpy(&p->dport, l4 + 2, 2);
	p->cls_port = bpf_ntohs(p->dport);
	return PARSE_OK;
}

static __always_inline int parse_ipv4(void *data, void *data_end, __u32 off, struct pkt *p)
{
	struct iphdr *ip = data + off;

	if ((void *)(ip + 1) > data_end)
		return PARSE_BAD;
	if (ip->version != 4 || ip->ihl < 5 ||
	    (bpf_ntohs(ip->tot_len) < ip->ihl * 4 && ip->tot_len != 0))
		return PARSE_BAD; /* tot_len 0 is BIG TCP's GSO packet */
	p->family = MS_FAMILY_IPV4;
	p->proto = ip->protocol;
	map_v4(p->src, ip->saddr);
	map_v4(p->dst, ip->daddr);
	p->frag_id = bpf_ntohs(ip->id);
	p->frag_proto = ip->protocol;
	if (bpf_ntohs(ip->frag_off) & 0x1fff)
		return PARSE_FRAG;
	p->frag_first = (bpf_ntohs(ip->frag_off) & 0x2000) != 0; /* MF */
	return parse_l4(data, data_end, off + ip->ihl * 4, p);
}

static __always_inline int is_ext_hdr(__u8 nh)
{
	return nh == 0 || nh == 43 || nh == 44 || nh == 51 || nh == 60;
}

static __always_inline int parse_ipv6(void *data, void *data_end, __u32 off, struct pkt *p)
{
	struct ipv6hdr *ip6 = data + off;
	__u8 nh;

	if ((void *)(ip6 + 1) > data_end || ip6->version != 6)
		return PARSE_BAD;
	p->family = MS_FAMILY_IPV6;
	__builtin_memcpy(p->src, &ip6->saddr, 16);
	__builtin_memcpy(p->dst, &ip6->daddr, 16);
	nh = ip6->nexthdr;
	off += sizeof(*ip6);
#pragma unroll
	for (int i = 0; i < MAX_EXT_HDRS; i++) {
		__u8 *h;

		if (!is_ext_hdr(nh))
			break;
		if (off > MAX_L4_OFF)
			return PARSE_BAD;
		h = data + off;
		if ((void *)(h + 8) > data_end)
			return PARSE_BAD;
		if (nh == 44) {
			p->frag_id = ((__u32)h[4] << 24) | ((__u32)h[5] << 16) |
				     ((__u32)h[6] << 8) | h[7];
			/* Every fragment's header names the same next header
			 * (RFC 8200 4.5), whatever follows it in the first:
			 * the datagram's identity uses it, not the L4 protocol
			 * that only the first fragment reaches. */
			p->frag_proto = h[0];
			if (((h[2] << 8) | h[3]) & 0xfff8) {
				p->proto = h[0];
				return PARSE_FRAG;
			}
			p->frag_first = h[3] & 1; /* M: an atomic fragment is whole */
			off += 8;
		} else if (nh == 51) {
			off += (h[1] + 2) * 4;
		} else {
			off += (h[1] + 1) * 8;
		}
		nh = h[0];
	}
	if (is_ext_hdr(nh))
		return PARSE_BAD;
	p->proto = nh;
	return parse_l4(data, data_end, off, p);
}

/*
 * Ethertypes positively not IP, passed unclassified: the kernel never hands
 * them to IPv4 or IPv6, and cutting them would cut the link (ARP, bonding,
 * 802.1X, time sync). Anything else that is not IP or a VLAN tag is
 * dropped: MPLS (0x8847/8) and PPPoE sessions (0x8864) carry IP that the
 * kernel delivers with the right configuration, other TPIDs (0x9100) are
 * VLAN tags to some switches, and an unknown ethertype is nothing we can
 * vouch for.
 */
static __always_inline int is_link_control(__u16 proto)
{
	switch (proto) {
	case 0x0806: /* ARP */
	case 0x8035: /* RARP */
	case 0x8809: /* slow protocols: LACP, marker, 802.3ah OAM */
	case 0x888E: /* 802.1X EAPOL */
	case 0x88CC: /* LLDP */
	case 0x88F7: /* PTP */
	case 0x8902: /* 802.1ag CFM */
		return 1;
	default:
		return proto < 0x0600; /* an 802.3 length: LLC (STP, CDP, ...) */
	}
}

/* An Ethernet frame from data to data_end, wherever the hook found it. */
static __always_inline int parse_frame(void *data, void *data_end, struct pkt *p)
{
	__u32 off = ETH_HLEN_;
	struct ethhdr *eth;
	__be16 proto;

	eth = data;
	if ((void *)(eth + 1) > data_end)
		return PARSE_BAD; /* no ethertype to vouch for it */
	proto = eth->h_proto;
#pragma unroll
	for (int i = 0; i < MAX_VLAN_TAGS; i++) {
		__be16 *vlan;

		if (proto != bpf_htons(ETH_P_8021Q_) && proto != bpf_htons(ETH_P_8021AD_))
			break;
		vlan = data + off;
		if ((void *)(vlan + 2) > data_end)
			return PARSE_BAD;
		proto = vlan[1];
		off += 4;
	}
	if (proto == bpf_htons(ETH_P_IP_))
		return parse_ipv4(data, data_end, off, p);
	if (proto == bpf_htons(ETH_P_IPV6_))
		return parse_ipv6(data, data_end, off, p);
	if (is_link_control(bpf_ntohs(proto)))
		return PARSE_PASS;
	return PARSE_UNCLASS;
}

/*
 * The session key of a tuple, the same whichever side sent the packet: the
 * lower (address, port) first (ms_tuple_is_lo, include/microsegd_abi.h,
 * which the includer includes first); *src_is_lo says which side src is.
 * Shared by the classifier and the benchmark's floor programs.
 */
static __always_inline void build_key(struct ms_session_key *k, const __u8 *src, __be16 sport,
				      const __u8 *dst, __be16 dport, __u8 proto, __u8 family,
				      int *src_is_lo)
{
	*src_is_lo = ms_tuple_is_lo(src, sport, dst, dport);
	if (*src_is_lo) {
		__builtin_memcpy(k->addr_lo, src, 16);
		__builtin_memcpy(k->addr_hi, dst, 16);
		k->port_lo = sport;
		k->port_hi = dport;
	} else {
		__builtin_memcpy(k->addr_lo, dst, 16);
		__builtin_memcpy(k->addr_hi, src, 16);
		k->port_lo = dport;
		k->port_hi = sport;
	}
	k->proto = proto;
	k->family = family;
}

#endif /* MICROSEGD_BPF_PARSE_H */
