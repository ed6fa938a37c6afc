# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
"""Helpers of tests/e2e/test_soak.sh; every loop is bounded in count and time.

  client ADDR PORT OUT STOP     one TCP connection, a message and its echo
                                every 20 ms until STOP (at most 120 s); every
                                tenth exchange also on a new connection;
                                writes "OK FAILED" to OUT
  hup PID LOG POLICY VALID INVALID N OUT
                                N reloads by SIGHUP, alternating VALID and
                                INVALID copied over POLICY, each awaited in
                                LOG; writes "DONE FDS0 FDS1 RSS0 RSS1" (after
                                the first tenth of the reloads and at the end)
"""
import os
import shutil
import signal
import socket
import sys
import time


def client(addr, port, out, stop):
    end = time.monotonic() + 120
    ok = failed = 0
    s = socket.create_connection((addr, int(port)), timeout=1)
    i = 0
    while time.monotonic() < end and not os.path.exists(stop):
        i += 1
        msg = b'%d\n' % i
        try:
            s.sendall(msg)
            got = b''
            while len(got) < len(msg):
                d = s.recv(64)
                if not d:
                    raise OSError('closed')
                got += d
            ok += got == msg
            failed += got != msg
        except OSError:
            failed += 1
            s.close()
            s = socket.create_connection((addr, int(port)), timeout=1)
        if i % 10 == 0:
            try:
                c = socket.create_connection((addr, int(port)), timeout=1)
                c.sendall(b'new\n')
                ok += c.recv(16) == b'new\n'
                c.close()
            except OSError:
                failed += 1
        time.sleep(0.02)
    with open(out, 'w') as f:
        f.write('%d %d\n' % (ok, failed))


def sample(pid):
    fds = len(os.listdir('/proc/%d/fd' % pid))
    rss = 0
    for line in open('/proc/%d/status' % pid):
        if line.startswith('VmRSS:'):
            rss = int(line.split()[1])
    return fds, rss


class Outcomes:
    """Reload outcomes logged so far, reading only what is new."""

    def __init__(self, log):
        self.f = open(log, 'rb')
        self.n = 0
        self.part = b''

    def count(self):
        data = self.part + self.f.read()
        lines = data.split(b'\n')
        self.part = lines.pop()
        for line in lines:
            self.n += b'policy reloaded' in line or b'policy reload failed' in line
        return self.n


def hup(pid, log, policy, valid, invalid, n, out):
    pid, n = int(pid), int(n)
    end = time.monotonic() + 180
    seen = Outcomes(log)
    done = seen.count()
    base = done
    first = sample(pid)
    for i in range(n):
        if time.monotonic() > end:
            break
        src = invalid if i % 2 else valid
        shutil.copyfile(src, policy + '.tmp')
        os.rename(policy + '.tmp', policy)
        os.kill(pid, signal.SIGHUP)
        wait_end = time.monotonic() + 5
        while seen.count() < done + 1 and time.monotonic() < wait_end:
            time.sleep(0.005)
        done = seen.count()
        if i == n // 10:
            first = sample(pid)
    last = sample(pid)
    with open(out, 'w') as f:
        f.write('%d %d %d %d %d\n' % (done - base, first[0], last[0], first[1], last[1]))


cmd, args = sys.argv[1], sys.argv[2:]
{'client': client, 'hup': hup}[cmd](*args)
