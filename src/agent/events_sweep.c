// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* The session tables read in batches, and swept: expired sessions deleted
 * and reported, evicted ones noticed (events.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bpf/bpf.h>

#include "cgroup.h"
#include "clock.h"
#include "events_int.h"
#include "log.h"
#include "shadow.h"

/* A session the sweep found expired, deleted only after a fresh look. */
struct expired {
	struct ms_session_key k;
	uint64_t last_seen_ns;
};

uint64_t ms_events_sessions(const struct ms_events *ev)
{
	return ev->sessions;
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

void ev_sweep_free(struct sweep **swp)
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
			ev_sweep_free(&sw);
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
	ev_flush_lines(ev);
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
	ev_flush_lines(ev);
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
