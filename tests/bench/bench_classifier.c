// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Classifier and control-plane benchmarks, side by side in one run:
 *   classifier_ns.noop / established / denied_repeat: BPF_PROG_TEST_RUN with
 *     repeat 1,000,000, median of 5 (JIT on); established is an allowed,
 *     answered TCP flow's ACK (one session lookup), denied_repeat a flood of
 *     one denied flow;
 *   classifier_ns.answer: an allowed TCP flow's ACK after its SYN-ACK, which
 *     moves the session from the unanswered table to the answered one
 *     (fresh flows behind the harness, 10 rules, harness subtracted);
 *   classifier_ns.new_flow.N: first packets against a random realistic
 *     N-rule policy: a harness program (bench_newflow.bpf.c) gives every
 *     repetition a fresh 5-tuple and tail-calls the classifier, so the
 *     session table never answers; its own cost, measured by tail-calling
 *     the no-op program instead, is subtracted;
 *   classifier_ns.floor_lookup / floor_insert: the floors (bench_floor.bpf.c):
 *     the classifier's parse and session key, then one lookup of a present
 *     key (floor_lookup, as established) or one insert of a fresh key
 *     behind the same harness (floor_insert, as new_flow), into an LRU_HASH
 *     of the session table's kind and size; floor_ratio.* divides by them;
 *   reload_ms.N / map_bytes.N: parse + compile + fill + flip of that policy,
 *     reload_phases_ms.N: the same, phase by phase;
 *   reload_ms.100000_over_100000: the steady state, a 100,000-rule policy
 *     installed while both slots hold one (so it also pays the clear of
 *     the inactive slot);
 *   reload_phases_ms.100000.yaml_floor: the parse's floor, libyaml's events
 *     of the same document with nothing built from them (median of 3);
 *     floor_ratio.parse_over_yaml_floor divides the parse by it;
 *   events_per_s / events_lost: ring buffer drained to a flow log on disk.
 * Writes JSON to argv[1] (default build/bench/classifier.json);
 * `--dump=N FILE` writes the generated N-rule policy as YAML instead;
 * `--reload=N [ROUNDS]` only reloads the N-rule policy ROUNDS times (default
 * 3) over itself and prints the phases (for profiling).
 * BENCH_QUICK=1 shrinks every loop; BENCH_REPEAT=N sets the repeat count.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <cjson/cJSON.h>
#include <linux/filter.h>
#include <yaml.h>

#include "events.h"
#include "loader.h"
#include "log.h"
#include "observer.h"
#include "pkt.h"
#include "policy_compile.h"
#include "policy_parse.h"

#define RUNS 5

static bool quick;
static uint64_t rng_state = 0xbe9c4;

static uint64_t rnd64(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static unsigned int rnd(unsigned int n)
{
	return (unsigned int)(rnd64() % n);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

struct stat5 {
	double med, min, max;
};

static struct stat5 summarize(double *v, int n)
{
	struct stat5 s;

	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	s.med = v[n / 2];
	s.min = v[0];
	s.max = v[n - 1];
	return s;
}

static cJSON *stat_json(struct stat5 s)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddNumberToObject(o, "median", s.med);
	cJSON_AddNumberToObject(o, "min", s.min);
	cJSON_AddNumberToObject(o, "max", s.max);
	return o;
}

/* ---- a random realistic policy, as YAML text ---- */

struct workload {
	uint8_t addr[16];
	unsigned int host_bits; /* 0 = a host */
};

struct gen {
	struct workload *w;
	unsigned int n_w;
	char *yaml;
	size_t len, cap;
	/* per rule, for aiming packets at it */
	int *from, *to; /* workload index or -1 (any) */
	uint8_t *proto;
	uint16_t *port_lo, *port_hi;
	unsigned int n_rules;
};

static void emit(struct gen *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void emit(struct gen *g, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(g->yaml + g->len, g->cap - g->len, fmt, ap);
		va_end(ap);
		if (n < 0)
			abort();
		if (g->len + (size_t)n < g->cap)
			break;
		g->cap = g->cap * 2 + (size_t)n + 1;
		g->yaml = realloc(g->yaml, g->cap);
		if (!g->yaml)
			abort();
	}
	g->len += (size_t)n;
}

static void fmt_workload(const struct workload *w, char *buf)
{
	struct ms_cidr c = { .plen = (uint8_t)(128 - w->host_bits) };

	memcpy(c.addr, w->addr, 16);
	ms_cidr_format(&c, buf);
}

/*
 * N rules over max(20, N/10) workloads: hosts (/32, /128) and subnets
 * (/24../28 that overlap one another, /120); rules between workloads on
 * single ports or short ranges; one in twenty with `from` or `to` left as
 * any; priorities spread over 10..200.
 */
static void gen_policy(struct gen *g, unsigned int n_rules)
{
	static const char *const actions[] = { "allow", "allow", "allow", "deny", "log" };
	char a[MS_CIDR_STRLEN];

	memset(g, 0, sizeof(*g));
	g->n_w = n_rules / 10 < 20 ? 20 : n_rules / 10;
	g->w = calloc(g->n_w, sizeof(*g->w));
	g->from = calloc(n_rules, sizeof(int));
	g->to = calloc(n_rules, sizeof(int));
	g->proto = calloc(n_rules, 1);
	g->port_lo = calloc(n_rules, sizeof(uint16_t));
	g->port_hi = calloc(n_rules, sizeof(uint16_t));
	g->cap = 1 << 16;
	g->yaml = malloc(g->cap);
	if (!g->w || !g->from || !g->to || !g->proto || !g->port_lo || !g->port_hi || !g->yaml)
		abort();
	g->n_rules = n_rules;
	emit(g, "version: 1\nmode: enforce\ndefault: deny\nworkloads:\n");
	for (unsigned int i = 0; i < g->n_w; i++) {
		struct workload *w = &g->w[i];
		unsigned int kind = rnd(20);

		if (kind < 17) { /* IPv4: hosts in 198.18/16, subnets in 198.19/16 */
			uint32_t v = (198u << 24) | (18u << 16) | rnd(1 << 16);

			pkt_addr(w->addr, "198.18.0.0");
			if (kind < 14) {
				w->host_bits = 0;
			} else {
				/* /28 .. /24, overlapping one another */
				w->host_bits = 4 + rnd(5);
				v = ((198u << 24) | (19u << 16) | rnd(1 << 16)) &
				    ~((1u << w->host_bits) - 1);
			}
			w->addr[12] = (uint8_t)(v >> 24);
			w->addr[13] = (uint8_t)(v >> 16);
			w->addr[14] = (uint8_t)(v >> 8);
			w->addr[15] = (uint8_t)v;
		} else { /* IPv6: 2001:db8::/32 */
			pkt_addr(w->addr, "2001:db8::");
			w->addr[5] = (uint8_t)rnd(4);
			w->addr[14] = (uint8_t)rnd(256);
			w->addr[15] = kind == 19 ? 0 : (uint8_t)rnd(256);
			w->host_bits = kind == 19 ? 8 : 0;
		}
		fmt_workload(w, a);
		emit(g, "  w%u:\n    labels: {app: a%u}\n    addresses: [\"%s\"]\n", i, i % 50, a);
	}
	emit(g, "rules:\n");
	for (unsigned int i = 0; i < n_rules; i++) {
		unsigned int pk = rnd(10);

		g->from[i] = rnd(20) ? (int)rnd(g->n_w) : -1;
		g->to[i] = rnd(20) ? (int)rnd(g->n_w) : -1;
		g->proto[i] = pk < 7 ? MS_PROTO_TCP : MS_PROTO_UDP;
		g->port_lo[i] = (uint16_t)(1 + rnd(30000));
		g->port_hi[i] = (uint16_t)(g->port_lo[i] + (pk % 3 == 0 ? rnd(16) : 0));
		emit(g, "  - name: r%u\n    action: %s\n    priority: %u\n", i, actions[rnd(5)],
		     10 + rnd(191));
		if (g->from[i] >= 0)
			emit(g, "    from: {workload: w%d}\n", g->from[i]);
		if (g->to[i] >= 0)
			emit(g, "    to: {workload: w%d}\n", g->to[i]);
		if (g->port_hi[i] != g->port_lo[i])
			emit(g, "    ports: [%s/%u-%u]\n",
			     g->proto[i] == MS_PROTO_TCP ? "tcp" : "udp", g->port_lo[i],
			     g->port_hi[i]);
		else
			emit(g, "    ports: [%s/%u]\n", g->proto[i] == MS_PROTO_TCP ? "tcp" : "udp",
			     g->port_lo[i]);
	}
}

static void gen_free(struct gen *g)
{
	free(g->w);
	free(g->yaml);
	free(g->from);
	free(g->to);
	free(g->proto);
	free(g->port_lo);
	free(g->port_hi);
}

/* An address of workload i (or anywhere in 198.18.0.0/15 for -1). */
static void pick_addr(const struct gen *g, int i, bool v4_hint, uint8_t *out)
{
	if (i < 0) {
		pkt_addr(out, v4_hint ? "198.18.0.0" : "2001:db8::");
		out[14] = (uint8_t)rnd(256);
		out[15] = (uint8_t)rnd(256);
		return;
	}
	memcpy(out, g->w[i].addr, 16);
	if (g->w[i].host_bits)
		out[15] = (uint8_t)(out[15] | (rnd(1u << g->w[i].host_bits) & 0xff));
}

/*
 * A first packet aimed at a random rule; sport makes it unique. With
 * subnet_src the source is the base of an IPv4 subnet of at least 16
 * addresses (a rule's `from` if it has one), as the fresh-tuple harness
 * varies the low four bits of the source address.
 */
static void flow_packet(const struct gen *g, uint16_t sport, bool subnet_src, struct pkt_spec *s)
{
	unsigned int r = rnd(g->n_rules);
	bool v4;

	memset(s, 0, sizeof(*s));
	if (subnet_src) {
		int best = -1;

		for (unsigned int k = 0; k < g->n_rules && best < 0; k++) {
			unsigned int rr = (r + k) % g->n_rules;
			int w = g->from[rr];

			if (w >= 0 && g->w[w].host_bits >= 4 && pkt_is_v4(g->w[w].addr))
				best = (int)rr;
		}
		if (best >= 0)
			r = (unsigned int)best;
	}
	pick_addr(g, g->from[r], true, s->src);
	if (subnet_src) {
		if (g->from[r] >= 0 && g->w[g->from[r]].host_bits >= 4)
			memcpy(s->src, g->w[g->from[r]].addr, 16);
		else
			pkt_addr(s->src, "198.19.255.0");
	}
	v4 = pkt_is_v4(s->src);
	if (g->to[r] >= 0 && pkt_is_v4(g->w[g->to[r]].addr) == v4)
		pick_addr(g, g->to[r], v4, s->dst);
	else
		pick_addr(g, -1, v4, s->dst);
	s->proto = g->proto[r];
	s->sport = sport;
	s->dport =
		(uint16_t)(g->port_lo[r] + rnd((unsigned int)(g->port_hi[r] - g->port_lo[r]) + 1));
}

/* ---- measurements ---- */

static int run_repeat(int prog_fd, const void *frame, size_t len, uint32_t repeat, double *ns)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = frame, .data_size_in = (__u32)len,
		    .repeat = repeat);

	if (bpf_prog_test_run_opts(prog_fd, &o))
		return -errno;
	*ns = o.duration;
	return 0;
}

static int noop_prog(void)
{
	struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	int fd = bpf_prog_load(BPF_PROG_TYPE_SCHED_CLS, "ms_noop", "GPL", insns, 2, NULL);

	if (fd < 0) {
		fprintf(stderr, "cannot load the no-op program: %s\n", strerror(errno));
		exit(1);
	}
	return fd;
}

/* One packet through the program; its verdict (TC_ACT_*). */
static int run_once(int prog_fd, const struct pkt_spec *s)
{
	uint8_t frame[256];
	size_t len = pkt_build(s, frame, sizeof(frame));
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = frame, .data_size_in = (__u32)len,
		    .repeat = 1);

	if (bpf_prog_test_run_opts(prog_fd, &o)) {
		fprintf(stderr, "bench: test run failed: %s\n", strerror(errno));
		exit(1);
	}
	return (int)o.retval;
}

/* The rest of syn's handshake: the responder's SYN-ACK, the initiator's ACK. */
static void tcp_handshake(const struct pkt_spec *syn, struct pkt_spec *synack, struct pkt_spec *ack)
{
	*synack = *syn;
	memcpy(synack->src, syn->dst, 16);
	memcpy(synack->dst, syn->src, 16);
	synack->sport = syn->dport;
	synack->dport = syn->sport;
	synack->tcp_flags = 0x12;
	synack->tcp_flags_set = true;
	*ack = *syn;
	ack->tcp_flags = 0x10;
	ack->tcp_flags_set = true;
}

/*
 * An established flow, as the classifier's fast path sees it: a TCP flow the
 * policy allows, answered (SYN in at ingress, SYN-ACK out at egress, ACK in),
 * so its session is among the answered ones; *ack is its initiator's next
 * packet. A packet repeated without a reply would stay an unanswered session
 * (two lookups), and one the policy denies is denied_repeat. The
 * generator's state is restored, so the larger sizes' policies and packets
 * stay those of runs without this.
 */
static void established_flow(const struct gen *g, struct ms_dp *dp, struct pkt_spec *ack)
{
	uint64_t saved = rng_state;
	int in = ms_dp_prog_fd(dp, MS_DIR_INGRESS), out = ms_dp_prog_fd(dp, MS_DIR_EGRESS);

	for (unsigned int i = 0; i < 64; i++) {
		struct pkt_spec syn, synack;

		flow_packet(g, (uint16_t)(40000 + i), false, &syn);
		if (syn.proto != MS_PROTO_TCP || run_once(in, &syn) != 0)
			continue;
		tcp_handshake(&syn, &synack, ack);
		if (run_once(out, &synack) == 0 && run_once(in, ack) == 0) {
			rng_state = saved;
			return;
		}
	}
	fprintf(stderr, "bench: no allowed TCP flow in the 10-rule policy\n");
	exit(1);
}

static struct stat5 repeat_stat(int fd, const struct pkt_spec *s, uint32_t repeat)
{
	uint8_t frame[256];
	size_t len = pkt_build(s, frame, sizeof(frame));
	double v[RUNS];

	for (int i = 0; i < RUNS; i++)
		if (run_repeat(fd, frame, len, repeat, &v[i])) {
			fprintf(stderr, "test run failed: %s\n", strerror(errno));
			exit(1);
		}
	return summarize(v, RUNS);
}

/* Empty a session table; the number of entries it held. */
static size_t clear_table(int fd)
{
	static struct ms_session_key keys[8192];
	static struct ms_session vals[8192];
	__u32 batch = 0, n;
	bool first = true;
	size_t total = 0;
	int err;

	do {
		n = 8192;
		err = bpf_map_lookup_and_delete_batch(fd, first ? NULL : &batch, &batch, keys, vals,
						      &n, NULL);
		if (!err || errno == ENOENT)
			total += n;
		first = false;
	} while (!err);
	return total;
}

/* Both tables: the answered sessions and the unanswered ones. */
static void clear_sessions(struct ms_dp *dp)
{
	clear_table(ms_dp_sessions_fd(dp));
	clear_table(ms_dp_embryos_fd(dp));
}

/* The fresh-tuple harness: fresh_tuple tail-calls target[0]. */
struct harness {
	struct bpf_object *obj;
	int prog_fd, reply_fd;
	int map_fd;
	int bss_fd; /* its counter */
};

static void harness_open(struct harness *h, const char *path)
{
	h->obj = bpf_object__open_file(path, NULL);
	if (!h->obj || bpf_object__load(h->obj)) {
		fprintf(stderr, "bench: cannot load %s\n", path);
		exit(1);
	}
	h->prog_fd = bpf_program__fd(bpf_object__find_program_by_name(h->obj, "fresh_tuple"));
	h->reply_fd = bpf_program__fd(bpf_object__find_program_by_name(h->obj, "fresh_reply"));
	h->map_fd = bpf_map__fd(bpf_object__find_map_by_name(h->obj, "target"));
	h->bss_fd = bpf_map__fd(bpf_object__find_map_by_name(h->obj, ".bss"));
	if (h->reply_fd < 0 || h->bss_fd < 0) {
		fprintf(stderr, "bench: %s has no fresh_reply or no counter\n", path);
		exit(1);
	}
}

/* The next run's tuples start again from the first. */
static void harness_restart(struct harness *h)
{
	uint32_t zero = 0, c = 0;

	if (bpf_map_update_elem(h->bss_fd, &zero, &c, BPF_ANY)) {
		fprintf(stderr, "bench: cannot reset the harness: %s\n", strerror(errno));
		exit(1);
	}
}

static double harness_run_prog(struct harness *h, int prog_fd, int target_fd,
			       const struct pkt_spec *s, uint32_t repeat)
{
	uint32_t zero = 0;
	uint8_t frame[256];
	size_t len = pkt_build(s, frame, sizeof(frame));
	double ns = 0;

	if (bpf_map_update_elem(h->map_fd, &zero, &target_fd, BPF_ANY) ||
	    run_repeat(prog_fd, frame, len, repeat, &ns)) {
		fprintf(stderr, "bench: harness run failed: %s\n", strerror(errno));
		exit(1);
	}
	return ns;
}

static double harness_run(struct harness *h, int target_fd, const struct pkt_spec *s,
			  uint32_t repeat)
{
	return harness_run_prog(h, h->prog_fd, target_fd, s, repeat);
}

/*
 * The answer: the initiator's ACK after the SYN-ACK, which moves a fresh
 * session from the unanswered table to the answered one (an insert and a
 * delete, behind two lookups). Each run opens `repeat` allowed TCP flows
 * (SYN in, SYN-ACK out, both behind the harness) and times their ACKs.
 */
static struct stat5 answer_stat(const struct gen *g, struct ms_dp *dp, struct harness *h,
				double harness_ns, uint32_t repeat)
{
	uint64_t saved = rng_state;
	int in = ms_dp_prog_fd(dp, MS_DIR_INGRESS), out = ms_dp_prog_fd(dp, MS_DIR_EGRESS);
	struct pkt_spec syn, synack, ack;
	double v[RUNS];
	size_t answered;
	int tries = 0;

	do {
		flow_packet(g, 1024, true, &syn);
		if (++tries > 1000) {
			fprintf(stderr, "bench: no allowed TCP flow from a subnet\n");
			exit(1);
		}
	} while (syn.proto != MS_PROTO_TCP || run_once(in, &syn) != 0);
	rng_state = saved;
	clear_sessions(dp);
	tcp_handshake(&syn, &synack, &ack);
	for (int i = 0; i < RUNS; i++) {
		harness_restart(h);
		harness_run(h, in, &syn, repeat);
		harness_restart(h);
		harness_run_prog(h, h->reply_fd, out, &synack, repeat);
		harness_restart(h);
		v[i] = harness_run(h, in, &ack, repeat) - harness_ns;
		/* Each ACK must have answered its flow, or this measured
		 * something else. */
		answered = clear_table(ms_dp_sessions_fd(dp));
		if (answered < repeat - repeat / 100) {
			fprintf(stderr, "bench: %zu of %u ACKs answered their flow\n", answered,
				repeat);
			exit(1);
		}
		clear_sessions(dp);
	}
	return summarize(v, RUNS);
}

/* The floor programs, their maps sized as the session table. */
struct floor {
	struct bpf_object *obj;
	int lookup_fd, insert_fd;
	int present_fd, fresh_fd;
};

static void floor_open(struct floor *fl, const char *path, uint32_t entries)
{
	struct bpf_map *m;

	fl->obj = bpf_object__open_file(path, NULL);
	if (!fl->obj) {
		fprintf(stderr, "bench: cannot open %s\n", path);
		exit(1);
	}
	bpf_object__for_each_map(m, fl->obj) if (bpf_map__type(m) == BPF_MAP_TYPE_LRU_HASH &&
						 bpf_map__set_max_entries(m, entries)) exit(1);
	if (bpf_object__load(fl->obj)) {
		fprintf(stderr, "bench: cannot load %s\n", path);
		exit(1);
	}
	fl->lookup_fd = bpf_program__fd(bpf_object__find_program_by_name(fl->obj, "floor_lookup"));
	fl->insert_fd = bpf_program__fd(bpf_object__find_program_by_name(fl->obj, "floor_insert"));
	fl->present_fd = bpf_map__fd(bpf_object__find_map_by_name(fl->obj, "floor_present"));
	fl->fresh_fd = bpf_map__fd(bpf_object__find_map_by_name(fl->obj, "floor_fresh"));
}

/* Milliseconds of each phase of one reload. */
struct phases {
	double parse, compile, install;
};

static int install_yaml(struct ms_dp *dp, const struct gen *g, double *ms, uint64_t *bytes,
			size_t *n_dec, struct phases *ph)
{
	struct ms_policy *p = NULL;
	struct ms_diag d = { 0 };
	struct ms_compiled *c = NULL;
	struct ms_limits l;
	char *msg = NULL;
	double t0 = now_s(), t1, t2;
	int err;

	err = ms_policy_parse_mem("bench.yaml", g->yaml, g->len, &p, &d);
	t1 = now_s();
	if (err) {
		fprintf(stderr, "generated policy does not parse:\n");
		for (size_t i = 0; i < d.n && i < 10; i++)
			fprintf(stderr, "  %s\n", d.msgs[i]);
		ms_diag_free(&d);
		return err;
	}
	ms_diag_free(&d);
	ms_limits_default(&l);
	err = ms_compile(p, &l, &c, &msg);
	if (err) {
		fprintf(stderr, "generated policy does not compile: %s\n", msg ? msg : "?");
		free(msg);
		ms_policy_free(&p);
		return err;
	}
	t2 = now_s();
	*bytes = ms_compiled_bytes(c);
	*n_dec = c->n_dec;
	err = ms_dp_install(dp, &c);
	*ms = (now_s() - t0) * 1000;
	if (ph) {
		ph->parse = (t1 - t0) * 1000;
		ph->compile = (t2 - t1) * 1000;
		ph->install = (now_s() - t2) * 1000;
	}
	ms_compiled_free(&c);
	ms_policy_free(&p);
	return err;
}

/*
 * libyaml's events of the document, each deleted at once: what any parse
 * built on libyaml pays before it builds anything. Milliseconds, or a
 * negative value if libyaml rejects the document.
 */
static double yaml_floor_once(const struct gen *g)
{
	yaml_parser_t yp;
	yaml_event_t ev;
	double t0 = now_s();
	bool end = false;

	if (!yaml_parser_initialize(&yp))
		return -1;
	yaml_parser_set_input_string(&yp, (const unsigned char *)g->yaml, g->len);
	while (!end && yaml_parser_parse(&yp, &ev)) {
		end = ev.type == YAML_STREAM_END_EVENT;
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&yp);
	return end ? (now_s() - t0) * 1000 : -1;
}

static double yaml_floor_ms(const struct gen *g)
{
	double v[3];

	for (int i = 0; i < 3; i++)
		if ((v[i] = yaml_floor_once(g)) < 0)
			return -1;
	return summarize(v, 3).med;
}

static void print_reload(const char *what, double ms, const struct phases *ph)
{
	printf("    reload_ms.%s = %.1f (parse %.1f, compile %.1f, fill and flip %.1f)\n", what, ms,
	       ph->parse, ph->compile, ph->install);
}

static void add_reload(cJSON *reload, cJSON *phases, const char *key, double ms,
		       const struct phases *ph)
{
	cJSON *po = cJSON_AddObjectToObject(phases, key);

	cJSON_AddNumberToObject(reload, key, ms);
	cJSON_AddNumberToObject(po, "parse", ph->parse);
	cJSON_AddNumberToObject(po, "compile", ph->compile);
	cJSON_AddNumberToObject(po, "fill_and_flip", ph->install);
}

/* --reload=N [ROUNDS]: the N-rule policy installed ROUNDS times in a row. */
static int reload_only(unsigned int n, int rounds)
{
	struct ms_dp_opts o;
	struct ms_dp *dp;
	struct gen g;
	int err = 0;

	ms_log_set_level(getenv("BENCH_DEBUG") ? MS_LOG_DEBUG : MS_LOG_WARN);
	ms_dp_opts_default(&o);
	if (ms_dp_open(&o, &dp)) {
		fprintf(stderr, "bench: cannot load the classifier (root needed)\n");
		return 1;
	}
	gen_policy(&g, n);
	for (int i = 0; !err && i < rounds; i++) {
		struct phases ph;
		uint64_t bytes;
		size_t n_dec;
		double ms;
		char what[32];

		err = install_yaml(dp, &g, &ms, &bytes, &n_dec, &ph);
		snprintf(what, sizeof(what), "%u#%d", n, i + 1);
		if (!err)
			print_reload(what, ms, &ph);
	}
	if (!err)
		printf("    yaml_floor (libyaml's events, nothing built) = %.1f\n",
		       yaml_floor_ms(&g));
	gen_free(&g);
	ms_dp_close(&dp);
	return err ? 1 : 0;
}

/* 30,000 first packets of flows the policy denies, from 198.19.0.0/16 on
 * source port sport: each one a flow_deny event. Returns the count. */
static unsigned int deny_flood(int prog_fd, const struct pkt_spec *base, uint16_t sport)
{
	uint8_t frame[256];
	double ns;

	for (unsigned int i = 0; i < 30000; i++) {
		struct pkt_spec s = *base;

		s.proto = MS_PROTO_UDP;
		pkt_addr(s.src, "198.19.0.0");
		s.src[14] = (uint8_t)(i >> 8);
		s.src[15] = (uint8_t)i;
		s.sport = sport;
		run_repeat(prog_fd, frame, pkt_build(&s, frame, sizeof(frame)), 1, &ns);
	}
	return 30000;
}

struct drain_ctx {
	struct ms_events *ev;
	volatile bool stop;
	uint64_t drained;
};

static void *drain_thread(void *arg)
{
	struct drain_ctx *d = arg;

	while (!d->stop) {
		int n = ms_events_drain(d->ev);

		if (n > 0)
			d->drained += (uint64_t)n;
		else
			usleep(100);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	const char *out_path = argc > 1 ? argv[1] : "build/bench/classifier.json";
	static const unsigned int sizes[] = { 10, 1000, 10000, 100000 };
	cJSON *root = cJSON_CreateObject(), *cls = cJSON_CreateObject(), *nf = cJSON_CreateObject();
	cJSON *nf_stats = cJSON_CreateObject(), *reload = cJSON_CreateObject();
	cJSON *mapb = cJSON_CreateObject(), *decs = cJSON_CreateObject();
	cJSON *phases = cJSON_CreateObject(), *ratio_nf = cJSON_CreateObject();
	struct ms_dp_opts o;
	struct ms_dp *dp;
	struct ms_events *ev;
	struct stat5 noop, noop1, est, deny, fl_lookup, fl_insert, answer;
	double yaml_floor = -1, parse_100k = 0;
	const char *harness_path = getenv("BENCH_HARNESS") ? getenv("BENCH_HARNESS")
							   : "build/bench/bench_newflow.bpf.o";
	const char *floor_path =
		getenv("BENCH_FLOOR") ? getenv("BENCH_FLOOR") : "build/bench/bench_floor.bpf.o";
	struct floor fl;
	struct drain_ctx dc = { 0 };
	struct harness h;
	pthread_t th;
	uint32_t repeat;
	int noop_fd, in_fd;
	char *log_path;
	double v[RUNS];
	FILE *f;

	if (argc == 3 && !strncmp(argv[1], "--dump=", 7)) {
		/* The generated policy as YAML, for profiling and --check. */
		struct gen g;

		gen_policy(&g, (unsigned int)atoi(argv[1] + 7));
		f = fopen(argv[2], "w");
		if (!f || fwrite(g.yaml, 1, g.len, f) != g.len || fclose(f))
			return 1;
		gen_free(&g);
		return 0;
	}
	if (argc >= 2 && !strncmp(argv[1], "--reload=", 9))
		return reload_only((unsigned int)atoi(argv[1] + 9), argc > 2 ? atoi(argv[2]) : 3);
	quick = getenv("BENCH_QUICK") && strcmp(getenv("BENCH_QUICK"), "0");
	repeat = quick ? 200000 : 1000000;
	if (getenv("BENCH_REPEAT")) /* a smoke test of the program itself */
		repeat = (uint32_t)strtoul(getenv("BENCH_REPEAT"), NULL, 10);
	ms_log_set_level(getenv("BENCH_DEBUG") ? MS_LOG_DEBUG : MS_LOG_WARN);
	ms_dp_opts_default(&o);
	o.session_max = 1 << 21; /* a run's million flows fit without eviction */
	if (ms_dp_open(&o, &dp)) {
		fprintf(stderr, "bench: cannot load the classifier (root needed)\n");
		return 1;
	}
	/* The classifier phases' events (flow_new of logged rules, a line per
	 * repetition) are drained beside them, as the daemon would, but into
	 * /dev/null: a gigabyte of them on disk was still being written back
	 * during the reloads and the event drain measured after them. */
	if (asprintf(&log_path, "%s.flowlog", out_path) < 0 ||
	    ms_events_new("/dev/null", dp, &ev) || ms_events_ringbuf_fd(ev) < 0) {
		fprintf(stderr, "bench: cannot set up the flow log\n");
		return 1;
	}
	noop_fd = noop_prog();
	dc.ev = ev;
	in_fd = ms_dp_prog_fd(dp, MS_DIR_INGRESS);

	struct pkt_spec est_pkt = { .proto = MS_PROTO_TCP, .sport = 40000, .dport = 443 };

	pkt_addr(est_pkt.src, "198.18.0.2");
	pkt_addr(est_pkt.dst, "198.18.0.1");
	noop = repeat_stat(noop_fd, &est_pkt, repeat);
	harness_open(&h, harness_path);
	for (int i = 0; i < RUNS; i++)
		v[i] = harness_run(&h, noop_fd, &est_pkt, repeat);
	noop1 = summarize(v, RUNS);

	/* The floors, against the same packet and a fresh tuple per repetition. */
	floor_open(&fl, floor_path, ms_dp_session_max(dp));
	fl_lookup = repeat_stat(fl.lookup_fd, &est_pkt, repeat);
	for (int i = 0; i < RUNS; i++) {
		struct pkt_spec fs = est_pkt;

		pkt_addr(fs.src, "198.19.255.0");
		fs.sport = 1024;
		v[i] = harness_run(&h, fl.insert_fd, &fs, repeat) - (noop1.med - noop.med);
		clear_table(fl.fresh_fd);
	}
	fl_insert = summarize(v, RUNS);

	printf("%-34s %10.1f %10.1f %10.1f %12s\n", "classifier_ns.noop (repeat)", noop.med,
	       noop.min, noop.max, "-");
	printf("%-34s %10.1f %10.1f %10.1f %12s\n", "noop behind the fresh-tuple harness",
	       noop1.med, noop1.min, noop1.max, "-");
	printf("%-34s %10.1f %10.1f %10.1f %12.1f\n", "classifier_ns.floor_lookup", fl_lookup.med,
	       fl_lookup.min, fl_lookup.max, fl_lookup.med - noop.med);
	printf("%-34s %10.1f %10.1f %10.1f %12.1f\n", "classifier_ns.floor_insert", fl_insert.med,
	       fl_insert.min, fl_insert.max, fl_insert.med - noop.med);

	for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
		unsigned int n = sizes[si];
		struct gen g;
		double ms;
		uint64_t bytes;
		size_t n_dec;
		char key[16];
		struct stat5 st;
		struct phases ph;

		if (quick && n == 10000)
			continue;
		gen_policy(&g, n);
		if (install_yaml(dp, &g, &ms, &bytes, &n_dec, &ph)) {
			gen_free(&g);
			return 1;
		}
		snprintf(key, sizeof(key), "%u", n);
		add_reload(reload, phases, key, ms, &ph);
		cJSON_AddNumberToObject(mapb, key, (double)bytes);
		cJSON_AddNumberToObject(decs, key, (double)n_dec);
		dc.stop = false;
		pthread_create(&th, NULL, drain_thread, &dc);
		for (int i = 0; i < RUNS; i++) {
			struct pkt_spec fs;

			flow_packet(&g, 1024, true, &fs);
			v[i] = harness_run(&h, in_fd, &fs, repeat) - (noop1.med - noop.med);
			clear_sessions(dp);
		}
		dc.stop = true;
		pthread_join(th, NULL);
		ms_events_drain(ev);
		st = summarize(v, RUNS);
		cJSON_AddNumberToObject(nf, key, st.med);
		cJSON_AddNumberToObject(ratio_nf, key, st.med / fl_insert.med);
		cJSON_AddItemToObject(nf_stats, key, stat_json(st));
		printf("classifier_ns.new_flow.%-11u %10.1f %10.1f %10.1f %12.1f\n", n, st.med,
		       st.min, st.max, st.med - noop.med);
		printf("    reload_ms.%u = %.1f (parse %.1f, compile %.1f, fill and flip %.1f); "
		       "%zu "
		       "decision entries, map_bytes %.1f MiB\n",
		       n, ms, ph.parse, ph.compile, ph.install, n_dec, bytes / 1048576.0);

		if (n == 100000) {
			/* The steady state: twice more, so that the last one
			 * replaces a 100,000-rule policy in the inactive slot. */
			for (int i = 0; i < 2; i++) {
				struct phases ph2;
				double ms2;
				uint64_t b2;
				size_t nd2;

				if (install_yaml(dp, &g, &ms2, &b2, &nd2, &ph2)) {
					gen_free(&g);
					return 1;
				}
				if (i == 1) {
					add_reload(reload, phases, "100000_over_100000", ms2, &ph2);
					print_reload("100000_over_100000", ms2, &ph2);
				}
			}
			yaml_floor = yaml_floor_ms(&g);
			if (yaml_floor <= 0) {
				fprintf(stderr, "bench: libyaml rejects the generated policy\n");
				gen_free(&g);
				return 1;
			}
			parse_100k = ph.parse;
			cJSON_AddNumberToObject(cJSON_GetObjectItem(phases, key), "yaml_floor",
						yaml_floor);
			printf("    yaml_floor (libyaml's events, nothing built) = %.1f; parse / "
			       "yaml_floor = %.2f\n",
			       yaml_floor, parse_100k / yaml_floor);
		}
		if (n == 10) {
			/* established: a packet of an answered, allowed session */
			struct pkt_spec ack;

			in_fd = ms_dp_prog_fd(dp, MS_DIR_INGRESS);
			established_flow(&g, dp, &ack);
			est = repeat_stat(in_fd, &ack, repeat);
			clear_sessions(dp);
			answer = answer_stat(&g, dp, &h, noop1.med - noop.med, repeat);
			/* denied_repeat: a flood of one denied flow */
			struct pkt_spec d = est_pkt;

			d.dport = 1;
			d.proto = MS_PROTO_UDP;
			pkt_addr(d.src, "198.19.200.1");
			deny = repeat_stat(in_fd, &d, repeat);
			clear_sessions(dp);
		}
		gen_free(&g);
	}
	printf("%-34s %10.1f %10.1f %10.1f %12.1f\n", "classifier_ns.established", est.med, est.min,
	       est.max, est.med - noop.med);
	printf("%-34s %10.1f %10.1f %10.1f %12.1f\n", "classifier_ns.answer", answer.med,
	       answer.min, answer.max, answer.med - noop.med);
	printf("%-34s %10.1f %10.1f %10.1f %12.1f\n", "classifier_ns.denied_repeat", deny.med,
	       deny.min, deny.max, deny.med - noop.med);

	/* Ring-buffer drain: fill with deny events, drain to the flow log on disk. */
	uint64_t lost0, c[MS_CNT_MAX], produced = 0, drained = 0;
	double drain_s = 0;
	struct gen g10;
	struct ms_observer *obs = NULL;
	struct ms_anomaly *anom = NULL;

	/* The drain measured into a flow log on disk, a new file, with
	 * nothing else of this process waiting to be written back. */
	ms_events_free(&ev);
	unlink(log_path);
	sync();
	if (ms_events_new(log_path, dp, &ev) || ms_events_ringbuf_fd(ev) < 0) {
		fprintf(stderr, "bench: cannot set up the flow log\n");
		return 1;
	}
	dc.ev = ev;
	gen_policy(&g10, 10);
	{
		double ms;
		uint64_t b;
		size_t nd;

		struct ms_policy *p = NULL;
		struct ms_diag d = { 0 };

		install_yaml(dp, &g10, &ms, &b, &nd, NULL);
		/* What the daemon has while it drains: the policy in force for
		 * rule names and workloads, and the observer as the sink (the
		 * flow graph, the recent-flows ring, scan detection). */
		if (ms_policy_parse_mem("bench.yaml", g10.yaml, g10.len, &p, &d) ||
		    ms_observer_new(
			    &(struct ms_observer_opts){ .max_edges = MS_GRAPH_DEFAULT_MAX_EDGES,
							.ring_size = MS_FLOWRING_DEFAULT },
			    &obs) ||
		    ms_anomaly_new(NULL, &anom)) {
			fprintf(stderr, "bench: cannot set up the observer\n");
			return 1;
		}
		ms_diag_free(&d);
		ms_observer_set_policy(obs, p);
		ms_observer_set_anomaly(obs, anom, ev);
		ms_events_set_policy(ev, &p, ms_dp_generation(dp));
		ms_events_set_sink(ev, ms_observer_sink, obs);
	}
	ms_dp_counters(dp, c);
	lost0 = c[MS_CNT_EVENTS_LOST];
	for (int round = 0; round < (quick ? 3 : 10); round++) {
		double t0;
		int k;

		produced += deny_flood(in_fd, &est_pkt, (uint16_t)(1024 + round));
		t0 = now_s();
		while ((k = ms_events_drain(ev)) > 0)
			drained += (uint64_t)k;
		drain_s += now_s() - t0;
		clear_sessions(dp);
	}
	ms_dp_counters(dp, c);
	double eps = drained / drain_s;
	uint64_t lost_fill = c[MS_CNT_EVENTS_LOST] - lost0;

	/* Producer and consumer at once, default ring size: loss counted. */
	uint64_t conc_produced = 0;

	lost0 = c[MS_CNT_EVENTS_LOST];
	dc.stop = false;
	dc.drained = 0;
	pthread_create(&th, NULL, drain_thread, &dc);
	for (int round = 0; round < (quick ? 2 : 8); round++) {
		conc_produced += deny_flood(in_fd, &est_pkt, (uint16_t)(2048 + round));
		clear_sessions(dp);
	}
	usleep(200000);
	dc.stop = true;
	pthread_join(th, NULL);
	ms_events_drain(ev);
	ms_dp_counters(dp, c);
	uint64_t conc_lost = c[MS_CNT_EVENTS_LOST] - lost0;

	printf("%-34s %10.0f   (%llu events drained to %s; %llu lost while filling)\n",
	       "events_per_s (drain to disk)", eps, (unsigned long long)drained, log_path,
	       (unsigned long long)lost_fill);
	printf("%-34s %10llu   of %llu produced while draining concurrently\n", "events_lost",
	       (unsigned long long)conc_lost, (unsigned long long)conc_produced);
	printf("    the flow graph after them: %zu nodes, %zu edges, %llu denied flows counted\n",
	       ms_graph_nodes(ms_observer_graph(obs)), ms_graph_edges(ms_observer_graph(obs)),
	       (unsigned long long)ms_observer_flows(obs, MS_VERDICT_DENY));

	cJSON_AddNumberToObject(cls, "noop", noop.med);
	cJSON_AddNumberToObject(cls, "noop_single_run", noop1.med);
	cJSON_AddNumberToObject(cls, "established", est.med);
	cJSON_AddItemToObject(cls, "new_flow", nf);
	cJSON_AddNumberToObject(cls, "denied_repeat", deny.med);
	cJSON_AddNumberToObject(cls, "answer", answer.med);
	cJSON_AddNumberToObject(cls, "floor_lookup", fl_lookup.med);
	cJSON_AddNumberToObject(cls, "floor_insert", fl_insert.med);
	cJSON_AddItemToObject(root, "classifier_ns", cls);
	cJSON *ratios = cJSON_AddObjectToObject(root, "floor_ratio");

	cJSON_AddNumberToObject(ratios, "established_over_floor_lookup", est.med / fl_lookup.med);
	if (yaml_floor > 0)
		cJSON_AddNumberToObject(ratios, "parse_over_yaml_floor", parse_100k / yaml_floor);
	cJSON_AddItemToObject(ratios, "new_flow_over_floor_insert", ratio_nf);
	cJSON *spread = cJSON_CreateObject();

	cJSON_AddItemToObject(spread, "noop", stat_json(noop));
	cJSON_AddItemToObject(spread, "noop_single_run", stat_json(noop1));
	cJSON_AddItemToObject(spread, "established", stat_json(est));
	cJSON_AddItemToObject(spread, "denied_repeat", stat_json(deny));
	cJSON_AddItemToObject(spread, "answer", stat_json(answer));
	cJSON_AddItemToObject(spread, "floor_lookup", stat_json(fl_lookup));
	cJSON_AddItemToObject(spread, "floor_insert", stat_json(fl_insert));
	cJSON_AddItemToObject(spread, "new_flow", nf_stats);
	cJSON_AddItemToObject(root, "classifier_ns_spread", spread);
	cJSON_AddItemToObject(root, "reload_ms", reload);
	cJSON_AddItemToObject(root, "reload_phases_ms", phases);
	cJSON_AddItemToObject(root, "map_bytes", mapb);
	cJSON_AddItemToObject(root, "decision_entries", decs);
	cJSON_AddNumberToObject(root, "events_per_s", eps);
	cJSON_AddNumberToObject(root, "events_lost", (double)conc_lost);
	cJSON_AddNumberToObject(root, "events_produced_concurrent", (double)conc_produced);
	cJSON_AddNumberToObject(root, "events_lost_while_filling", (double)lost_fill);
	cJSON_AddBoolToObject(root, "quick", quick);

	char *txt = cJSON_Print(root);

	f = fopen(out_path, "w");
	if (!f || !txt || fputs(txt, f) < 0 || fclose(f)) {
		fprintf(stderr, "bench: cannot write %s\n", out_path);
		return 1;
	}
	printf("wrote %s\n", out_path);
	free(txt);
	cJSON_Delete(root);
	gen_free(&g10);
	bpf_object__close(fl.obj);
	ms_events_free(&ev);
	ms_observer_free(&obs);
	close(noop_fd);
	ms_dp_close(&dp);
	unlink(log_path);
	free(log_path);
	return 0;
}
