/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Just enough netlink for discovery: a request, and its answers read until
 * the dump ends, each handed to a callback. rtnetlink (links, addresses,
 * namespace ids) and sock_diag (listening sockets) both go through here.
 */
#ifndef MICROSEGD_NL_H
#define MICROSEGD_NL_H

#include <linux/netlink.h>
#include <stddef.h>

/* A netlink socket of the family (NETLINK_ROUTE, NETLINK_SOCK_DIAG),
 * joined to groups (0: none), close-on-exec. Returns the fd or -errno. */
int ms_nl_open(int family, unsigned int groups);

/*
 * Send req (its nlmsg_len set) and call cb for each answer until the end of
 * a dump, or the one answer of a plain request; an NLMSG_ERROR answer ends
 * it with its error. cb returns 0 to go on or -errno to stop. Returns 0 or
 * -errno.
 */
int ms_nl_talk(int fd, struct nlmsghdr *req, int (*cb)(const struct nlmsghdr *h, void *cls),
	       void *cls);

/* Append attribute type of len bytes to the message in a buffer of cap
 * bytes; -ENOBUFS when it does not fit. */
int ms_nl_put(struct nlmsghdr *h, size_t cap, unsigned short type, const void *data, size_t len);

/* Attributes of a message, after a header of hdrlen bytes: tb[type] for
 * each type up to max (the last one of a type wins). */
struct rtattr;
void ms_nl_attrs(const struct nlmsghdr *h, size_t hdrlen, const struct rtattr **tb, int max);

#endif /* MICROSEGD_NL_H */
