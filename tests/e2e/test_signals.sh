#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
# The stats line, SIGUSR1's per-rule report, and the flow log reopened on
# SIGHUP as logrotate needs.
. "$(dirname "$0")/lib.sh"

e2e_setup
cat >"$E2E_TMP/policy.yaml" <<'YAML'
version: 1
default: deny
rules:
  - name: web
    action: allow
    ports: [tcp/8080]
  - name: ping
    action: allow
    ports: [icmp/8, icmpv6/128]
  - name: never-used
    action: allow
    ports: [udp/9]
YAML
serve "$NS_H" tcp/8080 tcp/9090
daemon_start "$E2E_TMP/policy.yaml" --session-max 4096 --ringbuf-size 256K ||
	{ fail daemon-start "exit $MS_RC"; exit 1; }
for _ in 1 2 3; do tcp_ok "$NS_P" "$HOST4" 8080; done
ping_ok "$NS_P" "$HOST6"
tcp_ok "$NS_P" "$HOST4" 9090

# Stats every second (-s 1), cumulative, with every contract key.
STATS='^INFO: stats: allowed=[0-9]+ denied=[0-9]+ audit=[0-9]+ new_flows=[0-9]+ sessions=[0-9]+ events_lost=[0-9]+'
check stats-line log_wait 4 "$STATS"
check stats-counts log_wait 4 'stats: allowed=[1-9][0-9]* denied=[1-9][0-9]* audit=0 new_flows=([5-9]|[1-9][0-9]+) sessions=[1-9]'
check stats-no-loss test "$(grep -Ec 'events_lost=[1-9]' "$MS_LOG")" -eq 0
n1=$(log_count "$STATS")
sleep 2.2
n2=$(log_count "$STATS")
check stats-periodic test "$n2" -ge $((n1 + 1))

# SIGUSR1: flows per rule by name, and session table occupancy.
kill -USR1 "$MS_PID"
check usr1-web log_wait 3 'rule hits: rule=web hits=3$'
check usr1-ping log_wait 3 'rule hits: rule=ping hits=1$'
check usr1-unused log_wait 3 'rule hits: rule=never-used hits=0$'
check usr1-default log_wait 3 'rule hits: rule=default hits=[1-9]'
check usr1-sessions log_wait 3 'sessions: [1-9][0-9]* of 4096 '
check usr1-alive daemon_alive

# SIGHUP reopens the flow log: after a rename, new events go to a new file.
mv "$MS_FLOWS" "$MS_FLOWS.1"
kill -HUP "$MS_PID"
log_wait 5 'policy reloaded'
tcp_ok "$NS_P" "$HOST4" 9090
check reopen-new-file flow_wait 3 "e['event'] == 'flow_deny' and e['dport'] == 9090"
check reopen-old-file-kept test -s "$MS_FLOWS.1"
check_not reopen-old-file-not-written python3 "$NETPY" flows "$MS_FLOWS.1" "e['generation'] == 2"

daemon_stop
check exit-0 test "$MS_RC" -eq 0

# Events that cannot be written are counted as lost, and said so.
daemon_start "$E2E_TMP/policy.yaml" -f /dev/full || { fail daemon-start-full "exit $MS_RC"; exit 1; }
tcp_ok "$NS_P" "$HOST4" 9090
check lost-write-warned log_wait 3 'cannot write the flow log'
check lost-counted-warned log_wait 3 'flow events lost'
check lost-in-stats log_wait 3 'stats: .* events_lost=[1-9]'
check lost-daemon-alive daemon_alive
daemon_stop
check exit-0-full test "$MS_RC" -eq 0
e2e_finish
