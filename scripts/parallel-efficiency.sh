#!/usr/bin/env bash
# Parallel efficiency of the simulated BATCH on the bundled table (docs/PERFORMANCE.md):
# for N = 1, 2, 4, 8, 16 simulated workers, ASYNC and SYNC, `hpo bench` runs RUNS seeded runs
# per strategy to the table's top-10 value, and this prints the median simulated time to
# target, the speed-up over N = 1 and the efficiency (speed-up / N).
#
#   scripts/parallel-efficiency.sh target/release/hpo OUT_DIR [RUNS] [STRATEGIES] [ARMS_FILE]
set -euo pipefail
hpo=${1:?usage: parallel-efficiency.sh HPO_BINARY OUT_DIR [RUNS] [STRATEGIES] [ARMS_FILE]}
out=${2:?usage: parallel-efficiency.sh HPO_BINARY OUT_DIR [RUNS] [STRATEGIES] [ARMS_FILE]}
runs=${3:-50}
strategies=${4:-DIV/SEQ,GP-HLE/EI}
arms=${5:-}
export HPO_HOME=${HPO_HOME:-$(mktemp -d)}
mkdir -p "$out"
for mode in ASYNC SYNC; do
    for n in 1 2 4 8 16; do
        flags=(--workers "$n")
        [ "$mode" = SYNC ] && flags+=(--sync)
        [ -n "$arms" ] && flags+=(--arms "$arms")
        "$hpo" bench --strategies "$strategies" --runs "$runs" --budget 10m --target top10 \
            --stop-at-target "${flags[@]}" --out "$out/$mode-$n" > /dev/null
    done
done
python3 - "$out" <<'PY'
import json, statistics, sys
out = sys.argv[1]
def median_ttt(mode, n, strategy):
    report = json.load(open(f"{out}/{mode}-{n}/bench.json"))
    row = next(s for s in report["strategies"] if s["strategy"] == strategy)
    # A run that never reached the target counts as the budget (an upper bound).
    times = [t if t is not None else report["budget"] for t in row["times_to_target"]]
    return statistics.median(times), row["reached"], row["runs"]
strategies = [s["strategy"] for s in json.load(open(f"{out}/ASYNC-1/bench.json"))["strategies"]]
print("| strategy | mode | N | reached | median time to top-10 | speed-up | efficiency |")
print("|---|---|---|---|---|---|---|")
for strategy in strategies:
    for mode in ("ASYNC", "SYNC"):
        base, _, _ = median_ttt(mode, 1, strategy)
        for n in (1, 2, 4, 8, 16):
            t, reached, runs = median_ttt(mode, n, strategy)
            speedup = base / t
            print(f"| {strategy} | {mode} | {n} | {reached}/{runs} | {t:.1f} s | {speedup:.2f} | {100 * speedup / n:.0f} % |")
PY
