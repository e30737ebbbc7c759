#!/usr/bin/env python3
"""Ratios of a pairs.sh log: for each pair and model, ours (BenchmarkStep's
median-samples/s, or samples/s in logs older than that metric) over
PyTorch's samples_per_s (torch_step.py's median step), then each model's
median ratio. Usage: ratios.py LOG."""
import re
import statistics
import sys


def pairs(lines):
    ours, torch, out = {}, {}, []
    for line in lines:
        if line.startswith("== pair") and " ours " in line and (ours or torch):
            out.append((ours, torch))
            ours, torch = {}, {}
        m = re.match(r"BenchmarkStep/model=(\w+)/", line)
        if m:
            rate = re.search(r"([\d.]+) median-samples/s", line) or re.search(r"([\d.]+) samples/s", line)
            ours[m.group(1)] = float(rate.group(1))
        m = re.match(r"(\w+) batch=\d+ threads=\d+ (?:steps=\d+ )?seconds_per_step=[\d.]+ samples_per_s=([\d.]+)", line)
        if m:
            torch[m.group(1)] = float(m.group(2))
    if ours or torch:
        out.append((ours, torch))
    return out


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: ratios.py LOG")
    try:
        with open(sys.argv[1]) as f:
            ps = pairs(f.read().splitlines())
    except OSError as e:
        sys.exit(f"ratios.py: {e}")
    models = [m for m in ps[0][0] if all(m in o and m in t for o, t in ps)] if ps else []
    if not models:
        sys.exit(f"ratios.py: {sys.argv[1]}: no pair with both sides")
    print("| model | ratio of the pairs (ours / PyTorch) | median |")
    print("| --- | --- | --- |")
    for m in models:
        r = [o[m] / t[m] for o, t in ps]
        print(f"| {m} | {' / '.join(f'{x:.2f}' for x in r)} | {statistics.median(r):.2f}x |")


if __name__ == "__main__":
    main()
