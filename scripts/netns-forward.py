#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
"""Bring a TCP port of a network namespace to this one:

    netns-forward.py NETNS LISTEN_ADDR LISTEN_PORT TARGET_ADDR TARGET_PORT [SECONDS]

`make demo` runs microsegd inside a namespace of its own; this makes its
read-only web console (--web 127.0.0.1:9595 in there) reachable from a
browser on this machine. The listening socket is made here, then the process
moves into NETNS (setns), so every connection it makes to the target is made
in there. LISTEN_PORT 0 picks a free port; the port is printed on stdout.
The forwarder ends by itself after SECONDS (default 3600).
"""
import ctypes
import os
import select
import socket
import sys
import time

CLONE_NEWNET = 0x40000000


def main():
    ns, laddr, lport, taddr, tport = sys.argv[1:6]
    seconds = float(sys.argv[6]) if len(sys.argv) > 6 else 3600
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((laddr, int(lport)))
    ls.listen(64)
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open('/run/netns/' + ns, os.O_RDONLY)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        sys.exit('netns-forward: setns %s: %s' % (ns, os.strerror(ctypes.get_errno())))
    os.close(fd)
    print(ls.getsockname()[1], flush=True)
    peer = {}  # socket -> the other end
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        r, _, _ = select.select([ls] + list(peer), [], [], 1)
        for s in r:
            if s is ls:
                c, _ = ls.accept()
                t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                t.settimeout(2)
                try:
                    t.connect((taddr, int(tport)))
                except OSError:
                    c.close()
                    t.close()
                    continue
                t.settimeout(None)
                peer[c], peer[t] = t, c
                continue
            if s not in peer:
                continue  # closed earlier in this round
            try:
                data = s.recv(65536)
            except OSError:
                data = b''
            other = peer[s]
            if data:
                try:
                    other.sendall(data)
                    continue
                except OSError:
                    pass
            for x in (s, other):
                peer.pop(x, None)
                x.close()


if __name__ == '__main__':
    main()
