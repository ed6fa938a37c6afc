#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
# Several --interface options; SIGTERM and SIGINT leave no filter and no
# qdisc of microsegd behind, but keep a clsact qdisc that existed before;
# flows still open at shutdown are reported as flow_end.
. "$(dirname "$0")/lib.sh"

e2e_setup
NS_Q=msq-$E2E_ID
e2e_netns_add "$NS_Q" &&
	e2e_link "$NS_H" veth2 198.18.1.1 2001:db8:1::1 "$NS_Q" veth3 198.18.1.2 2001:db8:1::2 ||
	{ fail setup-second-link; exit 1; }
fixture web-8080.yaml "$E2E_TMP/policy.yaml"

has_filter() { ns_h tc filter show dev "$1" "$2" | grep -q 'bpf'; }
has_clsact() { ns_h tc qdisc show dev "$1" | grep -q clsact; }

# veth2 has a clsact qdisc of someone else's before microsegd starts.
ns_h tc qdisc add dev veth2 clsact
serve "$NS_H" tcp/8080 tcp/9090

daemon_start "$E2E_TMP/policy.yaml" -i veth2 || { fail daemon-start "exit $MS_RC"; exit 1; }
check two-interfaces-logged test "$(log_count 'attached to veth')" -eq 2
for dev in veth0 veth2; do
	for dir in ingress egress; do
		check "filter-$dev-$dir" has_filter "$dev" "$dir"
	done
done
check enforced-on-veth0 test "$(tcp_ok "$NS_P" "$HOST4" 9090; echo $?)" -ne 0
check enforced-on-veth2 test "$(tcp_ok "$NS_Q" 198.18.1.1 9090; echo $?)" -ne 0
check allowed-on-veth2 tcp_ok "$NS_Q" 2001:db8:1::1 8080
check interface-name-in-flow-log flow_wait 3 "e['interface'] == 'veth2' and e['dport'] == 9090"
# Where the default --pin-dir would put this agent's state (pin_dir/netns-
# INODE): nothing, for the host's /sys/fs/bpf is not this namespace's. Only
# this agent's path is looked at: others may run beside this test.
check no-bpffs-pins test ! -e "/sys/fs/bpf/microsegd/netns-$(stat -L -c %i "/run/netns/$NS_H")"

# An open connection at shutdown is reported, with its counts.
bg_in "$NS_P" python3 "$NETPY" hold "$HOST4" 8080 "$E2E_TMP/never" "$E2E_TMP/hold"
wait_for 5 grep -q 'first ok' "$E2E_TMP/hold"
daemon_stop TERM
check sigterm-exit-0 test "$MS_RC" -eq 0
check open-flow-ended flow_has \
	"e['event'] == 'flow_end' and e['dport'] == 8080 and e['src'] == '$PEER4' and e['packets'] >= 4 and e['bytes'] > 0"
for dev in veth0 veth2; do
	for dir in ingress egress; do
		check_not "no-filter-after-term-$dev-$dir" has_filter "$dev" "$dir"
	done
done
check_not qdisc-removed-veth0 has_clsact veth0
check preexisting-qdisc-kept has_clsact veth2
check traffic-passes-after-exit tcp_ok "$NS_P" "$HOST4" 9090

# SIGINT is a clean shutdown too.
daemon_start "$E2E_TMP/policy.yaml" || { fail daemon-start-2 "exit $MS_RC"; exit 1; }
check filter-before-int has_filter veth0 ingress
daemon_stop INT
check sigint-exit-0 test "$MS_RC" -eq 0
check_not no-filter-after-int has_filter veth0 ingress
check_not no-qdisc-after-int has_clsact veth0
e2e_finish
