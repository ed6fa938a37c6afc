#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
"""A datagram listener standing in for systemd's notification socket, and a
search of what it heard (tests/e2e/test_notify.sh).

  notify.py listen ADDR OUT READY  each datagram to ADDR (a path, or @name
                                   for an abstract socket) one JSON line in
                                   OUT: its text and the listener's
                                   CLOCK_MONOTONIC at receipt, in
                                   microseconds; READY once bound; 60 s at most
  notify.py has OUT PYEXPR         exit 0 if a datagram satisfies PYEXPR, over
                                   m (its text), t (its receipt time), kv (its
                                   KEY=VALUE lines) and path (OUT)
"""
import json
import socket
import sys
import time


def listen(addr, out, ready):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind('\0' + addr[1:] if addr.startswith('@') else addr)
    open(ready, 'w').close()
    s.settimeout(1)
    end = time.monotonic() + 60
    with open(out, 'a', buffering=1) as f:
        while time.monotonic() < end:
            try:
                d = s.recv(4096)
            except socket.timeout:
                continue
            now = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
            f.write(json.dumps({'msg': d.decode(), 'now_us': now}) + '\n')


def has(path, expr):
    ok = False
    for line in open(path):
        r = json.loads(line)
        m, t = r['msg'], r['now_us']
        kv = dict(l.split('=', 1) for l in m.splitlines() if '=' in l)
        if eval(expr):
            ok = True
    return ok


if sys.argv[1] == 'listen':
    listen(*sys.argv[2:5])
else:
    sys.exit(0 if has(*sys.argv[2:4]) else 1)
