# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
"""Traffic of tests/e2e/test_restart.sh: connections the server pushes
messages on, a prober of denied ports, and the analysis of what arrived.

Every loop is bounded by a stop file and a hard deadline. Times are
CLOCK_MONOTONIC, which network namespaces share, so the server's send times
and the client's receive times compare directly.

  server READY STOP                tcp/8080 and udp/8081: push "SEQ SENT\\n"
                                   every PERIOD s to each client, tcp/8082
                                   every SLOW_PERIOD s; tcp/9090 and udp/9091:
                                   answer anything (the prober's)
  client tcp|udp ADDR PORT OUT STOP   receive pushes, one "RECV SEQ SENT" line
                                   each in OUT
  probe OUT STOP ADDR...           denied traffic (tcp/9090 connects, udp/9091
                                   datagrams) to each ADDR until STOP; writes
                                   "ATTEMPTS ANSWERED" to OUT
  flood SRC_NET DST PORT COUNT [R]  COUNT spoofed TCP SYNs to DST:PORT, each from a
                                   random address of SRC_NET (a /16) and port,
                                   each sent R times (1): retransmitted SYNs
  connect ADDR PORT                exit 0 if a TCP connection is accepted in 1 s
  analyze OUT AFTER [N]            check OUT: at least N (4) messages sent after
                                   AFTER, no sequence number missing; prints the
                                   longest gap between two arrivals
"""
import os
import random
import select
import socket
import struct
import sys
import time

from net import csum  # tests/e2e/net.py

PERIOD = 0.25
SLOW_PERIOD = 5.0
DEADLINE = 120


def listener(kind, port):
    s = socket.socket(socket.AF_INET6, kind)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(('::', port))
    if kind == socket.SOCK_STREAM:
        s.listen(64)
    s.setblocking(False)
    return s


def server(ready, stop):
    end = time.monotonic() + DEADLINE
    push_tcp = listener(socket.SOCK_STREAM, 8080)
    slow_tcp = listener(socket.SOCK_STREAM, 8082)
    push_udp = listener(socket.SOCK_DGRAM, 8081)
    probe_tcp = listener(socket.SOCK_STREAM, 9090)
    probe_udp = listener(socket.SOCK_DGRAM, 9091)
    conns = {}  # socket -> next seq
    slow = set()  # the sockets of conns pushed to every SLOW_PERIOD s
    next_slow = time.monotonic()
    peers = {}  # udp address -> next seq
    open(ready, 'w').close()
    next_push = time.monotonic()
    while time.monotonic() < end and not os.path.exists(stop):
        wait = max(0.0, next_push - time.monotonic())
        r, _, _ = select.select([push_tcp, slow_tcp, push_udp, probe_tcp, probe_udp] +
                                list(conns), [], [], wait)
        for s in r:
            if s is push_tcp or s is slow_tcp:
                c, _ = s.accept()
                c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                conns[c] = 0
                if s is slow_tcp:
                    slow.add(c)
            elif s is push_udp:
                try:
                    _, addr = s.recvfrom(4096)
                    peers.setdefault(addr, 0)
                except OSError:
                    pass
            elif s is probe_tcp:
                try:
                    c, _ = s.accept()
                    c.close()
                except OSError:
                    pass
            elif s is probe_udp:
                try:
                    d, addr = s.recvfrom(4096)
                    s.sendto(d, addr)
                except OSError:
                    pass
            else:  # a push client closed or sent something
                try:
                    if not s.recv(4096):
                        raise OSError
                except OSError:
                    del conns[s]
                    slow.discard(s)
                    s.close()
        now = time.monotonic()
        if now < next_push:
            continue
        next_push = now + PERIOD
        push_slow = now >= next_slow
        if push_slow:
            next_slow = now + SLOW_PERIOD
        for c in list(conns):
            if c in slow and not push_slow:
                continue
            try:
                c.send(b'%d %.6f\n' % (conns[c], now))
                conns[c] += 1
            except BlockingIOError:
                pass  # a full send buffer: TCP will deliver in order
            except OSError:
                del conns[c]
                slow.discard(c)
        for addr in peers:
            try:
                push_udp.sendto(b'%d %.6f\n' % (peers[addr], now), addr)
            except OSError:
                pass  # counted by the client as a missing number
            peers[addr] += 1


def family(addr):
    return socket.AF_INET6 if ':' in addr else socket.AF_INET


def client(proto, addr, port, out, stop):
    end = time.monotonic() + DEADLINE
    f = open(out, 'w', buffering=1)
    if proto == 'tcp':
        # A loaded machine (suites run in parallel) may lose the first SYN's
        # answer; a few bounded tries, each said on stderr, then give up.
        for attempt in range(3):
            try:
                s = socket.create_connection((addr, int(port)), timeout=3)
                break
            except OSError as e:
                print('client: connect %s:%s try %d: %s' % (addr, port, attempt + 1, e),
                      file=sys.stderr)
                if attempt == 2:
                    raise
                time.sleep(0.5)
    else:
        s = socket.socket(family(addr), socket.SOCK_DGRAM)
        s.connect((addr, int(port)))
        s.send(b'hello')  # the one packet of ours: the flow's initiator
    s.setblocking(False)
    buf = b''
    while time.monotonic() < end and not os.path.exists(stop):
        r, _, _ = select.select([s], [], [], 0.2)
        if not r:
            continue
        try:
            d = s.recv(65536)
        except OSError:
            continue
        if proto == 'tcp' and not d:
            f.write('closed\n')
            return
        now = time.monotonic()
        if proto == 'udp':
            d += b'\n' if not d.endswith(b'\n') else b''
        buf += d
        while b'\n' in buf:
            line, buf = buf.split(b'\n', 1)
            f.write('%.6f %s\n' % (now, line.decode()))


def probe(out, stop, addrs):
    end = time.monotonic() + DEADLINE
    attempts = answered = 0
    while time.monotonic() < end and not os.path.exists(stop):
        for a in addrs:
            attempts += 1
            try:
                c = socket.create_connection((a, 9090), timeout=0.1)
                c.close()
                answered += 1
            except OSError:
                pass
            attempts += 1
            u = socket.socket(family(a), socket.SOCK_DGRAM)
            u.settimeout(0.05)
            try:
                u.sendto(b'probe', (a, 9091))
                u.recvfrom(64)
                answered += 1
            except OSError:
                pass
            u.close()
    with open(out, 'w') as f:
        f.write('%d %d\n' % (attempts, answered))


def analyze(out, after, min_late=4):
    after = float(after)
    rows = []
    for line in open(out):
        p = line.split()
        if len(p) == 3:
            rows.append((float(p[0]), int(p[1]), float(p[2])))
    if not rows:
        print('no message received')
        return False
    seqs = [r[1] for r in rows]
    missing = sorted(set(range(seqs[0], seqs[-1] + 1)) - set(seqs))
    gap = max((b[0] - a[0] for a, b in zip(rows, rows[1:])), default=0.0)
    late = sum(1 for r in rows if r[2] > after)
    print('%d messages, seq %d..%d, %d missing, %d sent after the mark, '
          'longest gap between arrivals %.0f ms' % (
              len(rows), seqs[0], seqs[-1], len(missing), late, gap * 1000))
    return not missing and late >= int(min_late)


def flood(src_net, dst, port, count, repeat=1):
    """Spoofed SYNs through a raw socket (IP_HDRINCL: the kernel fills in
    the IP checksum); the TCP checksum is right, so a listener answers."""
    end = time.monotonic() + 60
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    base = socket.inet_aton(src_net)[:2]
    daddr = socket.inet_aton(dst)
    port = int(port)
    rnd = random.Random(port)
    sent = 0
    for _ in range(int(count)):
        if time.monotonic() > end:
            break
        saddr = base + bytes([rnd.randrange(256), rnd.randrange(1, 255)])
        sport = rnd.randrange(1024, 65536)
        tcp = struct.pack('!HHIIBBHHH', sport, port, rnd.randrange(1 << 32), 0, 5 << 4,
                          0x02, 64240, 0, 0)
        pseudo = saddr + daddr + struct.pack('!BBH', 0, 6, len(tcp))
        tcp = tcp[:16] + struct.pack('!H', csum(pseudo + tcp)) + tcp[18:]
        ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(tcp), 0, 0, 64, 6, 0, saddr,
                         daddr)
        for _ in range(int(repeat)):
            try:
                s.sendto(ip + tcp, (dst, 0))
                sent += 1
            except OSError:
                pass  # a full socket buffer: the flood goes on
    print(sent)


def connect(addr, port):
    try:
        socket.create_connection((addr, int(port)), timeout=1).close()
        return True
    except OSError:
        return False


cmd, args = sys.argv[1], sys.argv[2:]
if cmd == 'server':
    server(*args)
elif cmd == 'client':
    client(*args)
elif cmd == 'probe':
    probe(args[0], args[1], args[2:])
elif cmd == 'flood':
    flood(*args)
elif cmd == 'connect':
    sys.exit(0 if connect(*args) else 1)
elif cmd == 'analyze':
    sys.exit(0 if analyze(*args) else 1)
else:
    sys.exit('unknown command ' + cmd)
