// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* The graph read back from its JSON, and saved to and loaded from the
 * state directory. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "graph_int.h"
#include "safefile.h"
#include "timefmt.h"

static int load_edge(struct ms_graph *g, const cJSON *je, char **errmsg)
{
	const cJSON *src = cJSON_GetObjectItemCaseSensitive(je, "src");
	const cJSON *dst = cJSON_GetObjectItemCaseSensitive(je, "dst");
	const cJSON *proto = cJSON_GetObjectItemCaseSensitive(je, "proto");
	const cJSON *rules = cJSON_GetObjectItemCaseSensitive(je, "rules");
	struct edge e = { 0 };
	struct ms_graph one = { 0 };
	int p = graph_get_proto(proto), r;
	uint64_t port;

	if (!cJSON_IsString(src) || !cJSON_IsString(dst) || !strchr(src->valuestring, ':') ||
	    !strchr(dst->valuestring, ':'))
		return graph_err_msg(errmsg, "an edge without src or dst node id");
	if (p < 0 || graph_get_u64(je, "port", &port) || port > 65535 ||
	    graph_get_u64(je, "flows", &e.flows) || graph_get_u64(je, "packets", &e.packets) ||
	    graph_get_u64(je, "bytes", &e.bytes) || graph_get_u64(je, "allowed", &e.allowed) ||
	    graph_get_u64(je, "denied", &e.denied) || graph_get_u64(je, "audit", &e.audit) ||
	    graph_get_time(je, "first_seen", &e.first_ms) ||
	    graph_get_time(je, "last_seen", &e.last_ms))
		return graph_err_msg(errmsg, "an edge with a missing or invalid field");
	e.proto = (uint8_t)p;
	e.port = (uint16_t)port;
	/* Merge it as a one-edge graph: the same code as merging graphs. */
	struct node nodes[2] = { { .id = src->valuestring }, { .id = dst->valuestring } };
	one.nodes = nodes;
	one.n_nodes = 2;
	e.src = 0;
	e.dst = 1;
	char *names[MS_GRAPH_MAX_RULES];

	e.rules = names;
	if (cJSON_IsArray(rules)) {
		const cJSON *ru;

		cJSON_ArrayForEach(ru, rules)
		{
			if (cJSON_IsString(ru) && e.n_rules < MS_GRAPH_MAX_RULES)
				e.rules[e.n_rules++] = ru->valuestring;
		}
	}
	r = graph_merge_edge(g, &one, &e);
	return r == -ENOSPC ? 0 : r;
}

/* Whether every member of an object or array is a string. */
static bool all_strings(const cJSON *c)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, c)
	{
		if (!cJSON_IsString(it))
			return false;
	}
	return true;
}

/* What a node of the JSON carries (labels, addresses, seen addresses). */
static int load_node(struct ms_graph *g, const cJSON *jn, char **errmsg)
{
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(jn, "id");
	const cJSON *labels = cJSON_GetObjectItemCaseSensitive(jn, "labels");
	const cJSON *addrs = cJSON_GetObjectItemCaseSensitive(jn, "addresses");
	const cJSON *seen = cJSON_GetObjectItemCaseSensitive(jn, "seen_addresses"), *sa;
	long n;

	if (!cJSON_IsString(id) || !strchr(id->valuestring, ':'))
		return graph_err_msg(errmsg, "a node without an id");
	if ((labels && (!cJSON_IsObject(labels) || !all_strings(labels))) ||
	    (addrs && (!cJSON_IsArray(addrs) || !all_strings(addrs))) ||
	    (seen && (!cJSON_IsArray(seen) || !all_strings(seen))))
		return graph_err_msg(errmsg, "a node whose labels or addresses are not strings");
	/* A workload of a policy exists without edges; any other node only if
	 * one of its edges was loaded (within the bound). */
	n = graph_node_get(g, id->valuestring, labels != NULL);
	if (n == -ENOENT)
		return 0;
	if (n < 0)
		return (int)n;
	if (labels) {
		cJSON *l = cJSON_Duplicate(labels, 1);
		cJSON *a = addrs ? cJSON_Duplicate(addrs, 1) : cJSON_CreateArray();

		if (!l || !a) {
			cJSON_Delete(l);
			cJSON_Delete(a);
			return -ENOMEM;
		}
		graph_node_set_meta(&g->nodes[n], l, a);
	}
	cJSON_ArrayForEach(sa, seen)
	{
		if (graph_note_seen(&g->nodes[n], sa->valuestring))
			return -ENOMEM;
	}
	return 0;
}

int ms_graph_from_json(struct ms_graph *g, const cJSON *j, char **errmsg)
{
	const cJSON *nodes = cJSON_GetObjectItemCaseSensitive(j, "nodes");
	const cJSON *edges = cJSON_GetObjectItemCaseSensitive(j, "edges");
	const cJSON *it;
	uint64_t since, dropped = 0;

	if (errmsg)
		*errmsg = NULL;
	if (!cJSON_IsObject(j) || !cJSON_IsArray(nodes) || !cJSON_IsArray(edges))
		return graph_err_msg(errmsg, "not a flow graph (no nodes and edges arrays)");
	if (!graph_get_time(j, "since", &since))
		g->since_ms = since;
	graph_get_u64(j, "dropped_edges", &dropped);
	/* Edges first: they bring their nodes, within g's bound. */
	cJSON_ArrayForEach(it, edges)
	{
		int r = load_edge(g, it, errmsg);

		if (r)
			return r;
	}
	cJSON_ArrayForEach(it, nodes)
	{
		int r = load_node(g, it, errmsg);

		if (r)
			return r;
	}
	g->dropped += dropped;
	return 0;
}

static int path_in(const char *dir, const char *name, char **out)
{
	return asprintf(out, "%s/%s", dir, name) < 0 ? -ENOMEM : 0;
}

int ms_graph_save(const struct ms_graph *g, const char *dir)
{
	char *path = NULL, *tmp = NULL, *text = NULL;
	size_t len, off = 0;
	int fd = -1, err = 0;

	/* A name nobody can guess or hold in advance, created exclusively. */
	if (path_in(dir, "graph.json", &path) || path_in(dir, ".graph.json.XXXXXX", &tmp)) {
		err = -ENOMEM;
		goto out;
	}
	text = ms_graph_print(g);
	if (!text) {
		err = -ENOMEM;
		goto out;
	}
	len = strlen(text);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		free(tmp);
		tmp = NULL; /* nothing of ours to remove */
		goto out;
	}
	if (fchmod(fd, 0640)) {
		err = -errno;
		goto out;
	}
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			goto out;
		}
		off += (size_t)n;
	}
	if (fsync(fd)) {
		err = -errno;
		goto out;
	}
	close(fd);
	fd = -1;
	if (rename(tmp, path)) {
		err = -errno;
		goto out;
	}
	/* The rename itself is durable once the directory is synced. */
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd))
		err = -errno;
out:
	if (fd >= 0)
		close(fd);
	if (err && tmp)
		unlink(tmp);
	free(text);
	free(path);
	free(tmp);
	return err;
}

int ms_graph_load(struct ms_graph *g, const char *dir, char **errmsg)
{
	const char *why = NULL;
	char *path = NULL, *text = NULL, *aside = NULL;
	struct stat st;
	cJSON *j = NULL;
	int fd = -1, err = 0;
	size_t off = 0;

	if (errmsg)
		*errmsg = NULL;
	if (path_in(dir, "graph.json", &path))
		return -ENOMEM;
	/* Never blocks on a FIFO, never follows a link: what is not a
	 * regular file is not a graph. */
	fd = ms_open_regular(path, &why);
	if (fd < 0) {
		err = fd == -ENOENT ? 0 : fd;
		if (err && why && errmsg)
			*errmsg = strdup(why);
		fd = -1;
		goto out;
	}
	if (fstat(fd, &st)) {
		err = -errno;
		goto out;
	}
	text = malloc((size_t)st.st_size + 1);
	if (!text) {
		err = -ENOMEM;
		goto out;
	}
	while (off < (size_t)st.st_size) {
		ssize_t n = read(fd, text + off, (size_t)st.st_size - off);

		if (n < 0 && errno == EINTR)
			continue;
		/* A file that cannot be read is not corrupt: leave it be. */
		if (n < 0) {
			err = -errno;
			goto out;
		}
		if (!n)
			break;
		off += (size_t)n;
	}
	text[off] = '\0';
	j = cJSON_ParseWithLength(text, off);
	if (!j) {
		if (errmsg)
			*errmsg = strdup("not valid JSON");
		err = 1;
	} else {
		err = ms_graph_from_json(g, j, errmsg);
		if (err == -EINVAL)
			err = 1;
	}
	if (err == 1) {
		if (asprintf(&aside, "%s.corrupt-%lld", path, (long long)time(NULL)) < 0) {
			aside = NULL;
			err = -ENOMEM;
		} else if (rename(path, aside)) {
			/* Not moved aside: say so rather than let the next save
			 * overwrite it unannounced. */
			err = -errno;
		}
		/* What was read of the corrupt file is not kept. */
		struct ms_graph *fresh = NULL;

		if (!ms_graph_new(g->max_edges, &fresh)) {
			struct ms_graph tmp = *g;

			*g = *fresh;
			*fresh = tmp;
			ms_graph_free(&fresh);
		}
	}
out:
	if (fd >= 0)
		close(fd);
	cJSON_Delete(j);
	free(text);
	free(path);
	free(aside);
	return err;
}
