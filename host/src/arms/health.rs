//! The arms' health in a run: failures counted with their last reason, an arm suspended
//! after [`SUSPEND_AFTER`] failures in a row, and the failures of the current trial's turn
//! (stored with the trial, so a resumed run counts them again).

use hpo_plugin_api::types::ArmStat;

use crate::loader::SessionError;
use crate::trial::ArmFailures;

/// Consecutive failures after which an arm is suspended for the run.
pub const SUSPEND_AFTER: u32 = 3;

/// Failure bookkeeping of the arms: counts, last reasons, suspension, and the failures of
/// the current trial's turn.
pub struct ArmHealth {
    consecutive: Vec<u32>,
    /// Failures per arm so far: count and the last reason.
    pub failures: ArmFailures,
    events: Vec<(String, String)>,
}

impl ArmHealth {
    /// The health of `arms` arms that have not failed.
    pub fn new(arms: usize) -> Self {
        ArmHealth {
            consecutive: vec![0; arms],
            failures: ArmFailures::new(),
            events: Vec::new(),
        }
    }

    /// Arm `arm` proposed: its streak of failures ends.
    pub fn succeeded(&mut self, arm: usize) {
        self.consecutive[arm] = 0;
    }

    /// Records a live failure (logged, and kept for the trial); the arm is suspended after
    /// [`SUSPEND_AFTER`] in a row.
    pub fn failed(&mut self, arm: usize, name: &str, error: &SessionError, stats: &mut [ArmStat]) {
        tracing::warn!("{error}");
        let why = error.to_string();
        self.events.push((name.to_string(), why.clone()));
        self.replay_failure(arm, name, &why, stats);
    }

    /// A failure as [`ArmHealth::failed`] counts it, without logging or recording it again
    /// (a resumed run replaying its stored failures).
    pub fn replay_failure(&mut self, arm: usize, name: &str, why: &str, stats: &mut [ArmStat]) {
        stats[arm].failures += 1;
        self.consecutive[arm] += 1;
        let entry = self
            .failures
            .entry(name.to_string())
            .or_insert((0, String::new()));
        entry.0 += 1;
        entry.1 = why.to_string();
        if self.consecutive[arm] >= SUSPEND_AFTER && !stats[arm].suspended {
            stats[arm].suspended = true;
            tracing::warn!(arm = %name, "suspended for the rest of the run");
        }
    }

    /// The failures since the last call (one trial's turn).
    pub fn take_events(&mut self) -> Vec<(String, String)> {
        std::mem::take(&mut self.events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loader::PluginError;

    fn error(why: &str) -> SessionError {
        SessionError {
            plugin: "p".into(),
            what: "arm",
            name: "M".into(),
            source: PluginError::Failed(why.into()),
        }
    }

    #[test]
    fn an_arm_is_suspended_after_three_failures_in_a_row() {
        let mut health = ArmHealth::new(2);
        let mut stats = vec![ArmStat::default(); 2];
        health.failed(0, "A/EI", &error("one"), &mut stats);
        health.failed(0, "A/EI", &error("two"), &mut stats);
        health.succeeded(0);
        health.failed(0, "A/EI", &error("three"), &mut stats);
        health.failed(0, "A/EI", &error("four"), &mut stats);
        assert!(!stats[0].suspended, "the streak was broken by a success");
        health.failed(0, "A/EI", &error("five"), &mut stats);
        assert!(stats[0].suspended);
        assert!(!stats[1].suspended);
        assert_eq!(stats[0].failures, 5);
        let (count, last) = &health.failures["A/EI"];
        assert_eq!(*count, 5);
        assert!(last.ends_with("five"), "{last}");
        assert_eq!(health.take_events().len(), 5);
        assert!(health.take_events().is_empty());
    }
}
