/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The interfaces the agent serves: names and globs from --interface
 * ('veth*'), attached at start and, for globs, as matching interfaces
 * appear (rtnetlink RTM_NEWLINK); released when they go (RTM_DELLINK). The
 * netlink socket also tells discovery when links or addresses change.
 */
#ifndef MICROSEGD_LINKS_H
#define MICROSEGD_LINKS_H

#include <stdbool.h>
#include <stddef.h>

#include "loader.h"

struct ms_links;

/* True if name holds glob characters (* ? [). */
bool ms_links_is_glob(const char *name);

/* The ifindexes that names and globs select now, at most max; returns how
 * many (a missing named interface is left out). */
size_t ms_links_resolve(const char *const *names, size_t n, int *out, size_t max);

/* names with each glob replaced by the interfaces it matches now (a glob
 * that matches none is logged and left out; plain names are kept as they
 * are), as a malloc'd array of *n_out strings. Returns 0 or -ENOMEM. */
int ms_links_expand(const char *const *names, size_t n, char ***out, size_t *n_out);
void ms_links_expand_free(char **names, size_t n);

/*
 * Attach dp to every name (which must exist) and every interface a glob
 * matches now; with a glob, open the netlink socket that follows links.
 * Returns 0 or -errno (a missing named interface: -ENODEV, logged).
 */
int ms_links_new(struct ms_dp *dp, const char *const *names, size_t n, bool watch_addrs,
		 struct ms_links **out);
void ms_links_free(struct ms_links **l);

/* The netlink fd to wait on, or -1 when there is nothing to follow. */
int ms_links_fd(const struct ms_links *l);

/*
 * Read what the kernel said: attach interfaces that appeared and match a
 * glob, release ones that went. Returns 1 if links or addresses changed (a
 * reason to look again for workloads), 0 if not, -errno on a socket error.
 */
int ms_links_handle(struct ms_links *l);

#endif /* MICROSEGD_LINKS_H */
