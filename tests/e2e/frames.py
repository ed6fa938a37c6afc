#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
"""Frames crafted on the link, as an attacker with CAP_NET_RAW sends them.

Run inside a network namespace (ip netns exec NS frames.py ...):

  frames.py probe IFACE DSTMAC KIND SRC DST PORT [--tags N] [--tpid T]
      Send one frame out of IFACE: N VLAN tags (priority tags, VID 0, TPID
      0x8100 or 0x88a8 alternating unless --tpid), then IPv4 or IPv6 (by the
      addresses; --ipv6 forces IPv6 for IPv4-mapped ones) carrying KIND:
      tcp (a SYN to PORT), udp (a datagram to PORT) or icmp:TYPE (PORT is
      the identifier). Then listen on IFACE for an answer from DST for at
      most --wait seconds: for tcp a SYN-ACK or RST from PORT, for udp a
      datagram from PORT, for an ICMP query its reply with the identifier.
      Exit 0 when answered, 1 when not.
  frames.py listen FILE PROTO:PORT...
      Receive on every address (udp:PORT, icmp, icmpv6) and append one line
      per packet to FILE ("udp4 PORT SRC", "udp6 PORT SRC" or "icmp TYPE
      SRC"); 240 s at most.
      FILE.ready appears once listening.
  frames.py sniff IFACE FILE PORT
      Watch IFACE for UDP to PORT, whatever its addresses (also ones no
      socket of this host takes), and append "udp PORT SRC DST" to FILE per
      datagram; 240 s at most. FILE.ready appears once watching.
  frames.py send IFACE DSTMAC udp SRC DST PORT [--tags N] [--tpid T] [--ipv6]
      Send the frame of probe, without waiting for an answer.
  frames.py icmp SRC DST TYPE [CODE]
      One ICMP (or ICMPv6) message of TYPE from a raw socket, with 8 bytes
      of identifier and sequence and a garbage quote.

Every send is bounded: one frame per call, a wait of at most a few seconds.
"""
import argparse
import os
import random
import select
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003


def csum(b):
    if len(b) % 2:
        b += b"\0"
    t = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    t = (t >> 16) + (t & 0xffff)
    t += t >> 16
    return ~t & 0xffff


def addr_bytes(a, v6):
    if v6:
        return socket.inet_pton(socket.AF_INET6, a)
    return socket.inet_pton(socket.AF_INET, a)


def l4(kind, src, dst, v6, sport, port):
    """The L4 header and payload, checksummed against the pseudo header."""
    if kind == "tcp":
        proto = 6
        hdr = struct.pack("!HHIIBBHHH", sport, port, random.randrange(1 << 32), 0,
                          5 << 4, 0x02, 65535, 0, 0)
    elif kind == "udp":
        proto = 17
        payload = b"frames"
        hdr = struct.pack("!HHHH", sport, port, 8 + len(payload), 0) + payload
    else:
        typ = int(kind.split(":")[1])
        proto = 58 if v6 else 1
        hdr = struct.pack("!BBHHH", typ, 0, 0, port, 1) + b"\0" * 28
    if v6:
        pseudo = src + dst + struct.pack("!IxxxB", len(hdr), proto)
    else:
        pseudo = src + dst + struct.pack("!xBH", proto, len(hdr))
    c = csum(hdr) if proto == 1 else csum(pseudo + hdr)
    off = {6: 16, 17: 6, 1: 2, 58: 2}[proto]
    if proto == 17 and c == 0:
        c = 0xffff
    return proto, hdr[:off] + struct.pack("!H", c) + hdr[off + 2:]


def ip_packet(kind, src_a, dst_a, v6, sport, port):
    src, dst = addr_bytes(src_a, v6), addr_bytes(dst_a, v6)
    proto, body = l4(kind, src, dst, v6, sport, port)
    if v6:
        return 0x86DD, struct.pack("!IHBB", 6 << 28, len(body), proto, 64) + src + dst + body
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), random.randrange(65536), 0,
                      64, proto, 0, src, dst)
    hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    return 0x0800, hdr + body


def mac(s):
    return bytes(int(x, 16) for x in s.split(":"))


def answered(sock, kind, dst_a, v6, sport, port, wait):
    """An answer to our probe, seen on the link."""
    want = addr_bytes(dst_a, v6)
    end = time.monotonic() + wait
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return False
        r, _, _ = select.select([sock], [], [], left)
        if not r:
            return False
        f = sock.recv(4096)
        et, off = struct.unpack("!H", f[12:14])[0], 14
        while et in (0x8100, 0x88A8) and len(f) >= off + 4:
            et, off = struct.unpack("!H", f[off + 2:off + 4])[0], off + 4
        p = f[off:]
        if et == 0x0800 and len(p) >= 20:
            fsrc, proto, p4 = p[12:16], p[9], p[(p[0] & 15) * 4:]
        elif et == 0x86DD and len(p) >= 40:
            fsrc, proto, p4 = p[8:24], p[6], p[40:]
        else:
            continue
        # A dual-stack socket answers ::ffff:a.b.c.d over IPv4, from a.b.c.d.
        if fsrc != want and not (v6 and want[:12] == b"\0" * 10 + b"\xff\xff"
                                 and fsrc == want[12:]):
            continue
        if kind in ("tcp", "udp") and proto == (6 if kind == "tcp" else 17) and len(p4) >= 4:
            s, d = struct.unpack("!HH", p4[:4])
            if s == port and d == sport:
                return True
        elif kind.startswith("icmp") and proto in (1, 58) and len(p4) >= 6:
            req = int(kind.split(":")[1])
            reply = {8: 0, 13: 14, 15: 16, 17: 18, 128: 129}.get(req)
            if p4[0] == reply and struct.unpack("!H", p4[4:6])[0] == port:
                return True


def open_link(iface):
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.bind((iface, 0))
    return sock


def probe_on(sock, a):
    """Send a's frame on sock (an AF_PACKET socket of the sending side) and
    wait for its answer; sock is closed."""
    v6 = a.ipv6 or ":" in a.src
    sport = random.randrange(20000, 60000)
    et, pkt = ip_packet(a.kind, a.src, a.dst, v6, sport, a.port)
    try:
        sock.send(frame(a, sock, et, pkt))
        return answered(sock, a.kind, a.dst, v6, sport, a.port, a.wait)
    except OSError:
        return False
    finally:
        sock.close()


def probe(a):
    return probe_on(open_link(a.iface), a)


def sniff(a):
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.bind((a.iface, 0))
    out = open(a.file, "a", buffering=1)
    open(a.file + ".ready", "w").close()
    end = time.monotonic() + 240
    while time.monotonic() < end:
        r, _, _ = select.select([sock], [], [], 0.5)
        if not r:
            continue
        f = sock.recv(4096)
        et, p = struct.unpack("!H", f[12:14])[0], f[14:]
        if et == 0x0800 and len(p) >= 28 and p[9] == 17:
            fam, src, dst, u = socket.AF_INET, p[12:16], p[16:20], p[(p[0] & 15) * 4:]
        elif et == 0x86DD and len(p) >= 48 and p[6] == 17:
            fam, src, dst, u = socket.AF_INET6, p[8:24], p[24:40], p[40:]
        else:
            continue
        if struct.unpack("!H", u[2:4])[0] == a.port:
            out.write(f"udp {a.port} {socket.inet_ntop(fam, src)} {socket.inet_ntop(fam, dst)}\n")


def frame(a, sock, et, pkt):
    tags = b""
    for i in range(a.tags):
        tpid = a.tpid if a.tpid else (0x8100 if i % 2 == 0 else 0x88A8)
        tags += struct.pack("!HH", tpid, 0)
    return mac(a.dstmac) + sock.getsockname()[4] + tags + struct.pack("!H", et) + pkt


def send(a):
    v6 = a.ipv6 or ":" in a.src
    et, pkt = ip_packet(a.kind, a.src, a.dst, v6, random.randrange(20000, 60000), a.port)
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.bind((a.iface, 0))
    try:
        sock.send(frame(a, sock, et, pkt))
    except OSError:
        pass  # ENOBUFS: a filter on the way out dropped it, which is for the caller to see
    sock.close()
    return True


def listen(a):
    socks = {}
    for spec in a.specs:
        if spec.startswith("udp:"):
            # One socket per family, so a line says which family came in.
            s4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s4.bind(("0.0.0.0", int(spec[4:])))
            socks[s4] = "udp4:" + spec[4:]
            s6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
            s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            s6.bind(("::", int(spec[4:])))
            socks[s6] = "udp6:" + spec[4:]
        elif spec == "icmp":
            socks[socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)] = spec
        elif spec == "icmpv6":
            socks[socket.socket(socket.AF_INET6, socket.SOCK_RAW,
                                socket.IPPROTO_ICMPV6)] = spec
    out = open(a.file, "a", buffering=1)
    open(a.file + ".ready", "w").close()
    end = time.monotonic() + 240
    while time.monotonic() < end:
        r, _, _ = select.select(list(socks), [], [], 0.5)
        for s in r:
            d, src = s.recvfrom(4096)
            spec = socks[s]
            if spec.startswith("udp"):
                out.write(f"{spec[:4]} {spec[5:]} {src[0]}\n")
            elif spec == "icmp":
                out.write(f"icmp {d[(d[0] & 15) * 4]} {src[0]}\n")
            else:
                out.write(f"icmp {d[0]} {src[0]}\n")


def icmp(a):
    v6 = ":" in a.dst
    s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_RAW,
                      socket.IPPROTO_ICMPV6 if v6 else socket.IPPROTO_ICMP)
    s.bind((a.src, 0))
    m = struct.pack("!BBHHH", a.type, a.code, 0, random.randrange(1, 65535), 1) + \
        bytes(random.randrange(256) for _ in range(28))
    if not v6:  # the kernel fills in the ICMPv6 checksum
        m = m[:2] + struct.pack("!H", csum(m)) + m[4:]
    try:
        s.sendto(m, (a.dst, 0))
    except OSError:
        pass  # dropped on the way out (ENOBUFS, EPERM): for the caller to see
    s.close()
    return True


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("probe")
    p.add_argument("iface")
    p.add_argument("dstmac")
    p.add_argument("kind")
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument("port", type=int)
    p.add_argument("--tags", type=int, default=0)
    p.add_argument("--tpid", type=lambda x: int(x, 0), default=0)
    p.add_argument("--ipv6", action="store_true")
    p.add_argument("--wait", type=float, default=1.0)
    p = sub.add_parser("send")
    p.add_argument("iface")
    p.add_argument("dstmac")
    p.add_argument("kind")
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument("port", type=int)
    p.add_argument("--tags", type=int, default=0)
    p.add_argument("--tpid", type=lambda x: int(x, 0), default=0)
    p.add_argument("--ipv6", action="store_true")
    p = sub.add_parser("sniff")
    p.add_argument("iface")
    p.add_argument("file")
    p.add_argument("port", type=int)
    p = sub.add_parser("listen")
    p.add_argument("file")
    p.add_argument("specs", nargs="+")
    p = sub.add_parser("icmp")
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument("type", type=int)
    p.add_argument("code", type=int, nargs="?", default=0)
    a = ap.parse_args()
    ok = {"probe": probe, "listen": listen, "icmp": icmp, "sniff": sniff, "send": send}[a.cmd](a)
    sys.exit(0 if ok or a.cmd in ("listen", "sniff") else 1)


if __name__ == "__main__":
    main()
