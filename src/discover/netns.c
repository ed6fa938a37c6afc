// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/net_namespace.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "netns.h"
#include "nl.h"

struct link_ans {
	bool is_veth;
	int nsid;
};

static int on_link(const struct nlmsghdr *h, void *cls)
{
	struct link_ans *a = cls;
	const struct rtattr *tb[IFLA_MAX + 1], *info[IFLA_INFO_MAX + 1];

	if (h->nlmsg_type != RTM_NEWLINK)
		return 0;
	ms_nl_attrs(h, sizeof(struct ifinfomsg), tb, IFLA_MAX);
	if (tb[IFLA_LINK_NETNSID] && RTA_PAYLOAD(tb[IFLA_LINK_NETNSID]) >= sizeof(int32_t))
		memcpy(&a->nsid, RTA_DATA(tb[IFLA_LINK_NETNSID]), sizeof(int32_t));
	if (tb[IFLA_LINKINFO]) {
		const struct rtattr *x = RTA_DATA(tb[IFLA_LINKINFO]);
		int len = (int)RTA_PAYLOAD(tb[IFLA_LINKINFO]);

		memset(info, 0, sizeof(info));
		for (; RTA_OK(x, len); x = RTA_NEXT(x, len))
			if (x->rta_type <= IFLA_INFO_MAX)
				info[x->rta_type] = x;
		if (info[IFLA_INFO_KIND])
			a->is_veth = !strncmp(RTA_DATA(info[IFLA_INFO_KIND]), "veth",
					      RTA_PAYLOAD(info[IFLA_INFO_KIND]));
	}
	return 0;
}

int ms_link_peer_nsid(int rt, int ifindex, bool *is_veth, int *nsid)
{
	struct {
		struct nlmsghdr h;
		struct ifinfomsg i;
	} req = {
		.h = { .nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg)),
		       .nlmsg_type = RTM_GETLINK },
		.i = { .ifi_family = AF_UNSPEC, .ifi_index = ifindex },
	};
	struct link_ans a = { .nsid = -1 };
	int err = ms_nl_talk(rt, &req.h, on_link, &a);

	if (err)
		return err;
	*is_veth = a.is_veth;
	*nsid = a.is_veth ? a.nsid : -1;
	return 0;
}

static int on_nsid(const struct nlmsghdr *h, void *cls)
{
	const struct rtattr *tb[NETNSA_MAX + 1];

	if (h->nlmsg_type != RTM_NEWNSID)
		return 0;
	ms_nl_attrs(h, sizeof(struct rtgenmsg), tb, NETNSA_MAX);
	if (tb[NETNSA_NSID] && RTA_PAYLOAD(tb[NETNSA_NSID]) >= sizeof(int32_t))
		memcpy(cls, RTA_DATA(tb[NETNSA_NSID]), sizeof(int32_t));
	return 0;
}

/* The id this namespace gives the namespace open on fd; -1 if none. */
static int nsid_of_fd(int rt, int fd)
{
	struct {
		struct nlmsghdr h;
		struct rtgenmsg g;
		char attrs[64];
	} req = {
		.h = { .nlmsg_len = NLMSG_LENGTH(sizeof(struct rtgenmsg)),
		       .nlmsg_type = RTM_GETNSID },
		.g = { .rtgen_family = AF_UNSPEC },
	};
	uint32_t f = (uint32_t)fd;
	int32_t id = -1;

	if (ms_nl_put(&req.h, sizeof(req), NETNSA_FD, &f, sizeof(f)) ||
	    ms_nl_talk(rt, &req.h, on_nsid, &id))
		return -1;
	return id;
}

char *ms_name_sanitize(const char *s, char *buf, size_t len)
{
	size_t n = 0;

	if (!len)
		return NULL;
	for (; *s && n + 1 < len; s++)
		buf[n++] = isalnum((unsigned char)*s) || strchr("-_.", *s) ? *s : '-';
	buf[n] = '\0';
	return n ? buf : NULL;
}

static bool has_suffix(const char *s, size_t n, const char *suf)
{
	size_t k = strlen(suf);

	return n >= k && !memcmp(s + n - k, suf, k);
}

/* The next component of a cgroup path, from the innermost out: *end is
 * moved past it; false when none is left. */
static bool prev_component(const char *path, const char **end, const char **start, size_t *n)
{
	const char *e = *end, *b;

	while (e > path && e[-1] == '/')
		e--;
	if (e == path)
		return false;
	b = e;
	while (b > path && b[-1] != '/')
		b--;
	*start = b;
	*n = (size_t)(e - b);
	*end = b;
	return true;
}

char *ms_name_from_cgroup(const char *path, char *buf, size_t len)
{
	static const struct {
		const char *prefix, *name;
	} engines[] = { { "docker-", "docker-" },
			{ "libpod-", "podman-" },
			{ "crio-", "crio-" },
			{ "cri-containerd-", "containerd-" },
			{ "containerd-", "containerd-" } };
	const char *colon = strstr(path, "::"), *end, *c;
	char tmp[128];
	size_t n;

	if (colon)
		path = colon + 2;
	/* A container's scope anywhere on the path names it best, then the
	 * innermost unit, then the innermost group that is not a slice. */
	for (end = path + strlen(path); prev_component(path, &end, &c, &n);)
		for (size_t i = 0; i < sizeof(engines) / sizeof(engines[0]); i++) {
			size_t pl = strlen(engines[i].prefix);

			if (n > pl && !strncmp(c, engines[i].prefix, pl)) {
				/* docker-<64 hex>.scope: the short id, as docker ps shows it. */
				size_t id = n - pl - (has_suffix(c, n, ".scope") ? 6 : 0);

				snprintf(tmp, sizeof(tmp), "%s%.*s", engines[i].name,
					 (int)(id > 12 ? 12 : id), c + pl);
				return ms_name_sanitize(tmp, buf, len);
			}
		}
	for (end = path + strlen(path); prev_component(path, &end, &c, &n);)
		if (has_suffix(c, n, ".service") || has_suffix(c, n, ".scope")) {
			snprintf(tmp, sizeof(tmp), "%.*s", (int)n, c);
			return ms_name_sanitize(tmp, buf, len);
		}
	for (end = path + strlen(path); prev_component(path, &end, &c, &n);)
		if (!has_suffix(c, n, ".slice")) {
			snprintf(tmp, sizeof(tmp), "%.*s", (int)n, c);
			return ms_name_sanitize(tmp, buf, len);
		}
	return NULL;
}

static uint64_t inode_of(int fd)
{
	struct stat st;

	return fstat(fd, &st) ? 0 : (uint64_t)st.st_ino;
}

/* An fd on the namespace at path if this namespace gives it the id nsid,
 * else -ENOENT. */
static int open_if_nsid(int rt, const char *path, int nsid)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -ENOENT;
	if (nsid_of_fd(rt, fd) != nsid) {
		close(fd);
		return -ENOENT;
	}
	return fd;
}

/* The names of /run/netns and the ids this namespace gives them, as of
 * the last scan: a namespace keeps its id while it lives, so most lookups
 * take one open and one query, not a scan of every name. */
struct ms_netns_cache {
	struct named {
		char *name;
		int nsid;
	} * v;
	size_t n;
	bool fresh; /* scanned since the last ms_netns_cache_expire */
};

void ms_netns_cache_expire(struct ms_netns_cache *c)
{
	c->fresh = false;
}

static void cache_clear(struct ms_netns_cache *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->v[i].name);
	free(c->v);
	c->v = NULL;
	c->n = 0;
}

int ms_netns_cache_new(struct ms_netns_cache **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : -ENOMEM;
}

void ms_netns_cache_free(struct ms_netns_cache **c)
{
	if (!*c)
		return;
	cache_clear(*c);
	free(*c);
	*c = NULL;
}

static int cache_scan(int rt, struct ms_netns_cache *c)
{
	DIR *d = opendir(MS_NETNS_RUN_DIR);
	struct dirent *de;

	cache_clear(c);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		struct named *nv;
		int fd;

		if (de->d_name[0] == '.')
			continue;
		fd = openat(dirfd(d), de->d_name, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		nv = realloc(c->v, (c->n + 1) * sizeof(*nv));
		if (!nv || !(nv[c->n].name = strdup(de->d_name))) {
			if (nv)
				c->v = nv;
			close(fd);
			closedir(d);
			return -ENOMEM;
		}
		c->v = nv;
		c->v[c->n++].nsid = nsid_of_fd(rt, fd);
		close(fd);
	}
	closedir(d);
	return 0;
}

/* Open the named namespace with this id if the cache knows it and it still
 * has that id. */
static int open_cached(int rt, const struct ms_netns_cache *c, int nsid, struct ms_netns *ns)
{
	for (size_t i = 0; i < c->n; i++) {
		char path[512];
		int fd;

		if (c->v[i].nsid != nsid)
			continue;
		snprintf(path, sizeof(path), "%s/%s", MS_NETNS_RUN_DIR, c->v[i].name);
		fd = open_if_nsid(rt, path, nsid);
		if (fd < 0)
			return fd;
		ns->fd = fd;
		ns->inode = inode_of(fd);
		ns->name = strdup(c->v[i].name);
		ns->named = true;
		if (!ns->name) {
			close(fd);
			ns->fd = -1;
			return -ENOMEM;
		}
		return 0;
	}
	return -ENOENT;
}

static int find_named(int rt, struct ms_netns_cache *c, int nsid, struct ms_netns *ns)
{
	int err = open_cached(rt, c, nsid, ns);

	if (err != -ENOENT || c->fresh)
		return err;
	/* A name came or went, or an id was given since: scan again, once per
	 * round of lookups (an unnamed namespace always misses). */
	err = cache_scan(rt, c);
	c->fresh = true;
	return err ? err : open_cached(rt, c, nsid, ns);
}

/* The cgroup of pid, as a workload name. */
static char *name_of_pid(pid_t pid)
{
	char path[64], line[512], name[128];
	FILE *f;
	char *r = NULL;

	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return NULL;
	while (!r && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (!strncmp(line, "0::", 3) && ms_name_from_cgroup(line, name, sizeof(name)))
			r = strdup(name);
	}
	fclose(f);
	return r;
}

static int find_by_process(int rt, int nsid, struct ms_netns *ns)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	uint64_t *seen = NULL;
	size_t n_seen = 0;
	int err = -ENOENT;

	if (!d)
		return -errno;
	while ((de = readdir(d)) && err == -ENOENT) {
		char path[300];
		struct stat st;
		bool dup = false;
		int fd;

		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/ns/net", de->d_name);
		if (stat(path, &st))
			continue;
		/* One probe per namespace, however many processes share it. */
		for (size_t i = 0; i < n_seen && !dup; i++)
			dup = seen[i] == (uint64_t)st.st_ino;
		if (dup)
			continue;
		if (!(n_seen & (n_seen + 1))) {
			uint64_t *ns2 = realloc(seen, (n_seen + 1) * 2 * sizeof(*seen));

			if (!ns2) {
				err = -ENOMEM;
				break;
			}
			seen = ns2;
		}
		seen[n_seen++] = (uint64_t)st.st_ino;
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (nsid_of_fd(rt, fd) != nsid) {
			close(fd);
			continue;
		}
		ns->fd = fd;
		ns->inode = (uint64_t)st.st_ino;
		ns->pid = (pid_t)atoi(de->d_name);
		ns->name = name_of_pid(ns->pid);
		if (!ns->name &&
		    asprintf(&ns->name, "netns-%llu", (unsigned long long)ns->inode) < 0)
			ns->name = NULL;
		err = ns->name ? 0 : -ENOMEM;
		if (err)
			close(fd);
	}
	free(seen);
	closedir(d);
	return err;
}

/* The namespace of pid, if it is the one with this id. */
static int find_by_hint(int rt, int nsid, pid_t pid, struct ms_netns *ns)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
	fd = open_if_nsid(rt, path, nsid);
	if (fd < 0)
		return fd;
	ns->fd = fd;
	ns->inode = inode_of(fd);
	ns->pid = pid;
	ns->name = name_of_pid(pid);
	if (!ns->name && asprintf(&ns->name, "netns-%llu", (unsigned long long)ns->inode) < 0)
		ns->name = NULL;
	if (!ns->name) {
		close(fd);
		ns->fd = -1;
		return -ENOMEM;
	}
	return 0;
}

int ms_netns_find(int rt, struct ms_netns_cache *cache, int nsid, pid_t hint, struct ms_netns *ns)
{
	int err;

	memset(ns, 0, sizeof(*ns));
	ns->fd = -1;
	if (nsid < 0)
		return -ENOENT;
	err = find_named(rt, cache, nsid, ns);
	if (err == -ENOENT && hint > 0)
		err = find_by_hint(rt, nsid, hint, ns);
	if (err == -ENOENT)
		err = find_by_process(rt, nsid, ns);
	return err;
}

void ms_netns_clear(struct ms_netns *ns)
{
	if (ns->fd >= 0)
		close(ns->fd);
	free(ns->name);
	memset(ns, 0, sizeof(*ns));
	ns->fd = -1;
}
