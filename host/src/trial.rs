//! A trial: one evaluation of a run, as the run loop keeps it, the results file lists it and
//! the store holds it. Its own module, so that the run loop and the store both depend on it
//! and not on each other.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::objectives::{Budget, Interim, Outcome};

/// Failures per arm: count and the last reason.
pub type ArmFailures = BTreeMap<String, (u32, String)>;

/// What the proposing arm's model said of the point it proposed (the seed's "internal
/// estimates", `--save-internal`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// Predicted value, in the model's (possibly transformed) units.
    pub mean: f64,
    /// Predicted variance.
    pub variance: f64,
    /// The acquisition value that won.
    pub acquisition: f64,
}

/// One trial: what was evaluated, by which arm, what was observed, and what a resumed run
/// needs to continue from it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trial {
    /// The pool row evaluated (None for a point off the pool).
    pub row: Option<usize>,
    /// The parameter values evaluated.
    pub params: Vec<Value>,
    /// The observed value (lower is better; NaN when the trial failed).
    pub value: f64,
    /// The objective's cost, seconds.
    pub exec_time: f64,
    /// The optimizer's measured time, seconds.
    pub opt_time: f64,
    /// The arm that proposed it.
    pub arm: String,
    /// Epochs trained, when the objective has epochs.
    pub epochs: Option<usize>,
    /// The trial's interim reports (per-epoch values of a table or a training command).
    pub interim: Vec<Interim>,
    /// The proposing model's estimate at the point.
    pub estimate: Option<Estimate>,
    /// The encoded point.
    #[serde(skip)]
    pub x: Vec<f64>,
    /// The strategy's state after this trial, if the run has a strategy.
    #[serde(skip)]
    pub strategy_state: Option<Vec<u8>>,
    /// Why the trial failed, if it did.
    #[serde(skip)]
    pub failure: Option<String>,
    /// The arms that failed in this trial's turn before its arm proposed, in order:
    /// (arm, reason). Replayed on resume, so failure counts and suspensions continue.
    #[serde(skip)]
    pub arm_failures: Vec<(String, String)>,
    /// Where and when it ran, in a parallel run (none in a sequential one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timing: Option<Timing>,
    /// Whether it was in flight when its run was interrupted and was evaluated again after
    /// `--resume`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub requeued: bool,
    /// Whether a stopper ended it early (its value is the best it reported by then, and
    /// `epochs` the epochs it trained).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub terminated: bool,
    /// Its place in a scheduler's plan (budget, promotion), in a multi-fidelity run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fidelity: Option<Fidelity>,
}

/// A trial's place in a scheduler's plan (a multi-fidelity run): its id, its budget and
/// the trial whose configuration it continues.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Fidelity {
    /// The trial's ticket (its ask number in the run), the id promotions refer to.
    pub ticket: usize,
    /// The ticket of the trial it continues (a promotion), if any.
    pub parent: Option<usize>,
    /// The budget it was given.
    pub budget: Budget,
}

/// The latest end among `trials` that ran in parallel (a parallel run's clock when its
/// last trial completed); `None` for a sequential run.
pub fn last_end(trials: &[Trial]) -> Option<f64> {
    trials
        .iter()
        .filter_map(|t| t.timing.map(|t| t.end))
        .reduce(f64::max)
}

/// Where and when a trial of a parallel run was evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    /// The worker (slot) that evaluated it, from 0.
    pub worker: usize,
    /// When it started, seconds on the run's clock (simulated for a simulated run).
    pub start: f64,
    /// When it ended, seconds on the run's clock.
    pub end: f64,
}

/// How a trial ended: `complete`, `terminated` (stopped early) or `failed`; a scheduler's
/// trial whose configuration went on to a larger budget is `promoted` ([`statuses`]).
pub fn status_name(trial: &Trial) -> &'static str {
    if trial.failure.is_some() || !trial.value.is_finite() {
        "failed"
    } else if trial.terminated {
        "terminated"
    } else {
        "complete"
    }
}

/// Each trial's status among `trials` (a run's, in order): [`status_name`], or `promoted`
/// for a trial another one continues.
pub fn statuses(trials: &[Trial]) -> Vec<&'static str> {
    let promoted: std::collections::HashSet<usize> = trials
        .iter()
        .filter_map(|t| t.fidelity.and_then(|f| f.parent))
        .collect();
    trials
        .iter()
        .map(|t| match t.fidelity {
            Some(f) if promoted.contains(&f.ticket) => "promoted",
            _ => status_name(t),
        })
        .collect()
}

/// Whether a run's trials need a status column: some were stopped early or scheduled.
pub fn has_statuses(trials: &[Trial]) -> bool {
    trials.iter().any(|t| t.terminated || t.fidelity.is_some())
}

impl Trial {
    /// A trial of what an evaluation observed; who proposed it and where are set by the run.
    pub fn from_outcome(outcome: Outcome) -> Self {
        Trial {
            row: None,
            params: outcome.params,
            value: outcome.value,
            exec_time: outcome.cost,
            opt_time: 0.0,
            arm: String::new(),
            epochs: outcome.epochs,
            interim: outcome.interim,
            estimate: None,
            x: Vec::new(),
            strategy_state: None,
            failure: outcome.failure,
            arm_failures: Vec::new(),
            timing: None,
            requeued: false,
            terminated: outcome.terminated,
            fidelity: None,
        }
    }
}
