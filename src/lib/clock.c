// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include "clock.h"

uint64_t ms_clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

uint64_t ms_mono_ns(void)
{
	return ms_clock_ns(CLOCK_MONOTONIC);
}
