// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <cjson/cJSON.h>

#include "cgroup.h"
#include "clock.h"
#include "events.h"
#include "flowline.h"
#include "log.h"
#include "proto.h"
#include "safefile.h"
#include "shadow.h"
#include "workload_index.h"

struct polref {
	struct ms_policy *p;
	uint64_t gen;
	struct ms_wl_index *wl; /* NULL: out of memory, no workload names */
};

/* A session the sweep found expired, deleted only after a fresh look. */
struct expired {
	struct ms_session_key k;
	uint64_t last_seen_ns;
};

struct ms_events {
	int fd;
	char *path; /* NULL: stdout */
	struct ms_dp *dp;
	struct ring_buffer *rb;
	struct polref hist[MS_POLICY_HISTORY]; /* [0] is the current policy */
	size_t n_hist;
	int64_t mono_to_real_ns;
	uint64_t lost;
	bool torn; /* the flow log ends in part of a line that could not be cut */
	uint64_t sessions;
	bool write_failing; /* warned about a failing flow log, not yet recovered */
	bool batching;	    /* inside a drain or sweep: flush at its end */
	char *buf;	    /* whole lines not yet written */
	size_t buf_len, buf_cap;
	time_t time_sec;      /* second of time_prefix */
	char time_prefix[64]; /* "YYYY-MM-DDTHH:MM:SS" of time_sec */
	size_t time_prefix_len;
	ms_event_sink sink;
	void *sink_cls;
	struct ms_shadow *shadow; /* allowed sessions of the last sweep */
	uint64_t sweep_epoch;
	struct sweep *sw; /* the sweep under way; NULL before the first */
	uint64_t sweeps;  /* completed */
	uint64_t evicted;
	/* For the flows nobody saw end: passing flows ended (flow_end) or
	 * revoked so far, and the estimate of those that ended unseen. */
	uint64_t ended, revoked;
	uint64_t unseen;
	unsigned int budget;   /* events left in this drain; 0: no limit */
	struct ms_cgroups *cg; /* process identity; NULL: off */
	uint64_t names_epoch;  /* policy changes so far, plus one */
	uint32_t if_last;      /* ifindex of if_last_name */
	uint64_t if_last_sec;  /* second (of event time) it was asked in */
	char if_last_name[24]; /* the last unattached interface's name */
};

static void polref_clear(struct polref *r)
{
	ms_wl_index_free(&r->wl);
	ms_policy_free(&r->p);
	memset(r, 0, sizeof(*r));
}

static const struct polref *polref_find(const struct ms_events *ev, uint64_t gen)
{
	for (size_t i = 0; i < ev->n_hist; i++)
		if (ev->hist[i].gen == gen)
			return &ev->hist[i];
	return NULL;
}

const char *ms_events_workload(const struct ms_events *ev, uint64_t gen, const uint8_t *addr)
{
	const struct polref *r = polref_find(ev, gen);
	const struct ms_workload *w;

	if (!r)
		r = ev->n_hist ? &ev->hist[0] : NULL;
	if (!r || !r->wl)
		return NULL;
	w = ms_wl_index_find(r->wl, addr);
	return w ? w->name : NULL;
}

int ms_events_set_policy(struct ms_events *ev, struct ms_policy **p, uint64_t gen)
{
	struct polref r = { .p = *p, .gen = gen };
	int err;

	*p = NULL;
	err = ms_wl_index_new(r.p, &r.wl);
	if (err) {
		log_warn("out of memory indexing the policy's workloads: events of generation "
			 "%" PRIu64 " will name no workloads",
			 gen);
	}
	if (ev->n_hist == MS_POLICY_HISTORY)
		polref_clear(&ev->hist[--ev->n_hist]);
	memmove(&ev->hist[1], &ev->hist[0], ev->n_hist * sizeof(ev->hist[0]));
	ev->hist[0] = r;
	ev->n_hist++;
	ev->names_epoch++;
	return err;
}

const struct ms_policy *ms_events_policy(const struct ms_events *ev)
{
	return ev->n_hist ? ev->hist[0].p : NULL;
}

void ms_events_sync_clock(struct ms_events *ev)
{
	/* Bracket the realtime read with two monotonic ones; the midpoint is
	 * within half the (tiny) interval of the true offset. */
	uint64_t m0 = ms_mono_ns();
	uint64_t r = ms_clock_ns(CLOCK_REALTIME);
	uint64_t m1 = ms_mono_ns();

	ev->mono_to_real_ns = (int64_t)(r - (m0 + (m1 - m0) / 2));
}

int ms_events_new(const char *path, struct ms_dp *dp, struct ms_events **out)
{
	struct ms_events *ev = calloc(1, sizeof(*ev));
	int err;

	if (!ev)
		return -ENOMEM;
	ev->dp = dp;
	ev->fd = -1;
	if (ms_shadow_new(&ev->shadow)) {
		free(ev);
		return -ENOMEM;
	}
	/* One table's worth: what a full table under load needs. */
	if (dp)
		ms_shadow_expect(ev->shadow, ms_dp_session_max(dp));
	if (!path || !strcmp(path, "-")) {
		ev->fd = STDOUT_FILENO;
	} else {
		ev->path = strdup(path);
		if (!ev->path) {
			err = -ENOMEM;
			goto fail;
		}
		const char *why = NULL;

		ev->fd = ms_open_append(path, &why);
		if (ev->fd < 0) {
			err = ev->fd;
			if (why)
				log_error("refusing the flow log %s: %s", path, why);
			goto fail;
		}
	}
	ev->names_epoch = 1;
	ms_events_sync_clock(ev);
	*out = ev;
	return 0;
fail:
	ms_shadow_free(&ev->shadow);
	free(ev->path);
	free(ev);
	return err;
}

static void flush_lines(struct ms_events *ev);
struct sweep;
static void sweep_free(struct sweep **sw);

/* Lines are collected while a ring-buffer drain or a sweep runs and written
 * when it ends (or every FLUSH_BYTES): one write per batch instead of one
 * per event is what lets the daemon keep up with event floods. */
#define FLUSH_BYTES 65536

void ms_events_free(struct ms_events **evp)
{
	struct ms_events *ev = *evp;

	if (!ev)
		return;
	ring_buffer__free(ev->rb);
	if (ev->fd >= 0)
		flush_lines(ev);
	if (ev->path && ev->fd >= 0)
		close(ev->fd);
	free(ev->buf);
	free(ev->path);
	ms_shadow_free(&ev->shadow);
	sweep_free(&ev->sw);
	for (size_t i = 0; i < ev->n_hist; i++)
		polref_clear(&ev->hist[i]);
	free(ev);
	*evp = NULL;
}

int ms_events_reopen(struct ms_events *ev)
{
	int fd;

	const char *why = NULL;

	if (!ev->path)
		return 0;
	fd = ms_open_append(ev->path, &why);
	if (fd < 0) {
		if (why)
			log_error("refusing the flow log %s: %s", ev->path, why);
		return fd;
	}
	flush_lines(ev);
	close(ev->fd);
	ev->fd = fd;
	return 0;
}

/* cJSON holds numbers as doubles; counters are printed exactly instead. */
static bool add_u64(cJSON *o, const char *key, uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	return cJSON_AddRawToObject(o, key, buf) != NULL;
}

static bool add_str(cJSON *o, const char *key, const char *v)
{
	return cJSON_AddStringToObject(o, key, v) != NULL;
}

/* RFC 3339 UTC with milliseconds. The calendar part is computed once per
 * second: events come in bursts, and gmtime_r is a good part of an event's
 * cost. */
static void format_time(struct ms_events *ev, char *buf, size_t len, uint64_t real_ns)
{
	time_t sec = (time_t)(real_ns / 1000000000ULL);
	unsigned int ms = (unsigned int)(real_ns % 1000000000ULL / 1000000ULL);
	struct tm tm;

	if (sec != ev->time_sec || !ev->time_prefix[0]) {
		if (!gmtime_r(&sec, &tm))
			memset(&tm, 0, sizeof(tm));
		snprintf(ev->time_prefix, sizeof(ev->time_prefix), "%04d-%02d-%02dT%02d:%02d:%02d",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			 tm.tm_sec);
		ev->time_sec = sec;
		ev->time_prefix_len = strlen(ev->time_prefix);
	}
	/* Only the milliseconds change within the second: no printf. */
	if (len < ev->time_prefix_len + 6) {
		snprintf(buf, len, "%s.%03uZ", ev->time_prefix, ms);
		return;
	}
	memcpy(buf, ev->time_prefix, ev->time_prefix_len);
	buf += ev->time_prefix_len;
	buf[0] = '.';
	buf[1] = (char)('0' + ms / 100);
	buf[2] = (char)('0' + ms / 10 % 10);
	buf[3] = (char)('0' + ms % 10);
	buf[4] = 'Z';
	buf[5] = '\0';
}

/* Dotted quad as inet_ntop writes it, without its general machinery: two of
 * these per event. */
static void format_v4(char *buf, const uint8_t *a)
{
	for (int i = 0; i < 4; i++) {
		unsigned int b = a[i];

		if (b >= 100)
			*buf++ = (char)('0' + b / 100);
		if (b >= 10)
			*buf++ = (char)('0' + b / 10 % 10);
		*buf++ = (char)('0' + b % 10);
		*buf++ = i < 3 ? '.' : '\0';
	}
}

static void format_addr(char *buf, uint8_t family, const uint8_t *a)
{
	if (family == MS_FAMILY_IPV4)
		format_v4(buf, a + 12);
	else
		inet_ntop(AF_INET6, a, buf, INET6_ADDRSTRLEN);
}

void ms_events_describe(struct ms_events *ev, const struct ms_event *e, struct ms_event_info *in)
{
	const struct polref *r = polref_find(ev, e->generation);

	memset(in, 0, sizeof(*in));
	in->e = e;
	in->time_ms = (e->time_ns + (uint64_t)ev->mono_to_real_ns) / 1000000ULL;
	if (e->rule_id == MS_RULE_DEFAULT)
		in->rule = "default";
	else if (r && r->p && e->rule_id <= r->p->n_rules)
		in->rule = r->p->rules[e->rule_id - 1].name;
	else {
		snprintf(in->rule_buf, sizeof(in->rule_buf), "#%" PRIu32, e->rule_id);
		in->rule = in->rule_buf;
	}
	in->names_epoch = ev->names_epoch;
	if (ev->dp && ms_dp_ifname_attached(ev->dp, e->ifindex, &in->ifname)) {
		/* found among the hooks */
	} else if (ev->if_last == e->ifindex && ev->if_last_name[0] &&
		   ev->if_last_sec == e->time_ns / 1000000000ULL) {
		in->ifname = ev->if_last_name;
	} else {
		/* Not one of ours (a test run, a hook just detached): asked
		 * once a second, not once per event. */
		const char *n = ev->dp ? ms_dp_ifname(ev->dp, e->ifindex) : NULL;

		if (n)
			snprintf(ev->if_last_name, sizeof(ev->if_last_name), "%s", n);
		else
			snprintf(ev->if_last_name, sizeof(ev->if_last_name), "if%" PRIu32,
				 e->ifindex);
		ev->if_last = e->ifindex;
		ev->if_last_sec = e->time_ns / 1000000000ULL;
		in->ifname = ev->if_last_name;
	}
	format_addr(in->src, e->family, e->src);
	format_addr(in->dst, e->family, e->dst);
	/* The workload index holds IPv4 prefixes IPv4-mapped: an IPv6 packet's
	 * IPv4-mapped address is not the IPv4 workload's, and goes unnamed. */
	if (e->family != MS_FAMILY_IPV6 || !ms_addr_is_v4(e->src))
		in->src_workload = ms_events_workload(ev, e->generation, e->src);
	if (e->family != MS_FAMILY_IPV6 || !ms_addr_is_v4(e->dst))
		in->dst_workload = ms_events_workload(ev, e->generation, e->dst);
	/* Denials are reported when decided (one packet seen) and then every
	 * MS_DENY_REPORT_NS while packets keep coming: a later report of the
	 * same flow has seen more than one packet. */
	in->repeat = e->type == MS_EV_FLOW_DENY && e->packets[0] + e->packets[1] > 1;
	/* The local end of the flow: the initiator when it began here
	 * (egress), the responder when it came in. */
	if (e->cgroup_id && ev->cg &&
	    !ms_cgroups_resolve(ev->cg, e->cgroup_id, &in->unit, &in->process))
		in->local_is_src = e->direction == MS_DIR_EGRESS;
	else
		in->unit = in->process = NULL;
}

cJSON *ms_event_info_cjson(struct ms_events *ev, const struct ms_event_info *in)
{
	const struct ms_event *e = in->e;
	const char *name = ms_event_type_name(e->type), *s;
	char tbuf[96];
	bool ok = true;
	cJSON *o;

	if (!name)
		return NULL;
	o = cJSON_CreateObject();
	if (!o)
		return NULL;
	format_time(ev, tbuf, sizeof(tbuf), e->time_ns + (uint64_t)ev->mono_to_real_ns);
	ok &= add_str(o, "time", tbuf);
	ok &= add_str(o, "event", name);
	s = ms_verdict_name(e->verdict);
	ok &= s ? add_str(o, "verdict", s) : add_u64(o, "verdict", e->verdict);
	ok &= add_str(o, "rule", in->rule);
	ok &= add_str(o, "direction", e->direction == MS_DIR_EGRESS ? "egress" : "ingress");
	ok &= add_str(o, "interface", in->ifname);
	ok &= add_str(o, "family", e->family == MS_FAMILY_IPV4 ? "ipv4" : "ipv6");
	s = ms_proto_name(e->proto);
	ok &= s ? add_str(o, "proto", s) : add_u64(o, "proto", e->proto);
	ok &= add_str(o, "src", in->src);
	ok &= add_str(o, "dst", in->dst);
	if (ms_proto_has_ports(e->proto)) {
		ok &= add_u64(o, "sport", ntohs(e->sport));
		ok &= add_u64(o, "dport", ntohs(e->dport));
	} else if (e->proto == MS_PROTO_ICMP || e->proto == MS_PROTO_ICMPV6) {
		ok &= add_u64(o, "icmp_type", e->icmp_type);
		ok &= add_u64(o, "icmp_code", e->icmp_code);
	}
	if (in->src_workload)
		ok &= add_str(o, "src_workload", in->src_workload);
	if (in->dst_workload)
		ok &= add_str(o, "dst_workload", in->dst_workload);
	if (in->unit)
		ok &= add_str(o, in->local_is_src ? "src_unit" : "dst_unit", in->unit);
	if (in->process)
		ok &= add_str(o, in->local_is_src ? "src_process" : "dst_process", in->process);
	if (e->type == MS_EV_FLOW_END) {
		/* [0] flows from the initiator: inbound for a flow begun at ingress. */
		int inb = e->direction == MS_DIR_EGRESS ? 1 : 0;

		ok &= add_u64(o, "packets", e->packets[0] + e->packets[1]);
		ok &= add_u64(o, "bytes", e->bytes[0] + e->bytes[1]);
		ok &= add_u64(o, "packets_in", e->packets[inb]);
		ok &= add_u64(o, "packets_out", e->packets[!inb]);
		ok &= add_u64(o, "bytes_in", e->bytes[inb]);
		ok &= add_u64(o, "bytes_out", e->bytes[!inb]);
	}
	if (in->repeat)
		ok &= cJSON_AddTrueToObject(o, "repeat") != NULL;
	ok &= add_u64(o, "generation", e->generation);
	if (!ok) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

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

	format_time(ev, tbuf, sizeof(tbuf), in->e->time_ns + (uint64_t)ev->mono_to_real_ns);
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
static void flush_lines(struct ms_events *ev)
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
		flush_lines(ev);
}

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
	flush_lines(ev);
	return n;
}

int ms_events_drain(struct ms_events *ev)
{
	return ms_events_drain_some(ev, 0);
}

uint64_t ms_events_sessions(const struct ms_events *ev)
{
	return ev->sessions;
}

uint64_t ms_events_lost(const struct ms_events *ev)
{
	return ev->lost;
}

void ms_events_session_event(const struct ms_session_key *k, const struct ms_session *s,
			     uint64_t now, struct ms_event *e)
{
	memset(e, 0, sizeof(*e));
	e->time_ns = now;
	e->generation = s->generation;
	memcpy(e->packets, s->packets, sizeof(e->packets));
	memcpy(e->bytes, s->bytes, sizeof(e->bytes));
	memcpy(e->src, s->init_is_hi ? k->addr_hi : k->addr_lo, 16);
	memcpy(e->dst, s->init_is_hi ? k->addr_lo : k->addr_hi, 16);
	e->sport = s->init_is_hi ? k->port_hi : k->port_lo;
	e->dport = s->init_is_hi ? k->port_lo : k->port_hi;
	e->rule_id = s->rule_id;
	e->ifindex = s->ifindex;
	e->type = MS_EV_FLOW_END;
	e->verdict = s->verdict;
	e->direction = s->direction;
	e->family = k->family;
	e->proto = k->proto;
	e->cgroup_id = s->cgroup_id;
	if (k->proto == MS_PROTO_ICMP || k->proto == MS_PROTO_ICMPV6)
		e->icmp_type = (uint8_t)s->cls_port;
}

static void report_end(struct ms_events *ev, const struct ms_session_key *k,
		       const struct ms_session *s, uint64_t now)
{
	struct ms_event e;

	ms_events_session_event(k, s, now, &e);
	ms_events_write(ev, &e);
}

static bool expired(const struct ms_session_key *k, const struct ms_session *s, uint64_t now)
{
	/* A packet may have stamped the session after we read the clock. */
	return now > s->last_seen_ns && now - s->last_seen_ns >= ms_session_timeout_ns(s, k->proto);
}

typedef int (*session_fn)(void *cls, const struct ms_session_key *k, const struct ms_session *s);

/* Entries read per bpf() call, and per step of a sweep: under load a step
 * of this many takes some 20 ms, the longest the API waits for one. */
#define SWEEP_BATCH 256
/* The kernel's internal ENOTSUPP, which leaks out of some bpf() commands. */
#define KERNEL_ENOTSUPP 524

/* Where a read of one table is: the kernel's batch cursor, or (kernels
 * without batch operations on the map type) a key-by-key walk. */
struct table_reader {
	int fd;
	bool started, done;
	struct ms_session_key cursor;
};

/*
 * Read the next batch of the table and call fn on each entry. Returns 0
 * (r->done at the end), fn's first non-zero value, or -errno. A kernel
 * without batch operations refuses the first call, before anything was
 * delivered: the table is then walked key by key, all of it in this call,
 * because a key deleted between two calls would restart the walk.
 */
static int reader_step(struct table_reader *r, struct ms_session_key *keys, struct ms_session *vals,
		       session_fn fn, void *cls)
{
	struct ms_session_key out, k, next;
	struct ms_session s;
	__u32 n = SWEEP_BATCH;
	bool first = !r->started;
	int err;

	if (r->done)
		return 0;
	err = bpf_map_lookup_batch(r->fd, r->started ? &r->cursor : NULL, &out, keys, vals, &n,
				   NULL);
	if (err < 0)
		err = -errno;
	if (!err || err == -ENOENT) {
		r->started = true;
		r->done = err == -ENOENT;
		r->cursor = out;
		for (__u32 i = 0; i < n; i++) {
			err = fn(cls, &keys[i], &vals[i]);
			if (err)
				return err;
		}
		return 0;
	}
	if (!first ||
	    (err != -EINVAL && err != -EOPNOTSUPP && err != -KERNEL_ENOTSUPP && err != -ENOSPC))
		return err;
	r->done = true;
	for (err = 0; !err && !bpf_map_get_next_key(r->fd, first ? NULL : &k, &next);
	     first = false) {
		k = next;
		if (!bpf_map_lookup_elem(r->fd, &k, &s))
			err = fn(cls, &k, &s);
	}
	return err;
}

/*
 * A sweep in steps, so that a full table under load (seconds of work) never
 * holds up the API or the ring buffer: the event loop runs one step of at
 * most SWEEP_BATCH entries between its other work.
 */
enum sweep_phase {
	SW_IDLE,
	SW_EMBRYOS, /* reading the unanswered table */
	SW_SESSIONS,
	SW_DELETE, /* deleting what was found expired */
};

struct sweep {
	enum sweep_phase phase;
	uint64_t now;
	bool final;
	uint64_t cnt[MS_CNT_MAX]; /* the classifier's counters when it began */
	bool have_cnt;
	uint64_t passing;   /* sessions that pass traffic, in the table now */
	bool shadow_failed; /* out of memory: some sessions not remembered */
	uint64_t seen;
	struct table_reader rd;
	struct expired *x;
	size_t n_x, cap_x, i_x;
	struct ms_session_key *keys; /* SWEEP_BATCH each, kept between sweeps */
	struct ms_session *vals;
};

static int sweep_one(struct ms_events *ev, struct sweep *sw, const struct ms_session_key *k,
		     const struct ms_session *s)
{
	sw->seen++;
	sw->passing += s->verdict != MS_VERDICT_DENY;
	if (s->cgroup_id && ev->cg) {
		const char *u, *p;

		/* Learn the open flow's process while it is there: by its
		 * flow_end it may have exited. */
		ms_cgroups_resolve(ev->cg, s->cgroup_id, &u, &p);
	}
	if (s->verdict == MS_VERDICT_DENY) {
		/* Revoked: its flow was reported then, it has no end to report. */
		ms_shadow_del(ev->shadow, k);
	} else if (ms_shadow_put(ev->shadow, k, s, ev->sweep_epoch)) {
		sw->shadow_failed = true;
	}
	if (sw->final) {
		if (s->verdict != MS_VERDICT_DENY)
			report_end(ev, k, s, sw->now);
		return 0;
	}
	if (!expired(k, s, sw->now))
		return 0;
	if (sw->n_x == sw->cap_x) {
		size_t ncap = sw->cap_x ? 2 * sw->cap_x : 64;
		struct expired *nx = realloc(sw->x, ncap * sizeof(*nx));

		if (!nx)
			return -ENOMEM;
		sw->x = nx;
		sw->cap_x = ncap;
	}
	sw->x[sw->n_x].k = *k;
	sw->x[sw->n_x].last_seen_ns = s->last_seen_ns;
	sw->n_x++;
	return 0;
}

static int sweep_cb(void *cls, const struct ms_session_key *k, const struct ms_session *s)
{
	struct ms_events *ev = cls;

	return sweep_one(ev, ev->sw, k, s);
}

struct reap_ctx {
	struct ms_events *ev;
	uint64_t now;
};

static void reap_one(void *cls, const struct ms_session_key *k, const struct ms_session *s)
{
	struct reap_ctx *rc = cls;

	rc->ev->evicted++;
	report_end(rc->ev, k, s, rc->now);
}

/*
 * Every session that began to pass traffic was counted by the classifier
 * (MS_CNT_PASSING) and ends in one of three ways the daemon sees: a
 * flow_end (expiry, replacement, eviction noticed by the shadow, shutdown),
 * a revocation, or it is still in the table. What is left over ended unseen:
 * it began and was evicted from a full table between two sweeps, or its
 * flow_end was lost in a full ring buffer. The count is read before the
 * sweep and the outcomes after it, so a flow that begins meanwhile can only
 * lower the estimate; the total only grows.
 */
static void account_unseen(struct ms_events *ev, uint64_t passing_before, uint64_t live)
{
	uint64_t known;

	ms_events_drain(ev);
	known = ev->ended + ev->revoked + live;
	if (passing_before > known && passing_before - known > ev->unseen) {
		log_warn("%" PRIu64 " flows ended unseen: the session table is full (see "
			 "--session-max) or flow events were lost",
			 passing_before - known - ev->unseen);
		ev->unseen = passing_before - known;
	}
}

static void sweep_free(struct sweep **swp)
{
	struct sweep *sw = *swp;

	if (!sw)
		return;
	free(sw->keys);
	free(sw->vals);
	free(sw->x);
	free(sw);
	*swp = NULL;
}

static void sweep_reset(struct sweep *sw)
{
	sw->phase = SW_IDLE;
	sw->n_x = 0;
	sw->i_x = 0;
}

bool ms_events_sweeping(const struct ms_events *ev)
{
	return ev->sw && ev->sw->phase != SW_IDLE;
}

static int sweep_begin(struct ms_events *ev, bool final)
{
	struct sweep *sw = ev->sw;

	if (!ev->dp)
		return -EINVAL;
	if (!sw) {
		sw = calloc(1, sizeof(*sw));
		if (sw) {
			sw->keys = calloc(SWEEP_BATCH, sizeof(*sw->keys));
			sw->vals = calloc(SWEEP_BATCH, sizeof(*sw->vals));
		}
		if (!sw || !sw->keys || !sw->vals) {
			sweep_free(&sw);
			return -ENOMEM;
		}
		ev->sw = sw;
	}
	/* Flows ended before this count was taken have their flow_end in the
	 * ring buffer or already written: drain it, then count. */
	ms_events_drain(ev);
	sweep_reset(sw);
	sw->now = ms_mono_ns();
	sw->final = final;
	sw->passing = 0;
	sw->seen = 0;
	sw->shadow_failed = false;
	sw->have_cnt = !ms_dp_counters(ev->dp, sw->cnt);
	sw->rd = (struct table_reader){ .fd = ms_dp_embryos_fd(ev->dp) };
	sw->phase = SW_EMBRYOS;
	ev->sweep_epoch++;
	return 0;
}

int ms_events_sweep_start(struct ms_events *ev)
{
	if (ms_events_sweeping(ev))
		return 0; /* the last one is still at work: the table is large */
	return sweep_begin(ev, false);
}

/* Delete only what is still expired on a fresh look: a packet may have
 * revived the session, or the classifier replaced it with a new one. */
static void delete_expired(struct ms_events *ev, struct sweep *sw, size_t max)
{
	for (; sw->i_x < sw->n_x && max; sw->i_x++, max--) {
		const struct ms_session_key *k = &sw->x[sw->i_x].k;
		struct ms_session s;
		int fd = ms_dp_sessions_fd(ev->dp);

		if (bpf_map_lookup_elem(fd, k, &s)) {
			fd = ms_dp_embryos_fd(ev->dp);
			if (bpf_map_lookup_elem(fd, k, &s))
				continue;
		}
		if (s.last_seen_ns != sw->x[sw->i_x].last_seen_ns || !expired(k, &s, sw->now))
			continue;
		if (bpf_map_delete_elem(fd, k))
			continue;
		sw->seen--;
		sw->passing -= s.verdict != MS_VERDICT_DENY;
		ms_shadow_del(ev->shadow, k);
		if (s.verdict != MS_VERDICT_DENY)
			report_end(ev, k, &s, sw->now);
	}
}

static void sweep_finish(struct ms_events *ev, struct sweep *sw)
{
	ev->sessions = sw->seen;
	/* Only a complete read tells what vanished: an allowed session of the
	 * last sweep that is neither in the table nor deleted by us was evicted
	 * by the kernel. Its end is reported with the counts seen last. */
	if (!sw->shadow_failed) {
		struct reap_ctx rc = { .ev = ev, .now = sw->now };

		ms_shadow_reap(ev->shadow, ev->sweep_epoch, reap_one, &rc);
	}
	ev->batching = false;
	flush_lines(ev);
	if (sw->have_cnt && !sw->final)
		account_unseen(ev, sw->cnt[MS_CNT_PASSING], sw->passing);
	ev->sweeps++;
}

int ms_events_sweep_step(struct ms_events *ev)
{
	struct sweep *sw = ev->sw;
	int err = 0;

	if (!ms_events_sweeping(ev))
		return 0;
	ev->batching = true;
	switch (sw->phase) {
	case SW_EMBRYOS:
	case SW_SESSIONS:
		err = reader_step(&sw->rd, sw->keys, sw->vals, sweep_cb, ev);
		if (err || !sw->rd.done)
			break;
		if (sw->phase == SW_EMBRYOS) {
			sw->rd = (struct table_reader){ .fd = ms_dp_sessions_fd(ev->dp) };
			sw->phase = SW_SESSIONS;
		} else {
			sw->phase = SW_DELETE;
		}
		break;
	case SW_DELETE:
		delete_expired(ev, sw, SWEEP_BATCH);
		if (sw->i_x == sw->n_x) {
			sweep_finish(ev, sw);
			sweep_reset(sw);
		}
		break;
	case SW_IDLE:
		break;
	}
	ev->batching = false;
	flush_lines(ev);
	if (err)
		sweep_reset(sw);
	return err ? err : ms_events_sweeping(ev);
}

int ms_events_sweep(struct ms_events *ev, bool final)
{
	/* A sweep in steps that is under way gives way to this one, which
	 * reads everything again with a new epoch. */
	int err = sweep_begin(ev, final);

	while (err >= 0 && ms_events_sweeping(ev))
		err = ms_events_sweep_step(ev);
	return err < 0 ? err : 0;
}

uint64_t ms_events_sweeps(const struct ms_events *ev)
{
	return ev->sweeps;
}

uint64_t ms_events_evicted(const struct ms_events *ev)
{
	return ev->evicted;
}

void ms_events_set_cgroups(struct ms_events *ev, struct ms_cgroups *cg)
{
	ev->cg = cg;
}

void ms_events_set_sink(struct ms_events *ev, ms_event_sink fn, void *cls)
{
	ev->sink = fn;
	ev->sink_cls = cls;
}

uint64_t ms_events_real_ms(const struct ms_events *ev, uint64_t mono_ns)
{
	return (mono_ns + (uint64_t)ev->mono_to_real_ns) / 1000000ULL;
}

/* Read one table in batches: two syscalls per entry would cost too much
 * CPU every second on a full table. */
static int for_each_in(int fd, session_fn fn, void *cls)
{
	struct table_reader rd = { .fd = fd };
	struct ms_session_key *keys = calloc(SWEEP_BATCH, sizeof(*keys));
	struct ms_session *vals = calloc(SWEEP_BATCH, sizeof(*vals));
	int err = keys && vals ? 0 : -ENOMEM;

	while (!err && !rd.done)
		err = reader_step(&rd, keys, vals, fn, cls);
	free(keys);
	free(vals);
	return err;
}

/* The unanswered table first: sessions only ever move from it to the
 * answered one (when answered), so one read of both sees each session that
 * exists throughout at least once. */
int ms_events_for_each_session(struct ms_events *ev, session_fn fn, void *cls)
{
	int err;

	if (!ev->dp)
		return 0;
	err = for_each_in(ms_dp_embryos_fd(ev->dp), fn, cls);
	if (!err)
		err = for_each_in(ms_dp_sessions_fd(ev->dp), fn, cls);
	return err;
}

struct ms_session_cursor {
	struct table_reader rd[2]; /* the unanswered table, then the answered */
	struct ms_session_key keys[SWEEP_BATCH];
	struct ms_session vals[SWEEP_BATCH];
	int table;
};

int ms_events_sessions_open(struct ms_events *ev, struct ms_session_cursor **out)
{
	struct ms_session_cursor *c;

	if (!ev->dp)
		return -ENODEV;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->rd[0].fd = ms_dp_embryos_fd(ev->dp);
	c->rd[1].fd = ms_dp_sessions_fd(ev->dp);
	*out = c;
	return 0;
}

int ms_events_sessions_step(struct ms_session_cursor *c, session_fn fn, void *cls)
{
	int err;

	while (c->table < 2 && c->rd[c->table].done)
		c->table++;
	if (c->table == 2)
		return 1;
	err = reader_step(&c->rd[c->table], c->keys, c->vals, fn, cls);
	return err ? err : c->table == 1 && c->rd[1].done;
}

void ms_events_sessions_close(struct ms_session_cursor **c)
{
	free(*c);
	*c = NULL;
}

void ms_events_for_each_open(struct ms_events *ev, ms_events_open_fn fn, void *cls)
{
	ms_shadow_for_each(ev->shadow, fn, cls);
}

size_t ms_events_open_count(const struct ms_events *ev)
{
	return ms_shadow_count(ev->shadow);
}

uint64_t ms_events_unseen(const struct ms_events *ev)
{
	return ev->unseen;
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
		flush_lines(ev);
}

char *ms_events_time(struct ms_events *ev, uint64_t mono_ns, char *buf, size_t len)
{
	format_time(ev, buf, len, mono_ns + (uint64_t)ev->mono_to_real_ns);
	return buf;
}
