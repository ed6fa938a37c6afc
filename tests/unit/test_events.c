// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Flow-log formatting without BPF or root: events in, JSON lines out, with
 * rule names resolved by generation, workloads by longest prefix, and the
 * stats line's contract keys.
 */
#include <arpa/inet.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "events.h"
#include "flowline.h"
#include "policy_parse.h"
#include "stats.h"
#include "testlib.h"

static const char pol_a[] = "version: 1\n"
			    "default: deny\n"
			    "workloads:\n"
			    "  net: {addresses: [198.18.0.0/16, \"2001:db8::/32\"]}\n"
			    "  web: {addresses: [198.18.1.0/24]}\n"
			    "  one: {addresses: [198.18.1.7, \"2001:db8::7\"]}\n"
			    "  dup: {addresses: [198.18.1.7]}\n"
			    "rules:\n"
			    "  - {name: first, action: allow, ports: [tcp/80]}\n"
			    "  - {name: second, action: deny, ports: [udp/53]}\n";

static const char pol_b[] = "version: 1\n"
			    "default: allow\n"
			    "rules:\n"
			    "  - {name: only-b, action: deny, ports: [tcp/80]}\n";

static struct ms_policy *parse(const char *name, const char *text)
{
	struct ms_diag d = { 0 };
	struct ms_policy *p = NULL;

	if (ms_policy_parse_mem(name, text, strlen(text), &p, &d))
		ms_diag_print(&d, stdout);
	ms_diag_free(&d);
	return p;
}

static void v4(uint8_t *a, const char *s)
{
	memset(a, 0, 16);
	a[10] = a[11] = 0xff;
	inet_pton(AF_INET, s, a + 12);
}

static struct ms_events *new_events(void)
{
	struct ms_events *ev = NULL;
	struct ms_policy *a = parse("a.yaml", pol_a), *b = parse("b.yaml", pol_b);

	if (!a || !b || ms_events_new("/dev/null", NULL, &ev)) {
		ms_policy_free(&a);
		ms_policy_free(&b);
		return NULL;
	}
	ms_events_set_policy(ev, &a, 1);
	ms_events_set_policy(ev, &b, 2);
	return ev;
}

static cJSON *format(struct ms_events *ev, const struct ms_event *e)
{
	char *s = ms_event_json(ev, e);
	cJSON *o = s ? cJSON_Parse(s) : NULL;

	free(s);
	return o;
}

static const char *str(cJSON *o, const char *k)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* A number's value, or -1 when the key is missing or not a number. */
static double num(cJSON *o, const char *k)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static void test_tcp_deny_old_generation(void)
{
	struct ms_events *ev = new_events();
	struct ms_event e = { 0 };
	cJSON *o;

	REQUIRE(ev, "setup");
	e.type = MS_EV_FLOW_DENY;
	e.verdict = MS_VERDICT_DENY;
	e.generation = 1; /* the policy before the current one */
	e.rule_id = 2;
	e.ifindex = 7;
	e.family = MS_FAMILY_IPV4;
	e.proto = MS_PROTO_TCP;
	v4(e.src, "198.18.1.7");
	v4(e.dst, "198.18.200.1");
	e.sport = htons(40000);
	e.dport = htons(80);
	o = format(ev, &e);
	REQUIRE(o, "valid JSON");
	CHECK(!strcmp(str(o, "event"), "flow_deny"), "event");
	CHECK(!strcmp(str(o, "verdict"), "deny"), "verdict");
	CHECK(!strcmp(str(o, "rule"), "second"), "rule of generation 1: %s", str(o, "rule"));
	CHECK(!strcmp(str(o, "direction"), "ingress"), "direction");
	CHECK(!strcmp(str(o, "interface"), "if7"), "interface");
	CHECK(!strcmp(str(o, "family"), "ipv4"), "family");
	CHECK(!strcmp(str(o, "proto"), "tcp"), "proto");
	CHECK(!strcmp(str(o, "src"), "198.18.1.7"), "src %s", str(o, "src"));
	CHECK(!strcmp(str(o, "dst"), "198.18.200.1"), "dst");
	CHECK(num(o, "sport") == 40000, "sport");
	CHECK(num(o, "dport") == 80, "dport");
	/* /32 beats /24 beats /16; of two equal prefixes the first workload */
	CHECK(str(o, "src_workload") && !strcmp(str(o, "src_workload"), "one"), "src_workload");
	CHECK(str(o, "dst_workload") && !strcmp(str(o, "dst_workload"), "net"), "dst_workload");
	CHECK(!cJSON_GetObjectItem(o, "packets"), "no packets on deny");
	CHECK(!cJSON_GetObjectItem(o, "icmp_type"), "no icmp fields on tcp");
	cJSON_Delete(o);
	ms_events_free(&ev);
}

static void test_names_and_time(void)
{
	struct ms_events *ev = new_events();
	struct ms_event e = { 0 };
	const char *t;
	cJSON *o;

	REQUIRE(ev, "setup");
	e.type = MS_EV_FLOW_REVOKED;
	e.verdict = MS_VERDICT_DENY;
	e.generation = 2;
	e.rule_id = 1;
	e.family = MS_FAMILY_IPV4;
	e.proto = MS_PROTO_TCP;
	o = format(ev, &e);
	REQUIRE(o, "valid JSON");
	CHECK(!strcmp(str(o, "rule"), "only-b"), "rule of generation 2");
	t = str(o, "time");
	CHECK(t && strlen(t) == 24 && t[10] == 'T' && t[19] == '.' && t[23] == 'Z',
	      "RFC 3339 ms: %s", t);
	cJSON_Delete(o);

	e.rule_id = 0;
	o = format(ev, &e);
	CHECK(o && !strcmp(str(o, "rule"), "default"), "rule 0 is default");
	cJSON_Delete(o);

	e.generation = 99; /* no longer known */
	e.rule_id = 3;
	o = format(ev, &e);
	CHECK(o && !strcmp(str(o, "rule"), "#3"), "unknown generation: %s",
	      o ? str(o, "rule") : "");
	cJSON_Delete(o);

	e.type = 77;
	CHECK(!ms_event_json(ev, &e), "unknown event type rejected");
	ms_events_free(&ev);
}

static void test_icmpv6_end_counts(void)
{
	struct ms_events *ev = new_events();
	struct ms_event e = { 0 };
	cJSON *o;

	REQUIRE(ev, "setup");
	e.type = MS_EV_FLOW_END;
	e.verdict = MS_VERDICT_AUDIT;
	e.generation = 1;
	e.direction = MS_DIR_EGRESS;
	e.family = MS_FAMILY_IPV6;
	e.proto = MS_PROTO_ICMPV6;
	e.icmp_type = 128;
	inet_pton(AF_INET6, "2001:db8::7", e.src);
	inet_pton(AF_INET6, "2001:db9::1", e.dst);
	e.packets[0] = 3;
	e.packets[1] = 2;
	e.bytes[0] = 5000000000ULL; /* beyond 32 bits, exact */
	e.bytes[1] = 1;
	o = format(ev, &e);
	REQUIRE(o, "valid JSON");
	CHECK(!strcmp(str(o, "event"), "flow_end"), "event");
	CHECK(!strcmp(str(o, "verdict"), "audit"), "verdict");
	CHECK(!strcmp(str(o, "family"), "ipv6"), "family");
	CHECK(!strcmp(str(o, "proto"), "icmpv6"), "proto");
	CHECK(!strcmp(str(o, "src"), "2001:db8::7"), "src");
	CHECK(!strcmp(str(o, "direction"), "egress"), "direction");
	CHECK(!strcmp(str(o, "src_workload"), "one"), "v6 workload");
	CHECK(!cJSON_GetObjectItem(o, "dst_workload"), "no workload outside");
	CHECK(num(o, "icmp_type") == 128 && num(o, "icmp_code") == 0, "icmp");
	CHECK(!cJSON_GetObjectItem(o, "sport"), "no ports on icmp");
	CHECK(num(o, "packets") == 5, "packets");
	CHECK(num(o, "bytes") == 5000000001.0, "bytes");
	/* egress: the initiator's packets ([0]) went out */
	CHECK(num(o, "packets_out") == 3 && num(o, "packets_in") == 2, "in/out");
	cJSON_Delete(o);

	e.proto = 47; /* GRE: a number, no ports or ICMP fields */
	e.type = MS_EV_FLOW_AUDIT;
	o = format(ev, &e);
	REQUIRE(o, "valid JSON");
	CHECK(num(o, "proto") == 47, "proto number");
	CHECK(!cJSON_GetObjectItem(o, "icmp_type") && !cJSON_GetObjectItem(o, "dport"),
	      "no fields");
	CHECK(!cJSON_GetObjectItem(o, "packets"), "packets only on flow_end");
	cJSON_Delete(o);
	ms_events_free(&ev);
}

static void test_history_bounded(void)
{
	struct ms_events *ev = new_events();
	struct ms_event e = { 0 };
	cJSON *o;

	REQUIRE(ev, "setup");
	for (uint64_t g = 3; g < 3 + MS_POLICY_HISTORY; g++) {
		struct ms_policy *p = parse("b.yaml", pol_b);

		REQUIRE(p, "parse");
		ms_events_set_policy(ev, &p, g);
		CHECK(!p, "ownership taken");
	}
	e.type = MS_EV_FLOW_DENY;
	e.generation = 1; /* pushed out of the history */
	e.rule_id = 1;
	e.family = MS_FAMILY_IPV4;
	o = format(ev, &e);
	CHECK(o && !strcmp(str(o, "rule"), "#1"), "forgotten generation");
	cJSON_Delete(o);
	CHECK(ms_events_policy(ev) && ms_events_policy(ev)->n_rules == 1, "current policy");
	ms_events_free(&ev);
}

static void test_write_and_stats(void)
{
	struct ms_events *ev = new_events();
	uint64_t cnt[MS_CNT_MAX] = { 0 };
	struct ms_event e = { .type = MS_EV_FLOW_DENY, .family = MS_FAMILY_IPV4 };
	char *s;

	REQUIRE(ev, "setup");
	ms_events_write(ev, &e);
	CHECK(ms_events_lost(ev) == 0, "written to /dev/null");
	e.type = 0;
	ms_events_write(ev, &e);
	CHECK(ms_events_lost(ev) == 1, "unformattable event counted as lost");
	cnt[MS_CNT_ALLOWED] = 10;
	cnt[MS_CNT_DENIED] = 2;
	cnt[MS_CNT_AUDIT] = 3;
	cnt[MS_CNT_NEW_FLOWS] = 4;
	cnt[MS_CNT_EVENTS_LOST] = 5;
	s = ms_stats_format(cnt, 6, ms_events_lost(ev));
	REQUIRE(s, "format");
	{
		static const char want[] =
			"stats: allowed=10 denied=2 audit=3 new_flows=4 sessions=6 events_lost=6 ";

		CHECK(!strncmp(s, want, strlen(want)), "stats line: %s", s);
	}
	free(s);
	ms_events_free(&ev);
}

static uint64_t rng = 0xf10e11e;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* A string of every kind of byte JSON treats specially: quotes,
 * backslashes, each control character, DEL, UTF-8 and stray high bytes. */
static const char *rnd_str(char *buf, size_t cap)
{
	static const char pick[] = "\"\\/\b\f\n\r\t\x01\x1f\x7f\xc3\xa9\xff az09-_:.";
	size_t n = rnd() % cap;

	for (size_t i = 0; i < n; i++) {
		unsigned int r = (unsigned int)(rnd() % 3);

		buf[i] = r == 0	  ? pick[rnd() % (sizeof(pick) - 1)]
			 : r == 1 ? (char)(1 + rnd() % 255)
				  : (char)('a' + rnd() % 26);
	}
	buf[n] = '\0';
	return buf;
}

static uint64_t rnd_count(void)
{
	switch (rnd() % 4) {
	case 0:
		return 0;
	case 1:
		return rnd() % 1000;
	case 2:
		return UINT64_MAX - rnd() % 3;
	default:
		return rnd();
	}
}

/* The hand-written line is the cJSON one, byte for byte, over random events
 * (every type, verdict and protocol, numbers to 2^64-1, both families) and
 * random names in every optional field. */
static void test_line_is_cjson_line(void)
{
	static const uint8_t types[] = { MS_EV_FLOW_NEW,
					 MS_EV_FLOW_DENY,
					 MS_EV_FLOW_AUDIT,
					 MS_EV_FLOW_REVOKED,
					 MS_EV_FLOW_END,
					 0,
					 200 };
	static const uint8_t protos[] = { MS_PROTO_TCP,	 MS_PROTO_UDP,	  MS_PROTO_SCTP,
					  MS_PROTO_ICMP, MS_PROTO_ICMPV6, 47 };
	struct ms_events *ev = new_events();
	char names[6][300], time[96];
	char *buf = malloc(1 << 16);
	unsigned int differ = 0, lines = 0;

	REQUIRE(ev && buf, "setup");
	for (int i = 0; i < 100000; i++) {
		struct ms_event e = { 0 };
		struct ms_event_info in;
		cJSON *o;
		char *ref;
		size_t n, max;

		e.type = types[rnd() % sizeof(types)];
		e.verdict = (uint8_t)(rnd() % 5);
		e.direction = (uint8_t)(rnd() % 2);
		e.family = rnd() % 2 ? MS_FAMILY_IPV4 : MS_FAMILY_IPV6;
		e.proto = protos[rnd() % sizeof(protos)];
		for (int j = 0; j < 16; j++) {
			e.src[j] = (uint8_t)rnd();
			e.dst[j] = (uint8_t)rnd();
		}
		if (e.family == MS_FAMILY_IPV4) {
			v4(e.src, "0.0.0.0");
			v4(e.dst, "0.0.0.0");
			for (int j = 12; j < 16; j++) {
				e.src[j] = (uint8_t)(rnd() % 4 ? rnd() : rnd() % 10);
				e.dst[j] = (uint8_t)rnd();
			}
		}
		e.sport = (uint16_t)rnd();
		e.dport = (uint16_t)rnd();
		e.icmp_type = (uint8_t)rnd();
		e.icmp_code = (uint8_t)rnd();
		e.rule_id = (uint32_t)(rnd() % 4);
		e.generation = rnd() % 2 ? 1 + rnd() % 3 : rnd_count();
		e.time_ns = rnd() % (1ULL << 62);
		for (int j = 0; j < 2; j++) {
			e.packets[j] = rnd_count();
			e.bytes[j] = rnd_count();
		}
		ms_events_describe(ev, &e, &in);
		if (rnd() % 2) {
			in.rule = rnd_str(names[0], sizeof(names[0]));
			in.ifname = rnd_str(names[1], sizeof(names[1]));
			in.src_workload = rnd() % 3 ? rnd_str(names[2], sizeof(names[2])) : NULL;
			in.dst_workload = rnd() % 3 ? rnd_str(names[3], sizeof(names[3])) : NULL;
			in.unit = rnd() % 2 ? rnd_str(names[4], sizeof(names[4])) : NULL;
			in.process = rnd() % 2 ? rnd_str(names[5], sizeof(names[5])) : NULL;
			in.local_is_src = rnd() % 2;
		}
		in.repeat = rnd() % 2;
		o = ms_event_info_cjson(ev, &in);
		ref = o ? cJSON_PrintUnformatted(o) : NULL;
		cJSON_Delete(o);
		ms_events_time(ev, e.time_ns, time, sizeof(time));
		max = ms_flowline_max(&in, time);
		REQUIRE(max < (1 << 16), "bound %zu", max);
		memset(buf, 0xaa, max + 1);
		n = ms_flowline_print(buf, &in, time);
		CHECK((unsigned char)buf[max] == 0xaa, "wrote past its bound %zu", max);
		if (!ref) {
			CHECK(n == 0, "no cJSON line for type %u but a line: %.*s", e.type, (int)n,
			      buf);
			continue;
		}
		lines++;
		if (n != strlen(ref) || memcmp(buf, ref, n)) {
			if (differ++ < 3)
				CHECK(0, "lines differ:\n  cJSON: %s\n  ours:  %.*s", ref, (int)n,
				      buf);
		}
		free(ref);
	}
	CHECK(differ == 0, "%u of %u lines differ", differ, lines);
	CHECK(lines > 50000, "only %u lines compared", lines);
	free(buf);
	ms_events_free(&ev);
}

/* The shadow forgets a session the classifier ended by the key it makes of
 * the event: the very key the session had, whichever end began it. */
static void test_event_key_is_session_key(void)
{
	static const struct {
		const char *a, *b;
		uint16_t pa, pb;
		uint8_t proto;
	} t[] = {
		{ "198.18.0.1", "198.18.0.2", 40000, 80, MS_PROTO_TCP },
		{ "198.18.0.2", "198.18.0.1", 80, 40000, MS_PROTO_TCP },
		{ "198.18.0.9", "198.18.0.9", 5353, 5353, MS_PROTO_UDP },
		{ "198.18.0.9", "198.18.0.9", 6000, 5000, MS_PROTO_UDP },
		{ "2001:db8::1", "2001:db8::2", 7, 7, MS_PROTO_ICMPV6 },
		{ "198.18.3.3", "198.18.0.1", 0, 0, MS_PROTO_ICMP },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		uint8_t a[16], b[16];
		bool v6 = strchr(t[i].a, ':') != NULL;

		if (v6) {
			inet_pton(AF_INET6, t[i].a, a);
			inet_pton(AF_INET6, t[i].b, b);
		} else {
			v4(a, t[i].a);
			v4(b, t[i].b);
		}
		for (int hi = 0; hi < 2; hi++) {
			struct ms_session_key k = { .proto = t[i].proto }, k2;
			struct ms_session s = { .init_is_hi = (uint8_t)hi,
						.verdict = MS_VERDICT_ALLOW };
			struct ms_event e;
			bool lo = ms_tuple_is_lo(a, htons(t[i].pa), b, htons(t[i].pb));

			k.family = v6 ? MS_FAMILY_IPV6 : MS_FAMILY_IPV4;
			memcpy(k.addr_lo, lo ? a : b, 16);
			memcpy(k.addr_hi, lo ? b : a, 16);
			k.port_lo = htons(lo ? t[i].pa : t[i].pb);
			k.port_hi = htons(lo ? t[i].pb : t[i].pa);
			if (t[i].proto == MS_PROTO_ICMP || t[i].proto == MS_PROTO_ICMPV6) {
				/* an echo reply: the key holds its request's type */
				s.cls_port = v6 ? 129 : 0;
				k.icmp = v6 ? 128 : 8;
			}
			ms_events_session_event(&k, &s, 1, &e);
			ms_events_event_key(&e, &k2);
			CHECK(!memcmp(&k, &k2, sizeof(k)), "case %zu, initiator %s: key differs", i,
			      hi ? "hi" : "lo");
		}
	}
}

int main(void)
{
	RUN(test_tcp_deny_old_generation);
	RUN(test_names_and_time);
	RUN(test_icmpv6_end_counts);
	RUN(test_history_bounded);
	RUN(test_write_and_stats);
	RUN(test_line_is_cjson_line);
	RUN(test_event_key_is_session_key);
	return t_done();
}
