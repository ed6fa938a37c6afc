// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* The TC hook (hook.h): the classifier on an interface's clsact qdisc, at
 * ingress and egress. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "hook.h"
#include "log.h"

/* A handle and priority of our own, so detach never touches other filters. */
#define MS_TC_HANDLE 0x4d53
#define MS_TC_PRIORITY 1

static const enum bpf_tc_attach_point ap[2] = { BPF_TC_INGRESS, BPF_TC_EGRESS };

static int tc_cleanup(int ifindex, const char *name, bool qdisc)
{
	int removed = 0;

	for (int d = 0; d < 2; d++) {
		DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = ap[d]);
		DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = MS_TC_HANDLE,
				    .priority = MS_TC_PRIORITY);
		int err = bpf_tc_detach(&hook, &opts);

		if (!err)
			removed++;
		else if (err != -ENOENT && err != -ENODEV && err != -EINVAL)
			log_warn("%s: cannot detach %s filter: %s", name, d ? "egress" : "ingress",
				 strerror(-err));
	}
	if (qdisc) {
		DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
				    .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);
		int err = bpf_tc_hook_destroy(&hook);

		if (!err)
			removed++;
		else if (err != -ENOENT && err != -ENODEV && err != -EINVAL)
			log_warn("%s: cannot remove the clsact qdisc: %s", name, strerror(-err));
	}
	return removed;
}

static void tc_detach(struct ms_hook *h)
{
	for (int d = 0; d < 2; d++) {
		DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = h->ifindex,
				    .attach_point = ap[d]);
		DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = MS_TC_HANDLE,
				    .priority = MS_TC_PRIORITY);
		int err;

		if (!h->attached[d])
			continue;
		err = bpf_tc_detach(&hook, &opts);
		if (err && err != -ENOENT && err != -ENODEV)
			log_warn("%s: cannot detach %s filter: %s", h->name,
				 d ? "egress" : "ingress", strerror(-err));
		h->attached[d] = false;
	}
	if (h->qdisc_created) {
		tc_cleanup(h->ifindex, h->name, true);
		h->qdisc_created = false;
	}
}

static int tc_attach(struct ms_hook *h, const int prog_fd[2], bool prev_ours, bool adopted)
{
	int err;

	DECLARE_LIBBPF_OPTS(bpf_tc_hook, qd, .ifindex = h->ifindex,
			    .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);
	err = bpf_tc_hook_create(&qd);
	if (!err) {
		h->qdisc_created = true;
	} else if (err == -EEXIST) {
		/* An earlier agent's qdisc is ours to remove, as it would have. */
		h->qdisc_created = h->qdisc_inherited = prev_ours;
	} else {
		log_error("%s: cannot create the clsact qdisc: %s", h->name, strerror(-err));
		return err;
	}
	for (int d = 0; d < 2; d++) {
		DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = h->ifindex,
				    .attach_point = ap[d]);
		DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = MS_TC_HANDLE,
				    .priority = MS_TC_PRIORITY, .prog_fd = prog_fd[d]);

		err = bpf_tc_attach(&hook, &opts);
		if (err == -EEXIST) {
			/* In place, on the same handle and priority: there is
			 * never a moment without a filter. */
			if (adopted)
				log_info("%s: replacing the previous agent's %s filter in place",
					 h->name, d ? "egress" : "ingress");
			else
				log_warn("%s: replacing a %s filter left by an earlier microsegd",
					 h->name, d ? "egress" : "ingress");
			opts.flags = BPF_TC_F_REPLACE;
			opts.prog_id = 0;
			err = bpf_tc_attach(&hook, &opts);
		}
		if (err) {
			log_error("%s: cannot attach the %s classifier: %s", h->name,
				  d ? "egress" : "ingress", strerror(-err));
			tc_detach(h);
			return err;
		}
		h->attached[d] = true;
	}
	log_info("attached to %s (ifindex %d, ingress and egress%s)", h->name, h->ifindex,
		 h->qdisc_inherited ? ", clsact of the previous agent"
		 : h->qdisc_created ? ", clsact created"
				    : "");
	return 0;
}

static uint32_t tc_prog_id(int prog_fd)
{
	struct bpf_prog_info info;
	__u32 len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(prog_fd, &info, &len))
		return 0;
	return info.id;
}

const struct ms_hook_ops ms_hook_tc = {
	.name = "tc",
	.attach = tc_attach,
	.detach = tc_detach,
	.cleanup = tc_cleanup,
	.prog_id = tc_prog_id,
};
