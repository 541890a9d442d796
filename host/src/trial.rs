//! A trial: what one iteration of a run evaluated and how (the record the run loop keeps,
//! the results file lists and the store holds). Its own module, so that the run loop and the
//! store both depend on it and not on each other.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::objectives::Interim;

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

/// One iteration's record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Iteration {
    /// The pool row evaluated (None for a point off the pool).
    pub row: Option<usize>,
    /// The parameter values evaluated.
    pub params: Vec<Value>,
    /// The observed value (lower is better).
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
}

/// A trial as the store keeps it: the iteration and what a resumed run needs to continue.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredTrial {
    /// The iteration as recorded.
    pub iteration: Iteration,
    /// The encoded point.
    pub x: Vec<f64>,
    /// The strategy's state after this trial, if the run has a strategy.
    pub strategy_state: Option<Vec<u8>>,
    /// Why the trial failed, if it did.
    pub failure: Option<String>,
    /// The arms that failed in this iteration before the trial's arm proposed, in order:
    /// (arm, reason). Replayed on resume, so failure counts and suspensions continue.
    pub arm_failures: Vec<(String, String)>,
}
