#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#
# `make bench`: every benchmark of microsegd, side by side in one run.
#
#   BUILD=build tests/bench/run.sh                 full run (about 10 minutes)
#   BENCH_QUICK=1 BUILD=build tests/bench/run.sh   short run (under 2 minutes)
#
# 1. build/bench/bench_classifier (if built): classifier ns/packet through
#    BPF_PROG_TEST_RUN, reload times, map memory, event rate.
# 2. Real traffic over a veth pair between two namespaces of our own, msb-a
#    (client, 198.19.255.1 and .64-.127) and msb-b (server, 198.19.255.2),
#    with no filter, microsegd, nftables and iptables in msb-b, each given
#    the same generated rule set (tests/bench/gen_rules.py, 1000 rules; the
#    benchmark's own flows are allowed by the last rule): iperf3 TCP
#    throughput, TCP request/response round trips and new connections per
#    second (tests/bench/netloop.c). Repetitions go round the four setups in
#    turn, so a slow moment of the machine hits them all alike. After each
#    round, one more microsegd loop with the kernel's BPF statistics on: the
#    classifier's ns per packet on the real path (classifier_ns_in_situ).
# 3. New connections per second against rule count for the three filters.
# 4. microsegd's resident memory, idle, with a 10,000-rule policy.
# 5. The control plane under load: /v1/status and /v1/graph (a 10,000-edge
#    graph) latency, idle and while the connection loop runs
#    (tests/bench/apiload.py), and the agent's CPU share then.
# 6. microsegctl suggest and replay on a synthetic flow log of 1,000,000
#    lines (tests/bench/gen_flowlog.py; 200,000 in a quick run).
#
# microsegd writes its flow log to a file in build/bench and keeps its flow
# graph, as in production; its CPU share during each connection loop is
# recorded (agent_cpu_pct), and after each round the flow log's lines
# against the connections made.
#
# Every setup and every round starts from the same state: both namespaces'
# conntrack tables are flushed (conntrack -F) before each, microsegd starts
# with nothing pinned (--pin-dir none: no sessions of an earlier setup), and
# conntrack's CLOSE and TIME_WAIT timeouts are bounded to 1 s inside the
# bench's namespaces, so connections closed at 100k/s cannot fill the table
# (nf_conntrack_max) and starve the setups measured after them. A setup whose
# traffic does not pass, or a connection loop with failed connects, is torn
# down, reset and tried once more before the run fails; every retry is
# recorded in build/bench.json (`retried`).
#
# Writes build/bench.json (ratios, raw medians/min/max, the sweep, the
# classifier's JSON merged), prints a table and draws tests/bench/plot.png
# with gnuplot. Never fails on a number; fails only when a tool breaks.
#
# Environment: BUILD (build), BENCH_QUICK (0), BENCH_REPS, BENCH_SWEEP
# ("10 100 1000 10000 100000"), BENCH_IPTABLES (nft | legacy: which iptables
# backend; default nft, Debian 12's iptables), BENCH_SEED (1),
# BENCH_CLASSIFIER (1: run bench_classifier if built), BENCH_PLOT (path),
# BENCH_PHASES ("1 2 3 4 5 6": the numbered parts above to run; a partial
# run is for working on one path, and its report lacks the others),
# BENCH_PERF (a directory: perf record -a -g of every connection loop, one
# file per phase, setup, rule count and round, for perf report),
# BENCH_MS_ARGS (more options for every microsegd the bench starts, for
# experiments such as --session-max; split on blanks).

set -u
set -o pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 3
BUILD=${BUILD:-build}
OUT=$BUILD/bench
QUICK=${BENCH_QUICK:-0}
SEED=${BENCH_SEED:-1}
MS_BIN=${MS_BIN:-bin/microsegd}
CTL_BIN=${CTL_BIN:-bin/microsegctl}
CLK_TCK=$(getconf CLK_TCK)
IPT_BACKEND=${BENCH_IPTABLES:-nft}
# A partial run (BENCH_PHASES) draws its plot beside its data, not over the
# one in the tree.
PLOT=${BENCH_PLOT:-$([ -n "${BENCH_PHASES:-}" ] && echo "$OUT/plot.png" || echo tests/bench/plot.png)}
MAIN_RULES=1000
RSS_RULES=10000
PHASES=" ${BENCH_PHASES:-1 2 3 4 5 6} "
want() { [[ $PHASES == *" $1 "* ]]; }

if [ "$QUICK" = 1 ]; then
	MODE=quick
	REPS=${BENCH_REPS:-3}
	TPUT_S=2
	RR_ROUNDS=5000
	CONN_S=1
	API_S=2
	TOOL_LINES=200000
	SWEEP=${BENCH_SWEEP:-"10 1000 10000"}
	SWEEP_REPS=2
else
	MODE=full
	REPS=${BENCH_REPS:-5}
	TPUT_S=5
	RR_ROUNDS=20000
	CONN_S=3
	API_S=5
	TOOL_LINES=1000000
	SWEEP=${BENCH_SWEEP:-"10 100 1000 10000 100000"}
	SWEEP_REPS=3
fi

NS_C=msb-a
NS_S=msb-b
IF_C=msb-va
IF_S=msb-vb
CLIENT4=198.19.255.1
SERVER4=198.19.255.2
CLIENT6=2001:db8:ffff::1
SERVER6=2001:db8:ffff::2
IPERF_PORT=5201
LOOP_PORT=5202
SRCS=$(seq -s, -f '198.19.255.%g' 64 127)

RAW=$OUT/raw.jsonl
FLOW_LOG=$OUT/flow.log
RETRIES=$OUT/retries.jsonl
META=$OUT/meta.json
LOGDIR=$OUT/logs
NETLOOP=$OUT/netloop
RULES=$OUT/rules
PIDS=()
MS_PID=
T_START=$(date +%s)

log() { printf '[bench %3ds] %s\n' "$(($(date +%s) - T_START))" "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

# ---- cleanup: everything we started, by PID; then our namespaces ----
cleanup() {
	local rc=$? p
	trap - EXIT INT TERM
	stop_microsegd
	for p in "${PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in "${PIDS[@]}"; do
		for _ in $(seq 20); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
		kill -KILL "$p" 2>/dev/null
	done
	wait 2>/dev/null
	ip netns del "$NS_C" 2>/dev/null
	ip netns del "$NS_S" 2>/dev/null
	exit "$rc"
}

# The traffic programs run at nice -10: the machine may be shared, and its
# other work should disturb every setup as little (and as equally) as possible.
in_c() { nice -n -10 ip netns exec "$NS_C" "$@"; }
in_s() { ip netns exec "$NS_S" "$@"; }

# ---- prerequisites ----
[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces, BPF, nftables)"
for t in ip iperf3 nft python3 cc conntrack; do
	command -v "$t" >/dev/null || die "missing tool: $t (scripts/install-deps.sh installs it)"
done
case $IPT_BACKEND in
nft)
	IPT_RESTORE=iptables-nft-restore
	IP6T_RESTORE=ip6tables-nft-restore
	;;
legacy)
	IPT_RESTORE=iptables-legacy-restore
	IP6T_RESTORE=ip6tables-legacy-restore
	;;
*) die "BENCH_IPTABLES must be nft or legacy" ;;
esac
command -v "$IPT_RESTORE" >/dev/null || die "missing tool: $IPT_RESTORE"
[ -x "$MS_BIN" ] || die "$MS_BIN not built (run make)"
[ -x "$CTL_BIN" ] || die "$CTL_BIN not built (run make)"
for ns in "$NS_C" "$NS_S"; do
	if ip netns list | grep -qw "$ns"; then
		die "namespace $ns exists: another bench running? (ip netns del $ns)"
	fi
done

mkdir -p "$OUT" "$LOGDIR" "$RULES"
: >"$RAW"
: >"$RETRIES"

# ---- the traffic tool ----
if [ ! -x "$NETLOOP" ] || [ tests/bench/netloop.c -nt "$NETLOOP" ]; then
	log "building $NETLOOP"
	cc -O2 -Wall -Wextra -pthread tests/bench/netloop.c -o "$NETLOOP" || die "cannot build netloop"
fi

# ---- rule sets: generate, check each with microsegd --check ----
gen_set() {
	local n=$1 d=$RULES/$1
	if [ ! -s "$d/summary.json" ] || [ tests/bench/gen_rules.py -nt "$d/summary.json" ] ||
		! grep -q "\"seed\": $SEED," "$d/summary.json"; then
		log "generating $n rules"
		python3 tests/bench/gen_rules.py -n "$n" -s "$SEED" -o "$d" >/dev/null || die "gen_rules.py -n $n failed"
		rm -f "$d/check.txt"
	fi
	if [ ! -s "$d/check.txt" ]; then
		"$MS_BIN" --check -p "$d/policy.yaml" >"$d/check.txt" 2>"$d/check.err" ||
			die "generated $n-rule policy fails microsegd --check: $(tail -1 "$d/check.err")"
	fi
}
ALL_N=$(printf '%s\n' $MAIN_RULES $RSS_RULES $SWEEP | sort -nu)
for n in $ALL_N; do gen_set "$n"; done

# ---- 1. the classifier benchmark (the lead's program), before any traffic ----
CLASSIFIER_JSON=$OUT/classifier.json
if want 1 && [ "${BENCH_CLASSIFIER:-1}" = 1 ] && [ -x "$OUT/bench_classifier" ]; then
	log "running $OUT/bench_classifier"
	rm -f "$CLASSIFIER_JSON"
	if ! BENCH_QUICK=$QUICK BUILD=$BUILD timeout 900 "$OUT/bench_classifier" >"$LOGDIR/bench_classifier.log" 2>&1; then
		log "bench_classifier failed, see $LOGDIR/bench_classifier.log"
		tail -5 "$LOGDIR/bench_classifier.log" >&2
		CLASSIFIER_RC=1
	fi
else
	log "no $OUT/bench_classifier: classifier numbers skipped"
fi

# ---- the sandbox ----
trap cleanup EXIT
trap 'exit 130' INT TERM
ip netns add "$NS_C" || die "cannot create $NS_C"
ip netns add "$NS_S" || die "cannot create $NS_S"
ip -n "$NS_C" link add "$IF_C" type veth peer name "$IF_S" netns "$NS_S" || die "cannot create veth"
ip -n "$NS_C" addr add "$CLIENT4/24" dev "$IF_C"
for i in $(seq 64 127); do ip -n "$NS_C" addr add "198.19.255.$i/24" dev "$IF_C"; done
ip -n "$NS_C" addr add "$CLIENT6/64" dev "$IF_C" nodad
ip -n "$NS_S" addr add "$SERVER4/24" dev "$IF_S"
ip -n "$NS_S" addr add "$SERVER6/64" dev "$IF_S" nodad
for ns in "$NS_C" "$NS_S"; do ip -n "$ns" link set lo up; done
ip -n "$NS_C" link set "$IF_C" up
ip -n "$NS_S" link set "$IF_S" up
# Wide ephemeral range; the connection loop also spreads over 64 source
# addresses, so no 4-tuple repeats within a session's lifetime.
in_c sysctl -qw net.ipv4.ip_local_port_range="10000 65000"
# Conntrack's per-namespace bounds: connections closed by RST sit in CLOSE
# (10 s by default) and ones closed by FIN in TIME_WAIT (120 s); at 100k
# connections/s that is more than nf_conntrack_max, and a full table drops
# new connections of whatever setup comes next. 1 s in our namespaces only.
modprobe nf_conntrack 2>/dev/null
for ns in "$NS_C" "$NS_S"; do
	ip netns exec "$ns" sysctl -qw net.netfilter.nf_conntrack_tcp_timeout_close=1 \
		net.netfilter.nf_conntrack_tcp_timeout_time_wait=1 2>/dev/null ||
		log "warning: cannot bound conntrack's timeouts in $ns"
done
CT_MAX=$(cat /proc/sys/net/netfilter/nf_conntrack_max 2>/dev/null || echo null)

# Background processes are started by `ip netns exec` itself, not through a
# shell function, so $! is the PID of the program (ip execs it).
nice -n -10 ip netns exec "$NS_S" iperf3 -s -B "$SERVER4" -p "$IPERF_PORT" >"$LOGDIR/iperf3-server.log" 2>&1 &
PIDS+=($!)
nice -n -10 ip netns exec "$NS_S" "$NETLOOP" server -a "$SERVER4" -p "$LOOP_PORT" -T 2 -t 3600 >"$LOGDIR/netloop-server.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do
	in_c "$NETLOOP" rr -a "$SERVER4" -p "$LOOP_PORT" -n 1 -t 1 >/dev/null 2>&1 && break
	sleep 0.1
done
in_c "$NETLOOP" rr -a "$SERVER4" -p "$LOOP_PORT" -n 1 -t 1 >/dev/null || die "no connectivity over the veth pair"

# rec PHASE CFG RULES REP TEST JSON
rec() {
	printf '{"phase": "%s", "cfg": "%s", "rules": %s, "rep": %s, "test": "%s", "result": %s}\n' \
		"$1" "$2" "$3" "$4" "$5" "$6" >>"$RAW"
}

now_ms() { date +%s%3N; }

# retried PHASE CFG RULES REP WHAT REASON: one line of build/bench.json's `retried`
retried() {
	python3 -c 'import json,sys
k = ["phase", "cfg", "rules", "rep", "what", "reason"]
d = dict(zip(k, sys.argv[1:]))
d["rules"] = int(d["rules"]); d["rep"] = int(d["rep"])
print(json.dumps(d))' "$@" >>"$RETRIES"
	log "retrying $5 of $2 with $3 rules (round $4): $6"
}

# The same starting state for every setup and round: no conntrack entries
# left by earlier traffic in either namespace.
reset_state() {
	local ns
	for ns in "$NS_C" "$NS_S"; do
		ip netns exec "$ns" conntrack -F >/dev/null 2>&1
	done
	return 0
}

# ---- filters ----
stop_microsegd() {
	[ -n "$MS_PID" ] || return 0
	kill -TERM "$MS_PID" 2>/dev/null
	for _ in $(seq 100); do kill -0 "$MS_PID" 2>/dev/null || break; sleep 0.05; done
	kill -KILL "$MS_PID" 2>/dev/null
	wait "$MS_PID" 2>/dev/null
	MS_PID=
	for _ in $(seq 50); do # the daemon removes its clsact qdisc on exit
		[ -z "$(in_s tc filter show dev "$IF_S" ingress 2>/dev/null)" ] && break
		sleep 0.1
	done
}

# Every flow is observed as in production: the flow log is a file on disk
# (truncated at each start), the flow graph is kept (in memory; with
# STATE_DIR set, loaded from and saved to it).
start_microsegd() { # N: start on the server's veth, wait until it runs
	local n=$1 t0 lg=$LOGDIR/microsegd-$1.log
	t0=$(now_ms)
	: >"$FLOW_LOG"
	ip netns exec "$NS_S" "$MS_BIN" -i "$IF_S" -p "$RULES/$n/policy.yaml" -s 0 -f "$FLOW_LOG" -l info \
		--api-socket "$OUT/api.sock" --state-dir "${STATE_DIR:-none}" --pin-dir none ${BENCH_MS_ARGS:-} 2>"$lg" &
	MS_PID=$!
	for _ in $(seq 1200); do # 120 s at most (100,000 rules compile in seconds)
		grep -q "running on" "$lg" && break
		kill -0 "$MS_PID" 2>/dev/null || break
		sleep 0.1
	done
	if ! grep -q "running on" "$lg"; then
		tail -3 "$lg" >&2
		die "microsegd did not start with $n rules (log: $lg)"
	fi
	LOAD_MS=$(($(now_ms) - t0))
	LOAD_DETAIL=$(sed -n 's/.*took \([0-9.]*\) ms.*/\1/p' "$lg" | tail -1)
}

filter_on() { # CFG N [check]: with "check", prove the filter drops what no rule allows
	local cfg=$1 n=$2 t0 r
	reset_state
	LOAD_MS=0
	LOAD_DETAIL=
	# Nothing of the previous setup may remain on the server's side.
	if [ -n "$(in_s tc filter show dev "$IF_S" ingress 2>/dev/null)" ] ||
		[ -n "$(in_s nft list ruleset 2>/dev/null)" ]; then
		die "a filter is still installed in $NS_S before $cfg"
	fi
	case $cfg in
	none) ;;
	microsegd) start_microsegd "$n" ;;
	nftables)
		t0=$(now_ms)
		in_s nft -f "$RULES/$n/nft.conf" 2>"$LOGDIR/nft-$n.err" || die "nft -f failed for $n rules: $(head -3 "$LOGDIR/nft-$n.err")"
		LOAD_MS=$(($(now_ms) - t0))
		;;
	iptables)
		t0=$(now_ms)
		in_s "$IPT_RESTORE" "$RULES/$n/iptables.v4" 2>"$LOGDIR/ipt-$n.err" || die "$IPT_RESTORE failed for $n rules: $(head -3 "$LOGDIR/ipt-$n.err")"
		in_s "$IP6T_RESTORE" "$RULES/$n/iptables.v6" 2>>"$LOGDIR/ipt-$n.err" || die "$IP6T_RESTORE failed for $n rules"
		LOAD_MS=$(($(now_ms) - t0))
		;;
	esac
	# Nothing but the filter differs: warm the path once. A setup whose
	# traffic does not pass is broken: the caller (setup) retries it.
	if ! in_c "$NETLOOP" rr -a "$SERVER4" -p "$LOOP_PORT" -n 10 -t 2 >/dev/null; then
		SETUP_ERR="benchmark traffic does not pass with $cfg and $n rules"
		return 1
	fi
	if [ "${3:-}" = check ]; then
		# Port 5204 has no listener and no rule: refused without a filter,
		# silently dropped (connect times out) by the default deny.
		r=$(in_c "$NETLOOP" conn -a "$SERVER4" -p 5204 -n 1 -t 1)
		case $cfg:$r in
		none:*refused* | microsegd:*progress* | nftables:*progress* | iptables:*progress*) ;;
		*) die "$cfg with $n rules: unexpected result for a flow no rule allows: $r" ;;
		esac
	fi
}

# setup PHASE REP CFG N [check]: filter_on, and on a broken setup take it
# down, reset, and try once more before failing the run.
setup() {
	local phase=$1 rep=$2
	shift 2
	SETUP_ERR=
	filter_on "$@" && return 0
	retried "$phase" "$1" "$2" "$rep" setup "$SETUP_ERR"
	filter_off "$1"
	reset_state
	sleep 1
	SETUP_ERR=
	filter_on "$@" || die "$SETUP_ERR (after one retry)"
}

filter_off() { # CFG
	case $1 in
	microsegd) stop_microsegd ;;
	nftables) in_s nft delete table inet msbench || die "cannot remove the nft table" ;;
	iptables)
		if [ "$IPT_BACKEND" = nft ]; then
			in_s nft flush ruleset || die "cannot remove the iptables-nft tables"
		else
			printf '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n' | in_s "$IPT_RESTORE"
			printf '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n' | in_s "$IP6T_RESTORE"
		fi
		;;
	esac
}

# ---- measurements ----
m_tput() { # -> JSON {gbps, retransmits}
	in_c timeout $((TPUT_S + 20)) iperf3 -c "$SERVER4" -p "$IPERF_PORT" -t "$TPUT_S" -J 2>/dev/null |
		python3 -c 'import json,sys
d = json.load(sys.stdin)
if "error" in d: sys.exit("iperf3: " + d["error"])
e = d["end"]
print(json.dumps({"gbps": e["sum_received"]["bits_per_second"] / 1e9,
                  "retransmits": e["sum_sent"].get("retransmits")}))'
}

m_rr() {
	in_c "$NETLOOP" rr -a "$SERVER4" -p "$LOOP_PORT" -n "$RR_ROUNDS" -s 64 -t 30
}

m_conn_once() { # SECONDS
	in_c "$NETLOOP" conn -a "$SERVER4" -p "$LOOP_PORT" -b "$SRCS" -c 2 -t "$1"
}

# CPU time (user + system, in clock ticks) microsegd has used so far.
agent_ticks() {
	awk '{print $14 + $15}' "/proc/$MS_PID/stat"
}

# Nanoseconds the agent's thread was runnable but waited for a CPU.
agent_wait_ns() {
	awk '{print $2}' "/proc/$MS_PID/schedstat"
}

# m_conn_cpu PHASE CFG RULES REP SECONDS: m_conn, and for microsegd a
# record of the share of one CPU the agent used meanwhile (agent_cpu), and
# of the time it was ready to run but waited for one (runq_wait_pct: the
# traffic runs at nice -10, the agent at its unit's default).
m_conn_cpu() {
	local c0 c1 w0 w1 t0 t1 r pp=
	if [ -n "${BENCH_PERF:-}" ]; then
		# Where the CPU goes during the loop, every setup alike; the
		# profiler's own cost is in the numbers of such a run.
		mkdir -p "$BENCH_PERF"
		perf record -q -a -g -F 999 -o "$BENCH_PERF/conn-$1-$2-$3-$4.data" -- sleep "$5" 2>/dev/null &
		pp=$!
	fi
	[ "$2" != microsegd ] || { c0=$(agent_ticks) w0=$(agent_wait_ns) t0=$(now_ms); }
	r=$(m_conn "$@") || r=
	[ "$2" != microsegd ] || { c1=$(agent_ticks) w1=$(agent_wait_ns) t1=$(now_ms); }
	[ -z "$pp" ] || wait "$pp"
	[ -n "$r" ] || return 1
	[ "$2" != microsegd ] || rec "$1" microsegd "$3" "$4" agent_cpu "{\"pct\": $(awk -v c="$((c1 - c0))" -v hz="$CLK_TCK" -v ms="$((t1 - t0))" 'BEGIN{printf "%.2f", c / hz * 100000 / ms}'), \"runq_wait_pct\": $(awk -v w="$((w1 - w0))" -v ms="$((t1 - t0))" 'BEGIN{printf "%.2f", w / 10000 / ms}'), \"seconds\": $(awk -v ms="$((t1 - t0))" 'BEGIN{print ms / 1000}')}"
	printf '%s\n' "$r"
}

# Run time and run count of the classifier's programs (kernel.bpf_stats_enabled
# on), summed by name: {"ms_ingress": [ns, runs], "ms_egress": [ns, runs]}.
prog_stats() {
	bpftool -j prog show 2>/dev/null | python3 -c '
import json, sys
t = {"ms_ingress": [0, 0], "ms_egress": [0, 0]}
for p in json.load(sys.stdin):
    if p.get("name") in t:
        t[p["name"]][0] += p.get("run_time_ns", 0)
        t[p["name"]][1] += p.get("run_cnt", 0)
print(json.dumps(t))'
}

# m_insitu SECONDS: a connection loop with the kernel's BPF run-time
# statistics on: the classifier's ns per packet on the real path (cold
# caches, real sockets, a table that fills), which BPF_PROG_TEST_RUN's warm
# repetitions do not show. The statistics cost two clock reads a run, so
# this loop's rate is not the ratio's.
m_insitu() {
	local old s0 s1 r
	old=$(sysctl -n kernel.bpf_stats_enabled) || return 1
	sysctl -qw kernel.bpf_stats_enabled=1 || return 1
	s0=$(prog_stats)
	r=$(m_conn_once "$1")
	s1=$(prog_stats)
	sysctl -qw kernel.bpf_stats_enabled="$old"
	[ -n "$r" ] && [ -n "$s0" ] && [ -n "$s1" ] || return 1
	python3 - "$s0" "$s1" "$r" <<'EOF'
import json, sys
s0, s1, r = (json.loads(a) for a in sys.argv[1:])
out = {"conns": r["conns"], "conn_per_s": r["conn_per_s"]}
total = 0
for name, key in (("ms_ingress", "ingress"), ("ms_egress", "egress")):
    ns = s1[name][0] - s0[name][0]
    runs = s1[name][1] - s0[name][1]
    out[key + "_ns"] = round(ns / runs, 1) if runs else None
    out[key + "_per_conn"] = round(runs / r["conns"], 2) if r["conns"] else None
    total += ns
out["per_conn_ns"] = round(total / r["conns"], 1) if r["conns"] else None
print(json.dumps(out))
EOF
}

# m_conn PHASE CFG RULES REP SECONDS: a loop with failed connects measured a
# broken state (a full table, a lost SYN), not the filter: reset and measure
# once more; the second result stands, failures and all.
m_conn() {
	local r failed
	r=$(m_conn_once "$5") && failed=$(printf '%s' "$r" | python3 -c 'import json,sys; print(json.load(sys.stdin)["failed"])') &&
		[ "$failed" = 0 ] && {
		printf '%s\n' "$r"
		return 0
	}
	retried "$1" "$2" "$3" "$4" conn "${r:-connection loop failed}"
	reset_state
	sleep 1
	m_conn_once "$5"
}

iptv=$($IPT_RESTORE --version 2>/dev/null | head -1)
python3 - "$META" "$MODE" "$REPS" "$MAIN_RULES" "$iptv" "$IPT_BACKEND" "$TPUT_S" "$RR_ROUNDS" "$CONN_S" "$SEED" "$CT_MAX" <<'EOF'
import json, os, platform, sys, time
m = dict(zip(["mode", "reps", "main_rules", "iptables_version", "iptables_backend",
              "iperf_seconds", "rr_rounds", "conn_seconds", "seed", "nf_conntrack_max"], sys.argv[2:]))
for k in ("reps", "main_rules", "iperf_seconds", "rr_rounds", "seed"):
    m[k] = int(m[k])
m["nf_conntrack_max"] = None if m["nf_conntrack_max"] == "null" else int(m["nf_conntrack_max"])
m["conntrack_timeouts_s"] = {"close": 1, "time_wait": 1}
m["conn_seconds"] = float(m["conn_seconds"])
m["kernel"] = platform.release()
m["cpus"] = os.cpu_count()
m["date"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
m["loadavg_start"] = open("/proc/loadavg").read().split()[:3]
json.dump(m, open(sys.argv[1], "w"), indent=2)
EOF

# ---- 2. side by side, 1000 rules ----
want 2 && log "$MODE run: $REPS rounds of {none, microsegd, nftables, iptables} with $MAIN_RULES rules"
for rep in $(want 2 && seq "$REPS"); do
	for cfg in none microsegd nftables iptables; do
		setup main "$rep" "$cfg" "$MAIN_RULES" "$([ "$rep" = 1 ] && echo check)"
		r=$(m_tput) || die "iperf3 failed ($cfg)"
		rec main "$cfg" "$MAIN_RULES" "$rep" tput "$r"
		r=$(m_rr) || die "request/response loop failed ($cfg)"
		rec main "$cfg" "$MAIN_RULES" "$rep" rr "$r"
		reset_state
		r=$(m_conn_cpu main "$cfg" "$MAIN_RULES" "$rep" "$CONN_S") || die "connection loop failed ($cfg)"
		rec main "$cfg" "$MAIN_RULES" "$rep" conn "$r"
		filter_off "$cfg"
		if [ "$cfg" = microsegd ]; then
			# Stopped, the agent has written every flow's end: each
			# connection of the round is a line (and the graph's).
			rec main microsegd "$MAIN_RULES" "$rep" flow_log "{\"lines\": $(wc -l <"$FLOW_LOG"), \"conns\": $(printf '%s' "$r" | python3 -c 'import json,sys; print(json.load(sys.stdin)["conns"])')}"
		fi
		log "round $rep $cfg done"
	done
	# The classifier's cost per packet on the real path, in a loop of its
	# own: the statistics would slow the round's measured one.
	setup insitu "$rep" microsegd "$MAIN_RULES"
	reset_state
	r=$(m_insitu "$CONN_S") || die "connection loop with BPF statistics failed"
	rec insitu microsegd "$MAIN_RULES" "$rep" insitu "$r"
	filter_off microsegd
done

# ---- 3. connection rate against rule count ----
for n in $(want 3 && echo "$SWEEP"); do
	for cfg in microsegd nftables iptables; do
		setup sweep 0 "$cfg" "$n"
		rec sweep "$cfg" "$n" 0 load "{\"seconds\": $(awk "BEGIN{print $LOAD_MS/1000}")${LOAD_DETAIL:+, \"daemon_reported_ms\": $LOAD_DETAIL}}"
		for rep in $(seq "$SWEEP_REPS"); do
			reset_state
			r=$(m_conn sweep "$cfg" "$n" "$rep" "$CONN_S") || die "connection loop failed ($cfg, $n rules)"
			rec sweep "$cfg" "$n" "$rep" conn "$r"
		done
		t0=$(now_ms)
		filter_off "$cfg"
		log "sweep $n rules $cfg: installed in ${LOAD_MS} ms, removed in $(($(now_ms) - t0)) ms"
	done
done

# ---- 4. microsegd's memory, idle, 10,000 rules ----
if want 4; then
	start_microsegd "$RSS_RULES"
	sleep 2 # idle: no traffic, no stats, nothing to drain
	rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$MS_PID/status")
	hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$MS_PID/status")
	rec rss microsegd "$RSS_RULES" 0 rss "{\"vmrss_kb\": ${rss:-null}, \"vmhwm_kb\": ${hwm:-null}, \"startup_ms\": $LOAD_MS}"
	log "microsegd idle with $RSS_RULES rules: VmRSS ${rss} kB (peak ${hwm} kB)"
	stop_microsegd
fi

# ---- 5. the control plane under load: the API while connections come ----
if want 5; then
	# A graph of 10,000 edges saved by an earlier run, in the agent's state
	# directory; the console's polling (tests/bench/apiload.py) idle, then
	# while the connection loop runs.
	STATE_DIR=$OUT/state
	rm -rf "$STATE_DIR" && mkdir -p "$STATE_DIR"
	python3 tests/bench/gen_flowlog.py 120000 10000 "$OUT/graph10k.log" || die "cannot generate the graph's flow log"
	"$CTL_BIN" graph --format json --from "$OUT/graph10k.log" >"$STATE_DIR/graph.json" || die "microsegctl graph --from failed"
	setup api 0 microsegd "$MAIN_RULES"
	# The probe runs at the traffic's priority (nice -10) idle and at a
	# real-time one under load, so that what it measures is the agent, not
	# its own wait for a CPU. The agent runs at the default priority, as its
	# unit runs it (round 1), then at the traffic's (round 2): the two apart
	# are what the agent's own work costs and what its wait for a CPU does.
	r=$(nice -n -10 python3 tests/bench/apiload.py "$OUT/api.sock" "$API_S") || die "API probe failed (idle)"
	rec api microsegd "$MAIN_RULES" 0 api_idle "$r"
	for rep in 1 2; do
		[ "$rep" = 2 ] && { renice -n -10 -p "$MS_PID" >/dev/null || die "cannot renice the agent"; }
		chrt -f 10 python3 tests/bench/apiload.py "$OUT/api.sock" "$API_S" >"$OUT/api_load.json" &
		api_pid=$!
		PIDS+=("$api_pid")
		reset_state
		r=$(m_conn_cpu api microsegd "$MAIN_RULES" "$rep" "$API_S") || die "connection loop failed (API under load)"
		rec api microsegd "$MAIN_RULES" "$rep" conn "$r"
		wait "$api_pid" || die "API probe failed (under load)"
		rec api microsegd "$MAIN_RULES" "$rep" api_load "$(cat "$OUT/api_load.json")"
		log "API under load, round $rep: $(cat "$OUT/api_load.json")"
	done
	filter_off microsegd
	STATE_DIR=
	log "API idle: $(grep '"api_idle"' "$RAW" | tail -1 | cut -c1-200)"
fi

# ---- 6. the offline tools on a large flow log ----
if want 6; then
	python3 tests/bench/gen_flowlog.py "$TOOL_LINES" 10000 "$OUT/tools.log" || die "cannot generate the flow log"
	t0=$(now_ms)
	"$CTL_BIN" suggest --from "$OUT/tools.log" >"$OUT/suggested.yaml" || die "microsegctl suggest failed"
	t1=$(now_ms)
	"$CTL_BIN" replay -p "$OUT/suggested.yaml" "$OUT/tools.log" >"$OUT/replay.txt" || die "microsegctl replay failed"
	t2=$(now_ms)
	rec tools microsegctl 0 0 tools "{\"lines\": $TOOL_LINES, \"bytes\": $(stat -c %s "$OUT/tools.log"), \"suggest_s\": $(awk -v ms="$((t1 - t0))" 'BEGIN{print ms / 1000}'), \"replay_s\": $(awk -v ms="$((t2 - t1))" 'BEGIN{print ms / 1000}')}"
	log "suggest on $TOOL_LINES lines: $((t1 - t0)) ms, replay: $((t2 - t1)) ms"
	rm -f "$OUT/tools.log" "$OUT/graph10k.log"
fi

# ---- report ----
python3 - "$META" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))
m["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
json.dump(m, open(sys.argv[1], "w"), indent=2)
EOF
for n in $ALL_N; do
	printf '{"rules": %s, "summary": %s, "microsegd_check": "%s"}\n' "$n" "$(cat "$RULES/$n/summary.json")" \
		"$(grep -E 'compiled:|memory:' "$RULES/$n/check.txt" | sed 's/^ *//' | tr '\n' ' ' | sed 's/ *$//')"
done >"$OUT/rulesets.jsonl"
python3 tests/bench/report.py --raw "$RAW" --meta "$META" --classifier "$CLASSIFIER_JSON" --retries "$RETRIES" \
	--rulesets "$OUT/rulesets.jsonl" --out "$BUILD/bench.json" --plot-data "$OUT" ||
	die "report.py failed"

if command -v gnuplot >/dev/null; then
	gnuplot -e "datadir='$OUT'; out='$PLOT'" tests/bench/plot.gp 2>"$LOGDIR/gnuplot.err" ||
		die "gnuplot failed: $(head -3 "$LOGDIR/gnuplot.err")"
	log "plot: $PLOT"
else
	log "gnuplot missing (package gnuplot-nox): no plot"
fi
log "wrote $BUILD/bench.json in $(($(date +%s) - T_START)) s"
exit "${CLASSIFIER_RC:-0}"
