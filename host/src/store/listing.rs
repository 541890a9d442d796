//! `hpo results list | show ID | export ID`: reading the experiment store. Library code:
//! returns text for the CLI to print.

use std::fmt::Write as _;

use serde_json::Value;

use super::{ExperimentListing, Location, Store, StoreError};

/// Errors of the results commands.
#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The request is wrong.
    #[error("{0}")]
    Input(String),
}

pub(super) fn open(store: &Location) -> Result<Store, ResultsError> {
    if store.is_missing_file() {
        return Err(ResultsError::Input(format!(
            "{}: no experiment store here (pass --out DIR where `hpo run` wrote its results, \
             or --store URL)",
            store.label()
        )));
    }
    Ok(Store::connect(store)?)
}

/// A table of the experiments in the store.
pub fn list(store: &Location) -> Result<String, ResultsError> {
    let store = open(store)?;
    let experiments = store.experiments()?;
    if experiments.is_empty() {
        return Ok("no experiments\n".into());
    }
    let mut out = String::from("ID  CREATED (UTC)        STATUS       RUNS  TRIALS  RESULTS\n");
    for e in experiments {
        let _ = writeln!(
            out,
            "{:<3} {:<20} {:<12} {:<5} {:<7} {}",
            e.id,
            e.created,
            if e.finished {
                "finished"
            } else {
                "interrupted"
            },
            e.runs,
            e.trials,
            e.results_file
        );
    }
    Ok(out)
}

pub(super) fn find(store: &Store, id: i64) -> Result<ExperimentListing, ResultsError> {
    store
        .experiments()?
        .into_iter()
        .find(|e| e.id == id)
        .ok_or_else(|| {
            ResultsError::Input(format!(
                "no experiment {id} in the store (see `hpo results list`)"
            ))
        })
}

/// One experiment: its settings and, per run, the best value and the arms used.
pub fn show(store: &Location, id: i64) -> Result<String, ResultsError> {
    let store = open(store)?;
    let e = find(&store, id)?;
    let settings: Value = serde_json::from_str(&e.key).unwrap_or(Value::Null);
    let mut out = format!(
        "experiment {}: {} on {} ({})\nresults: {}\nsettings: {}\n",
        e.id,
        settings["mode"]
            .as_str()
            .map(|m| format!("{m}-{}", settings["spec"].as_str().unwrap_or("")))
            .unwrap_or_default(),
        settings["objective"].as_str().unwrap_or("?"),
        if e.finished {
            "finished"
        } else {
            "interrupted"
        },
        e.results_file,
        e.key
    );
    for (run, seed, stop) in store.runs(id)? {
        let trials = store.trials(id, run)?;
        let best = trials
            .iter()
            .filter(|t| t.value.is_finite())
            .min_by(|a, b| a.value.total_cmp(&b.value));
        let failed = trials.iter().filter(|t| t.failure.is_some()).count();
        let exec: f64 = trials.iter().map(|t| t.exec_time).sum();
        let opt: f64 = trials.iter().map(|t| t.opt_time).sum();
        let _ = writeln!(
            out,
            "run {run} (seed {seed}): {} trials ({failed} failed), best {}, exec {exec:.1} s, opt {opt:.3} s, {}",
            trials.len(),
            best.map_or("none".into(), |b| format!("{:.6} by {}", b.value, b.arm)),
            stop.unwrap_or_else(|| "interrupted".into())
        );
    }
    Ok(out)
}

/// Every trial of an experiment as CSV: experiment, run, iteration, arm, value (empty when
/// failed), exec_time, opt_time, row, epochs, status (`complete`, `terminated`, `promoted`,
/// `failed`), budget (a scheduler's epochs, else empty), failure, params (JSON).
pub fn export_csv(store: &Location, id: i64) -> Result<String, ResultsError> {
    let store = open(store)?;
    find(&store, id)?;
    let mut writer = csv::Writer::from_writer(Vec::new());
    let header = [
        "experiment",
        "run",
        "iteration",
        "arm",
        "value",
        "exec_time",
        "opt_time",
        "row",
        "epochs",
        "status",
        "budget",
        "failure",
        "params",
    ];
    let csv_err = |e: csv::Error| ResultsError::Input(format!("export: {e}"));
    writer.write_record(header).map_err(csv_err)?;
    for (run, _, _) in store.runs(id)? {
        let trials = store.trials(id, run)?;
        let statuses = crate::trial::statuses(&trials);
        for (i, t) in trials.iter().enumerate() {
            let it = t;
            writer
                .write_record([
                    id.to_string(),
                    run.to_string(),
                    i.to_string(),
                    it.arm.clone(),
                    if it.value.is_finite() {
                        it.value.to_string()
                    } else {
                        String::new()
                    },
                    it.exec_time.to_string(),
                    it.opt_time.to_string(),
                    it.row.map(|r| r.to_string()).unwrap_or_default(),
                    it.epochs.map(|e| e.to_string()).unwrap_or_default(),
                    statuses[i].to_string(),
                    it.fidelity
                        .map(|f| f.budget.epochs.to_string())
                        .unwrap_or_default(),
                    t.failure.clone().unwrap_or_default(),
                    Value::from(it.params.clone()).to_string(),
                ])
                .map_err(csv_err)?;
        }
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| ResultsError::Input(format!("export: {e}")))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
