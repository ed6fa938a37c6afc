#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
# Exit statuses (0 success, 1 invalid policy, 2 bad usage, 3 system error),
# each failure with a reason on stderr; --help, --version and --check.
. "$(dirname "$0")/lib.sh"

e2e_setup
GOOD=$E2E_TMP/good.yaml
BAD=$E2E_TMP/bad.yaml
fixture no-telnet.yaml "$GOOD"
cat >"$BAD" <<'YAML'
version: 1
default: allow
rules:
  - name: r
    action: allow
    ports: [tcp/70000]
YAML

# run_ms EXPECTED_STATUS STDERR_REGEX ARGS...: run microsegd in the host
# namespace; the status must match and stderr's last line match the regex.
run_ms() {
	local want=$1 re=$2 rc
	shift 2
	timeout 20 ip netns exec "$NS_H" "$MS_BIN" --api-socket "$MS_API" --state-dir "$MS_STATE" \
		"$@" >"$E2E_TMP/out" 2>"$E2E_TMP/err" </dev/null
	rc=$?
	if [ "$rc" -ne "$want" ]; then
		echo "  exit status $rc, expected $want; stderr:" && sed 's/^/    /' "$E2E_TMP/err"
		return 1
	fi
	if [ -n "$re" ] && ! tail -n 1 "$E2E_TMP/err" | grep -Eq -- "$re"; then
		echo "  stderr does not match '$re':" && sed 's/^/    /' "$E2E_TMP/err"
		return 1
	fi
}

check usage-unknown-option run_ms 2 "unknown option '--bogus'" --bogus
check usage-unknown-short run_ms 2 "unknown option '-z'" -z
check usage-missing-argument run_ms 2 "needs an argument" -p "$GOOD" --interface
check usage-bad-mode run_ms 2 "invalid mode 'audit'" -m audit -p "$GOOD"
check usage-bad-log-level run_ms 2 "invalid log level" -l loud -p "$GOOD"
check usage-bad-stats-interval run_ms 2 "invalid stats interval" -s -1 -p "$GOOD"
check usage-bad-ringbuf run_ms 2 "invalid ring buffer size" --ringbuf-size 5000 -p "$GOOD"
check usage-bad-session-max run_ms 2 "invalid session table size" --session-max 0 -p "$GOOD"
check usage-extra-argument run_ms 2 "unexpected argument 'eth0'" -p "$GOOD" eth0
check usage-one-line test "$(wc -l <"$E2E_TMP/err")" -eq 1

check policy-invalid run_ms 1 "cannot start" -i veth0 -p "$BAD"
check policy-invalid-position grep -Eq "^ERROR: $BAD:6:[0-9]+: error: " "$E2E_TMP/err"
check policy-missing run_ms 1 "cannot start" -i veth0 -p "$E2E_TMP/missing.yaml"
check policy-missing-reason grep -q "missing.yaml: cannot open" "$E2E_TMP/err"

check system-no-such-interface run_ms 3 "no such interface: nosuch0" -p "$GOOD" -i veth0 -i nosuch0
# The interface attached before the failure is cleaned up.
check_not system-no-leftover-filter bash -c "ip netns exec $NS_H tc filter show dev veth0 ingress | grep -q bpf"
check_not system-no-leftover-qdisc bash -c "ip netns exec $NS_H tc qdisc show dev veth0 | grep -q clsact"
# Also with --keep-attached and a bpffs: a start that fails with nothing of
# an earlier agent's to keep enforcing leaves no filter and no pin.
mkdir -p "$E2E_TMP/bpf"
if mount -t bpf bpf "$E2E_TMP/bpf"; then
	check system-keep-attached-no-such-interface run_ms 3 "no such interface: nosuch0" -p "$GOOD" \
		-i veth0 -i nosuch0 --keep-attached --pin-dir "$E2E_TMP/bpf/microsegd"
	check system-failed-start-no-pin test -z "$(find "$E2E_TMP/bpf" -mindepth 1 ! -name '*.debug')"
	check_not system-failed-start-no-filter bash -c "ip netns exec $NS_H tc filter show dev veth0 ingress | grep -q bpf"
	umount -l "$E2E_TMP/bpf"
else
	fail system-failed-start-bpffs "cannot mount a bpffs"
fi
check system-flow-log run_ms 3 "cannot open the flow log" -p "$GOOD" -i veth0 -f /nonexistent/dir/flows
if command -v setpriv >/dev/null; then
	chmod 755 "$E2E_TMP" # for nobody to read the policy
	timeout 20 ip netns exec "$NS_H" setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
		"$MS_BIN" -p "$GOOD" -i lo -f - --api-socket "$MS_API" --state-dir "$MS_STATE" \
		</dev/null >/dev/null 2>"$E2E_TMP/err"
	rc=$?
	check system-unprivileged-exit-3 test "$rc" -eq 3
	check system-unprivileged-reason grep -q "permission denied (needs root or CAP_BPF" "$E2E_TMP/err"
fi

check help-exit-0 run_ms 0 "" --help
for word in --interface --policy --log-level --stats-interval --flow-log --mode --check \
	--session-max --ringbuf-size --version --help SIGHUP SIGTERM SIGINT SIGUSR1 'Exit status'; do
	check "help-documents-${word#--}" grep -q -- "$word" "$E2E_TMP/out"
done
check version run_ms 0 "" --version
check version-text grep -Eq '^microsegd [0-9]+\.[0-9]+' "$E2E_TMP/out"
check check-valid run_ms 0 "" --check -p "$GOOD"
check check-valid-summary grep -q 'policy OK' "$E2E_TMP/out"
check check-invalid run_ms 1 "$BAD:6:" -n -p "$BAD"
e2e_finish
