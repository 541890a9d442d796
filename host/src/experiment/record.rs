//! A finished run: its trials and what the strategy saw of its arms, as the results file
//! lists it.

use serde::Serialize;

use super::{ArmFailures, ExperimentError, RunState, Trial};

/// A finished run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRecord {
    /// The run's seed.
    pub seed: u64,
    /// The trials, in order.
    pub trials: Vec<Trial>,
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
    /// The best successful trial (a failed trial has no value and is never the best).
    pub fn best(&self) -> Option<&Trial> {
        self.trials
            .iter()
            .filter(|t| t.value.is_finite())
            .min_by(|a, b| a.value.total_cmp(&b.value))
    }

    /// Σexec_time.
    pub fn exec_time(&self) -> f64 {
        self.trials.iter().map(|t| t.exec_time).sum()
    }

    /// Σopt_time.
    pub fn opt_time(&self) -> f64 {
        self.trials.iter().map(|t| t.opt_time).sum()
    }

    /// The record of a finished run, rebuilt from its stored trials (no plugin involved) by
    /// the bookkeeping the run itself used: the same record the run returned when it
    /// finished. `failures` are the arms' failures stored with the finished run; without
    /// them (an older store) they are the failures recorded with each trial.
    pub fn from_trials(
        seed: u64,
        arm_names: Vec<String>,
        trials: &[Trial],
        stop_reason: String,
        failures: Option<ArmFailures>,
    ) -> Result<Self, ExperimentError> {
        let mut state = RunState::new(arm_names.len());
        for trial in trials {
            state.replay(&arm_names, trial.clone())?;
        }
        Ok(state.finish(seed, arm_names, stop_reason, failures))
    }
}
