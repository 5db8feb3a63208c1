#!/usr/bin/env python3
"""The table of scripts/bench_control from its results directory: round trips, signatures and
the control plane's cost, with ratios and the issue's targets (reported, not asserted)."""

import json
import os
import statistics
import sys


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def load_lines(path):
    try:
        with open(path) as f:
            # Only the JSON lines: a log line on stdout (a node's info) is not a result.
            return [json.loads(line) for line in f if line.startswith("{")]
    except OSError:
        return []


def main(results):
    rt = load_json(os.path.join(results, "round_trip.json"))
    if rt:
        print("Command round trip (ms; loopback; the node and broker on this machine)")
        header = f"{'case':<52}{'calls':>7}{'p50':>9}{'p99':>9}{'max':>9}"
        print(header)
        print("-" * len(header))
        for case in rt["cases"]:
            print(f"{case['name']:<52}{case['calls']:>7}{case['p50']:>9.2f}{case['p99']:>9.2f}"
                  f"{case['max']:>9.2f}")
        by = {c["key"]: c for c in rt["cases"]}
        if "psos_call" in by and "mosquitto_rr" in by:
            print(f"  psos call / mosquitto_rr, p50: "
                  f"{by['psos_call']['p50'] / by['mosquitto_rr']['p50']:.2f}x (a process per call, "
                  "psos's includes signing and the node's signature check)")
        if "in_connection" in by:
            p99 = by["in_connection"]["p99"]
            print(f"  target p99 under 2 ms (in one connection): {p99:.2f} ms -> "
                  f"{'met' if p99 < 2 else 'MISSED'}")
        print()

    sig = load_json(os.path.join(results, "signatures.json"))
    if sig:
        best = {}
        for b in sig["benchmarks"]:
            if b.get("run_type", "iteration") != "iteration":
                continue
            name = b.get("run_name", b["name"])
            if name not in best or b["cpu_time"] < best[name]["cpu_time"]:
                best[name] = b
        print("Signatures (µs of CPU per request, one core, best of 3)")
        labels = {"sign": "sign a request (caller)",
                  "verify_signature": "verify an Ed25519 signature",
                  "gate_check": "the node's whole check (parse, trust, verify, time, nonce)",
                  "gate_refuses_unsigned": "refuse an unsigned request"}
        for key, label in labels.items():
            b = best.get(key)
            if b:
                unit = {"ns": 1e-3, "us": 1, "ms": 1e3}[b["time_unit"]]
                print(f"  {label:<62}{b['cpu_time'] * unit:>9.1f} µs")
        print()

    rows = load_lines(os.path.join(results, "control_plane.jsonl"))
    if rows:
        bus = {flag: [r["msg_per_second"] for r in rows if r["case"] == "bus" and r["control"] == flag]
               for flag in (False, True)}
        idle = {r["control"]: r for r in rows if r["case"] == "idle"}
        print("The control plane's cost to a node (pipe service on the local bus, in process)")
        if bus[False] and bus[True]:
            off, on = statistics.median(bus[False]), statistics.median(bus[True])
            diff = (off - on) / off * 100
            print(f"  msg/s, median of {len(bus[False])} runs each: off {off:,.0f}, on {on:,.0f}; "
                  f"on/off {on / off:.3f}x ({diff:+.1f} % lost)")
            # Faster with the control plane on is noise between runs, not a cost.
            print(f"  target under 5 % lost: {'met' if diff < 5 else 'MISSED'}")
        if False in idle and True in idle:
            for flag in (False, True):
                r = idle[flag]
                print(f"  idle, control {'on ' if flag else 'off'}: {r['cpu_seconds'] * 1000:.1f} ms of CPU "
                      f"in {r['seconds']:.1f} s ({r['cpu_seconds'] / r['seconds'] * 100:.3f} % of a core)")


if __name__ == "__main__":
    main(sys.argv[1])
