#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
# Faults the agent survives, each as a user sees it: the flow log on a full
# file system (events counted as lost, enforcement goes on, writing resumes
# when space returns); the flow log's reader gone (no death by SIGPIPE); an
# attached interface deleted (logged, the others still enforced); a second
# agent in the namespace (exit 3 with a reason, the first undisturbed).
. "$(dirname "$0")/lib.sh"

NS_Q=msq-$E2E_ID
FULL=$E2E_TMP/full
trap 'rc=$?; umount -l "$FULL" 2>/dev/null; (exit $rc); e2e_cleanup' EXIT

e2e_setup
e2e_netns_add "$NS_Q" &&
	e2e_link "$NS_H" veth2 198.18.1.1 2001:db8:1::1 "$NS_Q" veth3 198.18.1.2 2001:db8:1::2 ||
	{ fail setup-second-link; exit 1; }
fixture web-8080-ingress.yaml "$E2E_TMP/policy.yaml"
serve "$NS_H" tcp/8080 tcp/9090 || { fail serve; exit 1; }
lost() { grep -o 'events_lost=[0-9]*' "$MS_LOG" | tail -n 1 | cut -d= -f2; }
denied_port() { ns_p python3 "$NETPY" tcp "$HOST4" "$1" >/dev/null; } # fails when denied

# 1. A full file system under the flow log.
mkdir -p "$FULL"
mount -t tmpfs -o size=64k tmpfs "$FULL" || { fail tmpfs-mount; exit 1; }
MS_FLOWS=$FULL/flows.jsonl
daemon_start "$E2E_TMP/policy.yaml" --pin-dir none || { fail daemon-start "exit $MS_RC"; exit 1; }
dd if=/dev/zero of="$FULL/filler" bs=4k 2>/dev/null # until ENOSPC
for p in 9101 9102 9103 9104 9105; do denied_port "$p"; done
check full-write-warned log_wait 5 'cannot write the flow log: No space left on device'
check full-events-lost wait_for 4 bash -c "[ \"\$(grep -o 'events_lost=[0-9]*' '$MS_LOG' | tail -n 1 | cut -d= -f2)\" -ge 1 ]"
check full-still-enforces test "$(denied_port 9106; echo $?)" -ne 0
check full-still-allows tcp_ok "$NS_P" "$HOST4" 8080
rm -f "$FULL/filler"
denied_port 9107
check full-resumed-logged log_wait 5 'flow log writable again'
check full-resumed-written flow_wait 3 "e['event'] == 'flow_deny' and e['dport'] == 9107"
check full-agent-alive daemon_alive
daemon_stop TERM
check full-exit-0 test "$MS_RC" -eq 0
MS_FLOWS=$E2E_TMP/flows.jsonl

# 2. The flow log on stdout, a pipe whose reader is gone.
: >"$MS_LOG"
ip netns exec "$NS_H" bash -c 'exec "$0" "$@" | true' "$MS_BIN" -i veth0 -p "$E2E_TMP/policy.yaml" \
	-f - -s 1 --api-socket "$MS_API" --state-dir "$MS_STATE" --pin-dir none 2>>"$MS_LOG" &
E2E_PIDS+=($!)
check pipe-started log_wait 15 'running on'
pipe_pid=$(pgrep -f -n -- "--api-socket $MS_API")
for p in 9111 9112 9113; do denied_port "$p"; done
check pipe-write-warned log_wait 5 'cannot write the flow log: Broken pipe'
sleep 1
check pipe-agent-alive kill -0 "$pipe_pid"
check pipe-still-enforces test "$(denied_port 9114; echo $?)" -ne 0
kill -TERM "$pipe_pid"
wait_for 10 bash -c "! kill -0 $pipe_pid"
check pipe-stopped-cleanly log_wait 2 'stopped: detached from every interface'

# 3. An attached interface deleted while running.
daemon_start "$E2E_TMP/policy.yaml" -i veth2 --pin-dir none || { fail daemon-start-3 "exit $MS_RC"; exit 1; }
check two-attached test "$(log_count 'attached to veth')" -eq 2
ip -n "$NS_H" link del veth2
check gone-logged log_wait 4 'veth2: the interface is gone'
check gone-agent-alive daemon_alive
check gone-others-enforced test "$(denied_port 9121; echo $?)" -ne 0
check gone-others-allowed tcp_ok "$NS_P" "$HOST4" 8080

# 4. A second agent in the namespace: exit 3 with a reason; the first goes on.
ip netns exec "$NS_H" "$MS_BIN" -i veth0 -p "$E2E_TMP/policy.yaml" -f "$E2E_TMP/f2" \
	--api-socket "$E2E_TMP/api2.sock" --state-dir "$E2E_TMP/st2" --pin-dir none \
	2>"$E2E_TMP/second.log"
rc=$?
check second-exit-3 test "$rc" -eq 3
check second-reason grep -q 'another microsegd is running in this network namespace' "$E2E_TMP/second.log"
check_not second-attached-nothing grep -q 'attached to' "$E2E_TMP/second.log"
check first-still-alive daemon_alive
check first-still-enforces test "$(denied_port 9122; echo $?)" -ne 0
check first-still-allows tcp_ok "$NS_P" "$HOST4" 8080
check first-filter-kept bash -c "ip netns exec '$NS_H' tc filter show dev veth0 ingress | grep -q 'ms_ingress'"
daemon_stop TERM
check gone-exit-0 test "$MS_RC" -eq 0
e2e_finish
