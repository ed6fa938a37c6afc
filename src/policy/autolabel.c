// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "autolabel.h"

#define TCP(p, r)                               \
	{                                       \
		MS_PROTO_TCP, p, p, (char *)(r) \
	}
#define UDP(p, r)                               \
	{                                       \
		MS_PROTO_UDP, p, p, (char *)(r) \
	}

/* Services first, then what every host runs beside them (ssh, exporters). */
const struct ms_autolabel ms_autolabels_shipped[] = {
	TCP(5432, "db"),      TCP(3306, "db"),	    TCP(27017, "db"),	 TCP(1521, "db"),
	TCP(1433, "db"),      TCP(9042, "db"),	    TCP(6379, "cache"),	 TCP(11211, "cache"),
	TCP(5672, "queue"),   TCP(9092, "queue"),   TCP(4222, "queue"),	 TCP(1883, "queue"),
	TCP(2379, "kv"),      TCP(8500, "kv"),	    TCP(9200, "search"), TCP(80, "web"),
	TCP(443, "web"),      TCP(8080, "web"),	    TCP(8443, "web"),	 TCP(8000, "web"),
	TCP(3000, "web"),     UDP(53, "dns"),	    TCP(53, "dns"),	 UDP(123, "ntp"),
	TCP(25, "mail"),      TCP(389, "ldap"),	    TCP(636, "ldap"),	 TCP(88, "kerberos"),
	TCP(9090, "metrics"), TCP(9100, "metrics"), TCP(22, "ssh"),
};
const size_t ms_n_autolabels_shipped =
	sizeof(ms_autolabels_shipped) / sizeof(ms_autolabels_shipped[0]);

static const char *first_match(const struct ms_autolabel *t, size_t nt, const struct ms_listener *l,
			       size_t n)
{
	for (size_t i = 0; i < nt; i++)
		for (size_t j = 0; j < n; j++)
			if (l[j].proto == t[i].proto && l[j].port >= t[i].lo &&
			    l[j].port <= t[i].hi)
				return t[i].role;
	return NULL;
}

const char *ms_autolabel_role(const struct ms_policy *p, const struct ms_listener *l, size_t n)
{
	const char *r = p ? first_match(p->autolabels, p->n_autolabels, l, n) : NULL;

	return r ? r : first_match(ms_autolabels_shipped, ms_n_autolabels_shipped, l, n);
}

const char *ms_autolabel_app(const struct ms_listener *l, size_t n)
{
	const char *best = NULL;
	size_t best_n = 0;
	uint16_t best_port = 0;

	for (size_t i = 0; i < n; i++) {
		size_t cnt = 0;
		uint16_t low = l[i].port;

		if (!l[i].comm)
			continue;
		for (size_t j = 0; j < n; j++)
			if (l[j].comm && !strcmp(l[j].comm, l[i].comm)) {
				cnt++;
				if (l[j].port < low)
					low = l[j].port;
			}
		if (cnt > best_n || (cnt == best_n && low < best_port)) {
			best = l[i].comm;
			best_n = cnt;
			best_port = low;
		}
	}
	return best;
}

static bool has_key(const struct ms_workload *w, const char *k)
{
	for (size_t i = 0; i < w->n_labels; i++)
		if (!strcmp(w->labels[i].key, k))
			return true;
	return false;
}

static int add_label(struct ms_workload *w, const char *k, const char *v)
{
	struct ms_label *nl;

	if (!v || has_key(w, k))
		return 0;
	nl = realloc(w->labels, (w->n_labels + 1) * sizeof(*nl));
	if (!nl)
		return -ENOMEM;
	w->labels = nl;
	nl[w->n_labels].key = strdup(k);
	nl[w->n_labels].value = strdup(v);
	if (!nl[w->n_labels].key || !nl[w->n_labels].value) {
		free(nl[w->n_labels].key);
		free(nl[w->n_labels].value);
		return -ENOMEM;
	}
	w->n_labels++;
	return 0;
}

int ms_autolabel_workload(const struct ms_policy *p, const struct ms_discovered *d,
			  struct ms_workload *w)
{
	w->discovered = true;
	w->name = strdup(d->name);
	if (!w->name)
		return -ENOMEM;
	if (d->n_addrs) {
		w->addrs = malloc(d->n_addrs * sizeof(*w->addrs));
		if (!w->addrs)
			return -ENOMEM;
		memcpy(w->addrs, d->addrs, d->n_addrs * sizeof(*w->addrs));
		w->n_addrs = d->n_addrs;
	}
	if (add_label(w, "netns", d->netns) ||
	    add_label(w, "app", ms_autolabel_app(d->listeners, d->n_listeners)) ||
	    add_label(w, "role", ms_autolabel_role(p, d->listeners, d->n_listeners)))
		return -ENOMEM;
	for (size_t i = 0; p && i < p->n_host_labels; i++)
		if (add_label(w, p->host_labels[i].key, p->host_labels[i].value))
			return -ENOMEM;
	return 0;
}
