// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Differential test: random policies (overlapping IPv4/IPv6 CIDRs with
 * excepts, port and ICMP type ranges, priorities, directions, every action)
 * and random flows aimed at their edges. The loaded classifier's verdict and
 * matched rule must equal the reference evaluator's for every case.
 *
 * The same for packet sequences on one 5-tuple, both ways round, with
 * reloads between packets, against the reference model of tests/lib/refct.c.
 *
 * MS_DIFF_SEED=N reproduces a run; MS_DIFF_CASES=N changes its size.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dptest.h"
#include "log.h"
#include "polbuild.h"
#include "refct.h"
#include "testlib.h"

#define FLOWS_PER_POLICY 400

static uint64_t seed = 0x5eed2026;
static unsigned long n_cases = 200000;

static void flow_spec(uint64_t *rng, const struct ms_flow *f, struct pkt_spec *s)
{
	memset(s, 0, sizeof(*s));
	memcpy(s->src, f->src, 16);
	memcpy(s->dst, f->dst, 16);
	s->ipv6 = f->family == MS_FAMILY_IPV6;
	s->proto = f->proto;
	if (f->proto == MS_PROTO_TCP || f->proto == MS_PROTO_UDP || f->proto == MS_PROTO_SCTP) {
		s->sport = (uint16_t)(1024 + pb_rand(rng) % 60000);
		s->dport = f->port;
	} else if (f->proto == MS_PROTO_ICMP || f->proto == MS_PROTO_ICMPV6) {
		s->icmp_type = (uint8_t)f->port;
		s->icmp_id = (uint16_t)pb_rand(rng);
	}
}

static bool is_error(const struct ms_flow *f)
{
	if (f->proto == MS_PROTO_ICMP && f->family == MS_FAMILY_IPV4)
		return f->port == 3 || f->port == 4 || f->port == 5 || f->port == 11 ||
		       f->port == 12;
	return f->proto == MS_PROTO_ICMPV6 && f->family == MS_FAMILY_IPV6 && f->port >= 1 &&
	       f->port <= 4;
}

static void print_case(const struct ms_policy *p, const struct ms_flow *f)
{
	char a[MS_CIDR_STRLEN], b[MS_CIDR_STRLEN];
	struct ms_cidr cs = { .plen = 128 }, cd = { .plen = 128 };

	memcpy(cs.addr, f->src, 16);
	memcpy(cd.addr, f->dst, 16);
	cs.v6mapped = cd.v6mapped = f->family == MS_FAMILY_IPV6;
	printf("  flow dir=%u family=%u proto=%u port=%u src=%s dst=%s\n", f->dir, f->family,
	       f->proto, f->port, ms_cidr_format(&cs, a), ms_cidr_format(&cd, b));
	for (size_t i = 0; i < p->n_rules; i++) {
		const struct ms_rule *r = &p->rules[i];

		printf("  rule %zu %s prio=%d action=%u dir=%u any_port=%d n_ports=%zu "
		       "from.any=%d(%zu) to.any=%d(%zu)\n",
		       i + 1, r->name, r->priority, r->action, r->dirmask, r->any_port, r->n_ports,
		       r->from.any, r->from.n_terms, r->to.any, r->to.n_terms);
	}
}

static void t_differential(void)
{
	struct ms_dp *dp = dpt_open();
	uint64_t rng = seed;
	unsigned long done = 0, mismatches = 0, drops = 0, by_rule = 0;

	printf("  seed %" PRIu64 ", %lu cases\n", seed, n_cases);
	while (done < n_cases && mismatches < 5) {
		struct ms_policy *p = pb_random_policy(&rng, 24);

		if (dpt_install(dp, p)) {
			t_fail(__FILE__, __LINE__, "install",
			       "seed %" PRIu64 ": policy failed to install", seed);
			ms_policy_free(&p);
			break;
		}
		for (int i = 0; i < FLOWS_PER_POLICY && done < n_cases; i++, done++) {
			struct ms_flow f;
			struct pkt_spec s;
			struct ms_session se;
			uint8_t action;
			uint32_t want_rule;
			int want, got;

			pb_random_flow(&rng, p, &f);
			flow_spec(&rng, &f, &s);
			want_rule = ms_policy_eval(p, &f, &action);
			want = action == MS_ACT_DENY ? DPT_DROP : DPT_OK;
			got = dpt_run(dp, f.dir, &s);
			if (dpt_session(dp, &s, &se)) {
				se.rule_id = UINT32_MAX;
			} else if (got == DPT_OK && is_error(&f)) {
				se.rule_id = UINT32_MAX - 1; /* a passing session: never */
			}
			/* An allowed ICMP error is decided alone, with no session
			 * to read its rule from. */
			if (got == DPT_OK && is_error(&f) && se.rule_id == UINT32_MAX)
				se.rule_id = want_rule;
			dpt_session_delete(dp, &s);
			drops += got == DPT_DROP;
			by_rule += want_rule != MS_RULE_DEFAULT;
			if (got != want || se.rule_id != want_rule) {
				mismatches++;
				t_fail(__FILE__, __LINE__, "classifier == reference",
				       "seed %" PRIu64
				       " case %lu: verdict %d want %d, rule %u want %u",
				       seed, done, got, want, se.rule_id, want_rule);
				print_case(p, &f);
			}
		}
		ms_policy_free(&p);
		dpt_events(dp, NULL, 0); /* keep the ring buffer from filling */
	}
	printf("  %lu cases, %lu dropped, %lu decided by a rule, %lu mismatches (seed %" PRIu64
	       ")\n",
	       done, drops, by_rule, mismatches, seed);
	/* A generator that never exercises both outcomes would prove nothing. */
	CHECK(drops > done / 10 && drops < done - done / 10,
	      "verdicts are mixed: %lu of %lu dropped", drops, done);
	CHECK(by_rule > done / 4, "rules decide a good share: %lu of %lu", by_rule, done);
	ms_dp_close(&dp);
}

#define SEQ_PER_POLICY 100

static void swap_ends(struct pkt_spec *s)
{
	uint8_t a[16];
	uint16_t port = s->sport;

	memcpy(a, s->src, 16);
	memcpy(s->src, s->dst, 16);
	memcpy(s->dst, a, 16);
	s->sport = s->dport;
	s->dport = port;
}

static void t_sequences(void)
{
	struct ms_dp *dp = dpt_open();
	uint64_t rng = seed ^ 0x5e9;
	unsigned long seqs = 0, pkts = 0, reloads = 0, mismatches = 0, reverse_new = 0;
	unsigned long n_seq = n_cases / 20;
	struct ms_policy *p = pb_random_policy(&rng, 16);
	struct ref_ct ct;

	REQUIRE(!dpt_install(dp, p), "install");
	ref_ct_init(&ct, p);
	while (seqs < n_seq && mismatches < 5) {
		struct ms_flow f;
		struct pkt_spec fwd, s;
		unsigned int len = 2 + (unsigned int)(pb_rand(&rng) % 4);
		char trace[160] = "";

		pb_random_flow(&rng, p, &f);
		if (f.proto != MS_PROTO_TCP && f.proto != MS_PROTO_UDP)
			continue;
		memset(&fwd, 0, sizeof(fwd));
		memcpy(fwd.src, f.src, 16);
		memcpy(fwd.dst, f.dst, 16);
		fwd.ipv6 = f.family == MS_FAMILY_IPV6;
		fwd.proto = f.proto;
		fwd.sport = (uint16_t)(1024 + pb_rand(&rng) % 60000);
		fwd.dport = f.port;
		for (unsigned int i = 0; i < len; i++) {
			bool rev = i && (pb_rand(&rng) & 1);
			uint8_t dir = (uint8_t)(rev ? !f.dir : f.dir);
			bool want, got;
			size_t tl = strlen(trace);

			if (i && pb_rand(&rng) % 40 == 0) {
				/* A reload between two packets of the sequence. */
				struct ms_policy *np = pb_random_policy(&rng, 16);

				REQUIRE(!dpt_install(dp, np), "reload");
				ref_ct_policy(&ct, np);
				ms_policy_free(&p);
				p = np;
				reloads++;
				snprintf(trace + tl, sizeof(trace) - tl, " reload");
				tl = strlen(trace);
			}
			s = fwd;
			if (rev)
				swap_ends(&s);
			want = ref_ct_packet(&ct, dir, &s);
			got = dpt_run(dp, dir, &s) == DPT_OK;
			pkts++;
			reverse_new += rev && want;
			snprintf(trace + tl, sizeof(trace) - tl, " %s@%s=%s", rev ? "rev" : "fwd",
				 dir == MS_DIR_EGRESS ? "eg" : "in", got ? "pass" : "drop");
			if (want != got) {
				mismatches++;
				t_fail(__FILE__, __LINE__, "classifier == reference model",
				       "seed %" PRIu64 " sequence %lu packet %u: %s, want %s;%s",
				       seed, seqs, i, got ? "pass" : "drop", want ? "pass" : "drop",
				       trace);
				print_case(p, &f);
				break;
			}
		}
		dpt_session_delete(dp, &fwd);
		ref_ct_forget(&ct, &fwd);
		seqs++;
		if (seqs % 64 == 0)
			dpt_events(dp, NULL, 0);
	}
	printf("  %lu sequences, %lu packets, %lu reloads, %lu reverse packets passed, "
	       "%lu mismatches (seed %" PRIu64 ")\n",
	       seqs, pkts, reloads, reverse_new, mismatches, seed);
	CHECK(reloads > 10 && reverse_new > seqs / 20, "sequences exercise reloads and reverses");
	ref_ct_free(&ct);
	ms_policy_free(&p);
	ms_dp_close(&dp);
}

int main(void)
{
	const char *s = getenv("MS_DIFF_SEED"), *n = getenv("MS_DIFF_CASES");

	ms_log_set_level(MS_LOG_WARN);
	if (s)
		seed = strtoull(s, NULL, 0);
	if (n)
		n_cases = strtoul(n, NULL, 0);
	RUN(t_differential);
	RUN(t_sequences);
	return t_done();
}
