#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
# The flow log's JSON lines (DESIGN.md section 4): every key with its type,
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
check schema python3 - "$MS_FLOWS" "$START" <<'PY'
import ipaddress, json, re, sys, time
from datetime import datetime, timezone
start = int(sys.argv[2])
ok = True
def bad(line, why):
    global ok
    ok = False
    print('  %s: %s' % (why, line.strip()))
n = 0
for line in open(sys.argv[1]):
    n += 1
    try:
        e = json.loads(line)
    except ValueError:
        bad(line, 'not JSON'); continue
    for k in ('time', 'event', 'verdict', 'rule', 'direction', 'interface',
              'family', 'proto', 'src', 'dst'):
        if k not in e:
            bad(line, 'missing ' + k)
    if not ok:
        continue
    if not re.fullmatch(r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z', e['time']):
        bad(line, 'time format')
    t = datetime.strptime(e['time'], '%Y-%m-%dT%H:%M:%S.%fZ').replace(tzinfo=timezone.utc).timestamp()
    if not start - 2 <= t <= time.time() + 2:
        bad(line, 'time not now')
    if e['event'] not in ('flow_new', 'flow_deny', 'flow_audit', 'flow_revoked', 'flow_end'):
        bad(line, 'event')
    if e['verdict'] not in ('allow', 'deny', 'audit'):
        bad(line, 'verdict')
    if e['direction'] not in ('ingress', 'egress') or e['interface'] != 'veth0':
        bad(line, 'direction/interface')
    fam = {'ipv4': 4, 'ipv6': 6}.get(e['family'])
    for k in ('src', 'dst'):
        if not isinstance(e[k], str) or ipaddress.ip_address(e[k]).version != fam:
            bad(line, k)
    p = e['proto']
    if p in ('tcp', 'udp', 'sctp'):
        if not all(isinstance(e.get(k), int) and 0 <= e[k] < 65536 for k in ('sport', 'dport')):
            bad(line, 'ports')
    elif p in ('icmp', 'icmpv6'):
        if not all(isinstance(e.get(k), int) for k in ('icmp_type', 'icmp_code')):
            bad(line, 'icmp fields')
    elif not isinstance(p, int):
        bad(line, 'proto')
    for k in ('src_workload', 'dst_workload'):
        if k in e and not isinstance(e[k], str):
            bad(line, k)
    if e['event'] == 'flow_end':
        if not all(isinstance(e.get(k), int) and e[k] > 0 for k in ('packets', 'bytes')):
            bad(line, 'counts')
    elif 'packets' in e:
        bad(line, 'packets outside flow_end')
if n < 5:
    ok = False
    print('  only %d lines' % n)
sys.exit(0 if ok else 1)
PY
check exit-0 test "$MS_RC" -eq 0
e2e_finish
