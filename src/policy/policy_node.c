// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse_ctx.h"

bool pp_is_null(const struct ynode *n)
{
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL" };

	if (n->kind != Y_SCALAR || !n->plain)
		return false;
	/* Called for nearly every node: reject most values at the first byte. */
	if (n->str[0] && n->str[0] != '~' && n->str[0] != 'n' && n->str[0] != 'N')
		return false;
	for (size_t i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++)
		if (!strcmp(n->str, nulls[i]))
			return true;
	return false;
}

static const char *kind_desc(enum ykind k)
{
	switch (k) {
	case Y_MAP:
		return "a mapping";
	case Y_SEQ:
		return "a list";
	default:
		return "a string";
	}
}

/* Check that n is a k (a non-null scalar for Y_SCALAR); report otherwise. */
bool pp_want(struct pctx *c, const struct ynode *n, enum ykind k, const char *what)
{
	if (n->kind == Y_BAD)
		return false;
	if (n->kind == k && !pp_is_null(n))
		return true;
	if (pp_is_null(n))
		pp_perr(c, n->pos, "%s is empty: expected %s", what, kind_desc(k));
	else if (n->kind == Y_SCALAR)
		pp_perr(c, n->pos, "%s must be %s, not the value '%s'", what, kind_desc(k),
			pp_disp(c, n));
	else
		pp_perr(c, n->pos, "%s must be %s, not %s", what, kind_desc(k), kind_desc(n->kind));
	return false;
}

/* A plain decimal integer; anything else (quoted, 0x.., 1e3) is a type error
 * so that "1" and 010 (octal in YAML 1.1) never mean something surprising. */
bool pp_want_int(struct pctx *c, const struct ynode *n, const char *what, long min, long max,
		 long *out)
{
	const char *s;
	char *end;
	long v;

	if (!pp_want(c, n, Y_SCALAR, what))
		return false;
	s = n->str;
	if (*s == '-' || *s == '+')
		s++;
	if (!n->plain || !isdigit((unsigned char)*s) || (s[0] == '0' && s[1])) {
		pp_perr(c, n->pos, "%s must be an integer, not '%s'%s", what, pp_disp(c, n),
			n->plain ? "" : " (a quoted string)");
		return false;
	}
	errno = 0;
	v = strtol(n->str, &end, 10);
	if (*end) {
		pp_perr(c, n->pos, "%s must be an integer, not '%s'", what, pp_disp(c, n));
		return false;
	}
	if (errno == ERANGE || v < min || v > max) {
		pp_perr(c, n->pos, "%s %s is out of range (%ld-%ld)", what, pp_disp(c, n), min,
			max);
		return false;
	}
	*out = v;
	return true;
}

/* Optimal string alignment distance: edits plus adjacent transpositions,
 * the typos people make ("tpc"). Case-insensitive: "TCP" suggests "tcp". */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), w = lb + 1, *d, r;

	if (la > NAME_MAX_LEN || lb > NAME_MAX_LEN)
		return SIZE_MAX;
	d = malloc((la + 1) * w * sizeof(*d));
	if (!d)
		return SIZE_MAX;
	for (size_t i = 0; i <= la; i++)
		d[i * w] = i;
	for (size_t j = 0; j <= lb; j++)
		d[j] = j;
	for (size_t i = 1; i <= la; i++) {
		for (size_t j = 1; j <= lb; j++) {
			int ca = tolower((unsigned char)a[i - 1]);
			int cb = tolower((unsigned char)b[j - 1]);
			size_t v = d[(i - 1) * w + j - 1] + (ca != cb);

			if (d[(i - 1) * w + j] + 1 < v)
				v = d[(i - 1) * w + j] + 1;
			if (d[i * w + j - 1] + 1 < v)
				v = d[i * w + j - 1] + 1;
			if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2]) &&
			    tolower((unsigned char)a[i - 2]) == cb &&
			    d[(i - 2) * w + j - 2] + 1 < v)
				v = d[(i - 2) * w + j - 2] + 1;
			d[i * w + j] = v;
		}
	}
	r = d[la * w + lb];
	free(d);
	return r;
}

/* The candidate closest to s, if close enough to be a likely typo. */
const char *pp_suggest(const char *s, const char *const *cands, size_t n)
{
	const char *best = NULL;
	size_t best_d = SIZE_MAX;

	size_t ls = strlen(s);

	for (size_t i = 0; i < n; i++) {
		size_t lc = strlen(cands[i]);
		size_t lim = lc <= 4 ? 1 : 2;
		size_t d;

		/* The distance is at least the length difference: skip early. */
		if ((ls > lc ? ls - lc : lc - ls) > lim)
			continue;
		d = edit_distance(s, cands[i]);
		if (d <= lim && d < best_d) {
			best = cands[i];
			best_d = d;
		}
	}
	return best;
}

int pp_find_str(const char *s, const char *const *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[0] == v[i][0] && !strcmp(s, v[i]))
			return (int)i;
	return -1;
}

static void unknown_key(struct pctx *c, const struct ynode *key, const char *where,
			const char *const *known, size_t n)
{
	const char *s = pp_suggest(key->str, known, n);

	if (s) {
		pp_perr(c, key->pos, "unknown key '%s' in %s; did you mean '%s'?", pp_disp(c, key),
			where, s);
		return;
	}
	/* Listing the keys turns a dead end into a fix. */
	char *list = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&list, &len);

	if (!f) {
		c->err = -ENOMEM;
		return;
	}
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s%s", i ? (i + 1 == n ? " or " : ", ") : "", known[i]);
	if (fclose(f)) {
		free(list);
		c->err = -ENOMEM;
		return;
	}
	pp_perr(c, key->pos, "unknown key '%s' in %s (expected %s)", pp_disp(c, key), where, list);
	free(list);
}

/*
 * Sort the pairs of mapping m into vals[]/keys[] by their index in known[],
 * reporting unknown keys. Duplicates were reported and flagged at load time.
 */
void pp_map_fields(struct pctx *c, const struct ynode *m, const char *where,
		   const char *const *known, size_t n, struct ynode **keys, struct ynode **vals)
{
	for (size_t i = 0; i < n; i++)
		keys[i] = vals[i] = NULL;
	for (size_t i = 0; i + 1 < m->n_kids; i += 2) {
		struct ynode *k = m->kids[i];
		int idx;

		if (k->skip)
			continue;
		idx = pp_find_str(k->str, known, n);
		if (idx < 0) {
			unknown_key(c, k, where, known, n);
			continue;
		}
		keys[idx] = k;
		vals[idx] = m->kids[i + 1];
	}
}

/* One of known[] as a non-null scalar; -1 (reported) otherwise. */
int pp_want_enum(struct pctx *c, const struct ynode *n, const char *what, const char *const *known,
		 size_t nk)
{
	const char *s;
	int idx;

	if (!pp_want(c, n, Y_SCALAR, what))
		return -1;
	idx = pp_find_str(n->str, known, nk);
	if (idx >= 0)
		return idx;
	s = pp_suggest(n->str, known, nk);
	if (s)
		pp_perr(c, n->pos, "invalid %s '%s'; did you mean '%s'?", what, pp_disp(c, n), s);
	else if (nk == 2)
		pp_perr(c, n->pos, "invalid %s '%s' (expected %s or %s)", what, pp_disp(c, n),
			known[0], known[1]);
	else
		pp_perr(c, n->pos, "invalid %s '%s' (expected %s, %s or %s)", what, pp_disp(c, n),
			known[0], known[1], known[2]);
	return -1;
}

/* Names appear in logs and flow events; keep them to a safe alphabet. */
static bool valid_name(const char *s)
{
	size_t len = strlen(s);

	if (!len || len > NAME_MAX_LEN)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("-_.", *s))
			return false;
	return true;
}

bool pp_want_name(struct pctx *c, const struct ynode *n, const char *what)
{
	if (!pp_want(c, n, Y_SCALAR, what))
		return false;
	if (!valid_name(n->str)) {
		pp_perr(c, n->pos, "invalid %s '%s': use 1-%d letters, digits, '-', '_' or '.'",
			what, pp_disp(c, n), NAME_MAX_LEN);
		return false;
	}
	return true;
}

bool pp_printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}
