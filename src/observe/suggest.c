// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* Suggesting a policy from a flow graph: the steps, in order (their shared
 * helpers are in suggest_util.c). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suggest_int.h"

int ms_suggest(const struct ms_graph *g, const struct ms_suggest_opts *o, char **out)
{
	struct ctx c = { .o = o };
	cJSON *raw = ms_graph_to_json(g);
	char *text = raw ? cJSON_PrintUnformatted(raw) : NULL, *buf = NULL;
	size_t len = 0;
	int err = 0;

	cJSON_Delete(raw);
	/* Counts are raw numbers in the graph's JSON: parse them back. */
	c.g = text ? cJSON_Parse(text) : NULL;
	free(text);
	if (!c.g)
		return -ENOMEM;
	err = suggest_load_nodes(&c);
	if (!err)
		err = suggest_signatures(&c);
	if (!err && o->group == MS_GROUP_LABELS)
		err = suggest_group_nodes(&c);
	if (!err)
		err = suggest_build_rules(&c);
	if (!err && !c.n_rules)
		err = -ENODATA;
	if (!err) {
		c.f = open_memstream(&buf, &len);
		if (!c.f)
			err = -ENOMEM;
	}
	if (!err) {
		suggest_header(&c);
		fputs("version: 1\nmode: enforce\ndefault: deny\n", c.f);
		suggest_print_workloads(&c);
		err = suggest_print_rules(&c);
		if (fclose(c.f) && !err)
			err = -ENOMEM;
		if (err) {
			free(buf);
			buf = NULL;
		}
	}
	for (size_t i = 0; c.nodes && i < c.cap_nodes; i++) {
		free(c.nodes[i].name);
		free(c.nodes[i].sig);
	}
	for (size_t i = 0; i < c.n_groups; i++)
		free(c.groups[i].key);
	for (size_t i = 0; c.rules && i < c.n_rules; i++) {
		free(c.rules[i].src);
		free(c.rules[i].dst);
		free(c.rules[i].src_name);
		free(c.rules[i].dst_name);
		free(c.rules[i].ports);
	}
	for (size_t i = 0; c.rule_key_text && i < c.n_rules; i++)
		free(c.rule_key_text[i]);
	free(c.rule_key_text);
	suggest_map_free(&c.node_ids);
	suggest_map_free(&c.names);
	free(c.holders);
	suggest_map_free(&c.rule_keys);
	free(c.rules);
	free(c.groups);
	free(c.nodes);
	cJSON_Delete(c.g);
	if (!err)
		*out = buf;
	return err;
}
