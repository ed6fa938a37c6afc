#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
# Fragmented datagrams are policed whole: a 3000-byte UDP datagram (three
# IPv4 or IPv6 fragments on a 1500-byte MTU) to an allowed port arrives and
# its fragmented echo comes back; to a denied port nothing arrives, though
# the later fragments carry no port, and the stats count them as dropped.
. "$(dirname "$0")/lib.sh"

e2e_setup
cat >"$E2E_TMP/policy.yaml" <<'YAML'
version: 1
default: deny
rules:
  - name: dns
    action: allow
    direction: ingress
    ports: [udp/53]
YAML
# big NS ADDR PORT: a 3000-byte datagram, echoed whole within 1 s.
big() {
	ip netns exec "$1" python3 -c '
import socket, sys
a, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1)
msg = bytes(range(256)) * 11 + b"x" * 184
try:
    s.sendto(msg, (a, port))
    sys.exit(0 if s.recvfrom(8192)[0] == msg else 1)
except OSError:
    sys.exit(1)' "$2" "$3"
}
frag_dropped() {
	local n
	n=$(grep -o 'fragments_dropped=[0-9]*' "$MS_LOG" | tail -n 1 | cut -d= -f2)
	[ "${n:-0}" -ge "$1" ]
}

serve "$NS_H" udp/53 udp/54 || { fail serve; exit 1; }
# Without enforcement the big datagrams arrive: the test can see a drop.
check big-v4-without-agent big "$NS_P" "$HOST4" 54
check big-v6-without-agent big "$NS_P" "$HOST6" 54

daemon_start "$E2E_TMP/policy.yaml" --pin-dir none || { fail daemon-start "exit $MS_RC"; exit 1; }
check big-v4-allowed big "$NS_P" "$HOST4" 53
check big-v6-allowed big "$NS_P" "$HOST6" 53
check_not big-v4-denied big "$NS_P" "$HOST4" 54
check_not big-v6-denied big "$NS_P" "$HOST6" 54
check small-allowed udp_ok "$NS_P" "$HOST4" 53
check fragments-dropped-counted wait_for 3 frag_dropped 4
check denied-logged flow_wait 3 "e['event'] == 'flow_deny' and e['dport'] == 54"
check agent-alive daemon_alive
e2e_finish
