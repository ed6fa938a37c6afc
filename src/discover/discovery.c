// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "discovery.h"
#include "log.h"
#include "netns.h"
#include "nl.h"
#include "scan.h"

/* A namespace found behind a veth, kept open between refreshes so that
 * finding it again costs one namespace-id query, not a walk of /proc. */
struct known_ns {
	int nsid;
	struct ms_netns ns;
	bool used;   /* behind an attached interface this refresh */
	bool warned; /* its scan failed, and was reported */
};

struct ms_discovery {
	int rt; /* NETLINK_ROUTE, this namespace */
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
		ms_netns_clear(&ds->known[i].ns);
	free(ds->known);
	inv_free(ds->inv, ds->n_inv);
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

/* The known namespace with this id, found anew if it is not known or its
 * id now names another namespace. */
static struct known_ns *known(struct ms_discovery *ds, int nsid)
{
	struct known_ns *k, *nk;
	int err;

	for (size_t i = 0; i < ds->n_known; i++) {
		k = &ds->known[i];
		if (k->nsid == nsid)
			return k;
	}
	nk = realloc(ds->known, (ds->n_known + 1) * sizeof(*nk));
	if (!nk)
		return NULL;
	ds->known = nk;
	k = &ds->known[ds->n_known];
	memset(k, 0, sizeof(*k));
	k->nsid = nsid;
	err = ms_netns_find(ds->rt, nsid, &k->ns);
	if (err) {
		log_debug("discovery: no namespace found for id %d: %s", nsid, strerror(-err));
		return NULL;
	}
	{
		char buf[128];

		/* A /run/netns name may hold anything; a workload name may not. */
		if (!ms_name_sanitize(k->ns.name, buf, sizeof(buf))) {
			ms_netns_clear(&k->ns);
			return NULL;
		}
		if (strcmp(buf, k->ns.name)) {
			char *n = strdup(buf);

			if (!n) {
				ms_netns_clear(&k->ns);
				return NULL;
			}
			free(k->ns.name);
			k->ns.name = n;
		}
	}
	ds->n_known++;
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
				ds->known[i].ns.name);
			ms_netns_clear(&ds->known[i].ns);
			continue;
		}
		ds->known[w++] = ds->known[i];
	}
	ds->n_known = w;
}

int ms_discovery_refresh(struct ms_discovery *ds, const int *ifindex, size_t n)
{
	struct ms_discovered *inv = calloc(n ? n : 1, sizeof(*inv));
	size_t n_inv = 0;
	int err = 0;

	if (!inv)
		return -ENOMEM;
	for (size_t i = 0; i < ds->n_known; i++)
		ds->known[i].used = false;
	for (size_t i = 0; i < n && !err; i++) {
		struct known_ns *k;
		bool veth, dup = false;
		int nsid;

		if (ms_link_peer_nsid(ds->rt, ifindex[i], &veth, &nsid) || !veth || nsid < 0)
			continue; /* gone, not a veth, or its peer is here */
		k = known(ds, nsid);
		if (!k)
			continue;
		/* Two veths into one namespace: one workload. */
		for (size_t j = 0; j < ds->n_known; j++)
			dup |= &ds->known[j] != k && ds->known[j].used &&
			       ds->known[j].ns.inode == k->ns.inode;
		if (k->used || dup)
			continue;
		k->used = true;
		err = ms_scan_netns(&k->ns, &inv[n_inv]);
		if (err == -ENOMEM)
			break;
		if (err) {
			if (!k->warned)
				log_warn("discovery: cannot look into namespace %s: %s%s",
					 k->ns.name, strerror(-err),
					 err == -EPERM
						 ? " (entering a namespace needs CAP_SYS_ADMIN)"
						 : "");
			k->warned = true;
			err = 0;
			continue;
		}
		k->warned = false;
		qsort(inv[n_inv].addrs, inv[n_inv].n_addrs, sizeof(struct ms_cidr), cmp_cidr);
		n_inv++;
	}
	if (err) {
		inv_free(inv, n_inv);
		return err;
	}
	prune_known(ds);
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
