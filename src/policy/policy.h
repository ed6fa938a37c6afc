/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The in-memory policy model. The YAML front end (policy_parse.c) produces
 * it, the compiler (compile.c and its steps) turns it into lookup tables, and the
 * reference evaluator (ms_policy_eval, below) evaluates it linearly for the tests.
 *
 * Addresses are 128-bit: IPv4 is held IPv4-mapped (::ffff:a.b.c.d), an
 * IPv4 /n as /(96 + n). The families never mix: a prefix written as IPv6
 * inside ::ffff:0:0/96 is flagged (ms_cidr.v6mapped) and stays IPv6, and a
 * flow says its family (ms_flow.family).
 */
#ifndef MICROSEGD_POLICY_H
#define MICROSEGD_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "microsegd_abi.h"

/* Rule direction, a bit mask of (1 << enum ms_dir). */
#define MS_DIRMASK_INGRESS (1u << MS_DIR_INGRESS)
#define MS_DIRMASK_EGRESS (1u << MS_DIR_EGRESS)
#define MS_DIRMASK_ANY (MS_DIRMASK_INGRESS | MS_DIRMASK_EGRESS)

#define MS_DEFAULT_PRIORITY 100

/* A source position for diagnostics; line and column are 1-based, 0 = none. */
struct ms_pos {
	unsigned int line;
	unsigned int col;
};

struct ms_cidr {
	uint8_t addr[16]; /* network byte order, host bits zero */
	uint8_t plen;	  /* 0..128; IPv4 /n is 96 + n */
	/* written as IPv6 inside ::ffff:0:0/96 ("::ffff:0:0/96",
	 * "::ffff:198.18.0.1"): an IPv6 prefix, not the IPv4 one it maps */
	bool v6mapped;
};

/* One term of a selector: every address of `cidrs` that is in no `except`. */
struct ms_addr_term {
	struct ms_cidr *cidrs;
	size_t n_cidrs;
	struct ms_cidr *except;
	size_t n_except;
};

/* A selector: `any`, or the union of its terms (zero terms = no address). */
struct ms_addrset {
	bool any;
	struct ms_addr_term *terms;
	size_t n_terms;
};

/* Protocol and destination port range (ICMP: type range). */
struct ms_portrange {
	uint8_t proto;
	uint16_t lo;
	uint16_t hi;
};

struct ms_label {
	char *key;
	char *value;
};

struct ms_workload {
	char *name;
	struct ms_label *labels;
	size_t n_labels;
	struct ms_cidr *addrs;
	size_t n_addrs;
	struct ms_pos pos;
	bool discovered; /* found by discovery (README, "Containers"), not in the file */
};

/* A port on which a process listens, and that process's command. */
struct ms_listener {
	uint8_t proto;
	uint16_t port;
	char *comm;	/* NULL: the process is not known */
	uint64_t inode; /* of the socket, so a later look reuses what it knew */
};

/*
 * What discovery found of one workload behind an attached interface: the
 * facts, not yet labelled. The policy labels them (autolabels:, host:) when
 * it is parsed with them, so a reload relabels with the new rules.
 */
struct ms_discovered {
	char *name;  /* netns name, or container or unit; unique */
	char *netns; /* the network namespace's name, NULL if it has none */
	struct ms_cidr *addrs;
	size_t n_addrs;
	struct ms_listener *listeners;
	size_t n_listeners;
};

/* What the agent adds to a policy's own text. */
struct ms_parse_opts {
	/* Workloads discovery found (README, "Containers"), labelled by the
	 * policy's autolabels: and host: and added after its own workloads. */
	const struct ms_discovered *inventory;
	size_t n_inventory;
	bool discovery; /* --discover: as if the policy said discovery: true */
};

/* autolabels: listening on a port of this range gives the role. */
struct ms_autolabel {
	uint8_t proto;
	uint16_t lo, hi;
	char *role;
};

struct ms_rule {
	char *name;
	int priority;	 /* lower first; ties keep file order */
	uint8_t action;	 /* enum ms_action */
	uint8_t dirmask; /* MS_DIRMASK_* */
	struct ms_addrset from;
	struct ms_addrset to;
	bool any_port; /* no `ports`: every protocol and port */
	struct ms_portrange *ports;
	size_t n_ports;
	struct ms_pos pos;
};

/* Scan detection (anomaly: in the policy): a source reaching at least
 * scan_targets distinct (destination, port) pairs that were denied or
 * audited within scan_window seconds. */
#define MS_SCAN_TARGETS_DEFAULT 100
#define MS_SCAN_WINDOW_DEFAULT 60
#define MS_SCAN_TARGETS_MAX 4096
#define MS_SCAN_WINDOW_MAX 86400

struct ms_policy {
	int version;
	bool monitor;
	uint8_t default_action; /* MS_ACT_ALLOW or MS_ACT_DENY */
	struct ms_workload *workloads;
	size_t n_workloads;
	struct ms_rule *rules; /* in file order; rule id = index + 1 */
	size_t n_rules;
	char *path; /* file it came from, or NULL */
	unsigned int scan_targets;
	unsigned int scan_window;     /* seconds */
	bool discovery;		      /* discovery: true (or --discover) */
	struct ms_label *host_labels; /* host: {labels: ...}, given to discovered workloads */
	size_t n_host_labels;
	struct ms_autolabel *autolabels; /* the policy's, ahead of the shipped table */
	size_t n_autolabels;
};

/* A packet's view for policy evaluation: the first packet of a flow. */
struct ms_flow {
	uint8_t dir;	/* enum ms_dir */
	uint8_t family; /* MS_FAMILY_*; 0: IPv4 if src is IPv4-mapped, else IPv6 */
	uint8_t proto;
	uint16_t port;	 /* destination port, or ICMP type; 0 when the protocol has none */
	uint8_t src[16]; /* initiator, IPv4-mapped for IPv4 */
	uint8_t dst[16]; /* responder */
};

/* Free what a discovered workload's facts hold (not d itself). */
void ms_discovered_clear(struct ms_discovered *d);

/* Free everything a policy owns, and the policy; sets *p to NULL. */
void ms_policy_free(struct ms_policy **p);

/* Allocate an empty policy (version 1, enforce, default deny). */
struct ms_policy *ms_policy_new(void);

/* Append a zeroed rule/workload to the policy; NULL on allocation failure. */
struct ms_rule *ms_policy_add_rule(struct ms_policy *p);
struct ms_workload *ms_policy_add_workload(struct ms_policy *p);

/* Append a term to a selector; NULL on allocation failure. */
struct ms_addr_term *ms_addrset_add_term(struct ms_addrset *s);

/* Append to a growable array of CIDRs / port ranges; -ENOMEM on failure. */
int ms_cidr_push(struct ms_cidr **v, size_t *n, const struct ms_cidr *c);
int ms_port_push(struct ms_portrange **v, size_t *n, const struct ms_portrange *r);

/*
 * Parse "198.18.0.0/15", "198.18.1.1", "2001:db8::/32" into c. Returns 0,
 * -EINVAL for a malformed address or prefix length, or -ERANGE when host bits
 * beyond the prefix are set (c is then filled with the bits cleared).
 */
int ms_cidr_parse(const char *s, struct ms_cidr *c);

/* Format c as text ("198.18.0.0/15"); buf must hold MS_CIDR_STRLEN bytes. */
#define MS_CIDR_STRLEN 64
const char *ms_cidr_format(const struct ms_cidr *c, char *buf);

/*
 * True if addr (16 bytes) of the family v4 says is inside c. Families never
 * mix: an IPv4 address (IPv4-mapped) is inside IPv4 prefixes only, an IPv6
 * one inside IPv6 prefixes only, so ::/0 holds every IPv6 address
 * (::ffff:198.18.0.1 too) and no IPv4 one.
 */
bool ms_cidr_contains_af(const struct ms_cidr *c, const uint8_t *addr, bool v4);

/* The same, taking an IPv4-mapped addr for IPv4 (where the family is not
 * known otherwise: addresses of the policy and the flow graph). */
bool ms_cidr_contains(const struct ms_cidr *c, const uint8_t *addr);

/* True if addr is IPv4 (::ffff:a.b.c.d). */
bool ms_addr_is_v4(const uint8_t *addr);

/* True if c is an IPv4 prefix (IPv4-mapped, not written as IPv6). */
bool ms_cidr_is_v4(const struct ms_cidr *c);

/* True if f is an IPv4 flow. */
bool ms_flow_is_v4(const struct ms_flow *f);

/* True if c is an IPv6 prefix that spans the IPv4-mapped block (shorter
 * than /96 and covering ::ffff:0:0/96), like ::/0: it does not match IPv4. */
bool ms_cidr_spans_v4(const struct ms_cidr *c);

/* True if addr, of the family v4 says, is in the selector. */
bool ms_addrset_contains_af(const struct ms_addrset *s, const uint8_t *addr, bool v4);
bool ms_addrset_contains(const struct ms_addrset *s, const uint8_t *addr);

/* Rule ids (1-based) sorted by (priority, file order). Caller frees. */
uint32_t *ms_policy_order(const struct ms_policy *p);

/*
 * Reference evaluator: the obviously-correct linear evaluation of the
 * rules of docs/POLICY.md. Returns the winning rule id (1-based) or MS_RULE_DEFAULT, and
 * the action in *action. Used by tests only; the data plane never loops over
 * rules.
 */
uint32_t ms_policy_eval(const struct ms_policy *p, const struct ms_flow *f, uint8_t *action);

#endif /* MICROSEGD_POLICY_H */
