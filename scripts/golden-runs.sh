#!/usr/bin/env bash
# Behaviour-preservation check for refactors: runs a fixed set of seeded experiments with one
# `hpo` binary and writes their results files, with the measured optimizer times removed (the
# only wall-clock figures in them), under OUT. Run it before and after a change and compare:
#
#   scripts/golden-runs.sh "$CARGO_TARGET_DIR/debug/hpo" /tmp/golden-before   # on the old commit
#   scripts/golden-runs.sh "$CARGO_TARGET_DIR/debug/hpo" /tmp/golden-after    # on the new one
#   diff -r /tmp/golden-before /tmp/golden-after && echo identical
#
# The set: the default run, one diversified run per strategy, GP, TPE and RF arms on the
# bundled table and on fn:branin, the default portfolio of test functions, a run with the
# models' internal estimates (-p), and runs with the run-wide options (-tp, alpha). Every
# run has a fixed seed and an evaluation budget (no time expiry), so two binaries that
# behave alike write the same bytes.
set -euo pipefail
hpo=${1:?usage: golden-runs.sh HPO_BINARY OUT_DIR}
out=${2:?usage: golden-runs.sh HPO_BINARY OUT_DIR}
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export HPO_HOME="$work/home"
rm -rf "$out"
mkdir -p "$out"

run() {
    local name=$1
    shift
    "$hpo" run --out "$work/$name" --json "$@" >/dev/null
    local file
    file=$(find "$work/$name" -name '*.json' | head -n 1)
    # Optimizer times are measured wall-clock seconds: the only figures that differ between
    # two runs of one binary.
    python3 - "$file" "$out/$name.json" <<'PY'
import json, sys
with open(sys.argv[1]) as f:
    runs = json.load(f)
for run in (runs.values() if isinstance(runs, dict) else runs):
    for key in ("opt_time", "cum_opt_time"):
        run[key] = None
with open(sys.argv[2], "w") as f:
    json.dump(runs, f, indent=1)
    f.write("\n")
PY
}

run default
for strategy in SEQ RANDOM HEDGE BO-HEDGE BO-HEDGE-T BO-HEDGE-LE BO-HEDGE-LET EG EG-LE GT GT-LE SKO; do
    run "div-$strategy" -m DIV -s "$strategy" --evals 40 --seed 7
done
for arm in GP/EI GP-HLE/UCB TPE/MV TPE/EI RF/EI RF-HLE/PI; do
    mode=${arm%/*}
    spec=${arm#*/}
    run "table-$mode-$spec" -m "$mode" -s "$spec" --evals 40 --seed 3 --runs 2
    run "branin-$mode-$spec" -m "$mode" -s "$spec" --objective fn:branin --evals 30 --seed 5
done
run fn-default --objective fn:hartmann3 --evals 30 --seed 11
run fn-hartmann6-seq -m DIV -s SEQ --arms run_conf/arms-tpe.json --objective fn:hartmann6 --evals 30 --seed 2
run internal -m GP-HLE -s EI -p --evals 30 --seed 9
# Run-wide options (the time penalty, the seed's alpha) reach the arms that read them.
run tp-div -m DIV -s BO-HEDGE --arms run_conf/arms-tpe.json -tp ET_T10 --evals 30 --seed 6
run tp-gp -m GP -s EI -tp ET_PS --objective fn:branin --evals 25 --seed 8
cat >"$work/alpha.json" <<'JSON'
{"arms": [{"model": "GP-HLE", "acq_func": "EI"}, {"model": "RF-HLE", "acq_func": "UCB"},
          {"model": "TPE", "acq_func": "MV"}], "alpha": 0.2, "rf": {"alpha": 0.1}}
JSON
run alpha -m DIV -s SEQ --arms "$work/alpha.json" --evals 30 --seed 10
echo "golden runs written to $out ($(ls "$out" | wc -l) files)"
