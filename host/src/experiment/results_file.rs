//! The seed-compatible results file: `<out>/<space>/<T…S|G…|E…>/<MODE>-<SPEC>[.<title>](<runs>).json`,
//! a JSON object keyed by run index, each run a set of equal-length per-iteration arrays
//! (`model_idx`, `error`, `exec_time`, `opt_time`, `cum_exec_time`, `cum_opt_time`,
//! `select_trace`, `train_epoch`) plus the run's seed, parameters, arm statistics
//! (`count_arr`, `mean_arr`), failures and versions; a parallel run adds `worker`,
//! `start_time`, `end_time` per trial (the seed's BATCH files are named
//! `<SYNC|ASYNC>-BATCH.M<N>…`, live parallel runs `<MODE>-<SPEC>.M<N>…`), and a resumed run
//! lists the trials it evaluated again (`requeued`). Written atomically; an existing file is
//! never overwritten: the next free name (`….1.json`, …) is claimed when the experiment
//! starts.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use super::{Expiry, RunRecord};

/// The directory and file name of a result file (before de-duplication); `stem` is
/// `MODE-SPEC` and what a parallel run adds to it.
pub fn result_path(
    out: &Path,
    space: &str,
    expiry: &Expiry,
    stem: &str,
    title: Option<&str>,
    runs: usize,
) -> PathBuf {
    let budget = match (expiry.goal, expiry.time, expiry.evals) {
        (Some(goal), _, _) => format!("G{goal}"),
        (None, Some(time), _) => format!("T{}S", time.round() as u64),
        (None, None, Some(evals)) => format!("E{evals}"),
        (None, None, None) => "UNBOUNDED".to_string(),
    };
    let title = title
        .filter(|t| !t.is_empty())
        .map(|t| format!(".{}", t.replace(' ', "_")))
        .unwrap_or_default();
    out.join(space)
        .join(budget)
        .join(format!("{stem}{title}({runs}).json"))
}

/// Claims `path`, or the first `stem.N.json` that does not exist yet, by creating it (an
/// empty results object, replaced as runs finish). Creation is exclusive, so two
/// experiments started at once into one directory never get the same file.
pub fn reserve(path: &Path) -> std::io::Result<PathBuf> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let stem = path.with_extension("");
    let candidates = std::iter::once(path.to_path_buf())
        .chain((1..).map(|n| PathBuf::from(format!("{}.{n}.json", stem.display()))));
    for candidate in candidates {
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&candidate)
        {
            Ok(mut file) => {
                use std::io::Write;
                file.write_all(b"{}\n")?;
                return Ok(candidate);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    unreachable!("the candidate names never end")
}

/// One run as the seed's result object.
pub fn run_json(record: &RunRecord, space_names: &[String], save_internal: bool) -> Value {
    let its = &record.trials;
    let mut cum_exec = 0.0;
    let mut cum_opt = 0.0;
    let (cum_exec_time, cum_opt_time): (Vec<f64>, Vec<f64>) = its
        .iter()
        .map(|i| {
            cum_exec += i.exec_time;
            cum_opt += i.opt_time;
            (cum_exec, cum_opt)
        })
        .unzip();
    let params: Vec<Value> = its
        .iter()
        .map(|i| {
            Value::Object(
                space_names
                    .iter()
                    .cloned()
                    .zip(i.params.iter().cloned())
                    .collect::<Map<String, Value>>(),
            )
        })
        .collect();
    let mut run = json!({
        "model_idx": its.iter().map(|i| i.row.map_or(Value::Null, Value::from)).collect::<Vec<_>>(),
        "error": its.iter().map(|i| i.value).collect::<Vec<_>>(),
        "exec_time": its.iter().map(|i| i.exec_time).collect::<Vec<_>>(),
        "opt_time": its.iter().map(|i| i.opt_time).collect::<Vec<_>>(),
        "cum_exec_time": cum_exec_time,
        "cum_opt_time": cum_opt_time,
        "select_trace": its.iter().map(|i| i.arm.clone()).collect::<Vec<_>>(),
        "train_epoch": its.iter().map(|i| i.epochs.map_or(Value::Null, Value::from)).collect::<Vec<_>>(),
        "params": params,
        "seed": record.seed,
        "count_arr": record.pulls,
        "mean_arr": record.mean_rewards,
        "arms": record.arm_names,
        "failures": record.failures.iter().map(|(arm, (count, last))| {
            (arm.clone(), json!({"count": count, "last_reason": last}))
        }).collect::<Map<String, Value>>(),
        "stop_reason": record.stop_reason,
        "hpo_version": env!("CARGO_PKG_VERSION"),
        "plugin_api": hpo_plugin_api::API_VERSION,
        // Per iteration, the trial's interim reports as [epoch, value, seconds].
        "interim": its.iter().map(|i| {
            i.interim.iter().map(|r| json!([r.epoch, r.value, r.time])).collect::<Vec<_>>()
        }).collect::<Vec<_>>(),
    });
    // A parallel run's trials: the worker that evaluated each, and when (the run's clock).
    if its.iter().any(|i| i.timing.is_some()) {
        let timing = |f: fn(&crate::trial::Timing) -> Value| {
            its.iter()
                .map(|i| i.timing.as_ref().map_or(Value::Null, f))
                .collect::<Vec<_>>()
        };
        run["worker"] = timing(|t| t.worker.into()).into();
        run["start_time"] = timing(|t| t.start.into()).into();
        run["end_time"] = timing(|t| t.end.into()).into();
    }
    // A run with early termination: how each trial ended (`train_epoch` says where a
    // terminated one stopped, and how far a scheduled one trained).
    if crate::trial::has_statuses(its) {
        run["status"] = crate::trial::statuses(its).into();
    }
    // A scheduler's run: each trial's budget, and the iteration whose configuration it
    // continues (null for a new configuration).
    if its.iter().any(|i| i.fidelity.is_some()) {
        let iteration_of: std::collections::HashMap<usize, usize> = its
            .iter()
            .enumerate()
            .filter_map(|(n, i)| i.fidelity.map(|f| (f.ticket, n)))
            .collect();
        let fidelity = |i: &crate::trial::Trial| i.fidelity;
        run["budget"] = its
            .iter()
            .map(|i| fidelity(i).map_or(Value::Null, |f| f.budget.epochs.into()))
            .collect::<Vec<_>>()
            .into();
        run["promoted_from"] = its
            .iter()
            .map(|i| {
                fidelity(i)
                    .and_then(|f| f.parent)
                    .and_then(|p| iteration_of.get(&p))
                    .map_or(Value::Null, |&n| n.into())
            })
            .collect::<Vec<_>>()
            .into();
    }
    // The trials evaluated again after an interruption (they were in flight).
    if its.iter().any(|i| i.requeued) {
        run["requeued"] = its
            .iter()
            .enumerate()
            .filter(|(_, i)| i.requeued)
            .map(|(n, _)| n)
            .collect::<Vec<_>>()
            .into();
    }
    if save_internal {
        // The seed's internal estimates: the proposing model's mean, variance and
        // acquisition at each evaluated point (null during an initial design).
        run["estimates"] = its
            .iter()
            .map(|i| {
                i.estimate.map_or(Value::Null, |e| {
                    json!({"mean": e.mean, "variance": e.variance, "acquisition": e.acquisition})
                })
            })
            .collect::<Vec<_>>()
            .into();
    }
    run
}

/// Writes `runs` to `path` atomically.
pub fn write(path: &Path, runs: &[Value]) -> std::io::Result<()> {
    let object: Map<String, Value> = runs
        .iter()
        .enumerate()
        .map(|(i, r)| (i.to_string(), r.clone()))
        .collect();
    hpo_registry::write_atomically(path, &serde_json::to_vec_pretty(&Value::Object(object))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserving_claims_distinct_names_even_from_threads_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("space/E10/DIV-SEQ(1).json");
        let claimed: Vec<PathBuf> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| reserve(&path).unwrap()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let distinct: std::collections::HashSet<_> = claimed.iter().collect();
        assert_eq!(distinct.len(), 8, "{claimed:?}");
        assert!(claimed.contains(&path));
        assert!(
            claimed
                .iter()
                .all(|p| std::fs::read_to_string(p).unwrap().trim() == "{}")
        );
    }
}
