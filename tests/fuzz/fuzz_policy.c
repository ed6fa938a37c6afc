// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * libFuzzer target for the policy front end and compiler: any bytes must
 * either be rejected with diagnostics or parse into a policy that compiles
 * (or fails cleanly on its limits) and evaluates the same through the
 * compiled tables as through the reference evaluator, without leaks.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy_compile.h"
#include "policy_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Small tables keep each input fast; the E2BIG path is exercised too. */
static const struct ms_limits fuzz_limits = {
	.max_rules = 256,
	.max_addr_entries = 4096,
	.max_decision_entries = 16384,
};

/* A few flows built from addresses and ports the policy itself names, where
 * the two evaluators are most likely to part ways. */
static void differential(const struct ms_policy *p, const struct ms_compiled *c)
{
	for (size_t i = 0; i < p->n_rules && i < 8; i++) {
		const struct ms_rule *r = &p->rules[i];
		struct ms_flow f = { 0 };
		uint8_t a1, a2;

		if (!r->from.any && r->from.n_terms && r->from.terms[0].n_cidrs)
			memcpy(f.src, r->from.terms[0].cidrs[0].addr, 16);
		if (!r->to.any && r->to.n_terms && r->to.terms[0].n_cidrs)
			memcpy(f.dst, r->to.terms[0].cidrs[0].addr, 16);
		if (r->n_ports) {
			f.proto = r->ports[0].proto;
			f.port = r->ports[0].hi;
		}
		for (uint8_t dir = 0; dir < 2; dir++) {
			f.dir = dir;
			if (ms_policy_eval(p, &f, &a1) != ms_compiled_eval(c, &f, &a2) || a1 != a2)
				abort();
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ms_diag d = { 0 };
	struct ms_policy *p = NULL;
	struct ms_compiled *c = NULL;
	char *errmsg = NULL;
	int r;

	r = ms_policy_parse_mem("fuzz.yaml", data, size, &p, &d);
	/* Failure must leave the policy untouched and say why. */
	if (r && (p || !d.n_errors))
		abort();
	if (!r && d.n_errors)
		abort();
	if (!r) {
		r = ms_compile(p, &fuzz_limits, &c, &errmsg);
		if (!r)
			differential(p, c);
		else if (!errmsg && r != -ENOMEM)
			abort();
	}
	free(errmsg);
	ms_compiled_free(&c);
	ms_policy_free(&p);
	ms_diag_free(&d);
	return 0;
}
