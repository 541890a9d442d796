//! `hpo regret`: the model-quality protocol. For each test function and arm, independent
//! seeded runs of a fixed number of evaluations (the first ones the arm's own initial
//! design, a Sobol prefix for the first-party models), then the median over runs of the
//! simple regret (best value found − the function's known optimum) at each evaluation
//! checkpoint. Runs go in parallel across cores; each run is single-threaded and seeded.

use std::fmt::Write as _;

use serde::Serialize;

use super::{median, run_grid};
use crate::config::RunConfig;
use crate::experiment::drivers::simulated::Cluster;
use crate::experiment::{self, ExperimentError, Expiry, RunRecord};
use crate::objectives::Objective;
use crate::registry::PluginHost;

/// What to measure.
#[derive(Debug, Clone)]
pub struct RegretRequest {
    /// Arms as `MODEL/ACQ`, and portfolios as `DIV/<STRATEGY>`.
    pub arms: Vec<String>,
    /// Runs (seeds) per arm and problem.
    pub runs: usize,
    /// Evaluation checkpoints, increasing; the last one is the budget.
    pub checkpoints: Vec<usize>,
    /// Experiment seed.
    pub seed: u64,
    /// Options of the arms' plugins.
    pub config: RunConfig,
    /// The run configuration of the `DIV/…` entries: their arms and options.
    pub portfolio: RunConfig,
    /// A simulated cluster the runs use (`--workers N`), else one trial at a time.
    pub cluster: Option<Cluster>,
}

/// The figures of one arm on one problem.
#[derive(Debug, Clone, Serialize)]
pub struct RegretCell {
    /// Problem label.
    pub problem: String,
    /// Arm.
    pub arm: String,
    /// Median simple regret at each checkpoint.
    pub median_regret: Vec<f64>,
    /// The median over runs of a run's mean optimizer time per evaluation (all of the
    /// optimizer's work: proposing and learning from the result), seconds.
    pub median_opt_time: f64,
}

/// The best value among the first `evals` evaluations.
fn best_after(record: &RunRecord, evals: usize) -> f64 {
    record
        .trials
        .iter()
        .take(evals)
        .map(|it| it.value)
        .filter(|v| v.is_finite())
        .fold(f64::INFINITY, f64::min)
}

/// Measures every arm on `problem`.
pub fn measure(
    host: &PluginHost,
    request: &RegretRequest,
    problem: &dyn Objective,
) -> Result<Vec<RegretCell>, ExperimentError> {
    let optimum = problem
        .optimum()
        .ok_or_else(|| ExperimentError::NoOptimum(problem.label()))?;
    // No checkpoint: no evaluation to measure.
    let budget = request.checkpoints.last().copied().unwrap_or(0);
    let expiry = Expiry {
        evals: Some(budget),
        time: None,
        goal: None,
    };
    let plans = request
        .arms
        .iter()
        .map(|a| {
            // A portfolio runs over the arms file's arms, with its options.
            let config = if a.starts_with("DIV/") {
                &request.portfolio
            } else {
                &request.config
            };
            experiment::plan_of(a, config, expiry)
        })
        .collect::<Result<Vec<_>, ExperimentError>>()?;
    let by_arm = run_grid(
        host,
        &plans,
        request.runs,
        request.seed,
        request.cluster,
        &|| problem.clone_box(),
    )?;
    for (arm, records) in request.arms.iter().zip(&by_arm) {
        for (run, record) in records.iter().enumerate() {
            let regrets: Vec<f64> = request
                .checkpoints
                .iter()
                .map(|&c| best_after(record, c) - optimum)
                .collect();
            tracing::debug!(problem = %problem.label(), arm, run, ?regrets, "run's regret");
        }
    }
    Ok(request
        .arms
        .iter()
        .zip(by_arm)
        .map(|(arm, records)| RegretCell {
            problem: problem.label(),
            arm: arm.clone(),
            median_regret: request
                .checkpoints
                .iter()
                .map(|&c| median(records.iter().map(|r| best_after(r, c) - optimum).collect()))
                .collect(),
            median_opt_time: median(
                records
                    .iter()
                    .map(|r| r.opt_time() / r.trials.len().max(1) as f64)
                    .collect(),
            ),
        })
        .collect())
}

/// The cells as a Markdown table: one row per problem and arm.
pub fn markdown(request: &RegretRequest, cells: &[RegretCell]) -> String {
    let mut out = format!(
        "Median simple regret over {} runs (best found − optimum); optimizer time: the median run's mean per evaluation.\n\n| problem | arm | {} | opt time/eval |\n|---|---|{}---|\n",
        request.runs,
        request
            .checkpoints
            .iter()
            .map(|c| format!("@{c}"))
            .collect::<Vec<_>>()
            .join(" | "),
        "---|".repeat(request.checkpoints.len())
    );
    for c in cells {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.1} ms |",
            c.problem,
            c.arm,
            c.median_regret
                .iter()
                .map(|r| format!("{r:.2e}"))
                .collect::<Vec<_>>()
                .join(" | "),
            c.median_opt_time * 1e3
        );
    }
    out
}
