/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The agent's memory of recent flow events, for GET /v1/flows: a ring of the
 * last N flow-log lines with the fields the API filters on, and the filter
 * itself (shared with GET /v1/sessions and the follow streams).
 */
#ifndef MICROSEGD_FLOWRING_H
#define MICROSEGD_FLOWRING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MS_FLOWRING_DEFAULT 4096
#define MS_FLOW_FILTER_DEFAULT_LIMIT 1000
#define MS_FLOW_FILTER_MAX_LIMIT 1000000

/* What a filter looks at in one flow event or session. */
struct ms_flowent {
	uint64_t time_ms; /* Unix time, milliseconds */
	uint8_t type;	  /* enum ms_event_type; 0 for a session */
	uint8_t verdict;  /* enum ms_verdict */
	uint8_t proto;
	uint8_t family; /* MS_FAMILY_IPV4 / MS_FAMILY_IPV6 */
	uint16_t sport; /* host order; 0 when the protocol has no ports */
	uint16_t dport;
	uint8_t src[16]; /* IPv4-mapped for IPv4 */
	uint8_t dst[16];
	const char *src_workload; /* NULL: none */
	const char *dst_workload;
};

struct ms_flow_filter {
	int event;   /* enum ms_event_type, or -1 for any */
	int verdict; /* enum ms_verdict, or -1 */
	int proto;   /* IP protocol number, or -1 */
	int port;    /* matches sport or dport, or -1 */
	bool has_ip;
	uint8_t ip[16];	   /* matches src or dst */
	char *workload;	   /* matches src or dst workload; NULL: any */
	uint64_t since_ms; /* events at or after; 0: any */
	size_t limit;
	bool follow;
};

/*
 * Fill f from query arguments, read through get(cls, key) (NULL when
 * absent): event, verdict, proto, port, ip, workload, since, limit, follow.
 * Returns 0, -EINVAL with *errmsg (malloc'd) naming the bad argument, or
 * -ENOMEM. f is reset first; free it with ms_flow_filter_clear.
 */
int ms_flow_filter_parse(struct ms_flow_filter *f, const char *(*get)(void *cls, const char *key),
			 void *cls, char **errmsg);
void ms_flow_filter_clear(struct ms_flow_filter *f);

/* True if e passes every condition of f (limit aside). */
bool ms_flow_filter_match(const struct ms_flow_filter *f, const struct ms_flowent *e);

struct ms_flowring;

/* A ring remembering the last cap events. Returns 0 or -ENOMEM. */
int ms_flowring_new(size_t cap, struct ms_flowring **out);
void ms_flowring_free(struct ms_flowring **r);

/*
 * Remember e and its flow-log line (len bytes, no newline); the oldest
 * event is forgotten when the ring is full. Strings are copied. Returns 0
 * or -ENOMEM (the event is then not remembered).
 */
int ms_flowring_push(struct ms_flowring *r, const struct ms_flowent *e, const char *line,
		     size_t len);

/*
 * Call fn for the newest f->limit events matching f, oldest first; stops
 * early and returns fn's value if it is non-zero.
 */
int ms_flowring_query(const struct ms_flowring *r, const struct ms_flow_filter *f,
		      int (*fn)(void *cls, const char *line, size_t len), void *cls);

/* Events remembered now, and pushed in all. */
size_t ms_flowring_count(const struct ms_flowring *r);
uint64_t ms_flowring_total(const struct ms_flowring *r);

#endif /* MICROSEGD_FLOWRING_H */
