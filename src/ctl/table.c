// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "table.h"

void ctl_table_init(struct ctl_table *t, size_t ncols, const char *const *header)
{
	memset(t, 0, sizeof(*t));
	t->ncols = ncols;
	ctl_table_row(t, header);
}

void ctl_table_row(struct ctl_table *t, const char *const *cells)
{
	if (t->oom)
		return;
	if (t->nrows == t->cap) {
		size_t ncap = t->cap ? t->cap * 2 : 16;
		char **nc = realloc(t->cells, ncap * t->ncols * sizeof(*nc));

		if (!nc) {
			t->oom = 1;
			return;
		}
		t->cells = nc;
		t->cap = ncap;
	}
	for (size_t i = 0; i < t->ncols; i++) {
		char *s = strdup(cells[i] ? cells[i] : "-");

		if (!s) {
			for (size_t j = 0; j < i; j++)
				free(t->cells[t->nrows * t->ncols + j]);
			t->oom = 1;
			return;
		}
		t->cells[t->nrows * t->ncols + i] = s;
	}
	t->nrows++;
}

int ctl_table_print(const struct ctl_table *t, FILE *f)
{
	size_t *w = calloc(t->ncols ? t->ncols : 1, sizeof(*w));

	if (!w)
		return -ENOMEM;
	for (size_t r = 0; r < t->nrows; r++)
		for (size_t c = 0; c < t->ncols; c++) {
			size_t l = strlen(t->cells[r * t->ncols + c]);

			if (l > w[c])
				w[c] = l;
		}
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			const char *s = t->cells[r * t->ncols + c];

			if (c + 1 < t->ncols)
				fprintf(f, "%-*s  ", (int)w[c], s);
			else
				fputs(s, f);
		}
		fputc('\n', f);
	}
	free(w);
	return t->oom ? -ENOMEM : 0;
}

void ctl_table_free(struct ctl_table *t)
{
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	memset(t, 0, sizeof(*t));
}
