// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <errno.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "loader.h"
#include "log.h"
#include "microsegd.skel.h"

/* A handle and priority of our own, so detach never touches other filters. */
#define MS_TC_HANDLE 0x4d53
#define MS_TC_PRIORITY 1

struct hook {
	int ifindex;
	char name[IF_NAMESIZE];
	bool qdisc_created;
	bool attached[2];
};

struct ms_dp {
	struct microsegd_bpf *skel;
	struct ms_limits limits;
	uint32_t session_max;
	uint32_t active_slot;
	uint64_t generation;
	struct ms_compiled *slot_policy[2]; /* what each slot holds */
	struct hook *hooks;
	size_t n_hooks;
	uint32_t *port_table; /* port_class, mmapped */
	char ifname_buf[IF_NAMESIZE + 16];
	int ncpu;
};

void ms_dp_opts_default(struct ms_dp_opts *o)
{
	o->session_max = MS_DEFAULT_SESSION_MAX;
	o->ringbuf_bytes = MS_DEFAULT_RINGBUF_BYTES;
	ms_limits_default(&o->limits);
}

static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
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

int ms_dp_open(const struct ms_dp_opts *o, struct ms_dp **out)
{
	struct ms_dp *dp;
	int err;

	libbpf_set_print(libbpf_log);
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
	dp->ncpu = libbpf_num_possible_cpus();
	if (dp->ncpu < 1) {
		err = dp->ncpu;
		log_error("cannot count CPUs: %s", strerror(-err));
		goto fail;
	}
	dp->skel = microsegd_bpf__open();
	if (!dp->skel) {
		err = -errno;
		log_error("cannot open the BPF object: %s", strerror(-err));
		goto fail;
	}
	dp->skel->rodata->max_rules = o->limits.max_rules;
	/* Two slots of everything: the installed policy and the next one. */
	if ((err = bpf_map__set_max_entries(dp->skel->maps.sessions, o->session_max)) ||
	    (err = bpf_map__set_max_entries(dp->skel->maps.src_class,
					    2 * o->limits.max_addr_entries)) ||
	    (err = bpf_map__set_max_entries(dp->skel->maps.dst_class,
					    2 * o->limits.max_addr_entries)) ||
	    (err = bpf_map__set_max_entries(dp->skel->maps.decisions,
					    2 * o->limits.max_decision_entries)) ||
	    (err = bpf_map__set_max_entries(dp->skel->maps.rule_hits,
					    2 * (o->limits.max_rules + 1))) ||
	    (err = bpf_map__set_max_entries(dp->skel->maps.events, o->ringbuf_bytes))) {
		log_error("cannot size the BPF maps: %s", strerror(-err));
		goto fail;
	}
	err = microsegd_bpf__load(dp->skel);
	if (err) {
		if (err == -EPERM)
			log_error("cannot load the BPF classifier: permission denied (needs root "
				  "or CAP_BPF, CAP_NET_ADMIN, CAP_PERFMON)");
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
		goto fail;
	}
	*out = dp;
	return 0;
fail:
	microsegd_bpf__destroy(dp->skel);
	free(dp);
	return err;
}

static void detach_hook(struct hook *h)
{
	static const enum bpf_tc_attach_point ap[2] = { BPF_TC_INGRESS, BPF_TC_EGRESS };

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
		DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = h->ifindex,
				    .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);
		int err = bpf_tc_hook_destroy(&hook);

		if (err && err != -ENOENT && err != -ENODEV && err != -EINVAL)
			log_warn("%s: cannot remove the clsact qdisc: %s", h->name, strerror(-err));
		h->qdisc_created = false;
	}
}

void ms_dp_close(struct ms_dp **dpp)
{
	struct ms_dp *dp = *dpp;

	if (!dp)
		return;
	for (size_t i = 0; i < dp->n_hooks; i++)
		detach_hook(&dp->hooks[i]);
	free(dp->hooks);
	munmap(dp->port_table, MS_PORT_TABLE_ENTRIES * sizeof(uint32_t));
	microsegd_bpf__destroy(dp->skel);
	ms_compiled_free(&dp->slot_policy[0]);
	ms_compiled_free(&dp->slot_policy[1]);
	free(dp);
	*dpp = NULL;
}

int ms_dp_attach(struct ms_dp *dp, const char *ifname)
{
	static const enum bpf_tc_attach_point ap[2] = { BPF_TC_INGRESS, BPF_TC_EGRESS };
	const struct bpf_program *prog[2] = { dp->skel->progs.ms_ingress,
					      dp->skel->progs.ms_egress };
	int ifindex = (int)if_nametoindex(ifname);
	struct hook *h, *nh;
	int err;

	if (!ifindex) {
		log_error("no such interface: %s", ifname);
		return -ENODEV;
	}
	for (size_t i = 0; i < dp->n_hooks; i++)
		if (dp->hooks[i].ifindex == ifindex)
			return 0; /* named twice: attached once */
	nh = realloc(dp->hooks, (dp->n_hooks + 1) * sizeof(*nh));
	if (!nh)
		return -ENOMEM;
	dp->hooks = nh;
	h = &dp->hooks[dp->n_hooks];
	memset(h, 0, sizeof(*h));
	h->ifindex = ifindex;
	snprintf(h->name, sizeof(h->name), "%s", ifname);

	DECLARE_LIBBPF_OPTS(bpf_tc_hook, qd, .ifindex = ifindex,
			    .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);
	err = bpf_tc_hook_create(&qd);
	if (!err) {
		h->qdisc_created = true;
	} else if (err != -EEXIST) {
		log_error("%s: cannot create the clsact qdisc: %s", ifname, strerror(-err));
		return err;
	}
	dp->n_hooks++; /* from here on, close/detach cleans what exists */
	for (int d = 0; d < 2; d++) {
		DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = ap[d]);
		DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = MS_TC_HANDLE,
				    .priority = MS_TC_PRIORITY,
				    .prog_fd = bpf_program__fd(prog[d]));

		err = bpf_tc_attach(&hook, &opts);
		if (err == -EEXIST) {
			log_warn("%s: replacing a %s filter left by an earlier microsegd", ifname,
				 d ? "egress" : "ingress");
			opts.flags = BPF_TC_F_REPLACE;
			opts.prog_id = 0;
			err = bpf_tc_attach(&hook, &opts);
		}
		if (err) {
			log_error("%s: cannot attach the %s classifier: %s", ifname,
				  d ? "egress" : "ingress", strerror(-err));
			detach_hook(h);
			dp->n_hooks--;
			return err;
		}
		h->attached[d] = true;
	}
	log_info("attached to %s (ifindex %d, ingress and egress%s)", ifname, ifindex,
		 h->qdisc_created ? ", clsact created" : "");
	return 0;
}

bool ms_dp_attached(const struct ms_dp *dp, int ifindex)
{
	for (size_t i = 0; i < dp->n_hooks; i++)
		if (dp->hooks[i].ifindex == ifindex)
			return true;
	return false;
}

bool ms_dp_release(struct ms_dp *dp, int ifindex)
{
	char now[IF_NAMESIZE];

	for (size_t i = 0; i < dp->n_hooks; i++) {
		if (dp->hooks[i].ifindex != ifindex)
			continue;
		/* Only while the index still names our interface: a deleted
		 * one took its filters along, and the index may be another's. */
		if (if_indextoname((unsigned int)ifindex, now) && !strcmp(now, dp->hooks[i].name))
			detach_hook(&dp->hooks[i]);
		dp->hooks[i] = dp->hooks[--dp->n_hooks];
		return true;
	}
	return false;
}

size_t ms_dp_ifnames(const struct ms_dp *dp, const char **out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < dp->n_hooks && n < max; i++)
		out[n++] = dp->hooks[i].name;
	return n;
}

size_t ms_dp_n_ifaces(const struct ms_dp *dp)
{
	return dp->n_hooks;
}

size_t ms_dp_ifindexes(const struct ms_dp *dp, int *out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < dp->n_hooks && n < max; i++)
		out[n++] = dp->hooks[i].ifindex;
	return n;
}

const char *ms_dp_ifname(struct ms_dp *dp, uint32_t ifindex)
{
	for (size_t i = 0; i < dp->n_hooks; i++)
		if ((uint32_t)dp->hooks[i].ifindex == ifindex)
			return dp->hooks[i].name;
	if (!if_indextoname(ifindex, dp->ifname_buf))
		snprintf(dp->ifname_buf, sizeof(dp->ifname_buf), "if%u", ifindex);
	return dp->ifname_buf;
}

static void addr_key(struct ms_addr_key *k, uint32_t slot, const struct ms_addr_entry *e)
{
	memset(k, 0, sizeof(*k));
	k->prefixlen = 8 + e->plen;
	k->slot = (uint8_t)slot;
	memcpy(k->addr, e->addr, 16);
}

/*
 * Write n key/value pairs with BPF_MAP_UPDATE_BATCH, falling back to one
 * update per element where the map type has no batch support (LPM tries on
 * older kernels).
 */
static int update_many(int fd, const void *keys, size_t key_sz, const void *vals, size_t val_sz,
		       size_t n)
{
	const size_t chunk = 8192;
	bool batch = true;

	for (size_t base = 0; base < n;) {
		__u32 cnt = (__u32)(n - base < chunk ? n - base : chunk);
		const char *k = (const char *)keys + base * key_sz;
		const char *v = (const char *)vals + base * val_sz;

		if (batch) {
			if (!bpf_map_update_batch(fd, k, v, &cnt, NULL)) {
				base += cnt;
				continue;
			}
			if (errno != EINVAL && errno != EOPNOTSUPP && errno != ENOTSUP)
				return -errno;
			if (cnt) { /* part of the chunk went in before the error */
				base += cnt;
				continue;
			}
			batch = false;
		}
		if (bpf_map_update_elem(fd, k, v, BPF_ANY))
			return -errno;
		base++;
	}
	return 0;
}

/* Delete n keys, in batches where the map type allows; keys already gone
 * are skipped. */
static void delete_many(int fd, const void *keys, size_t key_sz, size_t n)
{
	const size_t chunk = 8192;
	bool batch = true;

	for (size_t base = 0; base < n;) {
		__u32 cnt = (__u32)(n - base < chunk ? n - base : chunk);
		const char *k = (const char *)keys + base * key_sz;

		if (batch) {
			if (!bpf_map_delete_batch(fd, k, &cnt, NULL)) {
				base += cnt;
				continue;
			}
			if (errno == ENOENT) { /* stopped at a missing key: skip it */
				base += cnt + 1;
				continue;
			}
			batch = false;
		}
		bpf_map_delete_elem(fd, k);
		base++;
	}
}

static struct ms_addr_key *addr_keys(uint32_t slot, const struct ms_addr_entry *e, size_t n)
{
	struct ms_addr_key *keys = calloc(n ? n : 1, sizeof(*keys));

	for (size_t i = 0; keys && i < n; i++)
		addr_key(&keys[i], slot, &e[i]);
	return keys;
}

static struct ms_decision_key *decision_keys(uint32_t slot, const struct ms_compiled *c)
{
	struct ms_decision_key *keys = calloc(c->n_dec ? c->n_dec : 1, sizeof(*keys));

	for (size_t i = 0; keys && i < c->n_dec; i++) {
		const struct ms_decision_entry *e = &c->dec[i];

		keys[i] =
			(struct ms_decision_key){ e->src_class, e->dst_class, e->port_class, slot };
	}
	return keys;
}

/* Remove every entry c put into slot; entries already gone are fine. On
 * allocation failure the entries stay: they are only ever read under this
 * slot number, and the next install overwrites what it needs. */
static void slot_clear(struct ms_dp *dp, uint32_t slot, const struct ms_compiled *c)
{
	struct ms_addr_key *src = addr_keys(slot, c->src, c->n_src);
	struct ms_addr_key *dst = addr_keys(slot, c->dst, c->n_dst);
	struct ms_decision_key *dec = decision_keys(slot, c);

	if (src)
		delete_many(bpf_map__fd(dp->skel->maps.src_class), src, sizeof(*src), c->n_src);
	if (dst)
		delete_many(bpf_map__fd(dp->skel->maps.dst_class), dst, sizeof(*dst), c->n_dst);
	if (dec)
		delete_many(bpf_map__fd(dp->skel->maps.decisions), dec, sizeof(*dec), c->n_dec);
	free(src);
	free(dst);
	free(dec);
}

static int fill_addrs(int fd, uint32_t slot, const struct ms_addr_entry *e, size_t n)
{
	struct ms_addr_key *keys = addr_keys(slot, e, n);
	uint32_t *vals = calloc(n ? n : 1, sizeof(*vals));
	int err = -ENOMEM;

	if (keys && vals) {
		for (size_t i = 0; i < n; i++)
			vals[i] = e[i].cls;
		err = update_many(fd, keys, sizeof(*keys), vals, sizeof(*vals), n);
	}
	free(keys);
	free(vals);
	return err;
}

/* The port table is written in place through its mmap: the classifier only
 * reads the active slot's half, so the other half is ours to overwrite. */
static void fill_ports(struct ms_dp *dp, uint32_t slot, const struct ms_compiled *c)
{
	memcpy(dp->port_table + (size_t)slot * MS_PORT_SLOT_ENTRIES, c->port_table,
	       MS_PORT_SLOT_ENTRIES * sizeof(uint32_t));
}

static int fill_decisions(struct ms_dp *dp, uint32_t slot, const struct ms_compiled *c)
{
	struct ms_decision_key *keys = decision_keys(slot, c);
	struct ms_decision *vals = calloc(c->n_dec ? c->n_dec : 1, sizeof(*vals));
	int err = -ENOMEM;

	if (keys && vals) {
		for (size_t i = 0; i < c->n_dec; i++)
			vals[i] = (struct ms_decision){ .rule_id = c->dec[i].rule_id,
							.rank = c->dec[i].rank,
							.action = c->dec[i].action };
		err = update_many(bpf_map__fd(dp->skel->maps.decisions), keys, sizeof(*keys), vals,
				  sizeof(*vals), c->n_dec);
	}
	free(keys);
	free(vals);
	return err;
}

static int zero_rule_hits(struct ms_dp *dp, uint32_t slot, uint32_t n_rules)
{
	uint32_t *idx = calloc(n_rules + 1, sizeof(*idx));
	uint64_t *zero = calloc(n_rules + 1, sizeof(*zero));
	int err = -ENOMEM;

	if (idx && zero) {
		for (uint32_t i = 0; i <= n_rules; i++)
			idx[i] = slot * (dp->limits.max_rules + 1) + i;
		err = update_many(bpf_map__fd(dp->skel->maps.rule_hits), idx, sizeof(*idx), zero,
				  sizeof(*zero), n_rules + 1);
	}
	free(idx);
	free(zero);
	return err;
}

int ms_dp_install(struct ms_dp *dp, struct ms_compiled **cp)
{
	struct ms_compiled *c = *cp;
	uint32_t slot = dp->active_slot ^ 1, zero = 0;
	struct ms_slot_info si = { .generation = dp->generation + 1,
				   .default_action = c->default_action,
				   .monitor = c->monitor,
				   .wildcards = c->wildcards };
	struct ms_config cfg = { .active_slot = slot };
	int err;

	if (c->n_rules > dp->limits.max_rules || c->n_src > dp->limits.max_addr_entries ||
	    c->n_dst > dp->limits.max_addr_entries || c->n_port != MS_PORT_SLOT_ENTRIES ||
	    c->n_dec > dp->limits.max_decision_entries) {
		log_error("compiled policy exceeds the data plane's table sizes");
		return -E2BIG;
	}
	/* The inactive slot still holds the policy before the current one. */
	if (dp->slot_policy[slot]) {
		slot_clear(dp, slot, dp->slot_policy[slot]);
		ms_compiled_free(&dp->slot_policy[slot]);
	}
	err = fill_addrs(bpf_map__fd(dp->skel->maps.src_class), slot, c->src, c->n_src);
	if (!err)
		err = fill_addrs(bpf_map__fd(dp->skel->maps.dst_class), slot, c->dst, c->n_dst);
	if (!err)
		fill_ports(dp, slot, c);
	if (!err)
		err = fill_decisions(dp, slot, c);
	if (!err)
		err = zero_rule_hits(dp, slot, c->n_rules);
	if (!err && bpf_map_update_elem(bpf_map__fd(dp->skel->maps.slot_info), &slot, &si, BPF_ANY))
		err = -errno;
	if (err) {
		log_error("cannot fill the policy maps: %s; the previous policy stays in force",
			  strerror(-err));
		slot_clear(dp, slot, c);
		return err;
	}
	/* The flip: one 32-bit store the classifier reads once per packet. */
	if (bpf_map_update_elem(bpf_map__fd(dp->skel->maps.ms_config), &zero, &cfg, BPF_ANY)) {
		err = -errno;
		log_error("cannot activate the new policy: %s", strerror(-err));
		slot_clear(dp, slot, c);
		return err;
	}
	dp->active_slot = slot;
	dp->generation = si.generation;
	dp->slot_policy[slot] = c;
	*cp = NULL;
	return 0;
}

uint64_t ms_dp_generation(const struct ms_dp *dp)
{
	return dp->generation;
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
	int fd = bpf_map__fd(dp->skel->maps.rule_hits);

	for (uint32_t i = 0; i < n; i++) {
		uint32_t idx = dp->active_slot * (dp->limits.max_rules + 1) + i;

		if (i > dp->limits.max_rules || bpf_map_lookup_elem(fd, &idx, &out[i]))
			return -EINVAL;
	}
	return 0;
}

int ms_dp_events_fd(const struct ms_dp *dp)
{
	return bpf_map__fd(dp->skel->maps.events);
}

int ms_dp_sessions_fd(const struct ms_dp *dp)
{
	return bpf_map__fd(dp->skel->maps.sessions);
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
