/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Diagnostics: the problems found in a policy, each one line
 * "FILE:LINE:COL: error: message" (or "warning:") with the 1-based position
 * of what it is about, collected in file order. The parser, the lint and the
 * agent append to them; --check, the API and the logs print them.
 */
#ifndef MICROSEGD_DIAG_H
#define MICROSEGD_DIAG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "policy.h"

/* Collected diagnostics, in file order. Zero-initialise before first use. */
struct ms_diag {
	char **msgs; /* "FILE:LINE:COL: error: ..." or "FILE:LINE:COL: warning: ..." */
	bool *is_error;
	size_t n, n_errors, n_warnings;
	struct ms_pos *pos; /* position of each message ({0, 0}: none), for ordering */
};

/* Free every message; leaves d zeroed and reusable. */
void ms_diag_free(struct ms_diag *d);

/*
 * Append one diagnostic "FILE:LINE:COL: error|warning: MESSAGE" (without the
 * position when pos.line is 0, and without "FILE:" when file is NULL).
 * Returns 0 or -ENOMEM.
 */
int ms_diag_add(struct ms_diag *d, const char *file, struct ms_pos pos, bool is_error,
		const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Sort d's messages by position, keeping insertion order among equals. */
void ms_diag_sort(struct ms_diag *d);

/* Write every message of d to f, one per line. */
void ms_diag_print(const struct ms_diag *d, FILE *f);

/* Like ms_diag_add, with the arguments of fmt in ap. */
int ms_diag_vadd(struct ms_diag *d, const char *file, struct ms_pos pos, bool is_error,
		 const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));

/* Append msg as it is (no position, no "error:"), taking ownership of it: it
 * is freed on failure too. Returns 0 or -ENOMEM. */
int ms_diag_push(struct ms_diag *d, struct ms_pos pos, bool is_error, char *msg);

#endif /* MICROSEGD_DIAG_H */
