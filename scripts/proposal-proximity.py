#!/usr/bin/env python3
"""How far proposals go from the incumbent (docs/PERFORMANCE.md, "Where the 8-worker gap
comes from"). For each results file of `hpo run --out DIR` under the given directories:
every trial after the first 30 (in start order), its Euclidean distance in the unit cube
from the best trial ended before it started (the incumbent it was proposed against),
counted as near (< 0.05), mid (0.05-0.2) or far.

    scripts/proposal-proximity.py DIR [DIR ...]
"""
import glob
import json
import math
import sys

SKIP = 30


def runs(directory):
    files = glob.glob(f"{directory}/**/*.json", recursive=True)
    if len(files) != 1:
        sys.exit(f"{directory}: expected one results file, found {len(files)}")
    return list(json.load(open(files[0])).values())


def bands(run):
    points = [[p[k] for k in sorted(p)] for p in run["params"]]
    errors, n = run["error"], len(points)
    # Sequential results files have no clock: trial i starts after trial i - 1 ended.
    start = run.get("start_time") or list(range(n))
    end = run.get("end_time") or [i + 0.5 for i in range(n)]
    order = sorted(range(n), key=lambda i: start[i])
    for i in order[SKIP:]:
        ended = [j for j in range(n) if end[j] <= start[i]]
        incumbent = min(ended, key=lambda j: errors[j])
        d = math.dist(points[i], points[incumbent])
        yield "near" if d < 0.05 else "mid" if d < 0.2 else "far"


for directory in sys.argv[1:]:
    counts = {"near": 0, "mid": 0, "far": 0}
    for run in runs(directory):
        for band in bands(run):
            counts[band] += 1
    total = sum(counts.values())
    shares = "  ".join(f"{k} {v / total:.2f}" for k, v in counts.items())
    print(f"{directory}: {shares}  ({total} proposals)")
