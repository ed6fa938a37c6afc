// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <arpa/inet.h>
#include <string.h>

#include "flowline.h"
#include "jsonout.h"
#include "names.h"
#include "proto.h"

/* Everything but the strings: keys, punctuation, 20-digit numbers. */
#define FIXED_MAX 640

size_t ms_flowline_max(const struct ms_event_info *in, const char *time)
{
	return FIXED_MAX + ms_json_str_max(time) + ms_json_str_max(in->src) +
	       ms_json_str_max(in->dst) + ms_json_str_max(in->rule) + ms_json_str_max(in->ifname) +
	       ms_json_str_max(in->src_workload) + ms_json_str_max(in->dst_workload) +
	       ms_json_str_max(in->unit) + ms_json_str_max(in->process);
}

#define PUT_LIT MS_JSON_PUT_LIT

/* ,"key": then the value; keys are plain ASCII, written as they are. */
#define KEY(o, k) PUT_LIT(o, ",\"" k "\":")

static char *put_name_or_num(char *o, const char *name, uint64_t v)
{
	return name ? ms_json_put_str(o, name) : ms_json_put_u64(o, v);
}

size_t ms_flowline_print(char *buf, const struct ms_event_info *in, const char *time)
{
	const struct ms_event *e = in->e;
	const char *name = ms_event_type_name(e->type);
	char *o = buf;

	if (!name)
		return 0;
	/* The order of ms_event_info_cjson in events_name.c, the schema's. */
	o = PUT_LIT(o, "{\"time\":");
	o = ms_json_put_str(o, time);
	o = KEY(o, "event");
	o = ms_json_put_str(o, name);
	o = KEY(o, "verdict");
	o = put_name_or_num(o, ms_verdict_name(e->verdict), e->verdict);
	o = KEY(o, "rule");
	o = ms_json_put_str(o, in->rule);
	o = KEY(o, "direction");
	o = e->direction == MS_DIR_EGRESS ? PUT_LIT(o, "\"egress\"") : PUT_LIT(o, "\"ingress\"");
	o = KEY(o, "interface");
	o = ms_json_put_str(o, in->ifname);
	o = KEY(o, "family");
	o = e->family == MS_FAMILY_IPV4 ? PUT_LIT(o, "\"ipv4\"") : PUT_LIT(o, "\"ipv6\"");
	o = KEY(o, "proto");
	o = put_name_or_num(o, ms_proto_name(e->proto), e->proto);
	o = KEY(o, "src");
	o = ms_json_put_str(o, in->src);
	o = KEY(o, "dst");
	o = ms_json_put_str(o, in->dst);
	if (ms_proto_has_ports(e->proto)) {
		o = KEY(o, "sport");
		o = ms_json_put_u64(o, ntohs(e->sport));
		o = KEY(o, "dport");
		o = ms_json_put_u64(o, ntohs(e->dport));
	} else if (ms_proto_is_icmp(e->proto)) {
		o = KEY(o, "icmp_type");
		o = ms_json_put_u64(o, e->icmp_type);
		o = KEY(o, "icmp_code");
		o = ms_json_put_u64(o, e->icmp_code);
	}
	if (in->src_workload) {
		o = KEY(o, "src_workload");
		o = ms_json_put_str(o, in->src_workload);
	}
	if (in->dst_workload) {
		o = KEY(o, "dst_workload");
		o = ms_json_put_str(o, in->dst_workload);
	}
	if (in->unit) {
		o = in->local_is_src ? KEY(o, "src_unit") : KEY(o, "dst_unit");
		o = ms_json_put_str(o, in->unit);
	}
	if (in->process) {
		o = in->local_is_src ? KEY(o, "src_process") : KEY(o, "dst_process");
		o = ms_json_put_str(o, in->process);
	}
	if (e->type == MS_EV_FLOW_END) {
		/* [0] flows from the initiator: inbound for a flow begun at ingress. */
		int inb = e->direction == MS_DIR_EGRESS ? 1 : 0;

		o = KEY(o, "packets");
		o = ms_json_put_u64(o, e->packets[0] + e->packets[1]);
		o = KEY(o, "bytes");
		o = ms_json_put_u64(o, e->bytes[0] + e->bytes[1]);
		o = KEY(o, "packets_in");
		o = ms_json_put_u64(o, e->packets[inb]);
		o = KEY(o, "packets_out");
		o = ms_json_put_u64(o, e->packets[!inb]);
		o = KEY(o, "bytes_in");
		o = ms_json_put_u64(o, e->bytes[inb]);
		o = KEY(o, "bytes_out");
		o = ms_json_put_u64(o, e->bytes[!inb]);
	}
	if (in->repeat)
		o = PUT_LIT(o, ",\"repeat\":true");
	o = KEY(o, "generation");
	o = ms_json_put_u64(o, e->generation);
	*o++ = '}';
	return (size_t)(o - buf);
}
