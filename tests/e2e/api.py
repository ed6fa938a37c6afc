#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
"""HTTP over the agent's unix socket, and checks of what it answers, for the
end-to-end tests (stdlib and Debian's python3-prometheus-client only).

  api.py req SOCK METHOD PATH [BODYFILE]   print "STATUS" on stderr, body on stdout
  api.py json FILE EXPR                    exit 0 if EXPR (Python, j = the JSON) holds
  api.py metrics FILE LOGFILE              /metrics parses and equals the last stats line
  api.py idle SOCK N SECONDS               hold N idle connections open for SECONDS
  api.py stall SOCK PATH SECONDS           request PATH and never read the answer
"""
import json
import re
import socket
import sys
import time


def connect(path, timeout=10):
    end = time.monotonic() + timeout
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect(path)
            return s
        except BlockingIOError:  # the listen backlog is full: the agent is busy
            s.close()
            if time.monotonic() > end:
                raise
            time.sleep(0.01)


def request(sock_path, method, path, body=b""):
    s = connect(sock_path)
    head = f"{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
    if method == "POST" or body:
        head += f"Content-Length: {len(body)}\r\n"
    try:
        s.sendall(head.encode() + b"\r\n" + body)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server answered early (413) and closed: read its answer
    data = b""
    while True:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    s.close()
    header, _, rest = data.partition(b"\r\n\r\n")
    lines = header.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
    if headers.get("transfer-encoding", "").lower() == "chunked":
        out = b""
        while rest:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                break
            out += rest[:size]
            rest = rest[size + 2:]
        rest = out
    return status, headers, rest


def cmd_req(args):
    sock, method, path = args[:3]
    body = open(args[3], "rb").read() if len(args) > 3 else b""
    status, headers, payload = request(sock, method, path, body)
    sys.stderr.write(f"{status} {headers.get('content-type', '')}\n")
    sys.stdout.buffer.write(payload)
    return 0


def cmd_json(args):
    path, expr = args
    with open(path) as f:
        j = json.load(f)
    try:
        ok = eval(expr, {"j": j, "any": any, "all": all, "len": len, "sorted": sorted})
    except Exception as e:  # a missing key is a failed check, said clearly
        print(f"  {expr}: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    if not ok:
        print(f"  does not hold: {expr}\n  in: {json.dumps(j)[:2000]}", file=sys.stderr)
    return 0 if ok else 1


def cmd_metrics(args):
    from prometheus_client.parser import text_string_to_metric_families

    path, logfile = args
    text = open(path).read()
    samples = {}
    families = {}
    for fam in text_string_to_metric_families(text):
        families[fam.name] = fam.type
        for s in fam.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    stats = [l for l in open(logfile) if "stats: " in l]
    if not stats:
        print("  no stats line in the log", file=sys.stderr)
        return 1
    st = dict(re.findall(r"(\w+)=(\d+)", stats[-1].split("stats: ", 1)[1]))
    want = {
        ("microsegd_packets_total", (("verdict", "allow"),)): st["allowed"],
        ("microsegd_packets_total", (("verdict", "deny"),)): st["denied"],
        ("microsegd_packets_total", (("verdict", "audit"),)): st["audit"],
        ("microsegd_new_flows_total", ()): st["new_flows"],
        ("microsegd_events_lost_total", ()): st["events_lost"],
        ("microsegd_revoked_flows_total", ()): st["revoked"],
        ("microsegd_malformed_packets_total", ()): st["malformed"],
    }
    bad = 0
    for key, v in want.items():
        if samples.get(key) != float(v):
            print(f"  {key}: metrics {samples.get(key)} != stats line {v}", file=sys.stderr)
            bad = 1
    for name in ("microsegd_packets", "microsegd_flows", "microsegd_rule_hits",
                 "microsegd_events_lost", "microsegd_policy_reloads",
                 "microsegd_malformed_packets", "microsegd_revoked_flows",
                 "microsegd_anomalies"):
        if families.get(name) != "counter":
            print(f"  {name}_total is not a counter: {families.get(name)}", file=sys.stderr)
            bad = 1
    for name in ("microsegd_sessions", "microsegd_sessions_max", "microsegd_policy_generation",
                 "microsegd_policy_rules", "microsegd_graph_edges",
                 "microsegd_policy_last_reload_timestamp_seconds"):
        if families.get(name) != "gauge":
            print(f"  {name} is not a gauge: {families.get(name)}", file=sys.stderr)
            bad = 1
    if families.get("microsegd_build_info") not in ("gauge", "info"):
        print("  no microsegd_build_info", file=sys.stderr)
        bad = 1
    return bad


def cmd_idle(args):
    sock, n, secs = args[0], int(args[1]), float(args[2])
    conns = [connect(sock) for _ in range(n)]
    print(f"holding {len(conns)}", flush=True)
    time.sleep(secs)
    for c in conns:
        c.close()
    return 0


def cmd_stall(args):
    sock, path, secs = args[0], args[1], float(args[2])
    s = connect(sock)
    # A tiny receive buffer, so the agent's side fills quickly.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
    print("stalled", flush=True)
    time.sleep(secs)
    s.close()
    return 0


def main():
    cmds = {"req": cmd_req, "json": cmd_json, "metrics": cmd_metrics, "idle": cmd_idle,
            "stall": cmd_stall}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        print(__doc__, file=sys.stderr)
        return 2
    return cmds[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
