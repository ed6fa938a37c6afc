// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "microsegd_abi.h"
#include "proto.h"

static const struct {
	uint8_t num;
	const char *name;
} protos[] = {
	{ MS_PROTO_TCP, "tcp" },   { MS_PROTO_UDP, "udp" },	  { MS_PROTO_SCTP, "sctp" },
	{ MS_PROTO_ICMP, "icmp" }, { MS_PROTO_ICMPV6, "icmpv6" },
};

const char *ms_proto_name(uint8_t proto)
{
	for (size_t i = 0; i < sizeof(protos) / sizeof(protos[0]); i++)
		if (protos[i].num == proto)
			return protos[i].name;
	return NULL;
}

int ms_proto_by_name(const char *s)
{
	for (size_t i = 0; i < sizeof(protos) / sizeof(protos[0]); i++)
		if (!strcmp(s, protos[i].name))
			return protos[i].num;
	return -1;
}

int ms_proto_parse(const char *s)
{
	char *end;
	long v = ms_proto_by_name(s);

	if (v >= 0)
		return (int)v;
	if (!isdigit((unsigned char)*s))
		return -1;
	v = strtol(s, &end, 10);
	if (*end || v < 0 || v > 255)
		return -1;
	return (int)v;
}

bool ms_proto_has_ports(uint8_t proto)
{
	return proto == MS_PROTO_TCP || proto == MS_PROTO_UDP || proto == MS_PROTO_SCTP;
}

bool ms_proto_is_icmp(uint8_t proto)
{
	return proto == MS_PROTO_ICMP || proto == MS_PROTO_ICMPV6;
}
