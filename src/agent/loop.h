/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
#ifndef MICROSEGD_LOOP_H
#define MICROSEGD_LOOP_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon.h"
#include "links.h"
#include "metrics_http.h"
#include "options.h"
#include "watch.h"

/*
 * The event loop: one thread, one epoll. Each source registers its fd with
 * a callback; the ring buffer, signals, the one-second timer and the API
 * server's epoll fds are all sources alike.
 */
struct ms_loop;
typedef int (*ms_loop_cb)(struct ms_loop *lp, int fd);
struct ms_loop_src {
	int fd;
	ms_loop_cb cb;
};

#define MS_LOOP_MAX_SRC 16

struct ms_loop {
	struct ms_daemon *d;
	const struct ms_options *o;
	struct ms_watch *watch;		 /* NULL: no --watch */
	struct ms_links *links;		 /* the interfaces, and their netlink events */
	struct ms_metrics_http *metrics; /* NULL: no --metrics */
	int epfd, sigfd, timerfd, rbfd;
	struct ms_loop_src src[MS_LOOP_MAX_SRC];
	size_t n_src;
	bool stop;
	uint64_t next_stats_us;
	uint64_t next_history_us;
	uint64_t lost_seen;
	uint64_t unclass_seen;	  /* unclassifiable frames already warned about */
	uint64_t next_unclass_us; /* the next such warning, at most every 10 s */
};

/* The loop's fds, made and registered: the ring buffer, the signals of mask
 * (blocked), the one-second timer, the API, --metrics, the interfaces'
 * netlink events and --watch. Returns 0 or -errno, reason logged. */
int ms_loop_setup(struct ms_loop *lp, const sigset_t *mask);

/* Serve until SIGTERM or SIGINT (0) or an error (-errno). */
int ms_loop_run(struct ms_loop *lp);

/* Close the fds ms_loop_setup made. */
void ms_loop_close(struct ms_loop *lp);

/* The stats line as systemd's STATUS=. */
void ms_loop_notify_status(const struct ms_daemon *d);

#endif /* MICROSEGD_LOOP_H */
