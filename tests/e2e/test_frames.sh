#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
# Frames crafted on the link, as any sender with CAP_NET_RAW makes them
# (tests/e2e/frames.py), against the agent on veth0:
#  - VLAN stacks (priority tags, 802.1Q and 802.1ad) of every depth the
#    kernel delivers and deeper: a denied port never answers, an allowed one
#    does, a stack past the parser is dropped and counted unclassifiable
#    (stats line, /v1/status, /metrics, microsegctl status, a warning);
#  - IPv6 packets from and to IPv4-mapped addresses meet IPv6 rules only;
#  - ICMP and ICMPv6: one allowed type (an error with a garbage quote) opens
#    no other type, in neither direction.
. "$(dirname "$0")/lib.sh"

FR=$E2E_ROOT/tests/e2e/frames.py
CTL=${MS_CTL:-$E2E_ROOT/bin/microsegctl}
e2e_setup
HMAC=$(ip -n "$NS_H" -br link show veth0 | awk '{print $3}')
PMAC=$(ip -n "$NS_P" -br link show veth1 | awk '{print $3}')
ip -n "$NS_H" neigh replace "$PEER4" lladdr "$PMAC" dev veth0
ip -n "$NS_H" neigh replace "$PEER6" lladdr "$PMAC" dev veth0
ip -n "$NS_P" neigh replace "$HOST4" lladdr "$HMAC" dev veth1
ip -n "$NS_P" neigh replace "$HOST6" lladdr "$HMAC" dev veth1

cat >"$E2E_TMP/policy.yaml" <<'EOF'
version: 1
default: deny
rules:
  - name: web
    action: allow
    direction: ingress
    ports: [tcp/8080, udp/5353]
  - name: v4-peers
    action: allow
    direction: ingress
    from: {cidr: [198.18.0.0/24]}
    ports: [udp/5354]
  - name: mapped-peers
    action: allow
    direction: ingress
    from: {cidr: ["::ffff:198.18.0.0/120"]}
    ports: [udp/5355]
  - name: unreachable-in
    action: allow
    direction: ingress
    ports: [icmp/3, icmpv6/1]
  - name: v4-out
    action: allow
    direction: egress
    to: {cidr: [198.18.0.0/24]}
    ports: [udp/6000]
EOF
serve "$NS_H" tcp/8080 tcp/9090 udp/5353 udp/9091
RECV=$E2E_TMP/received
bg_in "$NS_H" python3 "$FR" listen "$RECV" udp:5354 udp:5355 udp:5356 icmp icmpv6
PRECV=$E2E_TMP/peer-received
bg_in "$NS_P" python3 "$FR" listen "$PRECV" icmp icmpv6
SNIFF=$E2E_TMP/sniffed
bg_in "$NS_P" python3 "$FR" sniff veth1 "$SNIFF" 6000
wait_for 10 test -e "$RECV.ready" && wait_for 10 test -e "$PRECV.ready" &&
	wait_for 10 test -e "$SNIFF.ready" || {
	fail frames-setup "listeners did not start"
	exit 1
}
daemon_start "$E2E_TMP/policy.yaml" || {
	fail frames-start "agent did not start"
	exit 1
}

# probe KIND SRC DST PORT [ARGS...]: a crafted frame from the peer; 0 if
# the host answered it.
probe() { ns_p timeout 10 python3 "$FR" probe veth1 "$HMAC" "$@"; }
counter() {
	"$CTL" --socket "$MS_API" status --json 2>/dev/null |
		python3 -c "import json,sys; print(json.load(sys.stdin)['counters']['$1'])"
}

# --- VLAN stacks. The kernel (6.x) hands priority-tagged packets to IP up
# to 8 tags deep here; the parser follows 8 in the frame after the one the
# kernel moves into skb->vlan_tci, so 9.
bad=
for d in 0 1 2 3 4 5 6 7 8; do
	probe tcp "$PEER4" "$HOST4" 8080 --tags "$d" || bad="$bad tcp4/$d"
	probe tcp "$PEER6" "$HOST6" 8080 --tags "$d" || bad="$bad tcp6/$d"
done
check "vlan-allowed-port-answers-at-every-delivered-depth" test -z "$bad"
[ -z "$bad" ] || echo "  not answered:$bad"
bad=
for d in 1 2 3 4 5 6 7 8 9 10 12 16; do
	probe tcp "$PEER4" "$HOST4" 9090 --tags "$d" && bad="$bad tcp4/$d"
	probe tcp "$PEER6" "$HOST6" 9090 --tags "$d" && bad="$bad tcp6/$d"
	probe udp "$PEER4" "$HOST4" 9091 --tags "$d" --wait 0.5 && bad="$bad udp4/$d"
	probe udp "$PEER6" "$HOST6" 9091 --tags "$d" --tpid 0x88a8 --wait 0.5 && bad="$bad udp6/$d"
done
check "vlan-denied-port-silent-at-every-depth" test -z "$bad"
[ -z "$bad" ] || echo "  answered:$bad"
# Delivery itself, whatever becomes of an answer: datagrams to a denied
# port where the host records what its sockets get.
send_p() { ns_p timeout 5 python3 "$FR" send veth1 "$HMAC" "$@"; }
for d in 1 2 3 4 5 6 7 8 9 10 12 16; do
	send_p udp "$PEER4" "$HOST4" 5356 --tags "$d"
	send_p udp "$PEER6" "$HOST6" 5356 --tags "$d"
done
sleep 1
check_not "vlan-denied-port-never-delivered" grep -q " 5356 " "$RECV"

before=$(counter unclassifiable)
n=0
for d in 10 11 16 24; do
	probe udp "$PEER4" "$HOST4" 5353 --tags "$d" --wait 0.3
	probe tcp "$PEER6" "$HOST6" 8080 --tags "$d" --wait 0.3
	n=$((n + 2))
done
after=$(counter unclassifiable)
check "vlan-past-the-parser-counted-unclassifiable" test "$((after - before))" -ge "$n"
check "vlan-unclassifiable-in-malformed" test "$(counter malformed)" -ge "$after"
check "vlan-unclassifiable-in-metrics" eventually 5 bash -c \
	"curl -s --max-time 2 --unix-socket '$MS_API' http://localhost/metrics |
	 grep -Eq '^microsegd_unclassifiable_frames_total [1-9]'"
check "vlan-unclassifiable-in-ctl-status" bash -c \
	"'$CTL' --socket '$MS_API' status | grep -Eq 'unclassifiable [1-9]'"
check "vlan-unclassifiable-on-stats-line" log_wait 5 'stats: .* unclassifiable=[1-9]'
check "vlan-unclassifiable-warned" log_wait 15 'frames the classifier could not follow'

# --- IPv4-mapped IPv6 sources: an IPv4 rule never lets them in, an IPv6
# rule over ::ffff:198.18.0.0/120 does.
send_p udp "::ffff:$PEER4" "$HOST6" 5354 --ipv6
send_p udp "::ffff:$PEER4" "$HOST6" 5355 --ipv6
send_p udp "$PEER4" "$HOST4" 5354
send_p udp "$PEER4" "$HOST4" 5355
sleep 1
check "mapped-source-ipv4-control-arrives" grep -qx "udp4 5354 $PEER4" "$RECV"
check "mapped-source-ipv6-rule-lets-it-in" grep -qx "udp6 5355 ::ffff:$PEER4" "$RECV"
check_not "mapped-source-not-decided-by-ipv4-rule" grep -qx "udp6 5354 ::ffff:$PEER4" "$RECV"
check_not "ipv4-not-decided-by-mapped-ipv6-rule" grep -qx "udp4 5355 $PEER4" "$RECV"
# Destinations, at egress: the host's IPv6 frame to ::ffff:198.18.0.2 is not
# let out by the rule for 198.18.0.0/24.
send_h() { ns_h timeout 5 python3 "$FR" send veth0 "$PMAC" "$@"; }
send_h udp "$HOST4" "$PEER4" 6000
send_h udp "$HOST6" "::ffff:$PEER4" 6000 --ipv6
sleep 1
check "mapped-destination-ipv4-control-leaves" grep -q "udp 6000 $HOST4 $PEER4" "$SNIFF"
check_not "mapped-destination-not-decided-by-ipv4-rule" grep -q "::ffff:$PEER4" "$SNIFF"

# --- ICMP types. The allowed error (garbage quote) passes; then nothing
# else between the pair does, either way.
icmp_p() { ns_p timeout 5 python3 "$FR" icmp "$@"; }
icmp_h() { ns_h timeout 5 python3 "$FR" icmp "$@"; }
icmp_p "$PEER4" "$HOST4" 3 3
icmp_p "$PEER6" "$HOST6" 1 4
sleep 0.5
check "icmp-allowed-error-passes" grep -qx "icmp 3 $PEER4" "$RECV"
check "icmpv6-allowed-error-passes" grep -qx "icmp 1 $PEER6" "$RECV"
check_not "icmp-timestamp-after-allowed-error-unanswered" probe icmp:13 "$PEER4" "$HOST4" 77
icmp_p "$PEER4" "$HOST4" 11
icmp_p "$PEER4" "$HOST4" 5 1
icmp_p "$PEER6" "$HOST6" 3
icmp_p "$PEER6" "$HOST6" 2
icmp_h "$HOST4" "$PEER4" 3 3
icmp_h "$HOST4" "$PEER4" 14
icmp_h "$HOST6" "$PEER6" 1 4
icmp_h "$HOST6" "$PEER6" 4
sleep 1
check_not "icmp-other-types-stay-denied-in" grep -Eq "^icmp (11|13|5) $PEER4\$" "$RECV"
check_not "icmpv6-other-types-stay-denied-in" grep -Eq "^icmp (2|3) $PEER6\$" "$RECV"
check_not "icmp-nothing-back-to-the-peer" grep -Eq "^icmp (3|14) $HOST4\$" "$PRECV"
check_not "icmpv6-nothing-back-to-the-peer" grep -Eq "^icmp (1|4) $HOST6\$" "$PRECV"
icmp_p "$PEER4" "$HOST4" 3 1
sleep 0.5
check "icmp-allowed-error-still-passes" test "$(grep -cx "icmp 3 $PEER4" "$RECV")" -ge 2
check "daemon-alive" daemon_alive
[ "$E2E_FAILED" -eq 0 ] || cat "$RECV" "$PRECV" "$SNIFF" | sed "s/^/  received: /"
e2e_finish
