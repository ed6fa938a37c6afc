/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Inside the data plane (loader.h): the state its files share. loader.c
 * opens and closes, pins.c pins and adopts, install.c installs policies,
 * ifaces.c keeps the attached interfaces through a hook (hook.h).
 */
#ifndef MICROSEGD_LOADER_INT_H
#define MICROSEGD_LOADER_INT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include <bpf/libbpf.h>

#include "hook.h"
#include "loader.h"

struct ms_dp {
	struct microsegd_bpf *skel;
	const struct ms_hook_ops *hook;
	struct ms_limits limits;
	uint32_t session_max;
	uint32_t active_slot;
	uint64_t generation;
	struct ms_compiled *slot_policy[2]; /* what each slot holds */
	struct ms_hook *hooks;
	size_t n_hooks;
	uint32_t *port_table; /* port_class, mmapped */
	uint64_t *hits;	      /* rule_hits, mmapped */
	size_t hits_bytes;
	char ifname_buf[IF_NAMESIZE + 16];
	int ncpu;
	char *pin_path; /* pin_dir/netns-<inode>, NULL: nothing pinned */
	int lock_fd;	/* pin_path, flock()ed while this agent owns it */
	bool adopted;
	bool fresh_pins;      /* pin_path held nothing of an earlier agent's */
	bool slot_unknown[2]; /* addresses filled by an earlier agent: wipe before reuse */
	bool reused[16];      /* per pin_maps[] entry: the map came from the pins */
	uint64_t state_id;    /* the pinned ms_meta's created_ns; 0: nothing pinned */
};

/* libbpf's messages into the agent's log (libbpf_set_print). */
int dp_libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap);

/* fd of the ms_ifaces map: the interfaces attached to, and their records. */
int dp_ifaces_fd(const struct ms_dp *dp);

/* Pinning (pins.c). Before load: find the pin directory under base, lock
 * it, and hand the compatible pinned maps to the skeleton. */
int dp_pin_prepare(struct ms_dp *dp, const char *base, bool given);
/* After load: pin what is new; for an adopted state, take over its slots. */
int dp_pin_finish(struct ms_dp *dp);
/* fd of the object pinned as dir/name, or -errno. */
int dp_pin_get(const char *dir, const char *name);
/* Remove every pin of the state in dir, and (rmdirs) dir and its parent if
 * that is left empty. */
void dp_pin_remove_all(const char *dir, bool rmdirs);
/* Is path (or, if it does not exist yet, its parent) on a bpffs? 1 yes, 0
 * no, -errno when neither can be examined. */
int dp_on_bpffs(const char *path);

/* Take the classifier off h and forget its record (ifaces.c). */
void dp_iface_detach(struct ms_dp *dp, struct ms_hook *h);

#endif /* MICROSEGD_LOADER_INT_H */
