//! The drivers of a run: loops around the ask/tell core ([`super::run::Run`]) that decide
//! where and when trials are evaluated.
//!
//! - [`sequential`]: one worker, each trial evaluated as soon as it is asked for (the seed's
//!   runs, and the one-worker case of every other driver).
//! - [`workers`]: a pool of live workers: threads of this process (`--workers N`) or slots
//!   of remote training workers (`-w URL` repeated); a free worker asks at once, the others
//!   keep evaluating meanwhile.
//! - [`simulated`]: the seed's BATCH mode, a discrete-event simulation of N workers on a
//!   simulated clock, `SYNC` (rounds) or `ASYNC` (each worker asks as its job ends).
//!
//! Invariants: a trial is handed to the sink (the store) before it is evaluated and again
//! when it completes, so an interrupted run loses no completed trial and evaluates the
//! trials it had in flight again; a driver stops asking once the run expires and finishes
//! the trials in flight.

pub mod sequential;
pub mod simulated;
pub mod workers;

use serde::Serialize;

use super::run::{Pending, Run, RunSink};
use super::{ExperimentError, RunPlan, RunRecord, Trial};
use crate::objectives::{Objective, Outcome, Watch};
use crate::registry::PluginHost;
use crate::trial::last_end;

/// How a run's trials are evaluated; in JSON (summaries, the store's key) an object with
/// its `driver` (`sequential`, `local`, `remote`, `simulated`) and its settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "driver", rename_all = "snake_case")]
pub enum Parallelism {
    /// One trial at a time.
    Sequential,
    /// Up to `workers` trials at once in this process.
    Local {
        /// Local workers.
        workers: usize,
    },
    /// On the slots of remote training workers.
    Remote {
        /// The workers' URLs.
        urls: Vec<String>,
    },
    /// A simulated cluster of `workers` workers, in rounds (`sync`) or asynchronously.
    Simulated {
        /// Workers simulated.
        workers: usize,
        /// Whether a round waits for its slowest job before the next starts.
        sync: bool,
    },
}

/// Runs one run of `plan` on `objective` with `seed`, driven by `evaluate`.
///
/// `prior` holds the trials of this run already completed and `interrupted` those that were
/// in flight when it stopped (a resumed run): the first are replayed, the second evaluated
/// again, and the run continues where it stopped. Every trial goes to `sink` when it is
/// asked for and when it completes; a sink error stops the run.
pub fn drive(
    host: &PluginHost,
    evaluate: Evaluators<'_>,
    plan: &RunPlan,
    seed: u64,
    prior: &[Trial],
    interrupted: Vec<Pending>,
    sink: &mut dyn RunSink,
) -> Result<RunRecord, ExperimentError> {
    let mut run = Run::open(host, evaluate.objective(), plan, seed)?;
    let requeued = run.resume(prior, interrupted)?;
    // A parallel run's clock continues from the last completed trial's end.
    let clock = last_end(prior).unwrap_or(0.0);
    let stop_reason = match evaluate {
        Evaluators::One(objective) => sequential::drive(&mut run, objective, requeued, sink)?,
        Evaluators::Pool(slots) => workers::drive(&mut run, slots, requeued, clock, sink)?,
        Evaluators::Simulated {
            objective,
            workers,
            sync,
        } => simulated::drive(
            &mut run,
            objective,
            simulated::Cluster { workers, sync },
            requeued,
            clock,
            sink,
        )?,
    };
    Ok(run.finish(stop_reason))
}

/// Evaluates `pending` (with its budget, in a scheduled run) under `watch` (the run's
/// stopper); an objective that cannot is an error of the run.
fn evaluate(
    objective: &mut dyn Objective,
    pending: &Pending,
    watch: &Watch,
) -> Result<Outcome, ExperimentError> {
    objective
        .evaluate_watched(&pending.candidate, pending.budget(), watch)
        .map_err(|source| ExperimentError::Evaluation {
            label: objective.label(),
            source,
        })
}

/// A sink that keeps nothing: runs whose trials only their record needs (benchmarks).
pub struct Discard;

impl RunSink for Discard {
    fn asked(&mut self, _: &Pending) -> Result<(), String> {
        Ok(())
    }

    fn told(&mut self, _: usize, _: &Trial, _: usize) -> Result<(), String> {
        Ok(())
    }
}

/// What evaluates a run's trials.
pub enum Evaluators<'o> {
    /// One objective, one trial at a time.
    One(&'o mut dyn Objective),
    /// Live workers, each with its own objective.
    Pool(Vec<workers::Slot>),
    /// One objective evaluated at once, on a simulated cluster's clock.
    Simulated {
        /// The objective (a table or a test function).
        objective: &'o mut dyn Objective,
        /// Workers simulated.
        workers: usize,
        /// Rounds (`SYNC`) or not (`ASYNC`).
        sync: bool,
    },
}

impl Evaluators<'_> {
    /// The objective whose space and pool the run uses.
    fn objective(&self) -> &dyn Objective {
        match self {
            Evaluators::One(o) | Evaluators::Simulated { objective: o, .. } => &**o,
            Evaluators::Pool(slots) => slots[0].objective.as_ref(),
        }
    }
}
