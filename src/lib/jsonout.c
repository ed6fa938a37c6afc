// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <stdlib.h>

#include "jsonout.h"

/* cJSON's print_string_ptr: the two-character escapes, \u00xx (lower-case
 * hex) for the other control characters, every other byte as it is. */
char *ms_json_put_str(char *o, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	*o++ = '"';
	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
		unsigned char c = *p;

		if (c >= 32 && c != '"' && c != '\\') {
			*o++ = (char)c;
			continue;
		}
		*o++ = '\\';
		switch (c) {
		case '"':
		case '\\':
			*o++ = (char)c;
			break;
		case '\b':
			*o++ = 'b';
			break;
		case '\f':
			*o++ = 'f';
			break;
		case '\n':
			*o++ = 'n';
			break;
		case '\r':
			*o++ = 'r';
			break;
		case '\t':
			*o++ = 't';
			break;
		default:
			*o++ = 'u';
			*o++ = '0';
			*o++ = '0';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 15];
			break;
		}
	}
	*o++ = '"';
	return o;
}

char *ms_json_put_u64(char *o, uint64_t v)
{
	char tmp[MS_JSON_U64_MAX];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*o++ = tmp[--n];
	return o;
}

char *ms_json_reserve(struct ms_json_buf *b, size_t n)
{
	size_t ncap;
	char *np;

	if (b->failed)
		return NULL;
	if (b->len + n <= b->cap)
		return b->p + b->len;
	ncap = b->cap ? b->cap : 4096;
	while (ncap < b->len + n)
		ncap *= 2;
	np = realloc(b->p, ncap);
	if (!np) {
		b->failed = 1;
		return NULL;
	}
	b->p = np;
	b->cap = ncap;
	return b->p + b->len;
}
