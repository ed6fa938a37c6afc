/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The ABI's enums as policies, flow logs, the API and the console spell
 * them: event types, verdicts, actions and directions, each word once.
 * (Protocols are in proto.h.) A name function returns NULL for a value
 * outside its enum; a parse function returns the value or -1.
 */
#ifndef MICROSEGD_NAMES_H
#define MICROSEGD_NAMES_H

#include <stdint.h>

/* "flow_new", "flow_deny", "flow_audit", "flow_revoked", "flow_end". */
const char *ms_event_type_name(uint8_t type);
int ms_event_type_parse(const char *s);

/* "allow", "deny", "audit". */
const char *ms_verdict_name(uint8_t verdict);
int ms_verdict_parse(const char *s);

/* A rule's action: "allow", "deny", "log". */
const char *ms_action_name(uint8_t action);

/* The hook that saw a flow: "ingress", "egress". */
const char *ms_dir_name(uint8_t dir);
int ms_dir_parse(const char *s);

/* A rule's directions (MS_DIRMASK_*): "ingress", "egress", "any". */
const char *ms_dirmask_name(uint8_t mask);

#endif /* MICROSEGD_NAMES_H */
