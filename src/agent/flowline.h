/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The flow-log line of an event, printed by hand: the event path has to keep
 * up with a million events a second on one core, and building and freeing a
 * cJSON tree per event costs several times that. The line is byte-identical
 * to cJSON_PrintUnformatted of the same object (ms_event_info_cjson, which stays
 * the reference and is what the unit test compares against).
 */
#ifndef MICROSEGD_FLOWLINE_H
#define MICROSEGD_FLOWLINE_H

#include <stddef.h>
#include <stdint.h>

#include "events.h"
#include "names.h"

/* The most bytes ms_flowline_print writes for in (no newline, no NUL). */
size_t ms_flowline_max(const struct ms_event_info *in, const char *time);

/* Print in's line into buf, which holds at least ms_flowline_max bytes;
 * returns its length, 0 when the event type has no name (no line). */
size_t ms_flowline_print(char *buf, const struct ms_event_info *in, const char *time);

#endif /* MICROSEGD_FLOWLINE_H */
