// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"

/* Arrays grow at powers of two, like policy.c's, so n alone implies the
 * capacity and a failed realloc of one array leaves the others consistent. */
static void *grow_to(void *v, size_t n, size_t sz)
{
	size_t ncap = n ? n * 2 : 1;

	return realloc(v, ncap * sz);
}

int ms_diag_push(struct ms_diag *d, struct ms_pos pos, bool is_error, char *msg)
{
	if ((d->n & (d->n - 1)) == 0) {
		void *m, *e, *p;

		m = grow_to(d->msgs, d->n, sizeof(*d->msgs));
		if (m)
			d->msgs = m;
		e = grow_to(d->is_error, d->n, sizeof(*d->is_error));
		if (e)
			d->is_error = e;
		p = grow_to(d->pos, d->n, sizeof(*d->pos));
		if (p)
			d->pos = p;
		if (!m || !e || !p) {
			free(msg);
			return -ENOMEM;
		}
	}
	d->msgs[d->n] = msg;
	d->is_error[d->n] = is_error;
	d->pos[d->n] = pos;
	d->n++;
	if (is_error)
		d->n_errors++;
	else
		d->n_warnings++;
	return 0;
}

int ms_diag_vadd(struct ms_diag *d, const char *file, struct ms_pos pos, bool is_error,
		 const char *fmt, va_list ap)
{
	const char *kind = is_error ? "error" : "warning";
	char *body, *msg;
	int r;

	if (vasprintf(&body, fmt, ap) < 0)
		return -ENOMEM;
	if (pos.line && file)
		r = asprintf(&msg, "%s:%u:%u: %s: %s", file, pos.line, pos.col, kind, body);
	else if (pos.line)
		r = asprintf(&msg, "%u:%u: %s: %s", pos.line, pos.col, kind, body);
	else if (file)
		r = asprintf(&msg, "%s: %s: %s", file, kind, body);
	else
		r = asprintf(&msg, "%s: %s", kind, body);
	free(body);
	if (r < 0)
		return -ENOMEM;
	return ms_diag_push(d, pos, is_error, msg);
}

int ms_diag_add(struct ms_diag *d, const char *file, struct ms_pos pos, bool is_error,
		const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = ms_diag_vadd(d, file, pos, is_error, fmt, ap);
	va_end(ap);
	return r;
}

void ms_diag_free(struct ms_diag *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->msgs[i]);
	free(d->msgs);
	free(d->is_error);
	free(d->pos);
	memset(d, 0, sizeof(*d));
}

struct diag_order {
	struct ms_pos pos;
	size_t idx;
};

static int cmp_diag_order(const void *a, const void *b)
{
	const struct diag_order *x = a, *y = b;

	if (x->pos.line != y->pos.line)
		return x->pos.line < y->pos.line ? -1 : 1;
	if (x->pos.col != y->pos.col)
		return x->pos.col < y->pos.col ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

void ms_diag_sort(struct ms_diag *d)
{
	struct diag_order *o;
	char **msgs;
	bool *is_err;

	if (d->n < 2)
		return;
	o = malloc(d->n * sizeof(*o));
	msgs = malloc(d->n * sizeof(*msgs));
	is_err = malloc(d->n * sizeof(*is_err));
	/* Ordering is a nicety: without memory the messages keep their order. */
	if (o && msgs && is_err) {
		for (size_t i = 0; i < d->n; i++)
			o[i] = (struct diag_order){ d->pos[i], i };
		qsort(o, d->n, sizeof(*o), cmp_diag_order);
		for (size_t i = 0; i < d->n; i++) {
			msgs[i] = d->msgs[o[i].idx];
			is_err[i] = d->is_error[o[i].idx];
		}
		for (size_t i = 0; i < d->n; i++) {
			d->msgs[i] = msgs[i];
			d->is_error[i] = is_err[i];
			d->pos[i] = o[i].pos;
		}
	}
	free(o);
	free(msgs);
	free(is_err);
}

void ms_diag_print(const struct ms_diag *d, FILE *f)
{
	for (size_t i = 0; i < d->n; i++)
		fprintf(f, "%s\n", d->msgs[i]);
}
