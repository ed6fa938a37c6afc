/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The data plane: the loaded classifier, its maps, and the interfaces it is
 * attached to.
 */
#ifndef MICROSEGD_LOADER_H
#define MICROSEGD_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy_compile.h"

struct ms_dp_opts {
	uint32_t session_max;	/* session table entries */
	uint32_t ringbuf_bytes; /* power of two, at least the page size */
	struct ms_limits limits;
	/* bpffs directory under which the state of this network namespace is
	 * pinned, in netns-<inode>/; NULL: nothing is pinned. */
	const char *pin_dir;
	bool pin_dir_given; /* named by the operator: no bpffs there is an error */
};

#define MS_DEFAULT_SESSION_MAX 131072
#define MS_DEFAULT_PIN_DIR "/sys/fs/bpf/microsegd"
#define MS_DEFAULT_RINGBUF_BYTES (4u << 20)

void ms_dp_opts_default(struct ms_dp_opts *o);

struct ms_dp;

/*
 * Open and load the classifier with maps sized from o. Nothing is attached
 * and no policy is installed (every packet passes until one is). Returns 0,
 * or -errno with the reason logged at error level (the verifier log at debug).
 *
 * With o->pin_dir on a bpffs, the state of this network namespace lives in
 * o->pin_dir/netns-<inode>/: a compatible state pinned there by an earlier
 * agent (same MS_PIN_ABI_VERSION, same map types, sizes and flags, same
 * namespace) is adopted, sessions and policy slots included; an incompatible
 * one is replaced with a warning; none is created and pinned. Without a
 * bpffs at the default directory (under `ip netns exec`) nothing is pinned
 * and one warning says so. -EBUSY: another agent holds the pinned state.
 */
int ms_dp_open(const struct ms_dp_opts *o, struct ms_dp **out);

/* Detach from every interface, remove the clsact qdiscs we created and the
 * pinned state, free. Nothing of microsegd remains. */
void ms_dp_close(struct ms_dp **dp);

/* Free, leaving the classifier attached and its state pinned, for the next
 * agent to adopt (--keep-attached). */
void ms_dp_leave(struct ms_dp **dp);

/* Identity of the pinned state (when it was created, CLOCK_REALTIME ns):
 * the same across the agents that adopt it; 0 when nothing is pinned. */
uint64_t ms_dp_state_id(const struct ms_dp *dp);

/* True when ms_dp_open adopted a state pinned by an earlier agent. */
bool ms_dp_adopted(const struct ms_dp *dp);

/* True when nothing of an earlier agent was pinned where this one pins: a
 * failed start then has nothing to leave enforcing. */
bool ms_dp_fresh(const struct ms_dp *dp);

/* The pin directory in use, or NULL when nothing is pinned. */
const char *ms_dp_pin_path(const struct ms_dp *dp);

/* Interfaces of an adopted state that this agent has not attached to:
 * detach from them (and remove the qdiscs microsegd created there). */
void ms_dp_detach_stale(struct ms_dp *dp);

/*
 * `microsegd --cleanup`: without loading anything, remove microsegd's filters
 * from each of ifnames and from every interface the pinned state of this
 * namespace records, the clsact qdiscs it records as created by microsegd,
 * and the pinned state. -EBUSY if an agent is running on it. Returns 0 or
 * -errno, reasons logged.
 */
int ms_dp_cleanup(const struct ms_dp_opts *o, const char *const *ifnames, size_t n);

/* Kernel id of the program attached in direction dir (enum ms_dir). */
uint32_t ms_dp_prog_id(const struct ms_dp *dp, int dir);

/*
 * Install a compiled policy atomically: fill the inactive slot, then flip.
 * Takes ownership of *c on success (sets it to NULL). On failure the old
 * policy stays in force and the inactive slot is cleaned.
 */
int ms_dp_install(struct ms_dp *dp, struct ms_compiled **c);

/* Generation of the installed policy; 0 before the first install. */
uint64_t ms_dp_generation(const struct ms_dp *dp);

/* Attach to ifname at clsact ingress and egress; -ENODEV if it does not exist. */
int ms_dp_attach(struct ms_dp *dp, const char *ifname);

/* How many interfaces are attached. */
size_t ms_dp_n_ifaces(const struct ms_dp *dp);

/* True if attached to ifindex. */
bool ms_dp_attached(const struct ms_dp *dp, int ifindex);

/*
 * Forget ifindex, detaching from it if it still exists (its filters go with
 * a deleted interface). Returns true if it was attached.
 */
bool ms_dp_release(struct ms_dp *dp, int ifindex);

/* The names of the interfaces attached to, at most max; returns how many.
 * Valid until the next attach or release. */
size_t ms_dp_ifnames(const struct ms_dp *dp, const char **out, size_t max);

/* At most this many interfaces are asked for at once by ms_dp_ifindexes. */
#define MS_DP_MAX_IFACES 4096

/* The ifindexes attached to, at most max of them in out; returns how many. */
size_t ms_dp_ifindexes(const struct ms_dp *dp, int *out, size_t max);

/* Notice attached interfaces that were deleted: logged once each, and
 * forgotten (their filters went with them). */
void ms_dp_check_links(struct ms_dp *dp);

/* Whether ifindex is attached to; its name in *name if so. */
bool ms_dp_ifname_attached(const struct ms_dp *dp, uint32_t ifindex, const char **name);

/* Interface name for an ifindex seen in events ("if<N>" if unknown). */
const char *ms_dp_ifname(struct ms_dp *dp, uint32_t ifindex);

/* Sum the per-CPU counters into out[MS_CNT_MAX]. */
int ms_dp_counters(const struct ms_dp *dp, uint64_t *out);

/* Flows decided by each rule of the installed policy: out[0] = default,
 * out[i] = rule id i, for n entries (n_rules + 1). */
int ms_dp_rule_hits(const struct ms_dp *dp, uint64_t *out, uint32_t n);

/* File descriptors for the daemon and the tests. */
int ms_dp_events_fd(const struct ms_dp *dp);
int ms_dp_sessions_fd(const struct ms_dp *dp);	    /* answered sessions */
int ms_dp_embryos_fd(const struct ms_dp *dp);	    /* not yet answered, and denied */
int ms_dp_prog_fd(const struct ms_dp *dp, int dir); /* enum ms_dir */
uint32_t ms_dp_session_max(const struct ms_dp *dp); /* of each of the two tables */

#endif /* MICROSEGD_LOADER_H */
