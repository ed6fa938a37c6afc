// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "dptest.h"
#include "log.h"

struct ms_dp *dpt_open(void)
{
	struct ms_dp_opts o;
	struct ms_dp *dp;
	int err;

	ms_dp_opts_default(&o);
	o.session_max = 1 << 16;
	o.ringbuf_bytes = 1 << 20;
	o.limits.max_rules = 4096;
	o.limits.max_addr_entries = 1 << 16;
	o.limits.max_decision_entries = 1 << 18;
	err = ms_dp_open(&o, &dp);
	if (err) {
		/* A BPF test that cannot load the classifier fails, never skips. */
		printf("FAIL: load classifier: %s\n", strerror(-err));
		exit(1);
	}
	return dp;
}

int dpt_install(struct ms_dp *dp, const struct ms_policy *p)
{
	struct ms_limits l;
	struct ms_compiled *c;
	char *msg = NULL;
	int err;

	ms_limits_default(&l);
	l.max_rules = 4096;
	l.max_addr_entries = 1 << 16;
	l.max_decision_entries = 1 << 18;
	err = ms_compile(p, &l, &c, &msg);
	if (err) {
		printf("  compile: %s\n", msg ? msg : strerror(-err));
		free(msg);
		return err;
	}
	err = ms_dp_install(dp, &c);
	ms_compiled_free(&c);
	return err;
}

int dpt_run_raw(struct ms_dp *dp, int dir, const void *frame, size_t len)
{
	uint8_t out[2048];
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = (__u32)len,
		    .data_out = out, .data_size_out = sizeof(out), .repeat = 1);
	int err = bpf_prog_test_run_opts(ms_dp_prog_fd(dp, dir), &opts);

	if (err)
		return -errno;
	return (int)opts.retval;
}

int dpt_run(struct ms_dp *dp, int dir, const struct pkt_spec *s)
{
	uint8_t frame[2048];
	size_t n = pkt_build(s, frame, sizeof(frame));

	return dpt_run_raw(dp, dir, frame, n);
}

void dpt_session_key(const struct pkt_spec *s, struct ms_session_key *k)
{
	bool v4 = pkt_spec_v4(s);
	uint8_t fam = v4 ? MS_FAMILY_IPV4 : MS_FAMILY_IPV6;
	bool icmp = (s->proto == MS_PROTO_ICMP && v4) || (s->proto == MS_PROTO_ICMPV6 && !v4);
	int query = icmp ? ms_icmp_query(fam, s->icmp_type) : 0;
	bool ports =
		s->proto == MS_PROTO_TCP || s->proto == MS_PROTO_UDP || s->proto == MS_PROTO_SCTP;
	__be16 sp = 0, dp = 0;

	if (ports) {
		sp = htons(s->sport);
		dp = htons(s->dport);
	} else if (query) {
		sp = query == 1 ? htons(s->icmp_id) : 0;
		dp = query == 1 ? 0 : htons(s->icmp_id);
	} else if (icmp) {
		dp = htons(s->icmp_type);
	}
	memset(k, 0, sizeof(*k));
	if (ms_tuple_is_lo(s->src, sp, s->dst, dp)) {
		memcpy(k->addr_lo, s->src, 16);
		memcpy(k->addr_hi, s->dst, 16);
		k->port_lo = sp;
		k->port_hi = dp;
	} else {
		memcpy(k->addr_lo, s->dst, 16);
		memcpy(k->addr_hi, s->src, 16);
		k->port_lo = dp;
		k->port_hi = sp;
	}
	k->proto = s->proto;
	k->family = fam;
	if (icmp)
		k->icmp = ms_icmp_key_type(fam, s->icmp_type);
}

int dpt_session(struct ms_dp *dp, const struct pkt_spec *s, struct ms_session *out)
{
	struct ms_session_key k;

	dpt_session_key(s, &k);
	if (!bpf_map_lookup_elem(ms_dp_sessions_fd(dp), &k, out))
		return 0;
	return bpf_map_lookup_elem(ms_dp_embryos_fd(dp), &k, out) ? -errno : 0;
}

int dpt_session_delete(struct ms_dp *dp, const struct pkt_spec *s)
{
	struct ms_session_key k;

	dpt_session_key(s, &k);
	if (!bpf_map_delete_elem(ms_dp_sessions_fd(dp), &k))
		return 0;
	return bpf_map_delete_elem(ms_dp_embryos_fd(dp), &k) ? -errno : 0;
}

struct ev_sink {
	struct ms_event *out;
	size_t max, n;
};

static int on_event(void *ctx, void *data, size_t size)
{
	struct ev_sink *s = ctx;

	if (s->out && size >= sizeof(struct ms_event) && s->n < s->max)
		memcpy(&s->out[s->n++], data, sizeof(struct ms_event));
	return 0;
}

size_t dpt_events(struct ms_dp *dp, struct ms_event *out, size_t max)
{
	struct ev_sink sink = { out, max, 0 };
	struct ring_buffer *rb = ring_buffer__new(ms_dp_events_fd(dp), on_event, &sink, NULL);

	if (!rb)
		return 0;
	ring_buffer__consume(rb);
	ring_buffer__free(rb);
	return sink.n;
}

uint64_t dpt_counter(struct ms_dp *dp, int which)
{
	uint64_t c[MS_CNT_MAX];

	if (ms_dp_counters(dp, c))
		return UINT64_MAX;
	return c[which];
}
