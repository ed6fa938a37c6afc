#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
# The web console (README, "The web console") in a real headless Chromium against
# a real agent on a veth pair with real traffic: the Map draws the graph's
# nodes and edges (denied ones as denied, in pixels too), the Flows view
# shows a new denial within 2 s, the Policy view has /v1/policy's hits, the
# Suggest view's YAML passes --check, nothing goes to another origin, the
# page says when the agent is gone, and a 10,000-edge graph stays usable.
# Screenshots of every view go to $BUILD/test-logs/console/.
# run-alone: Chromium loads the machine, and a denial must show within 2 s
. "$(dirname "$0")/../e2e/lib.sh"

PY=/usr/bin/python3 # Debian's, with python3-selenium and python3-pil
DRIVER=$E2E_ROOT/tests/browser/console.py
OUT=${CONSOLE_SHOTS:-$E2E_ROOT/${BUILD:-build}/test-logs/console}
WEB_PORT=$((20000 + $$ % 20000))
URL=http://127.0.0.1:$WEB_PORT
mkdir -p "$OUT"

for t in /usr/bin/chromium /usr/bin/chromedriver; do
	[ -x "$t" ] || { fail console-deps "$t missing (make deps)"; exit 1; }
done
$PY -c 'import selenium, PIL' || { fail console-deps "python3-selenium or python3-pil missing (make deps)"; exit 1; }

e2e_setup
cat >"$E2E_TMP/policy.yaml" <<'YAML'
version: 1
default: deny
workloads:
  server:
    labels: {role: web, app: shop}
    addresses: [198.18.0.1, "2001:db8::1"]
  client:
    labels: {role: client, app: shop}
    addresses: [198.18.0.2, "2001:db8::2"]
rules:
  - name: web
    action: allow
    from: {workload: client}
    to: {workload: server}
    ports: [tcp/8080]
  - name: no-metrics
    action: deny
    ports: [tcp/9090]
  - name: ping
    action: allow
    ports: [icmp/8, icmpv6/128]
YAML

serve "$NS_H" tcp/8080 tcp/9090 tcp/9091 tcp/9092
daemon_start "$E2E_TMP/policy.yaml" --web "127.0.0.1:$WEB_PORT" || {
	fail daemon-start "exit $MS_RC: $(tail -3 "$MS_LOG")"
	exit 1
}

# Served as the contract says: from the binary, typed, revalidated, fenced in.
# hdr_has PATH REGEX: a response header of GET PATH matches REGEX.
hdr_has() { ns_h curl -s -D - -o /dev/null "$URL$1" | tr -d '\r' | grep -Eqi -- "$2"; }
same_as() { ns_h curl -s "$URL$1" | cmp -s - "$2"; }
check page-html hdr_has / '^content-type: text/html'
check d3-js hdr_has /d3.min.js '^content-type: text/javascript'
check d3-is-debians same_as /d3.min.js /usr/share/nodejs/d3/dist/d3.min.js
check css hdr_has /console.css '^content-type: text/css'
check no-store-api hdr_has /v1/status '^cache-control: no-store'
check revalidate-assets hdr_has /map.js '^cache-control: no-cache'
check csp-self-only hdr_has / "^content-security-policy: default-src 'none'; script-src 'self'; style-src 'self';.*connect-src 'self'"
check nosniff hdr_has / '^x-content-type-options: nosniff'
check etag-304 bash -c "
	tag=\$(ip netns exec $NS_H curl -s -D - -o /dev/null $URL/map.js | sed -n 's/^[Ee][Tt][Aa][Gg]: *//p' | tr -d '\r')
	[ -n \"\$tag\" ] && [ \"\$(ip netns exec $NS_H curl -s -o /dev/null -w '%{http_code}' -H \"If-None-Match: \$tag\" $URL/map.js)\" = 304 ]"
check assets-read-only bash -c "[ \"\$(ip netns exec $NS_H curl -s -o /dev/null -w '%{http_code}' -X POST $URL/)\" = 405 ]"

# Real traffic: allowed, denied by a rule, denied by default.
for _ in 1 2 3; do tcp_ok "$NS_P" "$HOST4" 8080; done
check traffic-allowed tcp_ok "$NS_P" "$HOST6" 8080
check_not traffic-denied tcp_ok "$NS_P" "$HOST4" 9090
check_not traffic-default tcp_ok "$NS_P" "$HOST4" 22
check pings ping_ok "$NS_P" "$HOST4"
flow_wait 5 'e["event"]=="flow_deny" and e.get("dport")==22'
# The graph counts open sessions as of the agent's last sweep: the Map is
# compared with /v1/graph once every flow above is in it, not while a sweep
# may still add the ping's.
graph_has() { ns_h curl -s -o "$E2E_TMP/graph.json" "$URL/v1/graph" && python3 "$E2E_ROOT/tests/e2e/api.py" json "$E2E_TMP/graph.json" "$1"; }
check graph-complete eventually 5 graph_has 'any(e["proto"]=="icmp" and e["port"]==8 for e in j["edges"]) and any(e["port"]==8080 and e["allowed"]>=4 for e in j["edges"])'

ns_h "$PY" "$DRIVER" live "$URL" "$OUT" --ms-bin "$MS_BIN" \
	--deny "ip netns exec $NS_P python3 $NETPY tcp $HOST4 {port}" \
	--stop "kill -TERM $MS_PID" || T_FAILED=1
daemon_alive && daemon_stop
MS_PID=

# A graph of 10,000 edges among 250 nodes, as a state file the agent loads.
MS_STATE=$E2E_TMP/state-big
mkdir -p "$MS_STATE"
python3 "$E2E_ROOT/tests/browser/biggraph.py" "$MS_STATE/graph.json"
daemon_start "$E2E_TMP/policy.yaml" --web "127.0.0.1:$WEB_PORT" || {
	fail daemon-start-big "exit $MS_RC: $(tail -3 "$MS_LOG")"
	exit 1
}
ns_h "$PY" "$DRIVER" big "$URL" "$OUT" --edges 10000 || T_FAILED=1
daemon_stop
echo "screenshots in $OUT"
e2e_finish
