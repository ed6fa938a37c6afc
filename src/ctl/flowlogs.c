// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "safefile.h"

/* Report at most this many bad lines one by one; the rest are counted. */
#define MAX_BAD_REPORTS 10

/*
 * The next line of f into line (MS_MAX_LINE + 1 bytes), without its
 * newline: its length, -1 at the end, -2 when it is longer than
 * MS_MAX_LINE (the rest of it is not read: a flow log has no such line).
 */
static ssize_t next_line(FILE *f, char *line)
{
	size_t n = 0;
	int ch;

	while ((ch = getc_unlocked(f)) != EOF && ch != '\n') {
		if (n == MS_MAX_LINE)
			return -2;
		line[n++] = (char)ch;
	}
	if (ch == EOF && !n)
		return -1;
	line[n] = '\0';
	return (ssize_t)n;
}

static int read_one(const char *path, ctl_line_fn fn, void *cls, size_t *bad)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
	const char *name = strcmp(path, "-") ? path : "(stdin)";
	char *line = malloc(MS_MAX_LINE + 1);
	size_t lineno = 0;
	int ret = CTL_OK;
	ssize_t n;

	if (!f) {
		fprintf(stderr, "microsegctl: cannot open %s: %s\n", path, strerror(errno));
		free(line);
		return CTL_FAILED;
	}
	if (!line) {
		fprintf(stderr, "microsegctl: out of memory\n");
		ret = CTL_FAILED;
		goto out;
	}
	while ((n = next_line(f, line)) != -1) {
		char *err = NULL;
		cJSON *j;
		int rc;

		lineno++;
		if (n == -2) {
			fprintf(stderr,
				"microsegctl: %s:%zu: line longer than %u bytes: not a flow log; "
				"stopped reading it\n",
				name, lineno, MS_MAX_LINE);
			ret = CTL_FAILED;
			break;
		}
		if (!n)
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
	if (ferror(f)) {
		fprintf(stderr, "microsegctl: cannot read %s: %s\n", name, strerror(errno));
		ret = CTL_FAILED;
	}
out:
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
