// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse_ctx.h"
#include "policy_lint.h"
#include "policy_parse.h"

/* ---------------------------------------------------------------------- */
/* Top level: version, mode, default */

enum {
	K_VERSION,
	K_MODE,
	K_DEFAULT,
	K_WORKLOADS,
	K_RULES,
	K_ANOMALY,
	K_DISCOVERY,
	K_HOST,
	K_AUTOLABELS,
	K_NTOP
};
static const char *const top_keys[] = { "version", "mode",	"default", "workloads", "rules",
					"anomaly", "discovery", "host",	   "autolabels" };

enum { A_SCAN_TARGETS, A_SCAN_WINDOW, A_NKEYS };
static const char *const anomaly_keys[] = { "scan_targets", "scan_window" };

/* anomaly: {scan_targets: N, scan_window: SECONDS} */
static void do_anomaly(struct pctx *c, const struct ynode *n)
{
	struct ynode *k[A_NKEYS], *v[A_NKEYS];
	long val;

	if (!pp_want(c, n, Y_MAP, "'anomaly' (a mapping)"))
		return;
	pp_map_fields(c, n, "'anomaly'", anomaly_keys, A_NKEYS, k, v);
	if (v[A_SCAN_TARGETS] &&
	    pp_want_int(c, v[A_SCAN_TARGETS], "scan_targets", 2, MS_SCAN_TARGETS_MAX, &val))
		c->p->scan_targets = (unsigned int)val;
	if (v[A_SCAN_WINDOW] &&
	    pp_want_int(c, v[A_SCAN_WINDOW], "scan_window", 1, MS_SCAN_WINDOW_MAX, &val))
		c->p->scan_window = (unsigned int)val;
}

static void do_header(struct pctx *c, const struct ynode *root, struct ynode **v)
{
	static const char *const modes[] = { "enforce", "monitor" };
	static const char *const defaults[] = { "allow", "deny" };
	long ver;
	int i;

	if (!v[K_VERSION])
		pp_perr(c, root->pos, "missing 'version' (this microsegd reads version 1)");
	else if (pp_want_int(c, v[K_VERSION], "version", LONG_MIN, LONG_MAX, &ver) && ver != 1)
		pp_perr(c, v[K_VERSION]->pos,
			"unsupported policy version %ld (this microsegd reads version 1)", ver);
	if (v[K_MODE] && (i = pp_want_enum(c, v[K_MODE], "mode", modes, 2)) >= 0)
		c->p->monitor = i == 1;
	if (v[K_DEFAULT] && (i = pp_want_enum(c, v[K_DEFAULT], "default", defaults, 2)) >= 0)
		c->p->default_action = i == 0 ? MS_ACT_ALLOW : MS_ACT_DENY;
}

/* ---------------------------------------------------------------------- */
/* Entry points */

static void do_root(struct pctx *c, const struct ynode *root)
{
	struct ynode *k[K_NTOP], *v[K_NTOP];

	if (!root || pp_is_null(root)) {
		pp_perr(c, (struct ms_pos){ 1, 1 },
			"empty policy: expected a mapping starting with 'version: 1'");
		return;
	}
	if (!pp_want(c, root, Y_MAP, "a policy"))
		return;
	pp_map_fields(c, root, "the policy", top_keys, K_NTOP, k, v);
	do_header(c, root, v);
	if (v[K_DISCOVERY])
		pp_do_discovery(c, v[K_DISCOVERY]);
	if (v[K_HOST])
		pp_do_host(c, v[K_HOST]);
	if (v[K_AUTOLABELS])
		pp_do_autolabels(c, v[K_AUTOLABELS]);
	/* Workloads first: rules may name workloads defined further down. */
	if (v[K_WORKLOADS])
		pp_do_workloads(c, v[K_WORKLOADS]);
	if (!c->err)
		pp_add_inventory(c, v[K_WORKLOADS] ? v[K_WORKLOADS]->pos : root->pos);
	if (!c->err)
		pp_index_workloads(c);
	if (v[K_RULES] && !c->err)
		pp_do_rules(c, v[K_RULES]);
	if (v[K_ANOMALY])
		do_anomaly(c, v[K_ANOMALY]);
}

int ms_policy_parse_mem(const char *name, const void *buf, size_t len, struct ms_policy **out,
			struct ms_diag *d)
{
	return ms_policy_parse_mem_opts(name, buf, len, NULL, out, d);
}

int ms_policy_parse_mem_opts(const char *name, const void *buf, size_t len,
			     const struct ms_parse_opts *o, struct ms_policy **out,
			     struct ms_diag *d)
{
	struct pctx c = { .file = name, .d = d, .buf = buf, .len = len, .o = o };
	size_t errors_before = d->n_errors;
	struct ynode *root = NULL;
	int r;

	c.p = ms_policy_new();
	if (!c.p)
		return -ENOMEM;
	if (!yaml_parser_initialize(&c.yp)) {
		ms_policy_free(&c.p);
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&c.yp, buf, len);
	r = pp_load_stream(&c, &root);
	yaml_parser_delete(&c.yp);
	if (!r)
		do_root(&c, root);
	pp_arena_free(&c.arena);
	free(c.stk);
	free(c.by_name);
	pp_free_wl_index(c.wl_idx);
	pp_free_label_index(c.lbl_idx);
	if (!r && !c.err && o && o->discovery)
		c.p->discovery = true;
	if (!r && !c.err && d->n_errors == errors_before) {
		c.p->path = name ? strdup(name) : NULL;
		if (name && !c.p->path)
			c.err = -ENOMEM;
		else if (ms_policy_lint(c.p, name, d))
			c.err = -ENOMEM;
	}
	ms_diag_sort(d);
	if (c.err)
		r = c.err;
	else if (!r && d->n_errors != errors_before)
		r = -EINVAL;
	if (r) {
		ms_policy_free(&c.p);
		return r;
	}
	*out = c.p;
	return 0;
}

int ms_policy_read_file(const char *path, char **buf, size_t *len)
{
	FILE *f = fopen(path, "rb");
	size_t cap = 0, n = 0;
	char *b = NULL;
	int err = 0;

	if (!f)
		return -errno;
	for (;;) {
		size_t got;

		if (n == cap) {
			char *nb;

			if (cap >= MS_POLICY_MAX_BYTES) {
				err = -EFBIG;
				break;
			}
			cap = cap ? cap * 2 : 4096;
			nb = realloc(b, cap);
			if (!nb) {
				err = -ENOMEM;
				break;
			}
			b = nb;
		}
		got = fread(b + n, 1, cap - n, f);
		n += got;
		if (got == 0) {
			if (ferror(f))
				err = errno ? -errno : -EIO;
			break;
		}
	}
	fclose(f);
	if (err) {
		free(b);
		return err;
	}
	*buf = b;
	*len = n;
	return 0;
}

int ms_policy_parse_file(const char *path, struct ms_policy **out, struct ms_diag *d)
{
	char *buf = NULL, *msg;
	size_t len = 0;
	int r;

	r = ms_policy_read_file(path, &buf, &len);
	if (r) {
		if (asprintf(&msg, "%s: cannot open: %s", path, strerror(-r)) < 0)
			return -ENOMEM;
		if (ms_diag_push(d, (struct ms_pos){ 0, 0 }, true, msg))
			return -ENOMEM;
		return r;
	}
	r = ms_policy_parse_mem(path, buf ? buf : "", len, out, d);
	free(buf);
	return r;
}
