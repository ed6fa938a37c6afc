#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
# Soak: 500 SIGHUPs, alternating a valid and an invalid policy, while a
# client exchanges a message every 20 ms on one connection (and opens a new
# one every tenth): every reload is answered (reloaded or refused), no
# exchange fails, the agent's file descriptors do not grow and its RSS
# grows by less than 8 MiB between the first tenth of the reloads and the
# end. ASan's quarantine is kept small here, or it alone would grow the RSS.
. "$(dirname "$0")/lib.sh"

SOAK=$E2E_ROOT/tests/e2e/soak.py
N=${SOAK_RELOADS:-500}
e2e_setup
cat >"$E2E_TMP/valid.yaml" <<'YAML'
version: 1
default: deny
rules:
  - name: web
    action: allow
    direction: ingress
    ports: [tcp/8080]
  - name: ping
    action: allow
    ports: [icmp/8]
YAML
cat >"$E2E_TMP/invalid.yaml" <<'YAML'
version: 1
default: deny
rules:
  - name: web
    action: allow-ish
    ports: [tcp/8080, tcp/99999]
YAML
cp "$E2E_TMP/valid.yaml" "$E2E_TMP/policy.yaml"
serve "$NS_H" tcp/8080 tcp/9090 || { fail serve; exit 1; }
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=1
daemon_start "$E2E_TMP/policy.yaml" --pin-dir none -s 0 || { fail daemon-start "exit $MS_RC"; exit 1; }

bg_in "$NS_P" python3 "$SOAK" client "$HOST4" 8080 "$E2E_TMP/client" "$E2E_TMP/stop"
sleep 0.5
timeout 200 python3 "$SOAK" hup "$MS_PID" "$MS_LOG" "$E2E_TMP/policy.yaml" \
	"$E2E_TMP/valid.yaml" "$E2E_TMP/invalid.yaml" "$N" "$E2E_TMP/hup"
touch "$E2E_TMP/stop"
wait_for 5 test -s "$E2E_TMP/client"
read -r done fds0 fds1 rss0 rss1 <"$E2E_TMP/hup"
read -r ok failed <"$E2E_TMP/client"
echo "  $done reloads answered; client: $ok exchanges ok, $failed failed; fds $fds0 -> $fds1; RSS $rss0 -> $rss1 KiB"
check every-reload-answered test "${done:-0}" -eq "$N"
check reloads-ok test "$(log_count 'policy reloaded')" -eq $((N / 2))
check reloads-refused test "$(log_count 'policy reload failed')" -eq $((N / 2))
check exchanges-ran test "${ok:-0}" -ge 100
check no-failed-exchange test "${failed:-1}" -eq 0
check no-fd-growth test "${fds1:-999}" -le "${fds0:-0}"
check no-rss-growth test $((${rss1:-999999} - ${rss0:-0})) -lt 8192
check still-enforces test "$(ns_p python3 "$NETPY" tcp "$HOST4" 9090; echo $?)" -ne 0
daemon_stop TERM
check exit-0-no-leak test "$MS_RC" -eq 0
e2e_finish
