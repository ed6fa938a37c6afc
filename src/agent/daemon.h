/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The daemon's state and the one way a policy gets into the data plane, at
 * start and on SIGHUP: parse, validate, compile, then install; on any failure
 * the policy in force stays untouched.
 */
#ifndef MICROSEGD_DAEMON_H
#define MICROSEGD_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "events.h"
#include "loader.h"
#include "policy_parse.h"

struct ms_observer;
struct ms_api;

struct ms_daemon {
	const char *policy_path;
	const char *mode; /* NULL (the policy's own), "enforce" or "monitor" */
	struct ms_dp_opts dp_opts;
	struct ms_dp *dp;
	struct ms_events *ev;
	struct ms_observer *obs; /* flow graph and recent flows */
	struct ms_api *api;	 /* NULL: no API */
	const char *const *ifnames;
	size_t n_ifnames;
	const char *state_dir; /* NULL: none; holds POLICY_RECORD with a pinned state */
	uint64_t started_ms;   /* Unix time */
	/* The policy in force: its text as installed, and when. */
	char *source;
	size_t source_len;
	uint64_t loaded_ms;
	uint64_t reloads_ok, reloads_failed;
	uint64_t last_reload_ms; /* last reload attempt, either outcome */
};

/* A policy read and compiled, not yet installed. */
struct ms_loaded {
	struct ms_policy *p;
	struct ms_compiled *c;
	char *source; /* the file's text */
	size_t source_len;
	double prep_ms; /* time spent parsing and compiling, for the log */
};

/*
 * Parse, validate and compile the policy file, applying d->mode. Every
 * diagnostic is logged with its FILE:LINE:COL, and also kept in diag if it
 * is not NULL. Returns 0 and fills l, or -errno: -ENOMEM is the system's
 * fault, anything else the policy's (unreadable, invalid, or too large for
 * the tables).
 */
int ms_daemon_prepare(const struct ms_daemon *d, struct ms_loaded *l, struct ms_diag *diag);

/*
 * Install a prepared policy in d->dp and make it the one events are named
 * by; logs "policy loaded" (or "policy reloaded") with rule count,
 * generation and the time preparing and installing it took. l is emptied in
 * every case.
 * Returns 0 or the install's -errno (the old policy then stays in force).
 */
int ms_daemon_install(struct ms_daemon *d, struct ms_loaded *l, bool reload);

/*
 * With a pinned state, every installed policy is recorded in
 * state_dir/policy-in-force (as YAML, behind a comment naming the state and
 * the generation). A starting agent that adopted that state calls this
 * before installing its own policy: events the earlier generation still
 * produces (queued in the pinned ring buffer, or from adopted sessions) are
 * then named by its rules and workloads, not "#N". Quietly does nothing
 * when there is no matching record.
 */
void ms_daemon_name_adopted(struct ms_daemon *d);

/* Free what a prepared policy holds. */
void ms_loaded_clear(struct ms_loaded *l);

/* SIGHUP and POST /v1/reload: prepare and install, logging the outcome (and
 * keeping the diagnostics in diag, if not NULL). Returns 0 or -errno. */
int ms_daemon_reload(struct ms_daemon *d, struct ms_diag *diag);

/* Free what the daemon's policy state holds (not dp, ev, obs or api). */
void ms_daemon_clear(struct ms_daemon *d);

#endif /* MICROSEGD_DAEMON_H */
