/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * What the files of the YAML policy front end share (policy_parse.h is its
 * public face): the node tree, the parse context and the helpers one concern
 * offers the others. policy_yaml.c builds the tree, policy_node.c checks
 * nodes, policy_addr.c, policy_workloads.c, policy_selector.c,
 * policy_ports.c and policy_rules.c read one part of a policy each, and
 * policy_parse.c reads the top level and holds the entry points.
 */
#ifndef MICROSEGD_PARSE_CTX_H
#define MICROSEGD_PARSE_CTX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#include "diag.h"
#include "policy.h"

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

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

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

#define HASH_INIT 0xcbf29ce484222325ull

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

/* YAML to a small node tree (policy_yaml.c) */

void pp_arena_free(struct arena *a);
bool pp_discovering(const struct pctx *c);
const char *pp_disp(struct pctx *c, const struct ynode *n);
int pp_load_stream(struct pctx *c, struct ynode **root);
__attribute__((format(printf, 3, 4))) void pp_perr(struct pctx *c, struct ms_pos pos,
						   const char *fmt, ...);
__attribute__((format(printf, 3, 4))) void pp_pwarn(struct pctx *c, struct ms_pos pos,
						    const char *fmt, ...);
void *pp_xcalloc(struct pctx *c, size_t n, size_t sz);
char *pp_xstrdup(struct pctx *c, const char *s);

/* Node helpers (policy_node.c) */

int pp_find_str(const char *s, const char *const *v, size_t n);
bool pp_is_null(const struct ynode *n);
void pp_map_fields(struct pctx *c, const struct ynode *m, const char *where,
		   const char *const *known, size_t n, struct ynode **keys, struct ynode **vals);
bool pp_printable(const char *s);
const char *pp_suggest(const char *s, const char *const *cands, size_t n);
bool pp_want(struct pctx *c, const struct ynode *n, enum ykind k, const char *what);
int pp_want_enum(struct pctx *c, const struct ynode *n, const char *what, const char *const *known,
		 size_t nk);
bool pp_want_int(struct pctx *c, const struct ynode *n, const char *what, long min, long max,
		 long *out);
bool pp_want_name(struct pctx *c, const struct ynode *n, const char *what);

/* Addresses (policy_addr.c) */

bool pp_parse_addr_list(struct pctx *c, const struct ynode *n, const char *what, struct ms_cidr **v,
			size_t *nv);

/* Workloads, and the name and label indexes (policy_workloads.c) */

void pp_add_inventory(struct pctx *c, struct ms_pos at);
void pp_add_workload_addrs(struct pctx *c, struct ms_addr_term *t, const struct ms_workload *w);
void pp_do_autolabels(struct pctx *c, const struct ynode *n);
void pp_do_discovery(struct pctx *c, const struct ynode *n);
void pp_do_host(struct pctx *c, const struct ynode *n);
void pp_do_workloads(struct pctx *c, const struct ynode *n);
struct ms_workload *pp_find_workload(struct pctx *c, const struct ynode *n);
void pp_free_label_index(struct label_index *x);
void pp_free_wl_index(struct wl_index *x);
bool pp_has_label(const struct ms_workload *w, const char *k, const char *v);
uint64_t pp_hash_str(uint64_t h, const char *s);
bool pp_index_labels(struct pctx *c);
void pp_index_workloads(struct pctx *c);
size_t pp_itab_first(const struct itab *t, uint64_t h);
bool pp_itab_init(struct pctx *c, struct itab *t, size_t n);
const struct label_ent *pp_lookup_label(const struct label_index *x, const char *k, const char *v);

/* Selectors (policy_selector.c) */

void pp_do_selector(struct pctx *c, const struct ynode *n, const char *what, struct ms_addrset *s);

/* Ports (policy_ports.c) */

void pp_do_ports(struct pctx *c, const struct ynode *n, struct ms_rule *r);
bool pp_parse_port_spec(struct pctx *c, const struct ynode *n, struct ms_portrange *out);

/* Rules (policy_rules.c) */

void pp_do_rules(struct pctx *c, const struct ynode *n);

#endif /* MICROSEGD_PARSE_CTX_H */
