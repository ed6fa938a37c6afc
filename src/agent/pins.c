// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* The data plane's state pinned under the pin directory: adopted, pinned,
 * removed (loader.h, ms_dp_open). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf_perm.h"
#include "loader_int.h"
#include "log.h"
#include "microsegd.skel.h"

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

static int pin_name(const char *dir, const char *name, char **out)
{
	if (asprintf(out, "%s/%s", dir, name) < 0) {
		*out = NULL;
		return -ENOMEM;
	}
	return 0;
}

int dp_pin_get(const char *dir, const char *name)
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

void dp_pin_remove_all(const char *dir, bool rmdirs)
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

int dp_on_bpffs(const char *path)
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
int dp_pin_prepare(struct ms_dp *dp, const char *base, bool given)
{
	char why[256] = "";
	struct stat st;
	bool compat = true;
	int r = dp_on_bpffs(base), err, meta_fd;

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

	meta_fd = dp_pin_get(dp->pin_path, "ms_meta");
	if (meta_fd == -ENOENT) {
		/* Nothing, or an unfinished state: start afresh. */
		dp_pin_remove_all(dp->pin_path, false);
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
		int fd = dp_pin_get(dp->pin_path, pin_maps[i].name);

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
		fd = dp_pin_get(dp->pin_path, pin_maps[i].name);
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

int dp_pin_finish(struct ms_dp *dp)
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
