//! One run of an experiment as an ask/tell core: [`Run::ask`] asks the strategy for an arm
//! and the arm for a candidate, [`Run::tell`] tells every model and the strategy what its
//! evaluation observed and commits the trial; [`run`] is the sequential driver around them
//! (one worker, each trial evaluated as soon as it is asked for).
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

use hpo_plugin_api::types::{
    ArmStat, Feedback, Matrix, ObservationStatus, Observations, Proposed, SelectRequest,
};

use super::pool::Pool;
use super::seeds::run_seed;
use super::{ExperimentError, RunRecord};
use super::{Expiry, RunPlan};
use crate::arms::{ArmHealth, Arms};
use crate::objectives::{Candidate, Objective, Outcome};
use crate::registry::PluginHost;
use crate::strategies::{self, Credit, StrategySession, nomination_gains};
use crate::trial::{ArmFailures, Estimate, Trial};

/// Where each new trial goes before the next one starts (the store); an error stops the
/// run, so no trial is ever only in memory.
pub type TrialSink<'a> = dyn FnMut(usize, &Trial) -> Result<(), String> + 'a;

/// The bookkeeping of a run: its trials and what they add up to.
pub struct RunState {
    trials: Vec<Trial>,
    stats: Vec<ArmStat>,
    health: ArmHealth,
    credit: Credit,
    best: f64,
    cum_exec: f64,
    cum_opt: f64,
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
        }
    }

    /// Counts a finished trial proposed by arm `arm` and keeps it; returns its reward
    /// (higher is better). The one place a trial is counted.
    pub fn record(&mut self, arm: usize, trial: Trial) -> f64 {
        let reward = self.credit.reward(trial.value);
        self.stats[arm].pulls += 1;
        self.stats[arm].total_reward += reward;
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
    pub fn replay(&mut self, arm_names: &[String], trial: Trial) -> Result<usize, ExperimentError> {
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
        self.health.succeeded(arm);
        self.record(arm, trial);
        Ok(arm)
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

    /// Σexec + Σopt so far, seconds.
    fn elapsed(&self) -> f64 {
        self.cum_exec + self.cum_opt
    }

    /// Why the run stops now, if it does.
    fn expired(&self, expiry: &Expiry) -> Option<String> {
        expiry.reached(self.trials.len(), self.elapsed(), self.best)
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

/// A run in progress: the plugins' sessions, the pool and the bookkeeping.
struct Run<'p> {
    plan: &'p RunPlan,
    seed: u64,
    arms: Arms,
    strategy: Option<StrategySession>,
    pool: Pool,
    state: RunState,
    /// The store's commit of a trial is optimizer work, charged to the next trial.
    carried: f64,
}

/// What [`Run::ask`] answers.
enum Asked {
    /// The next trial, to evaluate and then tell.
    Trial(Pending),
    /// Why the run stops.
    Stop(String),
}

/// A trial asked for and not yet told: its arm's choice and what to evaluate.
struct Pending {
    choice: Choice,
    candidate: Candidate,
    x: Vec<f64>,
    row: Option<usize>,
    /// Seconds the optimizer spent choosing it.
    proposing: f64,
}

/// An arm's proposal, chosen for this trial.
struct Choice {
    arm: usize,
    proposal: Proposed,
    nominees: Vec<Option<Proposed>>,
}

/// Runs one run of `plan` on `objective` with `seed`.
///
/// `prior` holds the trials of this run already completed (a resumed run): they are replayed
/// into the models, the candidate pool, the arm statistics and the strategy's saved state,
/// and the run continues exactly where it stopped. Every new trial goes to `sink` before the
/// next trial starts; a sink error stops the run (no trial is ever only in memory).
pub fn run(
    host: &PluginHost,
    objective: &mut dyn Objective,
    plan: &RunPlan,
    seed: u64,
    prior: &[Trial],
    sink: &mut TrialSink<'_>,
) -> Result<RunRecord, ExperimentError> {
    let mut run = Run::open(host, objective, plan, seed)?;
    run.resume(prior)?;
    // The sequential driver: one worker, evaluating each trial as soon as it is asked for.
    let stop_reason = loop {
        let pending = match run.ask()? {
            Asked::Stop(reason) => break reason,
            Asked::Trial(pending) => pending,
        };
        let outcome = objective.evaluate(&pending.candidate).map_err(|source| {
            ExperimentError::Evaluation {
                label: objective.label(),
                source,
            }
        })?;
        run.tell(pending, outcome, sink)?;
    };
    let arm_names = run.arms.names().to_vec();
    Ok(run.state.finish(seed, arm_names, stop_reason, None))
}

impl<'p> Run<'p> {
    /// Opens the sessions of `plan` and the pool of `objective`.
    fn open(
        host: &PluginHost,
        objective: &dyn Objective,
        plan: &'p RunPlan,
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
        Ok(Run {
            plan,
            seed,
            state: RunState::new(plan.arms.len()),
            arms,
            strategy,
            pool,
            carried: 0.0,
        })
    }

    /// Replays the trials a resumed run had completed.
    fn resume(&mut self, prior: &[Trial]) -> Result<(), ExperimentError> {
        if prior.is_empty() {
            return Ok(());
        }
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
            replay.x.data.extend_from_slice(&trial.x);
            replay.y.push(trial.value);
            replay.cost.push(trial.exec_time);
            replay.status.push(status_of(trial.value));
            self.state.replay(self.arms.names(), trial.clone())?;
        }
        self.arms.replay(&replay)?;
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

    /// Why the run stops before its next trial, if it does.
    fn should_stop(&self) -> Option<String> {
        if let Some(reason) = self.state.expired(&self.plan.expiry) {
            return Some(reason);
        }
        (self.pool.exhausted()).then(|| "the pool is exhausted".to_string())
    }

    /// Asks for the next trial: chooses an arm and its proposal and takes the candidate
    /// from the pool. Returns why the run stops instead, when it expired, the pool is
    /// exhausted or no arm could propose.
    fn ask(&mut self) -> Result<Asked, ExperimentError> {
        if let Some(reason) = self.should_stop() {
            return Ok(Asked::Stop(reason));
        }
        let started = Instant::now();
        let Some(choice) = self.choose()? else {
            return Ok(Asked::Stop(self.every_arm_failed()));
        };
        let (candidate, x, row) = self.pool.take(&choice.proposal);
        Ok(Asked::Trial(Pending {
            choice,
            candidate,
            x,
            row,
            proposing: started.elapsed().as_secs_f64(),
        }))
    }

    /// Tells the run what evaluating `pending` observed: every model learns it, the trial is
    /// recorded, the strategy updated, and the trial committed to the sink.
    fn tell(
        &mut self,
        pending: Pending,
        outcome: Outcome,
        sink: &mut TrialSink<'_>,
    ) -> Result<(), ExperimentError> {
        let Pending {
            choice,
            x,
            row,
            proposing,
            ..
        } = pending;
        if let Some(why) = &outcome.failure {
            tracing::warn!(arm = %self.arms.names()[choice.arm], "trial failed: {why}");
        }
        let learning = Instant::now();
        self.arms.tell(&observed(&x, &outcome));
        let trial = Trial {
            row,
            arm: self.arms.names()[choice.arm].clone(),
            estimate: estimate_of(&choice.proposal),
            opt_time: self.carried + proposing,
            x,
            strategy_state: None,
            arm_failures: self.state.health.take_events(),
            ..Trial::from_outcome(outcome)
        };
        let reward = self.state.record(choice.arm, trial);
        self.update_strategy(&choice, reward)?;
        self.state.charge_last(learning.elapsed().as_secs_f64());
        self.commit(sink)
    }

    /// The arm of this trial and its proposal: the strategy's ranking, the first arm down it
    /// that proposes (BO-HEDGE: every arm nominates first). `None` when every arm failed.
    fn choose(&mut self) -> Result<Option<Choice>, ExperimentError> {
        let proposal_seed = run_seed(self.seed, self.state.trials.len());
        let nominating = self
            .strategy
            .as_ref()
            .is_some_and(StrategySession::wants_nominations);
        let mut nominees: Vec<Option<Proposed>> = vec![None; self.plan.arms.len()];
        if nominating {
            for (a, nominee) in nominees.iter_mut().enumerate() {
                if !self.state.stats[a].suspended {
                    *nominee = self.propose(a, proposal_seed);
                }
            }
        }
        let ranking = match self.strategy.as_mut() {
            Some(s) => s.select(&SelectRequest {
                iteration: self.state.trials.len() as u32,
                elapsed: self.state.elapsed(),
                stats: self.state.stats.clone(),
            })?,
            None => vec![0],
        };
        for a in ranking.into_iter().map(|a| a as usize) {
            if self.state.stats[a].suspended {
                continue;
            }
            let proposal = if nominating {
                nominees[a].clone()
            } else {
                self.propose(a, proposal_seed)
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

    /// Arm `a`'s proposal, or `None` after recording its failure.
    fn propose(&mut self, a: usize, seed: u64) -> Option<Proposed> {
        let candidates = self.pool.candidates();
        self.arms
            .propose(a, candidates, seed, self.pool.allows_off_pool())
            .map_err(|e| {
                let name = &self.arms.names()[a];
                self.state.health.failed(a, name, &e, &mut self.state.stats)
            })
            .ok()
    }

    /// Tells the strategy how the chosen arm did (and BO-HEDGE every nominee's gain), then
    /// keeps its state with the trial.
    fn update_strategy(&mut self, choice: &Choice, reward: f64) -> Result<(), ExperimentError> {
        let Some(strategy) = self.strategy.as_mut() else {
            return Ok(());
        };
        let gains = if strategy.wants_nominations() {
            nomination_gains(
                &mut self.arms,
                &choice.nominees,
                self.pool.shown(),
                &self.state.credit,
            )
        } else {
            vec![]
        };
        strategy.update(&Feedback {
            chosen: choice.arm as u32,
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
    fn commit(&mut self, sink: &mut TrialSink<'_>) -> Result<(), ExperimentError> {
        let committing = Instant::now();
        let index = self.state.trials.len() - 1;
        sink(index, &self.state.trials[index]).map_err(ExperimentError::Sink)?;
        self.carried = committing.elapsed().as_secs_f64();
        Ok(())
    }

    /// The stop reason when no arm could propose: every arm's last failure.
    fn every_arm_failed(&self) -> String {
        format!(
            "every arm failed at iteration {}: {}",
            self.state.trials.len(),
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
/// variance).
fn estimate_of(proposal: &Proposed) -> Option<Estimate> {
    (proposal.mean.is_finite() && proposal.variance.is_finite()).then_some(Estimate {
        mean: proposal.mean,
        variance: proposal.variance,
        acquisition: proposal.acquisition,
    })
}
