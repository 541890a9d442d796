//! `hpo serve`: experiments driven over HTTP by clients that evaluate the trials they ask
//! for ([`api`] is the HTTP side). Each experiment is one run of the ask/tell core
//! ([`DrivenRun`]) over the store in the service's directory; clients `ask` for a trial,
//! `report` interim values (answered with the early-termination rule's decision), and
//! `tell` its value or failure.
//!
//! Invariants: every trial handed out is in the store before the answer leaves, and every
//! trial told is committed and on disk before the answer says so (flushed once the
//! experiment is free for the next client, so concurrent tells share one flush:
//! [`crate::store::flush`]); a trial asked for and never told
//! (its client died) goes back to the queue when its lease runs out (`--trial-lease`;
//! reports and heartbeats renew it) and is handed out again, recorded as requeued; an
//! experiment of a service that stopped is reopened from the store on first use, its
//! trials in flight handed out again first.

pub mod api;

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::experiment::driven::{DrivenRun, Told};
use crate::experiment::{Asked, ExperimentError, Expiry, Pending, RunRequest};
use crate::objectives::{Interim, Outcome, Watch};
use crate::registry::PluginHost;
use crate::store::{Location, Store, StoreError};
use crate::trial::Trial;

/// Where the service keeps each experiment's request, space and run configuration.
const SERVED_DIR: &str = "served";

/// Why a service call fails: the HTTP status it answers with, and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ServiceError {
    /// 400, 404, 409, 422 or 500.
    pub status: u16,
    /// One line saying why.
    pub message: String,
}

impl ServiceError {
    fn new(status: u16, message: impl Into<String>) -> Self {
        ServiceError {
            status,
            message: message.into(),
        }
    }
}

impl From<ExperimentError> for ServiceError {
    fn from(e: ExperimentError) -> Self {
        // Refused settings are the client's; a store or plugin failure is the service's.
        let status = match e {
            ExperimentError::Store(_) | ExperimentError::Sink(_) => 500,
            ExperimentError::ToldElsewhere(_) => 409,
            _ => 422,
        };
        ServiceError::new(status, e.to_string())
    }
}

type Result<T> = std::result::Result<T, ServiceError>;

/// What `POST /experiments` takes: the inputs of `hpo run`, inline.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewExperiment {
    /// The experiment's name, unique in the service (letters, digits, `-`, `_`; ≤ 64).
    pub name: String,
    /// The search space, as the JSON of an `hp_conf` file (`{"hyperparams": {...}}`).
    #[schema(value_type = Object)]
    pub space: Value,
    /// `DIV` (the default: the configuration's arms under a strategy) or a model for one
    /// arm (`GP`, `TPE`, `RANDOM`, ...).
    pub mode: Option<String>,
    /// The strategy of `DIV`, or the acquisition of a single arm.
    pub spec: Option<String>,
    /// A run configuration, as the JSON of a `run_conf` file (arms, options, rules).
    #[schema(value_type = Option<Object>)]
    pub config: Option<Value>,
    /// The experiment's seed (default 1).
    pub seed: Option<u64>,
    /// Trials to hand out (default 100).
    pub evals: Option<usize>,
    /// Stop once the best value reaches this (lower is better).
    pub goal: Option<f64>,
    /// An early-termination rule (`Median`, `ASHA`, `Hyperband`, ...; overrides the
    /// configuration's).
    pub early_stop: Option<String>,
}

/// An experiment, as listed.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExperimentInfo {
    /// Its id in the service's store.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// Whether it is over (no trial will be handed out).
    pub finished: bool,
    /// Trials told.
    pub trials: usize,
    /// Trials handed out and not told yet.
    pub in_flight: usize,
    /// The best value told so far (lower is better).
    pub best_value: Option<f64>,
    /// Its parameters.
    #[schema(value_type = Option<Object>)]
    pub best_params: Option<Map<String, Value>>,
}

/// A trial to evaluate.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TrialToRun {
    /// The trial's id within its experiment.
    pub trial: usize,
    /// Its parameters, by name.
    #[schema(value_type = Object)]
    pub params: Map<String, Value>,
    /// The epochs to train to, when the experiment has a scheduler.
    pub budget: Option<u32>,
    /// Epochs the configuration already trained (a promotion: resume from your own
    /// checkpoint of `configuration`), when the experiment has a scheduler.
    pub resume_from: Option<u32>,
    /// The configuration's id, the same across its promotions.
    pub configuration: usize,
    /// Seconds within which to tell, report or send a heartbeat, else it is handed out
    /// again.
    pub lease_seconds: f64,
}

/// What `ask` answers: a trial, or why the experiment hands out no more.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AskAnswer {
    /// The trial to evaluate, if any.
    pub trial: Option<TrialToRun>,
    /// Why no trial is handed out (the experiment is over, or waits for trials in flight).
    pub reason: Option<String>,
}

/// An interim value of a trial in flight.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// The epoch (1-based) or step of the report.
    pub epoch: usize,
    /// The value there (lower is better).
    pub value: f64,
}

/// The early-termination rule's answer to a report.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Decision {
    /// `continue` or `stop`.
    pub decision: String,
}

/// The end of a trial: its value, or why it failed.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Tell {
    /// The final value (lower is better); absent when the trial failed.
    pub value: Option<f64>,
    /// Why the trial failed.
    pub failure: Option<String>,
    /// What the evaluation cost, seconds (default: the time since it was handed out).
    pub cost: Option<f64>,
}

/// A trial told, as listed.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TrialInfo {
    /// Its position among the trials told.
    pub index: usize,
    /// Its parameters.
    #[schema(value_type = Object)]
    pub params: Map<String, Value>,
    /// Its value (none when it failed).
    pub value: Option<f64>,
    /// `complete`, `terminated`, `promoted` or `failed`.
    pub status: String,
    /// The arm that proposed it.
    pub arm: String,
}

/// A trial handed out and not told.
struct Flight {
    pending: Pending,
    watch: Watch,
    reports: Vec<Interim>,
    since: Instant,
    deadline: Instant,
}

/// One experiment in use.
struct Live {
    name: String,
    run: Option<DrivenRun>,
    flights: BTreeMap<usize, Flight>,
    queue: VecDeque<Pending>,
    /// Why the run asked for no more trials, once it did.
    stopping: Option<String>,
    /// How long a trial stays with its client without news.
    lease: Duration,
}

/// The service: its directory, plugins and experiments in use.
pub struct Tuner {
    host: PluginHost,
    out: PathBuf,
    /// Where the experiments are kept.
    location: Location,
    store: Store,
    lease: Duration,
    live: Mutex<BTreeMap<i64, Arc<Mutex<Live>>>>,
    /// Serialises experiment creation (names are claimed on disk).
    creating: Mutex<()>,
    /// Counts the changes clients may want to see (an experiment created, a trial asked or
    /// told, an experiment stopped): the events stream's source.
    changes: tokio::sync::watch::Sender<u64>,
    /// A read-only view (`hpo dashboard`): every experiment of the store is listed, none
    /// is driven.
    read_only: bool,
    /// Whether other services may serve the store's experiments too (`--store URL`): runs
    /// are shared, trials claimed and leased in the store.
    shared: bool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Tuner {
    /// A service over the store at `location` (experiments' inputs in `out`), handing
    /// trials out for `lease` at a time.
    pub fn new(
        host: PluginHost,
        out: &Path,
        location: Location,
        lease: Duration,
    ) -> std::result::Result<Self, StoreError> {
        Self::with_replicas(host, out, location, lease, false)
    }

    /// As [`Tuner::new`]; `shared`: other services serve the store's experiments too
    /// (replicas behind one PostgreSQL): experiments' inputs are read from the store,
    /// trials are claimed and leased there, and a trial handed out by one replica may be
    /// reported or told to another.
    pub fn with_replicas(
        host: PluginHost,
        out: &Path,
        location: Location,
        lease: Duration,
        shared: bool,
    ) -> std::result::Result<Self, StoreError> {
        Ok(Tuner {
            host,
            out: out.to_path_buf(),
            store: Store::connect(&location)?,
            location,
            lease,
            live: Mutex::new(BTreeMap::new()),
            creating: Mutex::new(()),
            changes: tokio::sync::watch::Sender::new(0),
            read_only: false,
            shared,
        })
    }

    /// A read-only view of every experiment in the store at `location` (`hpo dashboard`):
    /// those of `hpo run` as well as served ones; a thread looks at the store every second
    /// and counts a change when its experiments, trials or trials in flight do.
    pub fn read_only(
        host: PluginHost,
        out: &Path,
        location: Location,
    ) -> std::result::Result<Arc<Self>, StoreError> {
        let watched = Store::connect(&location)?;
        let mut tuner = Tuner::new(host, out, location, Duration::from_secs(3600))?;
        tuner.read_only = true;
        let tuner = Arc::new(tuner);
        let weak = Arc::downgrade(&tuner);
        std::thread::spawn(move || {
            let mut last = None;
            while let Some(tuner) = weak.upgrade() {
                let now = watched.activity().ok();
                if now != last {
                    let _ = tuner.changed(Ok(()));
                    last = now;
                }
                drop(tuner);
                std::thread::sleep(Duration::from_secs(1));
            }
        });
        Ok(tuner)
    }

    /// Whether this is a read-only view.
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// A receiver of the service's change count (see [`Tuner::changed`]).
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Counts one change, waking every events stream; passes `result` through.
    fn changed<T>(&self, result: Result<T>) -> Result<T> {
        if result.is_ok() {
            self.changes.send_modify(|n| *n += 1);
        }
        result
    }

    /// The store.
    fn store(&self) -> Result<&Store> {
        Ok(&self.store)
    }

    /// Creates and opens an experiment; its id.
    pub fn create(&self, new: NewExperiment) -> Result<i64> {
        check_name(&new.name)?;
        let _one_at_a_time = lock(&self.creating);
        let dir = self.out.join(SERVED_DIR).join(&new.name);
        if dir.exists() {
            return Err(ServiceError::new(
                409,
                format!("an experiment named '{}' exists", new.name),
            ));
        }
        let inputs =
            serde_json::to_string(&new).map_err(|e| ServiceError::new(500, e.to_string()))?;
        let internal = |e: StoreError| ServiceError::new(500, e.to_string());
        if !self
            .store
            .claim_name(&new.name, &inputs)
            .map_err(internal)?
        {
            return Err(ServiceError::new(
                409,
                format!("an experiment named '{}' exists", new.name),
            ));
        }
        let written = write_inputs(&dir, &new);
        let opened = written.and_then(|()| {
            let request = self.request(&dir, &new, false)?;
            Ok(DrivenRun::open(&self.host, &request)?)
        });
        let run = match opened {
            Ok(run) => run,
            Err(e) => {
                // A refused experiment leaves nothing behind.
                let _ = std::fs::remove_dir_all(&dir);
                let _ = self.store.release_name(&new.name);
                return Err(e);
            }
        };
        let id = run.id();
        let live = Live::new(new.name, run, self.lease);
        lock(&self.live).insert(id, Arc::new(Mutex::new(live)));
        self.changed(Ok(id))
    }

    /// The run request of the experiment whose inputs are in `dir`.
    fn request(&self, dir: &Path, new: &NewExperiment, resume: bool) -> Result<RunRequest> {
        Ok(RunRequest {
            run_conf: new.config.as_ref().map(|_| dir.join("run_conf.json")),
            mode: new.mode.clone(),
            spec: new.spec.clone(),
            objective: format!("client:{}", new.name),
            table_dir: None,
            runs: 1,
            expiry: Expiry {
                evals: Some(new.evals.unwrap_or(crate::experiment::DEFAULT_EVALS)),
                time: None,
                goal: new.goal,
            },
            seed: new.seed.unwrap_or(1),
            out: self.out.clone(),
            space: Some(dir.join("space.json")),
            trial_timeout: Duration::from_secs(86_400),
            resume,
            rerun: None,
            save_internal: false,
            time_penalty: None,
            early_stop: new.early_stop.clone(),
            worker_urls: Vec::new(),
            workers: None,
            simulate: None,
            store: Some(self.location.clone()),
            shared: self.shared,
            trial_lease: self.lease,
        })
    }

    /// Experiment `id` in use, reopened from the store when the service has not used it
    /// since it started.
    fn experiment(&self, id: i64) -> Result<Arc<Mutex<Live>>> {
        if let Some(live) = lock(&self.live).get(&id) {
            return Ok(live.clone());
        }
        let _one_at_a_time = lock(&self.creating);
        if let Some(live) = lock(&self.live).get(&id) {
            return Ok(live.clone());
        }
        let name = self.name_of(id)?;
        let (dir, new) = self.inputs(&name)?;
        let finished = self
            .store()?
            .experiments()
            .map_err(|e| ServiceError::new(500, e.to_string()))?
            .into_iter()
            .any(|e| e.id == id && e.finished);
        let live = if finished {
            Live::finished(name)
        } else {
            let request = self.request(&dir, &new, true)?;
            Live::new(name, DrivenRun::open(&self.host, &request)?, self.lease)
        };
        let live = Arc::new(Mutex::new(live));
        lock(&self.live).insert(id, live.clone());
        Ok(live)
    }

    /// The inputs of served experiment `name` and the directory of their files: written
    /// there by this service, else (another replica created it) from the store.
    fn inputs(&self, name: &str) -> Result<(PathBuf, NewExperiment)> {
        let dir = self.out.join(SERVED_DIR).join(name);
        let text = match std::fs::read_to_string(dir.join("request.json")) {
            Ok(text) => text,
            Err(e) => {
                let stored = self
                    .store
                    .served_request(name)
                    .map_err(|e| ServiceError::new(500, e.to_string()))?;
                stored.ok_or_else(|| ServiceError::new(500, format!("{}: {e}", dir.display())))?
            }
        };
        let new: NewExperiment =
            serde_json::from_str(&text).map_err(|e| ServiceError::new(500, e.to_string()))?;
        if !dir.join("request.json").exists() {
            write_inputs(&dir, &new)?;
        }
        Ok((dir, new))
    }

    /// The name of served experiment `id` (from its objective, `client:NAME`).
    fn name_of(&self, id: i64) -> Result<String> {
        let missing = || ServiceError::new(404, format!("no experiment {id}"));
        let listing = self
            .store()?
            .experiments()
            .map_err(|e| ServiceError::new(500, e.to_string()))?
            .into_iter()
            .find(|e| e.id == id)
            .ok_or_else(missing)?;
        match served_name(&listing.key) {
            Some(name) => Ok(name),
            // A read-only view names an experiment of `hpo run` by its results file.
            None if self.read_only => Ok(Path::new(&listing.results_file).file_stem().map_or_else(
                || format!("experiment {id}"),
                |s| s.to_string_lossy().into(),
            )),
            None => Err(missing()),
        }
    }

    /// Every served experiment.
    pub fn list(&self) -> Result<Vec<ExperimentInfo>> {
        let listings = self
            .store()?
            .experiments()
            .map_err(|e| ServiceError::new(500, e.to_string()))?;
        listings
            .into_iter()
            .filter(|e| self.read_only || served_name(&e.key).is_some())
            .map(|e| self.info(e.id))
            .collect()
    }

    /// One experiment: its progress and best trial.
    pub fn info(&self, id: i64) -> Result<ExperimentInfo> {
        let name = self.name_of(id)?;
        let trials = self.told(id)?;
        let in_flight = lock(&self.live)
            .get(&id)
            .map_or(0, |live| lock(live).flights.len());
        let best = trials.iter().filter(|t| t.value.is_some()).min_by(|a, b| {
            a.value
                .unwrap_or(f64::INFINITY)
                .total_cmp(&b.value.unwrap_or(f64::INFINITY))
        });
        let finished = self
            .store()?
            .experiments()
            .map_err(|e| ServiceError::new(500, e.to_string()))?
            .into_iter()
            .any(|e| e.id == id && e.finished);
        Ok(ExperimentInfo {
            id,
            name,
            finished,
            trials: trials.len(),
            in_flight,
            best_value: best.and_then(|t| t.value),
            best_params: best.map(|t| t.params.clone()),
        })
    }

    /// The trials of experiment `id` told so far, in order.
    pub fn told(&self, id: i64) -> Result<Vec<TrialInfo>> {
        let name = self.name_of(id)?;
        let trials = self
            .store()?
            .trials(id, 0)
            .map_err(|e| ServiceError::new(500, e.to_string()))?;
        let names = self.param_names(id, &name, &trials)?;
        let statuses = crate::trial::statuses(&trials);
        Ok(trials
            .iter()
            .zip(statuses)
            .enumerate()
            .map(|(index, (t, status))| TrialInfo {
                index,
                params: names
                    .iter()
                    .cloned()
                    .zip(t.params.iter().cloned())
                    .collect(),
                value: t.value.is_finite().then_some(t.value),
                status: status.to_string(),
                arm: t.arm.clone(),
            })
            .collect())
    }

    /// The parameters' names of experiment `id` (named `name`): its served space's, else
    /// (an experiment of `hpo run`, in a read-only view) its key's.
    fn param_names(&self, id: i64, name: &str, trials: &[Trial]) -> Result<Vec<String>> {
        let key = self
            .store()?
            .experiments()
            .map_err(|e| ServiceError::new(500, e.to_string()))?
            .into_iter()
            .find(|e| e.id == id)
            .map(|e| e.key)
            .unwrap_or_default();
        if served_name(&key).is_some() {
            let (dir, _) = self.inputs(name)?;
            let space = crate::space::Space::from_file(&dir.join("space.json"))
                .map_err(|e| ServiceError::new(500, e.to_string()))?;
            return Ok(space.params.iter().map(|p| p.name.clone()).collect());
        }
        Ok(crate::store::plots::param_names(&key, &[trials.to_vec()]))
    }

    /// Plot `kind` (`convergence`, `curves`, `arms`, `workers`, `parallel`, `importance`)
    /// of experiment `id`, as SVG.
    pub fn plot(&self, id: i64, kind: &str) -> Result<String> {
        self.name_of(id)?;
        let kind: crate::store::plots::PlotKind = kind
            .parse()
            .map_err(|e: String| ServiceError::new(400, e))?;
        crate::store::plots::plot_of(&self.store, id, kind)
            .map_err(|e| ServiceError::new(409, e.to_string()))
    }

    /// The next trial of experiment `id` for a client to evaluate.
    pub fn ask(&self, id: i64) -> Result<AskAnswer> {
        let live = self.experiment(id)?;
        let answer = lock(&live).ask(self.lease);
        self.changed(answer)
    }

    /// An interim value of trial `trial`: the rule's decision, the lease renewed.
    pub fn report(&self, id: i64, trial: usize, report: Report) -> Result<Decision> {
        let live = self.experiment(id)?;
        let mut live = lock(&live);
        let lease = self.lease;
        live.renew(trial)?;
        let flight = live.flight(trial)?;
        let interim = Interim {
            epoch: report.epoch,
            value: report.value,
            time: flight.since.elapsed().as_secs_f64(),
        };
        flight.watch.report(interim);
        flight.reports.push(interim);
        flight.deadline = Instant::now() + lease;
        let decision = if flight.watch.stopped() {
            "stop"
        } else {
            "continue"
        };
        Ok(Decision {
            decision: decision.into(),
        })
    }

    /// Renews the lease of trial `trial`.
    pub fn heartbeat(&self, id: i64, trial: usize) -> Result<()> {
        let live = self.experiment(id)?;
        let mut live = lock(&live);
        let lease = self.lease;
        live.renew(trial)?;
        live.flight(trial)?.deadline = Instant::now() + lease;
        Ok(())
    }

    /// The end of trial `trial`, committed: flushed to disk once the experiment is free
    /// for the next client, so concurrent tells share their flushes.
    pub fn tell(&self, id: i64, trial: usize, tell: Tell) -> Result<()> {
        let live = self.experiment(id)?;
        let told = lock(&live).tell(trial, tell);
        let flushed = told.and_then(|told| Ok(told.flush()?));
        self.changed(flushed)
    }

    /// Ends experiment `id` now: trials in flight are dropped (a later tell is refused).
    pub fn stop(&self, id: i64) -> Result<()> {
        let live = self.experiment(id)?;
        let mut live = lock(&live);
        live.flights.clear();
        live.queue.clear();
        if let Some(run) = &live.run {
            run.drop_in_flight()?;
        }
        live.stopping
            .get_or_insert_with(|| "stopped by a client".into());
        let stopped = live.finish_if_idle();
        self.changed(stopped)
    }
}

impl Live {
    fn new(name: String, mut run: DrivenRun, lease: Duration) -> Self {
        let queue = run.take_requeued().into();
        Live {
            name,
            run: Some(run),
            flights: BTreeMap::new(),
            queue,
            stopping: None,
            lease,
        }
    }

    fn finished(name: String) -> Self {
        Live {
            name,
            run: None,
            flights: BTreeMap::new(),
            queue: VecDeque::new(),
            stopping: Some("finished".into()),
            lease: Duration::ZERO,
        }
    }

    fn flight(&mut self, trial: usize) -> Result<&mut Flight> {
        self.adopt(trial)?;
        let name = self.name.clone();
        self.flights.get_mut(&trial).ok_or_else(|| {
            ServiceError::new(
                404,
                format!("experiment '{name}' has no trial {trial} in flight"),
            )
        })
    }

    /// A shared run: a trial another replica handed out (or that this one did before it
    /// restarted) becomes a flight here, when the store has it in flight.
    fn adopt(&mut self, trial: usize) -> Result<()> {
        if self.flights.contains_key(&trial) {
            return Ok(());
        }
        let Some(run) = self.run.as_mut().filter(|r| r.is_shared()) else {
            return Ok(());
        };
        if let Some(pending) = run.adopt(trial)? {
            let now = Instant::now();
            let watch = run.watch();
            self.flights.insert(
                trial,
                Flight {
                    watch,
                    pending,
                    reports: Vec::new(),
                    since: now,
                    deadline: now + self.lease,
                },
            );
        }
        Ok(())
    }

    /// A shared run: news of trial `trial` extends its lease in the store.
    fn renew(&mut self, trial: usize) -> Result<()> {
        self.adopt(trial)?;
        if let Some(run) = &self.run
            && self.flights.contains_key(&trial)
        {
            run.renew(trial, self.lease.as_secs_f64())?;
        }
        Ok(())
    }

    /// Trials whose lease ran out go back to the queue (in a shared run the store's
    /// claims hand them out again, at any replica).
    fn expire(&mut self) {
        if self.run.as_ref().is_some_and(DrivenRun::is_shared) {
            return;
        }
        let now = Instant::now();
        let expired: Vec<usize> = self
            .flights
            .iter()
            .filter(|(_, f)| f.deadline <= now)
            .map(|(t, _)| *t)
            .collect();
        for trial in expired {
            if let Some(flight) = self.flights.remove(&trial) {
                tracing::warn!(experiment = %self.name, trial, "lease ran out: handed out again");
                let mut pending = flight.pending;
                pending.requeued = true;
                self.queue.push_back(pending);
            }
        }
    }

    fn ask(&mut self, lease: Duration) -> Result<AskAnswer> {
        self.expire();
        if let Some(reason) = self
            .run
            .as_ref()
            .map(DrivenRun::stopped_elsewhere)
            .transpose()?
            .flatten()
        {
            // Another replica ended the run.
            self.flights.clear();
            self.run = None;
            self.stopping = Some(reason);
        }
        let Some(run) = self.run.as_mut() else {
            return Ok(AskAnswer {
                trial: None,
                reason: self.stopping.clone(),
            });
        };
        let pending = match self.queue.pop_front() {
            Some(pending) => {
                run.reissue(&pending)?;
                pending
            }
            // A shared run asks again: a trial whose client went silent may be handed out.
            None if self.stopping.is_some() && !run.is_shared() => {
                return Ok(AskAnswer {
                    trial: None,
                    reason: Some(format!(
                        "{}; waiting for {} trials in flight",
                        self.stopping.clone().unwrap_or_default(),
                        self.flights.len()
                    )),
                });
            }
            None => match run.ask()? {
                Asked::Trial(pending) => *pending,
                Asked::Stop(reason) => {
                    self.stopping = Some(reason.clone());
                    self.finish_if_idle()?;
                    return Ok(AskAnswer {
                        trial: None,
                        reason: Some(reason),
                    });
                }
            },
        };
        let trial = TrialToRun {
            trial: pending.ticket,
            params: run.params(&pending),
            budget: pending.budget().map(|b| b.epochs),
            resume_from: pending.budget().map(|b| b.from),
            configuration: pending.budget().map_or(pending.ticket, |b| b.lineage),
            lease_seconds: lease.as_secs_f64(),
        };
        let now = Instant::now();
        self.flights.insert(
            pending.ticket,
            Flight {
                watch: run.watch(),
                pending,
                reports: Vec::new(),
                since: now,
                deadline: now + lease,
            },
        );
        Ok(AskAnswer {
            trial: Some(trial),
            reason: None,
        })
    }

    fn tell(&mut self, trial: usize, tell: Tell) -> Result<Told> {
        self.adopt(trial)?;
        let flight = self.flights.remove(&trial).ok_or_else(|| {
            ServiceError::new(
                404,
                format!("experiment '{}' has no trial {trial} in flight", self.name),
            )
        })?;
        let Some(run) = self.run.as_mut() else {
            return Err(ServiceError::new(409, "the experiment is over"));
        };
        let outcome = match outcome_of(run, &flight, &tell) {
            Ok(outcome) => outcome,
            Err(e) => {
                // A malformed tell leaves the trial in flight.
                self.flights.insert(trial, flight);
                return Err(e);
            }
        };
        let told = run.tell(flight.pending, outcome)?;
        self.finish_if_idle()?;
        Ok(told)
    }

    /// Finishes the run once it asked for no more trials and none is in flight.
    fn finish_if_idle(&mut self) -> Result<()> {
        if self.stopping.is_none() || !self.flights.is_empty() || !self.queue.is_empty() {
            return Ok(());
        }
        // A shared run waits for the other replicas' trials in flight too.
        if let Some(run) = &self.run
            && run.in_flight_anywhere()? > 0
        {
            return Ok(());
        }
        if let Some(run) = self.run.take() {
            run.finish(self.stopping.clone().unwrap_or_default())?;
        }
        Ok(())
    }
}

/// What a tell observed, from the trial's reports and the client's answer.
fn outcome_of(run: &DrivenRun, flight: &Flight, tell: &Tell) -> Result<Outcome> {
    let values = run.values(&flight.pending);
    let cost = match tell.cost {
        Some(c) if c.is_finite() && c >= 0.0 => c,
        Some(c) => {
            return Err(ServiceError::new(
                400,
                format!("cost {c} is not a duration"),
            ));
        }
        None => flight.since.elapsed().as_secs_f64(),
    };
    let epochs = flight.reports.last().map(|r| r.epoch);
    match (tell.value, &tell.failure) {
        (Some(_), Some(_)) => Err(ServiceError::new(
            400,
            "give a value or a failure, not both",
        )),
        (None, None) => Err(ServiceError::new(400, "give a value or a failure")),
        (None, Some(why)) => Ok(Outcome::failed(values, cost, epochs, why.clone())),
        (Some(v), None) if !v.is_finite() => {
            Err(ServiceError::new(400, format!("value {v} is not finite")))
        }
        // Stopped by the rule: what it reported by then, as a stopped command's trial.
        (Some(_), None) if flight.watch.stopped() => Ok(Outcome::terminated(
            values.clone(),
            flight.reports.clone(),
            cost,
        )
        .unwrap_or_else(|| Outcome::failed(values, cost, epochs, "no finite report".into()))),
        (Some(value), None) => Ok(Outcome {
            value,
            interim: flight.reports.clone(),
            params: values,
            cost,
            epochs: epochs.or_else(|| flight.pending.budget().map(|b| b.epochs as usize)),
            failure: None,
            terminated: false,
        }),
    }
}

/// The name of a served experiment from its store key (objective `client:NAME`).
fn served_name(key: &str) -> Option<String> {
    let key: Value = serde_json::from_str(key).ok()?;
    key.get("objective")?
        .as_str()?
        .strip_prefix("client:")
        .map(str::to_string)
}

fn check_name(name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if valid {
        Ok(())
    } else {
        Err(ServiceError::new(
            400,
            format!("name '{name}': use 1 to 64 letters, digits, '-' or '_'"),
        ))
    }
}

/// Writes an experiment's inputs into `dir`: the request, its space and run configuration.
fn write_inputs(dir: &Path, new: &NewExperiment) -> Result<()> {
    let io = |e: std::io::Error| ServiceError::new(500, format!("{}: {e}", dir.display()));
    std::fs::create_dir_all(dir).map_err(io)?;
    let json = |v: &Value| serde_json::to_string_pretty(v).unwrap_or_default();
    std::fs::write(dir.join("space.json"), json(&new.space)).map_err(io)?;
    if let Some(config) = &new.config {
        std::fs::write(dir.join("run_conf.json"), json(config)).map_err(io)?;
    }
    let request = serde_json::to_value(new).map_err(|e| ServiceError::new(500, e.to_string()))?;
    std::fs::write(dir.join("request.json"), json(&request)).map_err(io)?;
    Ok(())
}
