// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* microsegctl replay: what a candidate policy would do to recorded flows. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "policy_compile.h"
#include "policy_parse.h"
#include "replay.h"

#define REPLAY_TOP 20
#define MAX_BAD_REPORTS 10

static int replay_file(struct ms_replay *r, const char *path, size_t *bad)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
	char *line = NULL;
	size_t cap = 0, lineno = 0;
	ssize_t n;
	int ret = CTL_OK;

	if (!f) {
		fprintf(stderr, "microsegctl: cannot open %s: %s\n", path, strerror(errno));
		return CTL_FAILED;
	}
	while ((n = getline(&line, &cap, f)) >= 0) {
		char *err = NULL;
		cJSON *j;
		int rc;

		lineno++;
		if (n <= 1)
			continue;
		j = cJSON_ParseWithLength(line, (size_t)n);
		rc = j ? ms_replay_add(r, j, &err) : -EINVAL;
		cJSON_Delete(j);
		if (rc == -ENOMEM) {
			fprintf(stderr, "microsegctl: out of memory\n");
			ret = CTL_FAILED;
			free(err);
			break;
		}
		if (rc < 0 && ++*bad <= MAX_BAD_REPORTS)
			fprintf(stderr, "%s:%zu: skipped: %s\n",
				strcmp(path, "-") ? path : "(stdin)", lineno,
				err ? err : "not a JSON object");
		free(err);
	}
	free(line);
	if (f != stdin)
		fclose(f);
	return ret;
}

int cmd_replay(const struct ctl_opts *o)
{
	struct ms_diag d = { 0 };
	struct ms_policy *p = NULL;
	struct ms_compiled *c = NULL;
	struct ms_replay *r = NULL;
	struct ms_limits lim;
	char *errmsg = NULL;
	size_t bad = 0;
	int ret = CTL_FAILED;

	if (ms_policy_parse_file(o->policy, &p, &d)) {
		ms_diag_print(&d, stderr);
		fprintf(stderr, "microsegctl: the candidate %s is not valid\n", o->policy);
		goto out;
	}
	ms_diag_print(&d, stderr); /* warnings */
	ms_limits_default(&lim);
	if (ms_compile(p, &lim, &c, &errmsg)) {
		fprintf(stderr, "%s: error: %s\n", o->policy, errmsg ? errmsg : "cannot compile");
		goto out;
	}
	if (ms_replay_new(p, c, &r)) {
		fprintf(stderr, "microsegctl: out of memory\n");
		goto out;
	}
	ret = CTL_OK;
	for (size_t i = 0; i < o->n_from && !ret; i++)
		ret = replay_file(r, o->from[i], &bad);
	if (ret)
		goto out;
	if (bad > MAX_BAD_REPORTS)
		fprintf(stderr, "microsegctl: %zu more lines skipped\n", bad - MAX_BAD_REPORTS);
	if (o->json) {
		cJSON *j = ms_replay_json(r, o->top ? o->top : REPLAY_TOP);
		char *s = j ? cJSON_PrintUnformatted(j) : NULL;

		if (s)
			printf("%s\n", s);
		else
			ret = CTL_FAILED;
		free(s);
		cJSON_Delete(j);
	} else {
		ms_replay_print(r, stdout, o->top ? o->top : REPLAY_TOP);
	}
	if (!ret && o->fail_on_new_deny && ms_replay_new_denies(r)) {
		fprintf(stderr,
			"microsegctl: %llu flows that passed would be denied by %s "
			"(--fail-on-new-deny)\n",
			(unsigned long long)ms_replay_new_denies(r), o->policy);
		ret = CTL_REPLAY_GATE;
	}
out:
	ms_replay_free(&r);
	free(errmsg);
	ms_compiled_free(&c);
	ms_policy_free(&p);
	ms_diag_free(&d);
	return ret;
}
