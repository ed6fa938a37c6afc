// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* An event's names: its rule, interface, addresses, workloads and process,
 * and the cJSON reference of its flow-log line (events.h). */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "cgroup.h"
#include "events_int.h"
#include "flowline.h"
#include "proto.h"
#include "workload_index.h"

static const struct polref *polref_find(const struct ms_events *ev, uint64_t gen)
{
	for (size_t i = 0; i < ev->n_hist; i++)
		if (ev->hist[i].gen == gen)
			return &ev->hist[i];
	return NULL;
}

const char *ms_events_workload(const struct ms_events *ev, uint64_t gen, const uint8_t *addr)
{
	const struct polref *r = polref_find(ev, gen);
	const struct ms_workload *w;

	if (!r)
		r = ev->n_hist ? &ev->hist[0] : NULL;
	if (!r || !r->wl)
		return NULL;
	w = ms_wl_index_find(r->wl, addr);
	return w ? w->name : NULL;
}

/* cJSON holds numbers as doubles; counters are printed exactly instead. */
static bool add_u64(cJSON *o, const char *key, uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	return cJSON_AddRawToObject(o, key, buf) != NULL;
}

static bool add_str(cJSON *o, const char *key, const char *v)
{
	return cJSON_AddStringToObject(o, key, v) != NULL;
}

/* RFC 3339 UTC with milliseconds. The calendar part is computed once per
 * second: events come in bursts, and gmtime_r is a good part of an event's
 * cost. */
void ev_format_time(struct ms_events *ev, char *buf, size_t len, uint64_t real_ns)
{
	time_t sec = (time_t)(real_ns / 1000000000ULL);
	unsigned int ms = (unsigned int)(real_ns % 1000000000ULL / 1000000ULL);
	struct tm tm;

	if (sec != ev->time_sec || !ev->time_prefix[0]) {
		if (!gmtime_r(&sec, &tm))
			memset(&tm, 0, sizeof(tm));
		snprintf(ev->time_prefix, sizeof(ev->time_prefix), "%04d-%02d-%02dT%02d:%02d:%02d",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			 tm.tm_sec);
		ev->time_sec = sec;
		ev->time_prefix_len = strlen(ev->time_prefix);
	}
	/* Only the milliseconds change within the second: no printf. */
	if (len < ev->time_prefix_len + 6) {
		snprintf(buf, len, "%s.%03uZ", ev->time_prefix, ms);
		return;
	}
	memcpy(buf, ev->time_prefix, ev->time_prefix_len);
	buf += ev->time_prefix_len;
	buf[0] = '.';
	buf[1] = (char)('0' + ms / 100);
	buf[2] = (char)('0' + ms / 10 % 10);
	buf[3] = (char)('0' + ms % 10);
	buf[4] = 'Z';
	buf[5] = '\0';
}

/* Dotted quad as inet_ntop writes it, without its general machinery: two of
 * these per event. */
static void format_v4(char *buf, const uint8_t *a)
{
	for (int i = 0; i < 4; i++) {
		unsigned int b = a[i];

		if (b >= 100)
			*buf++ = (char)('0' + b / 100);
		if (b >= 10)
			*buf++ = (char)('0' + b / 10 % 10);
		*buf++ = (char)('0' + b % 10);
		*buf++ = i < 3 ? '.' : '\0';
	}
}

static void format_addr(char *buf, uint8_t family, const uint8_t *a)
{
	if (family == MS_FAMILY_IPV4)
		format_v4(buf, a + 12);
	else
		inet_ntop(AF_INET6, a, buf, INET6_ADDRSTRLEN);
}

void ms_events_describe(struct ms_events *ev, const struct ms_event *e, struct ms_event_info *in)
{
	const struct polref *r = polref_find(ev, e->generation);

	memset(in, 0, sizeof(*in));
	in->e = e;
	in->time_ms = (e->time_ns + (uint64_t)ev->mono_to_real_ns) / 1000000ULL;
	if (e->rule_id == MS_RULE_DEFAULT)
		in->rule = "default";
	else if (r && r->p && e->rule_id <= r->p->n_rules)
		in->rule = r->p->rules[e->rule_id - 1].name;
	else {
		snprintf(in->rule_buf, sizeof(in->rule_buf), "#%" PRIu32, e->rule_id);
		in->rule = in->rule_buf;
	}
	in->names_epoch = ev->names_epoch;
	if (ev->dp && ms_dp_ifname_attached(ev->dp, e->ifindex, &in->ifname)) {
		/* found among the hooks */
	} else if (ev->if_last == e->ifindex && ev->if_last_name[0] &&
		   ev->if_last_sec == e->time_ns / 1000000000ULL) {
		in->ifname = ev->if_last_name;
	} else {
		/* Not one of ours (a test run, a hook just detached): asked
		 * once a second, not once per event. */
		const char *n = ev->dp ? ms_dp_ifname(ev->dp, e->ifindex) : NULL;

		if (n)
			snprintf(ev->if_last_name, sizeof(ev->if_last_name), "%s", n);
		else
			snprintf(ev->if_last_name, sizeof(ev->if_last_name), "if%" PRIu32,
				 e->ifindex);
		ev->if_last = e->ifindex;
		ev->if_last_sec = e->time_ns / 1000000000ULL;
		in->ifname = ev->if_last_name;
	}
	format_addr(in->src, e->family, e->src);
	format_addr(in->dst, e->family, e->dst);
	/* The workload index holds IPv4 prefixes IPv4-mapped: an IPv6 packet's
	 * IPv4-mapped address is not the IPv4 workload's, and goes unnamed. */
	if (e->family != MS_FAMILY_IPV6 || !ms_addr_is_v4(e->src))
		in->src_workload = ms_events_workload(ev, e->generation, e->src);
	if (e->family != MS_FAMILY_IPV6 || !ms_addr_is_v4(e->dst))
		in->dst_workload = ms_events_workload(ev, e->generation, e->dst);
	/* Denials are reported when decided (one packet seen) and then every
	 * MS_DENY_REPORT_NS while packets keep coming: a later report of the
	 * same flow has seen more than one packet. */
	in->repeat = e->type == MS_EV_FLOW_DENY && e->packets[0] + e->packets[1] > 1;
	/* The local end of the flow: the initiator when it began here
	 * (egress), the responder when it came in. */
	if (e->cgroup_id && ev->cg &&
	    !ms_cgroups_resolve(ev->cg, e->cgroup_id, &in->unit, &in->process))
		in->local_is_src = e->direction == MS_DIR_EGRESS;
	else
		in->unit = in->process = NULL;
}

cJSON *ms_event_info_cjson(struct ms_events *ev, const struct ms_event_info *in)
{
	const struct ms_event *e = in->e;
	const char *name = ms_event_type_name(e->type), *s;
	char tbuf[96];
	bool ok = true;
	cJSON *o;

	if (!name)
		return NULL;
	o = cJSON_CreateObject();
	if (!o)
		return NULL;
	ev_format_time(ev, tbuf, sizeof(tbuf), e->time_ns + (uint64_t)ev->mono_to_real_ns);
	ok &= add_str(o, "time", tbuf);
	ok &= add_str(o, "event", name);
	s = ms_verdict_name(e->verdict);
	ok &= s ? add_str(o, "verdict", s) : add_u64(o, "verdict", e->verdict);
	ok &= add_str(o, "rule", in->rule);
	ok &= add_str(o, "direction", e->direction == MS_DIR_EGRESS ? "egress" : "ingress");
	ok &= add_str(o, "interface", in->ifname);
	ok &= add_str(o, "family", e->family == MS_FAMILY_IPV4 ? "ipv4" : "ipv6");
	s = ms_proto_name(e->proto);
	ok &= s ? add_str(o, "proto", s) : add_u64(o, "proto", e->proto);
	ok &= add_str(o, "src", in->src);
	ok &= add_str(o, "dst", in->dst);
	if (ms_proto_has_ports(e->proto)) {
		ok &= add_u64(o, "sport", ntohs(e->sport));
		ok &= add_u64(o, "dport", ntohs(e->dport));
	} else if (e->proto == MS_PROTO_ICMP || e->proto == MS_PROTO_ICMPV6) {
		ok &= add_u64(o, "icmp_type", e->icmp_type);
		ok &= add_u64(o, "icmp_code", e->icmp_code);
	}
	if (in->src_workload)
		ok &= add_str(o, "src_workload", in->src_workload);
	if (in->dst_workload)
		ok &= add_str(o, "dst_workload", in->dst_workload);
	if (in->unit)
		ok &= add_str(o, in->local_is_src ? "src_unit" : "dst_unit", in->unit);
	if (in->process)
		ok &= add_str(o, in->local_is_src ? "src_process" : "dst_process", in->process);
	if (e->type == MS_EV_FLOW_END) {
		/* [0] flows from the initiator: inbound for a flow begun at ingress. */
		int inb = e->direction == MS_DIR_EGRESS ? 1 : 0;

		ok &= add_u64(o, "packets", e->packets[0] + e->packets[1]);
		ok &= add_u64(o, "bytes", e->bytes[0] + e->bytes[1]);
		ok &= add_u64(o, "packets_in", e->packets[inb]);
		ok &= add_u64(o, "packets_out", e->packets[!inb]);
		ok &= add_u64(o, "bytes_in", e->bytes[inb]);
		ok &= add_u64(o, "bytes_out", e->bytes[!inb]);
	}
	if (in->repeat)
		ok &= cJSON_AddTrueToObject(o, "repeat") != NULL;
	ok &= add_u64(o, "generation", e->generation);
	if (!ok) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

char *ms_events_time(struct ms_events *ev, uint64_t mono_ns, char *buf, size_t len)
{
	ev_format_time(ev, buf, len, mono_ns + (uint64_t)ev->mono_to_real_ns);
	return buf;
}
