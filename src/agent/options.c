// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* microsegd's command line (options.h). */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph.h"
#include "log.h"
#include "options.h"
#include "watch.h"

#define DEFAULT_POLICY "/etc/microsegd/policy.yaml"
#define DEFAULT_STATE_DIR "/var/lib/microsegd"
#define MAX_GRAPH_EDGES (1u << 24)
#define DEFAULT_STATS_INTERVAL 5
#define MAX_STATS_INTERVAL 86400
#define MAX_SESSION_MAX (1u << 28)
#define MAX_RINGBUF_BYTES (1u << 30)

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
int ms_options_parse(int argc, char **argv, struct ms_options *o)
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

void ms_options_init(struct ms_options *o)
{
	*o = (struct ms_options){
		.policy = DEFAULT_POLICY,
		.flow_log = "-",
		.log_level = MS_LOG_INFO,
		.stats_interval = DEFAULT_STATS_INTERVAL,
		.api = { .socket_path = MS_DEFAULT_API_SOCKET },
		.state_dir = DEFAULT_STATE_DIR,
		.graph_max_edges = MS_GRAPH_DEFAULT_MAX_EDGES,
	};
	ms_dp_opts_default(&o->dp);
	o->dp.pin_dir = MS_DEFAULT_PIN_DIR; /* the library's default pins nothing */
}

void ms_options_free(struct ms_options *o)
{
	free(o->ifnames);
	free(o->web_hosts);
}
