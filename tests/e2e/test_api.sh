#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
# The control API against a real agent on a veth pair: every endpoint's
# status and JSON shape, flows and their filters, the follow stream, the
# flow graph after real traffic (and after a restart), Prometheus metrics
# against the stats line, limits (oversize bodies, idle connections, a
# follower that stops reading) and the read-only TCP listener.
# run-alone: a follower must see a denial within 1 s, a margin other suites eat
. "$(dirname "$0")/lib.sh"

API="$E2E_ROOT/tests/e2e/api.py"
WEB_PORT=$((20000 + $$ % 20000))
e2e_setup
cat >"$E2E_TMP/policy.yaml" <<'YAML'
version: 1
default: deny
workloads:
  server:
    labels: {role: web, app: shop}
    addresses: [198.18.0.1, "2001:db8::1"]
  client:
    labels: {role: client, app: shop}
    addresses: [198.18.0.2, "2001:db8::2"]
rules:
  - name: web
    action: allow
    from: {workload: client}
    to: {workload: server}
    ports: [tcp/8080]
  - name: dns
    action: allow
    ports: [udp/5353]
  - name: ping
    priority: 10
    action: allow
    ports: [icmp/8, icmpv6/128]
YAML

# req METHOD PATH [BODYFILE]: body to $E2E_TMP/body, status to $E2E_TMP/status.
req() {
	python3 "$API" req "$MS_API" "$@" >"$E2E_TMP/body" 2>"$E2E_TMP/status"
}
status_is() { [ "$(cut -d' ' -f1 "$E2E_TMP/status")" = "$1" ] || {
	echo "  status $(cat "$E2E_TMP/status"), expected $1; body: $(head -c 300 "$E2E_TMP/body")"
	return 1
}; }
jq_ok() { python3 "$API" json "$E2E_TMP/body" "$1"; }
# get_ok PATH EXPR: GET answers 200 and the JSON satisfies EXPR.
get_ok() { req GET "$1" && status_is 200 && jq_ok "$2"; }

serve "$NS_H" tcp/8080 tcp/9090 udp/5353
daemon_start "$E2E_TMP/policy.yaml" --web "127.0.0.1:$WEB_PORT" || {
	fail daemon-start "exit $MS_RC: $(tail -3 "$MS_LOG")"
	exit 1
}

check socket-mode-0660 test "$(stat -c %a "$MS_API")" = 660
check status get_ok /v1/status 'j["version"] and j["interfaces"]==["veth0"] and j["mode"]=="enforce" and j["policy"]["generation"]==1 and j["policy"]["rules"]==3 and j["sessions_max"]>0 and "denied" in j["counters"] and j["graph"]["edges"]>=0'
check workloads get_ok /v1/workloads 'sorted(w["name"] for w in j["workloads"])==["client","server"] and any(w["labels"]=={"role":"web","app":"shop"} and w["addresses"]==["198.18.0.1/32","2001:db8::1/128"] and w["source"]=="policy" for w in j["workloads"])'
check policy get_ok /v1/policy '[r["name"] for r in j["rules"]]==["ping","web","dns"] and j["rules"][0]["priority"]==10 and j["generation"]==1 and "workloads:" in j["source"] and j["default"]=="deny"'

# Traffic: allowed and denied, TCP/UDP/ICMP, v4 and v6.
check tcp-v4-allowed tcp_ok "$NS_P" "$HOST4" 8080
check tcp-v6-allowed tcp_ok "$NS_P" "$HOST6" 8080
check udp-allowed udp_ok "$NS_P" "$HOST4" 5353
check ping-allowed ping_ok "$NS_P" "$HOST6"
check_not tcp-denied tcp_ok "$NS_P" "$HOST4" 9090
check_not tcp-v6-denied tcp_ok "$NS_P" "$HOST6" 9090

check flows-deny get_ok '/v1/flows?verdict=deny' 'len(j["flows"])>=2 and all(f["verdict"]=="deny" for f in j["flows"]) and any(f["dst"]=="198.18.0.1" and f["dport"]==9090 and f["src_workload"]=="client" for f in j["flows"])'
check flows-filter-ip-port get_ok '/v1/flows?ip=2001:db8::1&port=9090' 'len(j["flows"])>=1 and all(f["dst"]=="2001:db8::1" and f["dport"]==9090 for f in j["flows"])'
check flows-filter-nothing get_ok '/v1/flows?proto=sctp' 'j["flows"]==[]'
check flows-limit get_ok '/v1/flows?limit=1' 'len(j["flows"])==1'
check flows-bad-filter-400 bash -c "python3 $API req $MS_API GET '/v1/flows?verdict=maybe' 2>&1 >/dev/null | grep -q '^400'"
check sessions get_ok /v1/sessions 'j["count"]>=4 and any(s["dport"]==8080 and s["verdict"]=="allow" and s["rule"]=="web" and s["src_workload"]=="client" for s in j["sessions"] if "dport" in s)'
check sessions-filter get_ok '/v1/sessions?proto=icmpv6' 'all(s["proto"]=="icmpv6" for s in j["sessions"]) and len(j["sessions"])>=1'

# The graph, with the open sessions counted in (as of the last sweep, once a
# second): the right edges and counts.
check graph eventually 3 get_ok /v1/graph 'any(e["src"]=="workload:client" and e["dst"]=="workload:server" and e["proto"]=="tcp" and e["port"]==8080 and e["allowed"]==2 and "web" in e["rules"] for e in j["edges"]) and any(e["port"]==9090 and e["denied"]==2 and e["allowed"]==0 for e in j["edges"]) and any(e["proto"]=="udp" and e["port"]==5353 and e["allowed"]==1 for e in j["edges"]) and any(e["proto"]=="icmpv6" and e["port"]==128 for e in j["edges"]) and any(n["id"]=="workload:server" and n["labels"]["role"]=="web" for n in j["nodes"]) and j["truncated"]==False'
check graph-dot bash -c "python3 $API req $MS_API GET '/v1/graph?format=dot' 2>/dev/null | grep -q 'digraph'"

# Policy check and reload.
printf 'version: 1\nrules:\n  - name: x\n    action: allow\n    ports: [tcp/99999]\n' >"$E2E_TMP/bad.yaml"
check check-invalid bash -c "python3 $API req $MS_API POST /v1/policy/check $E2E_TMP/bad.yaml >$E2E_TMP/body 2>/dev/null && python3 $API json $E2E_TMP/body 'j[\"ok\"]==False and j[\"diagnostics\"][0][\"line\"]==5 and j[\"diagnostics\"][0][\"severity\"]==\"error\" and j[\"diagnostics\"][0][\"col\"]>0'"
check check-valid bash -c "python3 $API req $MS_API POST /v1/policy/check $E2E_TMP/policy.yaml >$E2E_TMP/body 2>/dev/null && python3 $API json $E2E_TMP/body 'j[\"ok\"]==True and j[\"summary\"][\"rules\"]==3'"
check reload-ok bash -c "python3 $API req $MS_API POST /v1/reload >$E2E_TMP/body 2>$E2E_TMP/status && grep -q '^200' $E2E_TMP/status && python3 $API json $E2E_TMP/body 'j[\"ok\"] and j[\"generation\"]==2'"
cp "$E2E_TMP/policy.yaml" "$E2E_TMP/good.yaml"
cp "$E2E_TMP/bad.yaml" "$E2E_TMP/policy.yaml"
check reload-invalid-422 bash -c "python3 $API req $MS_API POST /v1/reload >$E2E_TMP/body 2>$E2E_TMP/status; grep -q '^422' $E2E_TMP/status && python3 $API json $E2E_TMP/body 'j[\"ok\"]==False and j[\"generation\"]==2 and len(j[\"diagnostics\"])>=1'"
cp "$E2E_TMP/good.yaml" "$E2E_TMP/policy.yaml"
check still-enforcing-after-bad-reload tcp_ok "$NS_P" "$HOST4" 8080
check status-reloads get_ok /v1/status 'j["policy"]["reloads_ok"]==1 and j["policy"]["reloads_failed"]==1'
# What the console's Policy view shows of reloads: the last one failed, the
# policy in force is generation 2, and how long each took.
check policy-last-reload get_ok /v1/policy 'j["last_reload"]["ok"]==False and j["last_reload"]["took_ms"]>=0 and j["last_reload"]["time"] and j["reloads_ok"]==1 and j["reloads_failed"]==1 and j["load_ms"]>0 and j["generation"]==2'

# Counters over time for the console's charts: a sample every 5 s, cumulative.
check history get_ok /v1/history 'j["interval_s"]==5 and len(j["samples"])>=1 and all(set(s)=={"time","allowed","denied","audit","new_flows","revoked","events_lost","sessions"} for s in j["samples"]) and all(a["allowed"]<=b["allowed"] and a["time"]<b["time"] for a,b in zip(j["samples"],j["samples"][1:]))'
# The suggested policy with the agent's own check and a replay of recent
# flows, for the read-only console.
check suggest-json get_ok '/v1/suggest?format=json' 'j["policy"].startswith("#") and "rules:" in j["policy"] and j["check"]["ok"]==True and j["check"]["replay"]["flows"]>=1 and j["check"]["replay"]["newly_denied"]==0'
check suggest-bad-format bash -c "python3 $API req $MS_API GET '/v1/suggest?format=xml' 2>&1 >/dev/null | grep -q '^400'"

# Errors.
check unknown-404 bash -c "python3 $API req $MS_API GET /v1/nothing 2>&1 >/dev/null | grep -q '^404'"
check wrong-method-405 bash -c "python3 $API req $MS_API GET /v1/reload 2>&1 >/dev/null | grep -q '^405'"
head -c $((9 << 20)) /dev/zero | tr '\0' 'a' >"$E2E_TMP/huge"
check oversize-413 bash -c "python3 $API req $MS_API POST /v1/policy/check $E2E_TMP/huge 2>&1 >/dev/null | grep -q '^413'"
check error-is-json bash -c "python3 $API req $MS_API GET /v1/nothing 2>/dev/null | grep -q '\"error\"'"

# The read-only TCP listener.
check web-get ns_h curl -sf -o /dev/null "http://127.0.0.1:$WEB_PORT/v1/status"
check web-post-405 test "$(ns_h curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$WEB_PORT/v1/reload")" = 405

# follow=1: a denied packet's event arrives within a second.
ns_h timeout 20 curl -sN --unix-socket "$MS_API" 'http://x/v1/flows?follow=1&verdict=deny&limit=1' >"$E2E_TMP/follow" &
E2E_PIDS+=($!)
sleep 0.5
t0=$(date +%s%N)
udp_ok "$NS_P" "$HOST4" 6000
check follow-deny-within-1s wait_for 1 grep -q '"dport":6000' "$E2E_TMP/follow"
t1=$(date +%s%N)
echo "  follow latency: $(((t1 - t0) / 1000000)) ms (including the 1 s UDP probe)"
check follow-only-deny bash -c "! grep -v '^\$' $E2E_TMP/follow | grep -vq '\"verdict\":\"deny\"'"

# Metrics against the stats line, with no traffic in between.
sleep 2.2
req GET /metrics
check metrics-200 status_is 200
cp "$E2E_TMP/body" "$E2E_TMP/metrics"
check metrics-equal-stats /usr/bin/python3 "$API" metrics "$E2E_TMP/metrics" "$MS_LOG"
check metrics-rule-hits grep -Eq '^microsegd_rule_hits_total\{rule="web"\} [1-9]' "$E2E_TMP/metrics"

# 200 idle connections: enforcement, stats and the API carry on.
ns_h python3 "$API" idle "$MS_API" 200 6 >"$E2E_TMP/idle" &
E2E_PIDS+=($!)
wait_for 5 grep -q holding "$E2E_TMP/idle"
n_stats=$(log_count 'stats: ')
check idle-enforce-allow tcp_ok "$NS_P" "$HOST4" 8080
check_not idle-enforce-deny tcp_ok "$NS_P" "$HOST4" 9090
check idle-api-answers get_ok /v1/status 'j["api"]["connections"]>=200'
check idle-stats-go-on wait_for 3 bash -c "[ \$(grep -c 'stats: ' $MS_LOG) -gt $n_stats ]"

# A follower that stops reading is dropped; the agent stays responsive.
ns_h python3 "$API" stall "$MS_API" '/v1/flows?follow=1' 30 >"$E2E_TMP/stall" &
E2E_PIDS+=($!)
wait_for 5 grep -q stalled "$E2E_TMP/stall"
# 8000 denied flows, a line each.
ns_p python3 "$NETPY" udp_ports "$HOST4" 20000 28000 10
check slow-follower-dropped wait_for 10 bash -c "python3 $API req $MS_API GET /v1/status 2>/dev/null | python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)[\"api\"][\"follow_dropped\"]>=1 else 1)'"
check responsive-after-drop get_ok /v1/status 'j["counters"]["denied"]>=8000'

# Restart with the same state directory: the graph is still there.
daemon_stop TERM
check graph-saved test -s "$MS_STATE/graph.json"
check socket-removed test ! -e "$MS_API"
daemon_start "$E2E_TMP/policy.yaml" || fail restart "exit $MS_RC"
check graph-after-restart eventually 3 get_ok /v1/graph 'any(e["port"]==8080 and e["allowed"]>=2 for e in j["edges"]) and any(e["port"]==9090 and e["denied"]>=2 for e in j["edges"])'

# A second agent on the same socket is refused; a stale socket is replaced.
ip netns exec "$NS_H" "$MS_BIN" -i lo -p "$E2E_TMP/policy.yaml" -f /dev/null --api-socket "$MS_API" \
	--state-dir "$E2E_TMP/state2" 2>"$E2E_TMP/second.err" </dev/null
rc=$?
check second-agent-exit-3 test "$rc" -eq 3
check second-agent-reason grep -q 'in use by a running microsegd' "$E2E_TMP/second.err"
daemon_stop KILL
check stale-socket-left test -S "$MS_API"
daemon_start "$E2E_TMP/policy.yaml" || fail restart-stale "exit $MS_RC"
check stale-socket-replaced get_ok /v1/status 'j["policy"]["generation"]==1'
daemon_stop TERM
echo '{"nodes": [' >"$MS_STATE/graph.json"
daemon_start "$E2E_TMP/policy.yaml" || fail restart-corrupt "exit $MS_RC"
check corrupt-state-warned log_wait 3 'graph.json is corrupt'
check corrupt-state-moved-aside bash -c "ls $MS_STATE | grep -q 'graph.json.corrupt-'"
check corrupt-state-agent-runs get_ok /v1/status 'j["graph"]["edges"]==0'
daemon_stop TERM
e2e_finish
