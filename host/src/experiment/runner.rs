//! `hpo run`'s experiment: turns the request into a run plan and an objective, finds or
//! creates the experiment in the store (fresh, `--resume`, `-r N`), runs the repeated runs,
//! writes the results file and returns a summary for the command line to print.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::results_file;
use super::{ExperimentError, Expiry, RunPlan, RunRecord, Trial, check_plan, run, run_seed};
use crate::config::{ArmRef, ConfigDefault, RunConfig};
use crate::objectives::{self, Objective};
use crate::registry::PluginHost;
use crate::service::client::RemoteObjective;
use crate::space::{Space, pool};
use crate::store::{STORE_FILE, Store, StoredExperiment};

/// What `hpo run` evaluates when neither a table name nor --objective is given.
pub const DEFAULT_OBJECTIVE: &str = "surrogate:digits-mlp";

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
    pub trial_timeout: Duration,
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

impl Summary {
    /// The runs in which no trial succeeded.
    pub fn runs_without_result(&self) -> Vec<&RunSummary> {
        self.runs
            .iter()
            .filter(|r| r.best_value.is_none())
            .collect()
    }
}

/// The experiment a request describes, checked: nothing is written before this succeeds.
struct Setup {
    config: RunConfig,
    mode: String,
    spec: String,
    plan: RunPlan,
    objective: Box<dyn Objective>,
    names: Vec<String>,
}

impl Setup {
    /// The store key of this experiment with `runs` runs: every setting that changes what
    /// the runs do.
    fn key(&self, request: &RunRequest, runs: usize) -> String {
        serde_json::json!({
            "objective": self.objective.label(),
            "space": self.names,
            "mode": self.mode,
            "spec": self.spec,
            "arms": self.plan.arms,
            "config": self.config,
            "expiry": request.expiry,
            "seed": request.seed,
            "runs": runs,
        })
        .to_string()
    }
}

/// Runs the experiment and writes its results file; `progress` hears of every new trial.
pub fn run_experiment(
    host: &PluginHost,
    request: &RunRequest,
    mut progress: impl FnMut(usize, &Trial),
) -> Result<Summary, ExperimentError> {
    let mut setup = set_up(host, request)?;
    let (store, stored) = open_experiment(request, &setup)?;
    let path = PathBuf::from(&stored.results_file);
    let mut runs_json = Vec::new();
    let mut summaries = Vec::new();
    for index in 0..request.runs {
        let seed = run_seed(request.seed, index);
        let record = run_or_rebuild(host, &store, &stored, &mut setup, index, seed, &mut |t| {
            progress(index, t)
        })?;
        runs_json.push(results_file::run_json(
            &record,
            &setup.names,
            request.save_internal,
        ));
        write_results(&path, &runs_json)?;
        summaries.push(summary_of(index, &record, &setup.names));
    }
    write_results(&path, &runs_json)?;
    store.finish(stored.id)?;
    Ok(Summary {
        results_file: path,
        objective: setup.objective.label(),
        mode: format!("{}-{}", setup.mode, setup.spec),
        runs: summaries,
    })
}

/// Run `index` of the experiment: taken as stored when it finished earlier (a resumed or
/// extended experiment), else run (or continued) with every trial committed to the store.
fn run_or_rebuild(
    host: &PluginHost,
    store: &Store,
    stored: &StoredExperiment,
    setup: &mut Setup,
    index: usize,
    seed: u64,
    progress: &mut dyn FnMut(&Trial),
) -> Result<RunRecord, ExperimentError> {
    store.start_run(stored.id, index, seed)?;
    let prior = store.trials(stored.id, index)?;
    if let Some(stop) = store.run_stop_reason(stored.id, index)? {
        let failures = store.run_failures(stored.id, index)?;
        let arm_names = setup.plan.arms.iter().map(ArmRef::name).collect();
        return RunRecord::from_trials(seed, arm_names, &prior, stop, failures);
    }
    let mut sink = |i: usize, trial: &Trial| {
        store
            .record_trial(stored.id, index, i, trial)
            .map_err(|e| e.to_string())?;
        progress(trial);
        Ok(())
    };
    let record = run(
        host,
        setup.objective.as_mut(),
        &setup.plan,
        seed,
        &prior,
        &mut sink,
    )?;
    store.finish_run(stored.id, index, &record.stop_reason, &record.failures)?;
    Ok(record)
}

/// The plan, the objective and the checks of a request; nothing is written here.
fn set_up(host: &PluginHost, request: &RunRequest) -> Result<Setup, ExperimentError> {
    // Tables of error rates get the seed's default; any other objective the portfolio
    // measured strongest on such objectives.
    let default = if request.objective.starts_with("surrogate:") {
        ConfigDefault::Seed
    } else {
        ConfigDefault::AnyObjective
    };
    let mut config = RunConfig::load(request.run_conf.as_deref(), default)?;
    if let Some(penalty) = &request.time_penalty {
        config.time_penalty = Some(penalty.clone());
    }
    let (mode, spec, arms, strategy) = arms_of(request, &config)?;
    if request.runs == 0 {
        return Err(ExperimentError::NoRuns);
    }
    let objective = objective_of(request, &config)?;
    let plan = RunPlan {
        arms,
        strategy,
        config: config.clone(),
        expiry: request.expiry,
    };
    // Fail before anything is written when an arm, a strategy, an option or the space is
    // wrong.
    check_plan(host, &plan).map_err(|e| in_file(request, e))?;
    check_pool(objective.as_ref(), &config)?;
    if request.rerun.is_some_and(|n| n == 0 || n >= request.runs) {
        return Err(ExperimentError::RerunRange {
            n: request.rerun.unwrap_or_default(),
            runs: request.runs,
        });
    }
    let names = objective
        .space()
        .params
        .iter()
        .map(|p| p.name.clone())
        .collect();
    Ok(Setup {
        config,
        mode,
        spec,
        plan,
        objective,
        names,
    })
}

/// Mode, spec, arms and strategy: `DIV` runs the configuration's arms under the spec's
/// strategy (default: the configuration's bandit, else SEQ); any other mode is one arm.
fn arms_of(
    request: &RunRequest,
    config: &RunConfig,
) -> Result<(String, String, Vec<ArmRef>, Option<String>), ExperimentError> {
    let mode = request.mode.clone().unwrap_or_else(|| "DIV".to_string());
    if mode == "DIV" {
        let spec = request
            .spec
            .clone()
            .or_else(|| config.bandits.first().map(|b| b.spec.clone()))
            .unwrap_or_else(|| "SEQ".to_string());
        if config.arms.is_empty() {
            return Err(ExperimentError::NoArmsInConfig);
        }
        return Ok((mode, spec.clone(), config.arms.clone(), Some(spec)));
    }
    let spec = request
        .spec
        .clone()
        .unwrap_or_else(|| if mode == "RANDOM" { "RANDOM" } else { "EI" }.to_string());
    let arm = ArmRef {
        model: mode.clone(),
        acq_func: spec.clone(),
        plugin: None,
    };
    Ok((mode, spec, vec![arm], None))
}

/// The objective of a request: local, or evaluated on a remote worker (`-w`).
fn objective_of(
    request: &RunRequest,
    config: &RunConfig,
) -> Result<Box<dyn Objective>, ExperimentError> {
    let remote = request.worker_url.is_some();
    let space = match &request.space {
        Some(path) if !request.objective.starts_with("cmd:") && !remote => {
            return Err(ExperimentError::SpaceNotApplicable(path.clone()));
        }
        Some(path) => Some(Space::from_file(path)?),
        None => None,
    };
    // The environment's credential overrides the run configuration's.
    let credential = std::env::var("HPO_WORKER_CREDENTIAL")
        .ok()
        .or_else(|| config.credential.clone().filter(|c| !c.is_empty()));
    let credential = credential.as_deref();
    let timeout = request.trial_timeout;
    let objective: Box<dyn Objective> = match (&request.worker_url, space) {
        // A training command on the worker: the space file is all there is locally.
        (Some(url), Some(space)) => Box::new(RemoteObjective::connect_space(
            url, space, credential, timeout,
        )?),
        (worker, space) => {
            let local = objectives::resolve(
                &request.objective,
                request.table_dir.as_deref(),
                space,
                timeout,
            )?;
            match worker {
                // A table or a test function known here, evaluated there.
                Some(url) => Box::new(RemoteObjective::connect(url, local, credential, timeout)?),
                None => local,
            }
        }
    };
    Ok(objective)
}

/// A refused option names the run configuration file it came from (`-tp` on the command
/// line excepted).
fn in_file(request: &RunRequest, error: ExperimentError) -> ExperimentError {
    let Some(file) = &request.run_conf else {
        return error;
    };
    match error {
        ExperimentError::OptionNotRead {
            key: "time_penalty",
            ..
        } if request.time_penalty.is_some() => error,
        ExperimentError::Options(_)
        | ExperimentError::OptionNotRead { .. }
        | ExperimentError::UnknownSection(_) => ExperimentError::InFile {
            file: file.display().to_string(),
            source: Box::new(error),
        },
        other => other,
    }
}

/// The objective's space must map the unit cube into itself, and a pool of the configured
/// size must fit in memory.
fn check_pool(objective: &dyn Objective, config: &RunConfig) -> Result<(), ExperimentError> {
    pool::check_space(objective.space())?;
    if objective.pool().is_none() {
        let rows = config.pool().num_samples.unwrap_or(pool::DEFAULT_POOL_SIZE);
        pool::check_size(objective.space(), rows)?;
    }
    Ok(())
}

/// The experiment in the store: the interrupted one (`--resume`), or a new one with its
/// results file claimed (`-r N` copies the runs of the finished one of N runs). A refused
/// request writes nothing: what must exist is looked up before anything is created.
fn open_experiment(
    request: &RunRequest,
    setup: &Setup,
) -> Result<(Store, StoredExperiment), ExperimentError> {
    let store_path = request.out.join(STORE_FILE);
    let key = setup.key(request, request.runs);
    if request.resume {
        let store = existing_store(&store_path)
            .map_err(|e| ExperimentError::ResumeWithoutStore(Box::new(e)))?;
        let stored = store
            .unfinished(&key)?
            .ok_or_else(|| ExperimentError::NothingToResume(store_path.clone()))?;
        return Ok((store, stored));
    }
    let earlier = match request.rerun {
        Some(n) => {
            let missing = || ExperimentError::NothingToRerun {
                n,
                store: store_path.clone(),
            };
            let store = existing_store(&store_path).map_err(|_| missing())?;
            Some(
                store
                    .finished(&setup.key(request, n))?
                    .ok_or_else(missing)?,
            )
        }
        None => None,
    };
    let path = results_file::reserve(&results_file::result_path(
        &request.out,
        &setup.objective.space().name,
        &request.expiry,
        &setup.mode,
        &setup.spec,
        setup.config.title.as_deref(),
        request.runs,
    ))
    .map_err(|source| ExperimentError::ResultsFile {
        dir: request.out.clone(),
        source,
    })?;
    let recorded = Store::open(&store_path).and_then(|store| {
        let created = store.create(&key, &path.to_string_lossy())?;
        if let Some(earlier) = &earlier {
            // Its runs become the first runs of the new experiment.
            store.copy_runs(earlier.id, created.id)?;
        }
        Ok((store, created))
    });
    if recorded.is_err() {
        // Nothing refers to the claimed name yet: give it back.
        let _ = std::fs::remove_file(&path);
    }
    Ok(recorded?)
}

/// The store at `path`, which must exist.
fn existing_store(path: &Path) -> Result<Store, ExperimentError> {
    if !path.exists() {
        return Err(ExperimentError::NoStore(path.to_path_buf()));
    }
    Ok(Store::open(path)?)
}

/// Writes the results file.
fn write_results(path: &Path, runs: &[Value]) -> Result<(), ExperimentError> {
    results_file::write(path, runs).map_err(|source| ExperimentError::WriteResults {
        path: path.to_path_buf(),
        source,
    })
}

/// The summary line of one run.
fn summary_of(index: usize, record: &RunRecord, names: &[String]) -> RunSummary {
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
        evals: record.trials.len(),
        exec_time: record.exec_time(),
        opt_time: record.opt_time(),
        stop_reason: record.stop_reason.clone(),
    }
}
