#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
# Discovery and interface globs (README, "Containers") with namespaces
# standing in for containers, each behind its own veth in the host
# namespace, attached by the glob 'veth*': a "db" container listening on
# tcp/5432 and a "web" one on tcp/8080 are discovered with their roles and
# addresses; a policy that names no address lets web reach db:5432 and
# denies the reverse; a container started later is attached, labelled and
# enforced without a restart; deleting it releases its interface and its
# workload. The host namespace routes between the containers.
# run-alone: a container must be discovered within 2.5 s of its veth appearing
. "$(dirname "$0")/lib.sh"

API="$E2E_ROOT/tests/e2e/api.py"
CTL=${MS_CTL:-$E2E_ROOT/bin/microsegctl}
ctl() { "$CTL" --socket "$MS_API" "$@"; }
e2e_setup
NS_DB=msd-db-$E2E_ID
NS_WEB=msd-web-$E2E_ID
NS_APP=msd-app-$E2E_ID
DB4=198.18.5.2 DB6=2001:db8:5::2
WEB4=198.18.6.2
APP4=198.18.7.2

# container NS VETH NET: a namespace behind veth VETH of the host, with
# 198.18.NET.2 and 2001:db8:NET::2, routed through the host.
container() {
	e2e_netns_add "$1" &&
		e2e_link "$NS_H" "$2" "198.18.$3.1" "2001:db8:$3::1" "$1" eth0 "198.18.$3.2" "2001:db8:$3::2" &&
		ip -n "$1" route add default via "198.18.$3.1" &&
		ip -n "$1" -6 route add default via "2001:db8:$3::1"
}
ns_h sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1

cat >"$E2E_TMP/policy.yaml" <<'YAML'
version: 1
default: deny
discovery: true
host: {labels: {env: prod, loc: eu-west}}
rules:
  # No address anywhere: the workloads are whatever discovery finds.
  - name: web-to-db
    action: allow
    from: {labels: {role: web}}
    to: {labels: {role: db}}
    ports: [tcp/5432]
YAML
check check-labels-only bash -c "'$MS_BIN' --check -p '$E2E_TMP/policy.yaml' >/dev/null 2>&1"

# The db container is there before the agent; the others come later.
container "$NS_DB" vethdb 5 && serve "$NS_DB" tcp/5432 || {
	fail setup-db "cannot make the db container"
	exit 1
}
daemon_start "$E2E_TMP/policy.yaml" -i 'veth*' || {
	fail daemon-start "exit $MS_RC: $(tail -5 "$MS_LOG")"
	exit 1
}
# workload_is NAME EXPR: /v1/workloads has NAME, and EXPR (w = it) holds.
workload_is() {
	python3 "$API" req "$MS_API" GET /v1/workloads >"$E2E_TMP/wl" 2>/dev/null &&
		python3 "$API" json "$E2E_TMP/wl" "any(w['name']=='$1' and ($2) for w in j['workloads'])"
}
no_workload() {
	python3 "$API" req "$MS_API" GET /v1/workloads >"$E2E_TMP/wl" 2>/dev/null &&
		python3 "$API" json "$E2E_TMP/wl" "all(w['name']!='$1' for w in j['workloads'])"
}
status_ifaces() {
	python3 "$API" req "$MS_API" GET /v1/status >"$E2E_TMP/st" 2>/dev/null &&
		python3 "$API" json "$E2E_TMP/st" "sorted(j['interfaces'])==sorted($1)"
}

check glob-attached-at-start status_ifaces "['veth0','vethdb']"
# This host itself: its addresses, named by its host name, no netns label.
check host-discovered bash -c "python3 '$API' req '$MS_API' GET /v1/workloads 2>/dev/null >'$E2E_TMP/wlh' && python3 '$API' json '$E2E_TMP/wlh' \"any(w['source']=='discovery' and '$HOST4/32' in w['addresses'] and 'netns' not in w['labels'] for w in j['workloads'])\""
# The peer behind veth0 is a namespace too: discovered, with no listener.
check peer-discovered workload_is "$NS_P" "w['source']=='discovery' and '$PEER4/32' in w['addresses'] and 'role' not in w['labels']"
check db-discovered workload_is "$NS_DB" "w['source']=='discovery' and w['labels'].get('role')=='db' and w['labels'].get('netns')=='$NS_DB' and w['labels'].get('app')=='python3' and '$DB4/32' in w['addresses'] and '$DB6/128' in w['addresses'] and w['listeners'][0]['port']==5432"
check host-labels-given workload_is "$NS_DB" "w['labels'].get('env')=='prod' and w['labels'].get('loc')=='eu-west'"
check no-link-local-address workload_is "$NS_DB" "not any(a.startswith('fe80') for a in w['addresses'])"

# web appears while the agent runs: attached by the glob, discovered.
e2e_netns_add "$NS_WEB" && serve "$NS_WEB" tcp/8080
t0=$(date +%s%N)
ip -n "$NS_H" link add vethweb type veth peer name eth0 netns "$NS_WEB"
ip -n "$NS_H" addr add 198.18.6.1/24 dev vethweb
ip -n "$NS_H" addr add 2001:db8:6::1/64 dev vethweb nodad
ip -n "$NS_WEB" addr add "$WEB4/24" dev eth0
ip -n "$NS_WEB" addr add 2001:db8:6::2/64 dev eth0 nodad
ip -n "$NS_H" link set vethweb up
ip -n "$NS_WEB" link set eth0 up
ip -n "$NS_WEB" route add default via 198.18.6.1
ip -n "$NS_WEB" -6 route add default via 2001:db8:6::1
if wait_for 5 workload_is "$NS_WEB" "w['labels'].get('role')=='web' and '$WEB4/32' in w['addresses']"; then
	t1=$(date +%s%N)
	pass web-discovered-while-running
	echo "  web discovered $(((t1 - t0) / 1000000)) ms after its veth appeared"
	# Within about a second: the link event, then at most one refresh.
	check web-discovered-promptly test $(((t1 - t0) / 1000000)) -lt 2500
else
	fail web-discovered-while-running "$(cat "$E2E_TMP/wl")"
fi
check glob-attached-new status_ifaces "['veth0','vethdb','vethweb']"
check attach-logged log_wait 3 "vethweb matches 'veth\*': attached"
check reload-by-discovery log_wait 3 'policy reloaded by discovery: .*generation [2-9].*[0-9]+ discovered workloads'

# A policy that names no address: web -> db:5432 passes, db -> web does not.
check web-to-db-allowed tcp_ok "$NS_WEB" "$DB4" 5432
check web-to-db-v6-allowed tcp_ok "$NS_WEB" "$DB6" 5432
check_not db-to-web-denied tcp_ok "$NS_DB" "$WEB4" 8080
check_not peer-to-db-denied tcp_ok "$NS_P" "$DB4" 5432
check deny-names-workloads flow_wait 3 "e['event']=='flow_deny' and e['src_workload']=='$NS_DB' and e['dst_workload']=='$NS_WEB' and e['dport']==8080"
check allow-names-rule flow_wait 15 "e['event']=='flow_end' and e['rule']=='web-to-db' and e['src_workload']=='$NS_WEB' and e['dst_workload']=='$NS_DB'"

# A third container later: attached, labelled (8080: web) and enforced
# without a restart.
container "$NS_APP" vethapp 7 && serve "$NS_APP" tcp/8080
check app-discovered wait_for 5 workload_is "$NS_APP" "w['labels'].get('role')=='web' and '$APP4/32' in w['addresses']"
check app-to-db-allowed wait_for 3 tcp_ok "$NS_APP" "$DB4" 5432
check_not db-to-app-denied tcp_ok "$NS_DB" "$APP4" 8080
check ctl-status-lists-it bash -c "'$CTL' --socket '$MS_API' status | grep -q vethapp"
check ctl-workloads-lists-it bash -c "'$CTL' --socket '$MS_API' workloads | grep -q '$NS_APP'"
check metrics-discovered bash -c "python3 '$API' req '$MS_API' GET /metrics 2>/dev/null | grep -q '^microsegd_discovered_workloads 5$'"

# The container stops (its processes end, its namespace goes, and with it
# the veth): the interface is released and its workload goes too.
ip netns pids "$NS_APP" | xargs -r kill -KILL
ip netns del "$NS_APP"
check released-logged log_wait 5 'vethapp went away: released'
check app-workload-gone wait_for 5 no_workload "$NS_APP"
check iface-gone status_ifaces "['veth0','vethdb','vethweb']"
check still-enforcing tcp_ok "$NS_WEB" "$DB4" 5432
check_not still-denying tcp_ok "$NS_DB" "$WEB4" 8080
check agent-alive daemon_alive

daemon_stop
check clean-exit test "$MS_RC" -eq 0
check nothing-left bash -c "! ip netns exec $NS_H tc filter show dev vethweb ingress | grep -q bpf"
e2e_finish
