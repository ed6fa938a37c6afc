// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * The real classifier, loaded into the kernel, on crafted well-formed frames
 * through BPF_PROG_TEST_RUN: one test per semantic rule of
 * docs/POLICY.md and per parsing case of README's "How a packet is decided".
 */
#include <arpa/inet.h>
#include <string.h>
#include <time.h>

#include <bpf/bpf.h>

#include "dptest.h"
#include "log.h"
#include "polbuild.h"
#include "testlib.h"

#define IN MS_DIR_INGRESS
#define EG MS_DIR_EGRESS
#define PEER "198.18.0.2"
#define HOST "198.18.0.1"
#define PEER6 "2001:db8::2"
#define HOST6 "2001:db8::1"

static struct pkt_spec l4(uint8_t proto, const char *src, uint16_t sport, const char *dst,
			  uint16_t dport)
{
	struct pkt_spec s = { .proto = proto, .sport = sport, .dport = dport };

	pkt_addr(s.src, src);
	pkt_addr(s.dst, dst);
	return s;
}

static struct pkt_spec tcp(const char *src, uint16_t sport, const char *dst, uint16_t dport)
{
	return l4(MS_PROTO_TCP, src, sport, dst, dport);
}

static struct pkt_spec udp(const char *src, uint16_t sport, const char *dst, uint16_t dport)
{
	return l4(MS_PROTO_UDP, src, sport, dst, dport);
}

static struct pkt_spec icmp(const char *src, const char *dst, uint8_t type, uint16_t id)
{
	struct pkt_spec s = { .icmp_type = type, .icmp_id = id };

	pkt_addr(s.src, src);
	pkt_addr(s.dst, dst);
	s.proto = pkt_is_v4(s.src) ? MS_PROTO_ICMP : MS_PROTO_ICMPV6;
	return s;
}

static struct pkt_spec reply(const struct pkt_spec *s)
{
	struct pkt_spec r = *s;

	memcpy(r.src, s->dst, 16);
	memcpy(r.dst, s->src, 16);
	r.sport = s->dport;
	r.dport = s->sport;
	r.tcp_flags = 0x12; /* SYN-ACK */
	r.tcp_flags_set = true;
	return r;
}

/* A fresh data plane with policy p installed (p is freed). */
static struct ms_dp *setup(struct ms_policy *p)
{
	struct ms_dp *dp = dpt_open();
	int err = dpt_install(dp, p);

	CHECK(err == 0, "install: %d", err);
	ms_policy_free(&p);
	return dp;
}

static struct ms_policy *policy(uint8_t def)
{
	struct ms_policy *p = ms_policy_new();

	p->default_action = def;
	return p;
}

static void t_default_deny(void)
{
	struct ms_dp *dp = setup(policy(MS_ACT_DENY));
	struct pkt_spec s = tcp(PEER, 40000, HOST, 80);
	struct ms_event ev[4];
	size_t n;

	CHECK(dpt_run(dp, IN, &s) == DPT_DROP, "default deny drops");
	n = dpt_events(dp, ev, 4);
	REQUIRE(n == 1, "one deny event, got %zu", n);
	CHECK(ev[0].type == MS_EV_FLOW_DENY && ev[0].rule_id == MS_RULE_DEFAULT &&
		      ev[0].verdict == MS_VERDICT_DENY,
	      "flow_deny by default");
	CHECK(ntohs(ev[0].sport) == 40000 && ntohs(ev[0].dport) == 80, "ports in event");
	CHECK(!memcmp(ev[0].src, s.src, 16) && !memcmp(ev[0].dst, s.dst, 16), "addresses in event");
	CHECK(ev[0].family == MS_FAMILY_IPV4 && ev[0].proto == MS_PROTO_TCP &&
		      ev[0].direction == MS_DIR_INGRESS,
	      "family/proto/direction");
	CHECK(dpt_counter(dp, MS_CNT_DENIED) == 1, "denied counter");
	ms_dp_close(&dp);
}

static void t_default_allow(void)
{
	struct ms_dp *dp = setup(policy(MS_ACT_ALLOW));
	struct pkt_spec s = tcp(PEER, 40000, HOST, 80);
	struct ms_event ev[4];

	CHECK(dpt_run(dp, IN, &s) == DPT_OK, "default allow passes");
	CHECK(dpt_events(dp, ev, 4) == 0, "an allowed flow is not reported");
	CHECK(dpt_counter(dp, MS_CNT_ALLOWED) == 1, "allowed counter");
	CHECK(dpt_counter(dp, MS_CNT_NEW_FLOWS) == 1, "new flow counter");
	ms_dp_close(&dp);
}

static void t_priority(void)
{
	struct ms_policy *p = policy(MS_ACT_DENY);
	struct ms_rule *r;
	struct ms_session se;
	struct ms_dp *dp;

	r = pb_rule(p, "deny-web", MS_ACT_DENY); /* file order first, priority 100 */
	pb_port(r, MS_PROTO_TCP, 80, 80);
	r = pb_rule(p, "allow-web", MS_ACT_ALLOW);
	pb_port(r, MS_PROTO_TCP, 80, 80);
	r->priority = 10; /* evaluated first */
	r = pb_rule(p, "allow-ssh-a", MS_ACT_ALLOW);
	pb_port(r, MS_PROTO_TCP, 22, 22);
	r = pb_rule(p, "deny-ssh-b", MS_ACT_DENY); /* same priority: file order */
	pb_port(r, MS_PROTO_TCP, 22, 22);
	dp = setup(p);

	struct pkt_spec web = tcp(PEER, 40000, HOST, 80), ssh = tcp(PEER, 40001, HOST, 22);

	CHECK(dpt_run(dp, IN, &web) == DPT_OK, "lower priority number wins");
	CHECK(dpt_session(dp, &web, &se) == 0 && se.rule_id == 2, "decided by rule 2 (allow-web)");
	CHECK(dpt_run(dp, IN, &ssh) == DPT_OK, "ties keep file order");
	CHECK(dpt_session(dp, &ssh, &se) == 0 && se.rule_id == 3, "decided by rule 3");
	ms_dp_close(&dp);
}

static void t_except(void)
{
	struct ms_policy *p = policy(MS_ACT_DENY);
	struct ms_rule *r = pb_rule(p, "lan", MS_ACT_ALLOW);
	struct ms_dp *dp;

	pb_cidrs(&r->from, "198.18.0.0/16,2001:db8::/48", "198.18.5.0/24,2001:db8:0:5::/64");
	dp = setup(p);
	struct {
		const char *src, *dst;
		int want;
	} cases[] = {
		{ "198.18.4.255", HOST, DPT_OK },	{ "198.18.5.0", HOST, DPT_DROP },
		{ "198.18.5.255", HOST, DPT_DROP },	{ "198.18.6.0", HOST, DPT_OK },
		{ "198.19.0.1", HOST, DPT_DROP },	{ "2001:db8:0:4::9", HOST6, DPT_OK },
		{ "2001:db8:0:5::9", HOST6, DPT_DROP }, { "2001:db8:1::9", HOST6, DPT_DROP },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pkt_spec s = tcp(cases[i].src, 1000, cases[i].dst, 80);

		CHECK(dpt_run(dp, IN, &s) == cases[i].want, "%s", cases[i].src);
	}
	ms_dp_close(&dp);
}

static void t_port_range_edges(void)
{
	struct ms_policy *p = policy(MS_ACT_DENY);
	struct ms_rule *r = pb_rule(p, "range", MS_ACT_ALLOW);
	struct ms_dp *dp;

	pb_port(r, MS_PROTO_TCP, 1000, 2000);
	pb_port(r, MS_PROTO_UDP, 0, 0);
	pb_port(r, MS_PROTO_SCTP, 65535, 65535);
	dp = setup(p);
	struct {
		uint8_t proto;
		uint16_t port;
		int want;
	} cases[] = {
		{ MS_PROTO_TCP, 999, DPT_DROP },  { MS_PROTO_TCP, 1000, DPT_OK },
		{ MS_PROTO_TCP, 2000, DPT_OK },	  { MS_PROTO_TCP, 2001, DPT_DROP },
		{ MS_PROTO_UDP, 0, DPT_OK },	  { MS_PROTO_UDP, 1, DPT_DROP },
		{ MS_PROTO_SCTP, 65535, DPT_OK }, { MS_PROTO_SCTP, 65534, DPT_DROP },
		{ MS_PROTO_UDP, 1500, DPT_DROP },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pkt_spec s =
			l4(cases[i].proto, PEER, (uint16_t)(3000 + i), HOST, cases[i].port);

		CHECK(dpt_run(dp, IN, &s) == cases[i].want, "proto %u port %u", cases[i].proto,
		      cases[i].port);
	}
	ms_dp_close(&dp);
}

static void t_protocol(void)
{
	struct ms_policy *p = policy(MS_ACT_DENY);
	struct ms_rule *r = pb_rule(p, "dns", MS_ACT_ALLOW);
	struct ms_dp *dp;

	pb_port(r, MS_PROTO_UDP, 53, 53);
	r = pb_rule(p, "gre", MS_ACT_ALLOW);
	pb_port(r, 47, 0, 65535);
	dp = setup(p);
	struct pkt_spec u = udp(PEER, 5000, HOST, 53), t = tcp(PEER, 5000, HOST, 53),
			sc = l4(MS_PROTO_SCTP, PEER, 5000, HOST, 53),
			gre = l4(47, PEER, 0, HOST, 0), ipip = l4(4, PEER, 0, HOST, 0);

	CHECK(dpt_run(dp, IN, &u) == DPT_OK, "udp/53 allowed");
	CHECK(dpt_run(dp, IN, &t) == DPT_DROP, "tcp/53 is another protocol");
	CHECK(dpt_run(dp, IN, &sc) == DPT_DROP, "sctp/53 is another protocol");
	CHECK(dpt_run(dp, IN, &gre) == DPT_OK, "protocol 47 by number");
	CHECK(dpt_run(dp, IN, &ipip) == DPT_DROP, "protocol 4 not allowed");
	ms_dp_close(&dp);
}

static void t_icmp_type(void)
{
	struct ms_policy *p = policy(MS_ACT_DENY);
	struct ms_rule *r = pb_rule(p, "ping", MS_ACT_ALLOW);
	struct ms_dp *dp;

	pb_port(r, MS_PROTO_ICMP, 8, 8);
	pb_port(r, MS_PROTO_ICMPV6, 128, 128);
	dp = setup(p);
	struct pkt_spec e4 = icmp(PEER, HOST, 8, 7), ts = icmp(PEER, HOST, 13, 7),
			e6 = icmp(PEER6, HOST6, 128, 7), r6 = icmp(PEER6, HOST6, 129, 9);

	CHECK(dpt_run(dp, IN, &e4) == DPT_OK, "icmp/8 allowed");
	CHECK(dpt_run(dp, IN, &ts) == DPT_DROP, "icmp/13 denied");
	CHECK(dpt_run(dp, IN, &e6) == DPT_OK, "icmpv6/128 allowed");
	CHECK(dpt_run(dp, IN, &r6) == DPT_DROP, "unsolicited echo reply denied");
	ms_dp_close(&dp);
}

static void t_direction(void)
{
	struct ms_policy *p = policy(MS_ACT_DENY);
	struct ms_rule *r = pb_rule(p, "ssh-in", MS_ACT_ALLOW);
	struct ms_dp *dp;

	r->dirmask = MS_DIRMASK_INGRESS;
	pb_port(r, MS_PROTO_TCP, 22, 22);
	r = pb_rule(p, "https-out", MS_ACT_ALLOW);
	r->dirmask = MS_DIRMASK_EGRESS;
	pb_port(r, MS_PROTO_TCP, 443, 443);
	dp = setup(p);
	struct pkt_spec in22 = tcp(PEER, 40000, HOST, 22), out22 = tcp(HOST, 40000, PEER, 22),
			out443 = tcp(HOST, 40001, PEER, 443), in443 = tcp(PEER, 40001, HOST, 443);

	CHECK(dpt_run(dp, IN, &in22) == DPT_OK, "ingress rule, ingress flow");
	CHECK(dpt_run(dp, EG, &out22) == DPT_DROP, "ingress rule, egress flow");
	CHECK(dpt_run(dp, EG, &out443) == DPT_OK, "egress rule, egress flow");
	CHECK(dpt_run(dp, IN, &in443) == DPT_DROP, "egress rule, ingress flow");
	ms_dp_close(&dp);
}

static void t_replies(void)
{
	struct ms_policy *p = policy(MS_ACT_DENY);
	struct ms_rule *r = pb_rule(p, "web", MS_ACT_ALLOW);
	struct ms_dp *dp;
	struct ms_session se;

	r->dirmask = MS_DIRMASK_INGRESS;
	pb_port(r, MS_PROTO_TCP, 80, 80);
	pb_port(r, MS_PROTO_ICMP, 8, 8);
	pb_port(r, MS_PROTO_ICMPV6, 128, 128);
	dp = setup(p);
	struct pkt_spec syn = tcp(PEER, 40000, HOST, 80), sa = reply(&syn);
	struct pkt_spec other = tcp(HOST, 80, PEER, 40001);
	struct pkt_spec ping = icmp(PEER, HOST, 8, 77), pong = icmp(HOST, PEER, 0, 77);
	struct pkt_spec ping6 = icmp(PEER6, HOST6, 128, 78), pong6 = icmp(HOST6, PEER6, 129, 78);

	CHECK(dpt_run(dp, IN, &syn) == DPT_OK, "SYN allowed");
	CHECK(dpt_run(dp, EG, &sa) == DPT_OK, "reply of an allowed flow passes");
	CHECK(dpt_run(dp, EG, &other) == DPT_DROP, "a look-alike of another flow does not");
	CHECK(dpt_run(dp, IN, &ping) == DPT_OK && dpt_run(dp, EG, &pong) == DPT_OK,
	      "echo reply of an allowed ping passes");
	CHECK(dpt_run(dp, IN, &ping6) == DPT_OK && dpt_run(dp, EG, &pong6) == DPT_OK,
	      "ICMPv6 echo reply of an allowed ping passes");
	/* The host pinging the peer with the same identifier is a new flow,
	 * egress, which this policy does not allow. */
	struct pkt_spec ping_out = icmp(HOST, PEER, 8, 77);

	CHECK(dpt_run(dp, EG, &ping_out) == DPT_DROP,
	      "a request in the other direction is not a reply");
	REQUIRE(dpt_session(dp, &syn, &se) == 0, "session exists");
	CHECK(se.packets[0] == 1 && se.packets[1] == 1, "packets per direction %llu/%llu",
	      (unsigned long long)se.packets[0], (unsigned long long)se.packets[1]);
	CHECK(se.bytes[0] > 0 && se.bytes[1] > 0, "bytes per direction");
	CHECK(se.tcp_state & MS_TCP_SEEN_REPLY, "reply seen");
	ms_dp_close(&dp);
}

static void icmp_error_case(const char *peer, const char *host, uint8_t err_type)
{
	struct ms_policy *p = policy(MS_ACT_DENY);
	struct ms_rule *r = pb_rule(p, "dns-out", MS_ACT_ALLOW);
	struct ms_dp *dp;

	r->dirmask = MS_DIRMASK_EGRESS;
	pb_port(r, MS_PROTO_UDP, 53, 53);
	dp = setup(p);
	struct pkt_spec q = udp(host, 33000, peer, 53);
	struct pkt_spec err = icmp(peer, host, err_type, 0);
	struct pkt_spec unrelated_q = udp(host, 33001, peer, 54);
	struct pkt_spec err2 = icmp(peer, host, err_type, 0);

	err.icmp_code = 3;
	err.inner = &q;
	err2.inner = &unrelated_q;
	CHECK(dpt_run(dp, EG, &q) == DPT_OK, "query allowed");
	CHECK(dpt_run(dp, IN, &err) == DPT_OK, "ICMP error quoting the allowed flow passes");
	CHECK(dpt_run(dp, IN, &err2) == DPT_DROP, "ICMP error quoting an unknown flow is policed");
	/* A denied packet never left: an error about it is no reply either. */
	struct pkt_spec denied_q = udp(host, 33002, peer, 55), err3 = icmp(peer, host, err_type, 0);

	err3.icmp_code = 3;
	err3.inner = &denied_q;
	CHECK(dpt_run(dp, EG, &denied_q) == DPT_DROP, "query denied");
	CHECK(dpt_run(dp, IN, &err3) == DPT_DROP, "ICMP error quoting the denied flow is policed");
	ms_dp_close(&dp);
}

static void t_icmp_error_v4(void)
{
	icmp_error_case(PEER, HOST, 3);
}

static void t_icmp_error_v6(void)
{
	icmp_error_case(PEER6, HOST6, 1);
}

static void t_ndp_arp(void)
{
	struct ms_dp *dp = setup(policy(MS_ACT_DENY));
	struct pkt_spec ns = icmp("fe80::2", "ff02::1:ff00:1", 135, 0),
			na = icmp("fe80::2", "fe80::1", 136, 0),
			rs = icmp("fe80::2", "ff02::2", 133, 0), ping6 = icmp(PEER6, HOST6, 128, 1);
	struct pkt_spec mld = icmp("fe80::2", "ff02::16", 143, 0),
			mldq = icmp("fe80::2", "ff02::1", 130, 0);
	struct pkt_spec arp = { .ethertype = 0x0806 };
	uint64_t before = dpt_counter(dp, MS_CNT_PASSTHROUGH);

	CHECK(dpt_run(dp, IN, &ns) == DPT_OK, "neighbour solicitation passes default deny");
	CHECK(dpt_run(dp, EG, &na) == DPT_OK, "neighbour advertisement passes");
	CHECK(dpt_run(dp, EG, &rs) == DPT_OK, "router solicitation passes");
	CHECK(dpt_run(dp, IN, &ping6) == DPT_DROP, "other ICMPv6 is policed");
	CHECK(dpt_run(dp, IN, &arp) == DPT_OK && dpt_run(dp, EG, &arp) == DPT_OK, "ARP passes");
	CHECK(dpt_run(dp, EG, &mld) == DPT_OK && dpt_run(dp, IN, &mldq) == DPT_OK,
	      "MLDv2 report and MLD query pass");
	CHECK(dpt_counter(dp, MS_CNT_PASSTHROUGH) == before + 7, "counted as passthrough");
	ms_dp_close(&dp);
}

static void t_ipv4_options(void)
{
	struct ms_policy *p = policy(MS_ACT_DENY);
	struct ms_rule *r = pb_rule(p, "web", MS_ACT_ALLOW);
	struct ms_dp *dp;

	pb_port(r, MS_PROTO_TCP, 80, 80);
	dp = setup(p);
	struct pkt_spec a = tcp(PEER, 1000, HOST, 80), b = tcp(PEER, 1001, HOST, 81);

	a.ip_opts = 40;
	b.ip_opts = 40;
	CHECK(dpt_run(dp, IN, &a) == DPT_OK, "ports found after 40 bytes of options");
	CHECK(dpt_run(dp, IN, &b) == DPT_DROP, "and policed");
	a.ip_opts = 4;
	a.sport = 1002;
	CHECK(dpt_run(dp, IN, &a) == DPT_OK, "4 bytes of options");
	ms_dp_close(&dp);
}

static void t_ipv6_ext_headers(void)
{
	struct ms_policy *p = policy(MS_ACT_DENY);
	struct ms_rule *r = pb_rule(p, "web", MS_ACT_ALLOW);
	struct ms_dp *dp;

	pb_port(r, MS_PROTO_TCP, 80, 80);
	dp = setup(p);
	struct pkt_spec a = tcp(PEER6, 1000, HOST6, 80), b = tcp(PEER6, 1001, HOST6, 81);

	a.ext_hdrs = 3;
	b.ext_hdrs = 3;
	CHECK(dpt_run(dp, IN, &a) == DPT_OK, "ports found after 3 extension headers");
	CHECK(dpt_run(dp, IN, &b) == DPT_DROP, "and policed");
	a.ext_hdrs = 6;
	a.sport = 1002;
	CHECK(dpt_run(dp, IN, &a) == DPT_OK, "6 extension headers (the bound)");
	a.ext_hdrs = 7;
	a.sport = 1003;
	uint64_t bad = dpt_counter(dp, MS_CNT_MALFORMED);

	CHECK(dpt_run(dp, IN, &a) == DPT_DROP, "7 extension headers exceed the walk: dropped");
	CHECK(dpt_counter(dp, MS_CNT_MALFORMED) == bad + 1, "counted malformed");
	ms_dp_close(&dp);
}

static void t_truncated_malformed(void)
{
	struct ms_dp *dp = setup(policy(MS_ACT_ALLOW));
	struct pkt_spec s = tcp(PEER, 1000, HOST, 80);
	uint8_t frame[256];
	size_t n;
	int r;

	s.truncate = 14 + 20 + 10; /* half a TCP header */
	CHECK(dpt_run(dp, IN, &s) == DPT_DROP, "truncated TCP header dropped");
	s = tcp(PEER6, 1000, HOST6, 80);
	/* (BPF_PROG_TEST_RUN itself refuses frames shorter than an IPv6
	 * header, so the IPv6 cases cut later.) */
	s.truncate = 14 + 40 + 12; /* IPv6, half a TCP header */
	r = dpt_run(dp, IN, &s);
	CHECK(r == DPT_DROP, "truncated TCP header after IPv6 dropped: %d", r);
	s.ext_hdrs = 2;
	s.truncate = 14 + 40 + 8 + 4; /* the second extension header cut */
	r = dpt_run(dp, IN, &s);
	CHECK(r == DPT_DROP, "truncated extension header dropped: %d", r);
	s = udp(PEER, 1000, HOST, 53);
	s.truncate = 14 + 20 + 4;
	CHECK(dpt_run(dp, IN, &s) == DPT_DROP, "truncated UDP header dropped");
	s = tcp(PEER, 1000, HOST, 80);
	n = pkt_build(&s, frame, sizeof(frame));
	frame[14] = 0x43; /* IHL 3 < 5 */
	CHECK(dpt_run_raw(dp, IN, frame, n) == DPT_DROP, "IHL below 5 dropped");
	frame[14] = 0x55; /* version 5 */
	CHECK(dpt_run_raw(dp, IN, frame, n) == DPT_DROP, "IPv4 ethertype, version 5 dropped");
	frame[14] = 0x4f; /* IHL 15: options beyond the packet */
	CHECK(dpt_run_raw(dp, IN, frame, n) == DPT_DROP, "header length beyond data dropped");
	CHECK(dpt_counter(dp, MS_CNT_MALFORMED) == 7, "malformed counted: %llu",
	      (unsigned long long)dpt_counter(dp, MS_CNT_MALFORMED));
	ms_dp_close(&dp);
}

/* A first fragment is decided like any packet; the later fragments of its
 * datagram (src, dst, id, proto) follow its verdict. */
static struct pkt_spec frag(const char *src, const char *dst, uint16_t dport, bool first)
{
	struct pkt_spec s = udp(src, 1000, dst, dport);

	s.frag_first = first;
	s.frag_later = !first;
	return s;
}

static void t_fragments(void)
{
	struct ms_policy *p = policy(MS_ACT_DENY);
	struct ms_rule *r = pb_rule(p, "dns", MS_ACT_ALLOW);
	struct ms_dp *dp;

	pb_port(r, MS_PROTO_UDP, 53, 53);
	dp = setup(p);
	for (int v6 = 0; v6 < 2; v6++) {
		const char *peer = v6 ? PEER6 : PEER, *host = v6 ? HOST6 : HOST;
		const char *other = v6 ? "2001:db8::3" : "198.18.0.3";
		const char *never = v6 ? "2001:db8::4" : "198.18.0.4";
		struct pkt_spec a1 = frag(peer, host, 53, true), a2 = frag(peer, host, 53, false);
		struct pkt_spec r1 = reply(&a1), r2 = reply(&a2);
		struct pkt_spec d1 = frag(other, host, 54, true), d2 = frag(other, host, 54, false);
		struct pkt_spec n2 = frag(never, host, 53, false);

		CHECK(dpt_run(dp, IN, &a1) == DPT_OK, "v%d: allowed first fragment passes",
		      v6 ? 6 : 4);
		CHECK(dpt_run(dp, IN, &a2) == DPT_OK, "v%d: its later fragment follows",
		      v6 ? 6 : 4);
		CHECK(dpt_run(dp, EG, &r1) == DPT_OK && dpt_run(dp, EG, &r2) == DPT_OK,
		      "v%d: a fragmented reply passes whole", v6 ? 6 : 4);
		CHECK(dpt_run(dp, IN, &d1) == DPT_DROP, "v%d: denied first fragment dropped",
		      v6 ? 6 : 4);
		CHECK(dpt_run(dp, IN, &d2) == DPT_DROP, "v%d: its later fragment dropped too",
		      v6 ? 6 : 4);
		CHECK(dpt_run(dp, IN, &n2) == DPT_DROP,
		      "v%d: a later fragment without its first is dropped", v6 ? 6 : 4);
	}
	CHECK(dpt_counter(dp, MS_CNT_FRAG_DROPPED) == 4, "fragments dropped counted: %llu",
	      (unsigned long long)dpt_counter(dp, MS_CNT_FRAG_DROPPED));
	CHECK(dpt_counter(dp, MS_CNT_PASSTHROUGH) == 0, "no fragment passes unchecked");
	ms_dp_close(&dp);

	/* Monitor mode never drops: an orphan fragment passes, as audit. */
	p = policy(MS_ACT_DENY);
	p->monitor = true;
	dp = setup(p);
	struct pkt_spec orphan = frag(PEER, HOST, 53, false);

	CHECK(dpt_run(dp, IN, &orphan) == DPT_OK, "monitor: orphan fragment passes");
	CHECK(dpt_counter(dp, MS_CNT_AUDIT) == 1 && dpt_counter(dp, MS_CNT_FRAG_DROPPED) == 1,
	      "monitor: counted as audit and as a fragment that would be dropped");
	ms_dp_close(&dp);
}

static void t_vlan(void)
{
	struct ms_policy *p = policy(MS_ACT_DENY);
	struct ms_rule *r = pb_rule(p, "web", MS_ACT_ALLOW);
	struct ms_dp *dp;
	uint8_t frame[256];
	size_t n;

	pb_port(r, MS_PROTO_TCP, 80, 80);
	dp = setup(p);
	for (int port = 80; port <= 81; port++) {
		struct pkt_spec s = tcp(PEER, 1000, HOST, (uint16_t)port);

		n = pkt_build(&s, frame + 4, sizeof(frame) - 4);
		memmove(frame, frame + 4, 12);
		frame[12] = 0x81; /* 802.1Q, VLAN 5, then the IPv4 ethertype */
		frame[13] = 0x00;
		frame[14] = 0x00;
		frame[15] = 0x05;
		CHECK(dpt_run_raw(dp, IN, frame, n + 4) == (port == 80 ? DPT_OK : DPT_DROP),
		      "VLAN-tagged tcp/%d", port);
	}
	ms_dp_close(&dp);
}

/* A stack of VLAN tags (priority tags, 802.1Q and 802.1ad mixed) in front of
 * IP: classified as deep as the parser follows, dropped beyond (the kernel
 * strips any number of priority tags and delivers the packet), never passed
 * unclassified. */
static void t_vlan_stacks(void)
{
	struct ms_policy *p = policy(MS_ACT_DENY);
	struct ms_rule *r = pb_rule(p, "web", MS_ACT_ALLOW);
	struct ms_dp *dp;
	uint64_t unclass = 0;

	pb_port(r, MS_PROTO_TCP, 80, 80);
	pb_port(r, MS_PROTO_UDP, 53, 53);
	dp = setup(p);
	for (unsigned int depth = 0; depth <= 12; depth++) {
		for (int v6 = 0; v6 < 2; v6++) {
			struct pkt_spec ok = tcp(v6 ? PEER6 : PEER, 1000, v6 ? HOST6 : HOST, 80);
			struct pkt_spec no = udp(v6 ? PEER6 : PEER, 1001, v6 ? HOST6 : HOST, 54);
			bool followed = depth <= 8;

			ok.vlan_tags = no.vlan_tags = depth;
			ok.vlan_tpid = no.vlan_tpid = depth % 2 ? 0x88a8 : 0x8100;
			CHECK(dpt_run(dp, IN, &ok) == (followed ? DPT_OK : DPT_DROP),
			      "%u tags, IPv%d, allowed port: %s", depth, v6 ? 6 : 4,
			      followed ? "classified" : "dropped");
			CHECK(dpt_run(dp, IN, &no) == DPT_DROP,
			      "%u tags, IPv%d, denied port dropped", depth, v6 ? 6 : 4);
			unclass += followed ? 0 : 2;
		}
	}
	CHECK(dpt_counter(dp, MS_CNT_UNCLASSIFIABLE) == unclass,
	      "stacks past the parser counted unclassifiable: %llu of %llu",
	      (unsigned long long)dpt_counter(dp, MS_CNT_UNCLASSIFIABLE),
	      (unsigned long long)unclass);
	CHECK(dpt_counter(dp, MS_CNT_MALFORMED) == unclass, "and malformed");
	ms_dp_close(&dp);

	/* Monitor mode passes them, as audit, still counted. */
	p = policy(MS_ACT_DENY);
	p->monitor = true;
	dp = setup(p);
	struct pkt_spec deep = udp(PEER, 1001, HOST, 54);

	deep.vlan_tags = 9;
	CHECK(dpt_run(dp, IN, &deep) == DPT_OK, "monitor: a deep stack passes");
	CHECK(dpt_counter(dp, MS_CNT_UNCLASSIFIABLE) == 1 && dpt_counter(dp, MS_CNT_AUDIT) == 1,
	      "monitor: counted unclassifiable and audit");
	ms_dp_close(&dp);
}

/* Only ethertypes positively not IP pass unclassified; those that carry IP
 * (MPLS, PPPoE), other TPIDs and unknown ones are dropped. */
static void t_ethertypes(void)
{
	static const struct {
		uint16_t type;
		bool pass;
	} t[] = {
		{ 0x0806, true },  { 0x8035, true },  { 0x88cc, true },	 { 0x888e, true },
		{ 0x8809, true },  { 0x88f7, true },  { 0x8902, true },	 { 0x0026, true },
		{ 0x8847, false }, { 0x8848, false }, { 0x8864, false }, { 0x9100, false },
		{ 0x88e5, false }, { 0x1234, false }, { 0xffff, false },
	};
	struct ms_dp *dp = setup(policy(MS_ACT_DENY));
	uint64_t unclass = 0;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct pkt_spec s = { .ethertype = t[i].type };
		uint8_t frame[128];
		size_t n;

		CHECK(dpt_run(dp, IN, &s) == (t[i].pass ? DPT_OK : DPT_DROP), "ethertype 0x%04x %s",
		      t[i].type, t[i].pass ? "passes" : "dropped");
		/* The same behind a priority tag. */
		n = pkt_build(&s, frame + 4, sizeof(frame) - 4);
		memmove(frame, frame + 4, 12);
		memcpy(frame + 12, "\x81\x00\x00\x00", 4);
		CHECK(dpt_run_raw(dp, EG, frame, n + 4) == (t[i].pass ? DPT_OK : DPT_DROP),
		      "ethertype 0x%04x behind a tag %s", t[i].type,
		      t[i].pass ? "passes" : "dropped");
		unclass += t[i].pass ? 0 : 2;
	}
	CHECK(dpt_counter(dp, MS_CNT_UNCLASSIFIABLE) == unclass, "dropped ones counted: %llu",
	      (unsigned long long)dpt_counter(dp, MS_CNT_UNCLASSIFIABLE));
	ms_dp_close(&dp);
}

/* An IPv6 packet from (or to) an IPv4-mapped address meets IPv6 prefixes
 * only: never IPv4 rules; ::ffff:0:0/96 written as such is IPv6. */
static void t_mapped_v6(void)
{
	struct ms_policy *p = policy(MS_ACT_DENY);
	struct ms_rule *r = pb_rule(p, "v4-admins-ssh", MS_ACT_ALLOW);
	struct ms_dp *dp;

	pb_cidrs(&r->from, "198.18.0.0/16", NULL);
	pb_port(r, MS_PROTO_TCP, 22, 22);
	r = pb_rule(p, "v4-web", MS_ACT_ALLOW);
	pb_cidrs(&r->to, "198.18.0.1/32", NULL);
	pb_port(r, MS_PROTO_TCP, 80, 80);
	r = pb_rule(p, "mapped-dns", MS_ACT_ALLOW);
	pb_cidrs(&r->from, "::ffff:0:0/96", NULL);
	pb_port(r, MS_PROTO_UDP, 53, 53);
	dp = setup(p);
	struct pkt_spec ssh4 = tcp(PEER, 1000, HOST, 22),
			ssh6 = tcp("::ffff:" PEER, 1000, HOST6, 22);
	struct pkt_spec web4 = tcp(PEER, 1001, HOST, 80),
			web6 = tcp("2001:db8::7", 1001, "::ffff:" HOST, 80);
	struct pkt_spec dns4 = udp(PEER, 1002, HOST, 53),
			dns6 = udp("::ffff:" PEER, 1002, HOST6, 53);

	ssh6.ipv6 = web6.ipv6 = dns6.ipv6 = true;
	CHECK(dpt_run(dp, IN, &ssh4) == DPT_OK, "IPv4 source in the IPv4 rule");
	CHECK(dpt_run(dp, IN, &ssh6) == DPT_DROP, "IPv6 from ::ffff:" PEER " is not IPv4");
	CHECK(dpt_run(dp, IN, &web4) == DPT_OK, "IPv4 destination in the IPv4 rule");
	CHECK(dpt_run(dp, IN, &web6) == DPT_DROP, "IPv6 to ::ffff:" HOST " is not IPv4");
	CHECK(dpt_run(dp, IN, &dns6) == DPT_OK, "::ffff:0:0/96 matches the IPv6 packet");
	CHECK(dpt_run(dp, IN, &dns4) == DPT_DROP, "and no IPv4 one");
	ms_dp_close(&dp);
}

/* One allowed ICMP type opens no other, in neither direction; an allowed
 * ICMP error creates no session at all. */
static void t_icmp_sessions_by_type(void)
{
	struct ms_policy *p = policy(MS_ACT_DENY);
	struct ms_rule *r = pb_rule(p, "unreach-in", MS_ACT_ALLOW);
	struct ms_session se;
	struct ms_dp *dp;

	r->dirmask = MS_DIRMASK_INGRESS;
	pb_port(r, MS_PROTO_ICMP, 3, 3);
	pb_port(r, MS_PROTO_ICMPV6, 1, 1);
	r = pb_rule(p, "timestamps-in", MS_ACT_ALLOW);
	r->dirmask = MS_DIRMASK_INGRESS;
	pb_port(r, MS_PROTO_ICMP, 13, 13);
	r = pb_rule(p, "adverts-in", MS_ACT_ALLOW);
	r->dirmask = MS_DIRMASK_INGRESS;
	pb_port(r, MS_PROTO_ICMP, 9, 9);
	pb_port(r, MS_PROTO_ICMPV6, 139, 139);
	dp = setup(p);
	for (int v6 = 0; v6 < 2; v6++) {
		const char *peer = v6 ? PEER6 : PEER, *host = v6 ? HOST6 : HOST;
		struct pkt_spec unreach = icmp(peer, host, v6 ? 1 : 3, 0);
		struct pkt_spec others[] = { icmp(peer, host, v6 ? 3 : 11, 0),
					     icmp(peer, host, v6 ? 140 : 15, 0),
					     icmp(peer, host, v6 ? 128 : 8, 0),
					     icmp(peer, host, v6 ? 200 : 17, 0) };
		struct pkt_spec back[] = { icmp(host, peer, v6 ? 1 : 3, 0),
					   icmp(host, peer, v6 ? 129 : 16, 0),
					   icmp(host, peer, v6 ? 2 : 12, 0) };

		unreach.icmp_code = 3; /* its quote: zeros, no flow */
		CHECK(dpt_run(dp, IN, &unreach) == DPT_OK, "v%d: the allowed error passes",
		      v6 ? 6 : 4);
		CHECK(dpt_session(dp, &unreach, &se) != 0, "v%d: and leaves no session",
		      v6 ? 6 : 4);
		for (size_t i = 0; i < 4; i++)
			CHECK(dpt_run(dp, IN, &others[i]) == DPT_DROP,
			      "v%d: type %u from the same peer still denied", v6 ? 6 : 4,
			      others[i].icmp_type);
		for (size_t i = 0; i < 3; i++)
			CHECK(dpt_run(dp, EG, &back[i]) == DPT_DROP,
			      "v%d: type %u back to the peer denied", v6 ? 6 : 4,
			      back[i].icmp_type);
		CHECK(dpt_run(dp, IN, &unreach) == DPT_OK, "v%d: the allowed error still passes",
		      v6 ? 6 : 4);

		/* A one-way message allowed inwards opens nothing back. */
		struct pkt_spec adv = icmp(peer, host, v6 ? 139 : 9, 0),
				adv_back = icmp(host, peer, v6 ? 139 : 9, 0);

		CHECK(dpt_run(dp, IN, &adv) == DPT_OK, "v%d: type %u allowed in", v6 ? 6 : 4,
		      adv.icmp_type);
		CHECK(dpt_run(dp, EG, &adv_back) == DPT_DROP, "v%d: the same type back is denied",
		      v6 ? 6 : 4);
	}
	/* A query and its reply share a session; nothing else does. */
	struct pkt_spec ts = icmp(PEER, HOST, 13, 77), ts_r = icmp(HOST, PEER, 14, 77),
			mask = icmp(PEER, HOST, 17, 77), echo_r = icmp(HOST, PEER, 0, 77);

	CHECK(dpt_run(dp, IN, &ts) == DPT_OK, "timestamp request allowed");
	CHECK(dpt_run(dp, EG, &ts_r) == DPT_OK, "its reply passes");
	CHECK(dpt_run(dp, IN, &mask) == DPT_DROP, "a mask request, same identifier, denied");
	CHECK(dpt_run(dp, EG, &echo_r) == DPT_DROP, "an echo reply, same identifier, denied");
	ms_dp_close(&dp);
}

/* The later fragments of an IPv6 datagram whose first fragment has a
 * destination-options header after the fragment header follow it. */
static void t_frag_dstopts(void)
{
	struct ms_policy *p = policy(MS_ACT_DENY);
	struct ms_rule *r = pb_rule(p, "dns", MS_ACT_ALLOW);
	struct ms_dp *dp;

	pb_port(r, MS_PROTO_UDP, 53, 53);
	dp = setup(p);
	struct pkt_spec a1 = frag(PEER6, HOST6, 53, true), a2 = frag(PEER6, HOST6, 53, false);
	struct pkt_spec d1 = frag(PEER6, HOST6, 54, true), d2 = frag(PEER6, HOST6, 54, false);

	a1.frag_dstopts = a2.frag_dstopts = d1.frag_dstopts = d2.frag_dstopts = true;
	d1.sport = d2.sport = 1001;
	CHECK(dpt_run(dp, IN, &a1) == DPT_OK, "allowed first fragment passes");
	CHECK(dpt_run(dp, IN, &a2) == DPT_OK, "its later fragment follows");
	CHECK(dpt_run(dp, IN, &d1) == DPT_DROP, "denied first fragment dropped");
	CHECK(dpt_run(dp, IN, &d2) == DPT_DROP, "its later fragment dropped too");
	ms_dp_close(&dp);
}

/* A reverse flow denied both ways is a denial of its own: its own session,
 * and its reports and the original's do not hold each other back. */
static void t_reverse_denied_own_rate(void)
{
	struct ms_policy *p = policy(MS_ACT_DENY);
	struct ms_session_key k;
	struct ms_session se, rse;
	struct ms_event ev[8];
	struct ms_dp *dp;
	struct timespec ts;
	size_t n;

	dp = setup(p);
	struct pkt_spec out = udp(HOST, 53, PEER, 40000), in = reply(&out);

	CHECK(dpt_run(dp, EG, &out) == DPT_DROP, "denied");
	CHECK(dpt_run(dp, IN, &in) == DPT_DROP, "the reverse denied too");
	dpt_session_key(&out, &k);
	k.flags = MS_KEY_REVERSE;
	CHECK(bpf_map_lookup_elem(ms_dp_embryos_fd(dp), &k, &rse) == 0 &&
		      rse.verdict == MS_VERDICT_DENY && rse.direction == MS_DIR_INGRESS,
	      "the reverse has a denial of its own");
	n = dpt_events(dp, ev, 8);
	CHECK(n == 2, "two first reports: %zu", n);
	/* The original's last report 11 s ago: its next packet is reported
	 * again, whatever the reverse's packets did meanwhile. */
	REQUIRE(dpt_session(dp, &out, &se) == 0, "session");
	clock_gettime(CLOCK_MONOTONIC, &ts);
	se.last_report_ns = (uint64_t)ts.tv_sec * 1000000000ULL - 11000000000ULL;
	dpt_session_key(&out, &k);
	REQUIRE(bpf_map_update_elem(ms_dp_embryos_fd(dp), &k, &se, BPF_EXIST) == 0, "age");
	CHECK(dpt_run(dp, IN, &in) == DPT_DROP, "reverse again");
	CHECK(dpt_run(dp, EG, &out) == DPT_DROP, "original again");
	n = dpt_events(dp, ev, 8);
	CHECK(n == 1 && ev[0].type == MS_EV_FLOW_DENY && !memcmp(ev[0].src, out.src, 16),
	      "one repeat report, the original's: %zu events%s", n,
	      n && memcmp(ev[0].src, out.src, 16) ? " (the reverse's)" : "");
	ms_dp_close(&dp);
}

static void t_revocation(void)
{
	struct ms_policy *p = policy(MS_ACT_DENY);
	struct ms_rule *r = pb_rule(p, "web", MS_ACT_ALLOW);
	struct ms_dp *dp;
	struct ms_event ev[8];
	size_t n;

	pb_port(r, MS_PROTO_TCP, 80, 80);
	r = pb_rule(p, "tls", MS_ACT_ALLOW);
	pb_port(r, MS_PROTO_TCP, 443, 443);
	dp = setup(p);
	struct pkt_spec web = tcp(PEER, 40000, HOST, 80), tls = tcp(PEER, 40001, HOST, 443);
	struct pkt_spec web_r = reply(&web);

	CHECK(dpt_run(dp, IN, &web) == DPT_OK && dpt_run(dp, IN, &tls) == DPT_OK, "both allowed");
	CHECK(dpt_run(dp, EG, &web_r) == DPT_OK, "reply allowed");

	p = policy(MS_ACT_DENY);
	r = pb_rule(p, "tls", MS_ACT_ALLOW);
	pb_port(r, MS_PROTO_TCP, 443, 443);
	REQUIRE(dpt_install(dp, p) == 0, "second policy installed");
	ms_policy_free(&p);
	CHECK(ms_dp_generation(dp) == 2, "generation 2");

	CHECK(dpt_run(dp, EG, &web_r) == DPT_DROP, "revoked at its next packet (a reply)");
	CHECK(dpt_run(dp, IN, &web) == DPT_DROP, "and stays denied");
	CHECK(dpt_run(dp, IN, &tls) == DPT_OK, "a flow the new policy allows continues");
	n = dpt_events(dp, ev, 8);
	REQUIRE(n >= 1, "events after revocation: %zu", n);
	CHECK(ev[0].type == MS_EV_FLOW_REVOKED && ev[0].generation == 2, "flow_revoked event");
	CHECK(!memcmp(ev[0].src, web.src, 16) && ntohs(ev[0].dport) == 80,
	      "revoked event names the initiator's view");
	CHECK(n == 1, "exactly one event (the revocation), got %zu", n);
	CHECK(dpt_counter(dp, MS_CNT_REVOKED) == 1, "revoked counter");
	ms_dp_close(&dp);
}

/*
 * Issue 15: a packet the peer sent and we denied never reached the host, so
 * the host's packet on the reversed tuple is a new flow of the host's, which
 * the rules decide. Spoofed denied packets must not block allowed flows.
 */
static void t_reverse_of_denied(void)
{
	struct ms_policy *p = policy(MS_ACT_DENY);
	struct ms_rule *r = pb_rule(p, "host-may-start-anything", MS_ACT_ALLOW);
	struct ms_event ev[8];
	struct ms_session se;
	struct ms_dp *dp;
	size_t n;

	r->dirmask = MS_DIRMASK_EGRESS;
	dp = setup(p);
	struct pkt_spec spoof = udp(PEER, 53, HOST, 40000), out = udp(HOST, 40000, PEER, 53);
	struct pkt_spec syn_in = tcp(PEER, 443, HOST, 40001), syn_out = reply(&syn_in);
	struct pkt_spec v6_in = udp(PEER6, 53, HOST6, 40002), v6_out = reply(&v6_in);

	syn_out.tcp_flags = 0x02; /* the host's own SYN, not a SYN-ACK */
	for (int i = 0; i < 3; i++)
		CHECK(dpt_run(dp, IN, &spoof) == DPT_DROP, "spoofed inbound denied (%d)", i);
	CHECK(dpt_run(dp, EG, &out) == DPT_OK, "host's allowed flow on the reversed tuple passes");
	CHECK(dpt_run(dp, IN, &spoof) == DPT_OK, "the peer's answer is now a reply of it");
	REQUIRE(dpt_session(dp, &out, &se) == 0, "session");
	CHECK(se.verdict == MS_VERDICT_ALLOW && se.direction == MS_DIR_EGRESS && se.rule_id == 1,
	      "the host's flow replaced the denial: verdict %u dir %u rule %u", se.verdict,
	      se.direction, se.rule_id);
	CHECK(dpt_run(dp, IN, &syn_in) == DPT_DROP, "TCP: spoofed SYN denied");
	CHECK(dpt_run(dp, EG, &syn_out) == DPT_OK, "TCP: host's SYN on the reversed tuple passes");
	CHECK(dpt_run(dp, IN, &v6_in) == DPT_DROP && dpt_run(dp, EG, &v6_out) == DPT_OK, "IPv6");
	n = dpt_events(dp, ev, 8);
	CHECK(n == 3, "one flow_deny per spoofed flow, none for the host's flows: %zu", n);
	ms_dp_close(&dp);
}

/* The opposite case, and a reverse flow the rules deny too: dropped,
 * reported once as its own flow, the denial not refreshed by it. */
static void t_reverse_denied_both_ways(void)
{
	struct ms_policy *p = policy(MS_ACT_DENY);
	struct ms_rule *r = pb_rule(p, "peer-may-start-anything", MS_ACT_ALLOW);
	struct ms_event ev[8];
	struct ms_session se;
	struct ms_dp *dp;
	size_t n;

	r->dirmask = MS_DIRMASK_INGRESS;
	r->to.any = false;
	pb_cidrs(&r->to, HOST "/32", NULL);
	dp = setup(p);
	struct pkt_spec out = udp(HOST, 53, PEER, 40000), in = reply(&out);
	struct pkt_spec out2 = udp(HOST6, 54, PEER6, 40000), in2 = reply(&out2);

	CHECK(dpt_run(dp, EG, &out) == DPT_DROP, "host's egress denied");
	CHECK(dpt_run(dp, IN, &in) == DPT_OK, "peer's allowed flow on the reversed tuple passes");
	CHECK(dpt_run(dp, EG, &out) == DPT_OK, "and the host's packet is its reply");
	dpt_events(dp, ev, 8);

	/* Both sides denied (the rule's `to` is not HOST6's). */
	CHECK(dpt_run(dp, EG, &out2) == DPT_DROP, "denied");
	REQUIRE(dpt_session(dp, &out2, &se) == 0, "session");
	uint64_t seen = se.last_seen_ns;

	for (int i = 0; i < 4; i++)
		CHECK(dpt_run(dp, IN, &in2) == DPT_DROP, "the reverse, denied too (%d)", i);
	REQUIRE(dpt_session(dp, &out2, &se) == 0, "session kept");
	CHECK(se.verdict == MS_VERDICT_DENY && se.direction == MS_DIR_EGRESS,
	      "still the first flow's denial");
	CHECK(se.last_seen_ns == seen && se.packets[1] == 0,
	      "the reverse's packets do not refresh the denial");
	n = dpt_events(dp, ev, 8);
	REQUIRE(n == 2, "two events (the denial, the reverse's own): %zu", n);
	CHECK(ev[1].type == MS_EV_FLOW_DENY && !memcmp(ev[1].src, in2.src, 16) &&
		      ev[1].direction == MS_DIR_INGRESS && ev[1].packets[0] == 1,
	      "the reverse reported once as a new flow of its sender");
	ms_dp_close(&dp);
}

/* A revoked flow existed: its replies are not new flows. */
static void t_reverse_of_revoked(void)
{
	struct ms_policy *p = policy(MS_ACT_DENY);
	struct ms_rule *r = pb_rule(p, "web", MS_ACT_ALLOW);
	struct ms_dp *dp;

	pb_port(r, MS_PROTO_TCP, 80, 80);
	r = pb_rule(p, "host-out", MS_ACT_ALLOW);
	r->dirmask = MS_DIRMASK_EGRESS;
	dp = setup(p);
	struct pkt_spec web = tcp(PEER, 40000, HOST, 80), web_r = reply(&web);

	CHECK(dpt_run(dp, IN, &web) == DPT_OK && dpt_run(dp, EG, &web_r) == DPT_OK, "allowed");
	p = policy(MS_ACT_DENY);
	r = pb_rule(p, "host-out", MS_ACT_ALLOW);
	r->dirmask = MS_DIRMASK_EGRESS;
	REQUIRE(dpt_install(dp, p) == 0, "install");
	ms_policy_free(&p);
	CHECK(dpt_run(dp, IN, &web) == DPT_DROP, "revoked");
	CHECK(dpt_run(dp, EG, &web_r) == DPT_DROP,
	      "its reply stays dropped, though host-out would allow a new flow");
	ms_dp_close(&dp);
}

/* Monitor mode: the audited packet arrived, so the answer is its reply. */
static void t_reverse_of_audit(void)
{
	struct ms_policy *p = policy(MS_ACT_DENY);
	struct ms_event ev[8];
	struct ms_dp *dp;

	p->monitor = true;
	dp = setup(p);
	struct pkt_spec syn = tcp(PEER, 40000, HOST, 23), sa = reply(&syn);

	CHECK(dpt_run(dp, IN, &syn) == DPT_OK && dpt_run(dp, EG, &sa) == DPT_OK, "passes");
	CHECK(dpt_events(dp, ev, 8) == 1, "one audit, for the flow, none for its reply");
	ms_dp_close(&dp);
}

static void t_swap_allows_denied(void)
{
	struct ms_dp *dp = setup(policy(MS_ACT_DENY));
	struct pkt_spec s = tcp(PEER, 40000, HOST, 8080);

	CHECK(dpt_run(dp, IN, &s) == DPT_DROP, "denied under the first policy");
	struct ms_policy *p = policy(MS_ACT_ALLOW);

	REQUIRE(dpt_install(dp, p) == 0, "install");
	ms_policy_free(&p);
	CHECK(dpt_run(dp, IN, &s) == DPT_OK, "a remembered deny is re-decided after a swap");
	ms_dp_close(&dp);
}

static void t_monitor(void)
{
	struct ms_policy *p = policy(MS_ACT_DENY);
	struct ms_dp *dp;
	struct ms_event ev[8];
	size_t n;

	p->monitor = true;
	dp = setup(p);
	struct pkt_spec s = tcp(PEER, 40000, HOST, 23), bad = tcp(PEER, 1, HOST, 2);

	bad.truncate = 14 + 20 + 8;
	for (int i = 0; i < 5; i++)
		CHECK(dpt_run(dp, IN, &s) == DPT_OK, "monitor mode never drops");
	CHECK(dpt_run(dp, IN, &bad) == DPT_OK, "not even malformed packets");
	n = dpt_events(dp, ev, 8);
	REQUIRE(n == 1, "one audit event, got %zu", n);
	CHECK(ev[0].type == MS_EV_FLOW_AUDIT && ev[0].verdict == MS_VERDICT_AUDIT, "flow_audit");
	CHECK(dpt_counter(dp, MS_CNT_AUDIT) == 6, "audit packets counted");
	CHECK(dpt_counter(dp, MS_CNT_DENIED) == 0, "nothing denied");
	ms_dp_close(&dp);
}

static void t_log_action(void)
{
	struct ms_policy *p = policy(MS_ACT_DENY);
	struct ms_rule *r = pb_rule(p, "watch-ssh", MS_ACT_LOG);
	struct ms_dp *dp;
	struct ms_event ev[8];
	size_t n;

	pb_port(r, MS_PROTO_TCP, 22, 22);
	r = pb_rule(p, "web", MS_ACT_ALLOW);
	pb_port(r, MS_PROTO_TCP, 80, 80);
	dp = setup(p);
	struct pkt_spec ssh = tcp(PEER6, 40000, HOST6, 22), web = tcp(PEER6, 40001, HOST6, 80);
	struct pkt_spec ssh_r = reply(&ssh);

	CHECK(dpt_run(dp, IN, &ssh) == DPT_OK, "log = allow");
	CHECK(dpt_run(dp, EG, &ssh_r) == DPT_OK, "reply passes");
	CHECK(dpt_run(dp, IN, &web) == DPT_OK, "plain allow");
	n = dpt_events(dp, ev, 8);
	REQUIRE(n == 1, "one event (the log rule's new flow), got %zu", n);
	CHECK(ev[0].type == MS_EV_FLOW_NEW && ev[0].rule_id == 1 && ev[0].family == MS_FAMILY_IPV6,
	      "flow_new by rule 1");
	ms_dp_close(&dp);
}

static void t_deny_flood(void)
{
	struct ms_dp *dp = setup(policy(MS_ACT_DENY));
	struct pkt_spec s = udp(PEER, 5000, HOST, 9999);
	struct ms_event ev[8];
	int dropped = 0;

	for (int i = 0; i < 1000; i++)
		dropped += dpt_run(dp, IN, &s) == DPT_DROP;
	CHECK(dropped == 1000, "every packet dropped (%d)", dropped);
	CHECK(dpt_events(dp, ev, 8) == 1, "one event for the whole flood");
	CHECK(dpt_counter(dp, MS_CNT_NEW_FLOWS) == 1, "classified once");
	CHECK(dpt_counter(dp, MS_CNT_DENIED) == 1000, "1000 denied packets counted");
	ms_dp_close(&dp);
}

static void t_tcp_state(void)
{
	struct ms_dp *dp = setup(policy(MS_ACT_ALLOW));
	struct pkt_spec syn = tcp(PEER, 40000, HOST, 80), sa = reply(&syn);
	struct pkt_spec fin = syn, fin_r = sa, rst = tcp(PEER, 40002, HOST, 80);
	struct ms_session se;

	CHECK(dpt_run(dp, IN, &syn) == DPT_OK, "syn");
	REQUIRE(dpt_session(dp, &syn, &se) == 0, "session");
	CHECK(ms_session_timeout_ns(&se, MS_PROTO_TCP) == MS_TIMEOUT_TCP_SYN * 1000000000ULL,
	      "half-open: SYN timeout");
	dpt_run(dp, EG, &sa);
	dpt_session(dp, &syn, &se);
	CHECK(ms_session_timeout_ns(&se, MS_PROTO_TCP) ==
		      MS_TIMEOUT_TCP_ESTABLISHED * 1000000000ULL,
	      "established timeout");
	fin.tcp_flags = 0x11;
	fin.tcp_flags_set = true;
	fin_r.tcp_flags = 0x11;
	dpt_run(dp, IN, &fin);
	dpt_session(dp, &syn, &se);
	CHECK(ms_session_timeout_ns(&se, MS_PROTO_TCP) ==
		      MS_TIMEOUT_TCP_ESTABLISHED * 1000000000ULL,
	      "one FIN: still established");
	dpt_run(dp, EG, &fin_r);
	dpt_session(dp, &syn, &se);
	CHECK(ms_session_timeout_ns(&se, MS_PROTO_TCP) == MS_TIMEOUT_TCP_CLOSING * 1000000000ULL,
	      "FIN both ways: closing timeout");
	dpt_run(dp, IN, &rst);
	rst.tcp_flags = 0x04;
	rst.tcp_flags_set = true;
	dpt_run(dp, IN, &rst);
	REQUIRE(dpt_session(dp, &rst, &se) == 0, "session 2");
	CHECK(ms_session_timeout_ns(&se, MS_PROTO_TCP) == MS_TIMEOUT_TCP_CLOSING * 1000000000ULL,
	      "RST: closing timeout");

	/* A new SYN on the 4-tuple of the reset connection is a new flow. */
	struct ms_event ev[8];
	uint64_t flows = dpt_counter(dp, MS_CNT_NEW_FLOWS);
	struct pkt_spec again = tcp(PEER, 40002, HOST, 80);
	size_t n;

	dpt_events(dp, ev, 8);
	CHECK(dpt_run(dp, IN, &again) == DPT_OK, "new SYN passes");
	CHECK(dpt_counter(dp, MS_CNT_NEW_FLOWS) == flows + 1, "classified as a new flow");
	n = dpt_events(dp, ev, 8);
	CHECK(n == 1 && ev[0].type == MS_EV_FLOW_END && ev[0].packets[0] == 2,
	      "the reset connection's end is reported (%zu events)", n);
	REQUIRE(dpt_session(dp, &again, &se) == 0, "session 3");
	CHECK(se.tcp_state == 0 && se.packets[0] == 1, "a fresh session");
	ms_dp_close(&dp);
}

/* A session stamped by another CPU with a later clock reading than ours is
 * not expired: its next packet, a reply, must still pass. */
static void t_clock_race(void)
{
	struct ms_policy *p = policy(MS_ACT_DENY);
	struct ms_rule *r = pb_rule(p, "web", MS_ACT_ALLOW);
	struct ms_session se;
	struct ms_session_key k;
	struct ms_dp *dp;
	struct timespec ts;

	r->dirmask = MS_DIRMASK_INGRESS;
	pb_port(r, MS_PROTO_TCP, 80, 80);
	dp = setup(p);
	struct pkt_spec syn = tcp(PEER, 40000, HOST, 80), ack = reply(&syn);

	CHECK(dpt_run(dp, IN, &syn) == DPT_OK, "allowed");
	REQUIRE(dpt_session(dp, &syn, &se) == 0, "session");
	clock_gettime(CLOCK_MONOTONIC, &ts);
	se.last_seen_ns = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec + 50000000ULL;
	dpt_session_key(&syn, &k);
	/* Not answered yet: the session is among the unanswered. */
	REQUIRE(bpf_map_update_elem(ms_dp_embryos_fd(dp), &k, &se, BPF_EXIST) == 0, "stamp");
	CHECK(dpt_run(dp, EG, &ack) == DPT_OK, "the reply passes");
	CHECK(dpt_counter(dp, MS_CNT_NEW_FLOWS) == 1, "not classified anew");
	ms_dp_close(&dp);
}

static void t_rule_hits(void)
{
	struct ms_policy *p = policy(MS_ACT_DENY);
	struct ms_rule *r = pb_rule(p, "web", MS_ACT_ALLOW);
	uint64_t hits[2];
	struct ms_dp *dp;

	pb_port(r, MS_PROTO_TCP, 80, 80);
	dp = setup(p);
	for (uint16_t i = 0; i < 3; i++) {
		struct pkt_spec s = tcp(PEER, (uint16_t)(1000 + i), HOST, 80);

		dpt_run(dp, IN, &s);
		dpt_run(dp, IN, &s); /* same flow: not a new hit */
	}
	struct pkt_spec d = tcp(PEER, 1000, HOST, 81);

	dpt_run(dp, IN, &d);
	REQUIRE(ms_dp_rule_hits(dp, hits, 2) == 0, "read hits");
	CHECK(hits[1] == 3 && hits[0] == 1, "rule hits %llu, default %llu",
	      (unsigned long long)hits[1], (unsigned long long)hits[0]);
	ms_dp_close(&dp);
}

int main(void)
{
	ms_log_set_level(MS_LOG_WARN);
	RUN(t_default_deny);
	RUN(t_default_allow);
	RUN(t_priority);
	RUN(t_except);
	RUN(t_port_range_edges);
	RUN(t_protocol);
	RUN(t_icmp_type);
	RUN(t_direction);
	RUN(t_replies);
	RUN(t_icmp_error_v4);
	RUN(t_icmp_error_v6);
	RUN(t_ndp_arp);
	RUN(t_ipv4_options);
	RUN(t_ipv6_ext_headers);
	RUN(t_truncated_malformed);
	RUN(t_fragments);
	RUN(t_vlan);
	RUN(t_vlan_stacks);
	RUN(t_ethertypes);
	RUN(t_mapped_v6);
	RUN(t_icmp_sessions_by_type);
	RUN(t_frag_dstopts);
	RUN(t_reverse_denied_own_rate);
	RUN(t_revocation);
	RUN(t_reverse_of_denied);
	RUN(t_reverse_denied_both_ways);
	RUN(t_reverse_of_revoked);
	RUN(t_reverse_of_audit);
	RUN(t_swap_allows_denied);
	RUN(t_monitor);
	RUN(t_log_action);
	RUN(t_deny_flood);
	RUN(t_tcp_state);
	RUN(t_rule_hits);
	RUN(t_clock_race);
	return t_done();
}
