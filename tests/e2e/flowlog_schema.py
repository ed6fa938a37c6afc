#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
"""The flow log's schema (tests/e2e/test_flowlog.sh): every line JSON, every
key present with its type, times between START (epoch seconds) and now.

  flowlog_schema.py FLOWLOG START
"""
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
