#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
# A full session table loses no flow silently: with a tiny table and many
# short allowed flows, every flow is in the flow graph (ended, evicted and
# reported, or still open) or counted as unseen, never neither.
. "$(dirname "$0")/lib.sh"

API="$E2E_ROOT/tests/e2e/api.py"
e2e_setup
cat >"$E2E_TMP/policy.yaml" <<'YAML'
version: 1
default: deny
rules:
  - name: dns
    action: allow
    ports: [udp/5353]
YAML
daemon_start "$E2E_TMP/policy.yaml" --session-max 64 || {
	fail daemon-start "exit $MS_RC"
	exit 1
}
N=3000
# N flows, a datagram each from its own source port, over about 3 s: the
# 64-entry table turns over many times between sweeps.
ns_p python3 "$NETPY" udp_flows "$HOST4" 5353 "$N"
sleep 2.5 # two sweeps: evictions since the last one are reported
python3 "$API" req "$MS_API" GET /v1/graph >"$E2E_TMP/graph" 2>/dev/null
python3 "$API" req "$MS_API" GET /v1/status >"$E2E_TMP/status" 2>/dev/null
seen=$(python3 -c 'import json,sys; g=json.load(open(sys.argv[1])); print(sum(e["flows"] for e in g["edges"] if e["port"]==5353))' "$E2E_TMP/graph")
unseen=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["flows_unseen"])' "$E2E_TMP/status")
evicted=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["sessions_evicted"])' "$E2E_TMP/status")
echo "  $N flows: $seen in the graph ($evicted evicted and reported), $unseen unseen"
check evictions-happened test "$evicted" -gt 0
check every-flow-accounted test "$((seen + unseen))" -eq "$N"
check evicted-flows-in-graph test "$seen" -gt 64
check unseen-warned log_wait 1 'flows ended unseen'
check metrics-unseen bash -c "python3 '$API' req '$MS_API' GET /metrics 2>/dev/null | grep -qx 'microsegd_flows_unseen_total $unseen'"
daemon_stop TERM
e2e_finish
