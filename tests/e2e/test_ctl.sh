#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
# microsegctl against a real agent: every command, its tables and --json,
# its exit statuses; and offline, one graph from the flow logs of two hosts.
. "$(dirname "$0")/lib.sh"

CTL=${MS_CTL:-$E2E_ROOT/bin/microsegctl}
[ -x "$CTL" ] || {
	fail ctl-built "$CTL not built (make)"
	exit 1
}
ctl() { "$CTL" --socket "$MS_API" "$@"; }
# out_has CMD... -- REGEX: the command succeeds and its output matches.
out_has() {
	local re=${*: -1} out
	out=$("${@:1:$#-1}" 2>&1) || {
		echo "  failed: $out"
		return 1
	}
	grep -Eq -- "$re" <<<"$out" || {
		echo "  output does not match '$re':"
		sed 's/^/    /' <<<"$out"
		return 1
	}
}
rc_is() { # rc_is N CMD...
	local want=$1 rc
	shift
	"$@" >"$E2E_TMP/out" 2>"$E2E_TMP/err"
	rc=$?
	[ "$rc" -eq "$want" ] || {
		echo "  exit $rc, expected $want: $(cat "$E2E_TMP/err")"
		return 1
	}
}

# Offline and usage cases first: they need no agent, no root, no network.
check version-offline out_has "$CTL" --version '^microsegctl [0-9]+\.[0-9]+'
check help-global out_has "$CTL" --help 'Commands:'
check help-command out_has "$CTL" flows --help '^Usage: microsegctl flows .*--follow'
check help-command-first out_has "$CTL" --help check '^Usage: microsegctl check FILE'
check usage-no-command rc_is 2 "$CTL"
check usage-unknown-command rc_is 2 "$CTL" frobnicate
check usage-unknown-command-named grep -q "unknown command 'frobnicate'" "$E2E_TMP/err"
check usage-unknown-option rc_is 2 "$CTL" status --bogus
check usage-unknown-option-named grep -q "unknown option '--bogus'" "$E2E_TMP/err"
check usage-missing-value rc_is 2 "$CTL" flows --limit
check usage-bad-format rc_is 2 "$CTL" graph --format svg
check usage-json-metrics rc_is 2 "$CTL" --json metrics
check usage-follow-sessions rc_is 2 "$CTL" sessions --follow
# Filters are checked by the agent's own parser before any agent is asked.
check usage-bad-verdict rc_is 2 "$CTL" --socket "$E2E_TMP/nothing.sock" flows --verdict maybe
check usage-bad-verdict-named grep -q "invalid verdict 'maybe' (allow, deny or audit)" "$E2E_TMP/err"
check usage-bad-port rc_is 2 "$CTL" --socket "$E2E_TMP/nothing.sock" flows --port 70000
check usage-bad-since rc_is 2 "$CTL" --socket "$E2E_TMP/nothing.sock" flows --since yesterday
check unreachable-exit-3 rc_is 3 "$CTL" --socket "$E2E_TMP/nothing.sock" status
check unreachable-message grep -q "^microsegctl: cannot reach the agent at $E2E_TMP/nothing.sock: " "$E2E_TMP/err"
check unreachable-one-line test "$(wc -l <"$E2E_TMP/err")" -eq 1
check unreachable-version-exit-3 rc_is 3 "$CTL" --socket "$E2E_TMP/nothing.sock" version
check unreachable-version-prints-own grep -q '^microsegctl ' "$E2E_TMP/out"
check unreachable-env rc_is 3 env MICROSEGD_SOCKET="$E2E_TMP/nothing.sock" "$CTL" status
check unreachable-env-path grep -q "at $E2E_TMP/nothing.sock:" "$E2E_TMP/err"

e2e_setup
cat >"$E2E_TMP/policy.yaml" <<'YAML'
version: 1
default: deny
workloads:
  server:
    labels: {role: web}
    addresses: [198.18.0.1, "2001:db8::1"]
  client:
    labels: {role: client}
    addresses: [198.18.0.2, "2001:db8::2"]
rules:
  - name: web
    action: allow
    from: {workload: client}
    to: {workload: server}
    ports: [tcp/8080]
YAML
serve "$NS_H" tcp/8080 tcp/9090
daemon_start "$E2E_TMP/policy.yaml" || {
	fail daemon-start "exit $MS_RC"
	exit 1
}
check traffic-allowed tcp_ok "$NS_P" "$HOST4" 8080
check_not traffic-denied tcp_ok "$NS_P" "$HOST4" 9090

check status-table out_has ctl status 'policy: +.*generation 1, 1 rules, 2 workloads, default deny'
check status-json out_has ctl status --json '^\{"version":'
check flows-table out_has ctl flows --verdict deny 'flow_deny +deny +default +tcp +198\.18\.0\.2:[0-9]+ \(client\) +198\.18\.0\.1:9090 \(server\)'
check flows-json out_has ctl --json flows --port 9090 '"dport":9090'
check flows-filter-empty bash -c "[ \$('$CTL' --socket '$MS_API' flows --proto udp | wc -l) -eq 1 ]"
check sessions-table out_has ctl sessions --port 8080 'tcp +198\.18\.0\.2:[0-9]+ \(client\) +198\.18\.0\.1:8080 \(server\) +[a-z]+ +allow +web'
check graph-table out_has ctl graph 'client +server +tcp/8080 +1 +1 +0 +0 +[0-9]+ +web'
check graph-json out_has ctl graph --format json '"edges":\['
check graph-dot out_has ctl graph --format dot 'digraph'
check workloads-table out_has ctl workloads 'server +policy +role=web +198\.18\.0\.1/32 2001:db8::1/128'
check metrics out_has ctl metrics '^microsegd_build_info\{version="'
check check-valid out_has ctl check "$E2E_TMP/policy.yaml" 'policy OK: 1 rules'
printf 'version: 1\nrules:\n  - name: x\n    action: maybe\n' >"$E2E_TMP/bad.yaml"
check check-invalid-exit-1 rc_is 1 ctl check "$E2E_TMP/bad.yaml"
check check-invalid-position grep -Eq "^$E2E_TMP/bad.yaml:4:[0-9]+: error: " "$E2E_TMP/err"
check reload-ok out_has ctl reload 'policy reloaded: generation 2'
cp "$E2E_TMP/policy.yaml" "$E2E_TMP/good.yaml"
cp "$E2E_TMP/bad.yaml" "$E2E_TMP/policy.yaml"
check reload-invalid-exit-1 rc_is 1 ctl reload
check reload-invalid-says-why grep -q 'generation 2 stays in force' "$E2E_TMP/err"
check suggest-valid bash -c "'$CTL' --socket '$MS_API' suggest >'$E2E_TMP/sug.yaml' && '$MS_BIN' --check -p '$E2E_TMP/sug.yaml' >/dev/null"
check suggest-allows-observed grep -q 'ports: \[tcp/8080\]' "$E2E_TMP/sug.yaml"
check suggest-lists-denied grep -q '^#   client -> server tcp/9090' "$E2E_TMP/sug.yaml"
check suggest-bad-group rc_is 2 ctl suggest --group nope
check usage-filter-on-status rc_is 2 ctl status --verdict deny
check version-agent out_has ctl version '^microsegd [0-9]+\.[0-9]+.* \(agent at '
check version-json out_has ctl --json version '^\{"microsegctl":"[^"]+","microsegd":"[^"]+"\}$'
check workloads-json out_has ctl workloads --json '"name":"server"'
check sessions-json out_has ctl --json sessions '"sessions":\['
check graph-dot-edge out_has ctl graph --format dot '"workload:client" -> "workload:server" \[label="tcp/8080 \([0-9]+\)", color=darkgreen\]'
check graph-dot-denied-red out_has ctl graph --format dot '"workload:client" -> "workload:server" \[label="tcp/9090 \([0-9]+\)", color=red\]'
check graph-json-labels out_has ctl --json graph '"id":"workload:server","kind":"workload","name":"server","labels":\{"role":"web"\}'
check usage-check-needs-file rc_is 2 ctl check
check socket-from-env bash -c "MICROSEGD_SOCKET='$MS_API' '$CTL' status >/dev/null"

# flows --follow: new events as they happen; Ctrl-C ends it with status 0.
"$CTL" --socket "$MS_API" flows --follow --verdict deny --json >"$E2E_TMP/follow" 2>&1 &
fpid=$!
E2E_PIDS+=($fpid)
sleep 0.5
tcp_ok "$NS_P" "$HOST6" 9090
check follow-sees-deny wait_for 3 grep -q '"dst":"2001:db8::1".*"dport":9090' "$E2E_TMP/follow"
kill -INT "$fpid"
wait "$fpid"
check follow-sigint-exit-0 test "$?" -eq 0

# Offline: the flow logs of two hosts make one map.
cat >"$E2E_TMP/host-a.jsonl" <<'EOF2'
{"time":"2026-11-24T06:00:00.000Z","event":"flow_end","verdict":"allow","rule":"web","direction":"ingress","interface":"eth0","family":"ipv4","proto":"tcp","src":"198.18.5.1","dst":"198.18.5.2","sport":40000,"dport":443,"src_workload":"lb","dst_workload":"app","packets":10,"bytes":1000,"generation":1}
{"time":"2026-11-24T06:00:01.000Z","event":"flow_deny","verdict":"deny","rule":"default","direction":"ingress","interface":"eth0","family":"ipv4","proto":"tcp","src":"198.18.9.9","dst":"198.18.5.2","sport":1234,"dport":22,"dst_workload":"app","generation":1}
{"time":"2026-11-24T06:00:11.000Z","event":"flow_deny","verdict":"deny","rule":"default","direction":"ingress","interface":"eth0","family":"ipv4","proto":"tcp","src":"198.18.9.9","dst":"198.18.5.2","sport":1234,"dport":22,"dst_workload":"app","repeat":true,"generation":1}
EOF2
cat >"$E2E_TMP/host-b.jsonl" <<'EOF2'
{"time":"2026-11-24T06:00:05.000Z","event":"flow_end","verdict":"allow","rule":"web","direction":"egress","interface":"eth0","family":"ipv4","proto":"tcp","src":"198.18.5.1","dst":"198.18.5.2","sport":40002,"dport":443,"src_workload":"lb","dst_workload":"app","packets":6,"bytes":600,"generation":3}
{"time":"2026-11-24T06:00:06.000Z","event":"flow_end","verdict":"allow","rule":"db","direction":"egress","interface":"eth0","family":"ipv6","proto":"tcp","src":"2001:db8:5::2","dst":"2001:db8:6::3","sport":40003,"dport":5432,"src_workload":"app","dst_workload":"db","packets":8,"bytes":800,"generation":3}
this line is not JSON
EOF2
check offline-merge out_has "$CTL" graph --from "$E2E_TMP/host-a.jsonl" "$E2E_TMP/host-b.jsonl" 'lb +app +tcp/443 +2 +2 +0 +0 +1600 +web'
check offline-deny-once out_has "$CTL" graph --from "$E2E_TMP/host-a.jsonl" --from "$E2E_TMP/host-b.jsonl" '198\.18\.9\.9 +app +tcp/22 +1 +0 +1 '
check offline-bad-line-named bash -c "'$CTL' graph --from '$E2E_TMP/host-b.jsonl' 2>&1 >/dev/null | grep -q 'host-b.jsonl:3: skipped'"
check offline-json out_has "$CTL" graph --format json --from "$E2E_TMP/host-a.jsonl" '"src":"workload:lb","dst":"workload:app","proto":"tcp","port":443,"flows":1'
check offline-stdin out_has bash -c "cat '$E2E_TMP/host-b.jsonl' | '$CTL' graph --from -" 'app +db +tcp/5432 +1'
check offline-missing-file rc_is 1 "$CTL" graph --from "$E2E_TMP/none.jsonl"
check offline-dot out_has "$CTL" graph --format dot --from "$E2E_TMP/host-a.jsonl" "$E2E_TMP/host-b.jsonl" '"workload:lb" -> "workload:app" \[label="tcp/443 \(2\)", color=darkgreen\]'
cat >"$E2E_TMP/fleet.yaml" <<'EOF2'
version: 1
workloads:
  lb: {labels: {tier: edge}, addresses: [198.18.5.1]}
  app: {labels: {tier: app}, addresses: [198.18.5.2, "2001:db8:5::2"]}
  db: {labels: {tier: data}, addresses: ["2001:db8:6::3"]}
rules:
  - {name: web, action: allow, from: {workload: lb}, to: {workload: app}, ports: [tcp/443]}
EOF2
check offline-policy-labels out_has "$CTL" graph --format json --policy "$E2E_TMP/fleet.yaml" --from "$E2E_TMP/host-a.jsonl" '"id":"workload:app","kind":"workload","name":"app","labels":\{"tier":"app"\},"addresses":\["198\.18\.5\.2/32","2001:db8:5::2/128"\]'
check offline-policy-needs-from rc_is 2 "$CTL" graph --policy "$E2E_TMP/fleet.yaml"
# replay: a candidate against recorded flows, with known answers.
cat >"$E2E_TMP/candidate.yaml" <<'EOF2'
version: 1
default: deny
workloads:
  lb: {addresses: [198.18.5.1]}
  app: {addresses: [198.18.5.2, "2001:db8:5::2"]}
rules:
  - name: web
    action: allow
    from: {workload: lb}
    to: {workload: app}
    ports: [tcp/443]
  - name: ssh
    action: allow
    ports: [tcp/22]
EOF2
check replay-counts out_has "$CTL" --json replay -p "$E2E_TMP/candidate.yaml" "$E2E_TMP/host-a.jsonl" "$E2E_TMP/host-b.jsonl" '"flows":4,"allowed":3,"denied":1,"unchanged":2,"newly_denied":1,"newly_allowed":1'
check replay-table out_has "$CTL" replay -p "$E2E_TMP/candidate.yaml" "$E2E_TMP/host-a.jsonl" 'deny->allow +198\.18\.9\.9 +app +tcp/22 +ssh'
check replay-gate-exit-4 rc_is 4 "$CTL" replay -p "$E2E_TMP/candidate.yaml" --fail-on-new-deny "$E2E_TMP/host-a.jsonl" "$E2E_TMP/host-b.jsonl"
check replay-gate-passes rc_is 0 "$CTL" replay -p "$E2E_TMP/candidate.yaml" --fail-on-new-deny "$E2E_TMP/host-a.jsonl"
check replay-needs-candidate rc_is 2 "$CTL" replay "$E2E_TMP/host-a.jsonl"
check replay-bad-candidate rc_is 1 "$CTL" replay -p "$E2E_TMP/bad.yaml" "$E2E_TMP/host-a.jsonl"
# A policy replayed on the log it produced changes nothing.
check replay-own-log-unchanged out_has "$CTL" --json replay -p "$E2E_TMP/good.yaml" "$MS_FLOWS" '"newly_denied":0,"newly_allowed":0'
check replay-via-api bash -c "curl -s --unix-socket '$MS_API' --data-binary @'$E2E_TMP/good.yaml' 'http://x/v1/policy/check?replay=1' | grep -q '\"replay\":{\"flows\":[1-9][0-9]*,.*\"newly_denied\":0,\"newly_allowed\":0'"
# The agent's own flow log, read offline, gives the edges it served.
check offline-own-log out_has "$CTL" graph --from "$MS_FLOWS" 'client +server +tcp/9090 +[0-9]+ +0 +[1-9]'

# The agent going away ends a follower's stream: exit 0.
"$CTL" --socket "$MS_API" flows --follow >"$E2E_TMP/follow2" 2>"$E2E_TMP/follow2.err" &
fpid=$!
E2E_PIDS+=($fpid)
wait_for 3 grep -q '^TIME ' "$E2E_TMP/follow2"
daemon_stop TERM
if wait_for 10 bash -c "! kill -0 $fpid"; then
	wait "$fpid"
	check follow-eof-exit-0 test "$?" -eq 0
	check follow-eof-said grep -q 'the agent ended the stream' "$E2E_TMP/follow2.err"
else
	fail follow-eof-exit-0 "still following 10 s after the agent stopped"
fi
e2e_finish
