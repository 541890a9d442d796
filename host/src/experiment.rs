//! One run of an experiment: the loop that asks the strategy for an arm, the arm for a
//! candidate, the objective for its value, and tells every model what was observed.
//!
//! Invariants: models receive exactly what was observed; an arm that fails is recorded
//! (count and reason) and the iteration falls back to the next arm of the strategy's
//! ranking, never silently to random; an arm failing three times in a row is suspended
//! for the run; a run is reproducible from its seed.

use std::collections::BTreeMap;
use std::time::Instant;

use hpo_plugin_api::types::{
    ArmConfig, ArmStat, ComponentKind, Feedback, Matrix, ObservationStatus, Observations,
    ProposeRequest, Proposed, SelectRequest, StrategyConfig,
};
use serde::Serialize;

use crate::objectives::{Candidate, Objective};
use crate::plugins::{HostError, PluginHost};
use crate::pool::{DEFAULT_POOL_SIZE, sobol_pool};
use crate::run_config::{ArmRef, RunConfig};
use crate::sessions::{ArmSession, SessionError, SharedPlugin, StrategySession, share};
use crate::trial::{ArmFailures, Estimate, Iteration, StoredTrial};
use hpo_kit::transform::ErrorScale;
use rand::SeedableRng;
use rand::seq::SliceRandom;

/// Consecutive failures after which an arm is suspended for the run.
pub const SUSPEND_AFTER: u32 = 3;

/// Errors that stop an experiment before or during a run.
#[derive(Debug, thiserror::Error)]
pub enum ExperimentError {
    /// Loading a plugin failed.
    #[error(transparent)]
    Host(#[from] HostError),
    /// A session could not be opened or failed for good.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// The experiment's description is wrong.
    #[error("{0}")]
    Invalid(String),
}

/// When a run stops.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Expiry {
    /// At most this many evaluations.
    pub evals: Option<usize>,
    /// Stop when Σexec + Σopt reaches this many seconds.
    pub time: Option<f64>,
    /// Stop when the best value reaches this goal (lower is better).
    pub goal: Option<f64>,
}

/// What a run does.
#[derive(Debug, Clone)]
pub struct RunPlan {
    /// The arms, in order.
    pub arms: Vec<ArmRef>,
    /// The strategy, when there are several arms (`SEQ`, `RANDOM`, ...).
    pub strategy: Option<String>,
    /// The run configuration (options, pool settings).
    pub config: RunConfig,
    /// When to stop.
    pub expiry: Expiry,
}

/// A finished run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRecord {
    /// The run's seed.
    pub seed: u64,
    /// The iterations, in order.
    pub iterations: Vec<Iteration>,
    /// Arm names, in order.
    pub arm_names: Vec<String>,
    /// Evaluations per arm.
    pub pulls: Vec<u32>,
    /// Mean reward per arm (higher is better; the negated value).
    pub mean_rewards: Vec<f64>,
    /// Failures per arm: count and the last reason.
    pub failures: ArmFailures,
    /// Why the run stopped.
    pub stop_reason: String,
}

impl RunRecord {
    /// The best successful iteration (a failed trial has no value and is never the best).
    pub fn best(&self) -> Option<&Iteration> {
        self.iterations
            .iter()
            .filter(|i| i.value.is_finite())
            .min_by(|a, b| a.value.total_cmp(&b.value))
    }

    /// Σexec_time.
    pub fn exec_time(&self) -> f64 {
        self.iterations.iter().map(|i| i.exec_time).sum()
    }

    /// Σopt_time.
    pub fn opt_time(&self) -> f64 {
        self.iterations.iter().map(|i| i.opt_time).sum()
    }

    /// The record of a finished run, rebuilt from its stored trials (no plugin involved):
    /// the same record the run returned when it finished. `failures` are the arms'
    /// failures stored with the finished run; without them (an older store) they are
    /// rebuilt from the failures recorded with each trial.
    pub fn from_trials(
        seed: u64,
        arm_names: Vec<String>,
        trials: &[StoredTrial],
        stop_reason: String,
        failures: Option<ArmFailures>,
    ) -> Self {
        let mut pulls = vec![0u32; arm_names.len()];
        let mut totals = vec![0.0; arm_names.len()];
        let mut credit = Credit::default();
        let mut health = ArmHealth::new(arm_names.len());
        for t in trials {
            let reward = credit.reward(t.iteration.value);
            if let Some(a) = arm_names.iter().position(|n| *n == t.iteration.arm) {
                pulls[a] += 1;
                totals[a] += reward;
            }
            for (arm, why) in &t.arm_failures {
                health.count(arm, why);
            }
        }
        let failures = failures.unwrap_or(health.failures);
        RunRecord {
            seed,
            iterations: trials.iter().map(|t| t.iteration.clone()).collect(),
            mean_rewards: pulls
                .iter()
                .zip(&totals)
                .map(|(p, t)| if *p > 0 { t / *p as f64 } else { 0.0 })
                .collect(),
            pulls,
            arm_names,
            failures,
            stop_reason,
        }
    }
}

/// The plan of a bench or regret entry: `DIV/<STRATEGY>` (the strategy over the run
/// configuration's arms) or `MODEL/ACQ` (one arm).
pub fn plan_of(
    entry: &str,
    config: &RunConfig,
    expiry: Expiry,
) -> Result<RunPlan, ExperimentError> {
    match entry.split_once('/') {
        Some(("DIV", spec)) if !spec.is_empty() => {
            if config.arms.is_empty() {
                return Err(ExperimentError::Invalid(format!(
                    "{entry}: the run configuration lists no arms"
                )));
            }
            Ok(RunPlan {
                arms: config.arms.clone(),
                strategy: Some(spec.to_string()),
                config: config.clone(),
                expiry,
            })
        }
        Some((model, acq)) if !model.is_empty() && !acq.is_empty() && model != "DIV" => {
            Ok(RunPlan {
                arms: vec![ArmRef {
                    model: model.to_string(),
                    acq_func: acq.to_string(),
                    plugin: None,
                }],
                strategy: None,
                config: config.clone(),
                expiry,
            })
        }
        _ => Err(ExperimentError::Invalid(format!(
            "'{entry}': expected DIV/<STRATEGY> or MODEL/ACQ"
        ))),
    }
}

/// Finds the plugin serving each arm (the `plugin` qualifier, else the one registered
/// plugin that lists it); the error lists what is installed.
pub fn resolve_arms(host: &PluginHost, arms: &[ArmRef]) -> Result<Vec<String>, ExperimentError> {
    let registry = host.registry();
    arms.iter()
        .map(|arm| {
            let name = arm.name();
            let providers: Vec<&str> = registry
                .plugins()
                .iter()
                .filter(|p| p.arms.contains(&name))
                .filter(|p| arm.plugin.as_deref().is_none_or(|want| want == p.name))
                .map(|p| p.name.as_str())
                .collect();
            match providers.as_slice() {
                [one] => Ok(one.to_string()),
                [] => {
                    let installed: Vec<String> = registry
                        .plugins()
                        .iter()
                        .flat_map(|p| p.arms.iter().map(move |a| format!("{a} ({})", p.name)))
                        .collect();
                    Err(ExperimentError::Invalid(format!(
                        "no installed plugin provides the arm {name}{} (installed arms: {})",
                        arm.plugin
                            .as_deref()
                            .map(|p| format!(" from plugin '{p}'"))
                            .unwrap_or_default(),
                        if installed.is_empty() {
                            "none".into()
                        } else {
                            installed.join(", ")
                        }
                    )))
                }
                many => Err(ExperimentError::Invalid(format!(
                    "the arm {name} is provided by several plugins ({}): add \"plugin\" to the arm",
                    many.join(", ")
                ))),
            }
        })
        .collect()
}

/// Checks a plan before anything is written: every arm and the strategy have a plugin,
/// and each arm's plugin accepts its options (a misspelled option or a bad value fails here,
/// not in the middle of the first run). Returns the plugin serving each arm.
pub fn check_plan(host: &PluginHost, plan: &RunPlan) -> Result<Vec<String>, ExperimentError> {
    let providers = resolve_arms(host, &plan.arms)?;
    if let Some(s) = &plan.strategy {
        resolve_strategy(host, s)?;
    }
    let mut checked: Vec<(&str, &str)> = Vec::new();
    for (arm, plugin_name) in plan.arms.iter().zip(&providers) {
        if checked.contains(&(plugin_name.as_str(), arm.model.as_str())) {
            continue;
        }
        let options = plan.config.plugin_options(plugin_name).to_string();
        host.load(plugin_name)?
            .backend
            .validate(ComponentKind::Arm, &arm.model, &options)
            .map_err(|e| {
                ExperimentError::Invalid(format!(
                    "plugin '{plugin_name}', arm '{}': {e}",
                    arm.name()
                ))
            })?;
        checked.push((plugin_name, &arm.model));
    }
    Ok(providers)
}

/// Finds the plugin serving a strategy.
pub fn resolve_strategy(host: &PluginHost, strategy: &str) -> Result<String, ExperimentError> {
    host.registry()
        .plugins()
        .iter()
        .find(|p| p.strategies.iter().any(|s| s == strategy))
        .map(|p| p.name.clone())
        .ok_or_else(|| {
            let installed: Vec<&str> = host
                .registry()
                .plugins()
                .iter()
                .flat_map(|p| p.strategies.iter().map(String::as_str))
                .collect();
            ExperimentError::Invalid(format!(
                "no installed plugin provides the strategy {strategy} (installed: {})",
                if installed.is_empty() {
                    "none".into()
                } else {
                    installed.join(", ")
                }
            ))
        })
}

/// Mixed into the seed of the pool's shuffled order, so that it differs from the run's
/// other random streams.
const SHUFFLE_SALT: u64 = 0x005E_ED0F_0DE2;

/// The seed of run `index` of an experiment seeded with `seed` (SplitMix64 of both).
pub fn run_seed(seed: u64, index: usize) -> u64 {
    let mut z = seed.wrapping_add((index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

struct ModelSession {
    session: ArmSession,
}

/// The strategies' credit, scale-free: rewards and BO-HEDGE's gains are costs read as
/// error rates ([`ErrorScale`], as the LE/HLE transforms read them), negated. On error rates
/// (every value so far in [0, 1]) that is the negated value, the seed's reward; any other
/// objective is mapped onto (0, 1] by the history's floor and span, so a reward means the
/// same whether the values lie 1e-3 or 1e3 apart, and the log-error (`-LE`) strategies see
/// errors they can take the logarithm of.
#[derive(Default)]
struct Credit {
    /// The successful values so far.
    values: Vec<f64>,
}

impl Credit {
    /// Records an observation and returns its reward (higher is better); a failed trial
    /// earns the worst value's (0 before any success).
    fn reward(&mut self, value: f64) -> f64 {
        if value.is_finite() {
            self.values.push(value);
        }
        let scale = ErrorScale::of(&self.values);
        let credited = if value.is_finite() {
            Some(value)
        } else {
            self.values.iter().copied().reduce(f64::max)
        };
        credited.map_or(0.0, |v| -scale.error(v))
    }

    /// The gain of a predicted value, on the scale of the observations so far.
    fn gain(&self, predicted: f64) -> f64 {
        -ErrorScale::of(&self.values).error(predicted)
    }
}

fn status_of(value: f64) -> ObservationStatus {
    if value.is_finite() {
        ObservationStatus::Final
    } else {
        ObservationStatus::Failed
    }
}

/// Runs one run of `plan` on `objective` with `seed`.
///
/// `prior` holds the trials of this run already completed (a resumed run): they are replayed
/// into the models, the candidate pool, the arm statistics and the strategy's saved state,
/// and the run continues exactly where it stopped. Every new trial goes to `sink` before the
/// next iteration starts; a sink error stops the run (no trial is ever only in memory).
pub fn run(
    host: &PluginHost,
    objective: &mut dyn Objective,
    plan: &RunPlan,
    seed: u64,
    prior: &[StoredTrial],
    sink: &mut dyn FnMut(usize, &StoredTrial) -> Result<(), String>,
) -> Result<RunRecord, ExperimentError> {
    if plan.arms.is_empty() {
        return Err(ExperimentError::Invalid("no arms to run".into()));
    }
    let providers = resolve_arms(host, &plan.arms)?;
    let mut loaded: BTreeMap<String, SharedPlugin> = BTreeMap::new();
    let mut load = |name: &str| -> Result<SharedPlugin, ExperimentError> {
        if let Some(p) = loaded.get(name) {
            return Ok(p.clone());
        }
        let p = share(host.load(name)?);
        loaded.insert(name.to_string(), p.clone());
        Ok(p)
    };

    let space = objective.space().clone();
    let dims = space.encoded_dims();
    let space_json = serde_json::to_string(&space.spec()).expect("space spec serializes");
    let pool_settings = plan.config.pool();
    let own_pool = objective.pool();
    let allow_off_pool = own_pool.is_none();
    let pool = own_pool.unwrap_or_else(|| {
        sobol_pool(
            &space,
            pool_settings.num_samples.unwrap_or(DEFAULT_POOL_SIZE),
            pool_settings
                .seed
                .or(pool_settings.grid_seed)
                .unwrap_or(seed),
        )
    });

    // The seed's `grid.order: shuffle`: arms see the pool's rows in a seeded random order
    // (results keep each row's own index). `order[i]` is the pool row shown at position i.
    let mut order: Vec<usize> = (0..pool.rows()).collect();
    if pool_settings.order.as_deref() == Some("shuffle") {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(
            pool_settings
                .grid_seed
                .or(pool_settings.seed)
                .unwrap_or(seed)
                ^ SHUFFLE_SALT,
        );
        order.shuffle(&mut rng);
    }
    let shown = Matrix {
        cols: pool.cols,
        data: order
            .iter()
            .flat_map(|&r| pool.row(r).iter().copied())
            .collect(),
    };

    // One session per (plugin, model): arms of one model share its fitted model.
    let mut models: Vec<ModelSession> = Vec::new();
    let mut arm_model: Vec<usize> = Vec::new();
    let mut model_keys: Vec<(String, String)> = Vec::new();
    for (arm, plugin_name) in plan.arms.iter().zip(&providers) {
        let key = (plugin_name.clone(), arm.model.clone());
        let index = match model_keys.iter().position(|k| *k == key) {
            Some(i) => i,
            None => {
                let plugin = load(plugin_name)?;
                let options = plan.config.plugin_options(plugin_name).to_string();
                let mut session = ArmSession::open(
                    &plugin,
                    ArmConfig {
                        model: arm.model.clone(),
                        space_json: space_json.clone(),
                        options_json: options,
                        seed,
                    },
                    dims,
                )?;
                session.set_pool(shown.clone())?;
                models.push(ModelSession { session });
                model_keys.push(key);
                models.len() - 1
            }
        };
        arm_model.push(index);
    }
    let arm_names: Vec<String> = plan.arms.iter().map(ArmRef::name).collect();
    let mut strategy = match &plan.strategy {
        Some(name) => {
            let plugin = load(&resolve_strategy(host, name)?)?;
            Some(StrategySession::open(
                &plugin,
                StrategyConfig {
                    name: name.clone(),
                    arm_names: arm_names.clone(),
                    options_json: plan.config.strategy_options().to_string(),
                    seed,
                },
            )?)
        }
        None if plan.arms.len() > 1 => {
            return Err(ExperimentError::Invalid(
                "several arms need a strategy (e.g. -m DIV -s SEQ)".into(),
            ));
        }
        None => None,
    };

    let mut stats = vec![ArmStat::default(); plan.arms.len()];
    let mut health = ArmHealth::new(plan.arms.len());
    let nominating = strategy
        .as_ref()
        .is_some_and(StrategySession::wants_nominations);
    let mut candidates: Vec<u32> = (0..pool.rows() as u32).collect();
    let mut iterations: Vec<Iteration> = Vec::new();
    let mut best = f64::INFINITY;
    let mut credit = Credit::default();
    let (mut cum_exec, mut cum_opt) = (0.0, 0.0);
    // The store's commit of a trial is optimizer work, counted with the next iteration.
    let mut carried = 0.0;

    if !prior.is_empty() {
        let mut replay = Observations {
            x: Matrix::empty(dims as u32),
            ..Observations::default()
        };
        let position = |name: &str| {
            arm_names.iter().position(|n| n == name).ok_or_else(|| {
                ExperimentError::Invalid(format!(
                    "cannot resume: the stored run used the arm {name}, which this plan does not have"
                ))
            })
        };
        for trial in prior {
            let it = &trial.iteration;
            let a = position(&it.arm)?;
            // The arms' failures of that iteration, then the success of the proposing arm:
            // counts, streaks and suspensions continue as they were.
            for (arm, why) in &trial.arm_failures {
                health.replay_failure(position(arm)?, arm, why, &mut stats);
            }
            health.succeeded(a);
            if trial.x.len() != dims {
                return Err(ExperimentError::Invalid(
                    "cannot resume: a stored trial does not match the space".into(),
                ));
            }
            if let Some(row) = it.row {
                candidates.retain(|&c| order[c as usize] != row);
            }
            replay.x.data.extend_from_slice(&trial.x);
            replay.y.push(it.value);
            replay.cost.push(it.exec_time);
            replay.status.push(status_of(it.value));
            stats[a].pulls += 1;
            stats[a].total_reward += credit.reward(it.value);
            if it.value.is_finite() {
                best = best.min(it.value);
            }
            cum_exec += it.exec_time;
            cum_opt += it.opt_time;
            iterations.push(it.clone());
        }
        for model in &mut models {
            model.session.tell(&replay)?;
        }
        if let (Some(s), Some(state)) = (
            strategy.as_mut(),
            prior.iter().rev().find_map(|t| t.strategy_state.as_deref()),
        ) {
            s.restore(state)?;
        }
        tracing::info!(
            trials = prior.len(),
            "resumed run: completed trials replayed"
        );
    }

    let stop_reason;
    loop {
        if let Some(reason) = expired(&plan.expiry, iterations.len(), cum_exec + cum_opt, best) {
            stop_reason = reason;
            break;
        }
        if candidates.is_empty() && !allow_off_pool {
            stop_reason = "the pool is exhausted".to_string();
            break;
        }
        let started = Instant::now();
        let iteration = iterations.len() as u32;
        // BO-HEDGE: every arm nominates a point before the strategy draws one.
        let proposal_seed = run_seed(seed, iterations.len());
        let mut ask = |a: usize| {
            propose_one(
                &mut models[arm_model[a]].session,
                &plan.arms[a],
                &candidates,
                dims,
                proposal_seed,
                allow_off_pool,
            )
        };
        let mut nominees: Vec<Option<Proposed>> = vec![None; plan.arms.len()];
        if nominating {
            for a in 0..plan.arms.len() {
                if stats[a].suspended {
                    continue;
                }
                match ask(a) {
                    Ok(p) => nominees[a] = Some(p),
                    Err(e) => health.failed(a, &arm_names[a], &e, &mut stats),
                }
            }
        }
        let ranking: Vec<u32> = match strategy.as_mut() {
            Some(s) => s.select(&SelectRequest {
                iteration,
                elapsed: cum_exec + cum_opt,
                stats: stats.clone(),
            })?,
            None => vec![0],
        };
        let mut chosen = None;
        for &arm in &ranking {
            let a = arm as usize;
            if stats[a].suspended {
                continue;
            }
            let proposal = if nominating {
                nominees[a].clone()
            } else {
                ask(a)
                    .map_err(|e| health.failed(a, &arm_names[a], &e, &mut stats))
                    .ok()
            };
            if let Some(p) = proposal {
                health.succeeded(a);
                chosen = Some((a, p));
                break;
            }
        }
        let Some((arm, proposal)) = chosen else {
            stop_reason = format!(
                "every arm failed at iteration {iteration}: {}",
                health
                    .failures
                    .iter()
                    .map(|(a, (_, why))| format!("{a}: {why}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            );
            break;
        };
        // No model estimate during an arm's initial design (NaN mean and variance).
        let estimate =
            (proposal.mean.is_finite() && proposal.variance.is_finite()).then_some(Estimate {
                mean: proposal.mean,
                variance: proposal.variance,
                acquisition: proposal.acquisition,
            });
        let (candidate, x, row) = match proposal.pool_index {
            Some(index) => {
                candidates.retain(|&c| c != index);
                let row = order[index as usize];
                let x = pool.row(row).to_vec();
                if allow_off_pool {
                    (Candidate::Point(x.clone()), x, Some(row))
                } else {
                    (Candidate::Row(row), x, Some(row))
                }
            }
            None => (
                Candidate::Point(proposal.point.clone()),
                proposal.point,
                None,
            ),
        };
        let proposing = started.elapsed().as_secs_f64();
        let evaluation = objective
            .evaluate(&candidate)
            .map_err(|e| ExperimentError::Invalid(format!("{}: {e}", objective.label())))?;
        if let Some(why) = &evaluation.failure {
            tracing::warn!(arm = %arm_names[arm], "trial failed: {why}");
        }
        let learning = Instant::now();
        let observed = Observations {
            x: Matrix {
                cols: dims as u32,
                data: x.clone(),
            },
            y: vec![evaluation.value],
            cost: vec![evaluation.cost],
            status: vec![status_of(evaluation.value)],
        };
        for model in &mut models {
            if let Err(e) = model.session.tell(&observed) {
                tracing::warn!("{e}");
            }
        }
        let reward = credit.reward(evaluation.value);
        stats[arm].pulls += 1;
        stats[arm].total_reward += reward;
        cum_exec += evaluation.cost;
        cum_opt += carried + proposing;
        let gains = if nominating {
            nomination_gains(&mut models, &nominees, &shown, &credit)
        } else {
            vec![]
        };
        if let Some(s) = strategy.as_mut() {
            s.update(&Feedback {
                chosen: arm as u32,
                reward,
                gains,
                elapsed: cum_exec + cum_opt,
            })?;
        }
        if evaluation.value.is_finite() {
            best = best.min(evaluation.value);
        }
        let strategy_state = match strategy.as_mut() {
            Some(s) => Some(s.snapshot()?),
            None => None,
        };
        // Everything the optimizer did for this trial: proposing, and learning from it.
        let learned = learning.elapsed().as_secs_f64();
        cum_opt += learned;
        let opt_time = carried + proposing + learned;
        let record = Iteration {
            row,
            params: evaluation.params,
            value: evaluation.value,
            exec_time: evaluation.cost,
            opt_time,
            arm: arm_names[arm].clone(),
            epochs: evaluation.epochs,
            interim: evaluation.interim,
            estimate,
        };
        let stored = StoredTrial {
            iteration: record,
            x,
            strategy_state,
            failure: evaluation.failure,
            arm_failures: health.take_events(),
        };
        let committing = Instant::now();
        sink(iterations.len(), &stored).map_err(|e| {
            ExperimentError::Invalid(format!("cannot record the trial, stopping: {e}"))
        })?;
        carried = committing.elapsed().as_secs_f64();
        iterations.push(stored.iteration);
    }
    Ok(RunRecord {
        seed,
        iterations,
        pulls: stats.iter().map(|s| s.pulls).collect(),
        mean_rewards: stats
            .iter()
            .map(|s| {
                if s.pulls > 0 {
                    s.total_reward / s.pulls as f64
                } else {
                    0.0
                }
            })
            .collect(),
        arm_names,
        failures: health.failures,
        stop_reason,
    })
}

/// Failure bookkeeping of the arms: counts, last reasons, suspension, and the failures of
/// the current iteration (stored with its trial).
struct ArmHealth {
    consecutive: Vec<u32>,
    failures: ArmFailures,
    events: Vec<(String, String)>,
}

impl ArmHealth {
    fn new(arms: usize) -> Self {
        ArmHealth {
            consecutive: vec![0; arms],
            failures: BTreeMap::new(),
            events: Vec::new(),
        }
    }

    fn succeeded(&mut self, arm: usize) {
        self.consecutive[arm] = 0;
    }

    /// Adds one failure of `name` to the counts.
    fn count(&mut self, name: &str, why: &str) {
        let entry = self
            .failures
            .entry(name.to_string())
            .or_insert((0, String::new()));
        entry.0 += 1;
        entry.1 = why.to_string();
    }

    /// Records a failure; the arm is suspended after [`SUSPEND_AFTER`] in a row.
    fn failed(&mut self, arm: usize, name: &str, error: &SessionError, stats: &mut [ArmStat]) {
        tracing::warn!("{error}");
        let why = error.to_string();
        self.events.push((name.to_string(), why.clone()));
        self.replay_failure(arm, name, &why, stats);
    }

    /// A failure as [`ArmHealth::failed`] counts it, without logging or recording it again
    /// (a resumed run replaying its stored failures).
    fn replay_failure(&mut self, arm: usize, name: &str, why: &str, stats: &mut [ArmStat]) {
        stats[arm].failures += 1;
        self.consecutive[arm] += 1;
        self.count(name, why);
        if self.consecutive[arm] >= SUSPEND_AFTER && !stats[arm].suspended {
            stats[arm].suspended = true;
            tracing::warn!(arm = %name, "suspended for the rest of the run");
        }
    }

    /// The failures since the last call (one iteration's).
    fn take_events(&mut self) -> Vec<(String, String)> {
        std::mem::take(&mut self.events)
    }
}

/// Asks one arm for one proposal.
fn propose_one(
    session: &mut ArmSession,
    arm: &ArmRef,
    candidates: &[u32],
    dims: usize,
    seed: u64,
    allow_off_pool: bool,
) -> Result<Proposed, SessionError> {
    let request = ProposeRequest {
        acquisition: arm.acq_func.clone(),
        candidates: candidates.to_vec(),
        pending: Matrix::empty(dims as u32),
        n: 1,
        seed,
        allow_off_pool,
    };
    let mut proposed = session.propose(&request)?;
    // check_proposals guarantees one proposal when one was asked for and any can be made.
    Ok(proposed.swap_remove(0))
}

/// BO-HEDGE's gains: every nominee scored by one reference model after the observation
/// (the first model that predicts, in cost units), as GP-Hedge scores every acquisition's
/// nominee under its one GP: the gain is the predicted value's credit (see [`Credit`]);
/// arms without a nominee get NaN (no gain).
fn nomination_gains(
    models: &mut [ModelSession],
    nominees: &[Option<Proposed>],
    pool: &Matrix,
    credit: &Credit,
) -> Vec<f64> {
    let points: Vec<(usize, Vec<f64>)> = nominees
        .iter()
        .enumerate()
        .filter_map(|(i, n)| {
            n.as_ref().map(|p| match p.pool_index {
                Some(row) => (i, pool.row(row as usize).to_vec()),
                None => (i, p.point.clone()),
            })
        })
        .collect();
    let mut gains = vec![f64::NAN; nominees.len()];
    if points.is_empty() {
        return gains;
    }
    let matrix = Matrix {
        cols: pool.cols,
        data: points.iter().flat_map(|(_, x)| x.iter().copied()).collect(),
    };
    for model in models.iter_mut() {
        if let Ok(prediction) = model.session.predict(&matrix) {
            for ((arm, _), mean) in points.iter().zip(prediction.mean) {
                gains[*arm] = credit.gain(mean);
            }
            break;
        }
    }
    gains
}

fn expired(expiry: &Expiry, evals: usize, elapsed: f64, best: f64) -> Option<String> {
    if let Some(goal) = expiry.goal
        && best <= goal
    {
        return Some(format!("goal {goal} reached"));
    }
    if let Some(max) = expiry.evals
        && evals >= max
    {
        return Some(format!("{max} evaluations done"));
    }
    if let Some(budget) = expiry.time
        && elapsed >= budget
    {
        return Some(format!("time budget of {budget} s spent"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credit_on_error_rates_is_the_negated_error() {
        let mut credit = Credit::default();
        assert_eq!(credit.reward(f64::NAN), 0.0, "a failure before any success");
        assert_eq!(credit.reward(0.2), -0.2);
        assert_eq!(credit.reward(0.5), -0.5);
        assert_eq!(
            credit.reward(f64::NAN),
            -0.5,
            "a failure earns the worst value's"
        );
        assert_eq!(credit.gain(0.1), -0.1);
    }

    #[test]
    fn credit_is_scale_free() {
        // The same values 1e-3 apart and 1e3 apart (and shifted) earn the same rewards.
        let base = [3.0, 1.0, 4.0, 1.5, 9.0, 2.6, 5.0];
        let rewards = |scale: f64, shift: f64| {
            let mut credit = Credit::default();
            let r: Vec<f64> = base
                .iter()
                .map(|v| credit.reward(v * scale + shift))
                .collect();
            (r, credit.gain(2.0 * scale + shift))
        };
        let (small, small_gain) = rewards(1e-3, 5.0);
        let (large, large_gain) = rewards(1e3, -40.0);
        for (a, b) in small.iter().zip(&large) {
            assert!((a - b).abs() < 1e-6, "{small:?} vs {large:?}");
        }
        assert!((small_gain - large_gain).abs() < 1e-6);
        // Hand-computed for the full history: the sorted values [1, 1.5, 2.6, 3, 4, 5, 9]
        // have the median 3, so the floor is 1 - (3 - 1) = -1 and the span 9 + 1 = 10.
        let mut credit = Credit::default();
        for v in base {
            credit.reward(v);
        }
        assert!((credit.gain(5.0) + 0.6).abs() < 1e-12);
        assert!(
            credit.gain(1.0) > credit.gain(4.0),
            "lower values earn more"
        );
    }
}
