// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* The interfaces the classifier is attached to, through the hook (hook.h),
 * recorded in the pinned state for the next agent and for --cleanup. */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "loader_int.h"
#include "log.h"

void dp_iface_detach(struct ms_dp *dp, struct ms_hook *h)
{
	uint32_t key = (uint32_t)h->ifindex;

	dp->hook->detach(h);
	bpf_map_delete_elem(dp_ifaces_fd(dp), &key);
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
	int fd = dp_ifaces_fd(dp);
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
		dp->hook->cleanup((int)keys[i], name, recs[i].flags & MS_IFACE_QDISC_OURS);
		bpf_map_delete_elem(fd, &keys[i]);
	}
	free(keys);
	free(recs);
}

int ms_dp_cleanup(const struct ms_dp_opts *o, const char *const *ifnames, size_t n)
{
	/* Nothing is loaded to say which hook: the one there is. */
	const struct ms_hook_ops *hook = &ms_hook_tc;
	struct ms_iface_rec *recs = NULL;
	uint32_t *keys = NULL;
	size_t n_rec = 0;
	char *dir = NULL;
	struct stat st;
	int fd, lock = -1, err = 0;

	libbpf_set_print(dp_libbpf_log);
	if (o->pin_dir && dp_on_bpffs(o->pin_dir) > 0 && !stat("/proc/self/ns/net", &st) &&
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
		fd = dp_pin_get(dir, "ms_ifaces");
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
		if (hook->cleanup(ifindex, ifnames[i], qdisc))
			log_info("%s: microsegd's filters removed%s", ifnames[i],
				 qdisc ? ", and its clsact qdisc" : "");
		else
			log_info("%s: nothing of microsegd attached", ifnames[i]);
	}
	for (size_t j = 0; j < n_rec; j++) {
		char name[IF_NAMESIZE + 16];

		if (!keys[j] || !if_indextoname(keys[j], name))
			continue;
		hook->cleanup((int)keys[j], name, recs[j].flags & MS_IFACE_QDISC_OURS);
		log_info("%s: microsegd's filters removed%s", name,
			 recs[j].flags & MS_IFACE_QDISC_OURS ? ", and its clsact qdisc" : "");
	}
	if (dir && !access(dir, F_OK)) {
		dp_pin_remove_all(dir, true);
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
	return dp->hook->prog_id(ms_dp_prog_fd(dp, dir));
}

int ms_dp_attach(struct ms_dp *dp, const char *ifname)
{
	const int prog_fd[2] = { ms_dp_prog_fd(dp, MS_DIR_INGRESS),
				 ms_dp_prog_fd(dp, MS_DIR_EGRESS) };
	int ifindex = (int)if_nametoindex(ifname);
	struct ms_iface_rec rec;
	uint32_t key = (uint32_t)ifindex;
	struct ms_hook *h, *nh;
	bool prev_ours;
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

	prev_ours = !bpf_map_lookup_elem(dp_ifaces_fd(dp), &key, &rec) &&
		    (rec.flags & MS_IFACE_QDISC_OURS);
	err = dp->hook->attach(h, prog_fd, prev_ours, dp->adopted);
	if (err) {
		bpf_map_delete_elem(dp_ifaces_fd(dp), &key);
		return err;
	}
	dp->n_hooks++;
	rec = (struct ms_iface_rec){ .flags = h->qdisc_created ? MS_IFACE_QDISC_OURS : 0 };
	if (bpf_map_update_elem(dp_ifaces_fd(dp), &key, &rec, BPF_ANY))
		log_warn("%s: cannot record the interface in the pinned state: %s", ifname,
			 strerror(errno));
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
		struct ms_hook *h = &dp->hooks[i];

		if (h->ifindex != ifindex)
			continue;
		/* Only while the index still names our interface: a deleted
		 * one took its filters along, and the index may be another's. */
		if (if_indextoname((unsigned int)ifindex, now) && !strcmp(now, h->name))
			dp_iface_detach(dp, h);
		else
			bpf_map_delete_elem(dp_ifaces_fd(dp), &key);
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
		struct ms_hook *h = &dp->hooks[i];

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
