/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* microsegctl: the options every command sees, and the commands. */
#ifndef MICROSEGCTL_CTL_H
#define MICROSEGCTL_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "http.h"

#define CTL_DEFAULT_SOCKET "/run/microsegd/microsegd.sock"
/* Edges a graph built offline from flow logs may hold: a one-off tool can
 * afford more than the agent (about 300 bytes an edge). */
#define CTL_OFFLINE_MAX_EDGES 2000000

/* Filters of flows and sessions, as the API spells them; NULL = unset. */
enum ctl_filter {
	F_EVENT,
	F_VERDICT,
	F_WORKLOAD,
	F_IP,
	F_PORT,
	F_PROTO,
	F_SINCE,
	F_LIMIT,
	F_MAX,
};
/* The filters' names in the API's query (and flowring's parser). */
extern const char *const ctl_filter_keys[F_MAX];

struct ctl_opts {
	struct ctl_http http;
	bool json;
	bool follow;
	const char *format; /* graph: table, json, dot */
	const char *policy; /* graph --from: workloads from this policy */
	const char **from;  /* graph --from FILES */
	size_t n_from;
	const char *filter[F_MAX];
	bool fail_on_new_deny; /* replay: exit 4 if a flow that passed is denied */
	const char *group;     /* suggest: labels or workload */
	bool include_denied;   /* suggest: allow what was denied too */
	size_t top;	       /* replay: changes listed (0: the default) */
	char **args;	       /* operands after the command */
	int n_args;
};

int cmd_status(const struct ctl_opts *o);
int cmd_flows(const struct ctl_opts *o);
int cmd_sessions(const struct ctl_opts *o);
int cmd_workloads(const struct ctl_opts *o);
int cmd_check(const struct ctl_opts *o);
int cmd_reload(const struct ctl_opts *o);
int cmd_metrics(const struct ctl_opts *o);
int cmd_suggest(const struct ctl_opts *o);
int cmd_graph(const struct ctl_opts *o);
int cmd_replay(const struct ctl_opts *o);
int cmd_version(const struct ctl_opts *o);

/* The summary of every command (microsegctl --help). */
void ctl_usage(FILE *f);
/* The help of one command (microsegctl COMMAND --help); -1 if unknown. */
int ctl_command_help(const char *cmd, FILE *f);

/* Helpers shared by the commands. */
const char *ctl_str(const cJSON *o, const char *key);  /* NULL if absent */
const char *ctl_text(const cJSON *o, const char *key); /* "-" if absent */
/* A number or string member as text in buf ("-" if absent). */
const char *ctl_num(const cJSON *o, const char *key, char *buf, size_t len);
/* The strings of an array (or "key=value" of an object, with_keys) joined
 * by sep; "-" when empty. malloc'd, NULL when out of memory. */
char *ctl_join(const cJSON *items, const char *sep, bool with_keys);
/* Called for each JSON line of a flow log; returns >= 0, -EINVAL (the line
 * is skipped and named, with *err as the reason) or -ENOMEM (stop). */
typedef int (*ctl_line_fn)(void *cls, const cJSON *line, char **err);

/* Feed every line of the flow logs o->from ('-' = stdin) to fn, naming the
 * lines skipped on stderr. Returns a CTL_ status. */
int ctl_read_flowlogs(const struct ctl_opts *o, ctl_line_fn fn, void *cls);

/* A ctl_line_fn adding a flow-log line to the struct ms_graph cls. */
int ctl_graph_line(void *cls, const cJSON *line, char **err);

/* GET path and print the text answer as is. Returns a CTL_ status. */
int ctl_print_text(const struct ctl_opts *o, const char *path);

/* GET path and parse the JSON answer into *out; prints errors. Returns a
 * CTL_ status. */
int ctl_get_json(const struct ctl_opts *o, const char *path, cJSON **out, char **raw);

#endif /* MICROSEGCTL_CTL_H */
