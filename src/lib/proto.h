/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* IP protocol names as policies, flow logs and the API spell them. */
#ifndef MICROSEGD_PROTO_H
#define MICROSEGD_PROTO_H

#include <stdbool.h>
#include <stdint.h>

/* "tcp", "udp", "sctp", "icmp", "icmpv6", or NULL for other numbers. */
const char *ms_proto_name(uint8_t proto);

/* Protocol number of a name above; -1 for anything else. */
int ms_proto_by_name(const char *s);

/* Protocol number of a name above or of a decimal 0-255; -1 if neither. */
int ms_proto_parse(const char *s);

/* Whether flows of proto have ports (tcp, udp, sctp). */
bool ms_proto_has_ports(uint8_t proto);

/* Whether proto's "port" is an ICMP type (icmp, icmpv6). */
bool ms_proto_is_icmp(uint8_t proto);

#endif /* MICROSEGD_PROTO_H */
