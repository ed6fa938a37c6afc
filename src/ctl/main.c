// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * microsegctl: the client of microsegd's control API and the offline flow
 * tools. Options may come before or after the command.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "safefile.h"
#include "flowring.h"

static const struct {
	const char *name;
	int (*fn)(const struct ctl_opts *o);
	bool filters; /* takes the flow filters */
	int min_args, max_args;
} cmds[] = {
	{ "status", cmd_status, false, 0, 0 },	  { "flows", cmd_flows, true, 0, 0 },
	{ "sessions", cmd_sessions, true, 0, 0 }, { "workloads", cmd_workloads, false, 0, 0 },
	{ "graph", cmd_graph, false, 0, 0 },	  { "check", cmd_check, false, 1, 1 },
	{ "reload", cmd_reload, false, 0, 0 },	  { "metrics", cmd_metrics, false, 0, 0 },
	{ "suggest", cmd_suggest, false, 0, 0 },  { "replay", cmd_replay, false, 1, 1 << 20 },
	{ "version", cmd_version, false, 0, 0 },
};

enum {
	O_SOCKET = 256,
	O_JSON,
	O_FOLLOW,
	O_FORMAT,
	O_FROM,
	O_POLICY,
	O_FAIL_NEW_DENY,
	O_TOP,
	O_GROUP,
	O_INCLUDE_DENIED,
	O_FILTER, /* + enum ctl_filter */
};

static const struct option long_opts[] = {
	{ "socket", required_argument, NULL, O_SOCKET },
	{ "json", no_argument, NULL, O_JSON },
	{ "follow", no_argument, NULL, O_FOLLOW },
	{ "format", required_argument, NULL, O_FORMAT },
	{ "from", required_argument, NULL, O_FROM },
	{ "policy", required_argument, NULL, O_POLICY },
	{ "fail-on-new-deny", no_argument, NULL, O_FAIL_NEW_DENY },
	{ "top", required_argument, NULL, O_TOP },
	{ "group", required_argument, NULL, O_GROUP },
	{ "include-denied", no_argument, NULL, O_INCLUDE_DENIED },
	{ "event", required_argument, NULL, O_FILTER + F_EVENT },
	{ "verdict", required_argument, NULL, O_FILTER + F_VERDICT },
	{ "workload", required_argument, NULL, O_FILTER + F_WORKLOAD },
	{ "ip", required_argument, NULL, O_FILTER + F_IP },
	{ "port", required_argument, NULL, O_FILTER + F_PORT },
	{ "proto", required_argument, NULL, O_FILTER + F_PROTO },
	{ "since", required_argument, NULL, O_FILTER + F_SINCE },
	{ "limit", required_argument, NULL, O_FILTER + F_LIMIT },
	{ "version", no_argument, NULL, 'V' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int usage_error(const char *msg, const char *arg)
{
	fprintf(stderr, "microsegctl: %s%s%s%s (see microsegctl --help)\n", msg, arg ? " '" : "",
		arg ? arg : "", arg ? "'" : "");
	return CTL_USAGE;
}

static const char *filter_get(void *cls, const char *key)
{
	const struct ctl_opts *o = cls;

	for (int i = 0; i < F_MAX; i++)
		if (!strcmp(ctl_filter_keys[i], key))
			return o->filter[i];
	return NULL;
}

/* Filters checked here, by the agent's own parser, so that a typo is a
 * usage error (exit 2) before any agent is asked. */
static int check_filters(const struct ctl_opts *o)
{
	struct ms_flow_filter f;
	char *err = NULL;
	int r = ms_flow_filter_parse(&f, filter_get, (void *)o, &err);

	ms_flow_filter_clear(&f);
	if (r == -ENOMEM) {
		fprintf(stderr, "microsegctl: out of memory\n");
		r = CTL_FAILED;
	} else if (r) {
		r = usage_error(err ? err : "invalid filter", NULL);
	}
	free(err);
	return r;
}

int main(int argc, char **argv)
{
	struct ctl_opts o = { 0 };
	const char *env = getenv("MICROSEGD_SOCKET");
	char **pos;

	/* A closed stdout or stderr must not become a file opened later. */
	ms_keep_std_fds();
	pos = calloc((size_t)argc + 1, sizeof(*pos));
	int npos = 0, c, ret = CTL_USAGE, ci = -1;
	bool any_filter = false, help = false;

	o.from = calloc((size_t)argc + 1, sizeof(*o.from));
	if (!pos || !o.from) {
		fprintf(stderr, "microsegctl: out of memory\n");
		free(pos);
		free(o.from);
		return CTL_FAILED;
	}
	o.http.socket = env && *env ? env : CTL_DEFAULT_SOCKET;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":p:Vh", long_opts, NULL)) != -1) {
		switch (c) {
		case O_SOCKET:
			o.http.socket = optarg;
			break;
		case O_JSON:
			o.json = true;
			break;
		case O_FOLLOW:
			o.follow = true;
			break;
		case O_FORMAT:
			if (strcmp(optarg, "table") && strcmp(optarg, "json") &&
			    strcmp(optarg, "dot")) {
				ret = usage_error("invalid format (table, json or dot)", optarg);
				goto out;
			}
			o.format = optarg;
			break;
		case O_FROM:
			o.from[o.n_from++] = optarg;
			break;
		case 'p':
		case O_POLICY:
			o.policy = optarg;
			break;
		case O_FAIL_NEW_DENY:
			o.fail_on_new_deny = true;
			break;
		case O_GROUP:
			if (strcmp(optarg, "labels") && strcmp(optarg, "workload")) {
				ret = usage_error("invalid --group (labels or workload)", optarg);
				goto out;
			}
			o.group = optarg;
			break;
		case O_INCLUDE_DENIED:
			o.include_denied = true;
			break;
		case O_TOP: {
			char *end;
			unsigned long v = strtoul(optarg, &end, 10);

			if (*optarg < '0' || *optarg > '9' || *end || !v || v > 100000) {
				ret = usage_error("invalid --top (1 to 100000)", optarg);
				goto out;
			}
			o.top = v;
			break;
		}
		case 'V':
			printf("microsegctl %s\n", MS_VERSION);
			ret = CTL_OK;
			goto out;
		case 'h':
			help = true;
			break;
		case ':':
			ret = usage_error("option needs an argument:", argv[optind - 1]);
			goto out;
		case '?':
			ret = usage_error("unknown option", argv[optind - 1]);
			goto out;
		default:
			o.filter[c - O_FILTER] = optarg;
			any_filter = true;
			break;
		}
	}
	for (int i = optind; i < argc; i++)
		pos[npos++] = argv[i];
	if (help && !npos) {
		ctl_usage(stdout);
		ret = CTL_OK;
		goto out;
	}
	if (!npos) {
		ret = usage_error("no command given", NULL);
		goto out;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(pos[0], cmds[i].name))
			ci = (int)i;
	if (ci < 0) {
		ret = usage_error("unknown command", pos[0]);
		goto out;
	}
	if (help) {
		ctl_command_help(pos[0], stdout);
		ret = CTL_OK;
		goto out;
	}
	o.args = pos + 1;
	/* --from takes one file; the files after it are its operands too. */
	o.n_args = npos - 1;
	if (((!strcmp(pos[0], "graph") || !strcmp(pos[0], "suggest")) && o.n_from) ||
	    !strcmp(pos[0], "replay")) {
		for (int i = 0; i < o.n_args; i++)
			o.from[o.n_from++] = o.args[i];
		/* replay needs a log: it counts as its one operand. */
		o.n_args = !strcmp(pos[0], "replay") && o.n_from ? 1 : 0;
	}
	if (o.n_args < cmds[ci].min_args || o.n_args > cmds[ci].max_args) {
		ret = usage_error(o.n_args < cmds[ci].min_args ? "missing argument for"
							       : "unexpected argument for",
				  pos[0]);
		goto out;
	}
	if (any_filter && !cmds[ci].filters) {
		ret = usage_error("filters apply to flows and sessions only, not", pos[0]);
		goto out;
	}
	if (o.follow && strcmp(pos[0], "flows")) {
		ret = usage_error("--follow applies to flows only, not", pos[0]);
		goto out;
	}
	if ((o.group || o.include_denied) && strcmp(pos[0], "suggest")) {
		ret = usage_error("--group and --include-denied apply to suggest only, not",
				  pos[0]);
		goto out;
	}
	if (!strcmp(pos[0], "suggest")) {
		if (o.format) {
			ret = usage_error("--format does not apply to", "suggest");
			goto out;
		}
		if (o.policy && !o.n_from) {
			ret = usage_error("--policy goes with --from", NULL);
			goto out;
		}
	} else if (!strcmp(pos[0], "replay")) {
		if (!o.policy) {
			ret = usage_error("replay needs the candidate policy: -p FILE", NULL);
			goto out;
		}
		if (o.format) {
			ret = usage_error("--format does not apply to", "replay");
			goto out;
		}
	} else if ((o.format || o.n_from || o.policy) && strcmp(pos[0], "graph")) {
		ret = usage_error("--format, --from and --policy apply to graph only, not", pos[0]);
		goto out;
	} else if (o.policy && !o.n_from) {
		ret = usage_error("--policy goes with --from", NULL);
		goto out;
	}
	if ((o.fail_on_new_deny || o.top) && strcmp(pos[0], "replay")) {
		ret = usage_error("--fail-on-new-deny and --top apply to replay only, not", pos[0]);
		goto out;
	}
	if (!strcmp(pos[0], "sessions") && (o.filter[F_EVENT] || o.filter[F_SINCE])) {
		ret = usage_error("--event and --since do not apply to", "sessions");
		goto out;
	}
	/* Their answers are text (metrics) or YAML (suggest), never JSON. */
	if (o.json && (!strcmp(pos[0], "metrics") || !strcmp(pos[0], "suggest"))) {
		ret = usage_error("--json does not apply to", pos[0]);
		goto out;
	}
	if (any_filter) {
		ret = check_filters(&o);
		if (ret)
			goto out;
	}
	ctl_http_init();
	ret = cmds[ci].fn(&o);
	ctl_http_cleanup();
out:
	free(pos);
	free(o.from);
	return ret;
}
