/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Process identity (README, "Containers"): the data plane records, on a
 * flow's first packet, the cgroup v2 id of the local socket; this turns the
 * id into what an operator reads: the systemd unit (or the cgroup path) and
 * the command of a process in it, while one is still there.
 */
#ifndef MICROSEGD_CGROUP_H
#define MICROSEGD_CGROUP_H

#include <stdint.h>

struct ms_cgroups;

/*
 * A resolver over the cgroup v2 hierarchy mounted at root (NULL: find the
 * cgroup2 mount in /proc/self/mountinfo). Returns 0, -ENOENT when there is
 * no cgroup2 mount, or -errno.
 */
int ms_cgroups_new(const char *root, struct ms_cgroups **out);
void ms_cgroups_free(struct ms_cgroups **cg);

/* The mount point in use. */
const char *ms_cgroups_root(const struct ms_cgroups *cg);

/*
 * What cgroup id is: *unit, the innermost systemd unit (.service, .scope) on
 * its path, else its path below the root ("/" for the root itself); and
 * *process, the command its processes run when they all run the same one
 * (read again at most every 2 s; the last one seen once it has none; NULL
 * if it never had one, or runs several programs). Both stay
 * valid until the tree is walked again: for an id not seen before, at most
 * once a second. Returns 0, or -ENOENT for an id that names no cgroup.
 */
int ms_cgroups_resolve(struct ms_cgroups *cg, uint64_t id, const char **unit, const char **process);

#endif /* MICROSEGD_CGROUP_H */
