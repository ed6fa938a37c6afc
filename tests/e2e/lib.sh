# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#
# Shared helpers of the end-to-end tests, sourced by tests/e2e/test_*.sh.
#
# e2e_setup creates two network namespaces of the test's own, a "host" where
# bin/microsegd runs (veth0: 198.18.0.1/24, 2001:db8::1/64) and a "peer"
# (veth1: 198.18.0.2/24, 2001:db8::2/64), joined by a veth pair. Names carry
# the test's name and PID, so tests never collide, and an EXIT trap removes
# everything the test made, also when it fails or is interrupted. Every wait
# is bounded; every traffic helper sends a bounded number of packets with a
# timeout. Traffic comes from a small python3 helper (no ping, nc or socat
# needed): raw-socket ICMP echo, and TCP/UDP echo clients and servers.
#
# Each test case prints "PASS: name" or "FAIL: name: why" (tests/run.sh
# counts them); e2e_finish exits non-zero if any case failed.

set -u

E2E_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MS_BIN=${MS_BIN:-$E2E_ROOT/bin/microsegd}
E2E_NAME=$(basename "$0" .sh)
E2E_NAME=${E2E_NAME#test_}
E2E_TMP=$(mktemp -d "/tmp/ms-e2e-$E2E_NAME.XXXXXX")
E2E_ID=$(printf '%s-%x' "${E2E_NAME:0:8}" $$)
NS_H=msh-$E2E_ID
NS_P=msp-$E2E_ID
E2E_NETNS=()
E2E_PIDS=()
E2E_FAILED=0
MS_PID=
MS_RC=
MS_LOG=$E2E_TMP/daemon.log
MS_FLOWS=$E2E_TMP/flows.jsonl
# Every agent of a test has its own API socket and state directory, never
# the system's defaults.
MS_API=$E2E_TMP/api.sock
MS_STATE=$E2E_TMP/state
NETPY=$E2E_TMP/net.py

HOST4=198.18.0.1
PEER4=198.18.0.2
HOST6=2001:db8::1
PEER6=2001:db8::2

pass() { echo "PASS: $1"; }
fail() {
	echo "FAIL: $1${2:+: $2}"
	E2E_FAILED=1
}

# check NAME CMD...: the case passes if CMD succeeds.
check() {
	local name=$1
	shift
	if "$@"; then pass "$name"; else fail "$name" "$*"; fi
}

# check_not NAME CMD...: the case passes if CMD fails.
check_not() {
	local name=$1
	shift
	if "$@"; then fail "$name" "unexpectedly succeeded: $*"; else pass "$name"; fi
}

# eventually SECONDS CMD...: CMD succeeds within about SECONDS (tried every
# 0.2 s), for what the agent shows as of its last sweep (once a second).
eventually() {
	local n=$(($1 * 5))
	shift
	while ! "$@" 2>/dev/null; do
		n=$((n - 1))
		[ "$n" -gt 0 ] || return 1
		sleep 0.2
	done
}

e2e_finish() {
	[ "$E2E_FAILED" -eq 0 ]
	exit $?
}

e2e_cleanup() {
	local rc=$?
	local p ns
	trap - EXIT INT TERM
	if [ -n "$MS_PID" ] && kill -0 "$MS_PID" 2>/dev/null; then
		kill -TERM "$MS_PID" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$MS_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$MS_PID" 2>/dev/null
	fi
	for p in "${E2E_PIDS[@]}"; do
		kill -KILL "$p" 2>/dev/null
	done
	wait 2>/dev/null
	for ns in "${E2E_NETNS[@]}"; do
		ip netns del "$ns" 2>/dev/null
	done
	if [ "$E2E_FAILED" -ne 0 ] || [ "$rc" -ne 0 ]; then
		if [ -s "$MS_LOG" ]; then
			echo "--- daemon log (last 40 lines)"
			tail -n 40 "$MS_LOG"
		fi
		if [ -s "$MS_FLOWS" ]; then
			echo "--- flow log (last 20 lines)"
			tail -n 20 "$MS_FLOWS"
		fi
	fi
	rm -rf "$E2E_TMP"
	exit "$rc"
}
trap e2e_cleanup EXIT
trap 'exit 130' INT TERM

e2e_require_root() {
	if [ "$(id -u)" -ne 0 ]; then
		fail "$E2E_NAME" "needs root (network namespaces, BPF)"
		exit 1
	fi
	if [ ! -x "$MS_BIN" ]; then
		fail "$E2E_NAME" "$MS_BIN not built (make)"
		exit 1
	fi
}

# ns_h CMD... / ns_p CMD...: run CMD in the host / peer namespace.
ns_h() { ip netns exec "$NS_H" "$@"; }
ns_p() { ip netns exec "$NS_P" "$@"; }

# bg_in NS CMD...: run CMD in NS in the background, killed at cleanup.
bg_in() {
	ip netns exec "$1" "${@:2}" &
	E2E_PIDS+=($!)
}

# wait_for SECONDS CMD...: poll CMD every 0.1 s until it succeeds.
wait_for() {
	local n=$(($1 * 10))
	shift
	while [ "$n" -gt 0 ]; do
		"$@" 2>/dev/null && return 0
		sleep 0.1
		n=$((n - 1))
	done
	return 1
}

e2e_netns_add() {
	ip netns add "$1" || return 1
	E2E_NETNS+=("$1")
	ip -n "$1" link set lo up
}

# e2e_link NS_A IF_A ADDR4_A ADDR6_A NS_B IF_B ADDR4_B ADDR6_B: a veth pair.
e2e_link() {
	ip -n "$1" link add "$2" type veth peer name "$6" netns "$5" || return 1
	ip -n "$1" addr add "$3/24" dev "$2" &&
		ip -n "$1" addr add "$4/64" dev "$2" nodad &&
		ip -n "$5" addr add "$7/24" dev "$6" &&
		ip -n "$5" addr add "$8/64" dev "$6" nodad &&
		ip -n "$1" link set "$2" up &&
		ip -n "$5" link set "$6" up
}

e2e_setup() {
	e2e_require_root
	write_netpy
	e2e_netns_add "$NS_H" && e2e_netns_add "$NS_P" &&
		e2e_link "$NS_H" veth0 "$HOST4" "$HOST6" "$NS_P" veth1 "$PEER4" "$PEER6" || {
		fail "$E2E_NAME-setup" "cannot create namespaces and veth pair"
		exit 1
	}
}

# daemon_start POLICY [ARGS...]: run microsegd on veth0 in the host namespace
# and wait until it is running. Returns 1 if it exited instead.
daemon_start() {
	local policy=$1
	shift
	: >"$MS_LOG"
	ip netns exec "$NS_H" "$MS_BIN" -i veth0 -p "$policy" -f "$MS_FLOWS" -s 1 \
		--api-socket "$MS_API" --state-dir "$MS_STATE" "$@" 2>>"$MS_LOG" &
	MS_PID=$!
	MS_RC=
	if ! wait_for 15 grep -q 'running on' "$MS_LOG"; then
		if ! kill -0 "$MS_PID" 2>/dev/null; then
			wait "$MS_PID"
			MS_RC=$?
			MS_PID=
		fi
		return 1
	fi
}

daemon_alive() { [ -n "$MS_PID" ] && kill -0 "$MS_PID" 2>/dev/null; }

# daemon_stop [SIGNAL]: stop the daemon, wait at most 10 s; MS_RC = its status.
daemon_stop() {
	local sig=${1:-TERM}
	[ -n "$MS_PID" ] || return 1
	kill "-$sig" "$MS_PID" 2>/dev/null
	if ! wait_for 10 bash -c "! kill -0 $MS_PID"; then
		kill -KILL "$MS_PID" 2>/dev/null
	fi
	wait "$MS_PID"
	MS_RC=$?
	MS_PID=
	return 0
}

# log_wait SECONDS PATTERN: wait for an extended regex in the daemon log.
log_wait() { wait_for "$1" grep -Eq -- "$2" "$MS_LOG"; }

# log_count PATTERN: lines of the daemon log matching an extended regex.
log_count() { grep -Ec -- "$1" "$MS_LOG"; }

# flow_wait SECONDS PYEXPR: wait for a flow-log line for which the python
# expression (over the parsed object `e`) is true.
flow_wait() { wait_for "$1" flow_has "$2"; }
flow_has() { python3 "$NETPY" flows "$MS_FLOWS" "$1"; }

# Start an echo server in a namespace: serve NS PROTO/PORT... (tcp/8080 udp/53).
# It listens on every address, IPv4 and IPv6, and dies after 150 s at most.
serve() {
	local ns=$1 ready
	shift
	ready=$E2E_TMP/ready.$RANDOM
	ip netns exec "$ns" python3 "$NETPY" serve "$ready" "$@" >>"$E2E_TMP/serve.log" 2>&1 &
	E2E_PIDS+=($!)
	wait_for 10 test -e "$ready"
}

# tcp_ok NS ADDR PORT: connect, send, get the echo back (1 s timeout).
tcp_ok() { ip netns exec "$1" python3 "$NETPY" tcp "$2" "$3"; }
# udp_ok NS ADDR PORT: 2 datagrams at most, 0.5 s each, for an echo.
udp_ok() { ip netns exec "$1" python3 "$NETPY" udp "$2" "$3"; }
# ping_ok NS ADDR: 2 ICMP echo requests at most, 0.5 s each.
ping_ok() { ip netns exec "$1" python3 "$NETPY" ping "$2"; }

write_netpy() {
	cat >"$NETPY" <<'PYEOF'
import json, os, random, select, socket, struct, sys, time

def serve(ready, specs):
    deadline = time.monotonic() + 150
    listeners = {}
    for spec in specs:
        proto, port = spec.split('/')
        kind = socket.SOCK_STREAM if proto == 'tcp' else socket.SOCK_DGRAM
        s = socket.socket(socket.AF_INET6, kind)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        s.bind(('::', int(port)))
        if proto == 'tcp':
            s.listen(64)
        listeners[s] = proto
    conns = set()
    open(ready, 'w').close()
    while time.monotonic() < deadline:
        r, _, _ = select.select(list(listeners) + list(conns), [], [], 1)
        for s in r:
            if s in conns:
                try:
                    data = s.recv(4096)
                except OSError:
                    data = b''
                if data:
                    try:
                        s.sendall(data)
                    except OSError:
                        pass
                else:
                    conns.discard(s)
                    s.close()
            elif listeners[s] == 'tcp':
                c, _ = s.accept()
                conns.add(c)
            else:
                data, addr = s.recvfrom(4096)
                s.sendto(data, addr)

def family(addr):
    return socket.AF_INET6 if ':' in addr else socket.AF_INET

def tcp(addr, port):
    msg = b'hello %d\n' % random.randrange(1 << 30)
    try:
        s = socket.create_connection((addr, int(port)), timeout=1)
        s.sendall(msg)
        got = b''
        while len(got) < len(msg):
            d = s.recv(4096)
            if not d:
                break
            got += d
        s.close()
        return got == msg
    except OSError:
        return False

def udp(addr, port):
    s = socket.socket(family(addr), socket.SOCK_DGRAM)
    s.settimeout(0.5)
    msg = b'hello %d' % random.randrange(1 << 30)
    for _ in range(2):
        try:
            s.sendto(msg, (addr, int(port)))
            d, _ = s.recvfrom(4096)
            if d == msg:
                return True
        except OSError:
            pass
    return False

def csum(b):
    if len(b) % 2:
        b += b'\0'
    t = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    t = (t >> 16) + (t & 0xffff)
    t += t >> 16
    return ~t & 0xffff

def ping(addr):
    v6 = ':' in addr
    s = socket.socket(family(addr), socket.SOCK_RAW,
                      socket.IPPROTO_ICMPV6 if v6 else socket.IPPROTO_ICMP)
    ident = random.randrange(1, 65535)
    for seq in range(1, 3):
        payload = b'microsegd-e2e'
        if v6:  # the kernel fills in the ICMPv6 checksum
            pkt = struct.pack('!BBHHH', 128, 0, 0, ident, seq) + payload
        else:
            hdr = struct.pack('!BBHHH', 8, 0, 0, ident, seq)
            c = csum(hdr + payload)
            pkt = struct.pack('!BBHHH', 8, 0, c, ident, seq) + payload
        s.sendto(pkt, (addr, 0))
        end = time.monotonic() + 0.5
        while True:
            left = end - time.monotonic()
            if left <= 0:
                break
            r, _, _ = select.select([s], [], [], left)
            if not r:
                break
            d, _ = s.recvfrom(4096)
            if not v6:
                d = d[(d[0] & 0xf) * 4:]
            if len(d) >= 8:
                t, _, _, i, _ = struct.unpack('!BBHHH', d[:8])
                if t == (129 if v6 else 0) and i == ident:
                    return True
    return False

def hold(addr, port, trigger, result):
    """An established connection that outlives a reload: one echo before,
    one after the trigger file appears."""
    out = open(result, 'w', buffering=1)
    try:
        s = socket.create_connection((addr, int(port)), timeout=2)
        s.sendall(b'one\n')
        out.write('first %s\n' % ('ok' if s.recv(16) == b'one\n' else 'bad'))
    except OSError as e:
        out.write('first error %s\n' % e)
        return
    end = time.monotonic() + 30
    while not os.path.exists(trigger) and time.monotonic() < end:
        time.sleep(0.05)
    try:
        s.settimeout(3)
        s.sendall(b'two\n')
        out.write('second %s\n' % ('ok' if s.recv(16) == b'two\n' else 'bad'))
    except socket.timeout:
        out.write('second timeout\n')
    except OSError as e:
        out.write('second error %s\n' % e)

def flows(path, expr):
    try:
        lines = open(path).read().splitlines()
    except OSError:
        return False
    for line in lines:
        try:
            if eval(expr, {}, {'e': json.loads(line)}):
                return True
        except (KeyError, ValueError, TypeError):
            pass
    return False

cmd, args = sys.argv[1], sys.argv[2:]
if cmd == 'serve':
    serve(args[0], args[1:])
elif cmd == 'hold':
    hold(*args)
else:
    sys.exit(0 if {'tcp': tcp, 'udp': udp, 'ping': ping, 'flows': flows}[cmd](*args) else 1)
PYEOF
}
