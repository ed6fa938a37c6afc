#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
# microsegd against nftables on real packets: random seeded policies, each
# enforced by microsegd and then by an equivalent nftables ruleset on the
# same namespace pair, with the same probes (TCP, UDP, ICMP, v4 and v6,
# both directions, CIDR and range edges, reversed tuples after a denial, a
# reload between two packets; frames crafted on the peer's link: random
# VLAN tag depths, IPv6 from IPv4-mapped sources, ICMP queries after an
# ICMP message of a random type). Every outcome must be equal.
#   NFTDIFF_SEED=N reproduces a run; NFTDIFF_POLICIES=N changes its size.
. "$(dirname "$0")/lib.sh"

for tool in nft conntrack; do
	command -v "$tool" >/dev/null || {
		fail nftdiff-tools "$tool not installed (scripts/install-deps.sh)"
		exit 1
	}
done
e2e_setup
# Addresses on both sides of the CIDR edges the generated policies use.
for a in 198.18.0.200/24; do ip -n "$NS_H" addr add "$a" dev veth0; done
for a in 2001:db8::ffff/64; do ip -n "$NS_H" addr add "$a" dev veth0 nodad; done
for a in 198.18.0.63/24 198.18.0.64/24 198.18.0.127/24 198.18.0.128/24; do
	ip -n "$NS_P" addr add "$a" dev veth1
done
for a in 2001:db8::7f/64 2001:db8::80/64 2001:db8::1:0:0:1/64; do
	ip -n "$NS_P" addr add "$a" dev veth1 nodad
done
# Neighbours resolved up front, so the first probes of a run do not pay for
# ARP and neighbour discovery inside their timeout.
for a in 198.18.0.2 198.18.0.63 198.18.0.64 198.18.0.127 198.18.0.128; do
	ns_h ping -c 1 -W 1 -q "$a" >/dev/null 2>&1
done
for a in 2001:db8::2 2001:db8::7f 2001:db8::80 2001:db8::1:0:0:1; do
	ns_h ping -c 1 -W 1 -q "$a" >/dev/null 2>&1
done

timeout 400 python3 "$E2E_ROOT/tests/e2e/nftdiff.py" --host "$NS_H" --peer "$NS_P" \
	--bin "$MS_BIN" --tmp "$E2E_TMP" --seed "${NFTDIFF_SEED:-$(($(date +%s) % 100000))}" \
	--policies "${NFTDIFF_POLICIES:-8}" >"$E2E_TMP/nftdiff.out" 2>&1
rc=$?
# An agent the driver could not stop (it was killed, say) goes now: what
# still runs in this test's own host namespace is this test's.
ip netns pids "$NS_H" 2>/dev/null | xargs -r kill -TERM 2>/dev/null
wait_for 5 test -z "$(ip netns pids "$NS_H" 2>/dev/null)" ||
	ip netns pids "$NS_H" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
cat "$E2E_TMP/nftdiff.out"
[ "$rc" -eq 0 ] || fail nftdiff "exit $rc"
e2e_finish
