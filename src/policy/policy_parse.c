// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <yaml.h>

#include "autolabel.h"
#include "policy_lint.h"
#include "policy_parse.h"
#include "proto.h"

/* ---------------------------------------------------------------------- */
/* Diagnostics */

/* Arrays grow at powers of two, like policy.c's, so n alone implies the
 * capacity and a failed realloc of one array leaves the others consistent. */
static void *grow_to(void *v, size_t n, size_t sz)
{
	size_t ncap = n ? n * 2 : 1;

	return realloc(v, ncap * sz);
}

static int diag_push(struct ms_diag *d, struct ms_pos pos, bool is_error, char *msg)
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

__attribute__((format(printf, 5, 0))) static int diag_vadd(struct ms_diag *d, const char *file,
							   struct ms_pos pos, bool is_error,
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
	return diag_push(d, pos, is_error, msg);
}

int ms_diag_add(struct ms_diag *d, const char *file, struct ms_pos pos, bool is_error,
		const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = diag_vadd(d, file, pos, is_error, fmt, ap);
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

/* ---------------------------------------------------------------------- */
/* YAML to a small node tree */

/*
 * The tree is built from libyaml events rather than with yaml_parser_load()
 * because the document API resolves aliases silently, sharing nodes, which
 * lets a few bytes of "billion laughs" expand into an exponential walk. With
 * events, an alias is one node we can reject with its position.
 */
enum ykind { Y_SCALAR, Y_SEQ, Y_MAP, Y_BAD /* already reported; stay quiet */ };

/* 32 bytes, not 48: a 100,000-rule policy has 1.85M nodes, and a first
 * parse pays the page faults of every byte of the tree. */
struct ynode {
	struct ms_pos pos;
	uint8_t kind; /* enum ykind */
	bool plain;   /* plain and untagged: may be null or a number */
	bool skip;    /* mapping key already reported (duplicate, not a scalar) */
	uint32_t len; /* of str, up to its terminator */
	uint32_t n_kids;
	union {
		char *str;	     /* Y_SCALAR: NUL-terminated (it may hold NULs: reported) */
		struct ynode **kids; /* Y_SEQ: items; Y_MAP: key, value, key, value... */
	};
};
_Static_assert(sizeof(struct ynode) <= 32, "ynode grew");

/*
 * The tree of a large policy has millions of nodes and strings that all die
 * together, so they come from an arena of large blocks freed at once: per-node
 * malloc and free was a third of the parse time.
 */
struct arena_blk {
	struct arena_blk *next;
	size_t size, used;
	max_align_t data[]; /* aligned for anything */
};

struct arena {
	struct arena_blk *blk; /* block being carved first; the rest are full */
	size_t blk_size;       /* of the next block */
};

/* Blocks double from the first size to the last, so a small policy takes
 * little memory and a large one few blocks. From HUGE_SIZE on they are
 * aligned for transparent huge pages: the tree of a 100,000-rule policy
 * spans ~130 MB, and faulting that in 4 KiB at a time cost ~15% of its
 * parse. */
#define ARENA_FIRST_BLK (256u << 10)
#define ARENA_LAST_BLK (16u << 20)
#define HUGE_SIZE (2u << 20)

/* Policies nest about seven levels deep; this only stops runaway input
 * from exhausting the stack of the recursive builder. */
#define MAX_DEPTH 64
#define DISP_MAX 60
#define NAME_MAX_LEN 128

struct pctx {
	const char *file;
	struct ms_diag *d;
	struct ms_policy *p;
	const unsigned char *buf;
	size_t len;
	int err; /* -ENOMEM once memory ran out: stop trusting anything */
	yaml_parser_t yp;
	struct arena arena;
	/* Children of the containers being loaded, innermost last: a container
	 * learns its size at its end event, then takes an exact arena copy. */
	struct ynode **stk;
	size_t n_stk, cap_stk;
	struct ms_workload **by_name; /* workloads sorted by name, for suggestions */
	size_t n_by_name;
	struct wl_index *wl_idx;     /* workloads by name */
	struct label_index *lbl_idx; /* workloads by label, built on first use */
	const struct ms_parse_opts *o;
};

/* With discovery on, a selector that names no workload yet is a warning:
 * the container it means may not have started. */
static bool discovering(const struct pctx *c)
{
	return c->p->discovery || (c->o && c->o->discovery);
}

__attribute__((format(printf, 3, 4))) static void perr(struct pctx *c, struct ms_pos pos,
						       const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (diag_vadd(c->d, c->file, pos, true, fmt, ap))
		c->err = -ENOMEM;
	va_end(ap);
}

__attribute__((format(printf, 3, 4))) static void pwarn(struct pctx *c, struct ms_pos pos,
							const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (diag_vadd(c->d, c->file, pos, false, fmt, ap))
		c->err = -ENOMEM;
	va_end(ap);
}

static void *xcalloc(struct pctx *c, size_t n, size_t sz)
{
	void *p = calloc(n, sz);

	if (!p)
		c->err = -ENOMEM;
	return p;
}

static char *xstrdup(struct pctx *c, const char *s)
{
	char *r = strdup(s);

	if (!r)
		c->err = -ENOMEM;
	return r;
}

/* Uninitialised memory from c's arena, aligned to align (a power of two);
 * NULL and c->err set when memory runs out. */
static void *arena_alloc(struct pctx *c, size_t n, size_t align)
{
	struct arena_blk *b = c->arena.blk;
	size_t off;

	if (b) {
		off = (b->used + align - 1) & ~(align - 1);
		if (off <= b->size && b->size - off >= n) {
			b->used = off + n;
			return (char *)b->data + off;
		}
	}
	/* A request too big for a block gets a block of its own, put behind
	 * the current one so that what is left of that stays in use. */
	size_t bytes = c->arena.blk_size ? c->arena.blk_size : ARENA_FIRST_BLK;
	size_t size = bytes - sizeof(*b);

	if (n > size / 4) {
		size = n;
		bytes = n + sizeof(*b);
		if (bytes < n) {
			c->err = -ENOMEM;
			return NULL;
		}
	} else if (bytes < ARENA_LAST_BLK) {
		c->arena.blk_size = bytes * 2;
	}
	if (bytes >= HUGE_SIZE && bytes % HUGE_SIZE == 0) {
		b = aligned_alloc(HUGE_SIZE, bytes);
		/* Only a hint: without huge pages it is just memory. */
		if (b)
			madvise(b, bytes, MADV_HUGEPAGE);
	} else {
		b = malloc(bytes);
	}
	if (!b) {
		c->err = -ENOMEM;
		return NULL;
	}
	b->size = size;
	b->used = n;
	if (size == n && c->arena.blk) {
		b->next = c->arena.blk->next;
		c->arena.blk->next = b;
	} else {
		b->next = c->arena.blk;
		c->arena.blk = b;
	}
	return b->data;
}

static void arena_free(struct arena *a)
{
	while (a->blk) {
		struct arena_blk *next = a->blk->next;

		free(a->blk);
		a->blk = next;
	}
}

static struct ms_pos mark_pos(yaml_mark_t m)
{
	struct ms_pos p;

	p.line = m.line >= UINT32_MAX ? UINT32_MAX : (unsigned int)m.line + 1;
	p.col = m.column >= UINT32_MAX ? UINT32_MAX : (unsigned int)m.column + 1;
	return p;
}

/* s made printable and at most DISP_MAX characters, for messages; "?" when
 * out of memory (c->err is set then). */
static const char *make_disp(struct pctx *c, const char *s, size_t len)
{
	size_t cap = DISP_MAX * 4 + 4, o = 0;
	char *r = arena_alloc(c, cap + 1, 1);

	if (!r)
		return "?";
	size_t i;

	for (i = 0; i < len && o < DISP_MAX; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch >= 0x20 && ch < 0x7f && ch != '\\')
			r[o++] = (char)ch;
		else
			o += (size_t)snprintf(r + o, cap + 1 - o, "\\x%02x", ch);
	}
	if (i < len) {
		memcpy(r + o, "...", 3);
		o += 3;
	}
	r[o] = '\0';
	return r;
}

/* A scalar node's value for messages. Made on demand: few nodes ever
 * appear in a message, and a copy per scalar doubled the tree's size. */
static const char *disp(struct pctx *c, const struct ynode *n)
{
	if (n->kind != Y_SCALAR)
		return "?";
	return make_disp(c, n->str, n->len);
}

/* Convert a byte offset into a position, for reader errors (bad encoding),
 * which libyaml reports by offset only. Counting newlines is not parsing. */
static struct ms_pos offset_pos(const struct pctx *c, size_t off)
{
	struct ms_pos p = { 1, 1 };

	for (size_t i = 0; i < off && i < c->len; i++) {
		if (c->buf[i] == '\n') {
			p.line++;
			p.col = 1;
		} else if ((c->buf[i] & 0xc0) != 0x80) {
			p.col++;
		}
	}
	return p;
}

static int next_event(struct pctx *c, yaml_event_t *ev)
{
	const yaml_parser_t *y = &c->yp;
	struct ms_pos pos;

	if (yaml_parser_parse(&c->yp, ev))
		return 0;
	if (y->error == YAML_MEMORY_ERROR)
		return c->err = -ENOMEM;
	pos = y->error == YAML_READER_ERROR ? offset_pos(c, y->problem_offset)
					    : mark_pos(y->problem_mark);
	if (y->context) {
		struct ms_pos cp = mark_pos(y->context_mark);

		perr(c, pos, "invalid YAML: %s (%s at line %u)",
		     y->problem ? y->problem : "syntax error", y->context, cp.line);
	} else {
		perr(c, pos, "invalid YAML: %s", y->problem ? y->problem : "syntax error");
	}
	return -EINVAL;
}

static int push_kid(struct pctx *c, struct ynode *kid)
{
	if (c->n_stk == c->cap_stk) {
		size_t ncap = c->cap_stk ? c->cap_stk * 2 : 64;
		struct ynode **k = reallocarray(c->stk, ncap, sizeof(*k));

		if (!k)
			return c->err = -ENOMEM;
		c->stk = k;
		c->cap_stk = ncap;
	}
	c->stk[c->n_stk++] = kid;
	return 0;
}

struct key_order {
	const struct ynode *key;
	size_t idx;
};

static int cmp_key_order(const void *a, const void *b)
{
	const struct key_order *x = a, *y = b;
	int r = strcmp(x->key->str, y->key->str);

	if (r)
		return r;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Flag and report non-scalar and duplicate keys of a mapping. Sorting keeps
 * this O(n log n) for mappings as large as a workloads list can be. */
static void check_keys(struct pctx *c, struct ynode *m)
{
	size_t n = m->n_kids / 2, k = 0;
	struct key_order *o;

	/* Most mappings are small and clean: say so without sorting. */
	if (n <= 16) {
		bool clean = true;

		for (size_t i = 0; i < n && clean; i++) {
			const struct ynode *ki = m->kids[2 * i];

			clean = ki->kind == Y_SCALAR;
			for (size_t j = 0; j < i && clean; j++) {
				const struct ynode *kj = m->kids[2 * j];

				clean = ki->str[0] != kj->str[0] || strcmp(ki->str, kj->str);
			}
		}
		if (clean)
			return;
	}
	o = xcalloc(c, n, sizeof(*o));
	if (!o)
		return;
	for (size_t i = 0; i < n; i++) {
		struct ynode *key = m->kids[2 * i];

		if (key->kind == Y_BAD) {
			key->skip = true;
		} else if (key->kind != Y_SCALAR) {
			perr(c, key->pos, "a mapping key must be a plain string, not a %s",
			     key->kind == Y_MAP ? "mapping" : "list");
			key->skip = true;
		} else {
			o[k++] = (struct key_order){ key, i };
		}
	}
	qsort(o, k, sizeof(*o), cmp_key_order);
	for (size_t i = 1; i < k; i++) {
		size_t first = i - 1;

		while (i < k && !strcmp(o[i].key->str, o[first].key->str)) {
			struct ynode *dup = m->kids[2 * o[i].idx];

			perr(c, dup->pos, "duplicate key '%s' (first at line %u)", disp(c, dup),
			     o[first].key->pos.line);
			dup->skip = true;
			i++;
		}
	}
	free(o);
}

static int load_node(struct pctx *c, yaml_event_t *ev, unsigned int depth, struct ynode **out);

static int load_children(struct pctx *c, struct ynode *n, yaml_event_type_t end, unsigned int depth)
{
	size_t base = c->n_stk;
	int r;

	for (;;) {
		yaml_event_t ev;
		struct ynode *kid = NULL;

		r = next_event(c, &ev);
		if (r)
			break;
		if (ev.type == end) {
			yaml_event_delete(&ev);
			break;
		}
		r = load_node(c, &ev, depth + 1, &kid);
		yaml_event_delete(&ev);
		if (!r)
			r = push_kid(c, kid);
		if (r)
			break;
	}
	if (!r && c->n_stk - base > UINT32_MAX) {
		perr(c, n->pos, "too many items");
		r = -EINVAL;
	} else if (!r && c->n_stk > base) {
		n->n_kids = (uint32_t)(c->n_stk - base);
		n->kids = arena_alloc(c, n->n_kids * sizeof(*n->kids), _Alignof(struct ynode *));
		if (n->kids)
			memcpy(n->kids, c->stk + base, n->n_kids * sizeof(*n->kids));
		else
			r = -ENOMEM;
	}
	c->n_stk = base;
	return r;
}

static void check_tag(struct pctx *c, struct ms_pos pos, const yaml_char_t *tag,
		      const char *allowed)
{
	if (tag && strcmp((const char *)tag, allowed))
		perr(c, pos, "unsupported YAML tag '%s'",
		     make_disp(c, (const char *)tag, strlen((const char *)tag)));
}

static int load_node(struct pctx *c, yaml_event_t *ev, unsigned int depth, struct ynode **out)
{
	struct ynode *n = arena_alloc(c, sizeof(*n), _Alignof(struct ynode));
	const yaml_char_t *anchor = NULL;
	int r = 0;

	if (!n)
		return -ENOMEM;
	memset(n, 0, sizeof(*n));
	n->pos = mark_pos(ev->start_mark);
	switch (ev->type) {
	case YAML_ALIAS_EVENT:
		perr(c, n->pos, "YAML aliases are not supported; write the value out");
		n->kind = Y_BAD;
		break;
	case YAML_SCALAR_EVENT: {
		const char *v = (const char *)ev->data.scalar.value;
		size_t len = ev->data.scalar.length;

		if (len > UINT32_MAX) { /* past MS_POLICY_MAX_BYTES anyway */
			perr(c, n->pos, "value too long");
			r = -EINVAL;
			break;
		}
		n->kind = Y_SCALAR;
		anchor = ev->data.scalar.anchor;
		n->str = arena_alloc(c, len + 1, 1);
		if (!n->str) {
			r = -ENOMEM;
			break;
		}
		memcpy(n->str, v, len);
		n->str[len] = '\0';
		n->len = (uint32_t)len;
		n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !ev->data.scalar.tag;
		check_tag(c, n->pos, ev->data.scalar.tag, YAML_STR_TAG);
		if (memchr(v, '\0', len))
			perr(c, n->pos, "NUL character in '%s'", disp(c, n));
		break;
	}
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT: {
		bool seq = ev->type == YAML_SEQUENCE_START_EVENT;

		n->kind = seq ? Y_SEQ : Y_MAP;
		anchor = seq ? ev->data.sequence_start.anchor : ev->data.mapping_start.anchor;
		check_tag(c, n->pos, seq ? ev->data.sequence_start.tag : ev->data.mapping_start.tag,
			  seq ? YAML_SEQ_TAG : YAML_MAP_TAG);
		if (depth >= MAX_DEPTH) {
			perr(c, n->pos, "nested more than %d levels deep", MAX_DEPTH);
			r = -EINVAL;
			break;
		}
		r = load_children(c, n, seq ? YAML_SEQUENCE_END_EVENT : YAML_MAPPING_END_EVENT,
				  depth);
		if (!r && !seq)
			check_keys(c, n);
		break;
	}
	default:
		perr(c, n->pos, "invalid YAML: unexpected event");
		r = -EINVAL;
		break;
	}
	if (anchor)
		perr(c, n->pos, "YAML anchors are not supported");
	if (!r && c->err)
		r = c->err;
	if (r)
		return r;
	*out = n;
	return 0;
}

/* Load the single document of the stream; *root stays NULL for an empty
 * stream. Returns 0, -EINVAL after a reported syntax error, or -ENOMEM. */
static int load_stream(struct pctx *c, struct ynode **root)
{
	yaml_event_t ev;
	int r;

	r = next_event(c, &ev); /* STREAM-START */
	if (r)
		return r;
	yaml_event_delete(&ev);
	r = next_event(c, &ev);
	if (r)
		return r;
	if (ev.type == YAML_STREAM_END_EVENT) {
		yaml_event_delete(&ev);
		return 0;
	}
	yaml_event_delete(&ev); /* DOCUMENT-START */
	r = next_event(c, &ev);
	if (r)
		return r;
	r = load_node(c, &ev, 0, root);
	yaml_event_delete(&ev);
	if (r)
		return r;
	r = next_event(c, &ev); /* DOCUMENT-END */
	if (r)
		return r;
	yaml_event_delete(&ev);
	r = next_event(c, &ev);
	if (r)
		return r;
	if (ev.type != YAML_STREAM_END_EVENT) {
		perr(c, mark_pos(ev.start_mark),
		     "a policy file holds one YAML document; found a second one");
		r = -EINVAL;
	}
	yaml_event_delete(&ev);
	return r;
}

/* ---------------------------------------------------------------------- */
/* Node helpers */

static bool is_null(const struct ynode *n)
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
static bool want(struct pctx *c, const struct ynode *n, enum ykind k, const char *what)
{
	if (n->kind == Y_BAD)
		return false;
	if (n->kind == k && !is_null(n))
		return true;
	if (is_null(n))
		perr(c, n->pos, "%s is empty: expected %s", what, kind_desc(k));
	else if (n->kind == Y_SCALAR)
		perr(c, n->pos, "%s must be %s, not the value '%s'", what, kind_desc(k),
		     disp(c, n));
	else
		perr(c, n->pos, "%s must be %s, not %s", what, kind_desc(k), kind_desc(n->kind));
	return false;
}

/* A plain decimal integer; anything else (quoted, 0x.., 1e3) is a type error
 * so that "1" and 010 (octal in YAML 1.1) never mean something surprising. */
static bool want_int(struct pctx *c, const struct ynode *n, const char *what, long min, long max,
		     long *out)
{
	const char *s;
	char *end;
	long v;

	if (!want(c, n, Y_SCALAR, what))
		return false;
	s = n->str;
	if (*s == '-' || *s == '+')
		s++;
	if (!n->plain || !isdigit((unsigned char)*s) || (s[0] == '0' && s[1])) {
		perr(c, n->pos, "%s must be an integer, not '%s'%s", what, disp(c, n),
		     n->plain ? "" : " (a quoted string)");
		return false;
	}
	errno = 0;
	v = strtol(n->str, &end, 10);
	if (*end) {
		perr(c, n->pos, "%s must be an integer, not '%s'", what, disp(c, n));
		return false;
	}
	if (errno == ERANGE || v < min || v > max) {
		perr(c, n->pos, "%s %s is out of range (%ld-%ld)", what, disp(c, n), min, max);
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
static const char *suggest(const char *s, const char *const *cands, size_t n)
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

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static int find_str(const char *s, const char *const *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[0] == v[i][0] && !strcmp(s, v[i]))
			return (int)i;
	return -1;
}

static void unknown_key(struct pctx *c, const struct ynode *key, const char *where,
			const char *const *known, size_t n)
{
	const char *s = suggest(key->str, known, n);

	if (s) {
		perr(c, key->pos, "unknown key '%s' in %s; did you mean '%s'?", disp(c, key), where,
		     s);
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
	perr(c, key->pos, "unknown key '%s' in %s (expected %s)", disp(c, key), where, list);
	free(list);
}

/*
 * Sort the pairs of mapping m into vals[]/keys[] by their index in known[],
 * reporting unknown keys. Duplicates were reported and flagged at load time.
 */
static void map_fields(struct pctx *c, const struct ynode *m, const char *where,
		       const char *const *known, size_t n, struct ynode **keys, struct ynode **vals)
{
	for (size_t i = 0; i < n; i++)
		keys[i] = vals[i] = NULL;
	for (size_t i = 0; i + 1 < m->n_kids; i += 2) {
		struct ynode *k = m->kids[i];
		int idx;

		if (k->skip)
			continue;
		idx = find_str(k->str, known, n);
		if (idx < 0) {
			unknown_key(c, k, where, known, n);
			continue;
		}
		keys[idx] = k;
		vals[idx] = m->kids[i + 1];
	}
}

/* One of known[] as a non-null scalar; -1 (reported) otherwise. */
static int want_enum(struct pctx *c, const struct ynode *n, const char *what,
		     const char *const *known, size_t nk)
{
	const char *s;
	int idx;

	if (!want(c, n, Y_SCALAR, what))
		return -1;
	idx = find_str(n->str, known, nk);
	if (idx >= 0)
		return idx;
	s = suggest(n->str, known, nk);
	if (s)
		perr(c, n->pos, "invalid %s '%s'; did you mean '%s'?", what, disp(c, n), s);
	else if (nk == 2)
		perr(c, n->pos, "invalid %s '%s' (expected %s or %s)", what, disp(c, n), known[0],
		     known[1]);
	else
		perr(c, n->pos, "invalid %s '%s' (expected %s, %s or %s)", what, disp(c, n),
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

static bool want_name(struct pctx *c, const struct ynode *n, const char *what)
{
	if (!want(c, n, Y_SCALAR, what))
		return false;
	if (!valid_name(n->str)) {
		perr(c, n->pos, "invalid %s '%s': use 1-%d letters, digits, '-', '_' or '.'", what,
		     disp(c, n), NAME_MAX_LEN);
		return false;
	}
	return true;
}

static bool printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

/* ---------------------------------------------------------------------- */
/* Addresses */

static bool parse_cidr_node(struct pctx *c, const struct ynode *n, const char *what,
			    struct ms_cidr *out)
{
	char buf[MS_CIDR_STRLEN];
	const char *slash;
	int r;

	if (n->kind == Y_MAP && n->n_kids == 2 && n->kids[0]->kind == Y_SCALAR &&
	    n->kids[0]->str[0] && strchr(n->kids[0]->str, ':')) {
		/* "- 2001:db8::" reads as a mapping of "2001:db8:" to null. */
		perr(c, n->pos,
		     "%s must be an address, not a mapping (quote IPv6 addresses: \"%s:\")", what,
		     disp(c, n->kids[0]));
		return false;
	}
	if (!want(c, n, Y_SCALAR, what))
		return false;
	r = ms_cidr_parse(n->str, out);
	if (r == -ERANGE) {
		perr(c, n->pos, "'%s' has bits set beyond its prefix length; did you mean %s?",
		     disp(c, n), ms_cidr_format(out, buf));
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

			perr(c, n->pos, "invalid prefix length in '%s' (%s)", disp(c, n),
			     v4 ? "IPv4: 0-32" : "IPv6: 0-128");
			return false;
		}
	}
	perr(c, n->pos, "invalid address '%s' (expected an IPv4 or IPv6 address or CIDR)",
	     disp(c, n));
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
			pwarn(c, n->kids[i]->pos,
			      "'%s' is an IPv6 prefix (IPv4-mapped addresses in IPv6 packets), "
			      "never IPv4; write the IPv4 address or prefix to match IPv4",
			      disp(c, n->kids[i]));
	for (size_t i = 0; i < nv; i++) {
		if (ms_cidr_is_v4(&v[i]))
			return; /* IPv4 is named too: the author knows */
		if (spans == nv && ms_cidr_spans_v4(&v[i]))
			spans = i;
	}
	if (spans < nv)
		pwarn(c, n->kids[spans]->pos,
		      "'%s' matches IPv6 addresses only, never IPv4; add 0.0.0.0/0 (or the IPv4 "
		      "prefixes meant) to this list to match IPv4 too",
		      disp(c, n->kids[spans]));
}

/* Parse a list of addresses into (*v, *nv). Returns true when every entry
 * parsed, so entry i of the result is kid i of n. */
static bool parse_addr_list(struct pctx *c, const struct ynode *n, const char *what,
			    struct ms_cidr **v, size_t *nv)
{
	bool ok = true;

	if (!want(c, n, Y_SEQ, what))
		return false;
	if (!n->n_kids) {
		perr(c, n->pos, "%s is an empty list", what);
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

	if (!want(c, n, Y_MAP, "'anomaly' (a mapping)"))
		return;
	map_fields(c, n, "'anomaly'", anomaly_keys, A_NKEYS, k, v);
	if (v[A_SCAN_TARGETS] &&
	    want_int(c, v[A_SCAN_TARGETS], "scan_targets", 2, MS_SCAN_TARGETS_MAX, &val))
		c->p->scan_targets = (unsigned int)val;
	if (v[A_SCAN_WINDOW] &&
	    want_int(c, v[A_SCAN_WINDOW], "scan_window", 1, MS_SCAN_WINDOW_MAX, &val))
		c->p->scan_window = (unsigned int)val;
}

static void do_header(struct pctx *c, const struct ynode *root, struct ynode **v)
{
	static const char *const modes[] = { "enforce", "monitor" };
	static const char *const defaults[] = { "allow", "deny" };
	long ver;
	int i;

	if (!v[K_VERSION])
		perr(c, root->pos, "missing 'version' (this microsegd reads version 1)");
	else if (want_int(c, v[K_VERSION], "version", LONG_MIN, LONG_MAX, &ver) && ver != 1)
		perr(c, v[K_VERSION]->pos,
		     "unsupported policy version %ld (this microsegd reads version 1)", ver);
	if (v[K_MODE] && (i = want_enum(c, v[K_MODE], "mode", modes, 2)) >= 0)
		c->p->monitor = i == 1;
	if (v[K_DEFAULT] && (i = want_enum(c, v[K_DEFAULT], "default", defaults, 2)) >= 0)
		c->p->default_action = i == 0 ? MS_ACT_ALLOW : MS_ACT_DENY;
}

/* ---------------------------------------------------------------------- */
/* Workloads */

static void do_labels(struct pctx *c, const struct ynode *n, struct ms_workload *w)
{
	if (!want(c, n, Y_MAP, "labels"))
		return;
	/* Room for every pair at once; a realloc per label added up. */
	if (n->n_kids >= 2) {
		w->labels = reallocarray(NULL, n->n_kids / 2, sizeof(*w->labels));
		if (!w->labels) {
			c->err = -ENOMEM;
			return;
		}
	}
	for (size_t i = 0; i + 1 < n->n_kids; i += 2) {
		const struct ynode *k = n->kids[i], *v = n->kids[i + 1];
		struct ms_label *l;

		if (k->skip || !want(c, k, Y_SCALAR, "a label key") ||
		    !want(c, v, Y_SCALAR, "a label value"))
			continue;
		if (!printable(k->str) || !printable(v->str)) {
			perr(c, k->pos, "label '%s: %s' holds control characters", disp(c, k),
			     disp(c, v));
			continue;
		}
		l = &w->labels[w->n_labels];
		l->key = xstrdup(c, k->str);
		l->value = xstrdup(c, v->str);
		w->n_labels++;
	}
}

/* host: {labels: {env: prod, loc: eu-west}}: labels every discovered
 * workload of this host carries. */
static void do_host(struct pctx *c, const struct ynode *n)
{
	static const char *const keys[] = { "labels" };
	struct ynode *fk[1], *fv[1];
	struct ms_workload tmp = { 0 };

	if (!want(c, n, Y_MAP, "'host' (a mapping)"))
		return;
	map_fields(c, n, "'host'", keys, 1, fk, fv);
	if (!fv[0])
		return;
	do_labels(c, fv[0], &tmp);
	c->p->host_labels = tmp.labels;
	c->p->n_host_labels = tmp.n_labels;
}

static bool parse_port_spec(struct pctx *c, const struct ynode *n, struct ms_portrange *out);

/* autolabels: {tcp/9000: app, ...}: roles of listening ports, ahead of
 * the shipped table, in file order. */
static void do_autolabels(struct pctx *c, const struct ynode *n)
{
	struct ms_policy *p = c->p;

	if (!want(c, n, Y_MAP, "'autolabels' (a mapping of PROTO/PORT to a role)"))
		return;
	p->autolabels = n->n_kids >= 2 ? calloc(n->n_kids / 2, sizeof(*p->autolabels)) : NULL;
	if (n->n_kids >= 2 && !p->autolabels) {
		c->err = -ENOMEM;
		return;
	}
	for (size_t i = 0; i + 1 < n->n_kids; i += 2) {
		const struct ynode *k = n->kids[i], *v = n->kids[i + 1];
		struct ms_portrange pr;
		struct ms_autolabel *a;

		if (k->skip || !want(c, k, Y_SCALAR, "a port such as tcp/5432") ||
		    !parse_port_spec(c, k, &pr))
			continue;
		if (!strchr(k->str, '/')) {
			perr(c, k->pos, "autolabels need a port: '%s/PORT', not '%s' alone",
			     disp(c, k), disp(c, k));
			continue;
		}
		if (!want_name(c, v, "role"))
			continue;
		a = &p->autolabels[p->n_autolabels++];
		a->proto = pr.proto;
		a->lo = pr.lo;
		a->hi = pr.hi;
		a->role = xstrdup(c, v->str);
	}
}

/* discovery: true | false | {enabled: BOOL} */
static void do_discovery(struct pctx *c, const struct ynode *n)
{
	static const char *const bools[] = { "false", "true" };
	static const char *const keys[] = { "enabled" };
	struct ynode *fk[1], *fv[1];
	int i;

	if (n->kind == Y_MAP) {
		map_fields(c, n, "'discovery'", keys, 1, fk, fv);
		if (!fv[0])
			return;
		n = fv[0];
	}
	if ((i = want_enum(c, n, "discovery", bools, 2)) >= 0)
		c->p->discovery = i == 1;
}

/* The workloads discovery found, labelled by this policy, after the file's
 * own; a name the file already uses stays the file's. */
static void add_inventory(struct pctx *c, struct ms_pos at)
{
	const struct ms_parse_opts *o = c->o;

	for (size_t i = 0; o && i < o->n_inventory && !c->err; i++) {
		const struct ms_discovered *d = &o->inventory[i];
		struct ms_workload *w;
		bool taken = false;

		for (size_t j = 0; j < c->p->n_workloads && !taken; j++)
			taken = !strcmp(c->p->workloads[j].name, d->name);
		if (taken) {
			pwarn(c, at,
			      "discovered workload '%s' has the name of one in the policy; the "
			      "policy's is kept",
			      d->name);
			continue;
		}
		w = ms_policy_add_workload(c->p);
		if (!w || ms_autolabel_workload(c->p, d, w))
			c->err = -ENOMEM;
	}
}

static void do_workloads(struct pctx *c, const struct ynode *n)
{
	static const char *const keys[] = { "labels", "addresses" };

	if (!want(c, n, Y_MAP, "workloads"))
		return;
	for (size_t i = 0; i + 1 < n->n_kids && !c->err; i += 2) {
		const struct ynode *k = n->kids[i], *v = n->kids[i + 1];
		struct ynode *fk[2], *fv[2];
		struct ms_workload *w;

		if (k->skip || !want_name(c, k, "workload name"))
			continue;
		w = ms_policy_add_workload(c->p);
		if (!w) {
			c->err = -ENOMEM;
			return;
		}
		w->name = xstrdup(c, k->str);
		w->pos = k->pos;
		if (!want(c, v, Y_MAP, "a workload"))
			continue;
		map_fields(c, v, "a workload", keys, 2, fk, fv);
		if (fv[0])
			do_labels(c, fv[0], w);
		if (fv[1])
			parse_addr_list(c, fv[1], "addresses", &w->addrs, &w->n_addrs);
		else
			perr(c, k->pos, "workload '%s' has no 'addresses'", disp(c, k));
	}
}

static int cmp_workload_name(const void *a, const void *b)
{
	const struct ms_workload *x = *(struct ms_workload *const *)a;
	const struct ms_workload *y = *(struct ms_workload *const *)b;

	return strcmp(x->name, y->name);
}

/*
 * Hash tables for the name lookups that rules repeat up to hundreds of
 * thousands of times. Open addressing, at most half full; a slot holds an
 * index into the caller's array plus one (0 = empty), and the caller compares
 * the strings, with strcmp as everywhere else here.
 */
struct itab {
	size_t *slot;
	size_t mask;
};

static uint64_t hash_str(uint64_t h, const char *s)
{
	/* FNV-1a: short names, no adversary worth more (a policy is trusted). */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	return h;
}

#define HASH_INIT 0xcbf29ce484222325ull

/* The first slot to probe for hash h. FNV's low bits alone cluster badly on
 * names that differ only in trailing digits (w1, w2, ...): mix first. */
static size_t itab_first(const struct itab *t, uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return (size_t)h & t->mask;
}

static bool itab_init(struct pctx *c, struct itab *t, size_t n)
{
	size_t cap = 16;

	while (cap < n * 2)
		cap *= 2;
	t->slot = xcalloc(c, cap, sizeof(*t->slot));
	t->mask = cap - 1;
	return t->slot != NULL;
}

/* Workloads by name: slots index c->p->workloads. */
struct wl_index {
	struct itab tab;
};

/* Every (key, value) label pair and, for each, the workloads carrying it in
 * file order, so that a selector visits only workloads that can match. */
struct label_ent {
	const char *key, *value;
	size_t first, n; /* range of ws */
};

struct label_index {
	struct itab tab; /* slots index ents */
	struct label_ent *ents;
	size_t n_ents;
	size_t *ws; /* workload indexes, grouped by pair */
};

static void index_workloads(struct pctx *c)
{
	const struct ms_policy *p = c->p;
	struct wl_index *x = xcalloc(c, 1, sizeof(*x));

	if (!x)
		return;
	c->wl_idx = x;
	if (!itab_init(c, &x->tab, p->n_workloads))
		return;
	for (size_t i = 0; i < p->n_workloads; i++) {
		const char *name = p->workloads[i].name;
		size_t j;

		if (!name)
			continue;
		for (j = itab_first(&x->tab, hash_str(HASH_INIT, name)); x->tab.slot[j];
		     j = (j + 1) & x->tab.mask)
			if (!strcmp(p->workloads[x->tab.slot[j] - 1].name, name))
				break;
		if (!x->tab.slot[j]) /* names are unique; keep the first anyway */
			x->tab.slot[j] = i + 1;
	}
}

static void free_wl_index(struct wl_index *x)
{
	if (x)
		free(x->tab.slot);
	free(x);
}

static struct ms_workload *lookup_workload(struct pctx *c, const char *name)
{
	const struct wl_index *x = c->wl_idx;
	struct ms_workload *w;

	if (!x || !x->tab.slot)
		return NULL;
	for (size_t j = itab_first(&x->tab, hash_str(HASH_INIT, name)); x->tab.slot[j];
	     j = (j + 1) & x->tab.mask) {
		w = &c->p->workloads[x->tab.slot[j] - 1];
		if (!strcmp(w->name, name))
			return w;
	}
	return NULL;
}

/* The names in sorted order, the order suggestions are drawn in. Only
 * needed for a mistake, so built on the first. */
static bool sort_workload_names(struct pctx *c)
{
	struct ms_policy *p = c->p;

	if (c->by_name)
		return true;
	c->by_name = xcalloc(c, p->n_workloads + 1, sizeof(*c->by_name));
	if (!c->by_name)
		return false;
	for (size_t i = 0; i < p->n_workloads; i++)
		if (p->workloads[i].name)
			c->by_name[c->n_by_name++] = &p->workloads[i];
	qsort(c->by_name, c->n_by_name, sizeof(*c->by_name), cmp_workload_name);
	return true;
}

static struct ms_workload *find_workload(struct pctx *c, const struct ynode *n)
{
	struct ms_workload *hit = lookup_workload(c, n->str);
	const char **names;
	const char *s;

	if (hit || !sort_workload_names(c))
		return hit;
	names = xcalloc(c, c->n_by_name + 1, sizeof(*names));
	if (!names)
		return NULL;
	for (size_t i = 0; i < c->n_by_name; i++)
		names[i] = c->by_name[i]->name;
	s = suggest(n->str, names, c->n_by_name);
	if (discovering(c))
		pwarn(c, n->pos,
		      "no workload '%s' is known or discovered yet; it matches no address "
		      "until one is",
		      disp(c, n));
	else if (s)
		perr(c, n->pos, "unknown workload '%s'; did you mean '%s'?", disp(c, n), s);
	else
		perr(c, n->pos, "unknown workload '%s'", disp(c, n));
	free(names);
	return NULL;
}

static size_t *label_slot(const struct label_index *x, const char *k, const char *v)
{
	size_t j = itab_first(&x->tab, hash_str(hash_str(HASH_INIT, k) * 31 + 1, v));

	for (; x->tab.slot[j]; j = (j + 1) & x->tab.mask) {
		const struct label_ent *e = &x->ents[x->tab.slot[j] - 1];

		if (!strcmp(e->key, k) && !strcmp(e->value, v))
			break;
	}
	return &x->tab.slot[j];
}

static const struct label_ent *lookup_label(const struct label_index *x, const char *k,
					    const char *v)
{
	size_t s = *label_slot(x, k, v);

	return s ? &x->ents[s - 1] : NULL;
}

static void free_label_index(struct label_index *x)
{
	if (x) {
		free(x->tab.slot);
		free(x->ents);
		free(x->ws);
	}
	free(x);
}

/* Build c->lbl_idx; false (c->err set) when out of memory. */
static bool index_labels(struct pctx *c)
{
	const struct ms_policy *p = c->p;
	struct label_index *x;
	size_t total = 0, *occ, o = 0;

	if (c->lbl_idx)
		return true;
	for (size_t w = 0; w < p->n_workloads; w++)
		total += p->workloads[w].n_labels;
	x = xcalloc(c, 1, sizeof(*x));
	occ = xcalloc(c, total + 1, sizeof(*occ)); /* entry of each label, in order */
	if (!x || !occ || !itab_init(c, &x->tab, total) ||
	    !(x->ents = xcalloc(c, total + 1, sizeof(*x->ents))) ||
	    !(x->ws = xcalloc(c, total + 1, sizeof(*x->ws)))) {
		free_label_index(x);
		free(occ);
		return false;
	}
	/* Count the workloads of each pair, then place them by prefix sums. */
	for (size_t w = 0; w < p->n_workloads; w++) {
		const struct ms_workload *wl = &p->workloads[w];

		for (size_t i = 0; i < wl->n_labels; i++, o++) {
			const struct ms_label *l = &wl->labels[i];
			size_t *slot = label_slot(x, l->key, l->value);

			if (!*slot) {
				x->ents[x->n_ents] = (struct label_ent){ l->key, l->value, 0, 0 };
				*slot = ++x->n_ents;
			}
			occ[o] = *slot - 1;
			x->ents[occ[o]].n++;
		}
	}
	for (size_t e = 0, sum = 0; e < x->n_ents; e++) {
		x->ents[e].first = sum;
		sum += x->ents[e].n;
		x->ents[e].n = 0;
	}
	o = 0;
	for (size_t w = 0; w < p->n_workloads; w++)
		for (size_t i = 0; i < p->workloads[w].n_labels; i++, o++) {
			struct label_ent *e = &x->ents[occ[o]];

			x->ws[e->first + e->n++] = w;
		}
	free(occ);
	c->lbl_idx = x;
	return true;
}

static void add_workload_addrs(struct pctx *c, struct ms_addr_term *t, const struct ms_workload *w)
{
	for (size_t i = 0; i < w->n_addrs; i++)
		if (ms_cidr_push(&t->cidrs, &t->n_cidrs, &w->addrs[i]))
			c->err = -ENOMEM;
}

static bool has_label(const struct ms_workload *w, const char *k, const char *v)
{
	for (size_t i = 0; i < w->n_labels; i++)
		if (w->labels[i].key && w->labels[i].value && !strcmp(w->labels[i].key, k) &&
		    !strcmp(w->labels[i].value, v))
			return true;
	return false;
}

/* ---------------------------------------------------------------------- */
/* Selectors */

enum { S_CIDR, S_EXCEPT, S_WORKLOAD, S_WORKLOADS, S_LABELS, S_N };
static const char *const sel_keys[] = { "cidr", "except", "workload", "workloads", "labels" };

static void sel_cidr(struct pctx *c, struct ms_addr_term *t, const struct ynode *cidr,
		     const struct ynode *except)
{
	bool ok = parse_addr_list(c, cidr, "cidr", &t->cidrs, &t->n_cidrs);

	if (!except)
		return;
	if (!parse_addr_list(c, except, "except", &t->except, &t->n_except) || !ok)
		return;
	/* An except outside every cidr excludes nothing: almost surely a typo. */
	for (size_t i = 0; i < t->n_except; i++) {
		const struct ms_cidr *e = &t->except[i];
		bool inside = false;

		bool equal = false;

		for (size_t j = 0; j < t->n_cidrs && !inside; j++) {
			inside = e->plen >= t->cidrs[j].plen &&
				 ms_cidr_contains_af(&t->cidrs[j], e->addr, ms_cidr_is_v4(e));
			equal = inside && e->plen == t->cidrs[j].plen;
		}
		if (!inside)
			perr(c, except->kids[i]->pos,
			     "except '%s' is not inside any cidr of this selector",
			     disp(c, except->kids[i]));
		else if (equal)
			pwarn(c, except->kids[i]->pos,
			      "except '%s' is its cidr whole: it removes every address that cidr "
			      "adds",
			      disp(c, except->kids[i]));
	}
}

static void sel_labels(struct pctx *c, struct ms_addr_term *t, const struct ynode *n)
{
	const struct ms_policy *p = c->p;
	size_t matched = 0;
	bool ok = true;

	if (!want(c, n, Y_MAP, "labels"))
		return;
	if (!n->n_kids) {
		perr(c, n->pos, "labels selector is empty; name at least one label");
		return;
	}
	for (size_t i = 0; i + 1 < n->n_kids; i += 2)
		if (!n->kids[i]->skip && (!want(c, n->kids[i], Y_SCALAR, "a label key") ||
					  !want(c, n->kids[i + 1], Y_SCALAR, "a label value")))
			ok = false;
	if (!ok || !index_labels(c))
		return;
	/* Only the workloads carrying the rarest pair can match them all. The
	 * pairs include those of keys flagged as duplicates (all must hold); a
	 * key or value that is no string (reported already) matches nothing. */
	const struct label_ent *rarest = NULL;

	for (size_t i = 0; i + 1 < n->n_kids; i += 2) {
		const char *k = n->kids[i]->str, *v = n->kids[i + 1]->str;
		const struct label_ent *e = k && v ? lookup_label(c->lbl_idx, k, v) : NULL;

		if (!e) {
			rarest = NULL;
			break;
		}
		if (!rarest || e->n < rarest->n)
			rarest = e;
	}
	for (size_t j = 0; rarest && j < rarest->n; j++) {
		const struct ms_workload *w = &p->workloads[c->lbl_idx->ws[rarest->first + j]];
		bool all = true;

		for (size_t i = 0; i + 1 < n->n_kids && all; i += 2)
			all = has_label(w, n->kids[i]->str, n->kids[i + 1]->str);
		if (all) {
			add_workload_addrs(c, t, w);
			matched++;
		}
	}
	if (!matched && discovering(c))
		pwarn(c, n->pos,
		      "labels selector matches no workload yet; it matches no address "
		      "until a discovered one carries these labels");
	else if (!matched)
		perr(c, n->pos, "labels selector matches no workload");
}

static void do_selector_map(struct pctx *c, const struct ynode *m, struct ms_addrset *s)
{
	struct ynode *k[S_N], *v[S_N];
	struct ms_addr_term *t;
	const struct ynode *first = NULL;
	int kind = -1, nkinds = 0;

	map_fields(c, m, "a selector", sel_keys, S_N, k, v);
	for (size_t i = 0; i + 1 < m->n_kids; i += 2) {
		int idx;

		if (m->kids[i]->skip)
			continue;
		idx = find_str(m->kids[i]->str, sel_keys, S_N);
		if (idx < 0 || idx == S_EXCEPT)
			continue;
		if (++nkinds == 1) {
			first = m->kids[i];
			kind = idx;
		} else {
			perr(c, m->kids[i]->pos,
			     "a selector holds exactly one of cidr, workload, workloads or labels, "
			     "not both '%s' and '%s'; use a list of selectors for a union",
			     first->str, m->kids[i]->str);
		}
	}
	if (!nkinds) {
		perr(c, m->pos, "a selector needs one of cidr, workload, workloads or labels%s",
		     k[S_EXCEPT] ? " ('except' only refines 'cidr')" : "");
		return;
	}
	if (k[S_EXCEPT] && kind != S_CIDR && !k[S_CIDR])
		perr(c, k[S_EXCEPT]->pos, "'except' only refines 'cidr'");
	if (nkinds > 1)
		return;
	t = ms_addrset_add_term(s);
	if (!t) {
		c->err = -ENOMEM;
		return;
	}
	switch (kind) {
	case S_CIDR:
		sel_cidr(c, t, v[S_CIDR], v[S_EXCEPT]);
		break;
	case S_WORKLOAD: {
		const struct ms_workload *w;

		if (want(c, v[S_WORKLOAD], Y_SCALAR, "workload") &&
		    (w = find_workload(c, v[S_WORKLOAD])))
			add_workload_addrs(c, t, w);
		break;
	}
	case S_WORKLOADS: {
		const struct ynode *n = v[S_WORKLOADS];

		if (!want(c, n, Y_SEQ, "workloads"))
			break;
		if (!n->n_kids)
			perr(c, n->pos, "workloads is an empty list");
		for (size_t i = 0; i < n->n_kids; i++) {
			const struct ms_workload *w;

			if (want(c, n->kids[i], Y_SCALAR, "a workload name") &&
			    (w = find_workload(c, n->kids[i])))
				add_workload_addrs(c, t, w);
		}
		break;
	}
	case S_LABELS:
		sel_labels(c, t, v[S_LABELS]);
		break;
	}
}

static void do_selector(struct pctx *c, const struct ynode *n, const char *what,
			struct ms_addrset *s)
{
	if (n->kind == Y_BAD)
		return;
	s->any = false;
	if (is_null(n)) {
		perr(c, n->pos, "'%s' is empty; omit it to match any address", what);
		return;
	}
	if (n->kind == Y_MAP) {
		do_selector_map(c, n, s);
		return;
	}
	if (n->kind != Y_SEQ) {
		perr(c, n->pos, "'%s' must be a selector mapping or a list of them, not '%s'", what,
		     disp(c, n));
		return;
	}
	if (!n->n_kids) {
		perr(c, n->pos,
		     "'%s' is an empty list, which matches nothing; omit it to "
		     "match any address",
		     what);
		return;
	}
	for (size_t i = 0; i < n->n_kids && !c->err; i++)
		if (want(c, n->kids[i], Y_MAP, "a selector"))
			do_selector_map(c, n->kids[i], s);
}

/* ---------------------------------------------------------------------- */
/* Ports */

struct proto_name {
	const char *name;
	uint8_t proto;
};

/* Names for the ICMP types people write policy for; numbers work for all. */
static const struct proto_name icmp_types[] = {
	{ "echo-reply", 0 },   { "destination-unreachable", 3 }, { "redirect", 5 },
	{ "echo-request", 8 }, { "time-exceeded", 11 },		 { "parameter-problem", 12 },
};

static const struct proto_name icmp6_types[] = {
	{ "destination-unreachable", 1 }, { "packet-too-big", 2 }, { "time-exceeded", 3 },
	{ "parameter-problem", 4 },	  { "echo-request", 128 }, { "echo-reply", 129 },
};

static int lookup_name(const char *s, const struct proto_name *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[0] == v[i].name[0] && !strcmp(s, v[i].name))
			return v[i].proto;
	return -1;
}

/* Decimal digits only, at most max; -1 when malformed, -2 when too big. */
static long parse_num(const char *s, size_t len, long max)
{
	long v = 0;

	if (!len)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		if (v <= max)
			v = v * 10 + (s[i] - '0');
	}
	return v > max ? -2 : v;
}

static void proto_desc(uint8_t proto, char *buf, size_t len)
{
	const char *name = ms_proto_name(proto);

	if (name)
		snprintf(buf, len, "%s", name);
	else
		snprintf(buf, len, "%u", proto);
}

static bool parse_port_spec(struct pctx *c, const struct ynode *n, struct ms_portrange *out)
{
	const char *s = n->str, *slash = strchr(s, '/'), *rest, *dash;
	size_t plen = slash ? (size_t)(slash - s) : strlen(s);
	long proto = -1, lo, hi, max;
	char pname[16];
	char *pstr = strndup(s, plen);

	if (!pstr) {
		c->err = -ENOMEM;
		return false;
	}
	proto = ms_proto_by_name(pstr);
	if (proto < 0)
		proto = parse_num(pstr, plen, 255);
	if (proto < 0) {
		static const char *const names[] = { "tcp", "udp", "sctp", "icmp", "icmpv6" };
		const char *sug = suggest(pstr, names, ARRAY_SIZE(names));

		if (proto == -2)
			perr(c, n->pos, "protocol number in '%s' is out of range (0-255)",
			     disp(c, n));
		else if (sug)
			perr(c, n->pos, "unknown protocol in '%s'; did you mean '%s'?", disp(c, n),
			     sug);
		else
			perr(c, n->pos,
			     "unknown protocol in '%s' (expected tcp, udp, sctp, icmp, icmpv6 "
			     "or a number 0-255)",
			     disp(c, n));
		free(pstr);
		return false;
	}
	free(pstr);
	out->proto = (uint8_t)proto;
	max = ms_proto_has_ports(out->proto) ? 65535 : ms_proto_is_icmp(out->proto) ? 255 : 0;
	proto_desc(out->proto, pname, sizeof(pname));
	if (!slash) {
		if (n->plain && !ms_proto_has_ports(out->proto) && !ms_proto_is_icmp(out->proto))
			pwarn(c, n->pos,
			      "'%s' means every packet of IP protocol %s; for a "
			      "port write tcp/%s or udp/%s (quote it to keep the "
			      "protocol and silence this)",
			      disp(c, n), pname, disp(c, n), disp(c, n));
		out->lo = 0;
		out->hi = (uint16_t)max;
		return true;
	}
	rest = slash + 1;
	if (!max) {
		perr(c, n->pos, "protocol %s has no ports, in '%s'", pname, disp(c, n));
		return false;
	}
	if (out->proto == MS_PROTO_ICMP || out->proto == MS_PROTO_ICMPV6) {
		int t = out->proto == MS_PROTO_ICMP
				? lookup_name(rest, icmp_types, ARRAY_SIZE(icmp_types))
				: lookup_name(rest, icmp6_types, ARRAY_SIZE(icmp6_types));

		if (t >= 0) {
			out->lo = out->hi = (uint16_t)t;
			return true;
		}
	} else if (lookup_name(rest, icmp_types, ARRAY_SIZE(icmp_types)) >= 0 ||
		   lookup_name(rest, icmp6_types, ARRAY_SIZE(icmp6_types)) >= 0) {
		perr(c, n->pos, "ICMP type in '%s', but %s is not icmp or icmpv6", disp(c, n),
		     pname);
		return false;
	}
	dash = strchr(rest, '-');
	lo = parse_num(rest, dash ? (size_t)(dash - rest) : strlen(rest), max);
	hi = dash ? parse_num(dash + 1, strlen(dash + 1), max) : lo;
	if (lo == -1 || hi == -1) {
		if (ms_proto_is_icmp(out->proto))
			perr(c, n->pos,
			     "invalid ICMP type in '%s' (expected a number 0-255, a "
			     "range or a type name such as echo-request)",
			     disp(c, n));
		else
			perr(c, n->pos, "invalid port in '%s' (expected PORT or PORT-PORT)",
			     disp(c, n));
		return false;
	}
	if (lo == -2 || hi == -2) {
		perr(c, n->pos, "%s out of range in '%s' (0-%ld)",
		     ms_proto_is_icmp(out->proto) ? "ICMP type" : "port", disp(c, n), max);
		return false;
	}
	if (lo > hi) {
		perr(c, n->pos, "reversed range in '%s'; did you mean %s/%ld-%ld?", disp(c, n),
		     pname, hi, lo);
		return false;
	}
	out->lo = (uint16_t)lo;
	out->hi = (uint16_t)hi;
	return true;
}

static void do_ports(struct pctx *c, const struct ynode *n, struct ms_rule *r)
{
	r->any_port = false;
	if (n->kind == Y_BAD)
		return;
	if (is_null(n)) {
		perr(c, n->pos, "'ports' is empty; omit it to match every protocol and port");
		return;
	}
	if (!want(c, n, Y_SEQ, "ports"))
		return;
	if (!n->n_kids) {
		perr(c, n->pos,
		     "'ports' is an empty list, which matches nothing; omit it to "
		     "match every protocol and port");
		return;
	}
	for (size_t i = 0; i < n->n_kids; i++) {
		struct ms_portrange pr;

		if (!want(c, n->kids[i], Y_SCALAR, "a ports entry") ||
		    !parse_port_spec(c, n->kids[i], &pr))
			continue;
		if (ms_port_push(&r->ports, &r->n_ports, &pr)) {
			c->err = -ENOMEM;
			return;
		}
	}
}

/* ---------------------------------------------------------------------- */
/* Rules */

enum { R_NAME, R_PRIORITY, R_ACTION, R_DIRECTION, R_FROM, R_TO, R_PORTS, R_N };
static const char *const rule_keys[] = { "name", "priority", "action", "direction",
					 "from", "to",	     "ports" };

struct rule_name {
	const char *name;
	struct ms_pos pos;
};

/* Report every rule name seen before, at the later rule, through a hash
 * table of the names in file order. Every message has its own position, so
 * after ms_diag_sort the order is the file's whatever order we add them in. */
static void check_rule_names(struct pctx *c, const struct rule_name *names, size_t n)
{
	struct itab t;

	if (!itab_init(c, &t, n))
		return;
	for (size_t i = 0; i < n; i++) {
		size_t j = itab_first(&t, hash_str(HASH_INIT, names[i].name));

		for (; t.slot[j]; j = (j + 1) & t.mask)
			if (!strcmp(names[t.slot[j] - 1].name, names[i].name))
				break;
		if (t.slot[j])
			perr(c, names[i].pos, "duplicate rule name '%s' (first at line %u)",
			     names[i].name, names[t.slot[j] - 1].pos.line);
		else
			t.slot[j] = i + 1;
	}
	free(t.slot);
}

static void do_rule(struct pctx *c, const struct ynode *m, struct ms_rule *r,
		    struct rule_name *name)
{
	static const char *const actions[] = { "allow", "deny", "log" };
	static const uint8_t action_val[] = { MS_ACT_ALLOW, MS_ACT_DENY, MS_ACT_LOG };
	static const char *const dirs[] = { "ingress", "egress", "any" };
	static const uint8_t dir_val[] = { MS_DIRMASK_INGRESS, MS_DIRMASK_EGRESS, MS_DIRMASK_ANY };
	struct ynode *k[R_N], *v[R_N];
	long prio;
	int i;

	map_fields(c, m, "a rule", rule_keys, R_N, k, v);
	if (!v[R_NAME])
		perr(c, m->pos, "rule has no 'name'");
	else if (want_name(c, v[R_NAME], "rule name")) {
		r->name = xstrdup(c, v[R_NAME]->str);
		name->name = r->name;
		name->pos = v[R_NAME]->pos;
	}
	if (v[R_PRIORITY] && want_int(c, v[R_PRIORITY], "priority", 0, 65535, &prio))
		r->priority = (int)prio;
	if (!v[R_ACTION])
		perr(c, m->pos, "rule has no 'action' (allow, deny or log)");
	else if ((i = want_enum(c, v[R_ACTION], "action", actions, 3)) >= 0)
		r->action = action_val[i];
	if (v[R_DIRECTION] && (i = want_enum(c, v[R_DIRECTION], "direction", dirs, 3)) >= 0)
		r->dirmask = dir_val[i];
	if (v[R_FROM])
		do_selector(c, v[R_FROM], "from", &r->from);
	if (v[R_TO])
		do_selector(c, v[R_TO], "to", &r->to);
	if (v[R_PORTS])
		do_ports(c, v[R_PORTS], r);
}

static void do_rules(struct pctx *c, const struct ynode *n)
{
	struct rule_name *names;
	size_t nn = 0;

	if (!want(c, n, Y_SEQ, "rules"))
		return;
	names = xcalloc(c, n->n_kids + 1, sizeof(*names));
	if (!names)
		return;
	for (size_t i = 0; i < n->n_kids && !c->err; i++) {
		const struct ynode *m = n->kids[i];
		struct ms_rule *r;

		if (!want(c, m, Y_MAP, "a rule"))
			continue;
		r = ms_policy_add_rule(c->p);
		if (!r) {
			c->err = -ENOMEM;
			break;
		}
		r->pos = m->pos;
		do_rule(c, m, r, &names[nn]);
		if (names[nn].name)
			nn++;
	}
	if (!c->err)
		check_rule_names(c, names, nn);
	free(names);
}

/* ---------------------------------------------------------------------- */
/* Entry points */

static void do_root(struct pctx *c, const struct ynode *root)
{
	struct ynode *k[K_NTOP], *v[K_NTOP];

	if (!root || is_null(root)) {
		perr(c, (struct ms_pos){ 1, 1 },
		     "empty policy: expected a mapping starting with 'version: 1'");
		return;
	}
	if (!want(c, root, Y_MAP, "a policy"))
		return;
	map_fields(c, root, "the policy", top_keys, K_NTOP, k, v);
	do_header(c, root, v);
	if (v[K_DISCOVERY])
		do_discovery(c, v[K_DISCOVERY]);
	if (v[K_HOST])
		do_host(c, v[K_HOST]);
	if (v[K_AUTOLABELS])
		do_autolabels(c, v[K_AUTOLABELS]);
	/* Workloads first: rules may name workloads defined further down. */
	if (v[K_WORKLOADS])
		do_workloads(c, v[K_WORKLOADS]);
	if (!c->err)
		add_inventory(c, v[K_WORKLOADS] ? v[K_WORKLOADS]->pos : root->pos);
	if (!c->err)
		index_workloads(c);
	if (v[K_RULES] && !c->err)
		do_rules(c, v[K_RULES]);
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
	r = load_stream(&c, &root);
	yaml_parser_delete(&c.yp);
	if (!r)
		do_root(&c, root);
	arena_free(&c.arena);
	free(c.stk);
	free(c.by_name);
	free_wl_index(c.wl_idx);
	free_label_index(c.lbl_idx);
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
		if (diag_push(d, (struct ms_pos){ 0, 0 }, true, msg))
			return -ENOMEM;
		return r;
	}
	r = ms_policy_parse_mem(path, buf ? buf : "", len, out, d);
	free(buf);
	return r;
}
