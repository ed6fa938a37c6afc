#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
# Established sessions win over floods: at --session-max 1024, connections
# the server pushes a message on every 250 ms (TCP v4 and v6, UDP v4), and
# one it pushes on only every 5 s (idle while the flood lasts), lose nothing
# while 20,000 spoofed flows to a denied port and 20,000 to the allowed one,
# each SYN sent twice as a retransmission would, turn the table over many
# times. Sent twice, each flood entry is as "recently used" as a real one,
# so the kernel's LRU alone evicts the established sessions (every
# connection here broke before the answered/unanswered split); answered
# sessions now live in a table new flows never evict from.
# run-alone: its 80,000 spoofed SYNs through a sanitized agent load both cores
. "$(dirname "$0")/lib.sh"

PY=$E2E_ROOT/tests/e2e/restart.py
STOP=$E2E_TMP/stop
trap 'rc=$?; touch "$STOP"; (exit $rc); e2e_cleanup' EXIT

e2e_setup
cat >"$E2E_TMP/policy.yaml" <<'YAML'
version: 1
default: deny
rules:
  - name: push-tcp
    action: allow
    direction: ingress
    ports: [tcp/8080, tcp/8082]
  - name: push-udp
    action: allow
    direction: ingress
    ports: [udp/8081]
YAML
msgs() { grep -c . "$E2E_TMP/c-$1" 2>/dev/null || echo 0; }
has_msgs() { [ "$(msgs "$1")" -ge "$2" ]; }
now() { python3 -c 'import time; print("%.6f" % time.monotonic())'; }
# sessions_at_least N: the agent's last stats line counts N sessions or more.
sessions_at_least() {
	local n
	n=$(grep -o 'stats: .*sessions=[0-9]*' "$MS_LOG" | tail -n 1 | sed 's/.*sessions=//')
	[ "${n:-0}" -ge "$1" ]
}

bg_in "$NS_H" python3 "$PY" server "$E2E_TMP/ready" "$STOP"
wait_for 10 test -e "$E2E_TMP/ready" || { fail server-start; exit 1; }
daemon_start "$E2E_TMP/policy.yaml" --session-max 1024 --pin-dir none ||
	{ fail daemon-start "exit $MS_RC"; exit 1; }
bg_in "$NS_P" python3 "$PY" client tcp "$HOST4" 8080 "$E2E_TMP/c-tcp4" "$STOP"
bg_in "$NS_P" python3 "$PY" client tcp "$HOST6" 8080 "$E2E_TMP/c-tcp6" "$STOP"
bg_in "$NS_P" python3 "$PY" client udp "$HOST4" 8081 "$E2E_TMP/c-udp4" "$STOP"
# And one the server pushes on only every 5 s: idle while the flood lasts.
bg_in "$NS_P" python3 "$PY" client tcp "$HOST4" 8082 "$E2E_TMP/c-slow" "$STOP"
for name in tcp4 tcp6 udp4; do
	check "pushed-before-$name" wait_for 5 has_msgs "$name" 3
done
check pushed-before-slow wait_for 12 has_msgs slow 2
n=$(msgs slow)
wait_for 8 has_msgs slow $((n + 1)) # the flood begins right after a push

denied=$(ns_p timeout 90 python3 "$PY" flood 198.19.0.0 "$HOST4" 9090 20000 2)
allowed=$(ns_p timeout 90 python3 "$PY" flood 198.19.0.0 "$HOST4" 8080 20000 2)
t_flood=$(now)
echo "  sent $denied denied and $allowed allowed spoofed SYNs"
check flood-sent test "${denied:-0}" -ge 36000 -a "${allowed:-0}" -ge 36000
# The flood really filled the unanswered table (1024 entries; the kernel's
# LRU keeps some free per CPU) and evicted flows from it, many times over.
check table-full wait_for 3 sessions_at_least 800
check flows-evicted log_wait 3 'flows ended unseen: the session table is full'
check every-flow-classified log_wait 3 'stats: .* new_flows=([4-9][0-9]{4}|[1-9][0-9]{5,})'
check flood-denied-logged flow_wait 3 "e['event'] == 'flow_deny' and e['dport'] == 9090 and e['src'].startswith('198.19.')"
# The idle connection's next push comes after the flood.
wait_for 8 python3 "$PY" analyze "$E2E_TMP/c-slow" "$t_flood" 1 >/dev/null
result=$(python3 "$PY" analyze "$E2E_TMP/c-slow" "$t_flood" 1)
rc=$?
echo "  slow: $result"
check established-idle-survives test "$rc" -eq 0
touch "$STOP"
sleep 0.5
for name in tcp4 tcp6 udp4; do
	result=$(python3 "$PY" analyze "$E2E_TMP/c-$name" "$t_flood")
	rc=$?
	echo "  $name: $result"
	check "established-survives-$name" test "$rc" -eq 0
done
check agent-alive daemon_alive
e2e_finish
