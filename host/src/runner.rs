//! `hpo run`: turns command-line choices into a run plan, runs the repeated runs, writes the
//! results file and returns a summary for the CLI to print.

use std::path::PathBuf;

use serde::Serialize;
use serde_json::Value;

use crate::experiment::{self, ExperimentError, Expiry, RunPlan};
use crate::objectives;
use crate::plugins::PluginHost;
use crate::results;
use crate::run_config::{ArmRef, RunConfig};
use crate::space::Space;
use crate::store::Store;
use crate::trial::{Iteration, StoredTrial};

/// File name of the experiment store inside the results directory.
pub const STORE_FILE: &str = "hpo-store.sqlite";

/// What the user asked for.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// Run configuration file; `None`: for a table, `./run_conf/arms.json` if present, else
    /// the embedded seed's default; for any other objective, the embedded
    /// `run_conf/arms-tpe.json` (BO-HEDGE over GP, RF and TPE arms).
    pub run_conf: Option<PathBuf>,
    /// Mode: `DIV`, or a model for a single-arm run (`RANDOM`, `GP`, ...).
    pub mode: Option<String>,
    /// Spec: the strategy of `DIV`, or the acquisition of a single arm.
    pub spec: Option<String>,
    /// Objective, e.g. `surrogate:digits-mlp`, `fn:branin`.
    pub objective: String,
    /// Where `surrogate:NAME` tables are looked for first.
    pub table_dir: Option<PathBuf>,
    /// Independent repeated runs.
    pub runs: usize,
    /// When each run stops.
    pub expiry: Expiry,
    /// Experiment seed (each run derives its own).
    pub seed: u64,
    /// Results directory (the store lives there too).
    pub out: PathBuf,
    /// The search space of a `cmd:` objective.
    pub space: Option<PathBuf>,
    /// Per-trial timeout of a `cmd:` objective.
    pub trial_timeout: std::time::Duration,
    /// Continue the interrupted experiment with these settings.
    pub resume: bool,
    /// The seed's `-r N`: extend the finished experiment of N runs (same settings) to `runs`.
    pub rerun: Option<usize>,
    /// The seed's `-p`: write each proposal's model estimate into the results file.
    pub save_internal: bool,
    /// The seed's `-tp`: the time penalty of the model arms' acquisition (overrides the run
    /// configuration's `time_penalty`).
    pub time_penalty: Option<String>,
    /// The seed's `-w`: a training worker's URL; evaluations run there.
    pub worker_url: Option<String>,
}

/// One run in the summary.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    /// Run index.
    pub run: usize,
    /// The run's seed.
    pub seed: u64,
    /// Best value found.
    pub best_value: Option<f64>,
    /// Its parameters.
    pub best_params: serde_json::Map<String, Value>,
    /// Evaluations done.
    pub evals: usize,
    /// Σexec_time (simulated for tables).
    pub exec_time: f64,
    /// Σopt_time.
    pub opt_time: f64,
    /// Why the run stopped.
    pub stop_reason: String,
}

/// The experiment's summary.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// The results file.
    pub results_file: PathBuf,
    /// The objective.
    pub objective: String,
    /// Mode and spec, e.g. `DIV-SEQ`.
    pub mode: String,
    /// Per run.
    pub runs: Vec<RunSummary>,
}

/// The longest duration accepted anywhere (budgets, timeouts): 100 years.
pub const MAX_DURATION_SECS: f64 = 100.0 * 365.25 * 86_400.0;

/// Parses a duration: seconds, or a number with `s`, `m`, `h` or `d`; positive, finite and
/// at most [`MAX_DURATION_SECS`]. Errors say what is wrong with the text (the caller names
/// the flag).
pub fn parse_duration(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let (number, unit) = match t.char_indices().last() {
        // A plain number of seconds, "inf" and "nan" included (refused below).
        _ if t.parse::<f64>().is_ok() => (t, 's'),
        Some((i, c)) if c.is_ascii_alphabetic() => (&t[..i], c),
        _ => (t, 's'),
    };
    let factor = match unit {
        's' => 1.0,
        'm' => 60.0,
        'h' => 3600.0,
        'd' => 86400.0,
        other => {
            return Err(format!("'{text}': unknown unit '{other}' (s, m, h, d)"));
        }
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("'{text}' is not a number of seconds (or 30m, 2h, 1d)"))?;
    if !(value.is_finite() && value > 0.0) {
        return Err(format!("'{text}' must be positive"));
    }
    let seconds = value * factor;
    // Infinite too: a finite value times a unit can overflow.
    if seconds > MAX_DURATION_SECS {
        return Err(format!("'{text}' is longer than 100 years"));
    }
    Ok(seconds)
}

/// The run-wide options that only some plugins read (the time penalty: GP, RF, TPE; the HLE
/// threshold `alpha`: GP, RF) must reach one of this run's arms, never be accepted and
/// ignored.
fn check_model_options(
    config: &RunConfig,
    file: &str,
    providers: &[String],
) -> Result<(), ExperimentError> {
    let serves = |plugins: &[&str]| providers.iter().any(|p| plugins.contains(&p.as_str()));
    if config
        .time_penalty
        .as_deref()
        .is_some_and(|p| !p.eq_ignore_ascii_case("NONE"))
        && !serves(&["gp", "rf", "tpe"])
    {
        return Err(ExperimentError::Invalid(
            "-tp (time_penalty): only the GP, RF and TPE arms take a time penalty, and this run has none of them".into(),
        ));
    }
    if config.alpha.is_some() && !serves(&["gp", "rf"]) {
        return Err(ExperimentError::Invalid(format!(
            "{file}: alpha: the HLE threshold of the GP and RF arms, and this run has none of them"
        )));
    }
    Ok(())
}

/// Runs the experiment and writes its results file.
pub fn run(
    host: &PluginHost,
    request: &RunRequest,
    mut progress: impl FnMut(usize, &Iteration),
) -> Result<Summary, ExperimentError> {
    // Tables of error rates get the seed's default; any other objective the portfolio
    // measured strongest on such objectives.
    let table = request.objective.starts_with("surrogate:");
    let mut config = match &request.run_conf {
        None if !table => RunConfig::default_for_any(),
        path => RunConfig::load_or_default(path.as_deref())
            .map_err(|e| ExperimentError::Invalid(e.to_string()))?,
    };
    if let Some(penalty) = &request.time_penalty {
        config.time_penalty = Some(penalty.clone());
    }
    let mode = request.mode.clone().unwrap_or_else(|| "DIV".to_string());
    let (arms, strategy, spec) = if mode == "DIV" {
        let spec = request
            .spec
            .clone()
            .or_else(|| config.bandits.first().map(|b| b.spec.clone()))
            .unwrap_or_else(|| "SEQ".to_string());
        if config.arms.is_empty() {
            return Err(ExperimentError::Invalid(
                "the run configuration lists no arms (field 'arms')".into(),
            ));
        }
        (config.arms.clone(), Some(spec.clone()), spec)
    } else {
        let spec = request.spec.clone().unwrap_or_else(|| {
            if mode == "RANDOM" {
                "RANDOM".to_string()
            } else {
                "EI".to_string()
            }
        });
        let arm = ArmRef {
            model: mode.clone(),
            acq_func: spec.clone(),
            plugin: None,
        };
        (vec![arm], None, spec)
    };
    if request.runs == 0 {
        return Err(ExperimentError::Invalid("--runs must be at least 1".into()));
    }
    let remote = request.worker_url.is_some();
    let space = match &request.space {
        Some(path) if !request.objective.starts_with("cmd:") && !remote => {
            return Err(ExperimentError::Invalid(format!(
                "--space {} applies to cmd: objectives and remote workers (tables and test functions bring their own space)",
                path.display()
            )));
        }
        Some(path) => {
            Some(Space::from_file(path).map_err(|e| ExperimentError::Invalid(e.to_string()))?)
        }
        None => None,
    };
    // The environment's credential overrides the run configuration's.
    let credential = std::env::var("HPO_WORKER_CREDENTIAL")
        .ok()
        .or_else(|| config.credential.clone().filter(|c| !c.is_empty()));
    let mut objective: Box<dyn objectives::Objective> = match (&request.worker_url, space) {
        // A training command on the worker: the space file is all there is locally.
        (Some(url), Some(space)) => Box::new(
            objectives::remote::RemoteObjective::connect_space(
                url,
                space,
                credential.as_deref(),
                request.trial_timeout,
            )
            .map_err(ExperimentError::Invalid)?,
        ),
        (worker, space) => {
            let local = objectives::resolve(
                &request.objective,
                request.table_dir.as_deref(),
                space,
                request.trial_timeout,
            )
            .map_err(ExperimentError::Invalid)?;
            match worker {
                // A table or a test function known here, evaluated there.
                Some(url) => Box::new(
                    objectives::remote::RemoteObjective::connect(
                        url,
                        local,
                        credential.as_deref(),
                        request.trial_timeout,
                    )
                    .map_err(ExperimentError::Invalid)?,
                ),
                None => local,
            }
        }
    };
    let plan = RunPlan {
        arms,
        strategy,
        config: config.clone(),
        expiry: request.expiry,
    };
    // Fail before anything is written when an arm, a strategy, an option or the space is
    // wrong.
    let providers = experiment::check_plan(host, &plan)?;
    let conf_label = request
        .run_conf
        .as_ref()
        .map_or("(embedded run configuration)".to_string(), |p| {
            p.display().to_string()
        });
    check_model_options(&config, &conf_label, &providers)?;
    crate::pool::check_space(objective.space()).map_err(ExperimentError::Invalid)?;
    if objective.pool().is_none() {
        let rows = config
            .pool()
            .num_samples
            .unwrap_or(crate::pool::DEFAULT_POOL_SIZE);
        crate::pool::check_size(objective.space(), rows).map_err(ExperimentError::Invalid)?;
    }
    let space_name = objective.space().name.clone();
    let names: Vec<String> = objective
        .space()
        .params
        .iter()
        .map(|p| p.name.clone())
        .collect();
    let key_for = |runs: usize| {
        serde_json::json!({
            "objective": objective.label(),
            "space": names,
            "mode": mode,
            "spec": spec,
            "arms": plan.arms,
            "config": config,
            "expiry": request.expiry,
            "seed": request.seed,
            "runs": runs,
        })
        .to_string()
    };
    let key = key_for(request.runs);
    if request.rerun.is_some_and(|n| n == 0 || n >= request.runs) {
        return Err(ExperimentError::Invalid(format!(
            "-r {}: extends an experiment of N runs to --runs {}; N must be between 1 and {}",
            request.rerun.unwrap_or_default(),
            request.runs,
            request.runs.saturating_sub(1)
        )));
    }
    let store_path = request.out.join(STORE_FILE);
    let store_error = |e: crate::store::StoreError| ExperimentError::Invalid(e.to_string());
    // A refused command writes nothing: what must already exist is looked up before
    // anything is created.
    let existing_store = || -> Result<Store, ExperimentError> {
        if !store_path.exists() {
            return Err(ExperimentError::Invalid(format!(
                "{}: no experiment store here (the results directory of an earlier `hpo run`)",
                store_path.display()
            )));
        }
        Store::open(&store_path).map_err(store_error)
    };
    let (store, stored) = if request.resume {
        let store = existing_store().map_err(|e| {
            ExperimentError::Invalid(format!("--resume: no interrupted experiment: {e}"))
        })?;
        let stored = store
            .unfinished(&key)
            .map_err(store_error)?
            .ok_or_else(|| {
                ExperimentError::Invalid(format!(
                    "--resume: no interrupted experiment with these settings in {}",
                    store_path.display()
                ))
            })?;
        (store, stored)
    } else {
        let earlier = match request.rerun {
            Some(n) => {
                let missing = || {
                    ExperimentError::Invalid(format!(
                        "-r {n}: no finished experiment of {n} runs with these settings in {}",
                        store_path.display()
                    ))
                };
                let store = existing_store().map_err(|_| missing())?;
                let earlier = store.finished(&key_for(n)).map_err(store_error)?;
                Some(earlier.ok_or_else(missing)?)
            }
            None => None,
        };
        let path = results::reserve(&results::result_path(
            &request.out,
            &space_name,
            &request.expiry,
            &mode,
            &spec,
            config.title.as_deref(),
            request.runs,
        ))
        .map_err(|e| {
            ExperimentError::Invalid(format!(
                "cannot write the results file under {}: {e}",
                request.out.display()
            ))
        })?;
        let recorded = Store::open(&store_path).and_then(|store| {
            let created = store.create(&key, &path.to_string_lossy())?;
            if let Some(earlier) = &earlier {
                // Its runs become the first runs of the new experiment.
                store.copy_runs(earlier.id, created.id)?;
            }
            Ok((store, created))
        });
        match recorded {
            Ok(recorded) => recorded,
            Err(e) => {
                // Nothing refers to the claimed name yet: give it back.
                let _ = std::fs::remove_file(&path);
                return Err(store_error(e));
            }
        }
    };
    let path = PathBuf::from(&stored.results_file);
    let mut runs_json = Vec::new();
    let mut summaries = Vec::new();
    for index in 0..request.runs {
        let seed = experiment::run_seed(request.seed, index);
        store
            .start_run(stored.id, index, seed)
            .map_err(store_error)?;
        let prior = store.trials(stored.id, index).map_err(store_error)?;
        let finished = store
            .run_stop_reason(stored.id, index)
            .map_err(store_error)?;
        let arm_names: Vec<String> = plan.arms.iter().map(ArmRef::name).collect();
        if let Some(stop) = finished {
            // A run that finished earlier (resumed or extended experiment): taken as stored.
            let failures = store.run_failures(stored.id, index).map_err(store_error)?;
            let record =
                experiment::RunRecord::from_trials(seed, arm_names, &prior, stop, failures);
            runs_json.push(results::run_json(&record, &names, request.save_internal));
            summaries.push(summary_of(index, &record, &names));
            continue;
        }
        let mut sink = |i: usize, trial: &StoredTrial| {
            store
                .record_trial(stored.id, index, i, trial)
                .map_err(|e| e.to_string())?;
            progress(index, &trial.iteration);
            Ok(())
        };
        let record = experiment::run(host, objective.as_mut(), &plan, seed, &prior, &mut sink)?;
        store
            .finish_run(stored.id, index, &record.stop_reason, &record.failures)
            .map_err(store_error)?;
        runs_json.push(results::run_json(&record, &names, request.save_internal));
        results::write(&path, &runs_json).map_err(|e| {
            ExperimentError::Invalid(format!("cannot write {}: {e}", path.display()))
        })?;
        summaries.push(summary_of(index, &record, &names));
    }
    results::write(&path, &runs_json)
        .map_err(|e| ExperimentError::Invalid(format!("cannot write {}: {e}", path.display())))?;
    store.finish(stored.id).map_err(store_error)?;
    Ok(Summary {
        results_file: path,
        objective: objective.label(),
        mode: format!("{mode}-{spec}"),
        runs: summaries,
    })
}

/// The summary line of one run.
fn summary_of(index: usize, record: &experiment::RunRecord, names: &[String]) -> RunSummary {
    let best = record.best();
    RunSummary {
        run: index,
        seed: record.seed,
        best_value: best.map(|b| b.value),
        best_params: best
            .map(|b| {
                names
                    .iter()
                    .cloned()
                    .zip(b.params.iter().cloned())
                    .collect()
            })
            .unwrap_or_default(),
        evals: record.iterations.len(),
        exec_time: record.exec_time(),
        opt_time: record.opt_time(),
        stop_reason: record.stop_reason.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_accept_seconds_and_units() {
        assert_eq!(parse_duration("36000").unwrap(), 36000.0);
        assert_eq!(parse_duration("30m").unwrap(), 1800.0);
        assert_eq!(parse_duration("2h").unwrap(), 7200.0);
        assert_eq!(parse_duration("1d").unwrap(), 86400.0);
        assert!(parse_duration("-5").is_err());
        assert!(parse_duration("5y").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("abc").is_err());
        // Too long for any timer: an error, never a panic or an infinite budget.
        for long in ["1e20", "1e300d", "1e308d", "inf"] {
            assert!(parse_duration(long).is_err(), "{long}");
        }
        assert!(parse_duration("100y").unwrap_err().contains("unknown unit"));
    }
}
