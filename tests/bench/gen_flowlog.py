#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
"""A synthetic flow log in the flow-log schema (docs/FLOWLOG.md), for the
offline tools' benchmark: `lines` events among `edges` distinct
(src, dst, proto, port) edges of a few tiers of workloads, most of them
allowed flows that ended, some denied, some new; deterministic for a seed.

gen_flowlog.py LINES EDGES OUT [SEED]
"""
import random
import sys


def main():
    lines, edges, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    rnd = random.Random(int(sys.argv[4]) if len(sys.argv) > 4 else 1)
    # Tiers: clients in 198.18.0.0/16 call services in 198.19.0.0/16 on a
    # handful of ports; an edge is (client, service, port).
    ports = [80, 443, 5432, 6379, 8080, 9090, 53, 22]
    seen, es = set(), []
    while len(es) < edges:
        c = "198.18.%d.%d" % (rnd.randrange(64), rnd.randrange(1, 255))
        s = "198.19.%d.%d" % (rnd.randrange(16), rnd.randrange(1, 255))
        port = rnd.choice(ports)
        proto = "udp" if port == 53 else "tcp"
        if (c, s, port) in seen:
            continue
        seen.add((c, s, port))
        es.append((c, s, proto, port))
    head = '{"time":"2026-12-07T%02d:%02d:%02d.%03dZ","event":"%s","verdict":"%s","rule":"%s",' \
           '"direction":"ingress","interface":"eth0","family":"ipv4","proto":"%s",' \
           '"src":"%s","dst":"%s","sport":%d,"dport":%d'
    with open(out, "w") as f:
        for i in range(lines):
            c, s, proto, port = es[rnd.randrange(len(es))]
            t = i * 3600 // max(lines, 1)
            r = rnd.random()
            if port == 22 or r < 0.1:
                ev, verdict, rule = "flow_deny", "deny", "default"
            elif r < 0.2:
                ev, verdict, rule = "flow_new", "allow", "r%d" % port
            else:
                ev, verdict, rule = "flow_end", "allow", "r%d" % port
            line = head % (t // 3600, t // 60 % 60, t % 60, i % 1000, ev, verdict, rule,
                           proto, c, s, 1024 + i % 60000, port)
            if ev == "flow_end":
                p = 2 + i % 20
                line += ',"packets":%d,"bytes":%d,"packets_in":%d,"packets_out":%d,' \
                        '"bytes_in":%d,"bytes_out":%d' % (p, p * 300, p // 2, p - p // 2,
                                                         p // 2 * 300, (p - p // 2) * 300)
            f.write(line + ',"generation":1}\n')


if __name__ == "__main__":
    main()
