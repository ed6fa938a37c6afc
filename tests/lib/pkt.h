/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* Crafting well-formed (or deliberately broken) frames for BPF tests. */
#ifndef MICROSEGD_TEST_PKT_H
#define MICROSEGD_TEST_PKT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pkt_spec {
	uint8_t src[16]; /* IPv4-mapped for IPv4 */
	uint8_t dst[16];
	uint8_t proto;
	uint16_t sport, dport; /* host order */
	uint8_t icmp_type, icmp_code;
	uint16_t icmp_id;
	uint8_t tcp_flags; /* default 0x02 (SYN) when 0 and !tcp_flags_set */
	bool tcp_flags_set;
	unsigned int ip_opts;	      /* IPv4 option bytes (multiple of 4, NOPs) */
	unsigned int ext_hdrs;	      /* IPv6 destination-options headers before L4 */
	bool frag_later;	      /* a non-first fragment */
	bool frag_first;	      /* a first fragment (MF set, offset 0) */
	const struct pkt_spec *inner; /* ICMP error quoting this packet */
	size_t truncate;	      /* cut the frame to this many bytes */
	uint16_t ethertype;	      /* override (e.g. 0x0806 ARP) */
	unsigned int payload;	      /* payload bytes after L4 */
	unsigned int vlan_tags;	      /* VLAN tags before the IP header (VID 0) */
	uint16_t vlan_tpid;	      /* their TPID: 0x8100 when 0 */
	bool ipv6;		      /* IPv6 even with IPv4-mapped addresses */
	bool frag_dstopts; /* IPv6: a destination-options header after the fragment header */
};

/* Fill a 16-byte address from text ("198.18.0.1" or "2001:db8::1"). */
void pkt_addr(uint8_t *out, const char *text);
bool pkt_is_v4(const uint8_t *a);
/* s is an IPv4 packet. */
bool pkt_spec_v4(const struct pkt_spec *s);

/* Build the frame into buf (cap bytes); returns its length. */
size_t pkt_build(const struct pkt_spec *s, uint8_t *buf, size_t cap);

#endif
