// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* The agent's event loop (loop.h): one thread, one epoll. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "discovery.h"
#include "events.h"
#include "history.h"
#include "log.h"
#include "loop.h"
#include "notify.h"
#include "observer.h"
#include "stats.h"
#include "timefmt.h"

/* Housekeeping period: session sweep, clock resync, stats schedule. */
#define TICK_SEC 1

static uint64_t mono_usec(void)
{
	return ms_mono_ns() / 1000;
}

void ms_loop_notify_status(const struct ms_daemon *d)
{
	char *s = ms_stats_status(d->dp, ms_events_policy(d->ev), ms_events_sessions(d->ev));

	if (s)
		ms_notify("STATUS=%s\n", s);
	free(s);
}

/* Look behind the attached interfaces again; a changed inventory is a
 * recompile of the policy in force. */
static void rediscover(struct ms_daemon *d)
{
	int ifx[MS_DP_MAX_IFACES];
	size_t n = ms_dp_ifindexes(d->dp, ifx, MS_DP_MAX_IFACES);
	int r = ms_discovery_refresh(d->disc, ifx, n);

	if (r < 0)
		log_warn("discovery failed: %s; the workloads found before stay", strerror(-r));
	else if (r > 0)
		ms_daemon_rediscover(d);
}

/* One sample of the counters for GET /v1/history. */
static void sample_history(struct ms_daemon *d)
{
	uint64_t c[MS_CNT_MAX], v[MS_HIST_MAX];

	if (ms_dp_counters(d->dp, c))
		return; /* a gap in the charts; the stats line says why */
	c[MS_CNT_EVENTS_LOST] += ms_events_lost(d->ev);
	ms_history_from_counters(c, ms_events_sessions(d->ev), v);
	ms_history_add(d->hist, ms_time_now_ms(), v);
}

static void on_tick(struct ms_loop *lp)
{
	struct ms_daemon *d = lp->d;
	const struct ms_options *o = lp->o;
	uint64_t now;
	int err;

	ms_events_sync_clock(d->ev);
	ms_dp_check_links(d->dp);
	/* In steps, between the loop's other work (loop_run). */
	err = ms_events_sweep_start(d->ev);
	if (err)
		log_warn("cannot sweep the session table: %s", strerror(-err));
	ms_stats_check_lost(d->dp, ms_events_lost(d->ev), &lp->lost_seen);
	now = mono_usec();
	if (now >= lp->next_unclass_us) {
		ms_stats_check_unclassifiable(d->dp, &lp->unclass_seen);
		lp->next_unclass_us = now + 10 * 1000000ULL;
	}
	ms_observer_tick(d->obs);
	if (d->api)
		ms_api_tick(d->api);
	if (lp->metrics)
		ms_metrics_http_run(lp->metrics); /* idle connections time out */
	if (d->disc)
		rediscover(d);
	now = mono_usec();
	if (d->hist && now >= lp->next_history_us) {
		sample_history(d);
		lp->next_history_us = now + MS_HISTORY_INTERVAL_SEC * 1000000ULL;
	}
	if (!o->stats_interval)
		return;
	if (now < lp->next_stats_us)
		return;
	/* Keep the cadence, but do not catch up on intervals missed while
	 * suspended. */
	lp->next_stats_us += (uint64_t)o->stats_interval * 1000000ULL;
	if (lp->next_stats_us <= now)
		lp->next_stats_us = now + (uint64_t)o->stats_interval * 1000000ULL;
	err = ms_stats_log(d->dp, ms_events_sessions(d->ev), ms_events_lost(d->ev));
	if (err)
		log_warn("cannot read the counters: %s", strerror(-err));
	ms_loop_notify_status(d);
}

/* SIGHUP (reopen_log) and --watch: the same reload, the same logs. */
static void on_reload(struct ms_daemon *d, bool reopen_log)
{
	int err;

	ms_notify("RELOADING=1\nMONOTONIC_USEC=%" PRIu64 "\nSTATUS=Reloading the policy\n",
		  mono_usec());
	if (reopen_log) {
		err = ms_events_reopen(d->ev);
		if (err)
			log_error("cannot reopen the flow log: %s; still writing to the old file",
				  strerror(-err));
	}
	/* Events of the old policy still in the ring buffer resolve either
	 * way (the events module keeps old policies); draining first just
	 * keeps the flow log in order. */
	ms_events_drain(d->ev);
	ms_daemon_reload(d, NULL);
	ms_notify("READY=1\n");
	ms_loop_notify_status(d);
}

static void on_usr1(struct ms_daemon *d)
{
	int err = ms_events_sweep(d->ev, false);

	if (err)
		log_warn("cannot sweep the session table: %s", strerror(-err));
	err = ms_stats_report(d->dp, ms_events_policy(d->ev), ms_events_sessions(d->ev));
	if (err)
		log_warn("cannot read the rule counters: %s", strerror(-err));
}

static int on_signals(struct ms_loop *lp, int fd)
{
	struct signalfd_siginfo si;

	for (;;) {
		ssize_t n = read(fd, &si, sizeof(si));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			log_error("cannot read signals: %s", strerror(errno));
			return -errno;
		}
		if (n != sizeof(si))
			return -EIO;
		switch (si.ssi_signo) {
		case SIGHUP:
			on_reload(lp->d, true);
			break;
		case SIGUSR1:
			on_usr1(lp->d);
			break;
		case SIGTERM:
		case SIGINT:
			log_info("%s received, shutting down", strsignal((int)si.ssi_signo));
			lp->stop = true;
			return 0;
		default:
			break;
		}
	}
}

/* Events written per turn of the loop: a few milliseconds of work. */
#define DRAIN_SLICE 4096

static int on_ringbuf(struct ms_loop *lp, int fd)
{
	int r = ms_events_drain_some(lp->d->ev, DRAIN_SLICE);

	(void)fd;
	if (r < 0)
		log_warn("cannot read the event ring buffer: %s", strerror(-r));
	return 0;
}

static int on_timer(struct ms_loop *lp, int fd)
{
	uint64_t expirations;

	if (read(fd, &expirations, sizeof(expirations)) > 0)
		on_tick(lp);
	return 0;
}

/* Interfaces came or went, or addresses changed: attach and release by the
 * globs, and look again for workloads. A netlink error only stops the
 * following of changes: it warns, and the agent keeps enforcing. */
static int on_links(struct ms_loop *lp, int fd)
{
	int r = ms_links_handle(lp->links);

	(void)fd;
	if (r < 0) {
		log_warn("cannot read interface events: %s", strerror(-r));
		return 0;
	}
	if (r > 0 && lp->d->disc)
		rediscover(lp->d);
	return 0;
}

static int on_metrics(struct ms_loop *lp, int fd)
{
	(void)fd;
	ms_metrics_http_run(lp->metrics);
	return 0;
}

static int on_api(struct ms_loop *lp, int fd)
{
	(void)fd;
	ms_api_run(lp->d->api);
	return 0;
}

/* A watch that cannot read its events only stops noticing changes: it
 * warns, and the agent keeps enforcing. */
static int on_watch_events(struct ms_loop *lp, int fd)
{
	(void)fd;
	ms_watch_on_events(lp->watch);
	return 0;
}

static int on_watch_timer(struct ms_loop *lp, int fd)
{
	struct ms_daemon *d = lp->d;

	(void)fd;
	if (ms_watch_on_timer(lp->watch, d->source, d->source_len,
			      d->last_reload_ms && !d->last_reload_ok))
		on_reload(d, false);
	return 0;
}

static int loop_add(struct ms_loop *lp, int fd, ms_loop_cb cb)
{
	struct ms_loop_src *src;
	struct epoll_event e = { .events = EPOLLIN };

	if (lp->n_src == MS_LOOP_MAX_SRC)
		return -ENOSPC;
	src = &lp->src[lp->n_src];
	src->fd = fd;
	src->cb = cb;
	e.data.ptr = src;
	if (epoll_ctl(lp->epfd, EPOLL_CTL_ADD, fd, &e))
		return -errno;
	lp->n_src++;
	return 0;
}

int ms_loop_setup(struct ms_loop *lp, const sigset_t *mask)
{
	struct itimerspec its = { .it_interval = { TICK_SEC, 0 }, .it_value = { TICK_SEC, 0 } };
	int api_fds[2];
	size_t n_api = 0;
	int err;

	lp->rbfd = ms_events_ringbuf_fd(lp->d->ev);
	if (lp->rbfd < 0) {
		err = lp->rbfd;
		log_error("cannot open the event ring buffer: %s", strerror(-err));
		return err;
	}
	lp->sigfd = signalfd(-1, mask, SFD_NONBLOCK | SFD_CLOEXEC);
	lp->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	lp->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (lp->sigfd < 0 || lp->timerfd < 0 || lp->epfd < 0) {
		err = -errno;
		log_error("cannot set up the event loop: %s", strerror(-err));
		return err;
	}
	if (timerfd_settime(lp->timerfd, 0, &its, NULL)) {
		err = -errno;
		log_error("cannot arm the timer: %s", strerror(-err));
		return err;
	}
	if (lp->d->api)
		n_api = ms_api_fds(lp->d->api, api_fds, 2);
	err = loop_add(lp, lp->rbfd, on_ringbuf);
	if (!err)
		err = loop_add(lp, lp->sigfd, on_signals);
	if (!err)
		err = loop_add(lp, lp->timerfd, on_timer);
	for (size_t i = 0; !err && i < n_api; i++)
		err = loop_add(lp, api_fds[i], on_api);
	if (!err && lp->metrics)
		err = loop_add(lp, ms_metrics_http_fd(lp->metrics), on_metrics);
	if (!err && ms_links_fd(lp->links) >= 0)
		err = loop_add(lp, ms_links_fd(lp->links), on_links);
	if (!err && lp->watch)
		err = loop_add(lp, ms_watch_inotify_fd(lp->watch), on_watch_events);
	if (!err && lp->watch)
		err = loop_add(lp, ms_watch_timer_fd(lp->watch), on_watch_timer);
	if (err)
		log_error("cannot set up the event loop: %s", strerror(-err));
	return err;
}

int ms_loop_run(struct ms_loop *lp)
{
	lp->next_stats_us = mono_usec() + (uint64_t)lp->o->stats_interval * 1000000ULL;
	while (!lp->stop) {
		struct epoll_event evs[MS_LOOP_MAX_SRC];
		bool sweeping = ms_events_sweeping(lp->d->ev);
		int timeout = sweeping ? 0 : lp->d->api ? ms_api_timeout_ms(lp->d->api) : -1;
		int n = epoll_wait(lp->epfd, evs, MS_LOOP_MAX_SRC, timeout);

		if (n < 0) {
			int err = -errno;

			if (err == -EINTR)
				continue;
			log_error("epoll_wait: %s", strerror(-err));
			return err;
		}
		for (int i = 0; i < n; i++) {
			struct ms_loop_src *src = evs[i].data.ptr;
			int err = src->cb(lp, src->fd);

			if (err)
				return err;
		}
		/* Timeouts, and connections resumed by new events, need a run
		 * even without activity on the API's fds. */
		if (lp->d->api && (n == 0 || ms_api_timeout_ms(lp->d->api) == 0))
			ms_api_run(lp->d->api);
		if (sweeping) {
			int err = ms_events_sweep_step(lp->d->ev);

			if (err < 0)
				log_warn("cannot sweep the session table: %s", strerror(-err));
		}
	}
	return 0;
}

void ms_loop_close(struct ms_loop *lp)
{
	if (lp->epfd >= 0)
		close(lp->epfd);
	if (lp->sigfd >= 0)
		close(lp->sigfd);
	if (lp->timerfd >= 0)
		close(lp->timerfd);
}
