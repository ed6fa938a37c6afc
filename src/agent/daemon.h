/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The daemon's state and the one way a policy gets into the data plane, at
 * start and on SIGHUP: parse, validate, compile, then install; on any failure
 * the policy in force stays untouched.
 */
#ifndef MICROSEGD_DAEMON_H
#define MICROSEGD_DAEMON_H

#include <stdbool.h>

#include "events.h"
#include "loader.h"

struct ms_daemon {
	const char *policy_path;
	const char *mode; /* NULL (the policy's own), "enforce" or "monitor" */
	struct ms_dp_opts dp_opts;
	struct ms_dp *dp;
	struct ms_events *ev;
};

/* A policy read and compiled, not yet installed. */
struct ms_loaded {
	struct ms_policy *p;
	struct ms_compiled *c;
	double prep_ms; /* time spent parsing and compiling, for the log */
};

/*
 * Parse, validate and compile the policy file, applying d->mode. Every
 * diagnostic is logged with its FILE:LINE:COL. Returns 0 and fills l, or
 * -errno: -ENOMEM is the system's fault, anything else the policy's
 * (unreadable, invalid, or too large for the tables).
 */
int ms_daemon_prepare(const struct ms_daemon *d, struct ms_loaded *l);

/*
 * Install a prepared policy in d->dp and make it the one events are named
 * by; logs "policy loaded" (or "policy reloaded") with rule count,
 * generation and the time preparing and installing it took. l is emptied in
 * every case.
 * Returns 0 or the install's -errno (the old policy then stays in force).
 */
int ms_daemon_install(struct ms_daemon *d, struct ms_loaded *l, bool reload);

/* Free what a prepared policy holds. */
void ms_loaded_clear(struct ms_loaded *l);

/* SIGHUP: prepare and install, logging the outcome. Returns 0 or -errno. */
int ms_daemon_reload(struct ms_daemon *d);

#endif /* MICROSEGD_DAEMON_H */
