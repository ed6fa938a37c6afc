// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <errno.h>
#include <fnmatch.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "links.h"
#include "log.h"
#include "nl.h"

struct ms_links {
	struct ms_dp *dp;
	const char *const *names;
	size_t n;
	int fd; /* -1: no glob, nothing to follow */
};

bool ms_links_is_glob(const char *name)
{
	return strpbrk(name, "*?[") != NULL;
}

static const char *matching_glob(const struct ms_links *l, const char *ifname)
{
	for (size_t i = 0; i < l->n; i++)
		if (ms_links_is_glob(l->names[i]) && !fnmatch(l->names[i], ifname, 0))
			return l->names[i];
	return NULL;
}

size_t ms_links_resolve(const char *const *names, size_t n, int *out, size_t max)
{
	struct ms_links l = { .names = names, .n = n };
	struct if_nameindex *all = if_nameindex();
	size_t k = 0;

	for (size_t i = 0; i < n && k < max; i++) {
		unsigned int x = ms_links_is_glob(names[i]) ? 0 : if_nametoindex(names[i]);

		if (x)
			out[k++] = (int)x;
	}
	for (struct if_nameindex *x = all; x && x->if_index && k < max; x++)
		if (matching_glob(&l, x->if_name))
			out[k++] = (int)x->if_index;
	if (all)
		if_freenameindex(all);
	return k;
}

struct names {
	char **v;
	size_t n, cap;
};

static int names_push(struct names *a, const char *name)
{
	if (a->n == a->cap) {
		size_t ncap = a->cap ? 2 * a->cap : 8;
		char **nv = realloc(a->v, ncap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		a->v = nv;
		a->cap = ncap;
	}
	a->v[a->n] = strdup(name);
	if (!a->v[a->n])
		return -ENOMEM;
	a->n++;
	return 0;
}

int ms_links_expand(const char *const *names, size_t n, char ***out, size_t *n_out)
{
	struct if_nameindex *all = if_nameindex();
	struct names a = { 0 };
	int err = 0;

	for (size_t i = 0; i < n && !err; i++) {
		bool any = false;

		if (!ms_links_is_glob(names[i])) {
			err = names_push(&a, names[i]);
			continue;
		}
		for (struct if_nameindex *x = all; x && x->if_index && !err; x++)
			if (!fnmatch(names[i], x->if_name, 0)) {
				any = true;
				err = names_push(&a, x->if_name);
			}
		if (!any && !err)
			log_info("no interface matches %s", names[i]);
	}
	if (all)
		if_freenameindex(all);
	if (err) {
		ms_links_expand_free(a.v, a.n);
		a.v = NULL;
		a.n = 0;
	}
	*out = a.v;
	*n_out = a.n;
	return err;
}

void ms_links_expand_free(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

int ms_links_new(struct ms_dp *dp, const char *const *names, size_t n, bool watch_addrs,
		 struct ms_links **out)
{
	struct ms_links *l = calloc(1, sizeof(*l));
	struct if_nameindex *all = NULL;
	bool globs = false;
	int err = 0;

	if (!l)
		return -ENOMEM;
	l->dp = dp;
	l->names = names;
	l->n = n;
	l->fd = -1;
	for (size_t i = 0; i < n; i++)
		globs |= ms_links_is_glob(names[i]);
	/* Follow links before listing them: one appearing in between is then
	 * seen by one or the other. */
	if (globs || watch_addrs) {
		unsigned int groups = RTMGRP_LINK;

		if (watch_addrs)
			groups |= RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR;
		l->fd = ms_nl_open(NETLINK_ROUTE, groups);
		if (l->fd < 0) {
			err = l->fd;
			log_error("cannot follow interface changes (netlink): %s", strerror(-err));
			goto fail;
		}
	}
	for (size_t i = 0; i < n && !err; i++)
		if (!ms_links_is_glob(names[i]))
			err = ms_dp_attach(dp, names[i]);
	if (err)
		goto fail;
	if (globs) {
		all = if_nameindex();
		if (!all) {
			err = -errno;
			goto fail;
		}
		for (struct if_nameindex *x = all; x->if_index && !err; x++)
			if (matching_glob(l, x->if_name))
				err = ms_dp_attach(dp, x->if_name);
		if_freenameindex(all);
		if (err)
			goto fail;
		for (size_t i = 0; i < n; i++)
			if (ms_links_is_glob(names[i]))
				log_info("interfaces matching '%s' are attached as they appear",
					 names[i]);
	}
	*out = l;
	return 0;
fail:
	ms_links_free(&l);
	return err;
}

void ms_links_free(struct ms_links **lp)
{
	struct ms_links *l = *lp;

	if (!l)
		return;
	if (l->fd >= 0)
		close(l->fd);
	free(l);
	*lp = NULL;
}

int ms_links_fd(const struct ms_links *l)
{
	return l ? l->fd : -1;
}

/* After lost events: attach what matches now, release what is gone. */
static void ms_links_rescan(struct ms_links *l)
{
	int ifx[MS_DP_MAX_IFACES];
	size_t n = ms_dp_ifindexes(l->dp, ifx, MS_DP_MAX_IFACES);
	struct if_nameindex *all;
	char name[IF_NAMESIZE];

	for (size_t i = 0; i < n; i++)
		if (!if_indextoname((unsigned int)ifx[i], name) && ms_dp_release(l->dp, ifx[i]))
			log_info("interface %d went away: released", ifx[i]);
	all = if_nameindex();
	for (struct if_nameindex *x = all; x && x->if_index; x++)
		if (!ms_dp_attached(l->dp, (int)x->if_index) && matching_glob(l, x->if_name))
			ms_dp_attach(l->dp, x->if_name);
	if (all)
		if_freenameindex(all);
}

static void on_link(struct ms_links *l, const struct nlmsghdr *h)
{
	const struct ifinfomsg *ifi = NLMSG_DATA(h);
	const struct rtattr *tb[IFLA_MAX + 1];
	char name[IF_NAMESIZE + 1] = "";
	const char *glob;

	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*ifi)))
		return;
	ms_nl_attrs(h, sizeof(*ifi), tb, IFLA_MAX);
	if (tb[IFLA_IFNAME]) {
		size_t len = RTA_PAYLOAD(tb[IFLA_IFNAME]);

		memcpy(name, RTA_DATA(tb[IFLA_IFNAME]), len < IF_NAMESIZE ? len : IF_NAMESIZE);
		name[IF_NAMESIZE] = '\0';
	}
	if (h->nlmsg_type == RTM_DELLINK) {
		/* Moved to another namespace or deleted: either way, gone here. */
		if (ms_dp_release(l->dp, ifi->ifi_index))
			log_info("%s went away: released", name[0] ? name : "an interface");
		return;
	}
	if (h->nlmsg_type != RTM_NEWLINK || !name[0] || ms_dp_attached(l->dp, ifi->ifi_index))
		return;
	glob = matching_glob(l, name);
	if (!glob)
		return;
	if (!ms_dp_attach(l->dp, name))
		log_info("%s matches '%s': attached", name, glob);
}

int ms_links_handle(struct ms_links *l)
{
	char buf[16384];
	int changed = 0;

	for (;;) {
		ssize_t n = recv(l->fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return changed;
			if (errno == ENOBUFS) {
				/* Events were lost: look at every link again. */
				log_warn("interface events were lost; listing interfaces again");
				ms_links_rescan(l);
				changed = 1;
				continue;
			}
			return -errno;
		}
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (unsigned int)n);
		     h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_type == RTM_NEWLINK || h->nlmsg_type == RTM_DELLINK)
				on_link(l, h);
			changed = 1;
		}
	}
}
