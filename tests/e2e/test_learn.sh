#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
# The learning loop on real traffic: an agent in monitor mode with no rules
# watches a traffic mix; microsegctl suggest writes a policy; enforced, it
# lets 100 % of that traffic through and denies a port and a peer never
# seen. The same from flow logs of two "hosts", and with --group workload.
. "$(dirname "$0")/lib.sh"

CTL=${MS_CTL:-$E2E_ROOT/bin/microsegctl}
e2e_setup
ip -n "$NS_P" addr add 198.18.0.3/24 dev veth1
ip -n "$NS_P" addr add 198.18.0.9/24 dev veth1
printf 'version: 1\nmode: monitor\ndefault: deny\n' >"$E2E_TMP/policy.yaml"
serve "$NS_H" tcp/8080 tcp/8081 tcp/8443 tcp/9090 udp/5353
serve "$NS_P" tcp/7070 udp/5300

# tcp_from NS SRC DST PORT: connect from a given source address.
tcp_from() {
	ip netns exec "$1" python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET)
s.settimeout(1)
try:
    s.bind((sys.argv[1], 0)); s.connect((sys.argv[2], int(sys.argv[3]))); s.sendall(b"x")
    sys.exit(0 if s.recv(4) == b"x" else 1)
except OSError:
    sys.exit(1)' "$2" "$3" "$4"
}
mix() { # the traffic mix; returns how many of its 10 exchanges failed
	local bad=0
	tcp_ok "$NS_P" "$HOST4" 8080 || bad=$((bad + 1))
	tcp_ok "$NS_P" "$HOST6" 8080 || bad=$((bad + 1))
	tcp_ok "$NS_P" "$HOST4" 8081 || bad=$((bad + 1))
	tcp_from "$NS_P" 198.18.0.3 "$HOST4" 8443 || bad=$((bad + 1))
	udp_ok "$NS_P" "$HOST4" 5353 || bad=$((bad + 1))
	udp_ok "$NS_P" "$HOST6" 5353 || bad=$((bad + 1))
	ping_ok "$NS_P" "$HOST4" || bad=$((bad + 1))
	ping_ok "$NS_P" "$HOST6" || bad=$((bad + 1))
	tcp_ok "$NS_H" "$PEER4" 7070 || bad=$((bad + 1))
	udp_ok "$NS_H" "$PEER6" 5300 || bad=$((bad + 1))
	return "$bad"
}

daemon_start "$E2E_TMP/policy.yaml" || {
	fail daemon-start "exit $MS_RC"
	exit 1
}
check monitor-passes-everything mix
"$CTL" --socket "$MS_API" suggest >"$E2E_TMP/suggested.yaml"
check suggest-exit-0 test "$?" -eq 0
sed 's/^/  | /' "$E2E_TMP/suggested.yaml" | head -60
check suggested-is-valid "$MS_BIN" --check -p "$E2E_TMP/suggested.yaml"
check suggested-default-deny grep -qx 'default: deny' "$E2E_TMP/suggested.yaml"
check suggested-no-ephemeral-port bash -c "! grep -Eq 'ports: \[.*(tcp|udp)/(3[2-9]|[4-6][0-9])[0-9]{3}' '$E2E_TMP/suggested.yaml'"

cp "$E2E_TMP/suggested.yaml" "$E2E_TMP/policy.yaml"
check reload-suggested "$CTL" --socket "$MS_API" reload
check enforce-mode bash -c "'$CTL' --socket '$MS_API' status | grep -q 'mode: *enforce'"
mix
bad=$?
check suggested-passes-all-traffic test "$bad" -eq 0
check unseen-port-denied bash -c "! ip netns exec $NS_P python3 $NETPY tcp $HOST4 9090"
check_not unseen-peer-denied-8080 tcp_from "$NS_P" 198.18.0.9 "$HOST4" 8080
check seen-peer-still-passes tcp_from "$NS_P" 198.18.0.2 "$HOST4" 8080

# The log of that run says the suggestion changes no flow that passed.
check replay-no-new-deny "$CTL" replay -p "$E2E_TMP/suggested.yaml" --fail-on-new-deny "$MS_FLOWS"
check group-workload-valid bash -c "'$CTL' --socket '$MS_API' suggest --group workload >'$E2E_TMP/by-workload.yaml' && '$MS_BIN' --check -p '$E2E_TMP/by-workload.yaml' >/dev/null"
check group-workload-replay "$CTL" replay -p "$E2E_TMP/by-workload.yaml" --fail-on-new-deny "$MS_FLOWS"
daemon_stop TERM

# Fleet-wide: this host's log and another host's, merged offline.
cat >"$E2E_TMP/other-host.jsonl" <<'EOF2'
{"time":"2026-11-24T06:00:00.000Z","event":"flow_end","verdict":"audit","rule":"default","direction":"ingress","interface":"eth0","family":"ipv4","proto":"tcp","src":"198.18.5.1","dst":"198.18.5.2","sport":40000,"dport":443,"packets":10,"bytes":1000,"generation":1}
{"time":"2026-11-24T06:00:01.000Z","event":"flow_end","verdict":"audit","rule":"default","direction":"egress","interface":"eth0","family":"ipv6","proto":"udp","src":"2001:db8:5::2","dst":"2001:db8:6::3","sport":40003,"dport":53,"packets":2,"bytes":200,"generation":1}
EOF2
check offline-two-hosts bash -c "'$CTL' suggest --from '$MS_FLOWS' '$E2E_TMP/other-host.jsonl' >'$E2E_TMP/fleet.yaml' && '$MS_BIN' --check -p '$E2E_TMP/fleet.yaml' 2>&1 | grep -q 'warnings:  0'"
check offline-two-hosts-replay "$CTL" replay -p "$E2E_TMP/fleet.yaml" --fail-on-new-deny "$MS_FLOWS" "$E2E_TMP/other-host.jsonl"
check offline-both-hosts-in-policy bash -c "grep -q '198.18.5.2' '$E2E_TMP/fleet.yaml' && grep -q '198.18.0.1' '$E2E_TMP/fleet.yaml'"
e2e_finish
