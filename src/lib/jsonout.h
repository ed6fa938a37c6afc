/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * JSON text written by hand, exactly as cJSON_PrintUnformatted writes it,
 * for the outputs that are too hot or too big to build as a cJSON tree
 * first (the flow-log line, the flow graph). The caller reserves room:
 * ms_json_str_max bytes for a string, MS_JSON_U64_MAX for a number.
 */
#ifndef MICROSEGD_JSONOUT_H
#define MICROSEGD_JSONOUT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define MS_JSON_U64_MAX 20

/* Bytes s takes as a JSON string, at most (NULL: as ""). */
static inline size_t ms_json_str_max(const char *s)
{
	/* cJSON writes a control character as \u00xx: six bytes for one. */
	return s ? 6 * strlen(s) + 2 : 2;
}

/* s as a JSON string at o; returns the end. NULL is written as "", as
 * cJSON does. */
char *ms_json_put_str(char *o, const char *s);

/* A string literal's bytes at o (no quotes added); returns the end. */
#define MS_JSON_PUT_LIT(o, lit) ((char *)memcpy(o, lit, sizeof(lit) - 1) + sizeof(lit) - 1)

/* v in decimal at o; returns the end. */
char *ms_json_put_u64(char *o, uint64_t v);

/* A growing buffer of text; an allocation failure sticks (failed). */
struct ms_json_buf {
	char *p;
	size_t len, cap;
	int failed;
};

/* Room for n more bytes at b->p + b->len, or NULL (and failed set). */
char *ms_json_reserve(struct ms_json_buf *b, size_t n);

#endif /* MICROSEGD_JSONOUT_H */
