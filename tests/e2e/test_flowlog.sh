#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
# The flow log's JSON lines (README, "The flow log"): every key with its type,
# flow_new for log rules, flow_end with counts from the session sweep,
# workloads by longest prefix, denies reported once, not per packet.
. "$(dirname "$0")/lib.sh"

e2e_setup
cat >"$E2E_TMP/policy.yaml" <<'YAML'
version: 1
default: deny
workloads:
  host:
    labels: {role: host}
    addresses: [198.18.0.1, "2001:db8::1"]
  peers:
    labels: {role: peer}
    addresses: [198.18.0.0/24, "2001:db8::/64"]
  peer-exact:
    labels: {role: special}
    addresses: [198.18.0.2/32]
rules:
  - name: ping
    action: allow
    ports: [icmp/8, icmpv6/128]
  - name: web-logged
    action: log
    ports: [tcp/8443]
  - name: web
    action: allow
    ports: [tcp/8080]
YAML
serve "$NS_H" tcp/8080 tcp/8443 tcp/9090
daemon_start "$E2E_TMP/policy.yaml" || { fail daemon-start "exit $MS_RC"; exit 1; }
START=$(date +%s)

# First, a short connection: its session closes (FIN both ways) and the sweep
# reports it after the 10 s closing timeout.
tcp_ok "$NS_P" "$HOST4" 8080
check log-rule-passes tcp_ok "$NS_P" "$HOST6" 8443
ping_ok "$NS_P" "$HOST4"
tcp_ok "$NS_P" "$HOST4" 9090
# One denied UDP flow, 20 packets in 1 s: one flow_deny, not twenty.
ns_p python3 -c '
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("198.18.0.2", 40999))
for _ in range(20):
    s.sendto(b"x", ("198.18.0.1", 5555)); time.sleep(0.05)'

check flow-new-log-rule flow_wait 3 \
	"e['event'] == 'flow_new' and e['verdict'] == 'allow' and e['rule'] == 'web-logged' and e['family'] == 'ipv6' and e['dport'] == 8443 and e['src'] == '$PEER6'"
check_not no-flow-new-for-allow-rule flow_has "e['event'] == 'flow_new' and e['rule'] != 'web-logged'"
check deny-once-not-per-packet flow_wait 3 "e['event'] == 'flow_deny' and e['sport'] == 40999"
check deny-reported-once test "$(grep -c '"sport":40999' "$MS_FLOWS")" -eq 1
check workload-longest-prefix-v4 flow_has \
	"e['src'] == '$PEER4' and e['src_workload'] == 'peer-exact' and e['dst_workload'] == 'host'"
check workload-v6 flow_has "e['src'] == '$PEER6' and e['src_workload'] == 'peers'"
check flow-end-after-close flow_wait 13 \
	"e['event'] == 'flow_end' and e['rule'] == 'web' and e['dport'] == 8080 and e['packets'] >= 6 and e['bytes'] > 300 and e['packets_in'] + e['packets_out'] == e['packets']"
check_not no-flow-end-for-denied flow_has "e['event'] == 'flow_end' and e['verdict'] == 'deny'"
daemon_stop
check flow-end-at-shutdown flow_has \
	"e['event'] == 'flow_end' and e['proto'] == 'icmp' and e['icmp_type'] == 8 and e['packets'] == 2"

# Every line, every key, every type.
check schema python3 "$E2E_ROOT/tests/e2e/flowlog_schema.py" "$MS_FLOWS" "$START"
check exit-0 test "$MS_RC" -eq 0
e2e_finish
