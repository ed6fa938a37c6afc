// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * libFuzzer target for the real TC classifier, run through BPF_PROG_TEST_RUN
 * (needs root and a BTF kernel, as the BPF tests do). Every input becomes a
 * frame, fed to an enforcing and to a monitoring data plane that share one
 * policy; the invariants checked after each run:
 *   - the test run succeeds and the verdict is TC_ACT_OK or TC_ACT_SHOT;
 *   - exactly one of the allowed, denied, audit and passthrough counters
 *     grew, by one, and denied grew exactly when the packet was dropped;
 *   - monitor mode never drops;
 *   - a frame whose ethertype (after at most 8 VLAN tags) is a link-control
 *     one positively not IP passes, counted as passthrough, in both modes;
 *     one whose ethertype is neither that nor IP, or with more tags, is
 *     dropped in enforce mode (passed in monitor mode), counted
 *     unclassifiable and malformed.
 *
 * Input: MODE-BYTE, then in raw mode (MODE bit 1) the frame itself; else a
 * packet description (family, protocol, ports, flags, IPv4 options, IPv6
 * extension headers, fragments, an ICMP error's quoted packet, VLAN tags,
 * truncation) built into a well-formed frame, then (offset, byte) pairs
 * that overwrite it: random and mutated packets alike reach deep into the
 * parser. Sessions accumulate across inputs, as on a real link.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dptest.h"
#include "log.h"
#include "pkt.h"
#include "polbuild.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TC_ACT_OK 0
#define TC_ACT_SHOT 2
#define MAX_FRAME 1514 /* dpt_run_raw's output buffer holds 2048 */
#define MIN_FRAME 15   /* BPF_PROG_TEST_RUN wants an Ethernet header and a byte */

static struct ms_dp *enforce, *monitor;

static const char *const addrs4[] = { "198.18.0.1", "198.18.0.2", "198.18.1.7", "198.19.255.1" };
static const char *const addrs6[] = { "2001:db8::1", "2001:db8::2", "2001:db8:1::7",
				      "::ffff:1.2.3.4" };
static const uint8_t protos[] = { MS_PROTO_TCP,	 MS_PROTO_UDP, MS_PROTO_ICMP,	    MS_PROTO_ICMPV6,
				  MS_PROTO_SCTP, 4 /* IPIP */, 41 /* IPv6 in IP */, 47 /* GRE */ };

static struct ms_policy *fuzz_policy(bool mon)
{
	struct ms_policy *p = ms_policy_new();
	struct ms_rule *r;

	if (!p)
		abort();
	p->default_action = MS_ACT_DENY;
	p->monitor = mon;
	r = pb_rule(p, "web", MS_ACT_ALLOW);
	pb_port(r, MS_PROTO_TCP, 80, 80);
	r = pb_rule(p, "dns", MS_ACT_ALLOW);
	pb_port(r, MS_PROTO_UDP, 53, 53);
	r = pb_rule(p, "ping", MS_ACT_ALLOW);
	pb_port(r, MS_PROTO_ICMP, 8, 8);
	pb_port(r, MS_PROTO_ICMPV6, 128, 128);
	r = pb_rule(p, "telnet", MS_ACT_DENY);
	pb_port(r, MS_PROTO_TCP, 23, 23);
	r = pb_rule(p, "logged", MS_ACT_LOG);
	pb_port(r, MS_PROTO_TCP, 8000, 8999);
	return p;
}

static struct ms_dp *open_dp(bool mon)
{
	struct ms_dp *dp = dpt_open();
	struct ms_policy *p = fuzz_policy(mon);

	if (dpt_install(dp, p)) {
		fprintf(stderr, "cannot install the fuzzing policy\n");
		abort();
	}
	ms_policy_free(&p);
	return dp;
}

static void setup(void)
{
	ms_log_init();
	ms_log_set_level(MS_LOG_ERROR);
	enforce = open_dp(false);
	monitor = open_dp(true);
}

/* A well-formed frame from the description in d; returns its length. */
static size_t build(const uint8_t *d, size_t n, uint8_t *frame, size_t cap, size_t *used)
{
	uint8_t b[12] = { 0 };
	struct pkt_spec s, inner;
	bool v6;
	size_t len;

	memcpy(b, d, n < sizeof(b) ? n : sizeof(b));
	*used = n < sizeof(b) ? n : sizeof(b);
	memset(&s, 0, sizeof(s));
	v6 = b[0] & 1;
	pkt_addr(s.src, (v6 ? addrs6 : addrs4)[(b[0] >> 1) & 3]);
	pkt_addr(s.dst, (v6 ? addrs6 : addrs4)[(b[0] >> 3) & 3]);
	s.proto = protos[b[1] & 7];
	if (b[1] & 0x80)
		s.proto = b[2]; /* any protocol number */
	s.sport = (uint16_t)(b[3] << 8 | b[4]);
	s.dport = (uint16_t)(b[5] << 8 | b[6]);
	if (!(b[1] & 0x40)) /* mostly the ports the policy names */
		s.dport = (const uint16_t[]){ 80, 53, 23, 8080, 22, 443, 0, 65535 }[b[6] & 7];
	s.tcp_flags = b[7];
	s.tcp_flags_set = b[7] != 0;
	s.icmp_type = b[8];
	s.icmp_code = b[9] & 3;
	s.icmp_id = s.sport;
	s.frag_first = b[10] & 1;
	s.frag_later = (b[10] & 2) && !s.frag_first;
	if (v6)
		s.ext_hdrs = (b[10] >> 2) & 7; /* 7: more than the parser walks */
	else
		s.ip_opts = ((b[10] >> 2) & 7) * 4;
	s.payload = b[11] & 0x3f;
	if (b[10] & 0x20) { /* an ICMP error quoting a packet */
		inner = s;
		memcpy(inner.src, s.dst, 16);
		memcpy(inner.dst, s.src, 16);
		inner.proto = b[2] & 1 ? MS_PROTO_UDP : MS_PROTO_TCP;
		inner.frag_first = inner.frag_later = false;
		inner.ext_hdrs = inner.ip_opts = 0;
		inner.payload = 0;
		s.inner = &inner;
		s.proto = v6 ? MS_PROTO_ICMPV6 : MS_PROTO_ICMP;
		s.icmp_type = v6 ? 1 : 3;
		s.frag_first = s.frag_later = false;
	}
	len = pkt_build(&s, frame, cap - 48);
	/* VLAN tags after the MAC addresses: none, 1, 8 (the parser's depth)
	 * or 10 (past it). */
	static const int tags[4] = { 0, 1, 8, 10 };

	for (int i = 0; i < tags[(b[11] >> 6) & 3]; i++) {
		memmove(frame + 16, frame + 12, len - 12);
		frame[12] = i ? 0x81 : 0x88;
		frame[13] = i ? 0x00 : 0xa8;
		frame[14] = 0;
		frame[15] = (uint8_t)(10 + i);
		len += 4;
	}
	if (b[9] & 0x80) /* truncated */
		len = len > (size_t)(b[9] & 0x7f) ? len - (b[9] & 0x7f) : len;
	return len;
}

static uint64_t counters_sum(struct ms_dp *dp, uint64_t *c)
{
	static const int which[4] = { MS_CNT_ALLOWED, MS_CNT_DENIED, MS_CNT_AUDIT,
				      MS_CNT_PASSTHROUGH };
	uint64_t sum = 0;

	for (int i = 0; i < 4; i++) {
		c[i] = dpt_counter(dp, which[i]);
		sum += c[i];
	}
	return sum;
}

enum frame_class { FR_IP, FR_LINK, FR_UNCLASS, FR_TRUNCATED };

/* What the frame is, by its ethertype after at most 8 VLAN tags
 * (bpf/parse.h, written out again here as the oracle). */
static enum frame_class frame_class(const uint8_t *f, size_t len)
{
	size_t off = 12;
	uint16_t et;

	for (int i = 0;; i++) {
		et = (uint16_t)(f[off] << 8 | f[off + 1]); /* in the frame: MIN_FRAME, and below */
		if ((et == 0x8100 || et == 0x88a8) && i < 8) {
			if (off + 6 > len)
				return FR_TRUNCATED;
			off += 4;
			continue;
		}
		break;
	}
	if (et == 0x0800 || et == 0x86dd)
		return FR_IP;
	if (et < 0x0600 || et == 0x0806 || et == 0x8035 || et == 0x8809 || et == 0x888e ||
	    et == 0x88cc || et == 0x88f7 || et == 0x8902)
		return FR_LINK;
	return FR_UNCLASS;
}

static void run(struct ms_dp *dp, const char *mode, int dir, const uint8_t *f, size_t len)
{
	uint64_t before[4], after[4];
	uint64_t s0 = counters_sum(dp, before), s1;
	uint64_t u0 = dpt_counter(dp, MS_CNT_UNCLASSIFIABLE);
	enum frame_class fc = frame_class(f, len);
	int r = dpt_run_raw(dp, dir, f, len);

	if (r < 0) {
		fprintf(stderr, "%s: BPF_PROG_TEST_RUN of %zu bytes failed: %s\n", mode, len,
			strerror(-r));
		abort();
	}
	if (r != TC_ACT_OK && r != TC_ACT_SHOT) {
		fprintf(stderr, "%s: verdict %d is neither TC_ACT_OK nor TC_ACT_SHOT\n", mode, r);
		abort();
	}
	s1 = counters_sum(dp, after);
	if (s1 != s0 + 1) {
		fprintf(stderr, "%s: %llu verdict counters grew for one packet\n", mode,
			(unsigned long long)(s1 - s0));
		abort();
	}
	if ((after[1] != before[1]) != (r == TC_ACT_SHOT)) {
		fprintf(stderr, "%s: verdict %d but the denied counter %s\n", mode, r,
			after[1] != before[1] ? "grew" : "did not grow");
		abort();
	}
	if (!strcmp(mode, "monitor") && r != TC_ACT_OK) {
		fprintf(stderr, "monitor mode dropped a packet\n");
		abort();
	}
	if (fc == FR_LINK && (r != TC_ACT_OK || after[3] != before[3] + 1)) {
		fprintf(stderr, "%s: a link-control frame was not passed through\n", mode);
		abort();
	}
	if (fc == FR_UNCLASS && (r != (strcmp(mode, "monitor") ? TC_ACT_SHOT : TC_ACT_OK) ||
				 dpt_counter(dp, MS_CNT_UNCLASSIFIABLE) != u0 + 1)) {
		fprintf(stderr, "%s: an unclassifiable frame was %s, %s\n", mode,
			r == TC_ACT_OK ? "passed" : "dropped",
			dpt_counter(dp, MS_CNT_UNCLASSIFIABLE) != u0 + 1 ? "not counted"
									 : "counted");
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t frame[MAX_FRAME + 64];
	size_t len, used = 0;
	int dir;

	if (!enforce)
		setup();
	if (size < 1)
		return 0;
	dir = data[0] & 1 ? MS_DIR_EGRESS : MS_DIR_INGRESS;
	data++;
	size--;
	memset(frame, 0, sizeof(frame));
	if (data[-1] & 2) {
		len = size < MAX_FRAME ? size : MAX_FRAME;
		memcpy(frame, data, len);
	} else {
		len = build(data, size, frame, sizeof(frame), &used);
		/* The rest overwrites bytes of the built frame. */
		for (size_t i = used; i + 2 < size && len; i += 3) {
			size_t off = ((size_t)data[i] << 8 | data[i + 1]) % len;

			frame[off] = data[i + 2];
		}
	}
	/* The test run refuses frames shorter than an Ethernet header, and
	 * untagged IPv4/IPv6 ones shorter than their IP header: pad those (a
	 * tagged frame still reaches the parser truncated anywhere). */
	if (len < MIN_FRAME)
		len = MIN_FRAME;
	if (frame[12] == 0x08 && frame[13] == 0x00 && len < 14 + 20)
		len = 14 + 20;
	if (frame[12] == 0x86 && frame[13] == 0xdd && len < 14 + 40)
		len = 14 + 40;
	run(enforce, "enforce", dir, frame, len);
	run(monitor, "monitor", dir, frame, len);
	return 0;
}
