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

static int add_line(void *cls, const cJSON *j, char **err)
{
	return ms_replay_add(cls, j, err);
}

int cmd_replay(const struct ctl_opts *o)
{
	struct ms_diag d = { 0 };
	struct ms_policy *p = NULL;
	struct ms_compiled *c = NULL;
	struct ms_replay *r = NULL;
	struct ms_limits lim;
	char *errmsg = NULL;
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
	ms_compiled_index(c);
	if (ms_replay_new(p, c, &r)) {
		fprintf(stderr, "microsegctl: out of memory\n");
		goto out;
	}
	ret = ctl_read_flowlogs(o, add_line, r);
	if (ret)
		goto out;
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
