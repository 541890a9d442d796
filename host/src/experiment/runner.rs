//! `hpo run`'s experiment: turns the request into a run plan and an objective, finds or
//! creates the experiment in the store (fresh, `--resume`, `-r N`), runs the repeated runs,
//! writes the results file and returns a summary for the command line to print.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::drivers::workers::Slot;
use super::results_file;
use super::{
    Evaluators, ExperimentError, Expiry, Parallelism, Pending, RunPlan, RunRecord, RunSink, Trial,
    check_plan, drive, run_seed,
};
use crate::config::{ArmRef, ConfigDefault, RunConfig};
use crate::objectives::{self, Objective};
use crate::registry::PluginHost;
use crate::service::client::RemoteObjective;
use crate::space::{Space, pool};
use crate::store::shared::{Claim, Progress};
use crate::store::{Commit, Location, STORE_FILE, Store, StoredExperiment};

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
    /// The seed's `-etr`: the early-termination rule (overrides the run configuration's
    /// `early_term_rule`; `NONE` turns it off).
    pub early_stop: Option<String>,
    /// The seed's `-w`, repeated: training workers' URLs; evaluations run there, as many at
    /// once as the workers have slots.
    pub worker_urls: Vec<String>,
    /// `--workers N`: evaluations at once (local workers, or simulated ones).
    pub workers: Option<usize>,
    /// `--simulate`: a simulated cluster of `--workers` workers, in rounds (`Some(true)`,
    /// SYNC) or asynchronous (`Some(false)`); `-m BATCH -s SYNC|ASYNC` says the same.
    pub simulate: Option<bool>,
    /// `--store URL`: the experiment store; `None`: the SQLite file in `out`.
    pub store: Option<Location>,
    /// Whether the store is shared with other processes: the run joins the unfinished
    /// experiment of the same settings there (else it is new, or with `resume` continued).
    pub shared: bool,
    /// `--trial-lease`: how long this process's trials in flight stay its own without a
    /// heartbeat in a shared store (renewed every third of it while the process lives).
    pub trial_lease: Duration,
}

impl RunRequest {
    /// Where the experiment store is: `--store`, else the SQLite file in the results
    /// directory.
    pub fn location(&self) -> Location {
        self.store
            .clone()
            .unwrap_or_else(|| Location::Sqlite(self.out.join(STORE_FILE)))
    }
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
    /// Its time on the run's clock, seconds (a parallel run: the last trial's end).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clock_time: Option<f64>,
    /// Per trial, where and when it ran (a parallel run).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub timings: Vec<crate::trial::Timing>,
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
    /// How trials were evaluated.
    pub parallelism: Parallelism,
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
pub(super) struct Setup {
    config: RunConfig,
    mode: String,
    spec: String,
    pub(super) plan: RunPlan,
    pub(super) objective: Box<dyn Objective>,
    /// The remote training workers (`-w`), connected.
    remotes: Vec<RemoteObjective>,
    parallelism: Parallelism,
    pub(super) names: Vec<String>,
}

impl Setup {
    /// The store key of this experiment with `runs` runs: every setting that changes what
    /// the runs do.
    fn key(&self, request: &RunRequest, runs: usize) -> String {
        let mut key = serde_json::json!({
            "objective": self.objective.label(),
            "space": self.names,
            "mode": self.mode,
            "spec": self.spec,
            "arms": self.plan.arms,
            "config": self.config,
            "expiry": request.expiry,
            "seed": request.seed,
            "runs": runs,
        });
        // Local and simulated workers change what a run does; remote workers are where it
        // runs (an interrupted run resumes on whichever workers are up).
        if matches!(
            self.parallelism,
            Parallelism::Local { .. } | Parallelism::Simulated { .. }
        ) {
            key["parallelism"] = serde_json::json!(self.parallelism);
        }
        key.to_string()
    }

    /// The results file's name before `[.title](runs).json`: `MODE-SPEC`, with the workers
    /// of a parallel run (`.M<N>`) and the seed's `<SYNC|ASYNC>-BATCH.M<N>` for BATCH.
    fn file_stem(&self) -> String {
        let base = format!("{}-{}", self.mode, self.spec);
        match &self.parallelism {
            Parallelism::Simulated { workers, .. } if self.mode == "BATCH" => {
                format!("{}-BATCH.M{workers}", self.spec)
            }
            Parallelism::Simulated { workers, sync } => {
                format!("{base}.{}.M{workers}", if *sync { "SYNC" } else { "ASYNC" })
            }
            Parallelism::Local { workers } => format!("{base}.M{workers}"),
            _ => base,
        }
    }

    /// What evaluates one run's trials.
    fn evaluators(&mut self) -> Evaluators<'_> {
        match &self.parallelism {
            Parallelism::Simulated { workers, sync } => Evaluators::Simulated {
                objective: self.objective.as_mut(),
                workers: *workers,
                sync: *sync,
            },
            Parallelism::Local { workers } => Evaluators::Pool(
                (0..*workers)
                    .map(|i| Slot {
                        objective: self.objective.for_worker(i),
                        machine: i,
                        name: format!("local worker {i}"),
                    })
                    .collect(),
            ),
            Parallelism::Remote { .. } if remote_slots(&self.remotes) > 1 => Evaluators::Pool(
                self.remotes
                    .iter()
                    .enumerate()
                    .flat_map(|(machine, remote)| {
                        (0..remote.slots()).map(move |_| Slot {
                            objective: remote.clone_box(),
                            machine,
                            name: remote.url().to_string(),
                        })
                    })
                    .collect(),
            ),
            _ => Evaluators::One(self.objective.as_mut()),
        }
    }
}

/// The job slots of the remote workers.
fn remote_slots(remotes: &[RemoteObjective]) -> usize {
    remotes.iter().map(RemoteObjective::slots).sum()
}

/// Where a run's trials go: the store (in flight, then completed), and the progress of the
/// command line.
pub(super) struct StoreSink<'a> {
    pub(super) store: &'a Store,
    pub(super) experiment: i64,
    pub(super) run: usize,
    pub(super) in_flight: usize,
    pub(super) progress: &'a mut dyn FnMut(&Trial, usize),
    /// This process's part in a shared run, with the next iteration it has not seen.
    pub(super) shared: Option<(&'a Member, usize)>,
    /// The ticket of a told trial the store refused because it was no longer this
    /// process's (a shared run: told elsewhere, or handed out again after its lease).
    pub(super) lost: Option<usize>,
    /// How told trials commit: [`Commit::Deferred`] when the sink's owner flushes them
    /// before saying they are recorded.
    pub(super) commit: Commit,
}

/// A process taking part in runs shared through a store (`--store URL`).
pub(super) struct Member {
    /// Its name in the store: host, process id and a random tag.
    pub(super) owner: String,
    /// Seconds its trials in flight stay its own without a heartbeat.
    pub(super) lease: f64,
}

impl Member {
    pub(super) fn new(lease: Duration) -> Self {
        let mut tag = [0u8; 4];
        let _ = getrandom::fill(&mut tag);
        let host = std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "host".to_string());
        Member {
            owner: format!("{host}:{}:{}", std::process::id(), u32::from_le_bytes(tag)),
            lease: lease.as_secs_f64(),
        }
    }

    /// Renews the leases of this process's trials in flight every third of a lease until
    /// `done` is set; a failed renewal is logged (the next one may succeed).
    fn heartbeat(&self, store: &Store, done: &std::sync::atomic::AtomicBool) {
        use std::sync::atomic::Ordering;
        let every = Duration::from_secs_f64(self.lease / 3.0);
        let mut last = std::time::Instant::now();
        while !done.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50).min(every));
            if last.elapsed() >= every {
                if let Err(e) = store.renew(&self.owner, self.lease) {
                    tracing::warn!("lease renewal failed: {e}");
                }
                last = std::time::Instant::now();
            }
        }
    }
}

impl RunSink for StoreSink<'_> {
    fn asked(&mut self, pending: &Pending) -> Result<(), String> {
        let text = serde_json::to_string(pending).map_err(|e| e.to_string())?;
        self.store
            .record_pending(self.experiment, self.run, pending.ticket, &text)
            .map_err(|e| e.to_string())?;
        self.in_flight += 1;
        Ok(())
    }

    fn told(&mut self, _index: usize, trial: &Trial, ticket: usize) -> Result<(), String> {
        let owner = self.shared.map(|(member, _)| member.owner.as_str());
        match self
            .store
            .record_trial(self.experiment, self.run, trial, ticket, owner, self.commit)
        {
            Ok(_) => {}
            Err(e) if matches!(e.source, crate::store::DbError::NotInFlight(_)) => {
                tracing::warn!("{e}: its evaluation here is not recorded");
                self.lost = Some(ticket);
            }
            Err(e) => return Err(e.to_string()),
        }
        self.in_flight = self.in_flight.saturating_sub(1);
        (self.progress)(trial, self.in_flight);
        Ok(())
    }

    fn claim(&mut self, asked: usize, limit: usize) -> Result<Claim, String> {
        let Some((member, _)) = self.shared else {
            return Ok(Claim::Ticket(asked));
        };
        self.store
            .claim(
                self.experiment,
                self.run,
                &member.owner,
                member.lease,
                limit,
            )
            .map_err(|e| e.to_string())
    }

    fn release(&mut self, ticket: usize) -> Result<(), String> {
        if self.shared.is_none() {
            return Ok(());
        }
        self.store
            .release(self.experiment, self.run, ticket)
            .map_err(|e| e.to_string())
    }

    fn progress(&mut self) -> Result<Option<Progress>, String> {
        let Some((member, next)) = self.shared.as_mut() else {
            return Ok(None);
        };
        let progress = self
            .store
            .progress(self.experiment, self.run, *next, &member.owner)
            .map_err(|e| e.to_string())?;
        *next = progress.next;
        Ok(Some(progress))
    }
}

/// Runs the experiment and writes its results file; `progress` hears of every new trial of
/// a run, with the number of trials still in flight.
pub fn run_experiment(
    host: &PluginHost,
    request: &RunRequest,
    mut progress: impl FnMut(usize, &Trial, usize),
) -> Result<Summary, ExperimentError> {
    let mut setup = set_up(host, request)?;
    let (store, stored) = open_experiment(request, &setup)?;
    let member = request.shared.then(|| Member::new(request.trial_lease));
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        if let Some(member) = &member {
            scope.spawn(|| member.heartbeat(&store, &done));
        }
        let ran = run_all(
            host,
            request,
            &mut setup,
            &store,
            &stored,
            member.as_ref(),
            &mut progress,
        );
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        ran
    })
}

/// Every run of the experiment, then its results file and summary.
fn run_all(
    host: &PluginHost,
    request: &RunRequest,
    setup: &mut Setup,
    store: &Store,
    stored: &StoredExperiment,
    member: Option<&Member>,
    progress: &mut impl FnMut(usize, &Trial, usize),
) -> Result<Summary, ExperimentError> {
    let path = PathBuf::from(&stored.results_file);
    let mut runs_json = Vec::new();
    let mut summaries = Vec::new();
    for index in 0..request.runs {
        let seed = run_seed(request.seed, index);
        let mut progress = |t: &Trial, busy| progress(index, t, busy);
        let record = match member {
            None => run_or_rebuild(host, store, stored, setup, index, seed, &mut progress)?,
            Some(member) => run_shared(
                host,
                store,
                stored,
                setup,
                (index, seed),
                member,
                &mut progress,
            )?,
        };
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
        parallelism: setup.parallelism.clone(),
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
    progress: &mut dyn FnMut(&Trial, usize),
) -> Result<RunRecord, ExperimentError> {
    store.start_run(stored.id, index, seed)?;
    let prior = store.trials(stored.id, index)?;
    if let Some(stop) = store.run_stop_reason(stored.id, index)? {
        let failures = store.run_failures(stored.id, index)?;
        let arm_names = setup.plan.arms.iter().map(ArmRef::name).collect();
        return RunRecord::from_trials(seed, arm_names, &prior, stop, failures);
    }
    let interrupted = interrupted(store, stored.id, index)?;
    let mut sink = StoreSink {
        store,
        experiment: stored.id,
        run: index,
        in_flight: 0,
        progress,
        shared: None,
        lost: None,
        commit: Commit::Durable,
    };
    let plan = setup.plan.clone();
    let record = drive(
        host,
        setup.evaluators(),
        &plan,
        seed,
        &prior,
        interrupted,
        &mut sink,
    )?;
    store.finish_run(stored.id, index, &record.stop_reason, &record.failures)?;
    Ok(record)
}

/// Run `index` (with `seed`) of an experiment shared through the store: this process
/// claims trials until every evaluation is claimed, then waits for the other processes'
/// trials in flight, taking over those whose lease expired; the run ends when none is left
/// in flight. Its record is the store's (every process's trials, in commit order).
fn run_shared(
    host: &PluginHost,
    store: &Store,
    stored: &StoredExperiment,
    setup: &mut Setup,
    (index, seed): (usize, u64),
    member: &Member,
    progress: &mut dyn FnMut(&Trial, usize),
) -> Result<RunRecord, ExperimentError> {
    store.start_run(stored.id, index, seed)?;
    let arm_names: Vec<String> = setup.plan.arms.iter().map(ArmRef::name).collect();
    let arm_names = || arm_names.clone();
    let wait = Duration::from_secs_f64((member.lease / 4.0).min(1.0));
    loop {
        let prior = store.trials(stored.id, index)?;
        if let Some(stop) = store.run_stop_reason(stored.id, index)? {
            let failures = store.run_failures(stored.id, index)?;
            return RunRecord::from_trials(seed, arm_names(), &prior, stop, failures);
        }
        let mut sink = StoreSink {
            store,
            experiment: stored.id,
            run: index,
            in_flight: 0,
            progress: &mut *progress,
            shared: Some((member, prior.len())),
            lost: None,
            commit: Commit::Durable,
        };
        let plan = setup.plan.clone();
        let record = drive(
            host,
            setup.evaluators(),
            &plan,
            seed,
            &prior,
            Vec::new(),
            &mut sink,
        )?;
        loop {
            let flight = store.in_flight(stored.id, index)?;
            if flight.running == 0 {
                let trials = store.trials(stored.id, index)?;
                store.finish_run(stored.id, index, &record.stop_reason, &record.failures)?;
                let (stop, failures) = (record.stop_reason, Some(record.failures));
                return RunRecord::from_trials(seed, arm_names(), &trials, stop, failures);
            }
            if flight.expired > 0 {
                break;
            }
            std::thread::sleep(wait);
        }
    }
}

/// The trials of run `index` of `experiment` that were in flight when it stopped.
pub(super) fn interrupted(
    store: &Store,
    experiment: i64,
    index: usize,
) -> Result<Vec<Pending>, ExperimentError> {
    store
        .pending(experiment, index)?
        .iter()
        .map(|text| {
            serde_json::from_str::<Pending>(text)
                .map_err(|e| ExperimentError::StoredPending(e.to_string()))
        })
        .collect()
}

/// The plan, the objective and the checks of a request; nothing is written here.
pub(super) fn set_up(host: &PluginHost, request: &RunRequest) -> Result<Setup, ExperimentError> {
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
    if let Some(rule) = &request.early_stop {
        config.early_term_rule = Some(rule.clone());
    }
    let (mode, spec, arms, strategy) = arms_of(request, &config)?;
    if request.runs == 0 {
        return Err(ExperimentError::NoRuns);
    }
    let parallelism = parallelism_of(request, &config, &mode, &spec)?;
    let (objective, remotes) = objective_of(request, &config)?;
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
    let scheduled = check_rule(host, objective.as_ref(), &config)?;
    if request.shared {
        check_shared(&parallelism, scheduled)?;
    }
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
        remotes,
        parallelism,
        names,
    })
}

/// What a run shared through a store cannot do: a simulated cluster (its clock is one
/// process's) and a scheduler (its promotions would need claims of their own).
fn check_shared(parallelism: &Parallelism, scheduled: bool) -> Result<(), ExperimentError> {
    if matches!(parallelism, Parallelism::Simulated { .. }) {
        return Err(ExperimentError::Shared(
            "a simulated cluster (--simulate, -m BATCH)",
        ));
    }
    if scheduled {
        return Err(ExperimentError::Shared(
            "a scheduler (Hyperband, SuccessiveHalving)",
        ));
    }
    Ok(())
}

/// Mode, spec, arms and strategy: `DIV` (and the seed's `BATCH`) run the configuration's
/// arms under a strategy (DIV: the spec, else the configuration's bandit, else SEQ; BATCH:
/// the configuration's bandit, else SEQ); any other mode is one arm.
fn arms_of(
    request: &RunRequest,
    config: &RunConfig,
) -> Result<(String, String, Vec<ArmRef>, Option<String>), ExperimentError> {
    let mode = request.mode.clone().unwrap_or_else(|| "DIV".to_string());
    if mode == "DIV" || mode == "BATCH" {
        let bandit = config.bandits.first().map(|b| b.spec.clone());
        let strategy = match mode.as_str() {
            "DIV" => request.spec.clone().or(bandit),
            _ => bandit,
        }
        .unwrap_or_else(|| "SEQ".to_string());
        if config.arms.is_empty() {
            return Err(ExperimentError::NoArmsInConfig);
        }
        let spec = match mode.as_str() {
            "DIV" => strategy.clone(),
            _ => request.spec.clone().unwrap_or_else(|| "SYNC".to_string()),
        };
        return Ok((mode, spec, config.arms.clone(), Some(strategy)));
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

/// How the request's trials are evaluated: `-m BATCH -s SYNC|ASYNC` and `--simulate` on a
/// simulated cluster of `--workers` (BATCH: or one per listed bandit), `-w URL` on remote
/// workers, `--workers N` on local ones.
fn parallelism_of(
    request: &RunRequest,
    config: &RunConfig,
    mode: &str,
    spec: &str,
) -> Result<Parallelism, ExperimentError> {
    let refuse = |flag, reason: &str| ExperimentError::Parallel {
        flag,
        reason: reason.to_string(),
    };
    let simulate = match (mode, request.simulate) {
        ("BATCH", _) => Some(match spec {
            "SYNC" => true,
            "ASYNC" => false,
            _ => return Err(refuse("-m BATCH", "its spec (-s) is SYNC or ASYNC")),
        }),
        (_, simulate) => simulate,
    };
    let remote = !request.worker_urls.is_empty();
    if let Some(sync) = simulate {
        let flag = if mode == "BATCH" {
            "-m BATCH"
        } else {
            "--simulate"
        };
        if request.objective.starts_with("cmd:") || remote {
            return Err(refuse(
                flag,
                "simulates workers on a table or a test function (fn:); a training command runs on real ones (--workers N, -w URL)",
            ));
        }
        let workers = request
            .workers
            .or_else(|| (mode == "BATCH").then(|| config.batch_workers()).flatten())
            .ok_or_else(|| {
                refuse(
                    flag,
                    "how many workers? give --workers N (BATCH: or list one bandit per worker)",
                )
            })?;
        return Ok(Parallelism::Simulated { workers, sync });
    }
    match (remote, request.workers) {
        (true, Some(_)) => Err(refuse(
            "--workers",
            "counts local workers; with -w the remote workers' slots (hpo worker --slots K) are the workers",
        )),
        (true, None) => Ok(Parallelism::Remote {
            urls: request.worker_urls.clone(),
        }),
        (false, Some(workers)) if workers > 1 => Ok(Parallelism::Local { workers }),
        (false, _) => Ok(Parallelism::Sequential),
    }
}

/// The objective of a request, and the remote workers (`-w`) that evaluate it, connected:
/// the objective is then the first of them.
fn objective_of(
    request: &RunRequest,
    config: &RunConfig,
) -> Result<(Box<dyn Objective>, Vec<RemoteObjective>), ExperimentError> {
    let remote = !request.worker_urls.is_empty();
    let space = match &request.space {
        Some(path)
            if !request.objective.starts_with("cmd:")
                && !request.objective.starts_with("client:")
                && !remote =>
        {
            return Err(ExperimentError::SpaceNotApplicable(path.clone()));
        }
        Some(path) => Some(Space::from_file(path)?),
        None => None,
    };
    let timeout = request.trial_timeout;
    let local = |space: Option<Space>| {
        objectives::resolve(
            &request.objective,
            request.table_dir.as_deref(),
            space,
            timeout,
        )
    };
    if !remote {
        return Ok((local(space)?, Vec::new()));
    }
    // The environment's credential overrides the run configuration's.
    let credential = std::env::var("HPO_WORKER_CREDENTIAL")
        .ok()
        .or_else(|| config.credential.clone().filter(|c| !c.is_empty()));
    let credential = credential.as_deref();
    let remotes = request
        .worker_urls
        .iter()
        .map(|url| match &space {
            // A training command on the worker: the space file is all there is locally.
            Some(space) => RemoteObjective::connect_space(url, space.clone(), credential, timeout),
            // A table or a test function known here, evaluated there.
            None => RemoteObjective::connect(url, local(None)?, credential, timeout),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((remotes[0].clone_box(), remotes))
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
        | ExperimentError::BudgetsWithoutScheduler(_)
        | ExperimentError::UnknownSection(_) => ExperimentError::InFile {
            file: file.display().to_string(),
            source: Box::new(error),
        },
        other => other,
    }
}

/// The early-termination rule must suit the objective (a scheduler needs budgets, either
/// kind a horizon or its `epochs` option): opened once here, before anything is written.
fn check_rule(
    host: &PluginHost,
    objective: &dyn Objective,
    config: &RunConfig,
) -> Result<bool, ExperimentError> {
    let mut loaded = crate::registry::Loaded::new(host);
    let horizon = objective.horizon().unwrap_or(0);
    crate::stoppers::open(&mut loaded, config, horizon, 0)?;
    Ok(crate::schedulers::open(&mut loaded, config, objective, 0)?.is_some())
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
pub(super) fn open_experiment(
    request: &RunRequest,
    setup: &Setup,
) -> Result<(Store, StoredExperiment), ExperimentError> {
    let location = request.location();
    let store_path = PathBuf::from(location.label());
    let key = setup.key(request, request.runs);
    if request.shared {
        return join_experiment(request, setup, &location, &key);
    }
    if request.resume {
        let store = existing_store(&location)
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
            let store = existing_store(&location).map_err(|_| missing())?;
            Some(
                store
                    .finished(&setup.key(request, n))?
                    .ok_or_else(missing)?,
            )
        }
        None => None,
    };
    let path = reserve_results(request, setup)?;
    let recorded = Store::connect(&location).and_then(|store| {
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

/// The unfinished experiment with these settings in the shared store at `location`, else a
/// new one (`--resume`: it must exist). A process that joins writes the results file where
/// its own results directory would put it (every process writes the same content, read
/// from the store once the run is over).
fn join_experiment(
    request: &RunRequest,
    setup: &Setup,
    location: &Location,
    key: &str,
) -> Result<(Store, StoredExperiment), ExperimentError> {
    if request.rerun.is_some() {
        return Err(ExperimentError::Shared("-r N"));
    }
    let store = Store::connect(location)?;
    if request.resume {
        let stored = store
            .unfinished(key)?
            .ok_or_else(|| ExperimentError::NothingToResume(location.label().into()))?;
        return Ok((store, joined_here(request, setup, stored)));
    }
    let path = reserve_results(request, setup)?;
    let joined = store.join(key, &path.to_string_lossy());
    match joined {
        Ok(stored) if Path::new(&stored.results_file) == path => Ok((store, stored)),
        Ok(stored) => {
            // The experiment existed: the name reserved is not needed.
            let _ = std::fs::remove_file(&path);
            Ok((store, joined_here(request, setup, stored)))
        }
        Err(e) => {
            let _ = std::fs::remove_file(&path);
            Err(e.into())
        }
    }
}

/// `stored`, joined by this process, with the results file this process writes.
fn joined_here(
    request: &RunRequest,
    setup: &Setup,
    mut stored: StoredExperiment,
) -> StoredExperiment {
    let path = results_path(request, setup);
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    stored.results_file = path.to_string_lossy().into_owned();
    stored
}

/// Where the results directory puts this experiment's results file.
fn results_path(request: &RunRequest, setup: &Setup) -> PathBuf {
    results_file::result_path(
        &request.out,
        &setup.objective.space().name,
        &request.expiry,
        &setup.file_stem(),
        setup.config.title.as_deref(),
        request.runs,
    )
}

/// Claims a new results file name in the results directory.
fn reserve_results(request: &RunRequest, setup: &Setup) -> Result<PathBuf, ExperimentError> {
    results_file::reserve(&results_path(request, setup)).map_err(|source| {
        ExperimentError::ResultsFile {
            dir: request.out.clone(),
            source,
        }
    })
}

/// The store at `location`, which must exist.
fn existing_store(location: &Location) -> Result<Store, ExperimentError> {
    if location.is_missing_file() {
        return Err(ExperimentError::NoStore(location.label().into()));
    }
    Ok(Store::connect(location)?)
}

/// Writes the results file.
pub(super) fn write_results(path: &Path, runs: &[Value]) -> Result<(), ExperimentError> {
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
        clock_time: crate::trial::last_end(&record.trials),
        timings: record.trials.iter().filter_map(|t| t.timing).collect(),
    }
}
