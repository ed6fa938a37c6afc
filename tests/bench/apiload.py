#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
"""The control plane's latency as a console sees it: for SECONDS, GET
/v1/status every 20 ms and /v1/graph every 200 ms on the agent's unix
socket, one request at a time, each on a new connection (as curl and
microsegctl make them). Prints JSON: per path the count, p50 and p99 in
milliseconds, and the graph's edge count.

apiload.py SOCKET SECONDS
"""
import http.client
import json
import socket
import sys
import time


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=10)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(self.path)


def get(sock, path):
    t0 = time.monotonic()
    c = UnixHTTP(sock)
    c.request("GET", path)
    r = c.getresponse()
    body = r.read()
    c.close()
    ms = (time.monotonic() - t0) * 1000
    if r.status != 200:
        sys.exit(f"apiload: GET {path}: HTTP {r.status}")
    return ms, body


def pct(v, p):
    v = sorted(v)
    return round(v[min(len(v) - 1, int(p / 100 * len(v)))], 3) if v else None


def main():
    sock, seconds = sys.argv[1], float(sys.argv[2])
    lat = {"/v1/status": [], "/v1/graph": []}
    edges = None
    end = time.monotonic() + seconds
    next_graph = 0.0
    while time.monotonic() < end:
        now = time.monotonic()
        if now >= next_graph:
            ms, body = get(sock, "/v1/graph")
            lat["/v1/graph"].append(ms)
            edges = len(json.loads(body).get("edges", []))
            next_graph = now + 0.2
        ms, _ = get(sock, "/v1/status")
        lat["/v1/status"].append(ms)
        time.sleep(0.02)
    out = {k.rsplit("/", 1)[1]: {"n": len(v), "p50_ms": pct(v, 50), "p99_ms": pct(v, 99)}
           for k, v in lat.items()}
    out["graph"]["edges"] = edges
    print(json.dumps(out))


if __name__ == "__main__":
    main()
