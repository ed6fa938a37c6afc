// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "history.h"

struct sample {
	uint64_t time_ms;
	uint64_t v[MS_HIST_MAX];
};

struct ms_history {
	struct sample *s;
	size_t cap, head, n;
};

#define MS_HIST_NAME_(name, idx, key, line, chart, ...) MS_CNT_IF_##chart([MS_HIST_##name] = key, )
#define MS_HIST_COUNTER_(name, idx, key, line, chart, ...) \
	MS_CNT_IF_##chart([MS_HIST_##name] = MS_CNT_##name, )

static const char *const field_names[MS_HIST_MAX] = {
	MS_COUNTERS(MS_HIST_NAME_)[MS_HIST_SESSIONS] = "sessions",
};

static const enum ms_counter field_counter[MS_HIST_SESSIONS] = { MS_COUNTERS(MS_HIST_COUNTER_) };

const char *ms_history_field_name(enum ms_history_field f)
{
	return (unsigned int)f < MS_HIST_MAX ? field_names[f] : NULL;
}

void ms_history_from_counters(const uint64_t c[MS_CNT_MAX], uint64_t sessions,
			      uint64_t v[MS_HIST_MAX])
{
	for (int f = 0; f < MS_HIST_SESSIONS; f++)
		v[f] = c[field_counter[f]];
	v[MS_HIST_SESSIONS] = sessions;
}

int ms_history_new(size_t cap, struct ms_history **out)
{
	struct ms_history *h;

	if (!cap)
		return -EINVAL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->s = calloc(cap, sizeof(*h->s));
	if (!h->s) {
		free(h);
		return -ENOMEM;
	}
	h->cap = cap;
	*out = h;
	return 0;
}

void ms_history_free(struct ms_history **hp)
{
	if (!*hp)
		return;
	free((*hp)->s);
	free(*hp);
	*hp = NULL;
}

void ms_history_add(struct ms_history *h, uint64_t time_ms, const uint64_t v[MS_HIST_MAX])
{
	struct sample *s = &h->s[h->head];

	s->time_ms = time_ms;
	memcpy(s->v, v, sizeof(s->v));
	h->head = (h->head + 1) % h->cap;
	if (h->n < h->cap)
		h->n++;
}

size_t ms_history_len(const struct ms_history *h)
{
	return h->n;
}

uint64_t ms_history_get(const struct ms_history *h, size_t i, uint64_t v[MS_HIST_MAX])
{
	const struct sample *s = &h->s[(h->head + h->cap - h->n + i) % h->cap];

	memcpy(v, s->v, sizeof(s->v));
	return s->time_ms;
}
