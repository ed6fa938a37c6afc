/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* microsegd's command line (microsegd(8)), parsed into one struct. */
#ifndef MICROSEGD_OPTIONS_H
#define MICROSEGD_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>

#include "loader.h"
#include "server.h"

/* Exit statuses (microsegd(8), "EXIT STATUS"). */
#define EXIT_POLICY 1
#define EXIT_USAGE 2
#define EXIT_SYSTEM 3

struct ms_options {
	const char **ifnames;
	size_t n_ifnames;
	const char *policy;
	const char *flow_log;
	const char *mode;
	int log_level;
	unsigned int stats_interval;
	bool check;
	bool watch;	    /* reload when the policy file changes (inotify) */
	bool keep_attached; /* SIGTERM leaves the classifier attached and pinned */
	bool cleanup;	    /* --cleanup: remove what microsegd left, exit */
	struct ms_dp_opts dp;
	struct ms_api_opts api;
	const char *metrics;	/* --metrics ADDR:PORT; NULL: none */
	const char **web_hosts; /* api.web_hosts, ours to free */
	const char *state_dir;	/* NULL: none */
	size_t graph_max_edges;
	const char *baseline; /* graph JSON for new_edge anomalies; NULL: none */
	bool discover;	      /* --discover: workloads behind the interfaces */
};

/* The defaults, before the command line. */
void ms_options_init(struct ms_options *o);

/* Parse argv into o. Returns -1 to go on, or the exit status (usage and
 * --version printed, a bad option reported). */
int ms_options_parse(int argc, char **argv, struct ms_options *o);

/* Free what parsing allocated. */
void ms_options_free(struct ms_options *o);

#endif /* MICROSEGD_OPTIONS_H */
