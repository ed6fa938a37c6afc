#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
# The systemd notification protocol, against a datagram listener standing in
# for systemd: READY=1, RELOADING=1 with MONOTONIC_USEC on SIGHUP and READY=1
# after it, STATUS=, STOPPING=1 on shutdown; path and abstract sockets.
. "$(dirname "$0")/lib.sh"

e2e_setup
fixture no-telnet.yaml "$E2E_TMP/policy.yaml"
# Each datagram becomes one JSON line: its text and the listener's
# CLOCK_MONOTONIC at receipt, in microseconds.
NOTIFY=$E2E_ROOT/tests/e2e/notify.py

MSGS=$E2E_TMP/notify.jsonl
# msg_has PYEXPR: some datagram m (its text), t (receipt time) satisfies it.
msg_has() { python3 "$NOTIFY" has "$MSGS" "$1"; }

run_protocol() { # LABEL SOCKET_ADDRESS
	local label=$1 addr=$2
	: >"$MSGS"
	rm -f "$E2E_TMP/lready"
	bg_in "$NS_H" python3 "$NOTIFY" listen "$addr" "$MSGS" "$E2E_TMP/lready"
	wait_for 5 test -e "$E2E_TMP/lready"
	NOTIFY_SOCKET=$addr daemon_start "$E2E_TMP/policy.yaml" ||
		{ fail "$label-daemon-start" "exit $MS_RC"; return; }
	check "$label-ready" wait_for 3 msg_has "kv.get('READY') == '1'"
	check "$label-status" wait_for 3 msg_has "'STATUS' in kv and 'generation 1' in kv['STATUS']"
	kill -HUP "$MS_PID"
	check "$label-reloading" wait_for 5 msg_has \
		"kv.get('RELOADING') == '1' and kv.get('MONOTONIC_USEC', '').isdigit() and abs(int(kv['MONOTONIC_USEC']) - t) < 5000000"
	check "$label-ready-after-reload" wait_for 5 msg_has \
		"kv.get('READY') == '1' and t > min(json.loads(l)['now_us'] for l in open(path) if 'RELOADING=1' in json.loads(l)['msg'])"
	check "$label-status-after-reload" wait_for 3 msg_has "'generation 2' in kv.get('STATUS', '')"
	daemon_stop TERM
	check "$label-stopping" wait_for 3 msg_has "kv.get('STOPPING') == '1'"
	check "$label-exit-0" test "$MS_RC" -eq 0
}

run_protocol path "$E2E_TMP/notify.sock"
run_protocol abstract "@microsegd-test-$E2E_ID"

# Without NOTIFY_SOCKET nothing is sent and nothing breaks.
: >"$MSGS"
unset NOTIFY_SOCKET
daemon_start "$E2E_TMP/policy.yaml" || fail no-socket-daemon-start
check no-socket-runs daemon_alive
daemon_stop
check no-socket-exit-0 test "$MS_RC" -eq 0
e2e_finish
