/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Where the classifier hooks into the kernel, behind one table of
 * operations: the loader keeps the list of interfaces and their records in
 * the pinned state, a hook puts the programs on an interface and takes them
 * off. TC (hook_tc.c) is the one there is; another (XDP, cgroup) is one more
 * BPF program and one more of these.
 */
#ifndef MICROSEGD_HOOK_H
#define MICROSEGD_HOOK_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

/* One interface the classifier is attached to. */
struct ms_hook {
	int ifindex;
	char name[IF_NAMESIZE];
	/* The hook's container on the interface (TC: the clsact qdisc) was
	 * created by microsegd: removed on detach. */
	bool qdisc_created;
	bool qdisc_inherited; /* created by the agent whose state we adopted */
	bool attached[2];     /* per enum ms_dir */
};

struct ms_hook_ops {
	const char *name;
	/*
	 * Put prog_fd[dir] (enum ms_dir) on h->ifindex in both directions,
	 * replacing in place a program of an earlier microsegd (adopted: the
	 * one whose state this agent took over). prev_ours: an earlier agent
	 * recorded the container as created by microsegd. Sets h's flags; on
	 * failure undoes what it did and returns -errno, reason logged.
	 */
	int (*attach)(struct ms_hook *h, const int prog_fd[2], bool prev_ours, bool adopted);
	/* Take off what attach put on h, and the container if microsegd's. */
	void (*detach)(struct ms_hook *h);
	/* Without any state: remove microsegd's programs from ifindex, and
	 * the container when qdisc says it is microsegd's. Missing ones are
	 * fine. Returns how many things were there and removed. */
	int (*cleanup)(int ifindex, const char *name, bool qdisc);
	/* Kernel id of the program prog_fd, as attached by this hook. */
	uint32_t (*prog_id)(int prog_fd);
};

/* The TC hook: clsact ingress and egress. */
extern const struct ms_hook_ops ms_hook_tc;

#endif /* MICROSEGD_HOOK_H */
