#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
"""Differential test of microsegd against nftables on real packets.

Random seeded policies are written twice: as a microsegd policy, and as an
nftables ruleset with the same semantics (ct state established,related
accept, then the rules in (priority, file order) per direction, then the
default). The same probes go through microsegd and then through nftables, in
two runs of the same namespace pair; every outcome must be equal.

Probes: TCP connect and echo, UDP echo, ICMP echo, IPv4 and IPv6, both
directions, addresses on both sides of CIDR edges and ports on both sides of
range edges; packet sequences: a packet that may be denied followed by the
reversed tuple (UDP and TCP, both ways round), and a reload between two
packets of one flow; frames crafted on the peer's link (tests/e2e/frames.py):
TCP and UDP behind random stacks of priority tags (0 to 12 deep, past what
the kernel delivers and what the parser follows), UDP from IPv4-mapped IPv6
sources, and ICMP queries (echo, timestamp) after an ICMP message of a
random type between the same pair.

This translation is written from docs/POLICY.md, independently of the
benchmark's tests/bench/gen_rules.py, so one cannot hide the other's mistake.

  nftdiff.py --host NS --peer NS --bin MICROSEGD --tmp DIR [--seed N] [--policies N]

Prints "PASS: ..." / "FAIL: ..." lines; the seed of a failing policy is
printed with it.
"""
import argparse
import ctypes
import ipaddress
import os
import random
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

from net import csum  # tests/e2e/net.py

CLONE_NEWNET = 0x40000000
TIMEOUT = 0.6  # seconds a probe waits for its answer

HOST4 = ["198.18.0.1", "198.18.0.200"]
PEER4 = ["198.18.0.2", "198.18.0.63", "198.18.0.64", "198.18.0.127", "198.18.0.128"]
HOST6 = ["2001:db8::1", "2001:db8::ffff"]
PEER6 = ["2001:db8::2", "2001:db8::7f", "2001:db8::80", "2001:db8::1:0:0:1"]
PORTS = list(range(6999, 7009))  # servers listen on all of them, both sides

# Prefixes whose edges fall between the test addresses.
CIDR4 = ["198.18.0.0/24", "198.18.0.0/26", "198.18.0.64/26", "198.18.0.0/25",
         "198.18.0.128/25", "198.18.0.2/32", "198.18.0.64/32", "198.18.0.1/32",
         "198.18.0.192/26", "0.0.0.0/0"]
CIDR6 = ["2001:db8::/64", "2001:db8::/121", "2001:db8::80/121", "2001:db8::2/128",
         "2001:db8::1/128", "2001:db8::1:0:0:0/80", "2001:db8::ff00/120", "::/0",
         # IPv6 prefixes over IPv4-mapped addresses: IPv6 to both firewalls
         "::ffff:0:0/96", "::ffff:198.18.0.0/120"]
# ICMP types the crafted probes send first, then the queries they send.
ICMP_OPENERS = {4: [3, 4, 5, 11, 12, 9, 10, 13, 15, 17, 42], 6: [1, 2, 3, 4, 139, 140, 200]}
ICMP_QUERIES = {4: [8, 13], 6: [128]}

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import frames  # noqa: E402  (tests/e2e/frames.py)

libc = ctypes.CDLL(None, use_errno=True)


class Netns:
    """Switch the calling thread between network namespaces (sockets keep
    the namespace they were made in)."""

    def __init__(self, names):
        self.fds = {n: os.open(f"/run/netns/{n}", os.O_RDONLY) for n in names}
        self.fds[None] = os.open(f"/proc/self/task/{threading.get_native_id()}/ns/net",
                                 os.O_RDONLY)

    def enter(self, name):
        if libc.setns(self.fds[name], CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            raise OSError(e, f"setns {name}: {os.strerror(e)}")


def fam(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


# ---------------------------------------------------------------- policies

def rand_selector(rng):
    if rng.random() < 0.35:
        return None  # any
    terms = []
    for _ in range(rng.randint(1, 2)):
        cidrs = rng.sample(CIDR4 + CIDR6, rng.randint(1, 3))
        excepts = []
        if rng.random() < 0.3:
            # An except inside one of the term's cidrs.
            c = ipaddress.ip_network(rng.choice(cidrs))
            inner = [x for x in CIDR4 + CIDR6
                     if ipaddress.ip_network(x).version == c.version
                     and ipaddress.ip_network(x).subnet_of(c) and ipaddress.ip_network(x) != c]
            if inner:
                excepts = [rng.choice(inner)]
        terms.append((cidrs, excepts))
    return terms


def rand_range(rng):
    if rng.random() < 0.5:
        lo, hi = sorted(rng.sample(PORTS, 2))
        return lo, hi
    p = rng.choice(PORTS)
    return p, p


def rand_ports(rng):
    if rng.random() < 0.15:
        return None  # any protocol and port
    out = []
    for _ in range(rng.randint(1, 3)):
        kind = rng.random()
        if kind < 0.35:
            out.append(("tcp", *rand_range(rng)))
        elif kind < 0.7:
            out.append(("udp", *rand_range(rng)))
        elif kind < 0.8:
            out.append(("icmp", 8, 8))
        elif kind < 0.85:
            out.append(("icmpv6", 128, 128))
        elif kind < 0.93:
            t = rng.choice(ICMP_OPENERS[4] + ICMP_QUERIES[4])
            out.append(("icmp", t, t) if rng.random() < 0.7 else ("icmp", 0, t))
        else:
            t = rng.choice(ICMP_OPENERS[6] + ICMP_QUERIES[6])
            out.append(("icmpv6", t, t) if rng.random() < 0.7 else ("icmpv6", 1, t))
    return out


def rand_policy(rng, n_rules):
    rules = []
    for i in range(n_rules):
        rules.append({
            "name": f"r{i}",
            "action": rng.choice(["allow", "allow", "deny", "log"]),
            "priority": rng.choice([10, 50, 100, 100]),
            "direction": rng.choice(["ingress", "egress", "any"]),
            "from": rand_selector(rng),
            "to": rand_selector(rng),
            "ports": rand_ports(rng),
        })
    return {"default": rng.choice(["allow", "deny", "deny"]), "rules": rules}


def yaml_selector(terms):
    items = []
    for cidrs, excepts in terms:
        c = ", ".join(f'"{x}"' for x in cidrs)
        e = ", ".join(f'"{x}"' for x in excepts)
        items.append("{cidr: [%s]%s}" % (c, f", except: [{e}]" if excepts else ""))
    return "[" + ", ".join(items) + "]"


def to_yaml(pol):
    out = ["version: 1", "mode: enforce", f"default: {pol['default']}", "rules:"]
    for r in pol["rules"]:
        out.append(f"  - name: {r['name']}")
        out.append(f"    action: {r['action']}")
        out.append(f"    priority: {r['priority']}")
        out.append(f"    direction: {r['direction']}")
        if r["from"]:
            out.append(f"    from: {yaml_selector(r['from'])}")
        if r["to"]:
            out.append(f"    to: {yaml_selector(r['to'])}")
        if r["ports"]:
            ps = []
            for proto, lo, hi in r["ports"]:
                ps.append(f"{proto}/{lo}" if lo == hi else f"{proto}/{lo}-{hi}")
            out.append("    ports: [" + ", ".join(ps) + "]")
    return "\n".join(out) + "\n"


def nft_addr_matches(terms, field, version):
    """nft match strings, one per term of the family (None: any address);
    an empty list means no term of this family, so nothing matches."""
    if terms is None:
        return [""]
    out = []
    key = ("ip " if version == 4 else "ip6 ") + field
    for cidrs, excepts in terms:
        inc = [c for c in cidrs if ipaddress.ip_network(c).version == version]
        exc = [e for e in excepts if ipaddress.ip_network(e).version == version]
        if not inc:
            continue
        m = f"{key} {{ {', '.join(inc)} }}"
        if exc:
            m += f" {key} != {{ {', '.join(exc)} }}"
        out.append(m)
    return out


def nft_port_matches(ports, version):
    if ports is None:
        return [""]
    out = []
    for proto, lo, hi in ports:
        rng = str(lo) if lo == hi else f"{lo}-{hi}"
        if proto in ("tcp", "udp"):
            out.append(f"meta l4proto {proto} th dport {rng}")
        elif proto == "icmp" and version == 4:
            out.append(f"icmp type {rng}")
        elif proto == "icmpv6" and version == 6:
            out.append(f"icmpv6 type {rng}")
    return out


def to_nft(pol, gen):
    """The policy as an nftables table. A rule becomes as many nft rules as
    its (family, from term, to term, port) combinations, all with its
    verdict, so the first match still decides."""
    def order(r):
        return (r[1]["priority"], r[0])
    rules = [r for _, r in sorted(enumerate(pol["rules"]), key=order)]
    accept = f"ct mark set {gen} accept"
    chains = {}
    for chain, hook, dirname in (("input", "input", "ingress"), ("output", "output", "egress")):
        lines = [
            f"chain {chain} {{",
            f"  type filter hook {hook} priority 0; policy accept;",
            "  meta l4proto ipv6-icmp icmpv6 type { nd-router-solicit, nd-router-advert,"
            " nd-neighbor-solicit, nd-neighbor-advert, nd-redirect, mld-listener-query,"
            " mld-listener-report, mld-listener-done, mld2-listener-report } accept",
            f"  {'iif' if chain == 'input' else 'oif'} lo accept",
            # Flows decided under an older ruleset are decided again, as
            # microsegd re-decides sessions after a reload.
            f"  ct state established,related ct mark {gen} accept",
        ]
        for r in rules:
            if r["direction"] not in (dirname, "any"):
                continue
            verdict = "drop" if r["action"] == "deny" else accept
            for version in (4, 6):
                froms = nft_addr_matches(r["from"], "saddr", version)
                tos = nft_addr_matches(r["to"], "daddr", version)
                fam_match = f"meta nfproto {'ipv4' if version == 4 else 'ipv6'}"
                for f in froms:
                    for t in tos:
                        for p in nft_port_matches(r["ports"], version):
                            lines.append("  " + " ".join(
                                x for x in (fam_match, f, t, p) if x) + " " + verdict)
        lines.append("  " + (accept if pol["default"] == "allow" else "drop"))
        lines.append("}")
        chains[chain] = "\n".join(lines)
    return ("table inet msdiff\ndelete table inet msdiff\n"
            "table inet msdiff {\n" + chains["input"] + "\n" + chains["output"] + "\n}\n")


# ------------------------------------------------------------------ probes

class Servers:
    """TCP and UDP echo on every port of PORTS, every address, both sides."""

    def __init__(self, ns, names):
        self.socks = []
        for name in names:
            ns.enter(name)
            for port in PORTS:
                for typ in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
                    s = socket.socket(socket.AF_INET6, typ)
                    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    s.bind(("::", port))
                    if typ == socket.SOCK_STREAM:
                        s.listen(64)
                    s.setblocking(False)
                    self.socks.append(s)
        ns.enter(None)
        self.stop = False
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        conns = []
        while not self.stop:
            r, _, _ = select.select(self.socks + conns, [], [], 0.1)
            for s in r:
                try:
                    if s in conns:
                        d = s.recv(64)
                        if d:
                            s.sendall(d)
                        s.close()
                        conns.remove(s)
                    elif s.type == socket.SOCK_STREAM:
                        c, _ = s.accept()
                        c.setblocking(True)
                        c.settimeout(1)
                        conns.append(c)
                    else:
                        d, a = s.recvfrom(64)
                        s.sendto(d, a)
                except OSError:
                    if s in conns:
                        conns.remove(s)


class Probe:
    """One probe: made (socket in its namespace) in the main thread, run in
    a worker thread."""

    def __init__(self, ns, side, proto, src, dst, port):
        self.side, self.proto, self.src, self.dst, self.port = side, proto, src, dst, port
        ns.enter(side)
        f = fam(src)
        if proto == "tcp":
            self.s = socket.socket(f, socket.SOCK_STREAM)
        elif proto == "udp":
            self.s = socket.socket(f, socket.SOCK_DGRAM)
        else:
            self.s = socket.socket(f, socket.SOCK_RAW,
                                   socket.IPPROTO_ICMPV6 if f == socket.AF_INET6
                                   else socket.IPPROTO_ICMP)
        self.s.bind((src, 0))
        ns.enter(None)
        self.result = None

    def __str__(self):
        where = f"{self.dst}:{self.port}" if self.proto != "icmp" else self.dst
        return f"{self.proto} {self.src} -> {where} (from the {self.side} side)"

    def run(self):
        s = self.s
        s.settimeout(TIMEOUT)
        try:
            if self.proto == "tcp":
                s.connect((self.dst, self.port))
                s.sendall(b"x")
                self.result = s.recv(8) == b"x"
            elif self.proto == "udp":
                s.sendto(b"x", (self.dst, self.port))
                d, _ = s.recvfrom(64)
                self.result = d == b"x"
            else:
                self.result = self.ping()
        except OSError:
            self.result = False
        finally:
            s.close()

    def ping(self):
        v6 = ":" in self.dst
        ident = random.randrange(1, 65535)
        h = struct.pack("!BBHHH", 128 if v6 else 8, 0, 0, ident, 1) + b"nftdiff"
        if not v6:
            h = h[:2] + struct.pack("!H", csum(h)) + h[4:]
        self.s.sendto(h, (self.dst, 0))
        end = time.monotonic() + TIMEOUT
        while time.monotonic() < end:
            r, _, _ = select.select([self.s], [], [], max(0, end - time.monotonic()))
            if not r:
                break
            d = self.s.recv(512)
            if not v6:
                d = d[(d[0] & 15) * 4:]
            if d[0] == (129 if v6 else 0) and struct.unpack("!H", d[4:6])[0] == ident:
                return True
        return False


class Crafted:
    """A frame crafted on the peer's link (frames.py): optionally an ICMP
    message first (an opener of a random type), then the probe; the result
    is whether the host answered it."""

    def __init__(self, ns, hmac, kind, src, dst, port, tags, v6, opener):
        self.kind, self.src, self.dst, self.port, self.tags, self.v6, self.opener = \
            kind, src, dst, port, tags, v6, opener
        self.hmac = hmac
        ns.enter("peer")
        self.s = frames.open_link("veth1")
        self.s_open = frames.open_link("veth1") if opener is not None else None
        ns.enter(None)
        self.result = None

    def __str__(self):
        first = f"icmp type {self.opener}, then " if self.opener is not None else ""
        return (f"crafted: {first}{self.kind} {self.src} -> {self.dst}:{self.port}"
                f" behind {self.tags} tags")

    def args(self, kind, port):
        return argparse.Namespace(kind=kind, src=self.src, dst=self.dst, port=port,
                                  ipv6=self.v6, tags=self.tags, tpid=0, dstmac=self.hmac,
                                  wait=TIMEOUT)

    def run(self):
        if self.s_open is not None:
            a = self.args(f"icmp:{self.opener}", random.randrange(1, 65535))
            et, pkt = frames.ip_packet(a.kind, a.src, a.dst, a.ipv6, 0, a.port)
            try:
                self.s_open.send(frames.frame(a, self.s_open, et, pkt))
            except OSError:
                pass
            self.s_open.close()
            time.sleep(0.05)
        port = random.randrange(1, 65535) if self.kind.startswith("icmp") else self.port
        self.result = frames.probe_on(self.s, self.args(self.kind, port))


def rule_port(rng, pol):
    """A port some rule of pol names for TCP or UDP, else any of PORTS:
    probes that a rule may let in say more than ones the default drops."""
    ports = [p for r in pol["rules"] for proto, lo, hi in (r["ports"] or [])
             if proto in ("tcp", "udp") for p in range(lo, hi + 1) if p in PORTS]
    return rng.choice(ports) if ports and rng.random() < 0.7 else rng.choice(PORTS)


def rand_crafted(rng, n, pol):
    out = []
    for _ in range(n):
        what = rng.random()
        v6 = rng.random() < 0.5
        src = rng.choice(PEER6 if v6 else PEER4)
        dst = rng.choice(HOST6 if v6 else HOST4)
        port = rule_port(rng, pol)
        if what < 0.5:
            # Deeper than 8 the kernel drops them (here), deeper than 9 the
            # parser: both must come out silent, as nftables has them.
            tags = rng.choice([1, 2, 3, 4, 5, 6, 7, 8, 4, 6, 8, 9, 10, 12])
            out.append((rng.choice(["tcp", "udp"]), src, dst, port, tags, v6, None))
        elif what < 0.75:
            # UDP from an IPv4-mapped source: an IPv6 packet to both.
            out.append(("udp", "::ffff:" + rng.choice(PEER4), rng.choice(HOST6), port,
                        rng.choice([0, 0, 2]), True, None))
        else:
            fam_ = 6 if v6 else 4
            # Mostly an opener some rule allows: whether it opens the query
            # (it must not, unless a rule allows the query too).
            name = "icmpv6" if v6 else "icmp"
            allowed = [t for r in pol["rules"] for proto, lo, hi in (r["ports"] or [])
                       if proto == name for t in ICMP_OPENERS[fam_] if lo <= t <= hi]
            opener = rng.choice(allowed if allowed and rng.random() < 0.7
                                else ICMP_OPENERS[fam_])
            out.append((f"icmp:{rng.choice(ICMP_QUERIES[fam_])}", src, dst, 0,
                        rng.choice([0, 0, 1]), v6, opener))
    return out


def run_all(items):
    ts = [threading.Thread(target=i.run) for i in items]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


def rand_probes(rng, ns, n):
    probes = []
    for _ in range(n):
        side = rng.choice(["peer", "host"])
        v6 = rng.random() < 0.5
        mine = (PEER6 if v6 else PEER4) if side == "peer" else (HOST6 if v6 else HOST4)
        theirs = (HOST6 if v6 else HOST4) if side == "peer" else (PEER6 if v6 else PEER4)
        proto = rng.choice(["tcp", "udp", "tcp", "udp", "icmp"])
        probes.append((side, proto, rng.choice(mine), rng.choice(theirs), rng.choice(PORTS)))
    return probes


class Sequence:
    """First a packet from one side (maybe denied), then the reversed tuple
    from the other side, then the first side again: each step's outcome.
    UDP: the steps are datagrams between two bound sockets. TCP: a connect
    that may fail, then a connect back on the reversed ports."""

    def __init__(self, ns, proto, first_side, a, pa, b, pb):
        self.proto, self.first_side, self.a, self.pa, self.b, self.pb = \
            proto, first_side, a, pa, b, pb
        other = "host" if first_side == "peer" else "peer"
        self.names = (first_side, other)
        ns.enter(first_side)
        typ = socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM
        self.sa = socket.socket(fam(a), typ)
        self.sa.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sa.bind((a, pa))
        ns.enter(other)
        self.sb = socket.socket(fam(b), typ)
        self.sb.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sb.bind((b, pb))
        ns.enter(None)
        self.result = None

    def __str__(self):
        return (f"{self.proto} sequence: {self.a}:{self.pa} -> {self.b}:{self.pb} "
                f"(from the {self.first_side} side), then back, then again")

    def run(self):
        try:
            self.result = self.run_udp() if self.proto == "udp" else self.run_tcp()
        except OSError as e:
            self.result = ("error", str(e))
        finally:
            self.sa.close()
            self.sb.close()

    def run_udp(self):
        out = []
        for src, dst, daddr in ((self.sa, self.sb, (self.b, self.pb)),
                                (self.sb, self.sa, (self.a, self.pa)),
                                (self.sa, self.sb, (self.b, self.pb))):
            try:
                src.sendto(b"s", daddr)
            except PermissionError:
                pass  # nftables dropped it on output: the sender is told so
            r, _, _ = select.select([dst], [], [], TIMEOUT)
            out.append(bool(r) and dst.recv(8) == b"s")
        return tuple(out)

    def run_tcp(self):
        # a's SYN to b's port, where b listens only afterwards: a denied SYN
        # is lost; an allowed one is refused by b's kernel (RST), either way
        # a's attempt ends. Then b connects back to a, which listens.
        self.sa.settimeout(TIMEOUT)
        try:
            self.sa.connect((self.b, self.pb))
            first = "connected"
        except ConnectionRefusedError:
            first = "refused"
        except OSError:
            first = "lost"
        self.sa.close()
        # The same port again, now listening for b's connection.
        return (first,)


def seq_tcp_back(ns, seq):
    """Second half of a TCP sequence: a listens on (a, pa); b connects from
    (b, pb). Returns whether the connection and an echo went through."""
    ns.enter(seq.names[0])
    lst = socket.socket(fam(seq.a), socket.SOCK_STREAM)
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lst.bind((seq.a, seq.pa))
    lst.listen(4)
    ns.enter(seq.names[1])
    c = socket.socket(fam(seq.b), socket.SOCK_STREAM)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    c.bind((seq.b, seq.pb))
    ns.enter(None)
    return lst, c


def run_tcp_back(pairs):
    res = [None] * len(pairs)

    def one(i, lst, c, dst):
        c.settimeout(TIMEOUT)
        lst.settimeout(TIMEOUT)
        try:
            c.connect(dst)
            a, _ = lst.accept()
            c.sendall(b"t")
            a.settimeout(TIMEOUT)
            res[i] = a.recv(4) == b"t"
            a.close()
        except OSError:
            res[i] = False
        finally:
            c.close()
            lst.close()
    ts = [threading.Thread(target=one, args=(i, *p)) for i, p in enumerate(pairs)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return res


# ------------------------------------------------------------- firewalls

class Microsegd:
    def __init__(self, args, tag):
        self.args, self.tag = args, tag
        self.policy = os.path.join(args.tmp, f"policy-{tag}.yaml")
        self.log = os.path.join(args.tmp, f"microsegd-{tag}.log")
        self.p = None

    def load(self, pol, gen):
        with open(self.policy + ".new", "w") as f:
            f.write(to_yaml(pol))
        os.rename(self.policy + ".new", self.policy)
        if self.p is None:
            self.logf = open(self.log, "w")
            self.p = subprocess.Popen(
                ["ip", "netns", "exec", self.args.host, self.args.bin, "-i", "veth0",
                 "-p", self.policy, "-f", "/dev/null", "-s", "0",
                 "--api-socket", os.path.join(self.args.tmp, "api.sock"),
                 "--state-dir", "none"], stderr=self.logf, stdin=subprocess.DEVNULL)
            self.wait_log("running on", 1)
        else:
            n = self.count("policy reloaded")
            self.p.send_signal(signal.SIGHUP)
            self.wait_log("policy reloaded", n + 1)

    def count(self, what):
        with open(self.log) as f:
            return f.read().count(what)

    def wait_log(self, what, n):
        end = time.monotonic() + 20
        while time.monotonic() < end:
            if self.count(what) >= n:
                return
            if self.p.poll() is not None:
                break
            time.sleep(0.02)
        raise RuntimeError(f"microsegd: no '{what}' in its log:\n" + open(self.log).read())

    def stop(self):
        if self.p:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
            self.logf.close()
            self.p = None


class Nftables:
    def __init__(self, args, tag):
        self.args = args
        self.file = os.path.join(args.tmp, f"ruleset-{tag}.nft")

    def load(self, pol, gen):
        with open(self.file, "w") as f:
            f.write(to_nft(pol, gen))
        r = subprocess.run(["ip", "netns", "exec", self.args.host, "nft", "-f", self.file],
                           capture_output=True, text=True)
        if r.returncode:
            raise RuntimeError(f"nft -f {self.file}: {r.stderr}")

    def stop(self):
        subprocess.run(["ip", "netns", "exec", self.args.host, "nft", "delete", "table",
                        "inet", "msdiff"], capture_output=True)
        # Connection tracking outlives the table: the next policy's run must
        # not find this one's flows.
        subprocess.run(["ip", "netns", "exec", self.args.host, "conntrack", "-F"],
                       capture_output=True)


# ------------------------------------------------------------------- main

def one_run(args, ns, fw, pol, pol2, gen, plan):
    """Every probe of plan through the firewall fw; returns the outcomes."""
    try:
        return run_plan(ns, fw, pol, pol2, gen, plan)
    finally:
        fw.stop()


def run_plan(ns, fw, pol, pol2, gen, plan):
    fw.load(pol, gen)
    out = {}
    probes = [Probe(ns, *p) for p in plan["probes"]]
    run_all(probes)
    out["probes"] = [p.result for p in probes]
    seqs = [Sequence(ns, *s) for s in plan["seqs"]]
    run_all(seqs)
    out["seqs"] = [s.result for s in seqs]
    back = [seq_tcp_back(ns, s) for s in seqs if s.proto == "tcp"]
    dsts = [(s.a, s.pa) for s in seqs if s.proto == "tcp"]
    out["tcp_back"] = run_tcp_back([(lst, c, d) for (lst, c), d in zip(back, dsts)])
    # A reload between two packets of one flow: UDP from a bound socket,
    # once before and once after.
    rl = []
    for side, src, dst, port in plan["reload"]:
        ns.enter(side)
        s = socket.socket(fam(src), socket.SOCK_DGRAM)
        s.bind((src, 0))
        ns.enter(None)
        rl.append((s, dst, port))

    def udp_once(i, res):
        s, dst, port = rl[i]
        s.settimeout(TIMEOUT)
        try:
            s.sendto(b"r", (dst, port))
            res[i] = s.recvfrom(8)[0] == b"r"
        except OSError:
            res[i] = False

    before, after = [None] * len(rl), [None] * len(rl)
    ts = [threading.Thread(target=udp_once, args=(i, before)) for i in range(len(rl))]
    [t.start() for t in ts]
    [t.join() for t in ts]
    fw.load(pol2, gen + 1)
    ts = [threading.Thread(target=udp_once, args=(i, after)) for i in range(len(rl))]
    [t.start() for t in ts]
    [t.join() for t in ts]
    for s, _, _ in rl:
        s.close()
    out["reload"] = list(zip(before, after))
    # Crafted frames last, under the reloaded policy: one at a time per
    # pair of addresses would be slow; in parallel, each waits for its own
    # answer by ports and identifier.
    crafted = [Crafted(ns, plan["hmac"], *c) for c in plan["crafted"]]
    run_all(crafted)
    out["crafted"] = [c.result for c in crafted]
    return out


def make_plan(rng, ns, pol):
    """pol: the policy the crafted frames meet, the reloaded one."""
    plan = {"probes": rand_probes(rng, ns, 36), "seqs": [], "reload": [],
            "crafted": rand_crafted(rng, 16, pol), "hmac": ns.hmac}
    used = set()
    for _ in range(10):
        v6 = rng.random() < 0.5
        first = rng.choice(["peer", "host"])
        a = rng.choice((PEER6 if v6 else PEER4) if first == "peer" else (HOST6 if v6 else HOST4))
        b = rng.choice((HOST6 if v6 else HOST4) if first == "peer" else (PEER6 if v6 else PEER4))
        # Ports outside the servers' range (the servers would answer) but
        # inside the rules' ranges half the time: 7009+ is never a rule's.
        pa, pb = rng.choice(PORTS + [7100]) + 200, rng.choice(PORTS) + 200
        if (a, pa) in used or (b, pb) in used:
            continue
        used.update({(a, pa), (b, pb)})
        plan["seqs"].append((rng.choice(["udp", "tcp"]), first, a, pa, b, pb))
    for _ in range(6):
        v6 = rng.random() < 0.5
        side = rng.choice(["peer", "host"])
        src = rng.choice((PEER6 if v6 else PEER4) if side == "peer" else (HOST6 if v6 else HOST4))
        dst = rng.choice((HOST6 if v6 else HOST4) if side == "peer" else (PEER6 if v6 else PEER4))
        plan["reload"].append((side, src, dst, rng.choice(PORTS)))
    return plan


def remap_ports(pol):
    """Sequences use PORTS + 200 so that no server answers them; rules over
    PORTS are shifted onto that range too in half of the policies."""
    for r in pol["rules"]:
        if r["ports"]:
            r["ports"] = [(p, lo + 200, hi + 200) if p in ("tcp", "udp") else (p, lo, hi)
                          for p, lo, hi in r["ports"]]
            r["ports"] += [(p, lo - 200, hi - 200) for p, lo, hi in r["ports"]
                           if p in ("tcp", "udp")]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", required=True)
    ap.add_argument("--peer", required=True)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--tmp", required=True)
    ap.add_argument("--seed", type=int, default=int(time.time()) % 100000)
    ap.add_argument("--policies", type=int, default=8)
    args = ap.parse_args()
    ns = Netns([args.host, args.peer])
    # Probes name the sides "host" and "peer".
    ns.fds["host"] = ns.fds[args.host]
    ns.fds["peer"] = ns.fds[args.peer]
    ns.hmac = subprocess.run(["ip", "-n", args.host, "-br", "link", "show", "veth0"],
                             capture_output=True, text=True).stdout.split()[2]
    Servers(ns, ["host", "peer"])
    print(f"seed {args.seed}, {args.policies} policies", flush=True)
    total = {"probes": 0, "seqs": 0, "reload": 0, "crafted": 0}
    crafted_answered = 0
    failed = 0
    reverse_after_deny = 0
    for i in range(-1, args.policies):
        seed = args.seed * 1000 + i
        rng = random.Random(seed)
        if i < 0:
            # The issue's own case first, whatever the seed: the host may
            # start anything, the peer nothing; the peer's denied packets are
            # followed by the host's on the reversed tuple.
            pol = {"default": "deny", "rules": [{
                "name": "host-may-start-anything", "action": "allow", "priority": 100,
                "direction": "egress", "from": None, "to": None, "ports": None}]}
            pol2 = {"default": "deny", "rules": [{
                "name": "ping-only", "action": "allow", "priority": 100, "direction": "any",
                "from": None, "to": None, "ports": [("icmp", 8, 8), ("icmpv6", 128, 128)]}]}
            plan = make_plan(rng, ns, pol2)
            plan["seqs"] = [(proto, "peer", a, pa, b, pb) for proto, _, a, pa, b, pb in
                            [("udp", 0, "198.18.0.2", 53 + 7000, "198.18.0.1", 7040),
                             ("tcp", 0, "198.18.0.2", 7443, "198.18.0.1", 7041),
                             ("udp", 0, "2001:db8::2", 7053, "2001:db8::1", 7042),
                             ("tcp", 0, "2001:db8::2", 7444, "2001:db8::1", 7043)]]
        else:
            pol = rand_policy(rng, rng.randint(2, 10))
            pol2 = rand_policy(rng, rng.randint(2, 10))
            if rng.random() < 0.5:
                remap_ports(pol)
                remap_ports(pol2)
            plan = make_plan(rng, ns, pol2)
        gen = 10 + 2 * i
        try:
            got_m = one_run(args, ns, Microsegd(args, f"{i}"), pol, pol2, gen, plan)
            got_n = one_run(args, ns, Nftables(args, f"{i}"), pol, pol2, gen, plan)
        except RuntimeError as e:
            print(f"FAIL: nftdiff-policy-{i}: seed {seed}: {e}", flush=True)
            failed += 1
            continue
        diffs = []
        crafted_answered += sum(bool(x) for x in got_m["crafted"])
        for k, items in (("probes", plan["probes"]), ("seqs", plan["seqs"]),
                         ("reload", plan["reload"]), ("crafted", plan["crafted"])):
            total[k] += len(items)
            for j, (m, n) in enumerate(zip(got_m[k], got_n[k])):
                if m != n:
                    diffs.append(f"{k} {items[j]}: microsegd {m}, nftables {n}")
        tcp_seqs = [s for s in plan["seqs"] if s[0] == "tcp"]
        for j, (m, n) in enumerate(zip(got_m["tcp_back"], got_n["tcp_back"])):
            if m != n:
                diffs.append(f"tcp back-connect {tcp_seqs[j]}: microsegd {m}, nftables {n}")
        name = f"nftdiff-policy-{i}" if i >= 0 else "nftdiff-reverse-of-denied"
        for j, r in enumerate(got_m["seqs"]):
            if r[0] in (False, "lost") and (r[1] if len(r) > 1 else
                                             got_m["tcp_back"][[k for k, x in
                                                                enumerate(plan["seqs"]) if
                                                                x[0] == "tcp"].index(j)]):
                reverse_after_deny += 1
        if diffs:
            failed += 1
            print(f"FAIL: {name}: seed {seed}: {len(diffs)} mismatches")
            for d in diffs[:20]:
                print("  " + d)
            print("  policy:\n" + "".join("    " + l + "\n" for l in to_yaml(pol).splitlines()))
            print("  after the reload:\n" +
                  "".join("    " + l + "\n" for l in to_yaml(pol2).splitlines()))
            print("  nftables:\n" +
                  "".join("    " + l + "\n" for l in to_nft(pol, gen).splitlines()))
        else:
            allowed = sum(bool(x) for x in got_m["probes"])
            print(f"PASS: {name} ({len(plan['probes'])} probes, {allowed} answered; "
                  f"{len(plan['seqs'])} sequences; {len(plan['reload'])} reloaded flows; "
                  f"{len(plan['crafted'])} crafted frames)",
                  flush=True)
    print(f"  {total['probes']} probes, {total['seqs']} sequences ({reverse_after_deny} "
          f"reversed tuples passed after a denial), {total['reload']} flows across a reload, "
          f"{total['crafted']} crafted frames ({crafted_answered} answered), "
          f"over {args.policies + 1} policies (seed {args.seed})")
    if reverse_after_deny < 4:
        print("FAIL: nftdiff-coverage: the issue's reversed-tuple case did not pass")
        failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
