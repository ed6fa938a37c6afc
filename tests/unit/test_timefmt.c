// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* Times as written everywhere (src/lib/timefmt.c): the arithmetic calendar
 * writes what gmtime_r and snprintf write, on every kind of day. */
#include <stdio.h>
#include <string.h>

#include "testlib.h"
#include "timefmt.h"

static uint64_t rng = 0x7173;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static int same(uint64_t ms)
{
	char a[MS_TIME_STRLEN], b[MS_TIME_STRLEN];

	ms_time_format_ms(ms, a);
	ms_time_format_ms_slow(ms, b);
	if (strcmp(a, b)) {
		CHECK(0, "%llu ms: %s, gmtime says %s", (unsigned long long)ms, a, b);
		return 0;
	}
	return 1;
}

static void test_fast_is_gmtime(void)
{
	/* Leap days, century rules (1900 and 2100 are not leap years, 2000
	 * is), year ends, the epoch, the last millisecond before year 10000
	 * and past it (the slow path). */
	static const uint64_t s[] = { 0,	  951782400,	951868800,   4107456000,
				      4107542400, 1767225599,	1767225600,  946684799,
				      946684800,  253402300799, 253402300800 };
	unsigned int bad = 0;

	for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++)
		for (uint64_t d = 0; d < 3; d++)
			bad += !same(s[i] * 1000 + d * 999);
	for (int i = 0; i < 1000000 && bad < 5; i++)
		bad += !same(rnd() % (253402300800ULL * 1000 + 100000));
	for (uint64_t day = 0; day < 3000000 && bad < 5; day += 1)
		bad += !same(day * 86400000ULL + day % 86400000ULL);
	CHECK(bad == 0, "%u differ", bad);
}

int main(void)
{
	RUN(test_fast_is_gmtime);
	return t_done();
}
