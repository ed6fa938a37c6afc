#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
"""Hostile and careful clients of the agent's web listener and API socket, for
the end-to-end tests (stdlib only). Every loop is bounded in count and time.

  webguard.py get ADDR PORT PATH HOST      print the status of a GET with Host: HOST
  webguard.py bodies ADDR PORT PATH N SIZE N requests, each announcing and sending
                                           SIZE bytes of body to PATH; print how
                                           many were answered, and their statuses
  webguard.py slow ADDR PORT N SECONDS     N clients sending one header line every
                                           second for SECONDS; print how many the
                                           server cut before the end
  webguard.py timed ADDR PORT PATH [OUT]   print the seconds a GET of PATH took,
                                           its status and size; the body to OUT
  webguard.py poll SOCK PATH SECONDS OUT   GET PATH on the unix socket SOCK again
                                           and again for SECONDS; write the worst
                                           latency in seconds to OUT
"""
import json
import select
import socket
import sys
import time


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def read_all(s, limit=1 << 24):
    data = b""
    while len(data) < limit:
        try:
            chunk = s.recv(65536)
        except (ConnectionResetError, socket.timeout):
            break
        if not chunk:
            break
        data += chunk
    return data


def status_of(data):
    try:
        return int(data.split(b"\r\n", 1)[0].split()[1])
    except (IndexError, ValueError):
        return 0


def get(addr, port, path, host, timeout=20):
    s = socket.create_connection((addr, int(port)), timeout=timeout)
    if host is None:
        host = f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    data = read_all(s)
    s.close()
    return data


def cmd_get(addr, port, path, host):
    data = get(addr, port, path, host)
    try:
        print(status_of(data), flush=True)
        sys.stdout.write(data.partition(b"\r\n\r\n")[2].decode("utf-8", "replace")[:300] + "\n")
        sys.stdout.flush()
    except BrokenPipeError:  # a reader that wanted the status only
        sys.stderr.close()


def cmd_bodies(addr, port, path, n, size):
    """Open N connections, send each one's headers and as much of its body as
    the server takes, all at once, so a server that buffers them holds N
    bodies at the same time."""
    n, size = int(n), int(size)
    end = time.monotonic() + 40
    chunk = b"x" * 65536
    conns = []
    for _ in range(n):
        s = socket.create_connection((addr, int(port)), timeout=5)
        s.setblocking(False)
        head = (f"POST {path} HTTP/1.1\r\nHost: {addr}:{port}\r\n"
                f"Content-Length: {size}\r\nContent-Type: text/plain\r\n\r\n").encode()
        conns.append({"s": s, "out": head, "left": size, "in": b"", "done": False})
    while time.monotonic() < end and not all(c["done"] for c in conns):
        wr = [c["s"] for c in conns if not c["done"] and (c["out"] or c["left"])]
        rd = [c["s"] for c in conns if not c["done"]]
        r, w, _ = select.select(rd, wr, [], 1)
        for c in conns:
            s = c["s"]
            if s in w:
                if not c["out"] and c["left"]:
                    c["out"] = chunk[:min(len(chunk), c["left"])]
                    c["left"] -= len(c["out"])
                try:
                    sent = s.send(c["out"])
                    c["out"] = c["out"][sent:]
                except BlockingIOError:
                    pass
                except OSError:
                    c["out"], c["left"] = b"", 0
            if s in r:
                try:
                    d = s.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    d = b""
                c["in"] += d
                if not d:
                    c["done"] = True
    statuses = [status_of(c["in"]) for c in conns]
    for c in conns:
        c["s"].close()
    print(sum(1 for st in statuses if st), " ".join(sorted(set(str(st) for st in statuses))))


def cmd_slow(addr, port, n, seconds):
    n, seconds = int(n), float(seconds)
    conns = []
    for _ in range(n):
        try:
            s = socket.create_connection((addr, int(port)), timeout=5)
        except OSError:
            continue
        s.sendall(b"GET /v1/status HTTP/1.1\r\n")
        conns.append(s)
    print(f"opened {len(conns)}", file=sys.stderr, flush=True)
    end = time.monotonic() + seconds
    cut = set()
    i = 0
    while time.monotonic() < end and len(cut) < len(conns):
        time.sleep(1)
        i += 1
        for k, s in enumerate(conns):
            if k in cut:
                continue
            try:
                s.sendall(b"X-Slow-%d: %d\r\n" % (i, i))
                r, _, _ = select.select([s], [], [], 0)
                if r and not s.recv(4096):
                    cut.add(k)
            except OSError:
                cut.add(k)
    for s in conns:
        s.close()
    print(len(cut))


def cmd_timed(addr, port, path, out=None):
    t = time.monotonic()
    host = f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"
    data = get(addr, port, path, host, timeout=120)
    print("%.3f %d %d" % (time.monotonic() - t, status_of(data), len(data)))
    if out:
        with open(out, "wb") as f:
            f.write(data.partition(b"\r\n\r\n")[2])


def unix_get(sock, path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(sock)
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode())
    data = read_all(s)
    s.close()
    return data


def cmd_poll(sock, path, seconds, out):
    end = time.monotonic() + float(seconds)
    worst = 0.0
    n = 0
    while time.monotonic() < end:
        t = time.monotonic()
        try:
            ok = status_of(unix_get(sock, path)) == 200
        except OSError:
            ok = False
        d = time.monotonic() - t
        if not ok:
            d = max(d, 99.0)
        worst = max(worst, d)
        n += 1
        time.sleep(0.1)
    with open(out, "w") as f:
        f.write("%.3f %d\n" % (worst, n))


cmd, args = sys.argv[1], sys.argv[2:]
{"get": cmd_get, "bodies": cmd_bodies, "slow": cmd_slow, "timed": cmd_timed,
 "poll": cmd_poll}[cmd](*args)
