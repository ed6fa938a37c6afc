#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
# Restarts are invisible to established connections and to the policy.
# With --keep-attached and a pinned state, the agent is restarted twice
# (SIGTERM then start, as `systemctl restart` does; kill -9 then start)
# while the server pushes a message every 250 ms on TCP and UDP, IPv4 and
# IPv6: every message arrives, the data-plane programs really are new ones,
# and a prober of denied ports is never answered, also while no agent runs.
# Then: a restart with a policy that denies the flow revokes it; an
# incompatible pinned state is replaced with a warning; a second agent
# refuses; SIGTERM without --keep-attached and `microsegd --cleanup` leave
# nothing behind; and, as a control, without pins the connection is lost.
. "$(dirname "$0")/lib.sh"

# Pins in a bpffs of this test's own: nothing here touches the host's
# /sys/fs/bpf.
PIN=$E2E_TMP/bpf/microsegd
PY=$E2E_ROOT/tests/e2e/restart.py
STOP=$E2E_TMP/stop # the pushes and the prober of the restarts
SERVER_STOP=$E2E_TMP/stop-server

restart_cleanup() {
	local rc=$?
	touch "$STOP" "$SERVER_STOP" "$E2E_TMP/stop-rev" "$E2E_TMP/stop-ctl"
	if [ -n "$MS_PID" ] && kill -0 "$MS_PID" 2>/dev/null; then
		kill -KILL "$MS_PID" 2>/dev/null
		wait "$MS_PID" 2>/dev/null
		MS_PID=
	fi
	umount -l "$E2E_TMP/bpf" 2>/dev/null
	(exit "$rc")
	e2e_cleanup
}
trap restart_cleanup EXIT

e2e_setup
mkdir -p "$E2E_TMP/bpf"
mount -t bpf bpf "$E2E_TMP/bpf" || { fail bpffs-mount; exit 1; }

cat >"$E2E_TMP/policy.yaml" <<'YAML'
version: 1
default: deny
rules:
  - name: push-tcp
    action: allow
    direction: ingress
    ports: [tcp/8080]
  - name: push-udp
    action: allow
    direction: ingress
    ports: [udp/8081]
  - name: log-7070
    action: log
    direction: ingress
    ports: [tcp/7070]
YAML
# The same without the TCP rule: what a restart with it must revoke.
sed '/push-tcp/,/tcp\/8080/d' "$E2E_TMP/policy.yaml" >"$E2E_TMP/no-tcp.yaml"

AGENT=(--keep-attached --pin-dir "$PIN")
now() { python3 -c 'import time; print("%.6f" % time.monotonic())'; }
prog_ids() { ns_h tc filter show dev veth0 "$1" | grep -o ' id [0-9]*' | tr -d ' id'; }
has_filter() { ns_h tc filter show dev veth0 "$1" | grep -q 'bpf'; }
has_clsact() { ns_h tc qdisc show dev veth0 | grep -q clsact; }
msgs() { grep -c . "$E2E_TMP/c-$1" 2>/dev/null || echo 0; }
# has_msgs NAME N: client NAME has received at least N messages.
has_msgs() { [ "$(msgs "$1")" -ge "$2" ]; }
# connects NS ADDR PORT: a TCP connection is accepted within 1 s.
connects() { ip netns exec "$1" python3 "$PY" connect "$2" "$3"; }

bg_in "$NS_H" python3 "$PY" server "$E2E_TMP/ready" "$SERVER_STOP"
wait_for 10 test -e "$E2E_TMP/ready" || { fail server-start; exit 1; }

# The prober can see an answer: with nothing enforcing, it is answered.
bg_in "$NS_P" python3 "$PY" probe "$E2E_TMP/probe0" "$E2E_TMP/stop0" "$HOST4" "$HOST6"
sleep 1
touch "$E2E_TMP/stop0"
wait_for 5 test -s "$E2E_TMP/probe0"
read -r _ answered0 <"$E2E_TMP/probe0"
check prober-sees-answers test "${answered0:-0}" -gt 0

daemon_start "$E2E_TMP/policy.yaml" "${AGENT[@]}" || { fail daemon-start "exit $MS_RC"; exit 1; }
PINNED=$PIN/netns-$(ns_h stat -L -c %i /proc/self/ns/net)
for m in sessions embryos frags slot_info ms_config ms_meta; do
	check "state-pinned-$m" test -e "$PINNED/$m"
done

client() { bg_in "$NS_P" python3 "$PY" client "$2" "$3" "$4" "$E2E_TMP/c-$1" "$STOP"; }
client tcp4 tcp "$HOST4" 8080
client tcp6 tcp "$HOST6" 8080
client udp4 udp "$HOST4" 8081
client udp6 udp "$HOST6" 8081
for name in tcp4 tcp6 udp4 udp6; do
	check "pushed-before-$name" wait_for 12 has_msgs "$name" 3
done
bg_in "$NS_P" python3 "$PY" probe "$E2E_TMP/probe" "$STOP" "$HOST4" "$HOST6"

# 1. SIGTERM with --keep-attached: exit 0, the classifier stays, the state
# stays; nothing of the running flows is reported ended.
ids0=$(prog_ids ingress)
daemon_stop TERM
check keep-term-exit-0 test "$MS_RC" -eq 0
check keep-term-still-attached has_filter ingress
check keep-term-no-flow-end test "$(grep -c flow_end "$MS_FLOWS")" -eq 0
n=$(msgs tcp4)
sleep 1 # no agent at all: the pushes go on, the prober is still refused
check pushed-without-agent test "$(msgs tcp4)" -ge $((n + 2))
check new-flow-without-agent connects "$NS_P" "$HOST4" 8080
# A flow the old classifier logs while no agent runs: its flow_new waits in
# the pinned ring buffer, and the next agent names its rule.
connects "$NS_P" "$HOST4" 7070
check_not denied-without-agent connects "$NS_P" "$HOST4" 9090
daemon_start "$E2E_TMP/policy.yaml" "${AGENT[@]}" || { fail daemon-restart "exit $MS_RC"; exit 1; }
check term-adopted log_wait 2 'adopted the state pinned in'
check term-replaced-in-place log_wait 2 'replacing the previous agent.s ingress filter in place'
check queued-event-named flow_wait 3 "e['event'] == 'flow_new' and e['dport'] == 7070 and e['rule'] == 'log-7070' and e['generation'] == 1"
check_not term-no-warning grep -q '^WARN' "$MS_LOG"
ids1=$(prog_ids ingress)
check term-new-program test -n "$ids1" -a "$ids1" != "$ids0"
# The agent's status says the same.
python3 "$E2E_ROOT/tests/e2e/api.py" req "$MS_API" GET /v1/status >"$E2E_TMP/status.json" 2>/dev/null
check status-new-program python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))["datapath"]; sys.exit(not (d["adopted"] and str(d["prog_id_ingress"]) == sys.argv[2] and d["pinned"].endswith("/microsegd/" + sys.argv[3])))' \
	"$E2E_TMP/status.json" "$ids1" "$(basename "$PINNED")"
sleep 2

# 2. kill -9: the filters stay (fail-static), the next start adopts.
daemon_stop KILL
check kill-still-attached has_filter egress
sleep 1
daemon_start "$E2E_TMP/policy.yaml" "${AGENT[@]}" || { fail daemon-restart-2 "exit $MS_RC"; exit 1; }
check kill-adopted log_wait 2 'adopted the state pinned in'
ids2=$(prog_ids ingress)
check kill-new-program test -n "$ids2" -a "$ids2" != "$ids1"
t_last=$(now)
sleep 3
touch "$STOP"
wait_for 5 test -s "$E2E_TMP/probe"

for name in tcp4 tcp6 udp4 udp6; do
	result=$(python3 "$PY" analyze "$E2E_TMP/c-$name" "$t_last")
	rc=$?
	echo "  $name: $result"
	check "every-message-$name" test "$rc" -eq 0
done
read -r attempts answered <"$E2E_TMP/probe"
echo "  prober: $attempts denied attempts across both restarts, $answered answered"
check prober-ran test "${attempts:-0}" -ge 40
check no-denied-answered test "${answered:-1}" -eq 0

# 3. A restart with a policy that denies the flow: adopted sessions are
# reclassified with the new generation and revoked.
bg_in "$NS_P" python3 "$PY" client tcp "$HOST4" 8080 "$E2E_TMP/c-rev" "$E2E_TMP/stop-rev"
check revoke-pushed-before wait_for 12 has_msgs rev 2
daemon_stop KILL
daemon_start "$E2E_TMP/no-tcp.yaml" "${AGENT[@]}" || { fail daemon-restart-3 "exit $MS_RC"; exit 1; }
check revoke-adopted log_wait 2 'adopted the state pinned in'
check revoked-after-restart flow_wait 5 "e['event'] == 'flow_revoked' and e['dport'] == 8080"
sleep 0.5
n=$(msgs rev)
sleep 1.5
check revoked-stops-pushes test "$(msgs rev)" -eq "$n"
touch "$E2E_TMP/stop-rev"

# 4. An incompatible state (another session table size) is replaced, with
# one warning that says why.
daemon_stop KILL
daemon_start "$E2E_TMP/policy.yaml" "${AGENT[@]}" --session-max 1024 ||
	{ fail daemon-start-incompatible "exit $MS_RC"; exit 1; }
check incompatible-warned test "$(log_count 'WARN.*pinned state is incompatible .*sessions')" -eq 1
check_not incompatible-not-adopted grep -q 'adopted the state' "$MS_LOG"
check_not incompatible-enforces connects "$NS_P" "$HOST4" 9090

# 5. A second agent in the namespace refuses, exit 3, and the first goes on.
ip netns exec "$NS_H" "$MS_BIN" -i veth0 -p "$E2E_TMP/policy.yaml" -f "$E2E_TMP/f2" \
	--api-socket "$E2E_TMP/api2.sock" --state-dir "$E2E_TMP/st2" --pin-dir "$PIN" \
	2>"$E2E_TMP/second.log"
rc=$?
check second-agent-exit-3 test "$rc" -eq 3
check second-agent-reason grep -q 'another microsegd is running' "$E2E_TMP/second.log"
check first-agent-alive daemon_alive

# 6. SIGTERM without --keep-attached keeps the Signals contract, and removes
# the pinned state too.
daemon_stop KILL
daemon_start "$E2E_TMP/policy.yaml" --pin-dir "$PIN" --session-max 1024 ||
	{ fail daemon-start-plain "exit $MS_RC"; exit 1; }
check plain-adopted log_wait 2 'adopted the state pinned in'
daemon_stop TERM
check plain-term-exit-0 test "$MS_RC" -eq 0
check_not plain-term-no-filter has_filter ingress
check_not plain-term-no-qdisc has_clsact
check plain-term-no-pins test -z "$(ls -A "$E2E_TMP/bpf/" | grep -v debug)"

# 7. kill -9 leaves everything; microsegd --cleanup removes it.
daemon_start "$E2E_TMP/policy.yaml" "${AGENT[@]}" || { fail daemon-start-last "exit $MS_RC"; exit 1; }
daemon_stop KILL
check before-cleanup-attached has_filter ingress
ns_h "$MS_BIN" --cleanup --pin-dir "$PIN" >"$E2E_TMP/cleanup.log" 2>&1
check cleanup-exit-0 test $? -eq 0
check_not cleanup-no-filter has_filter ingress
check_not cleanup-no-egress-filter has_filter egress
check_not cleanup-no-qdisc has_clsact
check cleanup-no-pins test -z "$(ls -A "$E2E_TMP/bpf/" | grep -v debug)"
check traffic-free-after-cleanup connects "$NS_P" "$HOST4" 9090

# 7b. Without pinned records, --cleanup -i takes globs as the agent does.
daemon_start "$E2E_TMP/policy.yaml" --keep-attached --pin-dir none ||
	{ fail daemon-start-glob "exit $MS_RC"; exit 1; }
daemon_stop KILL
check before-glob-cleanup-attached has_filter ingress
ns_h "$MS_BIN" --cleanup --pin-dir none -i 'veth*' -i 'nomatch*' >"$E2E_TMP/cleanup-glob.log" 2>&1
check glob-cleanup-exit-0 test $? -eq 0
check_not glob-cleanup-no-filter has_filter ingress
check_not glob-cleanup-no-egress-filter has_filter egress
check glob-cleanup-says-so grep -q 'veth0: microsegd.s filters removed' "$E2E_TMP/cleanup-glob.log"
check glob-cleanup-names-empty-glob grep -q 'no interface matches nomatch\*' "$E2E_TMP/cleanup-glob.log"

# 8. The control: without a pinned state, a restart after kill -9 loses the
# sessions and the connection with them (what this test guards against).
daemon_start "$E2E_TMP/policy.yaml" --keep-attached --pin-dir none ||
	{ fail daemon-start-unpinned "exit $MS_RC"; exit 1; }
bg_in "$NS_P" python3 "$PY" client tcp "$HOST4" 8080 "$E2E_TMP/c-ctl" "$E2E_TMP/stop-ctl"
check control-pushed-before wait_for 12 has_msgs ctl 2
daemon_stop KILL
daemon_start "$E2E_TMP/policy.yaml" --keep-attached --pin-dir none ||
	{ fail daemon-restart-unpinned "exit $MS_RC"; exit 1; }
sleep 0.5
n=$(msgs ctl)
sleep 1.5
check control-unpinned-restart-loses-flow test "$(msgs ctl)" -eq "$n"
daemon_stop TERM
touch "$E2E_TMP/stop-ctl"
e2e_finish
