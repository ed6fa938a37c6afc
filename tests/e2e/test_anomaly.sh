#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
# Anomalies on real traffic: a port scan from the peer is one "scan" line in
# the flow log (and one in /metrics), normal traffic none; with --baseline,
# each flow on an edge missing from it is one "new_edge" line, once per edge.
. "$(dirname "$0")/lib.sh"

API="$E2E_ROOT/tests/e2e/api.py"
e2e_setup
cat >"$E2E_TMP/policy.yaml" <<'YAML'
version: 1
default: deny
anomaly: {scan_targets: 50, scan_window: 60}
rules:
  - name: web
    action: allow
    ports: [tcp/8080, tcp/8081]
YAML
# The baseline knows peer -> host tcp/8080 only.
cat >"$E2E_TMP/baseline.json" <<'JSON'
{"since":"2026-11-24T00:00:00.000Z","nodes":[{"id":"ip:198.18.0.2","kind":"address","name":"198.18.0.2"},{"id":"ip:198.18.0.1","kind":"address","name":"198.18.0.1"}],"edges":[{"src":"ip:198.18.0.2","dst":"ip:198.18.0.1","proto":"tcp","port":8080,"flows":1,"packets":1,"bytes":1,"allowed":1,"denied":0,"audit":0,"rules":["web"],"first_seen":"2026-11-24T00:00:00.000Z","last_seen":"2026-11-24T00:00:00.000Z"}]}
JSON
serve "$NS_H" tcp/8080 tcp/8081
daemon_start "$E2E_TMP/policy.yaml" --baseline "$E2E_TMP/baseline.json" || {
	fail daemon-start "exit $MS_RC: $(tail -2 "$MS_LOG")"
	exit 1
}
anomalies() { grep -c "\"event\":\"anomaly\".*\"kind\":\"$1\"" "$MS_FLOWS"; }

# Normal traffic: a few denied ports, allowed ones.
check normal-allowed tcp_ok "$NS_P" "$HOST4" 8080
check_not normal-denied tcp_ok "$NS_P" "$HOST4" 22
check_not normal-denied-2 tcp_ok "$NS_P" "$HOST4" 23
sleep 1.5
check no-scan-from-normal-traffic test "$(anomalies scan)" -eq 0

# A scan: SYNs to 200 ports, bounded in count and time.
ns_p python3 "$NETPY" syns "$HOST4" 30000 30200 10
check scan-reported wait_for 5 bash -c "[ \$(grep -c '\"kind\":\"scan\"' $MS_FLOWS) -ge 1 ]"
sleep 1.5
check scan-once-per-window test "$(anomalies scan)" -eq 1
check scan-line-fields grep -q '"event":"anomaly","kind":"scan","src":"198.18.0.2","targets":50,"window":60' "$MS_FLOWS"
check scan-warned log_wait 1 'anomaly: scan from 198.18.0.2'

# new_edge: 8081 is not in the baseline (twice: one report); 8080 is.
check new-edge-traffic tcp_ok "$NS_P" "$HOST4" 8081
check new-edge-traffic-again tcp_ok "$NS_P" "$HOST4" 8081
check known-edge-traffic tcp_ok "$NS_P" "$HOST4" 8080
daemon_stop TERM # flows end: their flow_end is what counts them
check new-edge-8081-once test "$(grep -c '"kind":"new_edge".*"port":8081' "$MS_FLOWS")" -eq 1
check no-new-edge-8080 test "$(grep -c '"kind":"new_edge".*"port":8080,' "$MS_FLOWS")" -eq 0

# Metrics count them (a new agent, a fresh count).
daemon_start "$E2E_TMP/policy.yaml" || fail restart "exit $MS_RC"
ns_p python3 "$NETPY" syns "$HOST4" 31000 31060 10
sleep 1.5
python3 "$API" req "$MS_API" GET /metrics >"$E2E_TMP/metrics" 2>/dev/null
check metrics-scan grep -qx 'microsegd_anomalies_total{kind="scan"} 1' "$E2E_TMP/metrics"
check bad-baseline-exit-3 bash -c "echo '{' >'$E2E_TMP/bad.json'; ip netns exec $NS_H '$MS_BIN' -i lo -p '$E2E_TMP/policy.yaml' -f /dev/null --api-socket '$E2E_TMP/b.sock' --state-dir none --baseline '$E2E_TMP/bad.json' 2>'$E2E_TMP/b.err' </dev/null; [ \$? -eq 3 ] && grep -q 'is not a flow graph' '$E2E_TMP/b.err'"
daemon_stop TERM
e2e_finish
