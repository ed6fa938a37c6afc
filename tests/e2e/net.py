#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
"""The end-to-end tests' traffic (tests/e2e/lib.sh): raw-socket ICMP echo,
TCP/UDP echo clients and servers, a connection held across a reload, and a
search of the flow log; no ping, nc or socat needed. Every loop is bounded.

  net.py serve READY PROTO/PORT...   echo servers, READY created once bound
  net.py tcp|udp ADDR PORT           exit 0 if the echo comes back
  net.py ping ADDR                   exit 0 if an echo reply comes back
  net.py hold ADDR PORT TRIGGER OUT  one echo before, one after TRIGGER exists
  net.py flows FLOWLOG PYEXPR        exit 0 if a line's object `e` satisfies it
  net.py syns ADDR FIRST END SECS    a TCP SYN to each port FIRST..END-1 (a scan)
  net.py udp_ports ADDR FIRST END SECS  a datagram to each port FIRST..END-1
  net.py udp_flows ADDR PORT N       N datagrams to PORT, each from its own
                                     source port (20000 on), 100 per 0.1 s
"""
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
    """The Internet checksum (RFC 1071) of b."""
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

def syns(addr, first, end, secs):
    deadline = time.monotonic() + float(secs)
    for port in range(int(first), int(end)):
        if time.monotonic() > deadline:
            break
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect((addr, port))
        except BlockingIOError:
            pass
        s.close()

def udp_ports(addr, first, end, secs):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    deadline = time.monotonic() + float(secs)
    for port in range(int(first), int(end)):
        if time.monotonic() > deadline:
            break
        s.sendto(b"x", (addr, port))

def udp_flows(addr, port, n):
    for i in range(int(n)):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("", 20000 + i))  # distinct flows: no source port reused
        s.sendto(b"x", (addr, int(port)))
        s.close()
        if i % 100 == 99:
            time.sleep(0.1)

def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == 'serve':
        serve(args[0], args[1:])
    elif cmd in ('hold', 'syns', 'udp_ports', 'udp_flows'):
        {'hold': hold, 'syns': syns, 'udp_ports': udp_ports, 'udp_flows': udp_flows}[cmd](*args)
    else:
        sys.exit(0 if {'tcp': tcp, 'udp': udp, 'ping': ping, 'flows': flows}[cmd](*args) else 1)

# The other helpers beside it import its pieces (the Internet checksum).
if __name__ == '__main__':
    main()
