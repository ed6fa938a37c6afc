// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* The data plane opened and closed: the skeleton, its maps sized, loaded,
 * and what the rest of the agent reads of it. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf_perm.h"
#include "loader_int.h"
#include "log.h"
#include "microsegd.skel.h"

void ms_dp_opts_default(struct ms_dp_opts *o)
{
	o->session_max = MS_DEFAULT_SESSION_MAX;
	o->ringbuf_bytes = MS_DEFAULT_RINGBUF_BYTES;
	ms_limits_default(&o->limits);
	o->pin_dir = NULL; /* the agent names one; tests and benchmarks pin nothing */
	o->pin_dir_given = false;
}

int dp_libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char *msg = NULL;
	size_t len;

	if (ms_log_get_level() > MS_LOG_DEBUG && level != LIBBPF_WARN)
		return 0;
	if (vasprintf(&msg, fmt, ap) < 0)
		return 0;
	len = strlen(msg);
	while (len && msg[len - 1] == '\n')
		msg[--len] = '\0';
	log_debug("libbpf: %s", msg);
	free(msg);
	return 0;
}

/*
 * The classifier reads CONFIG_HZ (now_ns() in bpf/clock.h). libbpf
 * finds it in /boot/config-RELEASE or /proc/config.gz, and refuses to load
 * an object with a CONFIG_ extern when neither is there, weak or not; then
 * it is given as 0, and the classifier keeps the coarse clock.
 */
static const char *kconfig_fallback(void)
{
	struct utsname u;
	char path[sizeof(u.release) + 16];

	if (!access("/proc/config.gz", R_OK))
		return NULL;
	if (!uname(&u)) {
		snprintf(path, sizeof(path), "/boot/config-%s", u.release);
		if (!access(path, R_OK))
			return NULL;
	}
	log_debug("no kernel configuration to read CONFIG_HZ from: the coarse clock");
	return "CONFIG_HZ=0\n";
}

int ms_dp_open(const struct ms_dp_opts *o, struct ms_dp **out)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo);
	struct ms_dp *dp;
	int err;

	libbpf_set_print(dp_libbpf_log);
	if (access("/sys/kernel/btf/vmlinux", R_OK)) {
		log_error("kernel BTF not found at /sys/kernel/btf/vmlinux: the kernel needs "
			  "CONFIG_DEBUG_INFO_BTF=y");
		return -ENOENT;
	}
	if (o->ringbuf_bytes < 4096 || (o->ringbuf_bytes & (o->ringbuf_bytes - 1))) {
		log_error("ring buffer size %u is not a power of two of at least 4096",
			  o->ringbuf_bytes);
		return -EINVAL;
	}
	dp = calloc(1, sizeof(*dp));
	if (!dp)
		return -ENOMEM;
	dp->limits = o->limits;
	dp->session_max = o->session_max;
	dp->lock_fd = -1;
	dp->hook = &ms_hook_tc;
	dp->ncpu = libbpf_num_possible_cpus();
	if (dp->ncpu < 1) {
		err = dp->ncpu;
		log_error("cannot count CPUs: %s", strerror(-err));
		goto fail;
	}
	oo.kconfig = kconfig_fallback();
	dp->skel = microsegd_bpf__open_opts(&oo);
	if (!dp->skel) {
		err = -errno;
		log_error("cannot open the BPF object: %s", strerror(-err));
		goto fail;
	}
	dp->skel->rodata->max_rules = o->limits.max_rules;
	/* Two slots of everything: the installed policy and the next one. */
	if ((err = bpf_map__set_max_entries(dp->skel->maps.sessions, o->session_max)) ||
	    (err = bpf_map__set_max_entries(dp->skel->maps.embryos, o->session_max)) ||
	    (err = bpf_map__set_max_entries(dp->skel->maps.src_class,
					    2 * o->limits.max_addr_entries)) ||
	    (err = bpf_map__set_max_entries(dp->skel->maps.dst_class,
					    2 * o->limits.max_addr_entries)) ||
	    (err = bpf_map__set_max_entries(dp->skel->maps.rule_hits,
					    2 * (o->limits.max_rules + 1))) ||
	    (err = bpf_map__set_max_entries(dp->skel->maps.events, o->ringbuf_bytes))) {
		log_error("cannot size the BPF maps: %s", strerror(-err));
		goto fail;
	}
	if (o->pin_dir) {
		err = dp_pin_prepare(dp, o->pin_dir, o->pin_dir_given);
		if (err)
			goto fail;
	}
	err = microsegd_bpf__load(dp->skel);
	if (err) {
		if (err == -EPERM)
			ms_bpf_log_eperm("load the BPF classifier");
		else
			log_error("cannot load the BPF classifier: %s (run with --log-level debug "
				  "for the verifier log)",
				  strerror(-err));
		goto fail;
	}
	dp->port_table =
		mmap(NULL, MS_PORT_TABLE_ENTRIES * sizeof(uint32_t), PROT_READ | PROT_WRITE,
		     MAP_SHARED, bpf_map__fd(dp->skel->maps.port_class), 0);
	if (dp->port_table == MAP_FAILED) {
		err = -errno;
		log_error("cannot map the port table: %s", strerror(-err));
		dp->port_table = NULL;
		goto fail;
	}
	dp->hits_bytes = 2 * ((size_t)o->limits.max_rules + 1) * sizeof(uint64_t);
	dp->hits = mmap(NULL, dp->hits_bytes, PROT_READ | PROT_WRITE, MAP_SHARED,
			bpf_map__fd(dp->skel->maps.rule_hits), 0);
	if (dp->hits == MAP_FAILED) {
		err = -errno;
		log_error("cannot map the rule hit counters: %s", strerror(-err));
		dp->hits = NULL;
		goto fail;
	}
	if (dp->pin_path) {
		err = dp_pin_finish(dp);
		if (err)
			goto fail;
	}
	*out = dp;
	return 0;
fail:
	if (dp->hits)
		munmap(dp->hits, dp->hits_bytes);
	if (dp->port_table)
		munmap(dp->port_table, MS_PORT_TABLE_ENTRIES * sizeof(uint32_t));
	microsegd_bpf__destroy(dp->skel);
	/* A failed start leaves nothing in bpffs but what an earlier agent
	 * pinned there. */
	if (dp->pin_path && dp->fresh_pins)
		dp_pin_remove_all(dp->pin_path, true);
	if (dp->lock_fd >= 0)
		close(dp->lock_fd);
	free(dp->pin_path);
	free(dp);
	return err;
}

static void dp_free(struct ms_dp *dp)
{
	free(dp->hooks);
	munmap(dp->port_table, MS_PORT_TABLE_ENTRIES * sizeof(uint32_t));
	munmap(dp->hits, dp->hits_bytes);
	microsegd_bpf__destroy(dp->skel);
	ms_compiled_free(&dp->slot_policy[0]);
	ms_compiled_free(&dp->slot_policy[1]);
	if (dp->lock_fd >= 0)
		close(dp->lock_fd); /* and with it the lock */
	free(dp->pin_path);
	free(dp);
}

void ms_dp_close(struct ms_dp **dpp)
{
	struct ms_dp *dp = *dpp;

	if (!dp)
		return;
	for (size_t i = 0; i < dp->n_hooks; i++)
		dp_iface_detach(dp, &dp->hooks[i]);
	/* Interfaces an adopted state still names are ours to clean too. */
	ms_dp_detach_stale(dp);
	if (dp->pin_path)
		dp_pin_remove_all(dp->pin_path, true);
	dp_free(dp);
	*dpp = NULL;
}

void ms_dp_leave(struct ms_dp **dpp)
{
	struct ms_dp *dp = *dpp;

	if (!dp)
		return;
	/* tc filters hold their programs, and the programs their maps: the
	 * classifier keeps running without us. */
	dp_free(dp);
	*dpp = NULL;
}

uint64_t ms_dp_state_id(const struct ms_dp *dp)
{
	return dp->state_id;
}

bool ms_dp_adopted(const struct ms_dp *dp)
{
	return dp->adopted;
}

bool ms_dp_fresh(const struct ms_dp *dp)
{
	return !dp->pin_path || dp->fresh_pins;
}

const char *ms_dp_pin_path(const struct ms_dp *dp)
{
	return dp->pin_path;
}

int ms_dp_counters(const struct ms_dp *dp, uint64_t *out)
{
	int fd = bpf_map__fd(dp->skel->maps.counters);
	uint64_t *v = calloc((size_t)dp->ncpu, sizeof(*v));

	if (!v)
		return -ENOMEM;
	for (uint32_t i = 0; i < MS_CNT_MAX; i++) {
		out[i] = 0;
		if (bpf_map_lookup_elem(fd, &i, v)) {
			int err = -errno;

			free(v);
			return err;
		}
		for (int c = 0; c < dp->ncpu; c++)
			out[i] += v[c];
	}
	free(v);
	return 0;
}

int ms_dp_rule_hits(const struct ms_dp *dp, uint64_t *out, uint32_t n)
{
	const volatile uint64_t *h =
		dp->hits + (size_t)dp->active_slot * (dp->limits.max_rules + 1);

	if (n > dp->limits.max_rules + 1)
		return -EINVAL;
	for (uint32_t i = 0; i < n; i++)
		out[i] = h[i]; /* aligned 64-bit loads: never torn */
	return 0;
}

int dp_ifaces_fd(const struct ms_dp *dp)
{
	return bpf_map__fd(dp->skel->maps.ms_ifaces);
}

int ms_dp_events_fd(const struct ms_dp *dp)
{
	return bpf_map__fd(dp->skel->maps.events);
}

int ms_dp_sessions_fd(const struct ms_dp *dp)
{
	return bpf_map__fd(dp->skel->maps.sessions);
}

int ms_dp_embryos_fd(const struct ms_dp *dp)
{
	return bpf_map__fd(dp->skel->maps.embryos);
}

int ms_dp_prog_fd(const struct ms_dp *dp, int dir)
{
	return bpf_program__fd(dir == MS_DIR_EGRESS ? dp->skel->progs.ms_egress
						    : dp->skel->progs.ms_ingress);
}

uint32_t ms_dp_session_max(const struct ms_dp *dp)
{
	return dp->session_max;
}
