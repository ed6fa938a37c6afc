// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "discovery.h"
#include "log.h"
#include "netns.h"
#include "nl.h"
#include "scan.h"

/* A namespace seen behind a veth. Nothing of it is held open between
 * refreshes: an open namespace outlives its processes and keeps its veths,
 * so a container that stops would never go away. */
struct known_ns {
	uint64_t inode;
	int nsid;
	pid_t pid;   /* a process in it, where it has no /run/netns name */
	bool used;   /* behind an attached interface this refresh */
	bool warned; /* its scan failed, and was reported */
	char *name;  /* for the message when it goes */
};

struct ms_discovery {
	int rt; /* NETLINK_ROUTE, this namespace */
	struct ms_netns_cache *names;
	struct known_ns *known;
	size_t n_known;
	struct ms_discovered *inv;
	size_t n_inv;
};

int ms_discovery_new(struct ms_discovery **out)
{
	struct ms_discovery *ds = calloc(1, sizeof(*ds));

	if (!ds)
		return -ENOMEM;
	ds->rt = ms_nl_open(NETLINK_ROUTE, 0);
	if (ds->rt < 0) {
		int err = ds->rt;

		free(ds);
		return err;
	}
	if (ms_netns_cache_new(&ds->names)) {
		close(ds->rt);
		free(ds);
		return -ENOMEM;
	}
	*out = ds;
	return 0;
}

static void inv_free(struct ms_discovered *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		ms_discovered_clear(&v[i]);
	free(v);
}

void ms_discovery_free(struct ms_discovery **dsp)
{
	struct ms_discovery *ds = *dsp;

	if (!ds)
		return;
	for (size_t i = 0; i < ds->n_known; i++)
		free(ds->known[i].name);
	free(ds->known);
	inv_free(ds->inv, ds->n_inv);
	ms_netns_cache_free(&ds->names);
	close(ds->rt);
	free(ds);
	*dsp = NULL;
}

const struct ms_discovered *ms_discovery_inventory(const struct ms_discovery *ds, size_t *n)
{
	*n = ds->n_inv;
	return ds->inv;
}

static int cmp_cidr(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct ms_cidr));
}

static int cmp_disc(const void *a, const void *b)
{
	return strcmp(((const struct ms_discovered *)a)->name,
		      ((const struct ms_discovered *)b)->name);
}

static bool str_eq(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

bool ms_discovered_equal(const struct ms_discovered *a, size_t na, const struct ms_discovered *b,
			 size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++) {
		const struct ms_discovered *x = &a[i], *y = &b[i];

		if (!str_eq(x->name, y->name) || !str_eq(x->netns, y->netns) ||
		    x->n_addrs != y->n_addrs || x->n_listeners != y->n_listeners ||
		    (x->n_addrs && memcmp(x->addrs, y->addrs, x->n_addrs * sizeof(*x->addrs))))
			return false;
		for (size_t j = 0; j < x->n_listeners; j++)
			if (x->listeners[j].proto != y->listeners[j].proto ||
			    x->listeners[j].port != y->listeners[j].port ||
			    !str_eq(x->listeners[j].comm, y->listeners[j].comm))
				return false;
	}
	return true;
}

static struct known_ns *known_by_inode(struct ms_discovery *ds, uint64_t inode)
{
	for (size_t i = 0; i < ds->n_known; i++)
		if (ds->known[i].inode == inode)
			return &ds->known[i];
	return NULL;
}

/* Open the namespace with this id, its name made a workload name. */
static int open_ns(struct ms_discovery *ds, int nsid, pid_t hint, struct ms_netns *ns)
{
	char buf[128];
	int err = ms_netns_find(ds->rt, ds->names, nsid, hint, ns);

	if (err)
		return err;
	/* A /run/netns name may hold anything; a workload name may not. */
	if (!ms_name_sanitize(ns->name, buf, sizeof(buf))) {
		ms_netns_clear(ns);
		return -EINVAL;
	}
	if (strcmp(buf, ns->name)) {
		char *n = strdup(buf);

		if (!n) {
			ms_netns_clear(ns);
			return -ENOMEM;
		}
		free(ns->name);
		ns->name = n;
	}
	return 0;
}

/* Remember ns as seen this refresh; NULL when out of memory. */
static struct known_ns *remember(struct ms_discovery *ds, const struct ms_netns *ns, int nsid)
{
	struct known_ns *k = known_by_inode(ds, ns->inode), *nk;

	if (!k) {
		nk = realloc(ds->known, (ds->n_known + 1) * sizeof(*nk));
		if (!nk)
			return NULL;
		ds->known = nk;
		k = &ds->known[ds->n_known];
		memset(k, 0, sizeof(*k));
		k->inode = ns->inode;
		k->name = strdup(ns->name);
		if (!k->name)
			return NULL;
		ds->n_known++;
	}
	k->pid = ns->pid;
	k->nsid = nsid;
	return k;
}

/* Forget namespaces no attached interface leads to any more: their
 * workloads go with them. */
static void prune_known(struct ms_discovery *ds)
{
	size_t w = 0;

	for (size_t i = 0; i < ds->n_known; i++) {
		if (!ds->known[i].used) {
			log_info(
				"discovery: namespace %s is no longer behind an attached interface",
				ds->known[i].name);
			free(ds->known[i].name);
			continue;
		}
		ds->known[w++] = ds->known[i];
	}
	ds->n_known = w;
}

/* A process of the namespace last seen with this id, or 0. */
static pid_t hint_for(const struct ms_discovery *ds, int nsid)
{
	for (size_t i = 0; i < ds->n_known; i++)
		if (ds->known[i].nsid == nsid)
			return ds->known[i].pid;
	return 0;
}

/* What the last refresh found of the workload of this name. */
static const struct ms_discovered *previous(const struct ms_discovery *ds, const char *name)
{
	for (size_t i = 0; i < ds->n_inv; i++)
		if (!strcmp(ds->inv[i].name, name))
			return &ds->inv[i];
	return NULL;
}

/* This host itself, in the agent's namespace: its addresses and its own
 * listening processes, named by its host name. */
static int scan_host(struct ms_discovery *ds, struct ms_discovered *out)
{
	struct ms_netns ns = { .fd = -1 };
	char host[256] = "", name[128];
	struct stat st;
	int err;

	if (gethostname(host, sizeof(host) - 1) || !ms_name_sanitize(host, name, sizeof(name)))
		snprintf(name, sizeof(name), "host");
	ns.fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (ns.fd < 0)
		return -errno;
	ns.inode = fstat(ns.fd, &st) ? 0 : (uint64_t)st.st_ino;
	ns.name = strdup(name);
	if (!ns.name) {
		close(ns.fd);
		return -ENOMEM;
	}
	err = ms_scan_netns(&ns, previous(ds, ns.name), out);
	ms_netns_clear(&ns);
	return err;
}

int ms_discovery_refresh(struct ms_discovery *ds, const int *ifindex, size_t n)
{
	struct ms_discovered *inv = calloc(n + 1, sizeof(*inv));
	size_t n_inv = 0;
	int err = 0;

	if (!inv)
		return -ENOMEM;
	for (size_t i = 0; i < ds->n_known; i++)
		ds->known[i].used = false;
	ms_netns_cache_expire(ds->names);
	for (size_t i = 0; i < n && !err; i++) {
		struct known_ns *k;
		bool veth;
		int nsid;

		if (ms_link_peer_nsid(ds->rt, ifindex[i], &veth, &nsid) || !veth || nsid < 0)
			continue; /* gone, not a veth, or its peer is here */
		{
			struct ms_netns ns;

			/* Unnamed: the process that led to it last time is tried
			 * before a walk of /proc. */
			err = open_ns(ds, nsid, hint_for(ds, nsid), &ns);
			if (err == -ENOMEM)
				break;
			if (err) {
				err = 0;
				continue;
			}
			k = remember(ds, &ns, nsid);
			if (!k) {
				ms_netns_clear(&ns);
				err = -ENOMEM;
				break;
			}
			/* Two veths into one namespace: one workload. */
			if (k->used) {
				ms_netns_clear(&ns);
				continue;
			}
			k->used = true;
			err = ms_scan_netns(&ns, previous(ds, ns.name), &inv[n_inv]);
			ms_netns_clear(&ns);
		}
		if (err == -ENOMEM)
			break;
		if (err) {
			if (!k->warned)
				log_warn("discovery: cannot look into namespace %s: %s%s", k->name,
					 strerror(-err),
					 err == -EPERM
						 ? " (entering a namespace needs CAP_SYS_ADMIN)"
						 : "");
			k->warned = true;
			err = 0;
			continue;
		}
		k->warned = false;
		if (inv[n_inv].n_addrs > 1)
			qsort(inv[n_inv].addrs, inv[n_inv].n_addrs, sizeof(struct ms_cidr),
			      cmp_cidr);
		n_inv++;
	}
	if (!err) {
		err = scan_host(ds, &inv[n_inv]);
		if (!err && inv[n_inv].n_addrs > 1)
			qsort(inv[n_inv].addrs, inv[n_inv].n_addrs, sizeof(struct ms_cidr),
			      cmp_cidr);
		if (!err)
			n_inv++;
		else if (err != -ENOMEM)
			err = 0; /* the host's own listeners are a bonus */
	}
	if (err) {
		inv_free(inv, n_inv);
		return err;
	}
	prune_known(ds);
	if (n_inv > 1)
		qsort(inv, n_inv, sizeof(*inv), cmp_disc);
	/* Names are unique: a second namespace of the same name gets a suffix. */
	for (size_t i = 1; i < n_inv; i++)
		if (!strcmp(inv[i].name, inv[i - 1].name)) {
			char *nn;

			if (asprintf(&nn, "%s-%zu", inv[i].name, i) < 0) {
				inv_free(inv, n_inv);
				return -ENOMEM;
			}
			free(inv[i].name);
			inv[i].name = nn;
		}
	if (ms_discovered_equal(inv, n_inv, ds->inv, ds->n_inv)) {
		inv_free(inv, n_inv);
		return 0;
	}
	inv_free(ds->inv, ds->n_inv);
	ds->inv = inv;
	ds->n_inv = n_inv;
	return 1;
}
