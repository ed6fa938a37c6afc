/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* Aligned text tables for people (microsegctl's default output). */
#ifndef MICROSEGCTL_TABLE_H
#define MICROSEGCTL_TABLE_H

#include <stddef.h>
#include <stdio.h>

struct ctl_table {
	size_t ncols;
	char **cells; /* row-major, header first */
	size_t nrows, cap;
	int oom;
};

/* Start a table with its header: ncols column names. */
void ctl_table_init(struct ctl_table *t, size_t ncols, const char *const *header);

/* Append a row of t->ncols cells (copied; NULL prints as "-"). */
void ctl_table_row(struct ctl_table *t, const char *const *cells);

/* Print with columns padded to their widest cell; the last is not padded.
 * Returns 0, or -ENOMEM if a row could not be added. */
int ctl_table_print(const struct ctl_table *t, FILE *f);

void ctl_table_free(struct ctl_table *t);

#endif /* MICROSEGCTL_TABLE_H */
