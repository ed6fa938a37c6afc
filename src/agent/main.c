// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * microsegd: options, lifecycle and the event loop. One thread waits in one
 * epoll on the ring buffer, a signalfd, a timerfd, the API's fds and, with
 * --watch, an inotify fd and its debounce timer; signals are never handled
 * asynchronously.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <net/if.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"
#include "clock.h"
#include "daemon.h"
#include "discovery.h"
#include "events.h"
#include "graph.h"
#include "history.h"
#include "loader.h"
#include "links.h"
#include "log.h"
#include "metrics_http.h"
#include "notify.h"
#include "observer.h"
#include "policy_check.h"
#include "policy_parse.h"
#include "safefile.h"
#include "server.h"
#include "stats.h"
#include "timefmt.h"
#include "watch.h"

#define EXIT_POLICY 1
#define EXIT_USAGE 2
#define EXIT_SYSTEM 3

#define DEFAULT_POLICY "/etc/microsegd/policy.yaml"
#define DEFAULT_STATE_DIR "/var/lib/microsegd"
#define MAX_GRAPH_EDGES (1u << 24)
#define DEFAULT_STATS_INTERVAL 5
#define MAX_STATS_INTERVAL 86400
#define MAX_SESSION_MAX (1u << 28)
#define MAX_RINGBUF_BYTES (1u << 30)
/* Housekeeping period: session sweep, clock resync, stats schedule. */
#define TICK_SEC 1

struct options {
	const char **ifnames;
	size_t n_ifnames;
	const char *policy;
	const char *flow_log;
	const char *mode;
	int log_level;
	unsigned int stats_interval;
	bool check;
	bool watch;	    /* reload when the policy file changes (inotify) */
	bool keep_attached; /* SIGTERM leaves the classifier attached and pinned */
	bool cleanup;	    /* --cleanup: remove what microsegd left, exit */
	struct ms_dp_opts dp;
	struct ms_api_opts api;
	const char *metrics;	/* --metrics ADDR:PORT; NULL: none */
	const char **web_hosts; /* api.web_hosts, ours to free */
	const char *state_dir;	/* NULL: none */
	size_t graph_max_edges;
	const char *baseline; /* graph JSON for new_edge anomalies; NULL: none */
	bool discover;	      /* --discover: workloads behind the interfaces */
};

enum {
	OPT_SESSION_MAX = 256,
	OPT_RINGBUF_SIZE,
	OPT_API_SOCKET,
	OPT_API_GROUP,
	OPT_WEB,
	OPT_METRICS,
	OPT_WEB_HOST,
	OPT_STATE_DIR,
	OPT_GRAPH_MAX_EDGES,
	OPT_BASELINE,
	OPT_DISCOVER,
	OPT_WATCH,
	OPT_PIN_DIR,
	OPT_KEEP_ATTACHED,
	OPT_CLEANUP,
};

static const struct option long_opts[] = {
	{ "interface", required_argument, NULL, 'i' },
	{ "policy", required_argument, NULL, 'p' },
	{ "log-level", required_argument, NULL, 'l' },
	{ "stats-interval", required_argument, NULL, 's' },
	{ "flow-log", required_argument, NULL, 'f' },
	{ "mode", required_argument, NULL, 'm' },
	{ "check", no_argument, NULL, 'n' },
	{ "session-max", required_argument, NULL, OPT_SESSION_MAX },
	{ "ringbuf-size", required_argument, NULL, OPT_RINGBUF_SIZE },
	{ "api-socket", required_argument, NULL, OPT_API_SOCKET },
	{ "api-group", required_argument, NULL, OPT_API_GROUP },
	{ "web", required_argument, NULL, OPT_WEB },
	{ "metrics", required_argument, NULL, OPT_METRICS },
	{ "web-host", required_argument, NULL, OPT_WEB_HOST },
	{ "state-dir", required_argument, NULL, OPT_STATE_DIR },
	{ "graph-max-edges", required_argument, NULL, OPT_GRAPH_MAX_EDGES },
	{ "baseline", required_argument, NULL, OPT_BASELINE },
	{ "discover", no_argument, NULL, OPT_DISCOVER },
	{ "watch", no_argument, NULL, OPT_WATCH },
	{ "pin-dir", required_argument, NULL, OPT_PIN_DIR },
	{ "keep-attached", no_argument, NULL, OPT_KEEP_ATTACHED },
	{ "cleanup", no_argument, NULL, OPT_CLEANUP },
	{ "version", no_argument, NULL, 'V' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: microsegd [OPTIONS]\n"
		"Enforce a microsegmentation policy on this host's interfaces with an eBPF\n"
		"TC classifier, and log flows as JSON lines.\n"
		"\n"
		"Options:\n"
		"  -i, --interface IFACE     attach to IFACE, at ingress and egress; repeat for\n"
		"                            several interfaces                 (default: lo)\n"
		"  -p, --policy FILE         policy file      (default: " DEFAULT_POLICY ")\n"
		"  -l, --log-level LEVEL     debug | info | warn | error        (default: info)\n"
		"  -s, --stats-interval SEC  seconds between stats lines; 0 = off (default: %d)\n"
		"  -f, --flow-log FILE       flow events as JSON lines; '-' = stdout\n"
		"                            (default: -); reopened on SIGHUP\n"
		"  -m, --mode MODE           enforce | monitor: overrides the policy's mode, also\n"
		"                            on every reload (monitor never drops; would-be\n"
		"                            drops are logged as flow_audit)\n"
		"  -n, --check               parse, validate and compile the policy, print a\n"
		"                            summary and exit; needs no privilege\n"
		"      --watch               reload the policy, as on SIGHUP, when its file\n"
		"                            changes: inotify on the file's directory (also\n"
		"                            kubelet's ConfigMap ..data swap), %d ms after the\n"
		"                            last change\n"
		"      --session-max N       session table entries             (default: %u)\n"
		"      --ringbuf-size BYTES  event ring buffer size, a power of two of at least\n"
		"                            4096; K and M suffixes accepted  (default: %uM)\n"
		"      --api-socket PATH     control API socket, mode 0660; 'none' disables it\n"
		"                            (default: " MS_DEFAULT_API_SOCKET ")\n"
		"      --api-group GROUP     group allowed to use the API socket (default: root)\n"
		"      --web ADDR:PORT       serve the web console and the API's GET\n"
		"                            endpoints read-only over TCP, e.g.\n"
		"                            127.0.0.1:9595                  (default: off);\n"
		"                            it answers only requests whose Host is its own\n"
		"                            address (or localhost on loopback)\n"
		"      --web-host NAME       also answer Host NAME (or NAME:PORT) on --web: the\n"
		"                            name the console is reached by; repeatable\n"
		"      --metrics ADDR:PORT   serve GET /metrics, and nothing else, over TCP:\n"
		"                            for a Prometheus on the node network, with\n"
		"                            --web kept local                (default: off)\n"
		"      --state-dir DIR       where the flow graph is kept across restarts;\n"
		"                            'none' keeps nothing (default: " DEFAULT_STATE_DIR
		")\n"
		"      --graph-max-edges N   edges the flow graph holds; flows of further edges\n"
		"                            are counted as dropped           (default: %u)\n"
		"      --baseline GRAPH      a flow graph (graph.json, GET /v1/graph): report\n"
		"                            each edge not in it once, as a new_edge anomaly\n"
		"      --discover            find the workloads behind the attached veths\n"
		"                            (their namespaces, addresses, listeners) and\n"
		"                            label them for the policy's selectors; also\n"
		"                            'discovery: true' in the policy\n"
		"      --pin-dir DIR         bpffs directory where the session table and policy\n"
		"                            slots outlive the process, per network namespace\n"
		"                            in DIR/netns-INODE; 'none' pins nothing\n"
		"                            (default: " MS_DEFAULT_PIN_DIR ")\n"
		"      --keep-attached       on SIGTERM/SIGINT leave the classifier attached and\n"
		"                            its state pinned, for the next start to adopt\n"
		"                            without a moment unenforced (restarts)\n"
		"      --cleanup             remove microsegd's filters from the -i interfaces\n"
		"                            and those the pinned state records, the clsact\n"
		"                            qdiscs it created, and the pinned state; exit\n"
		"  -V, --version             print the version and exit\n"
		"  -h, --help                print this help and exit\n"
		"\n"
		"Signals:\n"
		"  SIGHUP           reopen the flow log and re-read the policy: a valid policy\n"
		"                   replaces the old one atomically (flows it denies are revoked\n"
		"                   at their next packet); an invalid one is logged with\n"
		"                   FILE:LINE:COL and the old policy stays in force\n"
		"  SIGUSR1          log flows decided per rule and session table occupancy\n"
		"  SIGTERM, SIGINT  detach from every interface, remove the clsact qdiscs\n"
		"                   microsegd created and the pinned state, report remaining\n"
		"                   flows, exit 0; with --keep-attached, leave the classifier\n"
		"                   enforcing and its state pinned, exit 0\n"
		"\n"
		"Exit status:\n"
		"  0  success, or clean shutdown\n"
		"  1  invalid policy\n"
		"  2  bad usage\n"
		"  3  system error: no such interface, BPF load or attach failed, missing\n"
		"     privilege, cannot open the flow log, another microsegd running in\n"
		"     this network namespace\n"
		"\n"
		"Logs go to stderr (with <N> priority prefixes under systemd's journal).\n"
		"See microsegd(8).\n",
		DEFAULT_STATS_INTERVAL, MS_WATCH_DEBOUNCE_MS, MS_DEFAULT_SESSION_MAX,
		MS_DEFAULT_RINGBUF_BYTES >> 20, MS_GRAPH_DEFAULT_MAX_EDGES);
}

/* Parse a decimal count, with an optional K/M/G suffix (powers of 1024). */
static int parse_count(const char *s, bool suffix, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	/* strtoull would accept " -1" as a huge number. */
	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	if (suffix && *end) {
		unsigned int shift = 0;

		switch (*end) {
		case 'k':
		case 'K':
			shift = 10;
			break;
		case 'm':
		case 'M':
			shift = 20;
			break;
		case 'g':
		case 'G':
			shift = 30;
			break;
		default:
			return -EINVAL;
		}
		end++;
		if (v > (max >> shift))
			return -ERANGE;
		v <<= shift;
	}
	if (*end)
		return -EINVAL;
	if (v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("microsegd: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (see microsegd --help)\n", stderr);
	return EXIT_USAGE;
}

/* Returns -1 to continue, or the exit status. */
static int parse_options(int argc, char **argv, struct options *o)
{
	uint64_t v;
	int c;

	opterr = 0; /* one line of our own instead of getopt's */
	while ((c = getopt_long(argc, argv, ":i:p:l:s:f:m:nVh", long_opts, NULL)) != -1) {
		switch (c) {
		case 'i': {
			const char **n = realloc(o->ifnames, (o->n_ifnames + 1) * sizeof(*n));

			if (!n) {
				fprintf(stderr, "microsegd: out of memory\n");
				return EXIT_SYSTEM;
			}
			if (!*optarg)
				return usage_error("empty interface name");
			o->ifnames = n;
			o->ifnames[o->n_ifnames++] = optarg;
			break;
		}
		case 'p':
			o->policy = optarg;
			break;
		case 'l':
			o->log_level = ms_log_level_parse(optarg);
			if (o->log_level < 0)
				return usage_error(
					"invalid log level '%s' (debug, info, warn or error)",
					optarg);
			break;
		case 's':
			if (parse_count(optarg, false, MAX_STATS_INTERVAL, &v))
				return usage_error("invalid stats interval '%s' (seconds, 0 to %d)",
						   optarg, MAX_STATS_INTERVAL);
			o->stats_interval = (unsigned int)v;
			break;
		case 'f':
			if (!*optarg)
				return usage_error("empty flow log path");
			o->flow_log = optarg;
			break;
		case 'm':
			if (strcmp(optarg, "enforce") && strcmp(optarg, "monitor"))
				return usage_error("invalid mode '%s' (enforce or monitor)",
						   optarg);
			o->mode = optarg;
			break;
		case 'n':
			o->check = true;
			break;
		case OPT_WATCH:
			o->watch = true;
			break;
		case OPT_SESSION_MAX:
			if (parse_count(optarg, true, MAX_SESSION_MAX, &v) || !v)
				return usage_error("invalid session table size '%s' (1 to %u)",
						   optarg, MAX_SESSION_MAX);
			o->dp.session_max = (uint32_t)v;
			break;
		case OPT_RINGBUF_SIZE:
			if (parse_count(optarg, true, MAX_RINGBUF_BYTES, &v) || v < 4096 ||
			    (v & (v - 1)))
				return usage_error("invalid ring buffer size '%s' (a power of two, "
						   "4096 to 1G)",
						   optarg);
			o->dp.ringbuf_bytes = (uint32_t)v;
			break;
		case OPT_API_SOCKET:
			if (!*optarg)
				return usage_error("empty API socket path ('none' disables it)");
			o->api.socket_path = strcmp(optarg, "none") ? optarg : NULL;
			break;
		case OPT_API_GROUP:
			if (!*optarg)
				return usage_error("empty API group");
			o->api.group = optarg;
			break;
		case OPT_WEB:
			if (!strchr(optarg, ':'))
				return usage_error("invalid --web '%s' (ADDR:PORT)", optarg);
			o->api.web = optarg;
			break;
		case OPT_WEB_HOST: {
			const char **n;

			if (!*optarg || strpbrk(optarg, " \t/"))
				return usage_error("invalid --web-host '%s' (a host name, or "
						   "NAME:PORT)",
						   optarg);
			n = realloc(o->web_hosts, (o->api.n_web_hosts + 1) * sizeof(*n));
			if (!n) {
				fprintf(stderr, "microsegd: out of memory\n");
				return EXIT_SYSTEM;
			}
			o->web_hosts = n;
			o->web_hosts[o->api.n_web_hosts++] = optarg;
			o->api.web_hosts = o->web_hosts;
			break;
		}
		case OPT_METRICS:
			if (!strchr(optarg, ':'))
				return usage_error("invalid --metrics '%s' (ADDR:PORT)", optarg);
			o->metrics = optarg;
			break;
		case OPT_STATE_DIR:
			if (!*optarg)
				return usage_error("empty state directory ('none' disables it)");
			o->state_dir = strcmp(optarg, "none") ? optarg : NULL;
			break;
		case OPT_DISCOVER:
			o->discover = true;
			break;
		case OPT_BASELINE:
			if (!*optarg)
				return usage_error("empty baseline path");
			o->baseline = optarg;
			break;
		case OPT_GRAPH_MAX_EDGES:
			if (parse_count(optarg, true, MAX_GRAPH_EDGES, &v) || !v)
				return usage_error("invalid graph size '%s' (1 to %u edges)",
						   optarg, MAX_GRAPH_EDGES);
			o->graph_max_edges = (size_t)v;
			break;
		case OPT_PIN_DIR:
			if (!*optarg)
				return usage_error("empty pin directory ('none' disables it)");
			o->dp.pin_dir = strcmp(optarg, "none") ? optarg : NULL;
			o->dp.pin_dir_given = o->dp.pin_dir != NULL;
			break;
		case OPT_KEEP_ATTACHED:
			o->keep_attached = true;
			break;
		case OPT_CLEANUP:
			o->cleanup = true;
			break;
		case 'V':
			printf("microsegd %s\n", MS_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		case ':':
			return usage_error("option '%s' needs an argument", argv[optind - 1]);
		default:
			if (optopt)
				return usage_error("unknown option '-%c'", optopt);
			return usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	return -1;
}

static uint64_t mono_usec(void)
{
	return ms_mono_ns() / 1000;
}

static void notify_status(const struct ms_daemon *d)
{
	char *s = ms_stats_status(d->dp, ms_events_policy(d->ev), ms_events_sessions(d->ev));

	if (s)
		ms_notify("STATUS=%s\n", s);
	free(s);
}

/*
 * The event loop: one thread, one epoll. Each source registers its fd with
 * a callback; the ring buffer, signals, the one-second timer and the API
 * server's epoll fds are all sources alike.
 */
struct loop;
typedef int (*loop_cb)(struct loop *lp, int fd);

struct loop_src {
	int fd;
	loop_cb cb;
};

#define LOOP_MAX_SRC 16

struct loop {
	struct ms_daemon *d;
	const struct options *o;
	struct ms_watch *watch;		 /* NULL: no --watch */
	struct ms_links *links;		 /* the interfaces, and their netlink events */
	struct ms_metrics_http *metrics; /* NULL: no --metrics */
	int epfd, sigfd, timerfd, rbfd;
	struct loop_src src[LOOP_MAX_SRC];
	size_t n_src;
	bool stop;
	uint64_t next_stats_us;
	uint64_t next_history_us;
	uint64_t lost_seen;
	uint64_t unclass_seen;	  /* unclassifiable frames already warned about */
	uint64_t next_unclass_us; /* the next such warning, at most every 10 s */
};

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

static void on_tick(struct loop *lp)
{
	struct ms_daemon *d = lp->d;
	const struct options *o = lp->o;
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
	notify_status(d);
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
	notify_status(d);
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

static int on_signals(struct loop *lp, int fd)
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

static int on_ringbuf(struct loop *lp, int fd)
{
	int r = ms_events_drain_some(lp->d->ev, DRAIN_SLICE);

	(void)fd;
	if (r < 0)
		log_warn("cannot read the event ring buffer: %s", strerror(-r));
	return 0;
}

static int on_timer(struct loop *lp, int fd)
{
	uint64_t expirations;

	if (read(fd, &expirations, sizeof(expirations)) > 0)
		on_tick(lp);
	return 0;
}

/* Interfaces came or went, or addresses changed: attach and release by the
 * globs, and look again for workloads. A netlink error only stops the
 * following of changes: it warns, and the agent keeps enforcing. */
static int on_links(struct loop *lp, int fd)
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

static int on_metrics(struct loop *lp, int fd)
{
	(void)fd;
	ms_metrics_http_run(lp->metrics);
	return 0;
}

static int on_api(struct loop *lp, int fd)
{
	(void)fd;
	ms_api_run(lp->d->api);
	return 0;
}

/* A watch that cannot read its events only stops noticing changes: it
 * warns, and the agent keeps enforcing. */
static int on_watch_events(struct loop *lp, int fd)
{
	(void)fd;
	ms_watch_on_events(lp->watch);
	return 0;
}

static int on_watch_timer(struct loop *lp, int fd)
{
	struct ms_daemon *d = lp->d;

	(void)fd;
	if (ms_watch_on_timer(lp->watch, d->source, d->source_len,
			      d->last_reload_ms && !d->last_reload_ok))
		on_reload(d, false);
	return 0;
}

static int loop_add(struct loop *lp, int fd, loop_cb cb)
{
	struct loop_src *src;
	struct epoll_event e = { .events = EPOLLIN };

	if (lp->n_src == LOOP_MAX_SRC)
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

static int loop_setup(struct loop *lp, const sigset_t *mask)
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

static int loop_run(struct loop *lp)
{
	lp->next_stats_us = mono_usec() + (uint64_t)lp->o->stats_interval * 1000000ULL;
	while (!lp->stop) {
		struct epoll_event evs[LOOP_MAX_SRC];
		bool sweeping = ms_events_sweeping(lp->d->ev);
		int timeout = sweeping ? 0 : lp->d->api ? ms_api_timeout_ms(lp->d->api) : -1;
		int n = epoll_wait(lp->epfd, evs, LOOP_MAX_SRC, timeout);

		if (n < 0) {
			int err = -errno;

			if (err == -EINTR)
				continue;
			log_error("epoll_wait: %s", strerror(-err));
			return err;
		}
		for (int i = 0; i < n; i++) {
			struct loop_src *src = evs[i].data.ptr;
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

static void loop_close(struct loop *lp)
{
	if (lp->epfd >= 0)
		close(lp->epfd);
	if (lp->sigfd >= 0)
		close(lp->sigfd);
	if (lp->timerfd >= 0)
		close(lp->timerfd);
}

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
static int start_discovery(struct ms_daemon *d, const struct options *o, struct ms_loaded *l,
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

static int run(const struct options *o)
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
	struct loop lp = { .d = &d, .o = o, .epfd = -1, .sigfd = -1, .timerfd = -1, .rbfd = -1 };
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
	err = loop_setup(&lp, &mask);
	if (err)
		goto out;
	n_if = ms_dp_n_ifaces(d.dp);
	log_info("microsegd %s running on %zu interface%s, flow log %s, stats every %u s%s%s%s%s",
		 MS_VERSION, n_if, n_if == 1 ? "" : "s", o->flow_log, o->stats_interval,
		 o->api.socket_path ? ", API on " : "",
		 o->api.socket_path ? o->api.socket_path : "", o->api.web ? ", web on " : "",
		 o->api.web ? o->api.web : "");
	ms_notify("READY=1\n");
	notify_status(&d);

	err = loop_run(&lp);
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
	loop_close(&lp);
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
	struct options o = {
		.policy = DEFAULT_POLICY,
		.flow_log = "-",
		.log_level = MS_LOG_INFO,
		.stats_interval = DEFAULT_STATS_INTERVAL,
		.api = { .socket_path = MS_DEFAULT_API_SOCKET },
		.state_dir = DEFAULT_STATE_DIR,
		.graph_max_edges = MS_GRAPH_DEFAULT_MAX_EDGES,
	};
	int status;

	/* Before anything is opened: a closed stderr must not become the
	 * flow log (nor any other file) and receive the log lines. */
	ms_keep_std_fds();
	ms_dp_opts_default(&o.dp);
	o.dp.pin_dir = MS_DEFAULT_PIN_DIR; /* the library's default pins nothing */
	ms_log_init();
	status = parse_options(argc, argv, &o);
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
	free(o.ifnames);
	free(o.web_hosts);
	return status;
}
