// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * microsegd: the lifecycle, around the options (options.c) and the event
 * loop (loop.c). One thread waits in one epoll on the ring buffer, a
 * signalfd, a timerfd, the API's fds and, with --watch, an inotify fd and
 * its debounce timer; signals are never handled asynchronously.
 */
#include <errno.h>
#include <net/if.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"
#include "daemon.h"
#include "discovery.h"
#include "events.h"
#include "graph.h"
#include "history.h"
#include "loader.h"
#include "links.h"
#include "loop.h"
#include "log.h"
#include "metrics_http.h"
#include "notify.h"
#include "observer.h"
#include "options.h"
#include "policy_check.h"
#include "policy_parse.h"
#include "safefile.h"
#include "server.h"
#include "timefmt.h"
#include "watch.h"

static void shutdown_dp(struct ms_daemon *d, bool keep)
{
	int err;

	if (!d->dp)
		return;
	if (keep) {
		/* The flows go on: none of them ends here. */
		if (d->ev)
			ms_events_drain(d->ev);
		log_info("leaving the classifier attached%s%s (--keep-attached)",
			 ms_dp_pin_path(d->dp) ? ", state pinned in " : " without pinned state",
			 ms_dp_pin_path(d->dp) ? ms_dp_pin_path(d->dp) : "");
		ms_dp_leave(&d->dp);
		return;
	}
	if (d->ev) {
		/* Nothing goes unreported: events still queued, then every flow
		 * that is still open. */
		ms_events_drain(d->ev);
		err = ms_events_sweep(d->ev, true);
		if (err)
			log_warn("cannot report the remaining sessions: %s", strerror(-err));
	}
	ms_dp_close(&d->dp);
}

/* Discovery before the first install: the policy goes in with the
 * workloads already behind the interfaces, not default-deny for a moment. */
static int start_discovery(struct ms_daemon *d, const struct ms_options *o, struct ms_loaded *l,
			   const struct ms_diag *first)
{
	int ifx[MS_DP_MAX_IFACES];
	size_t n = 0;
	int err = ms_discovery_new(&d->disc);

	if (err) {
		log_error("cannot start discovery: %s", strerror(-err));
		return err;
	}
	n = ms_links_resolve(o->ifnames, o->n_ifnames, ifx, MS_DP_MAX_IFACES);
	err = ms_discovery_refresh(d->disc, ifx, n);
	if (err < 0) {
		log_error("discovery failed: %s", strerror(-err));
		return err;
	}
	if (err > 0) {
		/* Again, with the inventory: the selectors now find them. */
		ms_loaded_clear(l);
		return ms_daemon_prepare(d, l, NULL);
	}
	ms_daemon_log_diag(first);
	return 0;
}

/*
 * One agent per network namespace: it owns the namespace's pinned state and
 * would replace another agent's filters. The lock is an abstract unix socket
 * name, scoped to the network namespace and released when the process ends,
 * however it ends. Returns the fd holding it, or -errno (-EADDRINUSE: held).
 */
static int netns_lock(void)
{
	static const char name[] = "microsegd-agent";
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), err;

	if (fd < 0)
		return -errno;
	memcpy(a.sun_path + 1, name, sizeof(name) - 1);
	if (bind(fd, (struct sockaddr *)&a,
		 (socklen_t)(offsetof(struct sockaddr_un, sun_path) + sizeof(name)))) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

/* Scans are always watched; new edges against --baseline when given. */
static int setup_anomalies(struct ms_daemon *d, const char *baseline)
{
	struct ms_graph *g = NULL;
	struct ms_anomaly *a = NULL;
	char *text = NULL, *errmsg = NULL;
	size_t len = 0;
	cJSON *j = NULL;
	int err = 0;

	if (baseline) {
		/* The same bounded reader as policies: a baseline is a file of
		 * the operator's, like the policy. */
		err = ms_policy_read_file(baseline, &text, &len);
		if (err) {
			log_error("cannot read the baseline %s: %s", baseline, strerror(-err));
			return err;
		}
		j = cJSON_ParseWithLength(text ? text : "", len);
		err = ms_graph_new(MS_GRAPH_DEFAULT_MAX_EDGES, &g);
		if (!err)
			err = j ? ms_graph_from_json(g, j, &errmsg) : -EINVAL;
		if (err) {
			log_error("the baseline %s is not a flow graph: %s", baseline,
				  errmsg ? errmsg
				  : j	 ? strerror(-err)
					 : "not valid JSON");
			ms_graph_free(&g);
			goto out;
		}
		log_info("baseline %s: %zu edges; flows on other edges are reported as new_edge",
			 baseline, ms_graph_edges(g));
	}
	err = ms_anomaly_new(g, &a);
	if (err)
		goto out;
	ms_observer_set_anomaly(d->obs, a, d->ev);
out:
	cJSON_Delete(j);
	free(text);
	free(errmsg);
	return err;
}

/*
 * The state directory, made if absent; refused (and nothing kept) if
 * others can write in it: root's files there could be pointed elsewhere.
 */
static bool usable_state_dir(const char *dir)
{
	const char *why = NULL;
	int err;

	if (mkdir(dir, 0750) && errno != EEXIST) {
		log_warn("state directory %s unusable: %s; the flow graph will not be kept "
			 "across restarts",
			 dir, strerror(errno));
		return false;
	}
	err = ms_dir_check(dir, &why);
	if (err) {
		log_error("refusing the state directory %s: %s; the flow graph and the policy "
			  "record will not be kept (make it root's, mode 0750)",
			  dir, why ? why : strerror(-err));
		return false;
	}
	return true;
}

static int run(const struct ms_options *o)
{
	struct ms_daemon d = {
		.policy_path = o->policy,
		.mode = o->mode,
		.dp_opts = o->dp,
		.state_dir = o->state_dir,
		.started_ms = ms_time_now_ms(),
	};
	struct ms_observer_opts oo = {
		.state_dir = o->state_dir,
		.max_edges = o->graph_max_edges,
		.ring_size = MS_FLOWRING_DEFAULT,
	};
	struct ms_loop lp = { .d = &d, .o = o, .epfd = -1, .sigfd = -1, .timerfd = -1, .rbfd = -1 };
	struct ms_loaded l = { 0 };
	struct ms_diag first_diag = { 0 };
	struct ms_cgroups *cgroups = NULL;
	int status = EXIT_SYSTEM, err;
	size_t n_if;
	/* Also when starting fails: what an earlier agent left attached keeps
	 * enforcing (fail-static) rather than being torn down. */
	bool keep = o->keep_attached;
	int lock_fd = -1;
	sigset_t mask;

	/* Blocked from the start: a SIGTERM during startup waits in the
	 * signalfd and becomes a clean shutdown. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &mask, NULL)) {
		log_error("cannot block signals: %s", strerror(errno));
		return EXIT_SYSTEM;
	}
	/* A flow log on a closed pipe, or an API client gone, is a write
	 * error to handle, not death. */
	signal(SIGPIPE, SIG_IGN);
	err = ms_notify_init();
	if (err)
		log_warn("NOTIFY_SOCKET unusable, not notifying systemd: %s", strerror(-err));

	/* The policy first: an invalid one is exit status 1 even without
	 * privilege. */
	d.discover = o->discover;
	d.hold_diag = true;
	err = ms_daemon_prepare(&d, &l, &first_diag);
	d.hold_diag = false;
	if (err) {
		status = err == -ENOMEM ? EXIT_SYSTEM : EXIT_POLICY;
		log_error("cannot start: the policy %s is not usable", o->policy);
		goto out;
	}
	if (!o->discover && !l.p->discovery)
		ms_daemon_log_diag(&first_diag);
	/* After the policy: an invalid one is exit status 1 before anything
	 * is made on disk. */
	if (d.state_dir && !usable_state_dir(d.state_dir)) {
		d.state_dir = NULL;
		oo.state_dir = NULL;
	}
	err = ms_dp_open(&d.dp_opts, &d.dp);
	if (err)
		goto out;
	if (o->discover || l.p->discovery) {
		err = start_discovery(&d, o, &l, &first_diag);
		if (err)
			goto out;
	}
	err = ms_events_new(o->flow_log, d.dp, &d.ev);
	if (err) {
		log_error("cannot open the flow log %s: %s", o->flow_log, strerror(-err));
		goto out;
	}
	err = ms_observer_new(&oo, &d.obs);
	if (err) {
		log_error("cannot set up the flow graph: %s", strerror(-err));
		goto out;
	}
	ms_events_set_sink(d.ev, ms_observer_sink, d.obs);
	err = ms_cgroups_new(NULL, &cgroups);
	if (err)
		log_warn("no cgroup v2 hierarchy (%s): flows will not name their local process",
			 strerror(-err));
	else
		ms_events_set_cgroups(d.ev, cgroups);
	err = ms_history_new(MS_HISTORY_SAMPLES, &d.hist);
	if (err) {
		log_error("cannot set up the counter history: %s", strerror(-err));
		goto out;
	}
	if (ms_dp_adopted(d.dp))
		ms_daemon_name_adopted(&d);
	err = setup_anomalies(&d, o->baseline);
	if (err)
		goto out;
	/* Before attaching: a second agent must fail without touching the
	 * interfaces the first one serves. */
	if (o->api.socket_path || o->api.web) {
		err = ms_api_new(&d, &o->api, &d.api);
		if (err)
			goto out;
		ms_observer_set_publish(d.obs, ms_api_publish, d.api);
	}
	if (o->metrics) {
		err = ms_metrics_http_new(&d, o->metrics, &lp.metrics);
		if (err)
			goto out;
	}
	/* Also before attaching: --watch that cannot watch is a failed start. */
	if (o->watch) {
		err = ms_watch_new(o->policy, &lp.watch);
		if (err)
			goto out;
	}
	lock_fd = netns_lock();
	if (lock_fd < 0) {
		err = lock_fd;
		if (err == -EADDRINUSE)
			log_error("another microsegd is running in this network namespace");
		else
			log_error("cannot take the agent lock of this network namespace: %s",
				  strerror(-err));
		goto out;
	}
	err = ms_daemon_install(&d, &l, NULL);
	if (err)
		goto out;
	err = ms_links_new(d.dp, o->ifnames, o->n_ifnames, d.disc != NULL, &lp.links);
	if (err)
		goto out;
	if (ms_dp_adopted(d.dp))
		ms_dp_detach_stale(d.dp);
	if (o->keep_attached && !ms_dp_pin_path(d.dp))
		log_warn("--keep-attached without pinned state: the classifier stays attached at "
			 "exit, but the next start cannot adopt its sessions");
	err = ms_loop_setup(&lp, &mask);
	if (err)
		goto out;
	n_if = ms_dp_n_ifaces(d.dp);
	log_info("microsegd %s running on %zu interface%s, flow log %s, stats every %u s%s%s%s%s",
		 MS_VERSION, n_if, n_if == 1 ? "" : "s", o->flow_log, o->stats_interval,
		 o->api.socket_path ? ", API on " : "",
		 o->api.socket_path ? o->api.socket_path : "", o->api.web ? ", web on " : "",
		 o->api.web ? o->api.web : "");
	ms_notify("READY=1\n");
	ms_loop_notify_status(&d);

	err = ms_loop_run(&lp);
	status = err ? EXIT_SYSTEM : 0;
	ms_notify("STOPPING=1\nSTATUS=Shutting down\n");
out:
	/* A start that failed with nothing of an earlier agent's to keep
	 * enforcing leaves nothing behind, pins included. */
	if (status && d.dp && ms_dp_fresh(d.dp))
		keep = false;
	if (d.obs)
		ms_observer_set_publish(d.obs, NULL, NULL);
	ms_api_free(&d.api);
	ms_metrics_http_free(&lp.metrics);
	/* A second agent stopped by the lock has attached nothing and pinned
	 * nothing (the pinned state's own lock stops it earlier). */
	shutdown_dp(&d, keep);
	if (lock_fd >= 0)
		close(lock_fd);
	ms_loop_close(&lp);
	ms_watch_free(&lp.watch);
	ms_links_free(&lp.links);
	ms_events_free(&d.ev);
	ms_cgroups_free(&cgroups);
	ms_observer_free(&d.obs); /* saves the graph, final flows included */
	ms_history_free(&d.hist);
	ms_discovery_free(&d.disc);
	ms_loaded_clear(&l);
	ms_diag_free(&first_diag);
	ms_daemon_clear(&d);
	ms_notify_close();
	if (!status && keep)
		log_info("stopped: the classifier stays attached for the next start");
	else if (!status)
		log_info("stopped: detached from every interface");
	return status;
}

int main(int argc, char **argv)
{
	struct ms_options o;
	int status;

	/* Before anything is opened: a closed stderr must not become the
	 * flow log (nor any other file) and receive the log lines. */
	ms_keep_std_fds();
	ms_options_init(&o);
	ms_log_init();
	status = ms_options_parse(argc, argv, &o);
	if (status >= 0)
		goto out;
	ms_log_set_level((enum ms_log_level)o.log_level);
	if (o.check) {
		status = ms_policy_check(o.policy, o.mode, stdout);
		goto out;
	}
	if (o.cleanup) {
		int lock = netns_lock();

		if (lock < 0) {
			fprintf(stderr, "microsegd: %s: stop it first\n",
				lock == -EADDRINUSE
					? "a microsegd is running in this network namespace"
					: strerror(-lock));
			status = EXIT_SYSTEM;
			goto out;
		}
		/* A glob (-i 'veth*', as the unit may run with) means the
		 * interfaces it matches now. */
		char **names = NULL;
		size_t n_names = 0;

		if (ms_links_expand(o.ifnames, o.n_ifnames, &names, &n_names)) {
			fprintf(stderr, "microsegd: out of memory\n");
			status = EXIT_SYSTEM;
		} else {
			status = ms_dp_cleanup(&o.dp, (const char *const *)names, n_names)
					 ? EXIT_SYSTEM
					 : 0;
		}
		ms_links_expand_free(names, n_names);
		close(lock);
		goto out;
	}
	if (!o.n_ifnames) {
		o.ifnames = malloc(sizeof(*o.ifnames));
		if (!o.ifnames) {
			fprintf(stderr, "microsegd: out of memory\n");
			return EXIT_SYSTEM;
		}
		o.ifnames[o.n_ifnames++] = "lo";
	}
	status = run(&o);
out:
	ms_options_free(&o);
	return status;
}
