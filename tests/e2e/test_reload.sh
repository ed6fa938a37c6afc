#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
# SIGHUP: a valid policy replaces the old one, revoking an established
# connection it denies (flow_revoked) and leaving one it allows alone; an
# invalid policy is reported with FILE:LINE:COL and the old one stays.
. "$(dirname "$0")/lib.sh"

e2e_setup
P=$E2E_TMP/policy.yaml
cat >"$E2E_TMP/a.yaml" <<'YAML'
version: 1
default: deny
rules:
  - name: web
    action: allow
    ports: [tcp/8080]
  - name: api
    action: allow
    ports: [tcp/8082]
YAML
cat >"$E2E_TMP/b.yaml" <<'YAML'
version: 1
default: deny
rules:
  - name: api
    action: allow
    ports: [tcp/8082]
  - name: no-web
    action: deny
    ports: [tcp/8080]
  - name: extra
    action: allow
    ports: [tcp/8081]
YAML
# Valid YAML, invalid policy: an unknown key on line 6, column 5.
fixture unknown-key.yaml "$E2E_TMP/bad.yaml"

serve "$NS_H" tcp/8080 tcp/8081 tcp/8082 tcp/9090
cp "$E2E_TMP/a.yaml" "$P"
daemon_start "$P" || { fail daemon-start "exit $MS_RC"; exit 1; }
check before-8080-allowed tcp_ok "$NS_P" "$HOST4" 8080
check_not before-8081-denied tcp_ok "$NS_P" "$HOST4" 8081

# Two established connections across the reload.
bg_in "$NS_P" python3 "$NETPY" hold "$HOST4" 8080 "$E2E_TMP/go" "$E2E_TMP/hold-web"
bg_in "$NS_P" python3 "$NETPY" hold "$HOST6" 8082 "$E2E_TMP/go" "$E2E_TMP/hold-api"
check established-before-reload wait_for 5 grep -q 'first ok' "$E2E_TMP/hold-web"
check established-before-reload-v6 wait_for 5 grep -q 'first ok' "$E2E_TMP/hold-api"

cp "$E2E_TMP/b.yaml" "$P"
kill -HUP "$MS_PID"
check reload-logged log_wait 5 'policy reloaded: .*3 rules, generation 2, .*took [0-9.]+ ms'
touch "$E2E_TMP/go"
wait_for 6 grep -q '^second' "$E2E_TMP/hold-web"
check revoked-connection-cut grep -q 'second timeout' "$E2E_TMP/hold-web"
wait_for 6 grep -q '^second' "$E2E_TMP/hold-api"
check allowed-connection-continues grep -q 'second ok' "$E2E_TMP/hold-api"
check flow-revoked-logged flow_wait 3 \
	"e['event'] == 'flow_revoked' and e['verdict'] == 'deny' and e['rule'] == 'no-web' and e['dport'] == 8080 and e['src'] == '$PEER4'"
check_not no-revocation-of-allowed flow_has "e['event'] == 'flow_revoked' and e['dport'] == 8082"
check after-8080-denied-new-flows test "$(tcp_ok "$NS_P" "$HOST4" 8080; echo $?)" -ne 0
check after-8081-allowed tcp_ok "$NS_P" "$HOST4" 8081

# An invalid policy: errors with their position, the old policy stays.
cp "$E2E_TMP/bad.yaml" "$P"
kill -HUP "$MS_PID"
check invalid-reload-fails log_wait 5 'policy reload failed'
check invalid-reload-position grep -Eq "ERROR: $P:6:5: error: " "$MS_LOG"
check daemon-alive-after-invalid daemon_alive
check old-policy-still-allows tcp_ok "$NS_P" "$HOST4" 8081
check_not old-policy-still-denies tcp_ok "$NS_P" "$HOST4" 9090
check generation-unchanged test "$(log_count 'generation 3')" -eq 0

# A missing file is no different.
rm -f "$P"
kill -HUP "$MS_PID"
check missing-file-reload-fails log_wait 5 "$P: cannot open"
check daemon-alive-after-missing daemon_alive

# And a good policy after the bad ones works again.
cp "$E2E_TMP/a.yaml" "$P"
kill -HUP "$MS_PID"
check reload-after-invalid log_wait 5 'policy reloaded: .*2 rules, generation 3'
check web-allowed-again tcp_ok "$NS_P" "$HOST4" 8080

daemon_stop
check exit-0 test "$MS_RC" -eq 0
e2e_finish
