// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <string.h>

#include "discovery.h"
#include "handlers_internal.h"

/* What discovery found of a workload: its namespace and listeners. */
static bool add_discovered(const struct ms_daemon *d, const char *name, cJSON *wo)
{
	const struct ms_discovered *inv;
	size_t n = 0;
	cJSON *ls;
	bool ok = true;

	inv = d->disc ? ms_discovery_inventory(d->disc, &n) : NULL;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(inv[i].name, name))
			continue;
		if (inv[i].netns)
			ok &= cJSON_AddStringToObject(wo, "netns", inv[i].netns) != NULL;
		ls = cJSON_AddArrayToObject(wo, "listeners");
		ok &= ls != NULL;
		for (size_t j = 0; ls && j < inv[i].n_listeners; j++) {
			const struct ms_listener *l = &inv[i].listeners[j];
			cJSON *lo = cJSON_CreateObject();

			if (!lo || !cJSON_AddItemToArray(ls, lo)) {
				cJSON_Delete(lo);
				return false;
			}
			ok &= api_add_proto(lo, "proto", l->proto);
			ok &= api_add_u64(lo, "port", l->port);
			ok &= (l->comm ? cJSON_AddStringToObject(lo, "process", l->comm)
				       : cJSON_AddNullToObject(lo, "process")) != NULL;
		}
		break;
	}
	return ok;
}

void h_workloads(struct ms_daemon *d, struct ms_api_resp *resp)
{
	const struct ms_policy *p = d->ev ? ms_events_policy(d->ev) : NULL;
	cJSON *o = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(o, "workloads");
	bool ok = o && arr;

	for (size_t i = 0; ok && p && i < p->n_workloads; i++) {
		const struct ms_workload *w = &p->workloads[i];
		cJSON *wo = cJSON_CreateObject(), *labels, *addrs;

		if (!wo || !cJSON_AddItemToArray(arr, wo)) {
			cJSON_Delete(wo);
			ok = false;
			break;
		}
		ok &= cJSON_AddStringToObject(wo, "name", w->name) != NULL;
		labels = cJSON_AddObjectToObject(wo, "labels");
		ok &= labels != NULL;
		for (size_t j = 0; labels && j < w->n_labels; j++)
			ok &= cJSON_AddStringToObject(labels, w->labels[j].key,
						      w->labels[j].value) != NULL;
		addrs = cJSON_AddArrayToObject(wo, "addresses");
		ok &= addrs != NULL;
		for (size_t j = 0; addrs && j < w->n_addrs; j++) {
			char buf[MS_CIDR_STRLEN];

			ok &= cJSON_AddItemToArray(
				addrs, cJSON_CreateString(ms_cidr_format(&w->addrs[j], buf)));
		}
		ok &= cJSON_AddStringToObject(wo, "source",
					      w->discovered ? "discovery" : "policy") != NULL;
		if (w->discovered)
			ok &= add_discovered(d, w->name, wo);
	}
	ms_api_reply_json(resp, 200, o, ok);
}
