/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* Adding to a cJSON tree what cJSON alone gets wrong. */
#ifndef MICROSEGD_JSONADD_H
#define MICROSEGD_JSONADD_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

/* v as a JSON number, exactly: cJSON holds numbers as doubles, which round
 * counts past 2^53. Returns false when out of memory. */
bool ms_json_add_u64(cJSON *o, const char *key, uint64_t v);

#endif /* MICROSEGD_JSONADD_H */
