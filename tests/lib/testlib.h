/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * A minimal test harness. Each test case prints "PASS: name" or
 * "FAIL: name: why"; tests/run.sh counts those lines across every suite.
 */
#ifndef MICROSEGD_TESTLIB_H
#define MICROSEGD_TESTLIB_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static int t_cur_failed;
static int t_n_passed;
static int t_n_failed;

__attribute__((format(printf, 4, 5), unused)) static void
t_fail(const char *file, int line, const char *expr, const char *fmt, ...)
{
	va_list ap;

	t_cur_failed++;
	fprintf(stdout, "  %s:%d: check failed: %s: ", file, line, expr);
	va_start(ap, fmt);
	vfprintf(stdout, fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
}

#define CHECK(cond, ...)                                                \
	do {                                                            \
		if (!(cond))                                            \
			t_fail(__FILE__, __LINE__, #cond, __VA_ARGS__); \
	} while (0)

/* Like CHECK, but stops the current test case. */
#define REQUIRE(cond, ...)                                              \
	do {                                                            \
		if (!(cond)) {                                          \
			t_fail(__FILE__, __LINE__, #cond, __VA_ARGS__); \
			return;                                         \
		}                                                       \
	} while (0)

__attribute__((unused)) static void t_run(const char *name, void (*fn)(void))
{
	t_cur_failed = 0;
	fn();
	if (t_cur_failed) {
		t_n_failed++;
		printf("FAIL: %s\n", name);
	} else {
		t_n_passed++;
		printf("PASS: %s\n", name);
	}
	fflush(stdout);
}

#define RUN(fn) t_run(#fn, fn)

__attribute__((unused)) static int t_done(void)
{
	printf("# %d passed, %d failed\n", t_n_passed, t_n_failed);
	return t_n_failed ? 1 : 0;
}

#endif /* MICROSEGD_TESTLIB_H */
