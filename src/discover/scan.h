/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * What a namespace holds: its global addresses, and the ports its
 * processes listen on (TCP listeners, bound UDP sockets) with the command
 * of each process. The agent enters the namespace only to open two netlink
 * sockets there, and returns at once.
 */
#ifndef MICROSEGD_SCAN_H
#define MICROSEGD_SCAN_H

#include "netns.h"
#include "policy.h"

/*
 * Fill out (zeroed) with ns's addresses and listeners; name and netns are
 * copied from ns. prev (NULL: none) is what the last look at ns found: the
 * owners of sockets it knew are taken from it. Returns 0 or -errno (-EPERM
 * without the privilege to enter namespaces: CAP_SYS_ADMIN).
 */
int ms_scan_netns(const struct ms_netns *ns, const struct ms_discovered *prev,
		  struct ms_discovered *out);

#endif /* MICROSEGD_SCAN_H */
