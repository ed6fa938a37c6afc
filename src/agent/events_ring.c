// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* The classifier's ring buffer drained into the flow log (events.h). */
#include <errno.h>
#include <string.h>

#include <bpf/libbpf.h>

#include "events_int.h"
#include "proto.h"
#include "shadow.h"

/*
 * The classifier ended or revoked a session: it is no longer open, and the
 * shadow must not report it again if the table loses its key before the
 * next sweep. Its key is the event's 5-tuple in the classifier's order.
 */
void ms_events_event_key(const struct ms_event *e, struct ms_session_key *k)
{
	bool lo = ms_tuple_is_lo(e->src, e->sport, e->dst, e->dport);

	memset(k, 0, sizeof(*k));
	k->proto = e->proto;
	k->family = e->family;
	memcpy(k->addr_lo, lo ? e->src : e->dst, 16);
	memcpy(k->addr_hi, lo ? e->dst : e->src, 16);
	k->port_lo = lo ? e->sport : e->dport;
	k->port_hi = lo ? e->dport : e->sport;
	if ((e->proto == MS_PROTO_ICMP && e->family == MS_FAMILY_IPV4) ||
	    (e->proto == MS_PROTO_ICMPV6 && e->family == MS_FAMILY_IPV6))
		k->icmp = ms_icmp_key_type(e->family, e->icmp_type);
}

static void forget_session(struct ms_events *ev, const struct ms_event *e)
{
	struct ms_session_key k;

	ms_events_event_key(e, &k);
	ms_shadow_del(ev->shadow, &k);
}

static int on_event(void *ctx, void *data, size_t size)
{
	struct ms_events *ev = ctx;
	struct ms_event e;

	if (size < sizeof(e)) {
		ev->lost++;
		return 0;
	}
	memcpy(&e, data, sizeof(e)); /* ring-buffer records are only 8-aligned */
	if (e.type == MS_EV_FLOW_END || e.type == MS_EV_FLOW_REVOKED)
		forget_session(ev, &e);
	ms_events_write(ev, &e);
	/* A negative return makes libbpf stop after this record (consumed). */
	if (ev->budget && !--ev->budget)
		return -EAGAIN;
	return 0;
}

int ms_events_ringbuf_fd(struct ms_events *ev)
{
	if (!ev->dp)
		return -EINVAL;
	if (!ev->rb) {
		ev->rb = ring_buffer__new(ms_dp_events_fd(ev->dp), on_event, ev, NULL);
		if (!ev->rb)
			return -errno;
	}
	return ring_buffer__epoll_fd(ev->rb);
}

int ms_events_drain_some(struct ms_events *ev, unsigned int max)
{
	int n;

	if (!ev->rb)
		return 0;
	ev->batching = true;
	ev->budget = max;
	n = ring_buffer__consume(ev->rb);
	if (n == -EAGAIN)
		n = (int)max; /* stopped at the budget; more may wait */
	ev->budget = 0;
	ev->batching = false;
	ev_flush_lines(ev);
	return n;
}

int ms_events_drain(struct ms_events *ev)
{
	return ms_events_drain_some(ev, 0);
}
