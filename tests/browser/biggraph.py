#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
"""A flow graph of 10,000 edges among 250 nodes, always the same (seeded), as
the state file an agent loads (tests/browser/test_console.sh).

  biggraph.py GRAPH_JSON
"""
import json, random, sys
random.seed(7)
t = "2026-12-01T00:00:00.000Z"
nodes = [{"id": "workload:svc%03d" % i, "kind": "workload", "name": "svc%03d" % i,
          "labels": {"role": random.choice(["web", "db", "cache", "api", "batch"])},
          "addresses": ["198.19.%d.%d/32" % (i // 250, i % 250 + 1)]} for i in range(250)]
edges, seen = [], set()
while len(edges) < 10000:
    a, b = random.sample(range(250), 2)
    port = random.choice([80, 443, 5432, 6379, 8080, 9090, 22, 53])
    if (a, b, port) in seen:
        continue
    seen.add((a, b, port))
    flows = random.randint(1, 500)
    denied = flows if random.random() < 0.1 else 0
    edges.append({"src": nodes[a]["id"], "dst": nodes[b]["id"], "proto": "tcp", "port": port,
                  "flows": flows, "packets": flows * 10, "bytes": flows * 1000,
                  "allowed": flows - denied, "denied": denied, "audit": 0,
                  "rules": ["default" if denied else "web"], "first_seen": t, "last_seen": t})
json.dump({"generated": t, "since": t, "truncated": False, "dropped_edges": 0,
           "nodes": nodes, "edges": edges}, open(sys.argv[1], "w"))
