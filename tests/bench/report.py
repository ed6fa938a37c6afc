#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
"""Summarise one `make bench` run: read the raw records that run.sh wrote
(one JSON object per line), merge build/bench/classifier.json, write
build/bench.json, print the table, and write the plot's data files.

    report.py --raw RAW.jsonl --meta META.json [--classifier FILE]
              --out BENCH.json --plot-data DIR

Only ratios measured in this run are headline numbers; nothing here passes or
fails on absolute times. Every summary is a median over the repetitions, with
min and max beside it.
"""

import argparse
import json
import os
import statistics
import sys

FILTERS = ["microsegd", "nftables", "iptables"]
CONFIGS = ["none"] + FILTERS


def stats(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values),
            "max": max(values), "runs": values}


def med(s):
    return s["median"] if s else None


def fmt(x, nd=1):
    if x is None:
        return "-"
    if isinstance(x, float) and abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.{nd}f}"


def spread(s, nd=1):
    if not s:
        return "-"
    return f"{fmt(s['median'], nd)} [{fmt(s['min'], nd)}..{fmt(s['max'], nd)}]"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", required=True)
    ap.add_argument("--meta", required=True)
    ap.add_argument("--classifier")
    ap.add_argument("--rulesets", help="one JSON object per generated rule set")
    ap.add_argument("--retries", help="one JSON object per setup or loop retried")
    ap.add_argument("--out", required=True)
    ap.add_argument("--plot-data", required=True)
    a = ap.parse_args()

    recs = []
    with open(a.raw) as f:
        for line in f:
            line = line.strip()
            if line:
                recs.append(json.loads(line))
    with open(a.meta) as f:
        meta = json.load(f)

    def values(phase, cfg, test, field, rules=None):
        out = []
        for r in recs:
            if r["phase"] == phase and r["cfg"] == cfg and r["test"] == test \
                    and (rules is None or r.get("rules") == rules):
                v = r["result"]
                for k in field.split("."):
                    v = v.get(k) if isinstance(v, dict) else None
                out.append(v)
        return out

    raw = {"throughput_gbps": {}, "rr_p50_us": {}, "rr_p99_us": {},
           "conn_per_s": {}, "conn_failed": {}, "iperf_retransmits": {}}
    for cfg in CONFIGS:
        raw["throughput_gbps"][cfg] = stats(values("main", cfg, "tput", "gbps"))
        raw["iperf_retransmits"][cfg] = stats(values("main", cfg, "tput", "retransmits"))
        raw["rr_p50_us"][cfg] = stats(values("main", cfg, "rr", "rtt_us.p50"))
        raw["rr_p99_us"][cfg] = stats(values("main", cfg, "rr", "rtt_us.p99"))
        raw["conn_per_s"][cfg] = stats(values("main", cfg, "conn", "conn_per_s"))
        raw["conn_failed"][cfg] = sum(v or 0 for v in values("main", cfg, "conn", "failed"))

    # Headline numbers are paired: in each round, a filter's result against
    # the no-filter result of the same round (they ran seconds apart), then
    # the median over the rounds, so slow drift of the machine cancels out.
    def per_round(cfg, test, field):
        by_rep = {}
        for r in recs:
            if r["phase"] == "main" and r["test"] == test and r["cfg"] in ("none", cfg):
                v = r["result"]
                for k in field.split("."):
                    v = v.get(k) if isinstance(v, dict) else None
                by_rep.setdefault(r["rep"], {})[r["cfg"]] = v
        return [(d["none"], d[cfg]) for _, d in sorted(by_rep.items())
                if d.get("none") is not None and d.get(cfg) is not None]

    paired = {"throughput_ratio": {}, "latency_us_added": {}, "conn_rate_ratio": {}}
    for c in FILTERS:
        paired["throughput_ratio"][c] = stats([x / b for b, x in per_round(c, "tput", "gbps") if b])
        paired["latency_us_added"][c] = stats([x - b for b, x in per_round(c, "rr", "rtt_us.p50")])
        paired["conn_rate_ratio"][c] = stats([x / b for b, x in per_round(c, "conn", "conn_per_s") if b])

    def rounded(s, nd):
        return round(s["median"], nd) if s else None

    out = {
        "throughput_ratio": {c: rounded(paired["throughput_ratio"][c], 4) for c in FILTERS},
        "latency_us_added": {c: rounded(paired["latency_us_added"][c], 2) for c in FILTERS},
        "conn_rate_ratio": {c: rounded(paired["conn_rate_ratio"][c], 4) for c in FILTERS},
        "spread": paired,
    }

    # The agent's share of one CPU while connections came (main rounds),
    # and whether its flow log kept up: lines written against connections.
    out["agent_cpu_pct"] = rounded(stats(values("main", "microsegd", "agent_cpu", "pct")), 1)
    out["agent_cpu_pct_spread"] = stats(values("main", "microsegd", "agent_cpu", "pct"))
    # The classifier on the real path (a loop of its own with the kernel's
    # BPF statistics): ns per packet of each hook and per connection.
    insitu = {}
    for k in ("ingress_ns", "egress_ns", "ingress_per_conn", "egress_per_conn", "per_conn_ns"):
        st = stats(values("insitu", "microsegd", "insitu", k))
        if st:
            insitu[k] = st
    out["classifier_ns_in_situ"] = {k: rounded(v, 1) for k, v in insitu.items()}
    out["classifier_ns_in_situ_spread"] = insitu
    fl = [r["result"] for r in recs if r["phase"] == "main" and r["test"] == "flow_log"]
    out["flow_log_lines_per_conn"] = rounded(stats([x["lines"] / x["conns"] for x in fl
                                                     if x.get("conns")]), 3)

    def api(test, rep=None):
        res = [r["result"] for r in recs if r["phase"] == "api" and r["test"] == test
               and (rep is None or r["rep"] == rep)]
        return res[-1] if res else None

    def agent(rep, field):
        res = [r["result"].get(field) for r in recs if r["phase"] == "api" and
               r["test"] == "agent_cpu" and r["rep"] == rep]
        return res[-1] if res else None

    conn = api("conn", 1)
    out["api_ms"] = {"idle": api("api_idle"),
                     "under_load": api("api_load", 1),
                     "agent_cpu_pct_under_load": agent(1, "pct"),
                     "agent_runq_wait_pct_under_load": agent(1, "runq_wait_pct"),
                     "conn_per_s_under_load": conn.get("conn_per_s") if conn else None,
                     # the agent at the traffic's priority (nice -10)
                     "under_load_agent_nice_-10": api("api_load", 2),
                     "agent_cpu_pct_under_load_nice_-10": agent(2, "pct"),
                     "agent_runq_wait_pct_under_load_nice_-10": agent(2, "runq_wait_pct")}
    tools = [r["result"] for r in recs if r["phase"] == "tools"]
    if tools:
        out["suggest_s"] = tools[-1]["suggest_s"]
        out["replay_s"] = tools[-1]["replay_s"]
        out["tools_flow_log"] = {"lines": tools[-1]["lines"], "bytes": tools[-1]["bytes"]}

    rss = [r["result"] for r in recs if r["test"] == "rss"]
    out["rss_kb"] = {"idle_10000_rules": rss[-1]["vmrss_kb"] if rss else None}
    if rss:
        out["rss_detail"] = rss[-1]

    sweep_rules = sorted({r["rules"] for r in recs if r["phase"] == "sweep"})
    sweep = {"rules": sweep_rules}
    for c in FILTERS:
        sweep[c] = {str(n): stats(values("sweep", c, "conn", "conn_per_s", n)) for n in sweep_rules}
    out["conn_rate_sweep"] = sweep
    load = {}
    for r in recs:
        if r["test"] == "load":
            load.setdefault(r["cfg"], {})[str(r["rules"])] = r["result"]
    out["load"] = load
    if a.rulesets and os.path.exists(a.rulesets):
        with open(a.rulesets) as f:
            out["rule_sets"] = {str(r["rules"]): r for r in map(json.loads, filter(str.strip, f))}
    retried = []
    if a.retries and os.path.exists(a.retries):
        with open(a.retries) as f:
            retried = [json.loads(line) for line in f if line.strip()]
    out["retried"] = retried
    out["raw"] = raw
    out["meta"] = meta

    classifier = None
    if a.classifier and os.path.exists(a.classifier):
        try:
            with open(a.classifier) as f:
                classifier = json.load(f)
        except (OSError, ValueError) as e:
            print(f"report: cannot read {a.classifier}: {e}", file=sys.stderr)
    if isinstance(classifier, dict):
        for k, v in classifier.items():
            if k not in out:
                out[k] = v
            else:
                out.setdefault("classifier", {})[k] = v
    meta["classifier_json"] = bool(classifier)

    with open(a.out, "w") as f:
        json.dump(out, f, indent=2)
        f.write("\n")

    # Plot data: conn/s per filter against rules; new-flow ns against rules.
    os.makedirs(a.plot_data, exist_ok=True)
    with open(os.path.join(a.plot_data, "conn_sweep.dat"), "w") as f:
        f.write("# rules " + " ".join(f"{c}_med {c}_min {c}_max" for c in FILTERS) + "\n")
        for n in sweep_rules:
            cols = [str(n)]
            for c in FILTERS:
                s = sweep[c][str(n)]
                cols += [fmt_plain(s, k) for k in ("median", "min", "max")]
            f.write(" ".join(cols) + "\n")
    none_conn = med(raw["conn_per_s"]["none"])
    with open(os.path.join(a.plot_data, "conn_none.dat"), "w") as f:
        f.write(f"{none_conn if none_conn is not None else 'NaN'}\n")
    nf = (classifier or {}).get("classifier_ns", {}).get("new_flow") if classifier else None
    with open(os.path.join(a.plot_data, "newflow_ns.dat"), "w") as f:
        f.write("# rules ns_per_packet\n")
        if isinstance(nf, dict):
            for k in sorted(nf, key=lambda x: int(x)):
                v = nf[k]
                if isinstance(v, dict):   # {"median": ..} or similar
                    v = v.get("median", v.get("ns"))
                if isinstance(v, (int, float)):
                    f.write(f"{int(k)} {v}\n")

    print_table(out, raw, meta, sweep, load, classifier)


def fmt_plain(s, k):
    return "NaN" if not s else f"{s[k]:.1f}"


def print_table(out, raw, meta, sweep, load, classifier):
    w = 24
    print()
    print(f"microsegd bench: {meta.get('mode')} run, {meta.get('reps')} repetitions, "
          f"{meta.get('main_rules')} rules, kernel {meta.get('kernel')}, {meta.get('cpus')} CPUs")
    print(f"iptables: {meta.get('iptables_version')}; load average {' '.join(meta.get('loadavg_start', []))} "
          f"at start, {' '.join(meta.get('loadavg_end', []))} at end")
    print("medians [min..max] over the rounds; ratios and added latency are paired with the")
    print("no-filter run of the same round")
    print()
    print("".ljust(w) + "".join(c.rjust(w) for c in CONFIGS))

    def row(label, key, nd=1):
        print(label.ljust(w) + "".join(spread(raw[key][c], nd).rjust(w) for c in CONFIGS))

    def rrow(label, key, nd=3, base="1"):
        print(label.ljust(w) + base.rjust(w) +
              "".join(spread(out["spread"][key][c], nd).rjust(w) for c in FILTERS))

    row("TCP throughput Gb/s", "throughput_gbps", 2)
    rrow("  throughput_ratio", "throughput_ratio")
    row("RR round trip p50 us", "rr_p50_us", 1)
    row("RR round trip p99 us", "rr_p99_us", 1)
    rrow("  latency_us_added", "latency_us_added", 2, "0")
    row("new connections/s", "conn_per_s", 0)
    rrow("  conn_rate_ratio", "conn_rate_ratio")
    print()
    if sweep["rules"]:
        print("new connections/s against rule count (median [min..max]); (s) = time to install the rules")
        print("rules".ljust(10) + "".join(c.rjust(32) for c in FILTERS))
        for n in sweep["rules"]:
            line = str(n).ljust(10)
            for c in FILTERS:
                s = sweep[c][str(n)]
                ld = load.get(c, {}).get(str(n), {}).get("seconds")
                cell = spread(s, 0) + (f" ({ld:.1f}s)" if ld is not None else "")
                line += cell.rjust(32)
            print(line)
        print()
    print(f"rss_kb.idle_10000_rules: {out['rss_kb']['idle_10000_rules']}")
    print(f"agent_cpu_pct (connection loop, one CPU = 100): {spread(out['agent_cpu_pct_spread'])}; "
          f"flow-log lines per connection {out['flow_log_lines_per_conn']}")
    ins = out.get("classifier_ns_in_situ") or {}
    if ins:
        print("classifier_ns_in_situ (connection loop, BPF statistics on): "
              + ", ".join(f"{k} {ins[k]}" for k in ins))
    am = out["api_ms"]
    for k in ("idle", "under_load", "under_load_agent_nice_-10"):
        if am.get(k):
            print(f"api_ms {k}: status p50 {am[k]['status']['p50_ms']} p99 {am[k]['status']['p99_ms']}, "
                  f"graph ({am[k]['graph']['edges']} edges) p50 {am[k]['graph']['p50_ms']} "
                  f"p99 {am[k]['graph']['p99_ms']}")
    for sfx in ("", "_nice_-10"):
        if am.get("agent_cpu_pct_under_load" + sfx) is not None:
            print(f"  agent under load{sfx.replace('_', ' ')}: {am['agent_cpu_pct_under_load' + sfx]} % "
                  f"of a CPU, waited for one {am['agent_runq_wait_pct_under_load' + sfx]} % of the time")
    if "suggest_s" in out:
        print(f"suggest_s {out['suggest_s']}, replay_s {out['replay_s']} "
              f"({out['tools_flow_log']['lines']:,} lines)")
    if out["retried"]:
        print(f"retried once ({len(out['retried'])}):")
        for r in out["retried"]:
            print(f"  {r['phase']} {r['cfg']} {r['rules']} rules round {r['rep']}: {r['what']}: {r['reason']}")
    else:
        print("retried: nothing")
    if classifier:
        cn = classifier.get("classifier_ns")
        if cn is not None:
            print(f"classifier_ns: {json.dumps(cn)}")
        for k in ("floor_ratio", "reload_ms", "reload_phases_ms", "map_bytes", "events_per_s",
                  "events_lost"):
            if k in classifier:
                print(f"{k}: {json.dumps(classifier[k])}")
    else:
        print("classifier: no build/bench/classifier.json (bench_classifier not built or failed)")
    print()


if __name__ == "__main__":
    main()
