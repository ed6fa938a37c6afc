// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"

static enum ms_log_level cur_level = MS_LOG_INFO;
static bool journal;

int ms_log_level_parse(const char *s)
{
	static const char *const names[] = { "debug", "info", "warn", "error" };

	for (int i = 0; i < 4; i++)
		if (!strcmp(s, names[i]))
			return i;
	if (!strcmp(s, "warning"))
		return MS_LOG_WARN;
	return -1;
}

void ms_log_set_level(enum ms_log_level l)
{
	cur_level = l;
}

enum ms_log_level ms_log_get_level(void)
{
	return cur_level;
}

void ms_log_init(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long dev, ino;
	struct stat st;

	/* JOURNAL_STREAM is inherited by children whose stderr may have been
	 * redirected, so only trust it when it names our actual stderr. */
	journal = false;
	if (js && sscanf(js, "%lu:%lu", &dev, &ino) == 2 && !fstat(2, &st))
		journal = st.st_dev == dev && st.st_ino == ino;
}

void ms_log(enum ms_log_level l, const char *fmt, ...)
{
	/* syslog priorities: debug 7, info 6, warning 4, err 3 */
	static const int prio[] = { 7, 6, 4, 3 };
	static const char *const tag[] = { "DEBUG", "INFO", "WARN", "ERROR" };
	va_list ap;

	if (l < cur_level)
		return;
	if (journal)
		fprintf(stderr, "<%d>", prio[l]);
	else
		fprintf(stderr, "%s: ", tag[l]);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}
