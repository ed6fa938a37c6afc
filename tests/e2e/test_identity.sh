#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
# Process identity in flows (README, "Containers"): a listener started in a
# cgroup v2 child group of its own shows as dst_unit and dst_process on an
# ingress flow (allowed and denied), a client in another group as src_unit
# and src_process on an egress flow. The groups are the test's own, made and
# removed under the cgroup2 mount wherever it is mounted.
. "$(dirname "$0")/lib.sh"

CG_ROOT=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
if [ -z "$CG_ROOT" ]; then
	fail cgroup2-mount "no cgroup2 hierarchy is mounted"
	exit 1
fi
CG_SRV=ms-id-srv-$E2E_ID
CG_CLI=ms-id-cli-$E2E_ID
remove_groups() {
	local g
	for g in "$CG_SRV" "$CG_CLI"; do
		[ -d "$CG_ROOT/$g" ] || continue
		# Its processes back to the root first: a group with members stays.
		while read -r p; do echo "$p" >"$CG_ROOT/cgroup.procs" 2>/dev/null; done <"$CG_ROOT/$g/cgroup.procs"
		rmdir "$CG_ROOT/$g" 2>/dev/null
	done
}
trap 'remove_groups; e2e_cleanup' EXIT
mkdir "$CG_ROOT/$CG_SRV" "$CG_ROOT/$CG_CLI" || {
	fail cgroup-create "cannot create groups under $CG_ROOT"
	exit 1
}

e2e_setup
cat >"$E2E_TMP/policy.yaml" <<'YAML'
version: 1
default: deny
rules:
  - name: web-in
    action: allow
    direction: ingress
    ports: [tcp/8080]
  - name: out
    action: allow
    direction: egress
    ports: [tcp/8081]
YAML

# in_group GROUP NS CMD...: run CMD in namespace NS as a member of GROUP.
in_group() {
	local g=$1
	shift
	bash -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$CG_ROOT/$g" ip netns exec "$@"
}
ready=$E2E_TMP/ready.srv
in_group "$CG_SRV" "$NS_H" python3 "$NETPY" serve "$ready" tcp/8080 tcp/9090 >>"$E2E_TMP/serve.log" 2>&1 &
E2E_PIDS+=($!)
wait_for 10 test -e "$ready" || { fail listener "did not start"; exit 1; }
serve "$NS_P" tcp/8081
daemon_start "$E2E_TMP/policy.yaml" || {
	fail daemon-start "exit $MS_RC: $(tail -3 "$MS_LOG")"
	exit 1
}

# Ingress: the listener is the flow's responder.
check ingress-allowed tcp_ok "$NS_P" "$HOST4" 8080
check_not ingress-denied tcp_ok "$NS_P" "$HOST4" 9090
check deny-names-listener flow_wait 5 "e['event']=='flow_deny' and e['dport']==9090 and e.get('dst_unit')=='/$CG_SRV' and e.get('dst_process')=='python3' and 'src_unit' not in e"
# Egress: a client in the other group initiates.
# It stays a little, as a client does: a flow names its process while the
# process is known (the sweep learns it every second).
cat >"$E2E_TMP/client.py" <<'PYEOF'
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2)
s.sendall(b"hello\n")
ok = s.recv(16) == b"hello\n"
time.sleep(2.5)
sys.exit(0 if ok else 1)
PYEOF
check egress-allowed bash -c "$(declare -f in_group); CG_ROOT=$CG_ROOT in_group $CG_CLI $NS_H python3 $E2E_TMP/client.py $PEER4 8081"
check egress-names-client flow_wait 20 "e['event']=='flow_end' and e['direction']=='egress' and e['dport']==8081 and e.get('src_unit')=='/$CG_CLI' and e.get('src_process')=='python3' and 'dst_unit' not in e"
check ingress-names-listener flow_wait 20 "e['event']=='flow_end' and e['direction']=='ingress' and e['dport']==8080 and e.get('dst_unit')=='/$CG_SRV' and e.get('dst_process')=='python3'"
check api-flows-carry-it bash -c "python3 '$E2E_ROOT/tests/e2e/api.py' req '$MS_API' GET '/v1/flows?port=9090' 2>/dev/null | grep -q '\"dst_process\":\"python3\"'"

daemon_stop
check clean-exit test "$MS_RC" -eq 0
e2e_finish
