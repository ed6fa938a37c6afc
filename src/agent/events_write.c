// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* The flow-log writer: lines collected in a buffer and written whole
 * (events.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "events_int.h"
#include "flowline.h"
#include "log.h"

/* Lines are collected while a ring-buffer drain or a sweep runs and written
 * when it ends (or every FLUSH_BYTES): one write per batch instead of one
 * per event is what lets the daemon keep up with event floods. */
#define FLUSH_BYTES 65536

/* Make room for n more bytes in the line buffer. */
static int reserve(struct ms_events *ev, size_t n)
{
	size_t ncap = ev->buf_cap ? ev->buf_cap : 2 * FLUSH_BYTES;
	char *nb;

	if (ev->buf_len + n <= ev->buf_cap)
		return 0;
	while (ncap < ev->buf_len + n)
		ncap *= 2;
	nb = realloc(ev->buf, ncap);
	if (!nb)
		return -ENOMEM;
	ev->buf = nb;
	ev->buf_cap = ncap;
	return 0;
}

/* The event's line at the end of the line buffer (not yet counted in
 * buf_len); returns its length, 0 if there is none. */
static size_t print_line(struct ms_events *ev, const struct ms_event_info *in)
{
	char tbuf[96];

	ev_format_time(ev, tbuf, sizeof(tbuf), in->e->time_ns + (uint64_t)ev->mono_to_real_ns);
	if (reserve(ev, ms_flowline_max(in, tbuf) + 1))
		return 0;
	return ms_flowline_print(ev->buf + ev->buf_len, in, tbuf);
}

char *ms_event_json(struct ms_events *ev, const struct ms_event *e)
{
	struct ms_event_info in;
	size_t saved = ev->buf_len, n;
	char *out;

	ms_events_describe(ev, e, &in);
	n = print_line(ev, &in);
	out = n ? strndup(ev->buf + saved, n) : NULL;
	return out;
}

/*
 * Remove the torn bytes at the end of the flow log. Where that cannot be
 * done (not a regular file), the next write starts with a newline, so the
 * piece is a line of its own (an invalid one) instead of the start of the
 * next event's.
 */
static void untear(struct ms_events *ev, size_t torn)
{
	struct stat st;

	if (!fstat(ev->fd, &st) && S_ISREG(st.st_mode) && (uint64_t)st.st_size >= torn &&
	    !ftruncate(ev->fd, st.st_size - (off_t)torn))
		return;
	ev->torn = true;
}

/* Write out the buffered lines. They go in as few write()s as possible, each
 * holding whole lines only, so readers never see half a line and
 * logrotate's copytruncate loses whole lines at worst. */
void ev_flush_lines(struct ms_events *ev)
{
	size_t off = 0;
	int err = 0;

	if (ev->torn && ev->buf_len) {
		ssize_t n = write(ev->fd, "\n", 1);

		if (n == 1)
			ev->torn = false;
		else
			err = n < 0 ? -errno : -ENOSPC;
	}

	while (!err && off < ev->buf_len) {
		ssize_t n = write(ev->fd, ev->buf + off, ev->buf_len - off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			break;
		}
		off += (size_t)n;
	}
	if (err) {
		size_t torn = 0;

		/* Count the lines that did not make it. */
		for (size_t i = off; i < ev->buf_len; i++)
			ev->lost += ev->buf[i] == '\n';
		/* A short write before the error (a full disk) left part of a
		 * line: take it back, so readers only ever see whole lines. */
		while (torn < off && ev->buf[off - torn - 1] != '\n')
			torn++;
		if (torn)
			untear(ev, torn);
		if (!ev->write_failing)
			log_warn("cannot write the flow log: %s; events are counted as lost",
				 strerror(-err));
		ev->write_failing = true;
	} else if (ev->write_failing && ev->buf_len) {
		log_info("flow log writable again");
		ev->write_failing = false;
	}
	ev->buf_len = 0;
}

void ms_events_write(struct ms_events *ev, const struct ms_event *e)
{
	struct ms_event_info in;
	size_t start = ev->buf_len, n;

	ms_events_describe(ev, e, &in);
	if (e->type == MS_EV_FLOW_END && e->verdict != MS_VERDICT_DENY)
		ev->ended++;
	else if (e->type == MS_EV_FLOW_REVOKED)
		ev->revoked++;
	n = print_line(ev, &in);
	if (n) {
		ev->buf_len += n;
		ev->buf[ev->buf_len++] = '\n';
	} else {
		ev->lost++;
	}
	/* After the line is complete: the sink may write lines of its own
	 * (anomalies), which may move the buffer. The flow counts even if its
	 * line was lost. */
	if (ev->sink) {
		if (n) {
			in.line = ev->buf + start;
			in.len = n;
		}
		ev->sink(ev->sink_cls, &in);
	}
	if (!ev->batching || ev->buf_len >= FLUSH_BYTES)
		ev_flush_lines(ev);
}

void ms_events_write_line(struct ms_events *ev, const char *line)
{
	size_t n = strlen(line);

	if (reserve(ev, n + 1)) {
		ev->lost++;
		return;
	}
	memcpy(ev->buf + ev->buf_len, line, n);
	ev->buf_len += n;
	ev->buf[ev->buf_len++] = '\n';
	if (!ev->batching || ev->buf_len >= FLUSH_BYTES)
		ev_flush_lines(ev);
}
