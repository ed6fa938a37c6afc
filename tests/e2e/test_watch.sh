#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
# --watch: the policy is replaced the way kubelet updates a mounted ConfigMap
# (a new ..TIMESTAMP directory, then the ..data symlink swapped atomically
# with ln -s + mv -T; policy.yaml -> ..data/policy.yaml never changes), and
# the agent reloads by itself, as on SIGHUP: the same log line, the new
# verdicts on the wire. A burst of swaps is one reload; activity that leaves
# the policy as it is reloads nothing; an invalid replacement is reported
# with FILE:LINE:COL and the old policy stays in force.
. "$(dirname "$0")/lib.sh"

e2e_setup

CM=$E2E_TMP/configmap
P=$CM/policy.yaml
fixture web-8080.yaml "$E2E_TMP/a.yaml"
cat >"$E2E_TMP/b.yaml" <<'YAML'
version: 1
default: deny
rules:
  - name: api
    action: allow
    ports: [tcp/8081]
  - name: no-web
    action: deny
    ports: [tcp/8080]
YAML
cat >"$E2E_TMP/c.yaml" <<'YAML'
version: 1
default: deny
rules:
  - name: nothing-but-ping
    action: allow
    ports: [icmp/8]
YAML
# Valid YAML, invalid policy: an unknown key on line 6, column 5.
fixture unknown-key.yaml "$E2E_TMP/bad.yaml"

# swap FILE: what kubelet's atomic writer does, one generation of the
# ConfigMap: write the new ..TIMESTAMP directory, point ..data_tmp at it,
# rename it over ..data, remove the previous directory.
SEQ=0
swap() {
	local old new
	old=$(readlink "$CM/..data" 2>/dev/null)
	SEQ=$((SEQ + 1))
	new=..2026_12_06_21_00_00.$SEQ
	mkdir "$CM/$new" && cp "$1" "$CM/$new/policy.yaml" &&
		ln -s "$new" "$CM/..data_tmp" && mv -T "$CM/..data_tmp" "$CM/..data" || return 1
	[ -z "$old" ] || rm -rf "${CM:?}/$old"
}
# burst FILE...: the same swaps, one per FILE, from one process, so they
# land within a millisecond or so of each other even on a loaded machine.
burst() {
	python3 "$E2E_ROOT/tests/e2e/watch_burst.py" "$CM" "$SEQ" "$@"
	SEQ=$((SEQ + $#))
}
reloads() { log_count 'policy reloaded: '; }

mkdir -p "$CM"
swap "$E2E_TMP/a.yaml"
ln -s ..data/policy.yaml "$P"

serve "$NS_H" tcp/8080 tcp/8081
daemon_start "$P" --watch || { fail daemon-start "exit $MS_RC"; exit 1; }
check watching-logged log_wait 2 "watching $CM for changes of policy.yaml"
check before-8080-allowed tcp_ok "$NS_P" "$HOST4" 8080
check_not before-8081-denied tcp_ok "$NS_P" "$HOST4" 8081

# A new ConfigMap generation: reloaded without any signal.
swap "$E2E_TMP/b.yaml"
check swap-reload-logged log_wait 5 "policy reloaded: $P, 2 rules, generation 2, mode enforce"
check swap-change-logged grep -q "$P changed (--watch)" "$MS_LOG"
check after-swap-8080-denied test "$(tcp_ok "$NS_P" "$HOST4" 8080; echo $?)" -ne 0
check after-swap-8081-allowed tcp_ok "$NS_P" "$HOST4" 8081
check after-swap-v6-8081-allowed tcp_ok "$NS_P" "$HOST6" 8081

# A burst of three generations within the debounce interval: one reload,
# to the last of them.
n=$(reloads)
burst "$E2E_TMP/c.yaml" "$E2E_TMP/b.yaml" "$E2E_TMP/a.yaml"
check burst-reloaded log_wait 5 "policy reloaded: $P, 1 rules, generation 3"
sleep 1
check burst-is-one-reload test "$(reloads)" -eq $((n + 1))
check burst-last-wins-8080 tcp_ok "$NS_P" "$HOST4" 8080
check_not burst-last-wins-8081 tcp_ok "$NS_P" "$HOST4" 8081

# A new generation with the same text, and a file of someone else's in the
# directory: nothing to reload.
n=$(reloads)
swap "$E2E_TMP/a.yaml"
echo notes >"$CM/README"
sleep 1
check same-text-no-reload test "$(reloads)" -eq "$n"

# An invalid generation: errors with their position, the old policy stays.
swap "$E2E_TMP/bad.yaml"
check invalid-reload-fails log_wait 5 'policy reload failed'
check invalid-reload-position grep -Eq "ERROR: $P:6:5: error: " "$MS_LOG"
check daemon-alive-after-invalid daemon_alive
check old-policy-still-allows tcp_ok "$NS_P" "$HOST4" 8080
check_not old-policy-still-denies tcp_ok "$NS_P" "$HOST4" 8081
check generation-unchanged test "$(log_count 'generation 4')" -eq 0

# Fixed again: the next valid generation is installed.
swap "$E2E_TMP/b.yaml"
check reload-after-invalid log_wait 5 "policy reloaded: $P, 2 rules, generation 4"
check fixed-8081-allowed tcp_ok "$NS_P" "$HOST4" 8081

# SIGHUP still works beside --watch.
kill -HUP "$MS_PID"
check sighup-still-reloads log_wait 5 "policy reloaded: $P, 2 rules, generation 5"

daemon_stop
check exit-0 test "$MS_RC" -eq 0

# Outside Kubernetes: a policy file in a plain directory, replaced the way
# editors do.
cp "$E2E_TMP/a.yaml" "$E2E_TMP/plain.yaml"
rc=0
ip netns exec "$NS_H" "$MS_BIN" -i veth0 -p "$E2E_TMP/plain.yaml" --watch \
	--api-socket none --state-dir none -f /dev/null 2>"$E2E_TMP/plain.err" &
pid=$!
E2E_PIDS+=("$pid")
if wait_for 15 grep -q 'running on' "$E2E_TMP/plain.err"; then
	check plain-dir-watched grep -q "watching $E2E_TMP for changes of plain.yaml" "$E2E_TMP/plain.err"
	# An editor's way: write a new file, rename it over the old one.
	cp "$E2E_TMP/b.yaml" "$E2E_TMP/plain.yaml.new"
	mv "$E2E_TMP/plain.yaml.new" "$E2E_TMP/plain.yaml"
	check plain-rename-reloads wait_for 5 grep -q "policy reloaded: $E2E_TMP/plain.yaml, 2 rules" \
		"$E2E_TMP/plain.err"
	check plain-rename-applies tcp_ok "$NS_P" "$HOST4" 8081
	kill -TERM "$pid"
	wait "$pid"
	rc=$?
	check plain-exit-0 test "$rc" -eq 0
else
	fail plain-start "$(tail -n 3 "$E2E_TMP/plain.err")"
fi
e2e_finish
