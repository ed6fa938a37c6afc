#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
# No request stalls the agent's loop: after a flood of spoofed sources has
# filled the session table and the flow graph, GET /v1/suggest (and the graph
# of that table) is worked out away from the loop, and all of the session
# table (GET /v1/sessions) is read in slices, while a second flood's
# events keep draining into the flow log and the unix API keeps answering
# fast. One such suggest used to hold the loop for a minute: the API stopped
# answering and the ring buffer overflowed.
. "$(dirname "$0")/lib.sh"

PY=$E2E_ROOT/tests/e2e/restart.py
WG=$E2E_ROOT/tests/e2e/webguard.py
WEB_PORT=$((20000 + $$ % 20000))
FLOOD1=${FLOOD1:-20000}
FLOOD2=${FLOOD2:-6000}

e2e_setup
fixture web-8080-ingress.yaml "$E2E_TMP/policy.yaml"
daemon_start "$E2E_TMP/policy.yaml" --web "$HOST4:$WEB_PORT" --pin-dir none \
	--ringbuf-size 1M || {
	fail daemon-start "exit $MS_RC: $(tail -3 "$MS_LOG")"
	exit 1
}
sent=$(ns_p timeout 90 python3 "$PY" flood 198.19.0.0 "$HOST4" 8080 "$FLOOD1" 1)
echo "  first flood: $sent spoofed SYNs"
sessions_at_least() {
	local n
	n=$(grep -o 'stats: .*sessions=[0-9]*' "$MS_LOG" | tail -n 1 | sed 's/.*sessions=//')
	[ "${n:-0}" -ge "$1" ]
}
check table-filled wait_for 20 sessions_at_least $((FLOOD1 / 2))
# Let the flood's events drain before measuring.
sleep 2

# The unix API polled all along; the suggest and the graph over the web
# listener; a second flood (other port) at the same time.
bg_in "$NS_H" python3 "$WG" poll "$MS_API" /v1/status 25 "$E2E_TMP/poll"
poll_pid=${E2E_PIDS[-1]}
ns_h timeout 120 python3 "$WG" timed "$HOST4" "$WEB_PORT" /v1/suggest "$E2E_TMP/suggest.body" >"$E2E_TMP/suggest" &
sug_pid=$!
ns_h timeout 120 python3 "$WG" timed "$HOST4" "$WEB_PORT" /v1/graph >"$E2E_TMP/graph" &
graph_pid=$!
ns_h timeout 120 python3 "$WG" timed "$HOST4" "$WEB_PORT" "/v1/sessions?limit=1000000" >"$E2E_TMP/sessions" &
sess_pid=$!
sent2=$(ns_p timeout 90 python3 "$PY" flood 198.21.0.0 "$HOST4" 8081 "$FLOOD2" 1)
echo "  second flood: $sent2 spoofed SYNs"
wait "$sug_pid"
wait "$graph_pid"
wait "$sess_pid"
wait "$poll_pid"
echo "  suggest: $(cat "$E2E_TMP/suggest"); graph: $(cat "$E2E_TMP/graph"); sessions: $(cat "$E2E_TMP/sessions"); poll worst/n: $(cat "$E2E_TMP/poll")"
read -r sug_s sug_status _ <"$E2E_TMP/suggest"
read -r graph_s graph_status _ <"$E2E_TMP/graph"
read -r worst _ <"$E2E_TMP/poll"
check suggest-answered test "$sug_status" = 200
check suggest-in-time python3 -c "import sys; sys.exit(0 if float('$sug_s') < 40 else 1)"
check suggest-is-policy grep -q 'default: deny' "$E2E_TMP/suggest.body"
check graph-answered test "$graph_status" = 200
read -r _ sess_status sess_len <"$E2E_TMP/sessions"
check sessions-answered test "$sess_status" = 200 -a "${sess_len:-0}" -gt 1000000
check unix-api-stays-fast python3 -c "import sys; sys.exit(0 if float('$worst') < 1.0 else 1)"
# Every flow of the second flood (denied) is in the flow log, none lost.
n_new() { python3 - "$MS_FLOWS" <<'PY'
import json, sys
n = set()
for line in open(sys.argv[1]):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    if e.get("event") == "flow_deny" and e.get("dport") == 8081:
        n.add((e["src"], e["sport"]))
print(len(n))
PY
}
lost_zero() { grep -o 'stats: .*events_lost=[0-9]*' "$MS_LOG" | tail -n 1 | grep -q 'events_lost=0$'; }
sleep 2
got=$(n_new)
echo "  second flood: $got distinct flows logged"
check no-event-lost lost_zero
check second-flood-logged test "$got" -ge $((sent2 * 9 / 10))
check agent-alive daemon_alive
e2e_finish
