// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* A compiled policy into the data plane: the inactive slot filled, then the
 * flip (loader.h, ms_dp_install). */
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "clock.h"
#include "loader_int.h"
#include "log.h"
#include "microsegd.skel.h"

static void addr_key(struct ms_addr_key *k, uint32_t slot, const struct ms_addr_entry *e)
{
	memset(k, 0, sizeof(*k));
	k->prefixlen = MS_ADDR_KEY_FIXED_BITS + e->plen;
	k->slot = (uint8_t)slot;
	k->family = e->family;
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

/* Remove every address entry c put into slot; entries already gone are
 * fine. On allocation failure the entries stay: they are only ever read
 * under this slot number, and the next install overwrites what it needs.
 * The slot's decisions are not cleared: the next install replaces the
 * slot's whole decision map. */
static void slot_clear(struct ms_dp *dp, uint32_t slot, const struct ms_compiled *c)
{
	struct ms_addr_key *src = addr_keys(slot, c->src, c->n_src);
	struct ms_addr_key *dst = addr_keys(slot, c->dst, c->n_dst);

	if (src)
		delete_many(bpf_map__fd(dp->skel->maps.src_class), src, sizeof(*src), c->n_src);
	if (dst)
		delete_many(bpf_map__fd(dp->skel->maps.dst_class), dst, sizeof(*dst), c->n_dst);
	free(src);
	free(dst);
}

/*
 * Remove every entry of slot from a map whose keys carry the slot in the
 * byte at slot_off (slot_size bytes wide), found by walking the map: for
 * a slot filled by an earlier agent, whose policy this one never saw.
 */
static int wipe_map(int fd, size_t key_sz, size_t slot_off, size_t slot_size, uint32_t slot)
{
	char *keys = NULL, *cur = malloc(key_sz), *next = malloc(key_sz);
	size_t n = 0, cap = 0;
	bool first = true;
	int err = 0;

	if (!cur || !next) {
		err = -ENOMEM;
		goto out;
	}
	while (!bpf_map_get_next_key(fd, first ? NULL : cur, next)) {
		uint32_t ks = 0;

		memcpy(&ks, next + slot_off, slot_size);
		if (ks == slot) {
			if (n == cap) {
				size_t nc = cap ? 2 * cap : 64;
				char *nk = realloc(keys, nc * key_sz);

				if (!nk) {
					err = -ENOMEM;
					goto out;
				}
				keys = nk;
				cap = nc;
			}
			memcpy(keys + n * key_sz, next, key_sz);
			n++;
		}
		memcpy(cur, next, key_sz);
		first = false;
	}
	for (size_t i = 0; i < n; i++)
		if (bpf_map_delete_elem(fd, keys + i * key_sz) && errno != ENOENT) {
			err = -errno;
			break;
		}
out:
	free(keys);
	free(cur);
	free(next);
	return err;
}

static int slot_wipe(struct ms_dp *dp, uint32_t slot)
{
	int err = wipe_map(bpf_map__fd(dp->skel->maps.src_class), sizeof(struct ms_addr_key),
			   offsetof(struct ms_addr_key, slot), 1, slot);

	if (!err)
		err = wipe_map(bpf_map__fd(dp->skel->maps.dst_class), sizeof(struct ms_addr_key),
			       offsetof(struct ms_addr_key, slot), 1, slot);
	return err;
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

struct fill_job {
	int fd;
	const void *keys, *vals;
	size_t key_sz, val_sz, n;
	int err;
};

static void *fill_job_run(void *arg)
{
	struct fill_job *j = arg;

	j->err = update_many(j->fd, j->keys, j->key_sz, j->vals, j->val_sz, j->n);
	return NULL;
}

/* Below this many entries a second writer costs more than it saves. */
#define FILL_PARALLEL_MIN 65536

/*
 * n decisions into the preallocated map fd by two writers, half each: its
 * inserts take elements from per-CPU free lists and lock one bucket, so
 * they scale with writers (580k: 247 -> 121-145 ms with the other core
 * idle). A non-preallocated map did not: its writers contended in element
 * allocation. One writer when a thread cannot be made.
 */
static int fill_parallel(int fd, const struct ms_decision_key *keys, const struct ms_decision *vals,
			 size_t n)
{
	size_t half = n >= FILL_PARALLEL_MIN ? n / 2 : 0;
	struct fill_job j = { .fd = fd,
			      .keys = keys + half,
			      .vals = vals + half,
			      .key_sz = sizeof(*keys),
			      .val_sz = sizeof(*vals),
			      .n = n - half };
	pthread_t th;
	int err;

	if (!half || pthread_create(&th, NULL, fill_job_run, &j))
		return update_many(fd, keys, sizeof(*keys), vals, sizeof(*vals), n);
	err = update_many(fd, keys, sizeof(*keys), vals, sizeof(*vals), half);
	pthread_join(th, NULL);
	return err ? err : j.err;
}

/*
 * A new decision map for slot, created at the exact size of c and
 * preallocated (an insert then takes an element from the map's free list
 * instead of allocating one: half the cost), filled, and put into the
 * slot's entry of the decisions array, replacing the map of the policy
 * before the previous one, which the kernel frees whole.
 */
static int fill_decisions(struct ms_dp *dp, uint32_t slot, const struct ms_compiled *c)
{
	struct ms_decision_key *keys = decision_keys(slot, c);
	struct ms_decision *vals = calloc(c->n_dec ? c->n_dec : 1, sizeof(*vals));
	int err = -ENOMEM, fd = -1;

	if (!keys || !vals)
		goto out;
	fd = bpf_map_create(BPF_MAP_TYPE_HASH, "ms_decisions", sizeof(*keys), sizeof(*vals),
			    c->n_dec ? (uint32_t)c->n_dec : 1, NULL);
	if (fd < 0) {
		err = -errno;
		goto out;
	}
	for (size_t i = 0; i < c->n_dec; i++)
		vals[i] = (struct ms_decision){ .rule_id = c->dec[i].rule_id,
						.rank = c->dec[i].rank,
						.action = c->dec[i].action };
	err = fill_parallel(fd, keys, vals, c->n_dec);
	if (!err && bpf_map_update_elem(bpf_map__fd(dp->skel->maps.decisions), &slot, &fd, BPF_ANY))
		err = -errno;
out:
	if (fd >= 0)
		close(fd); /* the decisions array holds the map now */
	free(keys);
	free(vals);
	return err;
}

/* Through the mmap: the classifier only counts in the active slot. */
static void zero_rule_hits(struct ms_dp *dp, uint32_t slot, uint32_t n_rules)
{
	memset(dp->hits + (size_t)slot * (dp->limits.max_rules + 1), 0,
	       ((size_t)n_rules + 1) * sizeof(*dp->hits));
}

static double mono_ms(void)
{
	return (double)ms_mono_ns() / 1e6;
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
	double t[7];
	int err;

	t[0] = mono_ms();
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
	if (dp->slot_unknown[slot]) {
		err = slot_wipe(dp, slot);
		if (err) {
			log_error("cannot clear the adopted policy slot: %s; the previous policy "
				  "stays in force",
				  strerror(-err));
			return err;
		}
		dp->slot_unknown[slot] = false;
	}
	t[1] = mono_ms();
	err = fill_addrs(bpf_map__fd(dp->skel->maps.src_class), slot, c->src, c->n_src);
	if (!err)
		err = fill_addrs(bpf_map__fd(dp->skel->maps.dst_class), slot, c->dst, c->n_dst);
	t[2] = mono_ms();
	if (!err)
		fill_ports(dp, slot, c);
	t[3] = mono_ms();
	if (!err)
		err = fill_decisions(dp, slot, c);
	t[4] = mono_ms();
	if (!err)
		zero_rule_hits(dp, slot, c->n_rules);
	t[5] = mono_ms();
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
	t[6] = mono_ms();
	log_debug("policy install: clear %.1f ms, addresses %.1f ms (%zu + %zu), ports %.1f ms, "
		  "decisions %.1f ms (%zu), rule hits %.1f ms, flip %.1f ms",
		  t[1] - t[0], t[2] - t[1], c->n_src, c->n_dst, t[3] - t[2], t[4] - t[3], c->n_dec,
		  t[5] - t[4], t[6] - t[5]);
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
