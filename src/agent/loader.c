// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <inttypes.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <net/if.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf_perm.h"
#include "clock.h"
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
	bool qdisc_inherited; /* created by the agent whose state we adopted */
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

/*
 * The maps that outlive the process. Required ones must all be compatible
 * for a state to be adopted; an optional one that is not is replaced alone
 * (events: a different --ringbuf-size). ms_meta goes last: it is pinned
 * last, so a state without it is unfinished. Counters are not pinned: the
 * stats count from the agent's start (README, "Stats").
 */
static const struct {
	const char *name;
	bool required;
} pin_maps[] = {
	{ "sessions", true },  { "embryos", true },    { "src_class", true },
	{ "dst_class", true }, { "port_class", true }, { "decisions", true },
	{ "slot_info", true }, { "ms_config", true },  { "rule_hits", true },
	{ "events", false },   { "frags", false },     { "ms_ifaces", false },
	{ "ms_meta", true },
};
#define N_PIN_MAPS (sizeof(pin_maps) / sizeof(pin_maps[0]))
_Static_assert(N_PIN_MAPS <= sizeof(((struct ms_dp *)0)->reused), "reused[] too small");

void ms_dp_opts_default(struct ms_dp_opts *o)
{
	o->session_max = MS_DEFAULT_SESSION_MAX;
	o->ringbuf_bytes = MS_DEFAULT_RINGBUF_BYTES;
	ms_limits_default(&o->limits);
	o->pin_dir = NULL; /* the agent names one; tests and benchmarks pin nothing */
	o->pin_dir_given = false;
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

static int pin_name(const char *dir, const char *name, char **out)
{
	if (asprintf(out, "%s/%s", dir, name) < 0) {
		*out = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* fd of the object pinned as dir/name, or -errno. */
static int pin_get(const char *dir, const char *name)
{
	char *path;
	int fd, err = pin_name(dir, name, &path);

	if (err)
		return err;
	fd = bpf_obj_get(path);
	if (fd < 0)
		fd = -errno;
	free(path);
	return fd;
}

static void pin_unlink(const char *dir, const char *name)
{
	char *path;

	if (pin_name(dir, name, &path))
		return;
	if (unlink(path) && errno != ENOENT)
		log_warn("cannot remove the pin %s: %s", path, strerror(errno));
	free(path);
}

/* Remove every pin of the state in dir, and dir (and its parent, if that is
 * left empty). */
static void pin_remove_all(const char *dir, bool rmdirs)
{
	DIR *dh = opendir(dir);
	struct dirent *de;
	char *parent;

	if (dh) {
		while ((de = readdir(dh)))
			if (de->d_name[0] != '.')
				pin_unlink(dir, de->d_name);
		closedir(dh);
	}
	if (!rmdirs)
		return;
	if (rmdir(dir) && errno != ENOENT)
		log_warn("cannot remove %s: %s", dir, strerror(errno));
	parent = strdup(dir);
	if (parent && strrchr(parent, '/')) {
		*strrchr(parent, '/') = '\0';
		rmdir(parent); /* fails, as it should, while other namespaces use it */
	}
	free(parent);
}

/* Is path (or, if it does not exist yet, its parent) on a bpffs? 1 yes, 0
 * no, -errno when neither can be examined. */
static int on_bpffs(const char *path)
{
	struct statfs st;
	char *parent, *slash;
	int r;

	if (!statfs(path, &st))
		return st.f_type == BPF_FS_MAGIC;
	if (errno != ENOENT)
		return -errno;
	parent = strdup(path);
	if (!parent)
		return -ENOMEM;
	slash = strrchr(parent, '/');
	if (slash && slash != parent)
		*slash = '\0';
	r = statfs(parent, &st) ? -errno : st.f_type == BPF_FS_MAGIC;
	free(parent);
	return r;
}

static uint64_t netns_cookie(void)
{
	uint64_t cookie = 0;
	socklen_t len = sizeof(cookie);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return 0;
#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif
	if (getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len))
		cookie = 0;
	close(fd);
	return cookie;
}

/* Is the pinned map fd what m would be? Sets why when it is not. */
static bool map_compat(int fd, const struct bpf_map *m, char *why, size_t len)
{
	struct bpf_map_info info;
	__u32 ilen = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &ilen)) {
		snprintf(why, len, "map %s: %s", bpf_map__name(m), strerror(errno));
		return false;
	}
	if (info.type != bpf_map__type(m) || info.key_size != bpf_map__key_size(m) ||
	    info.value_size != bpf_map__value_size(m) ||
	    info.max_entries != bpf_map__max_entries(m) ||
	    info.map_flags != bpf_map__map_flags(m)) {
		snprintf(why, len,
			 "map %s: type %u, key %u, value %u, %u entries, flags %#x where "
			 "this agent needs %u, %u, %u, %u, %#x",
			 bpf_map__name(m), info.type, info.key_size, info.value_size,
			 info.max_entries, info.map_flags, bpf_map__type(m), bpf_map__key_size(m),
			 bpf_map__value_size(m), bpf_map__max_entries(m), bpf_map__map_flags(m));
		return false;
	}
	return true;
}

static struct bpf_map *pin_map(const struct ms_dp *dp, size_t i)
{
	return bpf_object__find_map_by_name(dp->skel->obj, pin_maps[i].name);
}

/* A pinned meta record this agent can trust? Sets why when not. */
static bool meta_ok(int fd, char *why, size_t len)
{
	struct ms_pin_meta m;
	uint32_t zero = 0;
	uint64_t cookie = netns_cookie();

	if (bpf_map_lookup_elem(fd, &zero, &m)) {
		snprintf(why, len, "ms_meta unreadable: %s", strerror(errno));
		return false;
	}
	if (m.magic != MS_PIN_MAGIC) {
		snprintf(why, len, "not a microsegd state (magic %#x)", m.magic);
		return false;
	}
	if (m.abi_version != MS_PIN_ABI_VERSION) {
		snprintf(why, len, "state ABI version %u, this agent's is %u", m.abi_version,
			 MS_PIN_ABI_VERSION);
		return false;
	}
	if (m.session_key_size != sizeof(struct ms_session_key) ||
	    m.session_size != sizeof(struct ms_session)) {
		snprintf(why, len, "session layout %u/%u bytes, this agent's is %zu/%zu",
			 m.session_key_size, m.session_size, sizeof(struct ms_session_key),
			 sizeof(struct ms_session));
		return false;
	}
	if (m.netns_cookie && cookie && m.netns_cookie != cookie) {
		snprintf(why, len, "left by a network namespace that no longer exists");
		return false;
	}
	return true;
}

/*
 * Before load: find the pin directory, lock it, and hand the compatible
 * pinned maps to the skeleton (bpf_map__reuse_fd) so the new programs load
 * against them.
 */
static int pin_prepare(struct ms_dp *dp, const char *base, bool given)
{
	char why[256] = "";
	struct stat st;
	bool compat = true;
	int r = on_bpffs(base), err, meta_fd;

	if (r <= 0) {
		if (given) {
			log_error("--pin-dir %s is not on a bpffs (mount -t bpf bpf DIR)", base);
			return r < 0 ? r : -EINVAL;
		}
		log_warn("no bpffs at %s (as under `ip netns exec`): sessions will not survive a "
			 "restart of the agent; mount one or choose one with --pin-dir",
			 base);
		return 0;
	}
	if (stat("/proc/self/ns/net", &st)) {
		err = -errno;
		log_error("cannot identify the network namespace: %s", strerror(-err));
		return err;
	}
	if (mkdir(base, 0700) && errno != EEXIST) {
		err = -errno;
		log_error("cannot create %s: %s", base, strerror(-err));
		return err;
	}
	if (asprintf(&dp->pin_path, "%s/netns-%lu", base, (unsigned long)st.st_ino) < 0) {
		dp->pin_path = NULL;
		return -ENOMEM;
	}
	if (mkdir(dp->pin_path, 0700)) {
		if (errno != EEXIST) {
			err = -errno;
			log_error("cannot create %s: %s", dp->pin_path, strerror(-err));
			return err;
		}
	} else {
		dp->fresh_pins = true;
	}
	dp->lock_fd = open(dp->pin_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dp->lock_fd < 0 || flock(dp->lock_fd, LOCK_EX | LOCK_NB)) {
		err = -errno;
		if (err == -EWOULDBLOCK) {
			log_error("another microsegd is running in this network namespace (its "
				  "state %s is locked)",
				  dp->pin_path);
			return -EBUSY;
		}
		log_error("cannot lock %s: %s", dp->pin_path, strerror(-err));
		return err;
	}

	meta_fd = pin_get(dp->pin_path, "ms_meta");
	if (meta_fd == -ENOENT) {
		/* Nothing, or an unfinished state: start afresh. */
		pin_remove_all(dp->pin_path, false);
		dp->fresh_pins = true;
		return 0;
	}
	if (meta_fd == -EPERM) {
		/* Not the state's fault: this agent may not use bpf() at all. */
		ms_bpf_log_eperm("read the pinned state");
		return -EPERM;
	}
	if (meta_fd < 0) {
		snprintf(why, sizeof(why), "ms_meta: %s", strerror(-meta_fd));
		compat = false;
	} else {
		compat = meta_ok(meta_fd, why, sizeof(why));
		close(meta_fd);
	}
	for (size_t i = 0; compat && i < N_PIN_MAPS; i++) {
		int fd = pin_get(dp->pin_path, pin_maps[i].name);

		if (fd < 0 && pin_maps[i].required) {
			snprintf(why, sizeof(why), "map %s: %s", pin_maps[i].name, strerror(-fd));
			compat = false;
		} else if (fd >= 0) {
			char owhy[256];

			if (!map_compat(fd, pin_map(dp, i), owhy, sizeof(owhy)) &&
			    pin_maps[i].required) {
				snprintf(why, sizeof(why), "%s", owhy);
				compat = false;
			}
		}
		if (fd >= 0)
			close(fd);
	}
	for (size_t i = 0; i < N_PIN_MAPS; i++) {
		struct bpf_map *m = pin_map(dp, i);
		int fd;
		char owhy[256];

		/* Even from an incompatible state, the interface records say
		 * which qdiscs microsegd created, if their layout is ours. */
		if (!compat && strcmp(pin_maps[i].name, "ms_ifaces"))
			continue;
		fd = pin_get(dp->pin_path, pin_maps[i].name);
		if (fd < 0)
			continue;
		if (!map_compat(fd, m, owhy, sizeof(owhy))) {
			log_warn("%s: pinned %s does not fit (%s): replacing it", dp->pin_path,
				 pin_maps[i].name, owhy);
			close(fd);
			pin_unlink(dp->pin_path, pin_maps[i].name);
			continue;
		}
		err = bpf_map__reuse_fd(m, fd);
		close(fd);
		if (err) {
			log_error("cannot reuse the pinned map %s: %s", pin_maps[i].name,
				  strerror(-err));
			return err;
		}
		dp->reused[i] = true;
	}
	if (!compat) {
		log_warn("%s: the pinned state is incompatible (%s): replacing it; the sessions "
			 "of the previous agent are not carried over",
			 dp->pin_path, why);
		for (size_t i = 0; i < N_PIN_MAPS; i++)
			if (!dp->reused[i])
				pin_unlink(dp->pin_path, pin_maps[i].name);
		return 0;
	}
	dp->adopted = true;
	return 0;
}

/* After load: pin what is new; for an adopted state, take over its slots. */
static int pin_finish(struct ms_dp *dp)
{
	size_t meta = N_PIN_MAPS - 1;
	uint32_t zero = 0;
	int err;

	for (size_t i = 0; i < N_PIN_MAPS; i++) {
		char *path;

		if (dp->reused[i] || i == meta)
			continue;
		err = pin_name(dp->pin_path, pin_maps[i].name, &path);
		if (!err && bpf_obj_pin(bpf_map__fd(pin_map(dp, i)), path))
			err = -errno;
		if (err) {
			log_error("cannot pin %s: %s", path ? path : pin_maps[i].name,
				  strerror(-err));
			free(path);
			return err;
		}
		free(path);
	}
	if (!dp->reused[meta]) {
		struct ms_pin_meta m = { .magic = MS_PIN_MAGIC,
					 .abi_version = MS_PIN_ABI_VERSION,
					 .netns_cookie = netns_cookie(),
					 .session_key_size = sizeof(struct ms_session_key),
					 .session_size = sizeof(struct ms_session) };
		struct timespec ts;
		char *path = NULL;
		int fd = bpf_map__fd(pin_map(dp, meta));

		clock_gettime(CLOCK_REALTIME, &ts);
		m.created_ns = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
		err = bpf_map_update_elem(fd, &zero, &m, BPF_ANY) ? -errno : 0;
		if (!err)
			err = pin_name(dp->pin_path, "ms_meta", &path);
		if (!err && bpf_obj_pin(fd, path))
			err = -errno;
		free(path);
		if (err) {
			log_error("cannot pin the state's meta record: %s", strerror(-err));
			return err;
		}
		dp->state_id = m.created_ns;
		log_info("state pinned in %s", dp->pin_path);
		return 0;
	}
	if (dp->adopted) {
		struct ms_config cfg = { 0 };
		struct ms_slot_info si = { 0 };
		struct ms_pin_meta m = { 0 };

		if (!bpf_map_lookup_elem(bpf_map__fd(pin_map(dp, meta)), &zero, &m))
			dp->state_id = m.created_ns;

		if (!bpf_map_lookup_elem(bpf_map__fd(dp->skel->maps.ms_config), &zero, &cfg))
			dp->active_slot = cfg.active_slot & 1;
		if (!bpf_map_lookup_elem(bpf_map__fd(dp->skel->maps.slot_info), &dp->active_slot,
					 &si))
			dp->generation = si.generation;
		dp->slot_unknown[0] = dp->slot_unknown[1] = true;
		log_info("adopted the state pinned in %s: policy generation %" PRIu64
			 ", the next policy replaces it",
			 dp->pin_path, dp->generation);
	}
	return 0;
}

/*
 * The classifier reads CONFIG_HZ (now_ns() in bpf/microsegd.bpf.c). libbpf
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
	dp->lock_fd = -1;
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
		err = pin_prepare(dp, o->pin_dir, o->pin_dir_given);
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
		err = pin_finish(dp);
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
		pin_remove_all(dp->pin_path, true);
	if (dp->lock_fd >= 0)
		close(dp->lock_fd);
	free(dp->pin_path);
	free(dp);
	return err;
}

/* Remove our filters (both directions) from ifindex, and the clsact qdisc
 * when qdisc says it is ours. Missing ones are fine. Returns how many of
 * the three were there and removed. */
static int tc_remove(int ifindex, const char *name, bool qdisc)
{
	static const enum bpf_tc_attach_point ap[2] = { BPF_TC_INGRESS, BPF_TC_EGRESS };
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

static void detach_hook(struct ms_dp *dp, struct hook *h)
{
	static const enum bpf_tc_attach_point ap[2] = { BPF_TC_INGRESS, BPF_TC_EGRESS };
	uint32_t key = (uint32_t)h->ifindex;

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
		tc_remove(h->ifindex, h->name, true);
		h->qdisc_created = false;
	}
	bpf_map_delete_elem(bpf_map__fd(dp->skel->maps.ms_ifaces), &key);
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
		detach_hook(dp, &dp->hooks[i]);
	/* Interfaces an adopted state still names are ours to clean too. */
	ms_dp_detach_stale(dp);
	if (dp->pin_path)
		pin_remove_all(dp->pin_path, true);
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

/* Every ifindex recorded in the ms_ifaces map fd, and its record. */
static int iface_records(int fd, uint32_t **keys, struct ms_iface_rec **recs, size_t *n)
{
	uint32_t key, next, *k = NULL;
	struct ms_iface_rec *r = NULL;
	size_t cnt = 0, cap = 0;
	void *prev = NULL;

	while (!bpf_map_get_next_key(fd, prev, &next)) {
		if (cnt == cap) {
			size_t nc = cap ? 2 * cap : 16;
			uint32_t *nk = realloc(k, nc * sizeof(*nk));
			struct ms_iface_rec *nr;

			if (!nk)
				goto nomem;
			k = nk;
			nr = realloc(r, nc * sizeof(*nr));
			if (!nr)
				goto nomem;
			r = nr;
			cap = nc;
		}
		k[cnt] = next;
		if (bpf_map_lookup_elem(fd, &next, &r[cnt]))
			memset(&r[cnt], 0, sizeof(r[cnt]));
		cnt++;
		key = next;
		prev = &key;
	}
	*keys = k;
	*recs = r;
	*n = cnt;
	return 0;
nomem:
	free(k);
	free(r);
	return -ENOMEM;
}

void ms_dp_detach_stale(struct ms_dp *dp)
{
	int fd = bpf_map__fd(dp->skel->maps.ms_ifaces);
	struct ms_iface_rec *recs;
	uint32_t *keys;
	size_t n;

	if (iface_records(fd, &keys, &recs, &n))
		return;
	for (size_t i = 0; i < n; i++) {
		char name[IF_NAMESIZE + 16];
		bool ours = false;

		for (size_t j = 0; j < dp->n_hooks; j++)
			ours |= (uint32_t)dp->hooks[j].ifindex == keys[i];
		if (ours)
			continue;
		if (!if_indextoname(keys[i], name))
			snprintf(name, sizeof(name), "if%u", keys[i]);
		log_info("%s: detaching the previous agent's classifier (not in --interface)",
			 name);
		tc_remove((int)keys[i], name, recs[i].flags & MS_IFACE_QDISC_OURS);
		bpf_map_delete_elem(fd, &keys[i]);
	}
	free(keys);
	free(recs);
}

int ms_dp_cleanup(const struct ms_dp_opts *o, const char *const *ifnames, size_t n)
{
	struct ms_iface_rec *recs = NULL;
	uint32_t *keys = NULL;
	size_t n_rec = 0;
	char *dir = NULL;
	struct stat st;
	int fd, lock = -1, err = 0;

	libbpf_set_print(libbpf_log);
	if (o->pin_dir && on_bpffs(o->pin_dir) > 0 && !stat("/proc/self/ns/net", &st) &&
	    asprintf(&dir, "%s/netns-%lu", o->pin_dir, (unsigned long)st.st_ino) < 0)
		dir = NULL;
	if (dir) {
		lock = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (lock >= 0 && flock(lock, LOCK_EX | LOCK_NB) && errno == EWOULDBLOCK) {
			log_error("a microsegd is running in this network namespace (%s is "
				  "locked): stop it first",
				  dir);
			err = -EBUSY;
			goto out;
		}
		fd = pin_get(dir, "ms_ifaces");
		if (fd >= 0) {
			err = iface_records(fd, &keys, &recs, &n_rec);
			close(fd);
			if (err)
				goto out;
		}
	}
	for (size_t i = 0; i < n; i++) {
		int ifindex = (int)if_nametoindex(ifnames[i]);
		bool qdisc = false;

		if (!ifindex) {
			log_error("no such interface: %s", ifnames[i]);
			err = -ENODEV;
			continue;
		}
		for (size_t j = 0; j < n_rec; j++)
			if (keys[j] == (uint32_t)ifindex) {
				qdisc = recs[j].flags & MS_IFACE_QDISC_OURS;
				keys[j] = 0; /* done */
			}
		if (tc_remove(ifindex, ifnames[i], qdisc))
			log_info("%s: microsegd's filters removed%s", ifnames[i],
				 qdisc ? ", and its clsact qdisc" : "");
		else
			log_info("%s: nothing of microsegd attached", ifnames[i]);
	}
	for (size_t j = 0; j < n_rec; j++) {
		char name[IF_NAMESIZE + 16];

		if (!keys[j] || !if_indextoname(keys[j], name))
			continue;
		tc_remove((int)keys[j], name, recs[j].flags & MS_IFACE_QDISC_OURS);
		log_info("%s: microsegd's filters removed%s", name,
			 recs[j].flags & MS_IFACE_QDISC_OURS ? ", and its clsact qdisc" : "");
	}
	if (dir && !access(dir, F_OK)) {
		pin_remove_all(dir, true);
		log_info("pinned state %s removed", dir);
	}
out:
	if (lock >= 0)
		close(lock);
	free(keys);
	free(recs);
	free(dir);
	return err;
}

uint32_t ms_dp_prog_id(const struct ms_dp *dp, int dir)
{
	struct bpf_prog_info info;
	__u32 len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(ms_dp_prog_fd(dp, dir), &info, &len))
		return 0;
	return info.id;
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
	} else if (err == -EEXIST) {
		struct ms_iface_rec rec;
		uint32_t key = (uint32_t)ifindex;

		/* An earlier agent's qdisc is ours to remove, as it would have. */
		if (!bpf_map_lookup_elem(bpf_map__fd(dp->skel->maps.ms_ifaces), &key, &rec))
			h->qdisc_created = h->qdisc_inherited = rec.flags & MS_IFACE_QDISC_OURS;
	} else {
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
			/* In place, on the same handle and priority: there is
			 * never a moment without a filter. */
			if (dp->adopted)
				log_info("%s: replacing the previous agent's %s filter in place",
					 ifname, d ? "egress" : "ingress");
			else
				log_warn("%s: replacing a %s filter left by an earlier microsegd",
					 ifname, d ? "egress" : "ingress");
			opts.flags = BPF_TC_F_REPLACE;
			opts.prog_id = 0;
			err = bpf_tc_attach(&hook, &opts);
		}
		if (err) {
			log_error("%s: cannot attach the %s classifier: %s", ifname,
				  d ? "egress" : "ingress", strerror(-err));
			detach_hook(dp, h);
			dp->n_hooks--;
			return err;
		}
		h->attached[d] = true;
	}
	{
		struct ms_iface_rec rec = { .flags = h->qdisc_created ? MS_IFACE_QDISC_OURS : 0 };
		uint32_t key = (uint32_t)ifindex;

		if (bpf_map_update_elem(bpf_map__fd(dp->skel->maps.ms_ifaces), &key, &rec, BPF_ANY))
			log_warn("%s: cannot record the interface in the pinned state: %s", ifname,
				 strerror(errno));
	}
	log_info("attached to %s (ifindex %d, ingress and egress%s)", ifname, ifindex,
		 h->qdisc_inherited ? ", clsact of the previous agent"
		 : h->qdisc_created ? ", clsact created"
				    : "");
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
	uint32_t key = (uint32_t)ifindex;

	for (size_t i = 0; i < dp->n_hooks; i++) {
		struct hook *h = &dp->hooks[i];

		if (h->ifindex != ifindex)
			continue;
		/* Only while the index still names our interface: a deleted
		 * one took its filters along, and the index may be another's. */
		if (if_indextoname((unsigned int)ifindex, now) && !strcmp(now, h->name))
			detach_hook(dp, h);
		else
			bpf_map_delete_elem(bpf_map__fd(dp->skel->maps.ms_ifaces), &key);
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

void ms_dp_check_links(struct ms_dp *dp)
{
	char name[IF_NAMESIZE];

	for (size_t i = 0; i < dp->n_hooks;) {
		struct hook *h = &dp->hooks[i];

		if (if_indextoname((unsigned int)h->ifindex, name) || errno != ENXIO) {
			i++;
			continue;
		}
		/* Its filters and qdisc went with it. */
		log_warn("%s: the interface is gone (ifindex %d); still enforcing on the others",
			 h->name, h->ifindex);
		ms_dp_release(dp, h->ifindex); /* takes hooks[i] out */
	}
}

bool ms_dp_ifname_attached(const struct ms_dp *dp, uint32_t ifindex, const char **name)
{
	for (size_t i = 0; i < dp->n_hooks; i++)
		if ((uint32_t)dp->hooks[i].ifindex == ifindex) {
			*name = dp->hooks[i].name;
			return true;
		}
	return false;
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
