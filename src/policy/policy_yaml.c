// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "parse_ctx.h"

/* With discovery on, a selector that names no workload yet is a warning:
 * the container it means may not have started. */
bool pp_discovering(const struct pctx *c)
{
	return c->p->discovery || (c->o && c->o->discovery);
}

__attribute__((format(printf, 3, 4))) void pp_perr(struct pctx *c, struct ms_pos pos,
						   const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (ms_diag_vadd(c->d, c->file, pos, true, fmt, ap))
		c->err = -ENOMEM;
	va_end(ap);
}

__attribute__((format(printf, 3, 4))) void pp_pwarn(struct pctx *c, struct ms_pos pos,
						    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (ms_diag_vadd(c->d, c->file, pos, false, fmt, ap))
		c->err = -ENOMEM;
	va_end(ap);
}

void *pp_xcalloc(struct pctx *c, size_t n, size_t sz)
{
	void *p = calloc(n, sz);

	if (!p)
		c->err = -ENOMEM;
	return p;
}

char *pp_xstrdup(struct pctx *c, const char *s)
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

void pp_arena_free(struct arena *a)
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
const char *pp_disp(struct pctx *c, const struct ynode *n)
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

		pp_perr(c, pos, "invalid YAML: %s (%s at line %u)",
			y->problem ? y->problem : "syntax error", y->context, cp.line);
	} else {
		pp_perr(c, pos, "invalid YAML: %s", y->problem ? y->problem : "syntax error");
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
	o = pp_xcalloc(c, n, sizeof(*o));
	if (!o)
		return;
	for (size_t i = 0; i < n; i++) {
		struct ynode *key = m->kids[2 * i];

		if (key->kind == Y_BAD) {
			key->skip = true;
		} else if (key->kind != Y_SCALAR) {
			pp_perr(c, key->pos, "a mapping key must be a plain string, not a %s",
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

			pp_perr(c, dup->pos, "duplicate key '%s' (first at line %u)",
				pp_disp(c, dup), o[first].key->pos.line);
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
		pp_perr(c, n->pos, "too many items");
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
		pp_perr(c, pos, "unsupported YAML tag '%s'",
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
		pp_perr(c, n->pos, "YAML aliases are not supported; write the value out");
		n->kind = Y_BAD;
		break;
	case YAML_SCALAR_EVENT: {
		const char *v = (const char *)ev->data.scalar.value;
		size_t len = ev->data.scalar.length;

		if (len > UINT32_MAX) { /* past MS_POLICY_MAX_BYTES anyway */
			pp_perr(c, n->pos, "value too long");
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
			pp_perr(c, n->pos, "NUL character in '%s'", pp_disp(c, n));
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
			pp_perr(c, n->pos, "nested more than %d levels deep", MAX_DEPTH);
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
		pp_perr(c, n->pos, "invalid YAML: unexpected event");
		r = -EINVAL;
		break;
	}
	if (anchor)
		pp_perr(c, n->pos, "YAML anchors are not supported");
	if (!r && c->err)
		r = c->err;
	if (r)
		return r;
	*out = n;
	return 0;
}

/* Load the single document of the stream; *root stays NULL for an empty
 * stream. Returns 0, -EINVAL after a reported syntax error, or -ENOMEM. */
int pp_load_stream(struct pctx *c, struct ynode **root)
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
		pp_perr(c, mark_pos(ev.start_mark),
			"a policy file holds one YAML document; found a second one");
		r = -EINVAL;
	}
	yaml_event_delete(&ev);
	return r;
}
