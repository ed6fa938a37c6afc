#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
# Enforcement with real TCP, UDP and ICMP traffic, IPv4 and IPv6: allowed and
# denied flows, priority, except, port ranges, labels and direction.
. "$(dirname "$0")/lib.sh"

e2e_setup
cat >"$E2E_TMP/policy.yaml" <<'YAML'
version: 1
mode: enforce
default: deny
workloads:
  host:
    labels: {role: server, env: test}
    addresses: [198.18.0.1, "2001:db8::1"]
  peer:
    labels: {role: client, env: test}
    addresses: [198.18.0.2, "2001:db8::2"]
rules:
  - name: ping
    action: allow
    ports: [icmp/8, icmpv6/128]
  - name: block-8081            # priority 10 is evaluated before web-range
    priority: 10
    action: deny
    ports: [tcp/8081]
  - name: web-range
    action: allow
    from: {labels: {role: client}}
    to: {labels: {role: server}}
    ports: [tcp/8080-8089]
  - name: dns-except
    action: allow
    from: {cidr: [198.18.0.0/24, "2001:db8::/64"], except: [198.18.0.2/32]}
    ports: [udp/5353]
  - name: egress-only
    action: allow
    direction: egress
    to: {workload: peer}
    ports: [tcp/7070]
YAML

serve "$NS_H" tcp/8080 tcp/8081 tcp/8085 tcp/9090 tcp/7070 udp/5353 udp/5354
serve "$NS_P" tcp/7070 tcp/8080
# Without microsegd everything passes: the denials below are its doing.
check baseline-tcp-9090 tcp_ok "$NS_P" "$HOST4" 9090
check baseline-udp-5354 udp_ok "$NS_P" "$HOST4" 5354

daemon_start "$E2E_TMP/policy.yaml" || { fail daemon-start "exit $MS_RC"; exit 1; }

check ping-v4-allowed ping_ok "$NS_P" "$HOST4"
check ping-v6-allowed ping_ok "$NS_P" "$HOST6"
check ping-v4-egress-allowed ping_ok "$NS_H" "$PEER4"
check tcp-v4-labels-allowed tcp_ok "$NS_P" "$HOST4" 8080
check tcp-v6-labels-allowed tcp_ok "$NS_P" "$HOST6" 8080
check tcp-range-allowed tcp_ok "$NS_P" "$HOST4" 8085
check_not tcp-priority-denied tcp_ok "$NS_P" "$HOST4" 8081
check_not tcp-v6-priority-denied tcp_ok "$NS_P" "$HOST6" 8081
check_not tcp-default-denied tcp_ok "$NS_P" "$HOST4" 9090
check_not tcp-v6-default-denied tcp_ok "$NS_P" "$HOST6" 9090
check_not udp-v4-except-denied udp_ok "$NS_P" "$HOST4" 5353
check udp-v6-cidr-allowed udp_ok "$NS_P" "$HOST6" 5353
check_not udp-default-denied udp_ok "$NS_P" "$HOST6" 5354
check tcp-egress-allowed tcp_ok "$NS_H" "$PEER4" 7070
check tcp-v6-egress-allowed tcp_ok "$NS_H" "$PEER6" 7070
check_not tcp-ingress-direction-denied tcp_ok "$NS_P" "$HOST4" 7070
check_not tcp-egress-labels-denied tcp_ok "$NS_H" "$PEER4" 8080

check flowlog-priority-deny flow_wait 3 \
	"e['event'] == 'flow_deny' and e['rule'] == 'block-8081' and e['dport'] == 8081 and e['src'] == '$PEER4' and e['src_workload'] == 'peer' and e['dst_workload'] == 'host'"
check flowlog-default-deny-v6 flow_wait 3 \
	"e['event'] == 'flow_deny' and e['rule'] == 'default' and e['dport'] == 9090 and e['family'] == 'ipv6' and e['src'] == '$PEER6' and e['direction'] == 'ingress'"
check flowlog-except-deny flow_wait 3 \
	"e['event'] == 'flow_deny' and e['proto'] == 'udp' and e['dport'] == 5353 and e['src'] == '$PEER4'"
check flowlog-egress-deny flow_wait 3 \
	"e['event'] == 'flow_deny' and e['direction'] == 'egress' and e['dport'] == 8080 and e['dst'] == '$PEER4'"
check_not flowlog-no-allowed-flow-events flow_has \
	"e['event'] == 'flow_deny' and e.get('dport') in (8080, 8085) and e['direction'] == 'ingress'"

daemon_stop
check exit-0 test "$MS_RC" -eq 0
e2e_finish
