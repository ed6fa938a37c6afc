#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
# The web listener (--web) against hostile clients: a foreign Host header
# (DNS rebinding) is refused, its own address and the --web-host names are
# answered; bodies sent to a path that takes none are refused before they
# are read (the agent's memory stays flat); clients that trickle their
# headers are cut and cannot take the listener from others.
. "$(dirname "$0")/lib.sh"

WG=$E2E_ROOT/tests/e2e/webguard.py
WEB_PORT=$((20000 + $$ % 20000))
LO_PORT=$((WEB_PORT + 1))
e2e_setup
cat >"$E2E_TMP/policy.yaml" <<'YAML'
version: 1
default: allow
rules: []
YAML
daemon_start "$E2E_TMP/policy.yaml" --web "$HOST4:$WEB_PORT" \
	--web-host "console-$$.example" --pin-dir none || {
	fail daemon-start "exit $MS_RC: $(tail -3 "$MS_LOG")"
	exit 1
}
status_for() { ns_p timeout 10 python3 "$WG" get "$HOST4" "$WEB_PORT" "$1" "$2" | head -n 1; }
check host-own-address test "$(status_for /v1/status "$HOST4:$WEB_PORT")" = 200
check host-operator-name test "$(status_for /v1/status "console-$$.example")" = 200
check host-operator-name-port test "$(status_for /v1/status "CONSOLE-$$.example:$WEB_PORT")" = 200
check host-console-page test "$(status_for / "$HOST4:$WEB_PORT")" = 200
check_not host-foreign-refused test "$(status_for /v1/status "rebind-$$.example:$WEB_PORT")" = 200
check host-foreign-421 test "$(status_for /v1/flows "rebind-$$.example:$WEB_PORT")" = 421
check host-foreign-body-says-why bash -c "ns_p() { ip netns exec $NS_P \"\$@\"; }; ns_p timeout 10 python3 '$WG' get $HOST4 $WEB_PORT /v1/status evil.example | grep -q 'not a name of this listener'"
check host-wrong-port-421 test "$(status_for /v1/status "$HOST4:$((WEB_PORT + 7))")" = 421
check host-localhost-not-here test "$(status_for /v1/status "localhost:$WEB_PORT")" = 421
check host-missing-421 test "$(status_for /v1/status "")" = 421

# Unread bodies: 64 requests of 8 MiB each to a path the read-only
# listener answers 405, all at once.
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$MS_PID/status"; }
before=$(rss_kb)
out=$(ns_p timeout 60 python3 "$WG" bodies "$HOST4" "$WEB_PORT" /v1/reload 64 $((8 << 20)))
after=$(rss_kb)
echo "  bodies: answered/statuses: $out; RSS ${before} kB -> ${after} kB"
check bodies-refused-405 grep -qw 405 <<<"$out"
check bodies-not-buffered test $((after - before)) -lt $((64 << 10))
check agent-alive-after-bodies daemon_alive

# Slow clients: 300 connections from the peer, each sending a header line
# a second. Another client (the host's own address) is answered meanwhile,
# and the trickling ones are all cut well before they end.
ns_p timeout 60 python3 "$WG" slow "$HOST4" "$WEB_PORT" 300 30 >"$E2E_TMP/slow" 2>"$E2E_TMP/slow.err" &
slow_pid=$!
wait_for 20 grep -q opened "$E2E_TMP/slow.err"
sleep 1
t=$(ns_h timeout 20 python3 "$WG" timed "$HOST4" "$WEB_PORT" /v1/status)
echo "  another client during the slow ones: $t"
read -r t_s t_status _ <<<"$t"
check slow-others-answered test "${t_status:-0}" = 200
check slow-others-fast python3 -c "import sys; sys.exit(0 if float('${t_s:-99}') < 3 else 1)"
wait "$slow_pid"
echo "  slow clients cut: $(cat "$E2E_TMP/slow") of $(cat "$E2E_TMP/slow.err")"
check slow-all-cut test "$(cat "$E2E_TMP/slow")" -ge 300
slow_cut() { python3 "$E2E_ROOT/tests/e2e/api.py" req "$MS_API" GET /v1/status 2>/dev/null |
	python3 -c 'import json, sys; print(json.load(sys.stdin)["api"]["slow_cut"])'; }
n_cut=$(slow_cut)
echo "  cut by the agent (the rest refused at once, over the per-address limit): $n_cut"
check slow-cut-counted test "${n_cut:-0}" -ge 10
check slow-peer-answered-after test "$(status_for /v1/status "$HOST4:$WEB_PORT")" = 200
check agent-alive daemon_alive
daemon_stop

# A loopback listener answers localhost too, and the IPv6 bracket form.
daemon_start "$E2E_TMP/policy.yaml" --web "[::1]:$LO_PORT" --pin-dir none || {
	fail daemon-start-v6 "exit $MS_RC: $(tail -3 "$MS_LOG")"
	exit 1
}
lo_status() { ns_h timeout 10 python3 "$WG" get ::1 "$LO_PORT" /v1/status "$1" | head -n 1; }
check host-v6-bracket test "$(lo_status "[::1]:$LO_PORT")" = 200
check host-v6-localhost test "$(lo_status "localhost:$LO_PORT")" = 200
check host-v6-foreign-421 test "$(lo_status "rebind-$$.example:$LO_PORT")" = 421
check host-v6-unbracketed-421 test "$(lo_status "::1:$LO_PORT")" = 421
e2e_finish
