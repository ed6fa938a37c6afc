// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

/* Report at most this many bad lines one by one; the rest are counted. */
#define MAX_BAD_REPORTS 10

static int read_one(const char *path, ctl_line_fn fn, void *cls, size_t *bad)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
	const char *name = strcmp(path, "-") ? path : "(stdin)";
	char *line = NULL;
	size_t cap = 0, lineno = 0;
	int ret = CTL_OK;
	ssize_t n;

	if (!f) {
		fprintf(stderr, "microsegctl: cannot open %s: %s\n", path, strerror(errno));
		return CTL_FAILED;
	}
	while ((n = getline(&line, &cap, f)) >= 0) {
		char *err = NULL;
		cJSON *j;
		int rc;

		lineno++;
		if (n <= 1)
			continue;
		j = cJSON_ParseWithLength(line, (size_t)n);
		rc = j ? fn(cls, j, &err) : -EINVAL;
		cJSON_Delete(j);
		if (rc == -ENOMEM) {
			fprintf(stderr, "microsegctl: out of memory\n");
			free(err);
			ret = CTL_FAILED;
			break;
		}
		if (rc < 0 && ++*bad <= MAX_BAD_REPORTS)
			fprintf(stderr, "%s:%zu: skipped: %s\n", name, lineno,
				err ? err : "not a JSON object");
		free(err);
	}
	free(line);
	if (f != stdin)
		fclose(f);
	return ret;
}

int ctl_read_flowlogs(const struct ctl_opts *o, ctl_line_fn fn, void *cls)
{
	size_t bad = 0;
	int ret = CTL_OK;

	for (size_t i = 0; i < o->n_from && !ret; i++)
		ret = read_one(o->from[i], fn, cls, &bad);
	if (bad > MAX_BAD_REPORTS)
		fprintf(stderr, "microsegctl: %zu more lines skipped\n", bad - MAX_BAD_REPORTS);
	return ret;
}
