#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#
# microsegd in one minute: two network namespaces joined by a veth pair,
# microsegd enforcing policies/default.yaml on the "host" side, and traffic
# from the "peer" that the policy allows and denies, then the web console
# on http://127.0.0.1:9595/ until you press Enter. Run as root from the
# source tree (`make demo`). Everything it creates is removed on exit or
# Ctrl-C; it touches no interface outside its own namespaces (the console
# comes out of the host namespace through scripts/netns-forward.py).
#
# DEMO_WAIT=SECONDS keeps the console up that long without asking (0: do not
# wait; the default is to wait for Enter when run from a terminal);
# DEMO_SCREENSHOT=FILE.png saves a picture of the console's Map (`make
# screenshot` makes docs/console-map.png so).
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${MS_BIN:-$ROOT/bin/microsegd}
CTL=${MS_CTL:-$ROOT/bin/microsegctl}
POLICY=${MS_POLICY:-$ROOT/policies/default.yaml}
HOST_NS=msdemo-host-$$
PEER_NS=msdemo-peer-$$
HOST4=198.18.0.1 PEER4=198.18.0.2 STRANGER4=198.18.0.7
HOST6=2001:db8::1 PEER6=2001:db8::2
TMP=$(mktemp -d /tmp/microsegd-demo.XXXXXX)
FLOWS=$TMP/flows.jsonl
DLOG=$TMP/microsegd.log
API=$TMP/api.sock
WEB_PORT=${DEMO_WEB_PORT:-9595}
MS_PID=
SRV_PID=
FWD_PID=
TRAFFIC_PID=

if [ -t 1 ]; then
	B=$'\e[1m' G=$'\e[32m' R=$'\e[31m' D=$'\e[2m' N=$'\e[0m'
else
	B= G= R= D= N=
fi

cleanup() {
	trap - EXIT INT TERM
	[ -n "$MS_PID" ] && kill -TERM "$MS_PID" 2>/dev/null
	for _ in $(seq 30); do
		[ -n "$MS_PID" ] && kill -0 "$MS_PID" 2>/dev/null || break
		sleep 0.1
	done
	[ -n "$MS_PID" ] && kill -KILL "$MS_PID" 2>/dev/null
	[ -n "$SRV_PID" ] && kill -KILL "$SRV_PID" 2>/dev/null
	[ -n "$FWD_PID" ] && kill -KILL "$FWD_PID" 2>/dev/null
	[ -n "$TRAFFIC_PID" ] && kill -KILL "$TRAFFIC_PID" 2>/dev/null
	wait 2>/dev/null
	ip netns del "$HOST_NS" 2>/dev/null
	ip netns del "$PEER_NS" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'echo; echo "interrupted, cleaning up"; exit 130' INT TERM

die() {
	echo "demo: $*" >&2
	exit 1
}

[ "$(id -u)" -eq 0 ] || die "run as root (network namespaces and BPF): sudo make demo"
[ -x "$BIN" ] || die "$BIN not built: run make"
[ -x "$CTL" ] || die "$CTL not built: run make"
[ -r "$POLICY" ] || die "no policy at $POLICY"
command -v python3 >/dev/null || die "python3 is needed for the traffic (scripts/install-deps.sh)"

step() { printf '\n%s== %s%s\n' "$B" "$*" "$N"; }

step "1. Two namespaces: $HOST_NS ($HOST4, $HOST6) <-veth-> $PEER_NS ($PEER4, $PEER6)"
ip netns add "$HOST_NS" && ip netns add "$PEER_NS" || die "cannot create namespaces"
ip -n "$HOST_NS" link set lo up
ip -n "$PEER_NS" link set lo up
ip -n "$HOST_NS" link add veth0 type veth peer name veth1 netns "$PEER_NS" || die "cannot create veth pair"
ip -n "$HOST_NS" addr add "$HOST4/24" dev veth0
ip -n "$HOST_NS" addr add "$HOST6/64" dev veth0 nodad
ip -n "$PEER_NS" addr add "$PEER4/24" dev veth1
# A second address on the peer's side that the policy does not know: a
# stranger, shown by its address on the map.
ip -n "$PEER_NS" addr add "$STRANGER4/24" dev veth1
ip -n "$PEER_NS" addr add "$PEER6/64" dev veth1 nodad
ip -n "$HOST_NS" link set veth0 up
ip -n "$PEER_NS" link set veth1 up

# Services on the host: TCP echo on 8080 (allowed), 8443 (allowed, logged)
# and 9090 (denied). Bounded lifetime in case cleanup never runs.
ip netns exec "$HOST_NS" python3 -c '
import select, socket, time
end = time.monotonic() + 3600
ls = []
for port in (8080, 8081, 8443, 9090):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", port)); s.listen(16); ls.append(s)
while time.monotonic() < end:
    for s in select.select(ls, [], [], 1)[0]:
        c, _ = s.accept(); c.settimeout(1)
        try: c.sendall(c.recv(64))
        except OSError: pass
        c.close()' >/dev/null 2>&1 &
SRV_PID=$!
echo "   listeners on the host: tcp/8080, tcp/8081, tcp/8443, tcp/9090"

step "2. microsegd on veth0 in $HOST_NS, policy $(basename "$POLICY")"
echo "   ${D}ip netns exec $HOST_NS $BIN -i veth0 -p $POLICY -f $FLOWS --stats-interval 2 --api-socket $API --state-dir $TMP/state --web 127.0.0.1:9595${N}"
# A copy: step 6 replaces it with the suggested policy.
cp "$POLICY" "$TMP/policy.yaml"
ip netns exec "$HOST_NS" "$BIN" -i veth0 -p "$TMP/policy.yaml" -f "$FLOWS" --stats-interval 2 \
	--api-socket "$API" --state-dir "$TMP/state" --web 127.0.0.1:9595 2>"$DLOG" &
MS_PID=$!
for _ in $(seq 100); do
	grep -q 'running on' "$DLOG" 2>/dev/null && break
	kill -0 "$MS_PID" 2>/dev/null || break
	sleep 0.1
done
if ! grep -q 'running on' "$DLOG"; then
	cat "$DLOG" >&2
	MS_PID=
	die "microsegd did not start"
fi
sed 's/^/   /' "$DLOG"

# Traffic from the peer, each attempt bounded: 2 echo requests or one
# connection, 1 s timeout.
ping_peer() { # ADDR
	if command -v ping >/dev/null; then
		ip netns exec "$PEER_NS" ping -c 2 -W 1 -q "$1" >/dev/null 2>&1
	else
		ip netns exec "$PEER_NS" python3 -c '
import random, select, socket, struct, sys, time
a = sys.argv[1]; v6 = ":" in a
s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_RAW,
                  socket.IPPROTO_ICMPV6 if v6 else socket.IPPROTO_ICMP)
i = random.randrange(1, 65535)
def ck(b):
    t = sum(struct.unpack("!%dH" % (len(b) // 2), b)); t = (t >> 16) + (t & 0xffff)
    return ~(t + (t >> 16)) & 0xffff
for seq in (1, 2):
    h = struct.pack("!BBHHH", 128 if v6 else 8, 0, 0, i, seq) + b"demo"
    if not v6: h = h[:2] + struct.pack("!H", ck(h)) + h[4:]
    s.sendto(h, (a, 0)); end = time.monotonic() + 1
    while select.select([s], [], [], max(0, end - time.monotonic()))[0]:
        d = s.recv(512); d = d if v6 else d[(d[0] & 15) * 4:]
        if d[0] == (129 if v6 else 0) and struct.unpack("!H", d[4:6])[0] == i: sys.exit(0)
sys.exit(1)' "$1"
	fi
}
tcp_from() { # NS SRC ADDR PORT: one connection and an echo, 1 s timeout
	ip netns exec "$1" python3 -c '
import socket, sys
try:
    src = (sys.argv[1], 0) if sys.argv[1] else None
    s = socket.create_connection((sys.argv[2], int(sys.argv[3])), timeout=1, source_address=src)
    s.sendall(b"hi"); sys.exit(0 if s.recv(8) == b"hi" else 1)
except OSError:
    sys.exit(1)' "$2" "$3" "$4"
}
tcp_peer() { tcp_from "$PEER_NS" "" "$1" "$2"; }          # ADDR PORT
tcp_stranger() { tcp_from "$PEER_NS" "$STRANGER4" "$1" "$2"; } # ADDR PORT
tcp_host() { tcp_from "$HOST_NS" "" "$1" "$2"; }          # ADDR PORT: egress

passed=0 blocked=0
try() { # EXPECT(pass|block) LABEL CMD...
	local expect=$1 label=$2 got
	shift 2
	if "$@"; then got=pass; else got=block; fi
	if [ "$got" = pass ]; then
		printf '   %-50s %sPASSED%s' "$label" "$G" "$N"
		passed=$((passed + 1))
	else
		printf '   %-50s %sBLOCKED%s' "$label" "$R" "$N"
		blocked=$((blocked + 1))
	fi
	[ "$got" = "$expect" ] && echo "   (as the policy says)" || echo "   (unexpected!)"
}

step "3. Traffic from the peer"
try pass "ping $HOST4" ping_peer "$HOST4"
try pass "ping $HOST6" ping_peer "$HOST6"
try pass "tcp $HOST4:8080  (rule peer-to-web)" tcp_peer "$HOST4" 8080
try pass "tcp [$HOST6]:8080" tcp_peer "$HOST6" 8080
try pass "tcp $HOST4:8443  (rule peer-to-web-tls, log)" tcp_peer "$HOST4" 8443
try block "tcp $HOST4:9090  (rule no-metrics)" tcp_peer "$HOST4" 9090
try block "tcp [$HOST6]:9090" tcp_peer "$HOST6" 9090
try block "tcp $HOST4:22    (default deny)" tcp_peer "$HOST4" 22
try block "tcp $HOST4:8080 from $STRANGER4 (default deny)" tcp_stranger "$HOST4" 8080
try block "tcp $HOST4:22 from $STRANGER4   (default deny)" tcp_stranger "$HOST4" 22
try block "tcp $PEER4:5432 from the host (egress, default deny)" tcp_host "$PEER4" 5432
echo "   $passed passed, $blocked blocked"

step "4. A stats line (every 2 s) and the per-rule report (SIGUSR1)"
for _ in $(seq 40); do
	grep -q 'stats:.*new_flows=[1-9]' "$DLOG" && break
	sleep 0.1
done
sleep 2.1
grep 'stats:' "$DLOG" | tail -n 1 | sed 's/^/   /'
kill -USR1 "$MS_PID"
sleep 0.5
grep -E 'rule hits: rule|sessions: [0-9]+ of' "$DLOG" | sed 's/^/   /'

step "5. What the agent saw: microsegctl status, and the flow graph as a table"
echo "   ${D}microsegctl --socket $API status${N}"
"$CTL" --socket "$API" status | sed 's/^/   /'
echo
echo "   ${D}microsegctl --socket $API graph${N}"
"$CTL" --socket "$API" graph | sed 's/^/   /'

step "6. Learn a least-privilege policy from what passed, preview it, enforce it"
echo "   ${D}microsegctl suggest > suggested.yaml${N}"
"$CTL" --socket "$API" suggest >"$TMP/suggested.yaml"
grep -E '^ *(- name|from|to|ports):' "$TMP/suggested.yaml" | sed 's/^/   /'
echo "   ${D}microsegctl replay -p suggested.yaml --fail-on-new-deny flows.jsonl${N}"
"$CTL" replay -p "$TMP/suggested.yaml" --fail-on-new-deny "$FLOWS" | sed 's/^/   /'
cp "$TMP/suggested.yaml" "$TMP/policy.yaml"
echo "   ${D}microsegctl reload${N}"
"$CTL" --socket "$API" reload | sed 's/^/   /'
passed=0 blocked=0
try pass "tcp $HOST4:8080  (seen, allowed)" tcp_peer "$HOST4" 8080
try pass "tcp $HOST4:8443  (seen, allowed)" tcp_peer "$HOST4" 8443
try pass "ping $HOST6      (seen, allowed)" ping_peer "$HOST6"
try block "tcp $HOST4:9090  (seen denied, stays denied)" tcp_peer "$HOST4" 9090
try block "tcp $HOST4:8081  (never seen)" tcp_peer "$HOST4" 8081

step "7. The web console: the map of this traffic, the live flows, the policy, suggestions"
# The console is served by the agent inside $HOST_NS; a small forwarder
# brings it to this machine's 127.0.0.1 (a free port if $WEB_PORT is taken).
FWD_OUT=$TMP/forward.port
python3 "$ROOT/scripts/netns-forward.py" "$HOST_NS" 127.0.0.1 "$WEB_PORT" 127.0.0.1 9595 3600 \
	>"$FWD_OUT" 2>"$TMP/forward.log" &
FWD_PID=$!
for _ in $(seq 50); do [ -s "$FWD_OUT" ] && break; sleep 0.1; done
if [ ! -s "$FWD_OUT" ]; then
	python3 "$ROOT/scripts/netns-forward.py" "$HOST_NS" 127.0.0.1 0 127.0.0.1 9595 3600 \
		>"$FWD_OUT" 2>"$TMP/forward.log" &
	FWD_PID=$!
	for _ in $(seq 50); do [ -s "$FWD_OUT" ] && break; sleep 0.1; done
fi
URL="http://127.0.0.1:$(head -n 1 "$FWD_OUT")/"
[ -s "$FWD_OUT" ] || { cat "$TMP/forward.log" >&2; die "cannot forward the console"; }
echo "   ${B}Open $URL${N} in a browser on this machine"
echo "   (from elsewhere: ssh -L 9595:127.0.0.1:$(head -n 1 "$FWD_OUT") this-host, then http://127.0.0.1:9595/)"
echo "   Map: peer -> host green where allowed, red where denied; the stranger $STRANGER4 in red."
# Traffic keeps coming while the console is open: bounded, one round every
# 2 s for at most the hour the forwarder lives.
(
	for _ in $(seq 1800); do
		tcp_peer "$HOST4" 8080 || true
		tcp_peer "$HOST4" 9090 || true
		tcp_stranger "$HOST4" 22 || true
		sleep 2
	done
) >/dev/null 2>&1 &
TRAFFIC_PID=$!
if [ -n "${DEMO_SCREENSHOT:-}" ]; then
	/usr/bin/python3 "$ROOT/scripts/console-screenshot.py" "$URL" "$DEMO_SCREENSHOT" ||
		die "could not take the screenshot (chromium, chromium-driver, python3-selenium: scripts/install-deps.sh)"
	echo "   screenshot of the Map: $DEMO_SCREENSHOT"
fi
if [ -n "${DEMO_WAIT:-}" ]; then
	[ "$DEMO_WAIT" -gt 0 ] 2>/dev/null && { echo "   (open for $DEMO_WAIT s)"; sleep "$DEMO_WAIT"; }
elif [ -t 0 ]; then
	read -r -p "   Press Enter to stop the demo. " _
fi
kill -KILL "$TRAFFIC_PID" 2>/dev/null
wait "$TRAFFIC_PID" 2>/dev/null
TRAFFIC_PID=

step "8. Shut down (SIGTERM): open flows are reported, nothing stays attached"
kill -TERM "$MS_PID"
for _ in $(seq 50); do kill -0 "$MS_PID" 2>/dev/null || break; sleep 0.1; done
wait "$MS_PID" 2>/dev/null
echo "   microsegd exited with status $?"
MS_PID=
tail -n 2 "$DLOG" | sed 's/^/   /'
printf '   tc filters left on veth0: %s\n' \
	"$(ip netns exec "$HOST_NS" tc filter show dev veth0 ingress | grep -c bpf)"

step "9. The flow log ($(wc -l <"$FLOWS") JSON lines)"
# The link-local chatter (IPv6 multicast listener reports) is left out here.
grep -v '"ff02::' "$FLOWS" | python3 -c '
import json, sys
for line in sys.stdin:
    e = json.loads(line)
    dst = "[%s]" % e["dst"] if ":" in e["dst"] else e["dst"]
    where = "%s:%s" % (dst, e["dport"]) if "dport" in e else "%s type %s" % (dst, e.get("icmp_type"))
    print("   %-12s %-6s rule=%-16s %-6s %s -> %s%s" % (e["event"], e["verdict"], e["rule"],
          e["proto"], e["src"], where,
          "  packets=%d bytes=%d" % (e["packets"], e["bytes"]) if "packets" in e else ""))'
echo
echo "   one line in full:"
grep '"flow_deny"' "$FLOWS" | grep -v '"ff02::' | head -n 1 | sed 's/^/   /'
echo
step "10. The same map offline, from the flow log (how a fleet-wide map is made)"
echo "   ${D}microsegctl graph --from $FLOWS${N}"
"$CTL" graph --from "$FLOWS" | sed 's/^/   /'
echo
echo "${B}Done.${N} Try it yourself: README.md, microsegd --help, man/microsegd.8, man/microsegctl.8"
