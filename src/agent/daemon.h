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
struct ms_history;
struct ms_discovery;

struct ms_daemon {
	const char *policy_path;
	const char *mode; /* NULL (the policy's own), "enforce" or "monitor" */
	struct ms_dp_opts dp_opts;
	struct ms_dp *dp;
	struct ms_events *ev;
	struct ms_observer *obs;   /* flow graph and recent flows */
	struct ms_api *api;	   /* NULL: no API */
	struct ms_history *hist;   /* recent counters for the console; NULL: none */
	struct ms_discovery *disc; /* workloads behind the interfaces; NULL: off */
	bool discover;		   /* --discover (the policy may also ask for it) */
	/* Keep a valid policy's warnings in the caller's diag instead of
	 * logging them: the start's first parse, redone with what discovery
	 * finds, would warn of selectors that match nothing yet. */
	bool hold_diag;
	uint64_t discovery_reloads, discovery_failed;
	const char *state_dir; /* NULL: none; holds POLICY_RECORD with a pinned state */
	uint64_t started_ms;   /* Unix time */
	/* The policy in force: its text as installed, and when. */
	char *source;
	size_t source_len;
	uint64_t loaded_ms;
	uint64_t reloads_ok, reloads_failed;
	uint64_t last_reload_ms; /* last reload attempt, either outcome */
	bool last_reload_ok;
	double last_reload_took_ms; /* parse to flip, of that attempt */
	double load_took_ms;	    /* of the policy in force */
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
 * by; logs "policy loaded" (cause NULL: the first), "policy reloaded" (cause
 * "": SIGHUP and its likes) or "policy reloaded by CAUSE" with rule and
 * workload counts, generation and the time preparing
 * and installing it took. l is emptied in every case.
 * Returns 0 or the install's -errno (the old policy then stays in force).
 */
int ms_daemon_install(struct ms_daemon *d, struct ms_loaded *l, const char *cause);

/*
 * Discovery changed the inventory: parse and compile the policy text in
 * force again with it, and install it ("policy reloaded by discovery").
 * Flows the new policy denies are revoked as on SIGHUP. Returns 0 or -errno
 * (the policy in force then stays).
 */
int ms_daemon_rediscover(struct ms_daemon *d);

/* Log every diagnostic, errors at error level, warnings at warn. */
void ms_daemon_log_diag(const struct ms_diag *diag);

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
