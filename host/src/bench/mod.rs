//! Benchmarks of whole runs: the seed's evaluation protocol on tables ([`success_rate`]:
//! success rate over time to reach a target) and model quality on problems with known
//! optima ([`regret`]). Both run a grid of plans × seeds in parallel ([`run_grid`]) and
//! summarize by medians ([`median`]).
//!
//! Invariant: a grid's runs are independent and seeded like `hpo run --runs N`, so a
//! benchmark's figures are reproducible from its seed (optimizer times aside).

pub mod regret;
pub mod success_rate;

use rayon::prelude::*;

use crate::experiment::drivers::simulated::Cluster;
use crate::experiment::drivers::{Discard, Evaluators};
use crate::experiment::{self, ExperimentError, RunPlan, RunRecord};
use crate::objectives::Objective;
use crate::registry::PluginHost;

/// An error of a benchmark's own inputs.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BenchError {
    /// `--target topK` on an objective without a table.
    #[error("--target {0}: only a table knows its K-th best value; give a value")]
    NoTable(String),
    /// `--target topK` with K out of range.
    #[error("--target {label}: expected topK with K from 1 to the table's {rows} rows, or a value")]
    RankOutOfRange {
        /// The target as given.
        label: String,
        /// The table's rows.
        rows: usize,
    },
    /// A target that is neither `topK` nor a number.
    #[error("--target {0}: expected topK or a value")]
    NotATarget(String),
}

/// The value a target names: `topK`, the table's K-th best value, or a plain value.
pub fn target_value(target: &str, objective: &dyn Objective) -> Result<f64, BenchError> {
    let Some(k) = target.strip_prefix("top") else {
        return target
            .parse::<f64>()
            .map_err(|_| BenchError::NotATarget(target.to_string()));
    };
    let no_table = || BenchError::NoTable(target.to_string());
    let rows = objective.pool().map(|p| p.rows()).ok_or_else(no_table)?;
    let k: usize = k
        .parse()
        .ok()
        .filter(|k| (1..=rows).contains(k))
        .ok_or_else(|| BenchError::RankOutOfRange {
            label: target.to_string(),
            rows,
        })?;
    objective.kth_best(k).ok_or_else(no_table)
}

/// Runs every plan `runs` times (run `r` seeded as run `r` of an experiment seeded with
/// `seed`), in parallel, each on its own objective, one trial at a time or on a simulated
/// `cluster`; the records grouped by plan, in run order. The plans are checked first.
pub fn run_grid(
    host: &PluginHost,
    plans: &[RunPlan],
    runs: usize,
    seed: u64,
    cluster: Option<Cluster>,
    make_objective: &(dyn Fn() -> Box<dyn Objective> + Sync),
) -> Result<Vec<Vec<RunRecord>>, ExperimentError> {
    for plan in plans {
        experiment::check_plan(host, plan)?;
    }
    let jobs: Vec<(usize, usize)> = (0..plans.len())
        .flat_map(|p| (0..runs).map(move |r| (p, r)))
        .collect();
    let records: Vec<Result<RunRecord, ExperimentError>> = jobs
        .par_iter()
        .map(|&(p, r)| {
            let mut objective = make_objective();
            let seed = experiment::run_seed(seed, r);
            let evaluators = match cluster {
                Some(Cluster { workers, sync }) => Evaluators::Simulated {
                    objective: objective.as_mut(),
                    workers,
                    sync,
                },
                None => Evaluators::One(objective.as_mut()),
            };
            experiment::drive(
                host,
                evaluators,
                &plans[p],
                seed,
                &[],
                Vec::new(),
                &mut Discard,
            )
        })
        .collect();
    let mut by_plan: Vec<Vec<RunRecord>> = vec![Vec::new(); plans.len()];
    for ((p, _), record) in jobs.iter().zip(records) {
        by_plan[*p].push(record?);
    }
    Ok(by_plan)
}

/// The median (the mean of the middle two for an even count; NaN for none).
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_of_odd_even_and_no_values() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(vec![]).is_nan());
    }
}
