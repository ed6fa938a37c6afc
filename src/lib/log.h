/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Logging to stderr, one line per message: "<N>" syslog prefixes when stderr
 * is the journal (JOURNAL_STREAM set), "LEVEL: " otherwise.
 */
#ifndef MICROSEGD_LOG_H
#define MICROSEGD_LOG_H

#include <stdbool.h>

enum ms_log_level { MS_LOG_DEBUG = 0, MS_LOG_INFO, MS_LOG_WARN, MS_LOG_ERROR };

/* Parse "debug|info|warn|error"; -1 if unknown. */
int ms_log_level_parse(const char *s);
void ms_log_set_level(enum ms_log_level l);
enum ms_log_level ms_log_get_level(void);
/* Decide the prefix style from JOURNAL_STREAM; call once at start. */
void ms_log_init(void);

void ms_log(enum ms_log_level l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) ms_log(MS_LOG_DEBUG, __VA_ARGS__)
#define log_info(...) ms_log(MS_LOG_INFO, __VA_ARGS__)
#define log_warn(...) ms_log(MS_LOG_WARN, __VA_ARGS__)
#define log_error(...) ms_log(MS_LOG_ERROR, __VA_ARGS__)

#endif /* MICROSEGD_LOG_H */
