#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
# Monitor mode, from the policy or from --mode: nothing is dropped, and
# would-be denies are reported as flow_audit. --mode also wins on reload.
. "$(dirname "$0")/lib.sh"

e2e_setup
policy() { # MODE
	cat <<YAML
version: 1
mode: $1
default: deny
rules:
  - name: web
    action: allow
    ports: [tcp/8080]
  - name: no-metrics
    action: deny
    ports: [tcp/9090]
YAML
}
policy monitor >"$E2E_TMP/monitor.yaml"
policy enforce >"$E2E_TMP/enforce.yaml"
serve "$NS_H" tcp/8080 tcp/9090 udp/5353

# 1. mode: monitor in the policy.
daemon_start "$E2E_TMP/monitor.yaml" || { fail daemon-start "exit $MS_RC"; exit 1; }
check policy-monitor-logged grep -q 'mode monitor' "$MS_LOG"
check policy-monitor-allowed tcp_ok "$NS_P" "$HOST4" 8080
check policy-monitor-deny-rule-passes tcp_ok "$NS_P" "$HOST4" 9090
check policy-monitor-default-passes udp_ok "$NS_P" "$HOST6" 5353
check policy-monitor-audit-event flow_wait 3 \
	"e['event'] == 'flow_audit' and e['verdict'] == 'audit' and e['rule'] == 'no-metrics' and e['dport'] == 9090"
check policy-monitor-audit-default flow_wait 3 \
	"e['event'] == 'flow_audit' and e['rule'] == 'default' and e['proto'] == 'udp' and e['family'] == 'ipv6'"
check_not policy-monitor-no-deny-events flow_has "e['event'] == 'flow_deny'"
check policy-monitor-stats log_wait 3 'stats: allowed=[0-9]+ denied=0 audit=[1-9]'
daemon_stop
rm -f "$MS_FLOWS"

# 2. --mode monitor over an enforcing policy, also after a reload.
daemon_start "$E2E_TMP/enforce.yaml" --mode monitor || { fail daemon-start-2 "exit $MS_RC"; exit 1; }
check flag-monitor-passes tcp_ok "$NS_P" "$HOST4" 9090
check flag-monitor-audit flow_wait 3 "e['event'] == 'flow_audit' and e['dport'] == 9090"
kill -HUP "$MS_PID"
check flag-monitor-reloaded log_wait 5 'policy reloaded: .*generation 2, mode monitor'
check flag-monitor-after-reload tcp_ok "$NS_P" "$HOST6" 9090
daemon_stop
rm -f "$MS_FLOWS"

# 3. --mode enforce over a monitoring policy.
daemon_start "$E2E_TMP/monitor.yaml" --mode enforce || { fail daemon-start-3 "exit $MS_RC"; exit 1; }
check_not flag-enforce-drops tcp_ok "$NS_P" "$HOST4" 9090
check flag-enforce-deny-event flow_wait 3 "e['event'] == 'flow_deny' and e['dport'] == 9090"
daemon_stop
check exit-0 test "$MS_RC" -eq 0
e2e_finish
