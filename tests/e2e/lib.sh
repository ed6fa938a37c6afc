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
# timeout. Traffic comes from tests/e2e/net.py (no ping, nc or socat
# needed): raw-socket ICMP echo, and TCP/UDP echo clients and servers.
#
# Each test case prints "PASS: name" or "FAIL: name: why" through the
# helpers of tests/lib/testlib.sh (pass, fail, check, check_not), which
# tests/run.sh counts; e2e_finish exits non-zero if any case failed.
#
# Tests run in parallel (tests/run.sh): whatever a test names beyond what
# this file makes (another namespace, a cgroup, an abstract socket) carries
# $E2E_ID, and a port it listens on is inside its own namespaces.

set -u

E2E_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$E2E_ROOT/tests/lib/testlib.sh"
MS_BIN=${MS_BIN:-$E2E_ROOT/bin/microsegd}
E2E_NAME=$(basename "$0" .sh)
E2E_NAME=${E2E_NAME#test_}
E2E_TMP=$(mktemp -d "/tmp/ms-e2e-$E2E_NAME.XXXXXX")
E2E_ID=$(printf '%s-%x' "${E2E_NAME:0:8}" $$)
NS_H=msh-$E2E_ID
NS_P=msp-$E2E_ID
E2E_NETNS=()
E2E_PIDS=()
# E2E_FAILED=1 is the older way to fail a test: still honoured.
E2E_FAILED=0
MS_PID=
MS_RC=
MS_LOG=$E2E_TMP/daemon.log
MS_FLOWS=$E2E_TMP/flows.jsonl
# Every agent of a test has its own API socket and state directory, never
# the system's defaults.
MS_API=$E2E_TMP/api.sock
MS_STATE=$E2E_TMP/state
NETPY=$E2E_ROOT/tests/e2e/net.py

HOST4=198.18.0.1
PEER4=198.18.0.2
HOST6=2001:db8::1
PEER6=2001:db8::2

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

e2e_failed() { t_failed || [ "$E2E_FAILED" -ne 0 ]; }

e2e_finish() {
	! e2e_failed
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
	if e2e_failed || [ "$rc" -ne 0 ]; then
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
