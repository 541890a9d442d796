#!/usr/bin/env bash
# Pending-aware against pending-blind proposals (docs/PERFORMANCE.md). With 8 simulated
# workers: (1) on fn:hartmann6, RUNS seeded runs of 100 evaluations of the default portfolio
# and of GP-HLE/EI, counting per run the near-duplicate pairs (two trials in flight at once
# whose points are closer than 0.05 in the unit cube) and the regret at 100; (2) on the
# bundled table, `hpo bench --workers 8` of the seed's default and GP-HLE/EI, the median
# simulated time to the top-10 value. "pending": "blind" in a run configuration is the
# pending-blind side.
#
#   scripts/pending-comparison.sh target/release/hpo OUT_DIR [RUNS]
set -euo pipefail
hpo=${1:?usage: pending-comparison.sh HPO_BINARY OUT_DIR [RUNS]}
out=${2:?usage: pending-comparison.sh HPO_BINARY OUT_DIR [RUNS]}
runs=${3:-10}
cd "$(dirname "$0")/.."
export HPO_HOME=${HPO_HOME:-$(mktemp -d)}
mkdir -p "$out"
blind() { python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); c["pending"]="blind"; print(json.dumps(c))' "$1"; }
blind run_conf/arms-tpe.json > "$out/arms-tpe-blind.json"
blind run_conf/arms.json > "$out/arms-blind.json"
echo '{"pending": "blind"}' > "$out/blind.json"
for side in aware blind; do
    portfolio=run_conf/arms-tpe.json single=()
    table=run_conf/arms.json
    if [ $side = blind ]; then
        portfolio=$out/arms-tpe-blind.json single=(--arms "$out/blind.json")
        table=$out/arms-blind.json
    fi
    "$hpo" run --objective fn:hartmann6 --simulate --workers 8 --evals 100 --runs "$runs" \
        --arms "$portfolio" --out "$out/fn-div-$side" --json > /dev/null
    "$hpo" run --objective fn:hartmann6 -m GP-HLE -s EI "${single[@]}" --simulate --workers 8 \
        --evals 100 --runs "$runs" --out "$out/fn-gp-$side" --json > /dev/null
    "$hpo" bench --strategies DIV/SEQ,GP-HLE/EI --arms "$table" --runs 50 --budget 10m \
        --target top10 --stop-at-target --workers 8 --out "$out/table-$side" > /dev/null
done
python3 - "$out" <<'PY'
import glob, itertools, json, math, statistics, sys
out = sys.argv[1]
OPTIMUM = -3.32237
def runs(pattern):
    files = glob.glob(f"{out}/{pattern}/**/*.json", recursive=True)
    assert len(files) == 1, files
    return list(json.load(open(files[0])).values())
def near_duplicates(run, eps=0.05):
    pts = [[p[k] for k in sorted(p)] for p in run["params"]]
    s, e = run["start_time"], run["end_time"]
    count = 0
    for i, j in itertools.combinations(range(len(pts)), 2):
        if s[i] < e[j] and s[j] < e[i] and math.dist(pts[i], pts[j]) < eps:
            count += 1
    return count
print("| objective | arms | proposals | near-duplicate pairs per run (median) | regret at 100 (median) |")
print("|---|---|---|---|---|")
for arms in ("div", "gp"):
    for side in ("aware", "blind"):
        rs = runs(f"fn-{arms}-{side}")
        dup = statistics.median(near_duplicates(r) for r in rs)
        regret = statistics.median(min(v for v in r["error"] if v is not None) - OPTIMUM for r in rs)
        name = "default portfolio (BO-HEDGE)" if arms == "div" else "GP-HLE/EI"
        print(f"| fn:hartmann6 | {name} | {side} | {dup} | {regret:.4f} |")
print()
print("| table | strategy | proposals | reached | median time to top-10 |")
print("|---|---|---|---|---|")
for side in ("aware", "blind"):
    report = json.load(open(f"{out}/table-{side}/bench.json"))
    for row in report["strategies"]:
        times = [t if t is not None else report["budget"] for t in row["times_to_target"]]
        print(f"| digits-mlp | {row['strategy']} | {side} | {row['reached']}/{row['runs']} | {statistics.median(times):.1f} s |")
PY
