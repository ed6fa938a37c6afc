// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* The counter history behind GET /v1/history: a ring that forgets the
 * oldest sample, oldest first. */
#include <errno.h>
#include <string.h>

#include "history.h"
#include "testlib.h"

static void sample(uint64_t v[MS_HIST_MAX], uint64_t x)
{
	for (int f = 0; f < MS_HIST_MAX; f++)
		v[f] = x * 10 + (uint64_t)f;
}

static void test_empty_and_invalid(void)
{
	struct ms_history *h = NULL;

	CHECK(ms_history_new(0, &h) == -EINVAL, "a ring of 0 samples");
	REQUIRE(!ms_history_new(4, &h), "new");
	CHECK(ms_history_len(h) == 0, "empty");
	ms_history_free(&h);
	CHECK(h == NULL, "freed and cleared");
	ms_history_free(&h); /* twice is harmless */
}

static void test_ring_keeps_newest_in_order(void)
{
	struct ms_history *h = NULL;
	uint64_t v[MS_HIST_MAX], got[MS_HIST_MAX];

	REQUIRE(!ms_history_new(3, &h), "new");
	for (uint64_t i = 1; i <= 5; i++) {
		sample(v, i);
		ms_history_add(h, 1000 * i, v);
		CHECK(ms_history_len(h) == (i < 3 ? i : 3), "len after %llu",
		      (unsigned long long)i);
	}
	/* 1 and 2 are forgotten; 3, 4, 5 remain, oldest first. */
	for (size_t i = 0; i < 3; i++) {
		uint64_t t = ms_history_get(h, i, got);

		sample(v, 3 + i);
		CHECK(t == 1000 * (3 + i), "time of sample %zu: %llu", i, (unsigned long long)t);
		CHECK(!memcmp(got, v, sizeof(v)), "values of sample %zu", i);
	}
	ms_history_free(&h);
}

static void test_field_names(void)
{
	CHECK(!strcmp(ms_history_field_name(MS_HIST_ALLOWED), "allowed"), "allowed");
	CHECK(!strcmp(ms_history_field_name(MS_HIST_SESSIONS), "sessions"), "sessions");
	for (int f = 0; f < MS_HIST_MAX; f++)
		CHECK(ms_history_field_name(f) != NULL, "field %d has a name", f);
	CHECK(ms_history_field_name(MS_HIST_MAX) == NULL, "past the end");
}

int main(void)
{
	RUN(test_empty_and_invalid);
	RUN(test_ring_keeps_newest_in_order);
	RUN(test_field_names);
	return t_done();
}
