// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <string.h>

#include "microsegd_abi.h"
#include "names.h"

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static const char *const event_types[] = {
	[MS_EV_FLOW_NEW] = "flow_new",	   [MS_EV_FLOW_DENY] = "flow_deny",
	[MS_EV_FLOW_AUDIT] = "flow_audit", [MS_EV_FLOW_REVOKED] = "flow_revoked",
	[MS_EV_FLOW_END] = "flow_end",
};

static const char *const verdicts[] = {
	[MS_VERDICT_ALLOW] = "allow",
	[MS_VERDICT_DENY] = "deny",
	[MS_VERDICT_AUDIT] = "audit",
};

static const char *const actions[] = {
	[MS_ACT_ALLOW] = "allow",
	[MS_ACT_DENY] = "deny",
	[MS_ACT_LOG] = "log",
};

static const char *const dirs[] = {
	[MS_DIR_INGRESS] = "ingress",
	[MS_DIR_EGRESS] = "egress",
};

static const char *name_of(const char *const *names, size_t n, unsigned int v)
{
	return v < n ? names[v] : NULL;
}

static int parse(const char *const *names, size_t n, const char *s)
{
	for (size_t i = 0; s && i < n; i++)
		if (names[i] && !strcmp(names[i], s))
			return (int)i;
	return -1;
}

const char *ms_event_type_name(uint8_t type)
{
	return name_of(event_types, N_OF(event_types), type);
}

int ms_event_type_parse(const char *s)
{
	return parse(event_types, N_OF(event_types), s);
}

const char *ms_verdict_name(uint8_t verdict)
{
	return name_of(verdicts, N_OF(verdicts), verdict);
}

int ms_verdict_parse(const char *s)
{
	return parse(verdicts, N_OF(verdicts), s);
}

const char *ms_action_name(uint8_t action)
{
	return name_of(actions, N_OF(actions), action);
}

const char *ms_dir_name(uint8_t dir)
{
	return name_of(dirs, N_OF(dirs), dir);
}

int ms_dir_parse(const char *s)
{
	return parse(dirs, N_OF(dirs), s);
}

const char *ms_dirmask_name(uint8_t mask)
{
	if (mask == 1u << MS_DIR_INGRESS)
		return "ingress";
	if (mask == 1u << MS_DIR_EGRESS)
		return "egress";
	return mask == (1u << MS_DIR_INGRESS | 1u << MS_DIR_EGRESS) ? "any" : NULL;
}
