#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
"""Generate one random, realistic rule set of N rules and write it three ways.

    gen_rules.py -n 1000 -s 1 -o DIR

writes
    DIR/policy.yaml    a microsegd policy (passes `microsegd --check`)
    DIR/nft.conf       the same rules for nftables, as a user would write them:
                       an inet table, input and output chains with
                       `ct state established,related accept` first, then the
                       rules as lookups in concatenated interval sets
                       (saddr . daddr . dport, one set per shape and verdict)
    DIR/iptables.v4    the same rules for iptables-restore, linear: conntrack
    DIR/iptables.v6    ESTABLISHED,RELATED first, then one rule per
                       (source, destination, port group), in priority order
    DIR/summary.json   counts: rules, workloads, nft elements, iptables lines

The rule set: workloads are /32 hosts (a few per service) and /24-/28
subnets in 198.18.0.0/15, a third of them also with IPv6 addresses in
2001:db8::/32, carrying app/tier/env labels. Rules go from workload (or a
label group, or a CIDR around some workloads) to workload on single ports or
small port ranges of common services; a few leave `from` or `to` out (any);
a few are denies with priority 10; a few are `log`. The last rule, priority
1000, allows the benchmark's own traffic (the client namespace's
198.19.255.0/24 to the server 198.19.255.2, TCP ports 5201-5203), so every
benchmark flow is decided by the last rule: iptables walks the whole list for
every new connection. No other rule matches benchmark traffic (the generated
addresses never touch 198.19.255.0/24 or 2001:db8:ffff::/48). Default deny.

The same seed always gives the same rule set.
"""

import argparse
import bisect
import ipaddress
import json
import os
import random
import sys

V4_SPACE = ipaddress.ip_network("198.18.0.0/15")
# Workloads live in the first 3/4 of the space, "external" networks (offices,
# partners, VPN pools) that rules name by CIDR in the rest.
V4_WORKLOADS = [ipaddress.ip_network("198.18.0.0/16"), ipaddress.ip_network("198.19.0.0/17")]
V4_EXTERNAL = ipaddress.ip_network("198.19.128.0/17")
BENCH_V4 = ipaddress.ip_network("198.19.255.0/24")
BENCH_V6 = ipaddress.ip_network("2001:db8:ffff::/64")
BENCH_SERVER4 = ipaddress.ip_address("198.19.255.2")
BENCH_SERVER6 = ipaddress.ip_address("2001:db8:ffff::2")
BENCH_PORTS = (5201, 5203)

TIERS = ["web", "api", "app", "db", "cache", "worker", "lb", "queue"]
ENVS = ["prod", "prod", "prod", "staging", "dev"]

# (proto, low, high, weight): the destination ports of common services.
SERVICES = [
    ("tcp", 443, 443, 20), ("tcp", 80, 80, 8), ("tcp", 22, 22, 8),
    ("tcp", 5432, 5432, 6), ("tcp", 3306, 3306, 5), ("tcp", 6379, 6379, 5),
    ("tcp", 8080, 8080, 8), ("tcp", 8443, 8443, 3), ("tcp", 9000, 9000, 3),
    ("tcp", 9090, 9090, 2), ("tcp", 9100, 9100, 4), ("tcp", 27017, 27017, 2),
    ("tcp", 11211, 11211, 1), ("tcp", 5672, 5672, 2), ("tcp", 9092, 9092, 2),
    ("tcp", 2379, 2380, 1), ("tcp", 8000, 8099, 1), ("udp", 53, 53, 4),
    ("tcp", 53, 53, 1), ("udp", 123, 123, 1), ("udp", 514, 514, 1),
]
SERVICE_WEIGHTS = [s[3] for s in SERVICES]


def port_catalog(rng, n):
    """The organisation's own application ports and port ranges: rules reuse
    them, as services are reused; a few hundred of them for big rule sets."""
    singles = [("tcp", p, p) for p in rng.sample(range(1024, 49152), max(10, min(n // 100, 1000)))]
    ranges = []
    for _ in range(max(2, min(n // 1000, 100))):
        lo = rng.randrange(1024, 49000)
        ranges.append((rng.choice(["tcp", "tcp", "udp"]), lo, lo + rng.randrange(1, 16)))
    return singles, ranges


def pick_ports(rng, catalog):
    """1-3 port entries: mostly well-known services, some ports or small
    ranges of the organisation's applications."""
    out = []
    for _ in range(rng.choice([1, 1, 1, 1, 2, 2, 3])):
        r = rng.random()
        if r < 0.7:
            p = rng.choices(SERVICES, SERVICE_WEIGHTS)[0][:3]
        elif r < 0.93:
            p = rng.choice(catalog[0])
        else:
            p = rng.choice(catalog[1])
        if p not in out:
            out.append(p)
    return out


def port_str(p):
    proto, lo, hi = p
    return f"{proto}/{lo}" if lo == hi else f"{proto}/{lo}-{hi}"


class Workload:
    def __init__(self, name, labels):
        self.name = name
        self.labels = labels
        self.v4 = []  # ip_network
        self.v6 = []


def allocate(rng, n_work):
    """Workloads with non-overlapping v4 addresses (plus a few hosts inside
    other workloads' subnets, as a VIP inside a subnet), and v6 for a third."""
    kinds = rng.choices(
        ["hosts", 28, 27, 26, 25, 24], [62, 22, 7, 5, 3, 1], k=n_work)
    n_apps = max(2, n_work // 6)
    work = []
    for i in range(n_work):
        tier = rng.choice(TIERS)
        labels = {"app": f"app{rng.randrange(n_apps)}", "tier": tier,
                  "env": rng.choice(ENVS)}
        work.append(Workload(f"{labels['app']}-{tier}-{i}", labels))
    # Place the biggest blocks first so aligned allocation wastes nothing,
    # then shuffle where they live by walking the /24s in random order.
    order = sorted(range(n_work), key=lambda i: (
        0 if kinds[i] == "hosts" else -(1 << (32 - kinds[i]))))
    blocks = [b for n in V4_WORKLOADS for b in n.subnets(new_prefix=24)]
    rng.shuffle(blocks)
    bi, cur, end = 0, 0, 0   # current block: next free int, end int
    subnets = []
    for i in order:
        k = kinds[i]
        size = 1 if k == "hosts" else 1 << (32 - k)
        count = rng.choice([1, 1, 1, 2, 2, 3]) if k == "hosts" else 1
        for _ in range(count):
            if cur % size:
                cur += size - cur % size
            if cur + size > end:
                if bi == len(blocks):
                    break          # space exhausted: fewer addresses
                b = blocks[bi]
                bi += 1
                cur, end = int(b.network_address), int(b.broadcast_address) + 1
            plen = 32 if size == 1 else k
            net = ipaddress.ip_network((cur, plen))
            cur += size
            work[i].v4.append(net)
            if plen < 32:
                subnets.append(net)
    # A few hosts inside another workload's subnet: classes must split.
    for w in work:
        if w.v4 and w.v4[0].prefixlen == 32 \
                and subnets and rng.random() < 0.03:
            s = rng.choice(subnets)
            w.v4.append(ipaddress.ip_network((int(s.network_address) +
                                              rng.randrange(1, s.num_addresses - 1), 32)))
    for i, w in enumerate(work):
        if not w.v4:
            w.v4.append(ipaddress.ip_network((int(V4_SPACE.network_address) + i, 32)))
        if rng.random() < 0.33:
            base = 0x20010db8 << 96
            if kinds[i] == "hosts":
                for j in range(len(w.v4)):
                    w.v6.append(ipaddress.ip_network(
                        (base | (i << 64) | (j + 10), 128)))
            else:
                w.v6.append(ipaddress.ip_network((base | (i << 64), 64)))
    return work


class Rule:
    def __init__(self, name, action, prio, frm, to, ports):
        self.name, self.action, self.prio = name, action, prio
        self.frm, self.to, self.ports = frm, to, ports
        # resolved address lists (None = any)
        self.src = None
        self.dst = None


def sel_workload(w):
    return {"workload": w.name}, w.v4 + w.v6


def sel_workloads(ws):
    return {"workloads": [w.name for w in ws]}, [a for w in ws for a in w.v4 + w.v6]


def sel_labels(work, by_app_tier, rng):
    w = rng.choice(work)
    key = (w.labels["app"], w.labels["tier"])
    members = by_app_tier[key]
    return ({"labels": {"app": key[0], "tier": key[1]}},
            [a for m in members for a in m.v4 + m.v6])


def make_external(rng, k):
    """k networks outside every workload (offices, partners, VPN pools):
    /20-/29 in V4_EXTERNAL, some nested in others, never the bench /24."""
    out = []
    while len(out) < k:
        plen = rng.choice([20, 22, 23, 24, 24, 25, 26, 27, 28, 29])
        net = ipaddress.ip_network(
            (int(V4_EXTERNAL.network_address) + rng.randrange(V4_EXTERNAL.num_addresses), 32)
        ).supernet(new_prefix=plen)
        if not net.overlaps(BENCH_V4):
            out.append(net)
    return out


def sel_cidr(work, ext, rng):
    """Mostly external networks, sometimes minus a part; some supernets
    /24 around a workload, covering its neighbours too."""
    if rng.random() < 0.9:
        nets = rng.sample(ext, rng.choice([1, 1, 2]))
        sel = {"cidr": [str(n) for n in nets]}
        addrs = list(nets)
        n0 = nets[0]
        if len(nets) == 1 and n0.prefixlen <= 24 and rng.random() < 0.3:
            ex = rng.choice(list(n0.subnets(new_prefix=n0.prefixlen + 2)))
            sel["except"] = [str(ex)]
            addrs = list(n0.address_exclude(ex))
        return sel, addrs
    net = rng.choice(work).v4[0].supernet(new_prefix=24)
    return {"cidr": [str(net)]}, [net]


def gen_rules(rng, n, work):
    ext = make_external(rng, max(4, min(n // 50, 2000)))
    catalog = port_catalog(rng, n)
    by_app_tier = {}
    for w in work:
        by_app_tier.setdefault((w.labels["app"], w.labels["tier"]), []).append(w)
    rules = []
    # "A few" rules with an omitted side: microsegd stores them as wildcards,
    # but (any, d, p) x (s, any, p) pairs on one port need exact entries, so
    # thousands of each would multiply. Real policies have few of them.
    n_any = [0, 0]
    for i in range(n - 1):
        r = rng.random()
        if r < 0.05:
            action, prio = "deny", 10
        elif r < 0.06:
            action, prio = "log", 100
        else:
            action, prio = "allow", 100
        ports = pick_ports(rng, catalog)
        shape = rng.random()
        if shape < 0.04 and n_any[shape >= 0.02] >= 100:
            shape = 0.5
        if shape < 0.02:          # anyone to a public service
            n_any[0] += 1
            frm = None
            to = sel_workload(rng.choice(work))
            ports = [("tcp", 443, 443)] if rng.random() < 0.7 else [("tcp", 80, 80)]
        elif shape < 0.04:        # a workload to anywhere (egress)
            n_any[1] += 1
            frm = sel_workload(rng.choice(work))
            to = None
            ports = [rng.choice([("udp", 53, 53), ("tcp", 443, 443), ("udp", 123, 123)])]
        elif shape < 0.12:        # label groups
            frm = sel_labels(work, by_app_tier, rng)
            to = sel_labels(work, by_app_tier, rng)
        elif shape < 0.17:        # a network range to a workload
            frm = sel_cidr(work, ext, rng)
            to = sel_workload(rng.choice(work))
        elif shape < 0.19:        # a workload to a network range
            frm = sel_workload(rng.choice(work))
            to = sel_cidr(work, ext, rng)
        elif shape < 0.22:
            frm = sel_workloads(rng.sample(work, 2))
            to = sel_workload(rng.choice(work))
        else:
            frm = sel_workload(rng.choice(work))
            to = sel_workload(rng.choice(work))
        rule = Rule(f"r{i:06d}-{action}", action, prio,
                    frm[0] if frm else None, to[0] if to else None, ports)
        rule.src = frm[1] if frm else None
        rule.dst = to[1] if to else None
        rules.append(rule)
    bench = Rule("bench-traffic", "allow", 1000,
                 {"cidr": [str(BENCH_V4), str(BENCH_V6)]},
                 {"cidr": [str(BENCH_SERVER4), str(BENCH_SERVER6)]},
                 [("tcp", BENCH_PORTS[0], BENCH_PORTS[1])])
    bench.src = [BENCH_V4, BENCH_V6]
    bench.dst = [ipaddress.ip_network(BENCH_SERVER4), ipaddress.ip_network(BENCH_SERVER6)]
    rules.append(bench)
    return rules


def yq(s):
    """A YAML scalar: quote anything with ':' (IPv6)."""
    return f'"{s}"' if ":" in s else s


def flow_map(d):
    parts = []
    for k, v in d.items():
        if isinstance(v, list):
            parts.append(f"{k}: [{', '.join(yq(str(x)) for x in v)}]")
        elif isinstance(v, dict):
            parts.append(f"{k}: {{{', '.join(f'{a}: {b}' for a, b in v.items())}}}")
        else:
            parts.append(f"{k}: {v}")
    return "{" + ", ".join(parts) + "}"


def write_yaml(path, work, rules, n):
    with open(path, "w") as f:
        f.write(f"# Generated by tests/bench/gen_rules.py: {n} rules.\n")
        f.write("version: 1\nmode: enforce\ndefault: deny\n\nworkloads:\n")
        for w in work:
            f.write(f"  {w.name}:\n")
            f.write(f"    labels: {flow_map(w.labels)}\n")
            f.write(f"    addresses: [{', '.join(yq(str(a) if a.prefixlen not in (32, 128) else str(a.network_address)) for a in w.v4 + w.v6)}]\n")
        f.write("\nrules:\n")
        for r in rules:
            f.write(f"  - name: {r.name}\n    action: {r.action}\n")
            if r.prio != 100:
                f.write(f"    priority: {r.prio}\n")
            if r.frm is not None:
                f.write(f"    from: {flow_map(r.frm)}\n")
            if r.to is not None:
                f.write(f"    to: {flow_map(r.to)}\n")
            f.write(f"    ports: [{', '.join(port_str(p) for p in r.ports)}]\n")


def ordered(rules):
    return sorted(rules, key=lambda r: r.prio)  # stable: file order on ties


def split_family(addrs, v):
    if addrs is None:
        return None
    return [a for a in addrs if a.version == v]


def nft_port(p):
    return str(p[1]) if p[1] == p[2] else f"{p[1]}-{p[2]}"


def atomize(ranges):
    """Cut inclusive int ranges into disjoint pieces: returns a dict from each
    range to the list of pieces it is the union of."""
    cuts = sorted({lo for lo, _ in ranges} | {hi + 1 for _, hi in ranges})
    out = {}
    for lo, hi in ranges:
        i = bisect.bisect_left(cuts, lo)
        pieces = []
        while cuts[i] <= hi:
            pieces.append((cuts[i], cuts[i + 1] - 1))
            i += 1
        out[(lo, hi)] = pieces
    return out


def nft_addr(v, lo, hi):
    cls = ipaddress.IPv4Address if v == 4 else ipaddress.IPv6Address
    bits = 32 if v == 4 else 128
    size = hi - lo + 1
    if size & (size - 1) == 0 and lo % size == 0:
        plen = bits - (size.bit_length() - 1)
        return str(cls(lo)) if plen == bits else f"{cls(lo)}/{plen}"
    return f"{cls(lo)}-{cls(hi)}"


def write_nft(path, rules):
    """Rules become elements of concatenated interval sets, one set per
    (verdict group, family, protocol, shape); the chain holds one lookup per
    set, in priority order (deny sets, then log, then allow), then the
    benchmark rule last. Each verdict group holds rules of one priority, so
    this keeps first-match semantics.

    The kernel refuses overlapping elements in a concatenated interval set
    (a host inside a subnet, a /24 inside a /20, overlapping port ranges), so
    each field's ranges are cut into disjoint pieces and an element becomes
    the product of its pieces: what a user has to do by hand."""
    sets = {}      # key -> list of (src range|None, dst range|None, port range)
    order = []
    for r in ordered(rules[:-1]):
        group = {"deny": 0, "log": 1, "allow": 2}[r.action]
        for v in (4, 6):
            src = split_family(r.src, v)
            dst = split_family(r.dst, v)
            if (src is not None and not src) or (dst is not None and not dst):
                continue   # the rule has no address of this family
            shape = ("s" if src is not None else "") + ("d" if dst is not None else "")
            for p in r.ports:
                key = (group, v, p[0], shape)
                if key not in sets:
                    sets[key] = []
                    order.append(key)
                for s in (src or [None]):
                    for d in (dst or [None]):
                        sets[key].append((
                            None if s is None else (int(s.network_address), int(s.broadcast_address)),
                            None if d is None else (int(d.network_address), int(d.broadcast_address)),
                            (p[1], p[2])))
    elements = {}
    for key, elems in sets.items():
        v = key[1]
        atoms = [atomize({e[k] for e in elems if e[k] is not None}) for k in range(3)]
        out = set()
        for e in elems:
            fields = [[None] if e[k] is None else atoms[k][e[k]] for k in range(3)]
            for a in fields[0]:
                for b in fields[1]:
                    for c in fields[2]:
                        parts = [nft_addr(v, *x) for x in (a, b) if x is not None]
                        parts.append(str(c[0]) if c[0] == c[1] else f"{c[0]}-{c[1]}")
                        out.add(" . ".join(parts))
        elements[key] = out
    addr_t = {4: "ipv4_addr", 6: "ipv6_addr"}
    fam = {4: "ip", 6: "ip6"}
    verdict = {0: "drop", 1: 'log prefix "msb-log " accept', 2: "accept"}
    gname = {0: "deny", 1: "log", 2: "allow"}
    n_elem = 0
    with open(path, "w") as f:
        f.write("# Generated by tests/bench/gen_rules.py\n")
        f.write("table inet msbench {\n")
        for key in order:
            group, v, proto, shape = key
            name = f"{gname[group]}{v}_{proto}_{shape}"
            types = [addr_t[v]] * len(shape) + ["inet_service"]
            elems = sorted(elements[key])
            n_elem += len(elems)
            f.write(f"\tset {name} {{\n\t\ttype {' . '.join(types)}\n")
            f.write("\t\tflags interval\n\t\telements = {\n")
            for k in range(0, len(elems), 4):
                f.write("\t\t\t" + ", ".join(elems[k:k + 4]) + ",\n")
            f.write("\t\t}\n\t}\n")
        f.write("\tchain segments {\n")
        for key in order:
            group, v, proto, shape = key
            name = f"{gname[group]}{v}_{proto}_{shape}"
            sel = []
            if "s" in shape:
                sel.append(f"{fam[v]} saddr")
            if "d" in shape:
                sel.append(f"{fam[v]} daddr")
            sel.append(f"{proto} dport")
            f.write(f"\t\t{' . '.join(sel)} @{name} {verdict[group]}\n")
        f.write(f"\t\tip saddr {BENCH_V4} ip daddr {BENCH_SERVER4} tcp dport "
                f"{BENCH_PORTS[0]}-{BENCH_PORTS[1]} accept\n")
        f.write(f"\t\tip6 saddr {BENCH_V6} ip6 daddr {BENCH_SERVER6} tcp dport "
                f"{BENCH_PORTS[0]}-{BENCH_PORTS[1]} accept\n")
        f.write("\t}\n")
        for hook in ("input", "output"):
            f.write(f"\tchain {hook} {{\n\t\ttype filter hook {hook} priority filter; policy drop;\n")
            f.write("\t\tct state established,related accept\n")
            f.write("\t\tct state invalid drop\n")
            f.write(f"\t\t{'iif' if hook == 'input' else 'oif'} lo accept\n")
            f.write("\t\ticmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, "
                    "nd-router-solicit, nd-router-advert } accept\n")
            f.write("\t\tjump segments\n\t}\n")
        f.write("}\n")
    return n_elem


def write_iptables(path, rules, v):
    """Linear rules, as iptables users write them: one line per source x
    destination (multiport for several ports of one protocol)."""
    lines = 0
    bench_src = BENCH_V4 if v == 4 else BENCH_V6
    bench_dst = BENCH_SERVER4 if v == 4 else BENCH_SERVER6
    with open(path, "w") as f:
        f.write("# Generated by tests/bench/gen_rules.py\n*filter\n")
        f.write(":INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT DROP [0:0]\n:POLICY - [0:0]\n")
        for chain, lo in (("INPUT", "-i lo"), ("OUTPUT", "-o lo")):
            f.write(f"-A {chain} -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n")
            f.write(f"-A {chain} -m conntrack --ctstate INVALID -j DROP\n")
            f.write(f"-A {chain} {lo} -j ACCEPT\n")
            if v == 6:
                for t in ("neighbour-solicitation", "neighbour-advertisement",
                          "router-solicitation", "router-advertisement"):
                    f.write(f"-A {chain} -p ipv6-icmp --icmpv6-type {t} -j ACCEPT\n")
            f.write(f"-A {chain} -j POLICY\n")
        for r in ordered(rules[:-1]):
            src = split_family(r.src, v)
            dst = split_family(r.dst, v)
            if (src is not None and not src) or (dst is not None and not dst):
                continue
            by_proto = {}
            for p in r.ports:
                by_proto.setdefault(p[0], []).append(p)
            for proto, ps in by_proto.items():
                if len(ps) == 1:
                    pm = f"-p {proto} --dport {ps[0][1]}" + (
                        f":{ps[0][2]}" if ps[0][2] != ps[0][1] else "")
                else:
                    pm = f"-p {proto} -m multiport --dports " + ",".join(
                        str(p[1]) if p[1] == p[2] else f"{p[1]}:{p[2]}" for p in ps)
                target = {"allow": "-j ACCEPT", "deny": "-j DROP",
                          "log": "-j ACCEPT"}[r.action]
                for s in (src or [None]):
                    for d in (dst or [None]):
                        m = []
                        if s is not None:
                            m.append(f"-s {s}")
                        if d is not None:
                            m.append(f"-d {d}")
                        if r.action == "log":
                            f.write(f"-A POLICY {' '.join(m)} {pm} -j LOG --log-prefix msb-log\n")
                            lines += 1
                        f.write(f"-A POLICY {' '.join(m)} {pm} {target}\n")
                        lines += 1
        f.write(f"-A POLICY -s {bench_src} -d {bench_dst} -p tcp --dport "
                f"{BENCH_PORTS[0]}:{BENCH_PORTS[1]} -j ACCEPT\n")
        lines += 1
        f.write("COMMIT\n")
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", "--rules", type=int, required=True,
                    help="number of rules, the benchmark rule included (>= 1)")
    ap.add_argument("-s", "--seed", type=int, default=1)
    ap.add_argument("-o", "--outdir", required=True)
    ap.add_argument("--formats", default="yaml,nft,iptables",
                    help="comma-separated subset of yaml,nft,iptables")
    a = ap.parse_args()
    if a.rules < 1:
        ap.error("--rules must be at least 1")
    rng = random.Random(a.seed * 1000003 + a.rules)
    n_work = max(6, min(a.rules // 8, 4000))
    work = allocate(rng, n_work)
    rules = gen_rules(rng, a.rules, work)
    os.makedirs(a.outdir, exist_ok=True)
    fmts = a.formats.split(",")
    summary = {"rules": a.rules, "seed": a.seed, "workloads": len(work)}
    if "yaml" in fmts:
        write_yaml(os.path.join(a.outdir, "policy.yaml"), work, rules, a.rules)
    if "nft" in fmts:
        summary["nft_set_elements"] = write_nft(os.path.join(a.outdir, "nft.conf"), rules)
    if "iptables" in fmts:
        summary["iptables_rules_v4"] = write_iptables(os.path.join(a.outdir, "iptables.v4"), rules, 4)
        summary["iptables_rules_v6"] = write_iptables(os.path.join(a.outdir, "iptables.v6"), rules, 6)
    with open(os.path.join(a.outdir, "summary.json"), "w") as f:
        json.dump(summary, f)
        f.write("\n")
    json.dump(summary, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
