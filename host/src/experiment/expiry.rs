//! When a run stops: an evaluation budget, a time budget (Σexec + Σopt), or a goal value,
//! and how the seed's flags (`-e TIME|GOAL`, `-eg`, `-et`, `--goal-metric`) state them.

use serde::Serialize;

/// Evaluations per run when no expiry is given.
pub const DEFAULT_EVALS: usize = 100;

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

/// The seed's expiry criterion (`-e`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Criterion {
    /// `-e TIME`: a time budget (a day unless `-et` says otherwise).
    Time,
    /// `-e GOAL`: a goal, which `-eg` must give.
    Goal,
}

/// What a goal is stated in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GoalMetric {
    /// Reached when the best value is at most the goal.
    Error,
    /// Reached when 1 - the best value is at least the goal.
    Accuracy,
}

/// The expiry as the user stated it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExpiryFlags {
    /// `--evals`.
    pub evals: Option<usize>,
    /// `--time` (`-et`), seconds.
    pub time: Option<f64>,
    /// `--goal` (`-eg`), in the units of `goal_metric`.
    pub goal: Option<f64>,
    /// `-e`.
    pub criterion: Option<Criterion>,
    /// `--goal-metric`.
    pub goal_metric: GoalMetric,
}

/// An expiry that cannot be.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExpiryError {
    /// A goal outside the metric's range.
    #[error("--goal {0} is outside the metric's range [0, 1]")]
    GoalOutOfRange(f64),
    /// `-e GOAL` without a goal.
    #[error("-e GOAL needs a goal (--goal or -eg)")]
    GoalMissing,
}

impl Expiry {
    /// The expiry of `flags` for `objective`: errors and accuracies (a table's values, or any
    /// accuracy goal) live in [0, 1], any other objective's values are any finite number; an
    /// accuracy goal becomes an error goal; without any criterion, [`DEFAULT_EVALS`].
    pub fn from_flags(flags: &ExpiryFlags, objective: &str) -> Result<Self, ExpiryError> {
        let accuracy = flags.goal_metric == GoalMetric::Accuracy;
        let bounded = objective.starts_with("surrogate:") || accuracy;
        let goal = match flags.goal {
            Some(g) if !g.is_finite() || (bounded && !(0.0..=1.0).contains(&g)) => {
                return Err(ExpiryError::GoalOutOfRange(g));
            }
            Some(g) if accuracy => Some(1.0 - g),
            g => g,
        };
        let mut expiry = Expiry {
            evals: flags.evals,
            time: flags.time,
            goal,
        };
        match flags.criterion {
            Some(Criterion::Goal) if expiry.goal.is_none() => return Err(ExpiryError::GoalMissing),
            Some(Criterion::Time) if expiry.time.is_none() => expiry.time = Some(86_400.0),
            _ => {}
        }
        if expiry.evals.is_none() && expiry.time.is_none() && expiry.goal.is_none() {
            expiry.evals = Some(DEFAULT_EVALS);
        }
        Ok(expiry)
    }

    /// Why a run with `evals` evaluations, `elapsed` seconds and best value `best` stops,
    /// if it does.
    pub fn reached(&self, evals: usize, elapsed: f64, best: f64) -> Option<String> {
        if let Some(goal) = self.goal
            && best <= goal
        {
            return Some(format!("goal {goal} reached"));
        }
        if let Some(max) = self.evals
            && evals >= max
        {
            return Some(format!("{max} evaluations done"));
        }
        if let Some(budget) = self.time
            && elapsed >= budget
        {
            return Some(format!("time budget of {budget} s spent"));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags() -> ExpiryFlags {
        ExpiryFlags {
            evals: None,
            time: None,
            goal: None,
            criterion: None,
            goal_metric: GoalMetric::Error,
        }
    }

    #[test]
    fn the_seed_flags_state_the_expiry() {
        let table = "surrogate:digits-mlp";
        assert_eq!(
            Expiry::from_flags(&flags(), table).unwrap().evals,
            Some(DEFAULT_EVALS)
        );
        let time = ExpiryFlags {
            criterion: Some(Criterion::Time),
            ..flags()
        };
        assert_eq!(
            Expiry::from_flags(&time, table).unwrap().time,
            Some(86_400.0)
        );
        let accuracy = ExpiryFlags {
            goal: Some(0.98),
            goal_metric: GoalMetric::Accuracy,
            ..flags()
        };
        let goal = Expiry::from_flags(&accuracy, "fn:branin")
            .unwrap()
            .goal
            .unwrap();
        assert!((goal - 0.02).abs() < 1e-12);
        let missing = ExpiryFlags {
            criterion: Some(Criterion::Goal),
            ..flags()
        };
        assert_eq!(
            Expiry::from_flags(&missing, table),
            Err(ExpiryError::GoalMissing)
        );
        let negative = ExpiryFlags {
            goal: Some(-3.0),
            ..flags()
        };
        assert_eq!(
            Expiry::from_flags(&negative, table),
            Err(ExpiryError::GoalOutOfRange(-3.0))
        );
        assert_eq!(
            Expiry::from_flags(&negative, "fn:hartmann6").unwrap().goal,
            Some(-3.0),
            "a test function's goal is any finite number"
        );
    }

    #[test]
    fn the_first_criterion_reached_is_the_reason() {
        let expiry = Expiry {
            evals: Some(10),
            time: Some(60.0),
            goal: Some(0.1),
        };
        assert_eq!(expiry.reached(3, 1.0, 0.5), None);
        assert_eq!(expiry.reached(3, 1.0, 0.1).unwrap(), "goal 0.1 reached");
        assert_eq!(expiry.reached(10, 1.0, 0.5).unwrap(), "10 evaluations done");
        assert_eq!(
            expiry.reached(3, 60.0, 0.5).unwrap(),
            "time budget of 60 s spent"
        );
    }
}
