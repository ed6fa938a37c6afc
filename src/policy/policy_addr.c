// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "parse_ctx.h"

static bool parse_cidr_node(struct pctx *c, const struct ynode *n, const char *what,
			    struct ms_cidr *out)
{
	char buf[MS_CIDR_STRLEN];
	const char *slash;
	int r;

	if (n->kind == Y_MAP && n->n_kids == 2 && n->kids[0]->kind == Y_SCALAR &&
	    n->kids[0]->str[0] && strchr(n->kids[0]->str, ':')) {
		/* "- 2001:db8::" reads as a mapping of "2001:db8:" to null. */
		pp_perr(c, n->pos,
			"%s must be an address, not a mapping (quote IPv6 addresses: \"%s:\")",
			what, pp_disp(c, n->kids[0]));
		return false;
	}
	if (!pp_want(c, n, Y_SCALAR, what))
		return false;
	r = ms_cidr_parse(n->str, out);
	if (r == -ERANGE) {
		pp_perr(c, n->pos, "'%s' has bits set beyond its prefix length; did you mean %s?",
			pp_disp(c, n), ms_cidr_format(out, buf));
		return false;
	}
	if (!r)
		return true;
	slash = strchr(n->str, '/');
	if (slash) {
		/* Tell a bad prefix length from a bad address: the fix differs. */
		char *a = strndup(n->str, (size_t)(slash - n->str));
		struct ms_cidr tmp;

		if (!a) {
			c->err = -ENOMEM;
			return false;
		}
		r = ms_cidr_parse(a, &tmp);
		free(a);
		if (!r) {
			bool v4 = tmp.plen == 128 && !strchr(n->str, ':');

			pp_perr(c, n->pos, "invalid prefix length in '%s' (%s)", pp_disp(c, n),
				v4 ? "IPv4: 0-32" : "IPv6: 0-128");
			return false;
		}
	}
	pp_perr(c, n->pos, "invalid address '%s' (expected an IPv4 or IPv6 address or CIDR)",
		pp_disp(c, n));
	return false;
}

/*
 * IPv4 is never matched by an IPv6 prefix: a list that names ::/0 (or any
 * IPv6 prefix spanning the IPv4-mapped block) and no IPv4 address most
 * likely meant "everything", which it is not.
 */
static void warn_v6_only(struct pctx *c, const struct ynode *n, const struct ms_cidr *v, size_t nv)
{
	size_t spans = nv;

	for (size_t i = 0; i < nv; i++)
		if (v[i].v6mapped)
			pp_pwarn(c, n->kids[i]->pos,
				 "'%s' is an IPv6 prefix (IPv4-mapped addresses in IPv6 packets), "
				 "never IPv4; write the IPv4 address or prefix to match IPv4",
				 pp_disp(c, n->kids[i]));
	for (size_t i = 0; i < nv; i++) {
		if (ms_cidr_is_v4(&v[i]))
			return; /* IPv4 is named too: the author knows */
		if (spans == nv && ms_cidr_spans_v4(&v[i]))
			spans = i;
	}
	if (spans < nv)
		pp_pwarn(c, n->kids[spans]->pos,
			 "'%s' matches IPv6 addresses only, never IPv4; add 0.0.0.0/0 (or the IPv4 "
			 "prefixes meant) to this list to match IPv4 too",
			 pp_disp(c, n->kids[spans]));
}

/* Parse a list of addresses into (*v, *nv). Returns true when every entry
 * parsed, so entry i of the result is kid i of n. */
bool pp_parse_addr_list(struct pctx *c, const struct ynode *n, const char *what, struct ms_cidr **v,
			size_t *nv)
{
	bool ok = true;

	if (!pp_want(c, n, Y_SEQ, what))
		return false;
	if (!n->n_kids) {
		pp_perr(c, n->pos, "%s is an empty list", what);
		return false;
	}
	for (size_t i = 0; i < n->n_kids; i++) {
		struct ms_cidr cidr;

		if (!parse_cidr_node(c, n->kids[i], "an address", &cidr)) {
			ok = false;
			continue;
		}
		if (ms_cidr_push(v, nv, &cidr)) {
			c->err = -ENOMEM;
			return false;
		}
	}
	if (ok && strcmp(what, "except"))
		warn_v6_only(c, n, *v + *nv - n->n_kids, n->n_kids);
	return ok;
}
