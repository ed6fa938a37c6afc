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

static const char *const field_names[MS_HIST_MAX] = {
	[MS_HIST_ALLOWED] = "allowed",	 [MS_HIST_DENIED] = "denied",
	[MS_HIST_AUDIT] = "audit",	 [MS_HIST_NEW_FLOWS] = "new_flows",
	[MS_HIST_REVOKED] = "revoked",	 [MS_HIST_EVENTS_LOST] = "events_lost",
	[MS_HIST_SESSIONS] = "sessions",
};

const char *ms_history_field_name(enum ms_history_field f)
{
	return (unsigned int)f < MS_HIST_MAX ? field_names[f] : NULL;
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
