// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "names.h"
#include "policy_check.h"
#include "policy_compile.h"
#include "policy_lint.h"
#include "policy_parse.h"

static void print_bytes(FILE *out, uint64_t b)
{
	if (b >= 10u << 20)
		fprintf(out, "%llu bytes (%.1f MiB)", (unsigned long long)b, b / 1048576.0);
	else if (b >= 10u << 10)
		fprintf(out, "%llu bytes (%.1f KiB)", (unsigned long long)b, b / 1024.0);
	else
		fprintf(out, "%llu bytes", (unsigned long long)b);
}

static void print_summary(FILE *out, const char *path, const struct ms_policy *p,
			  const struct ms_compiled *c, const char *mode_override, size_t n_warnings)
{
	size_t n_act[3] = { 0 }, n_addrs = 0;

	for (size_t i = 0; i < p->n_rules; i++)
		if (p->rules[i].action < 3)
			n_act[p->rules[i].action]++;
	for (size_t i = 0; i < p->n_workloads; i++)
		n_addrs += p->workloads[i].n_addrs;
	fprintf(out, "%s: policy OK\n", path);
	fprintf(out, "  version:   %d\n", p->version);
	fprintf(out, "  mode:      %s%s\n", p->monitor ? "monitor" : "enforce",
		mode_override ? " (from --mode)" : "");
	fprintf(out, "  default:   %s\n", ms_action_name(p->default_action));
	fprintf(out, "  workloads: %zu (%zu addresses)\n", p->n_workloads, n_addrs);
	fprintf(out, "  rules:     %zu (%zu allow, %zu deny, %zu log)\n", p->n_rules,
		n_act[MS_ACT_ALLOW], n_act[MS_ACT_DENY], n_act[MS_ACT_LOG]);
	if (p->n_rules > MS_LINT_MAX_RULES)
		fprintf(out, "  warnings:  shadowed-rule check skipped (more than %d rules)\n",
			MS_LINT_MAX_RULES);
	else
		fprintf(out, "  warnings:  %zu\n", n_warnings);
	fprintf(out,
		"  compiled:  %zu src + %zu dst address entries (%u + %u classes), "
		"a port table of %zu entries (%u classes), %zu decision entries\n",
		c->n_src, c->n_dst, c->n_src_classes, c->n_dst_classes, c->n_port,
		c->n_port_classes, c->n_dec);
	fprintf(out, "  memory:    ");
	print_bytes(out, ms_compiled_bytes(c));
	fprintf(out, " of map entries\n");
}

int ms_policy_check(const char *path, const char *mode_override, FILE *out)
{
	struct ms_diag d = { 0 };
	struct ms_policy *p = NULL;
	struct ms_compiled *c = NULL;
	struct ms_limits lim;
	char *errmsg = NULL;
	int r, status = 0;

	if (mode_override && strcmp(mode_override, "enforce") && strcmp(mode_override, "monitor")) {
		fprintf(stderr, "invalid mode '%s' (expected enforce or monitor)\n", mode_override);
		return 2;
	}
	r = ms_policy_parse_file(path, &p, &d);
	ms_diag_print(&d, stderr);
	if (r == -ENOMEM) {
		fprintf(stderr, "%s: out of memory\n", path);
		status = 3;
		goto out;
	}
	if (r) {
		status = 1;
		goto out;
	}
	if (mode_override)
		p->monitor = !strcmp(mode_override, "monitor");
	ms_limits_default(&lim);
	r = ms_compile(p, &lim, &c, &errmsg);
	if (r) {
		fprintf(stderr, "%s: error: %s\n", path, errmsg ? errmsg : strerror(-r));
		status = r == -ENOMEM ? 3 : 1;
		goto out;
	}
	print_summary(out, path, p, c, mode_override, d.n_warnings);
out:
	free(errmsg);
	ms_compiled_free(&c);
	ms_policy_free(&p);
	ms_diag_free(&d);
	return status;
}
