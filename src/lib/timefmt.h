/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* Times as the flow log, the graph and the API write them: RFC 3339, UTC,
 * milliseconds. */
#ifndef MICROSEGD_TIMEFMT_H
#define MICROSEGD_TIMEFMT_H

#include <stdint.h>

#define MS_TIME_STRLEN 64

/* Format Unix milliseconds ("2026-11-24T06:00:00.123Z") into buf, which
 * holds MS_TIME_STRLEN bytes. Returns buf. */
char *ms_time_format_ms(uint64_t ms, char *buf);

/* The same through gmtime_r and snprintf: the reference, and what years
 * past 9999 use. */
char *ms_time_format_ms_slow(uint64_t ms, char *buf);

/* Parse RFC 3339 ("2026-11-24T06:00:00Z", fractions and +hh:mm offsets
 * allowed) to Unix milliseconds. Returns 0 or -EINVAL. */
int ms_time_parse_ms(const char *s, uint64_t *out);

/* Unix time now, in milliseconds. */
uint64_t ms_time_now_ms(void);

#endif /* MICROSEGD_TIMEFMT_H */
