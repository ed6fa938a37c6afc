// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse_ctx.h"
#include "proto.h"

struct proto_name {
	const char *name;
	uint8_t proto;
};

/* Names for the ICMP types people write policy for; numbers work for all. */
static const struct proto_name icmp_types[] = {
	{ "echo-reply", 0 },   { "destination-unreachable", 3 }, { "redirect", 5 },
	{ "echo-request", 8 }, { "time-exceeded", 11 },		 { "parameter-problem", 12 },
};

static const struct proto_name icmp6_types[] = {
	{ "destination-unreachable", 1 }, { "packet-too-big", 2 }, { "time-exceeded", 3 },
	{ "parameter-problem", 4 },	  { "echo-request", 128 }, { "echo-reply", 129 },
};

static int lookup_name(const char *s, const struct proto_name *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[0] == v[i].name[0] && !strcmp(s, v[i].name))
			return v[i].proto;
	return -1;
}

/* Decimal digits only, at most max; -1 when malformed, -2 when too big. */
static long parse_num(const char *s, size_t len, long max)
{
	long v = 0;

	if (!len)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		if (v <= max)
			v = v * 10 + (s[i] - '0');
	}
	return v > max ? -2 : v;
}

static void proto_desc(uint8_t proto, char *buf, size_t len)
{
	const char *name = ms_proto_name(proto);

	if (name)
		snprintf(buf, len, "%s", name);
	else
		snprintf(buf, len, "%u", proto);
}

bool pp_parse_port_spec(struct pctx *c, const struct ynode *n, struct ms_portrange *out)
{
	const char *s = n->str, *slash = strchr(s, '/'), *rest, *dash;
	size_t plen = slash ? (size_t)(slash - s) : strlen(s);
	long proto = -1, lo, hi, max;
	char pname[16];
	char *pstr = strndup(s, plen);

	if (!pstr) {
		c->err = -ENOMEM;
		return false;
	}
	proto = ms_proto_by_name(pstr);
	if (proto < 0)
		proto = parse_num(pstr, plen, 255);
	if (proto < 0) {
		static const char *const names[] = { "tcp", "udp", "sctp", "icmp", "icmpv6" };
		const char *sug = pp_suggest(pstr, names, ARRAY_SIZE(names));

		if (proto == -2)
			pp_perr(c, n->pos, "protocol number in '%s' is out of range (0-255)",
				pp_disp(c, n));
		else if (sug)
			pp_perr(c, n->pos, "unknown protocol in '%s'; did you mean '%s'?",
				pp_disp(c, n), sug);
		else
			pp_perr(c, n->pos,
				"unknown protocol in '%s' (expected tcp, udp, sctp, icmp, icmpv6 "
				"or a number 0-255)",
				pp_disp(c, n));
		free(pstr);
		return false;
	}
	free(pstr);
	out->proto = (uint8_t)proto;
	max = ms_proto_has_ports(out->proto) ? 65535 : ms_proto_is_icmp(out->proto) ? 255 : 0;
	proto_desc(out->proto, pname, sizeof(pname));
	if (!slash) {
		if (n->plain && !ms_proto_has_ports(out->proto) && !ms_proto_is_icmp(out->proto))
			pp_pwarn(c, n->pos,
				 "'%s' means every packet of IP protocol %s; for a "
				 "port write tcp/%s or udp/%s (quote it to keep the "
				 "protocol and silence this)",
				 pp_disp(c, n), pname, pp_disp(c, n), pp_disp(c, n));
		out->lo = 0;
		out->hi = (uint16_t)max;
		return true;
	}
	rest = slash + 1;
	if (!max) {
		pp_perr(c, n->pos, "protocol %s has no ports, in '%s'", pname, pp_disp(c, n));
		return false;
	}
	if (out->proto == MS_PROTO_ICMP || out->proto == MS_PROTO_ICMPV6) {
		int t = out->proto == MS_PROTO_ICMP
				? lookup_name(rest, icmp_types, ARRAY_SIZE(icmp_types))
				: lookup_name(rest, icmp6_types, ARRAY_SIZE(icmp6_types));

		if (t >= 0) {
			out->lo = out->hi = (uint16_t)t;
			return true;
		}
	} else if (lookup_name(rest, icmp_types, ARRAY_SIZE(icmp_types)) >= 0 ||
		   lookup_name(rest, icmp6_types, ARRAY_SIZE(icmp6_types)) >= 0) {
		pp_perr(c, n->pos, "ICMP type in '%s', but %s is not icmp or icmpv6", pp_disp(c, n),
			pname);
		return false;
	}
	dash = strchr(rest, '-');
	lo = parse_num(rest, dash ? (size_t)(dash - rest) : strlen(rest), max);
	hi = dash ? parse_num(dash + 1, strlen(dash + 1), max) : lo;
	if (lo == -1 || hi == -1) {
		if (ms_proto_is_icmp(out->proto))
			pp_perr(c, n->pos,
				"invalid ICMP type in '%s' (expected a number 0-255, a "
				"range or a type name such as echo-request)",
				pp_disp(c, n));
		else
			pp_perr(c, n->pos, "invalid port in '%s' (expected PORT or PORT-PORT)",
				pp_disp(c, n));
		return false;
	}
	if (lo == -2 || hi == -2) {
		pp_perr(c, n->pos, "%s out of range in '%s' (0-%ld)",
			ms_proto_is_icmp(out->proto) ? "ICMP type" : "port", pp_disp(c, n), max);
		return false;
	}
	if (lo > hi) {
		pp_perr(c, n->pos, "reversed range in '%s'; did you mean %s/%ld-%ld?",
			pp_disp(c, n), pname, hi, lo);
		return false;
	}
	out->lo = (uint16_t)lo;
	out->hi = (uint16_t)hi;
	return true;
}

void pp_do_ports(struct pctx *c, const struct ynode *n, struct ms_rule *r)
{
	r->any_port = false;
	if (n->kind == Y_BAD)
		return;
	if (pp_is_null(n)) {
		pp_perr(c, n->pos, "'ports' is empty; omit it to match every protocol and port");
		return;
	}
	if (!pp_want(c, n, Y_SEQ, "ports"))
		return;
	if (!n->n_kids) {
		pp_perr(c, n->pos,
			"'ports' is an empty list, which matches nothing; omit it to "
			"match every protocol and port");
		return;
	}
	for (size_t i = 0; i < n->n_kids; i++) {
		struct ms_portrange pr;

		if (!pp_want(c, n->kids[i], Y_SCALAR, "a ports entry") ||
		    !pp_parse_port_spec(c, n->kids[i], &pr))
			continue;
		if (ms_port_push(&r->ports, &r->n_ports, &pr)) {
			c->err = -ENOMEM;
			return;
		}
	}
}
