// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <stddef.h>

#include "counters.h"

#define MS_CNT_DESC_(name, idx, key, line, chart, prom, help) \
	{ MS_CNT_##name, key, MS_CNT_IN_##line, MS_CNT_IN_##chart, prom, help },

const struct ms_counter_desc ms_counters[MS_CNT_MAX] = { MS_COUNTERS(MS_CNT_DESC_) };
