//! One run of an experiment as an ask/tell core: [`Run::ask`] asks the strategy for an arm
//! and the arm for a candidate (seeing the trials in flight), [`Run::tell`] tells every model
//! and the strategy what an evaluation observed and commits the trial. The drivers
//! ([`super::drivers`]) are loops around the two calls: one worker, a pool of workers, a
//! simulated cluster.
//!
//! Invariants: models receive exactly what was observed; an arm that fails is recorded
//! (count and reason) and the trial falls back to the next arm of the strategy's ranking,
//! never silently to random; an arm failing [`SUSPEND_AFTER`] times in a row is suspended
//! for the run; a run is reproducible from its seed, and a resumed run continues bit for
//! bit. The bookkeeping of a trial (pulls, rewards, failures, times, the best value) has one
//! place, [`RunState::record`], which serves the loop, a resumed run's replay and a finished
//! run rebuilt from the store.
//!
//! [`SUSPEND_AFTER`]: crate::arms::SUSPEND_AFTER

use std::time::Instant;

use serde::{Deserialize, Serialize};

use hpo_plugin_api::types::{
    ArmStat, Feedback, Matrix, ObservationStatus, Observations, Proposed, SelectRequest,
};

use super::pool::Pool;
use super::seeds::run_seed;
use super::{ExperimentError, RunPlan, RunRecord};
use crate::arms::{ArmHealth, Arms};
use crate::config::BudgetModels;
use crate::objectives::{Budget, Candidate, Objective, Outcome, Watch};
use crate::registry::PluginHost;
use crate::schedulers::{self, Scheduler};
use crate::stoppers::{self, Stopper};
use crate::store::shared::{Claim, Progress};
use crate::strategies::{self, Credit, Nominee, StrategySession, nomination_gains};
use crate::trial::{ArmFailures, Estimate, Fidelity, Timing, Trial};

/// The bookkeeping of a run: its trials and what they add up to.
pub struct RunState {
    trials: Vec<Trial>,
    stats: Vec<ArmStat>,
    health: ArmHealth,
    credit: Credit,
    best: f64,
    cum_exec: f64,
    cum_opt: f64,
    /// A parallel driver's clock, seconds; `None`: the run's time is Σexec + Σopt.
    clock: Option<f64>,
}

impl RunState {
    /// The state of a run of `arms` arms before its first trial.
    pub fn new(arms: usize) -> Self {
        RunState {
            trials: Vec::new(),
            stats: vec![ArmStat::default(); arms],
            health: ArmHealth::new(arms),
            credit: Credit::default(),
            best: f64::INFINITY,
            cum_exec: 0.0,
            cum_opt: 0.0,
            clock: None,
        }
    }

    /// Counts a finished trial proposed by arm `arm` and keeps it; returns its reward
    /// (higher is better). The one place a trial is counted. A scheduler's promotion is no
    /// pull of its arm (the strategy chose nothing): its value counts for the best and the
    /// rewards' scale only.
    pub fn record(&mut self, arm: usize, trial: Trial) -> f64 {
        let reward = self.credit.reward(trial.value);
        if !is_promotion(&trial) {
            self.stats[arm].pulls += 1;
            self.stats[arm].total_reward += reward;
        }
        self.cum_exec += trial.exec_time;
        self.cum_opt += trial.opt_time;
        if trial.value.is_finite() {
            self.best = self.best.min(trial.value);
        }
        self.trials.push(trial);
        reward
    }

    /// Replays a stored trial: the arms' failures of its turn, the proposing arm's success,
    /// then [`RunState::record`]. `arm_names` are the run's arms, in order.
    pub fn replay(
        &mut self,
        arm_names: &[String],
        trial: Trial,
    ) -> Result<(usize, f64), ExperimentError> {
        let position = |name: &str| {
            arm_names
                .iter()
                .position(|n| n == name)
                .ok_or_else(|| ExperimentError::UnknownStoredArm(name.to_string()))
        };
        let arm = position(&trial.arm)?;
        for (name, why) in &trial.arm_failures {
            self.health
                .replay_failure(position(name)?, name, why, &mut self.stats);
        }
        if !is_promotion(&trial) {
            self.health.succeeded(arm);
        }
        let reward = self.record(arm, trial);
        Ok((arm, reward))
    }

    /// The run's record, once it stopped for `stop_reason`; `failures` replace the counted
    /// ones when the store kept them with the finished run.
    pub fn finish(
        self,
        seed: u64,
        arm_names: Vec<String>,
        stop_reason: String,
        failures: Option<ArmFailures>,
    ) -> RunRecord {
        RunRecord {
            seed,
            trials: self.trials,
            pulls: self.stats.iter().map(|s| s.pulls).collect(),
            mean_rewards: self
                .stats
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
            failures: failures.unwrap_or(self.health.failures),
            stop_reason,
        }
    }

    /// The run's time so far, seconds: its driver's clock, else Σexec + Σopt.
    fn elapsed(&self) -> f64 {
        self.clock.unwrap_or(self.cum_exec + self.cum_opt)
    }

    /// Charges optimizer time spent after the last trial was recorded (the strategy's update
    /// and snapshot) to that trial.
    fn charge_last(&mut self, seconds: f64) {
        self.cum_opt += seconds;
        if let Some(last) = self.trials.last_mut() {
            last.opt_time += seconds;
        }
    }
}

/// A run in progress: the plugins' sessions, the pool, the trials in flight and the
/// bookkeeping. Drivers (sequential, worker pools, the simulated cluster) are loops around
/// [`Run::ask`] and [`Run::tell`].
pub struct Run {
    plan: RunPlan,
    seed: u64,
    arms: Arms,
    strategy: Option<StrategySession>,
    /// The early-termination rule, if the run has a stopper.
    stopper: Option<Stopper>,
    /// The multi-fidelity rule, if the run has a scheduler.
    scheduler: Option<Scheduler>,
    /// What the models learn of a scheduled run ([`BudgetModels`]).
    budget_models: BudgetModels,
    /// The budget whose trials the models hold, under [`BudgetModels::Highest`].
    model_budget: Option<u32>,
    pool: Pool,
    state: RunState,
    /// Trials asked for so far (told or in flight): the next trial's ticket.
    asked: usize,
    /// The trials in flight.
    in_flight: Vec<InFlight>,
    /// Whether proposals see the points in flight (the run-wide option `pending`).
    pending_aware: bool,
    /// The points the other processes of a shared run have in flight.
    elsewhere: Vec<Vec<f64>>,
    /// The store's commit of a trial is optimizer work, charged to the next trial.
    carried: f64,
}

/// A trial in flight, as the run keeps it while it is evaluated.
struct InFlight {
    ticket: usize,
    /// The encoded point (shown to the arms as pending).
    x: Vec<f64>,
    /// Its budget, in a scheduled run.
    fidelity: Option<Fidelity>,
    /// Every arm's nomination at its ask (BO-HEDGE), else empty.
    nominees: Vec<Option<Nominee>>,
}

/// The nominations BO-HEDGE judges when a trial's result arrives: those of the latest ask
/// still in flight (the trial's own, `own`, in a sequential run, or when no ask in flight
/// nominated). Each is thus judged one result after it was made, as GP-Hedge does
/// sequentially. Judging each trial's own nominations only when it completes, seven results
/// later with 8 workers, made BO-HEDGE lock into TPE/MV (docs/PERFORMANCE.md, session 15).
fn judged_nominees(in_flight: &[InFlight], own: &[Option<Nominee>]) -> Vec<Option<Nominee>> {
    in_flight
        .iter()
        .filter(|f| !f.nominees.is_empty())
        .max_by_key(|f| f.ticket)
        .map_or_else(|| own.to_vec(), |f| f.nominees.clone())
}

/// What [`Run::ask`] answers.
pub enum Asked {
    /// The next trial, to evaluate and then tell.
    Trial(Box<Pending>),
    /// Why the run stops.
    Stop(String),
}

/// A trial asked for and not yet told: its arm's choice and what to evaluate. It is kept
/// in the store while it runs (serialized), so an interrupted run evaluates it again.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pending {
    /// The ask's number in the run, from 0.
    pub ticket: usize,
    /// The proposing arm.
    pub arm: usize,
    /// The proposing model's estimate at the point.
    estimate: Option<Estimate>,
    /// Every arm's nomination (BO-HEDGE), else empty.
    nominees: Vec<Option<Nominee>>,
    /// What to evaluate.
    #[serde(skip, default = "no_candidate")]
    pub candidate: Candidate,
    /// The encoded point.
    pub x: Vec<f64>,
    /// The pool row, if it is one.
    pub row: Option<usize>,
    /// The arms that failed in this trial's turn before its arm proposed.
    arm_failures: Vec<(String, String)>,
    /// Seconds the optimizer spent choosing it.
    proposing: f64,
    /// Trials completed when it was asked for.
    told_before: usize,
    /// The strategy's state right after it chose this trial's arm.
    strategy_state: Option<Vec<u8>>,
    /// Where and since when it runs, in a parallel run.
    pub placed: Option<(usize, f64)>,
    /// Whether it is evaluated again after an interruption.
    pub requeued: bool,
    /// Its budget and the trial it continues, in a scheduled run.
    #[serde(default)]
    pub fidelity: Option<Fidelity>,
}

impl Pending {
    /// The budget to evaluate it with, in a scheduled run.
    pub fn budget(&self) -> Option<&Budget> {
        self.fidelity.as_ref().map(|f| &f.budget)
    }
}

fn no_candidate() -> Candidate {
    Candidate::Point(Vec::new())
}

/// An arm's proposal, chosen for this trial.
struct Choice {
    arm: usize,
    proposal: Proposed,
    nominees: Vec<Option<Proposed>>,
}

/// Where a run's trials go: in flight before they are evaluated, completed after. An error
/// stops the run, so no trial is ever only in memory.
///
/// The sink of a run shared by several processes (`--store URL`) also hands out its
/// trials ([`RunSink::claim`]) and tells what the other processes did
/// ([`RunSink::progress`]); a private run's sink keeps the defaults.
pub trait RunSink {
    /// `pending` is about to be evaluated (it is placed on its worker).
    fn asked(&mut self, pending: &Pending) -> Result<(), String>;
    /// `trial`, the `index`-th completed trial of the run, completed `ticket`.
    fn told(&mut self, index: usize, trial: &Trial, ticket: usize) -> Result<(), String>;
    /// The next trial's ticket (`asked`: the trials this run asked for so far), a trial to
    /// take over, or [`Claim::Full`] once `limit` trials are done or in flight.
    fn claim(&mut self, asked: usize, limit: usize) -> Result<Claim, String> {
        let _ = limit;
        Ok(Claim::Ticket(asked))
    }
    /// Gives back a claimed ticket no arm could propose for.
    fn release(&mut self, ticket: usize) -> Result<(), String> {
        let _ = ticket;
        Ok(())
    }
    /// What the other processes sharing the run did since the last call (`None`: the run
    /// is not shared).
    fn progress(&mut self) -> Result<Option<Progress>, String> {
        Ok(None)
    }
}

impl Run {
    /// Opens the sessions of `plan` and the pool of `objective`.
    pub fn open(
        host: &PluginHost,
        objective: &dyn Objective,
        plan: &RunPlan,
        seed: u64,
    ) -> Result<Self, ExperimentError> {
        if plan.arms.is_empty() {
            return Err(ExperimentError::NoArms);
        }
        let pool = Pool::of(objective, &plan.config.pool(), seed);
        let mut loaded = crate::registry::Loaded::new(host);
        let arms = Arms::open(
            &mut loaded,
            &plan.arms,
            &plan.config,
            objective.space(),
            pool.shown(),
            seed,
        )?;
        let strategy = match &plan.strategy {
            Some(name) => Some(strategies::open(
                &mut loaded,
                name,
                arms.names(),
                &plan.config,
                seed,
            )?),
            None if plan.arms.len() > 1 => return Err(ExperimentError::NeedsStrategy),
            None => None,
        };
        let horizon = objective.horizon().unwrap_or(0);
        let stopper = stoppers::open(&mut loaded, &plan.config, horizon, seed)?;
        let scheduler = schedulers::open(&mut loaded, &plan.config, objective, seed)?;
        Ok(Run {
            plan: plan.clone(),
            seed,
            state: RunState::new(plan.arms.len()),
            arms,
            strategy,
            stopper,
            scheduler,
            budget_models: plan.config.budget_models(),
            model_budget: None,
            pool,
            asked: 0,
            in_flight: Vec::new(),
            pending_aware: plan.config.pending_aware(),
            elsewhere: Vec::new(),
            carried: 0.0,
        })
    }

    /// Replays the trials a resumed run had completed, then puts back in flight the trials
    /// that were running when it stopped (`interrupted`, in ticket order): they are returned
    /// to be evaluated again, each marked requeued.
    pub fn resume(
        &mut self,
        prior: &[Trial],
        interrupted: Vec<Pending>,
    ) -> Result<Vec<Pending>, ExperimentError> {
        // Every trial asked for either completed or was in flight.
        self.asked = prior.len() + interrupted.len();
        if !prior.is_empty() {
            self.replay(prior)?;
        }
        // The strategy's last change: a choice made after the last completed trial, if any.
        let chosen_since = interrupted
            .iter()
            .filter(|p| p.told_before == prior.len() && p.strategy_state.is_some())
            .max_by_key(|p| p.ticket)
            .and_then(|p| p.strategy_state.as_deref());
        if let (Some(s), Some(state)) = (self.strategy.as_mut(), chosen_since) {
            s.restore(state)?;
        }
        interrupted
            .into_iter()
            .map(|pending| self.requeue(pending))
            .collect()
    }

    /// Puts back in flight a trial that was in flight when its run (or, in a shared run,
    /// its process) stopped, or that another process of a shared run handed out: it is
    /// evaluated (or told) here, marked requeued.
    pub fn requeue(&mut self, mut pending: Pending) -> Result<Pending, ExperimentError> {
        if pending.x.len() != self.pool.dims() || pending.arm >= self.plan.arms.len() {
            return Err(ExperimentError::StoredTrialMismatch);
        }
        if let Some(row) = pending.row {
            self.pool.remove_row(row);
        }
        pending.candidate = self.pool.candidate_of(pending.row, &pending.x);
        pending.requeued = true;
        self.in_flight.push(InFlight {
            ticket: pending.ticket,
            x: pending.x.clone(),
            fidelity: pending.fidelity,
            nominees: pending.nominees.clone(),
        });
        Ok(pending)
    }

    /// A shared run: learns the trials the other processes completed since the last ask
    /// (models, stopper, statistics and strategy, as its own) and the points they have in
    /// flight (shown to the arms as pending; their pool rows are taken).
    fn catch_up(&mut self, sink: &mut dyn RunSink) -> Result<(), ExperimentError> {
        let Some(progress) = sink.progress().map_err(ExperimentError::Sink)? else {
            return Ok(());
        };
        for trial in progress.trials {
            self.learn_elsewhere(trial)?;
        }
        self.elsewhere.clear();
        for record in &progress.in_flight {
            let pending: Pending = serde_json::from_str(record)
                .map_err(|e| ExperimentError::StoredPending(e.to_string()))?;
            if let Some(row) = pending.row {
                self.pool.remove_row(row);
            }
            self.elsewhere.push(pending.x);
        }
        // Only completed trials count toward the evaluations: claims keep the limit.
        self.asked = progress.next;
        Ok(())
    }

    /// A trial another process of a shared run completed, learnt as this run's own.
    fn learn_elsewhere(&mut self, trial: Trial) -> Result<(), ExperimentError> {
        if trial.x.len() != self.pool.dims() {
            return Err(ExperimentError::StoredTrialMismatch);
        }
        if let Some(row) = trial.row {
            self.pool.remove_row(row);
        }
        if self.models_learn(trial.terminated) {
            self.arms.tell(&observations_of(std::iter::once(&trial)));
        }
        if let Some(stopper) = &self.stopper {
            stopper.finish(&trial);
        }
        let promoted = is_promotion(&trial);
        let (arm, reward) = self.state.replay(self.arms.names(), trial)?;
        if !promoted {
            let none = vec![None; self.plan.arms.len()];
            self.update_strategy(arm, &none, reward)?;
        }
        Ok(())
    }

    fn replay(&mut self, prior: &[Trial]) -> Result<(), ExperimentError> {
        let dims = self.pool.dims();
        let mut replay = Observations {
            x: Matrix::empty(dims as u32),
            ..Observations::default()
        };
        for trial in prior {
            if trial.x.len() != dims {
                return Err(ExperimentError::StoredTrialMismatch);
            }
            if let Some(row) = trial.row {
                self.pool.remove_row(row);
            }
            if self.models_learn(trial.terminated) && !self.learns_by_budget() {
                replay.x.data.extend_from_slice(&trial.x);
                replay.y.push(trial.value);
                replay.cost.push(trial.exec_time);
                replay.status.push(status_of(trial.value));
            }
            if let Some(stopper) = &self.stopper {
                stopper.finish(trial);
            }
            self.state.replay(self.arms.names(), trial.clone())?;
        }
        self.arms.replay(&replay)?;
        if self.learns_by_budget() {
            self.learn_by_budget()?;
        }
        if let (Some(s), Some(state)) = (
            self.strategy.as_mut(),
            prior.iter().rev().find_map(|t| t.strategy_state.as_deref()),
        ) {
            s.restore(state)?;
        }
        tracing::info!(
            trials = prior.len(),
            "resumed run: completed trials replayed"
        );
        Ok(())
    }

    /// Whether the models are told a trial (a stopped one only under `"terminated":
    /// "observed"`, the default).
    fn models_learn(&self, terminated: bool) -> bool {
        !terminated || self.plan.config.models_learn_terminated()
    }

    /// Whether the models learn only one budget's trials (a scheduled run under
    /// `"budgets": "highest"`).
    fn learns_by_budget(&self) -> bool {
        self.scheduler.is_some() && self.budget_models == BudgetModels::Highest
    }

    /// BOHB's rule after a trial was recorded: the models hold the trials of the highest
    /// budget with enough of them (at least the point's dimensions + 2; until one has, the
    /// smallest budget). When that budget changes, the models are refitted on its trials
    /// alone; else the new trial is told when it is of that budget.
    fn learn_by_budget(&mut self) -> Result<(), ExperimentError> {
        let enough = self.pool.dims() + 2;
        let target = model_budget(&self.state.trials, enough);
        if target != self.model_budget {
            self.model_budget = target;
            let history = self.observations_at(target);
            self.arms.refit(&history)?;
        } else if let Some(last) = self.state.trials.last()
            && last.fidelity.map(|f| f.budget.epochs) == target
            && self.models_learn(last.terminated)
        {
            let history = observations_of(std::iter::once(last));
            self.arms.tell(&history);
        }
        Ok(())
    }

    /// The recorded trials of budget `budget` the models may learn, in order.
    fn observations_at(&self, budget: Option<u32>) -> Observations {
        observations_of(self.state.trials.iter().filter(|t| {
            t.fidelity.map(|f| f.budget.epochs) == budget && self.models_learn(t.terminated)
        }))
    }

    /// The watch under which a trial is evaluated: its reports go to the run's stopper,
    /// which may stop it; a watch that never stops when the run has none.
    pub fn watch(&self) -> Watch {
        self.stopper
            .as_ref()
            .map_or_else(Watch::default, Stopper::watch)
    }

    /// Sets the run's clock (seconds): a parallel driver's elapsed time, which the expiry and
    /// the strategies read instead of Σexec + Σopt.
    pub fn set_clock(&mut self, seconds: f64) {
        self.state.clock = Some(seconds);
    }

    /// Ends the run: its record, stopped for `stop_reason`.
    pub fn finish(self, stop_reason: String) -> RunRecord {
        let arm_names = self.arms.names().to_vec();
        self.state.finish(self.seed, arm_names, stop_reason, None)
    }

    /// Why the run stops before its next trial, if it does.
    fn should_stop(&self) -> Option<String> {
        if let Some(reason) =
            self.plan
                .expiry
                .reached(self.asked, self.state.elapsed(), self.state.best)
        {
            return Some(reason);
        }
        (self.pool.exhausted()).then(|| "the pool is exhausted".to_string())
    }

    /// Asks for the next trial: chooses an arm and its proposal (seeing the trials in
    /// flight) and takes the candidate from the pool; the trial is in flight until told.
    /// Returns why the run stops instead, when it expired, the pool is exhausted or no arm
    /// could propose.
    ///
    /// In a shared run, `sink` first tells what the other processes did, then hands out
    /// the trial's ticket (or one of theirs to take over).
    pub fn ask(&mut self, sink: &mut dyn RunSink) -> Result<Asked, ExperimentError> {
        self.catch_up(sink)?;
        if let Some(reason) = self.should_stop() {
            return Ok(Asked::Stop(reason));
        }
        let started = Instant::now();
        let mut budget = None;
        if let Some(scheduler) = &self.scheduler {
            let running: Vec<Fidelity> = self.in_flight.iter().filter_map(|f| f.fidelity).collect();
            let assignment = scheduler.assign(&self.state.trials, &running);
            match assignment.promote {
                Some(parent) => {
                    let pending = self.promotion(parent as usize, assignment.budget, started)?;
                    return Ok(Asked::Trial(Box::new(pending)));
                }
                None => budget = Some(assignment.budget),
            }
        }
        let limit = self.plan.expiry.evals.unwrap_or(usize::MAX);
        let ticket = match sink
            .claim(self.asked, limit)
            .map_err(ExperimentError::Sink)?
        {
            Claim::Ticket(ticket) => ticket,
            Claim::Adopt(_, record) => {
                let pending = serde_json::from_str(&record)
                    .map_err(|e| ExperimentError::StoredPending(e.to_string()))?;
                return Ok(Asked::Trial(Box::new(self.requeue(pending)?)));
            }
            Claim::Full => return Ok(Asked::Stop(format!("{limit} evaluations done"))),
        };
        let Some(choice) = self.choose(ticket)? else {
            sink.release(ticket).map_err(ExperimentError::Sink)?;
            return Ok(Asked::Stop(self.every_arm_failed()));
        };
        let (candidate, x, row) = self.pool.take(&choice.proposal);
        // Choosing may have changed the strategy (a draw): kept with the trial in flight,
        // so that a resumed run continues from this choice.
        let strategy_state = match self.strategy.as_mut() {
            Some(s) => Some(s.snapshot()?),
            None => None,
        };
        self.asked += 1;
        let fidelity = budget.map(|epochs| Fidelity {
            ticket,
            parent: None,
            budget: Budget {
                epochs,
                from: 0,
                lineage: ticket,
            },
        });
        let nominees: Vec<Option<Nominee>> = choice
            .nominees
            .iter()
            .map(|n| n.as_ref().map(Nominee::from))
            .collect();
        self.in_flight.push(InFlight {
            ticket,
            x: x.clone(),
            fidelity,
            nominees: nominees.clone(),
        });
        Ok(Asked::Trial(Box::new(Pending {
            ticket,
            arm: choice.arm,
            estimate: estimate_of(&choice.proposal),
            nominees,
            candidate,
            x,
            row,
            arm_failures: self.state.health.take_events(),
            proposing: started.elapsed().as_secs_f64(),
            told_before: self.state.trials.len(),
            strategy_state,
            placed: None,
            requeued: false,
            fidelity,
        })))
    }

    /// The trial that continues completed trial `parent`'s configuration to `budget` epochs
    /// (a scheduler's promotion): its arm, point and row, no proposal and no strategy
    /// choice.
    fn promotion(
        &mut self,
        parent: usize,
        budget: u32,
        started: Instant,
    ) -> Result<Pending, ExperimentError> {
        let (trial, from) = self
            .state
            .trials
            .iter()
            .find_map(|t| t.fidelity.filter(|f| f.ticket == parent).map(|f| (t, f)))
            .ok_or(ExperimentError::StoredTrialMismatch)?;
        let arm = self
            .arms
            .names()
            .iter()
            .position(|n| *n == trial.arm)
            .ok_or_else(|| ExperimentError::UnknownStoredArm(trial.arm.clone()))?;
        let (x, row) = (trial.x.clone(), trial.row);
        let ticket = self.asked;
        self.asked += 1;
        let fidelity = Some(Fidelity {
            ticket,
            parent: Some(parent),
            budget: Budget {
                epochs: budget,
                from: from.budget.epochs,
                lineage: from.budget.lineage,
            },
        });
        self.in_flight.push(InFlight {
            ticket,
            x: x.clone(),
            fidelity,
            nominees: Vec::new(),
        });
        Ok(Pending {
            ticket,
            arm,
            estimate: None,
            nominees: Vec::new(),
            candidate: self.pool.candidate_of(row, &x),
            x,
            row,
            arm_failures: Vec::new(),
            proposing: started.elapsed().as_secs_f64(),
            told_before: self.state.trials.len(),
            strategy_state: None,
            placed: None,
            requeued: false,
            fidelity,
        })
    }

    /// Tells the run what evaluating `pending` observed: every model learns it, the trial is
    /// recorded (with where and when it ran, in a parallel run), the strategy updated, and
    /// the trial committed to the sink.
    pub fn tell(
        &mut self,
        pending: Pending,
        outcome: Outcome,
        timing: Option<Timing>,
        sink: &mut dyn RunSink,
    ) -> Result<(), ExperimentError> {
        let arm = pending.arm;
        if let Some(why) = &outcome.failure {
            tracing::warn!(arm = %self.arms.names()[arm], "trial failed: {why}");
        }
        let judged = judged_nominees(&self.in_flight, &pending.nominees);
        self.in_flight.retain(|f| f.ticket != pending.ticket);
        let learning = Instant::now();
        let learns_at_once = self.models_learn(outcome.terminated) && !self.learns_by_budget();
        if learns_at_once {
            self.arms.tell(&observed(&pending.x, &outcome));
        }
        let trial = Trial {
            row: pending.row,
            arm: self.arms.names()[arm].clone(),
            estimate: pending.estimate,
            opt_time: self.carried + pending.proposing,
            x: pending.x,
            strategy_state: None,
            arm_failures: pending.arm_failures,
            timing,
            requeued: pending.requeued,
            fidelity: pending.fidelity,
            ..Trial::from_outcome(outcome)
        };
        if let Some(stopper) = &self.stopper {
            stopper.finish(&trial);
        }
        let promoted = is_promotion(&trial);
        let reward = self.state.record(arm, trial);
        if self.learns_by_budget() {
            self.learn_by_budget()?;
        }
        if !promoted {
            self.update_strategy(arm, &judged, reward)?;
        }
        self.state.charge_last(learning.elapsed().as_secs_f64());
        self.commit(pending.ticket, sink)
    }

    /// The arm of this trial and its proposal: the strategy's ranking, the first arm down it
    /// that proposes (BO-HEDGE: every arm nominates first). `None` when every arm failed.
    /// `ticket` (the trial's, unique in the run across processes) seeds the proposals.
    fn choose(&mut self, ticket: usize) -> Result<Option<Choice>, ExperimentError> {
        let proposal_seed = run_seed(self.seed, ticket);
        let nominating = self
            .strategy
            .as_ref()
            .is_some_and(StrategySession::wants_nominations);
        // BO-HEDGE judges each arm by its nominee as a sequential run would have it, blind
        // to the trials in flight (a nominee kept off them looks worse for being kept off);
        // the arm drawn then proposes seeing them, which is the trial.
        let pending = self.pending_points();
        let mut nominees: Vec<Option<Proposed>> = vec![None; self.plan.arms.len()];
        if nominating {
            let blind = Matrix::empty(pending.cols);
            for (a, nominee) in nominees.iter_mut().enumerate() {
                if !self.state.stats[a].suspended {
                    *nominee = self.propose(a, proposal_seed, &blind);
                }
            }
        }
        let ranking = match self.strategy.as_mut() {
            Some(s) => s.select(&SelectRequest {
                iteration: self.asked as u32,
                elapsed: self.state.elapsed(),
                stats: self.state.stats.clone(),
            })?,
            None => vec![0],
        };
        for a in ranking.into_iter().map(|a| a as usize) {
            if self.state.stats[a].suspended {
                continue;
            }
            let proposal = if nominating && pending.rows() == 0 {
                nominees[a].clone()
            } else {
                self.propose(a, proposal_seed, &pending)
            };
            if let Some(proposal) = proposal {
                self.state.health.succeeded(a);
                return Ok(Some(Choice {
                    arm: a,
                    proposal,
                    nominees,
                }));
            }
        }
        Ok(None)
    }

    /// The points in flight, as the arms are shown them (none when the run is
    /// pending-blind).
    fn pending_points(&self) -> Matrix {
        let dims = self.pool.dims() as u32;
        if !self.pending_aware {
            return Matrix::empty(dims);
        }
        let here = self.in_flight.iter().map(|f| &f.x);
        Matrix {
            cols: dims,
            data: here.chain(&self.elsewhere).flatten().copied().collect(),
        }
    }

    /// Arm `a`'s proposal with `pending` points in flight, or `None` after recording its
    /// failure.
    fn propose(&mut self, a: usize, seed: u64, pending: &Matrix) -> Option<Proposed> {
        let candidates = self.pool.candidates();
        self.arms
            .propose(a, candidates, pending, seed, self.pool.allows_off_pool())
            .map_err(|e| {
                let name = &self.arms.names()[a];
                self.state.health.failed(a, name, &e, &mut self.state.stats)
            })
            .ok()
    }

    /// Tells the strategy how arm `arm` did (and BO-HEDGE every nominee's gain), then keeps
    /// its state with the trial.
    fn update_strategy(
        &mut self,
        arm: usize,
        nominees: &[Option<Nominee>],
        reward: f64,
    ) -> Result<(), ExperimentError> {
        let Some(strategy) = self.strategy.as_mut() else {
            return Ok(());
        };
        let gains = if strategy.wants_nominations() {
            nomination_gains(
                &mut self.arms,
                nominees,
                self.pool.shown(),
                &self.state.credit,
            )
        } else {
            vec![]
        };
        strategy.update(&Feedback {
            chosen: arm as u32,
            reward,
            gains,
            elapsed: self.state.elapsed(),
        })?;
        let snapshot = strategy.snapshot()?;
        if let Some(last) = self.state.trials.last_mut() {
            last.strategy_state = Some(snapshot);
        }
        Ok(())
    }

    /// Sends the last trial to the sink; the commit's time is charged to the next trial.
    fn commit(&mut self, ticket: usize, sink: &mut dyn RunSink) -> Result<(), ExperimentError> {
        let committing = Instant::now();
        let index = self.state.trials.len() - 1;
        sink.told(index, &self.state.trials[index], ticket)
            .map_err(ExperimentError::Sink)?;
        self.carried = committing.elapsed().as_secs_f64();
        Ok(())
    }

    /// The stop reason when no arm could propose: every arm's last failure.
    fn every_arm_failed(&self) -> String {
        format!(
            "every arm failed at iteration {}: {}",
            self.asked,
            self.state
                .health
                .failures
                .iter()
                .map(|(a, (_, why))| format!("{a}: {why}"))
                .collect::<Vec<_>>()
                .join("; ")
        )
    }
}

/// The budget whose trials BOHB's rule fits the models on: the highest with at least
/// `enough` successful trials, else the smallest seen; `None` before any scheduled trial.
fn model_budget(trials: &[Trial], enough: usize) -> Option<u32> {
    let mut counts: std::collections::BTreeMap<u32, usize> = std::collections::BTreeMap::new();
    for t in trials {
        if let Some(f) = t.fidelity {
            *counts.entry(f.budget.epochs).or_default() += usize::from(t.value.is_finite());
        }
    }
    counts
        .iter()
        .rev()
        .find(|(_, n)| **n >= enough)
        .or_else(|| counts.iter().next())
        .map(|(b, _)| *b)
}

/// What every model is told of `trials`.
fn observations_of<'t>(trials: impl Iterator<Item = &'t Trial>) -> Observations {
    let mut history = Observations::default();
    for t in trials {
        history.x.cols = t.x.len() as u32;
        history.x.data.extend_from_slice(&t.x);
        history.y.push(t.value);
        history.cost.push(t.exec_time);
        history.status.push(status_of(t.value));
    }
    history
}

/// Whether `trial` continues another one's configuration (a scheduler's promotion).
fn is_promotion(trial: &Trial) -> bool {
    trial.fidelity.is_some_and(|f| f.parent.is_some())
}

/// A trial's observation status as models see it.
fn status_of(value: f64) -> ObservationStatus {
    if value.is_finite() {
        ObservationStatus::Final
    } else {
        ObservationStatus::Failed
    }
}

/// What every model is told of one evaluation at encoded point `x`.
fn observed(x: &[f64], outcome: &Outcome) -> Observations {
    Observations {
        x: Matrix {
            cols: x.len() as u32,
            data: x.to_vec(),
        },
        y: vec![outcome.value],
        cost: vec![outcome.cost],
        status: vec![status_of(outcome.value)],
    }
}

/// The proposing model's estimate, none during an arm's initial design (NaN mean and
/// variance) or when a figure is not finite (the store keeps estimates as JSON numbers).
fn estimate_of(proposal: &Proposed) -> Option<Estimate> {
    let figures = [proposal.mean, proposal.variance, proposal.acquisition];
    figures.iter().all(|f| f.is_finite()).then_some(Estimate {
        mean: proposal.mean,
        variance: proposal.variance,
        acquisition: proposal.acquisition,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flight(ticket: usize, nominated: &[f64]) -> InFlight {
        InFlight {
            ticket,
            x: vec![0.5],
            fidelity: None,
            nominees: nominated
                .iter()
                .map(|v| {
                    Some(Nominee {
                        pool_index: None,
                        point: vec![*v],
                    })
                })
                .collect(),
        }
    }

    #[test]
    fn bo_hedge_judges_the_nominations_of_the_latest_ask_in_flight() {
        let own = flight(3, &[0.3]).nominees;
        // Sequential: the trial itself is the only one in flight.
        assert_eq!(judged_nominees(&[flight(3, &[0.3])], &own), own);
        // Parallel: a later ask's nominations, not the trial's own, and not an earlier
        // ask's; a promotion (no nominations) does not count.
        let in_flight = [
            flight(5, &[0.5]),
            flight(3, &[0.3]),
            flight(7, &[0.7]),
            flight(8, &[]),
            flight(6, &[0.6]),
        ];
        assert_eq!(
            judged_nominees(&in_flight, &own),
            flight(7, &[0.7]).nominees
        );
        // Nothing nominated in flight: the trial's own.
        assert_eq!(judged_nominees(&[flight(8, &[])], &own), own);
    }
}
