//! `SKO`, sequential knock-out: round robin over the surviving arms; every 10·#arms
//! iterations the surviving arm with the *worst* mean reward is eliminated (the seed
//! eliminated the best), keeping at least two. Knocked-out arms stay at the end of the
//! ranking, so the run can fall back on them if every survivor fails.

use hpo_plugin_api::sdk::StrategySession;
use hpo_plugin_api::types::{Feedback, SelectRequest};
use serde::{Deserialize, Serialize};

use crate::common::active_arms;

/// Iterations between eliminations, per arm.
pub const ROUND_PER_ARM: u32 = 10;
/// Arms that always survive.
pub const MIN_SURVIVORS: usize = 2;

/// A knock-out session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KnockOut {
    arms: usize,
    survivors: Vec<u32>,
    next: usize,
    last_elimination: u32,
}

impl KnockOut {
    /// A session over `arms` arms.
    pub fn new(arms: usize) -> Self {
        KnockOut {
            arms,
            survivors: (0..arms as u32).collect(),
            next: 0,
            last_elimination: 0,
        }
    }

    /// The arms still in.
    pub fn survivors(&self) -> &[u32] {
        &self.survivors
    }
}

impl StrategySession for KnockOut {
    fn select(&mut self, request: SelectRequest) -> Result<Vec<u32>, String> {
        let period = ROUND_PER_ARM * self.arms as u32;
        let due = request.iteration > 0
            && request.iteration.is_multiple_of(period)
            && request.iteration != self.last_elimination;
        if due && self.survivors.len() > MIN_SURVIVORS {
            let mean = |i: u32| {
                request
                    .stats
                    .get(i as usize)
                    .filter(|s| s.pulls > 0)
                    .map(|s| s.total_reward / s.pulls as f64)
            };
            let worst = self
                .survivors
                .iter()
                .copied()
                .filter_map(|i| mean(i).map(|m| (i, m)))
                .min_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)));
            if let Some((arm, _)) = worst {
                self.survivors.retain(|&i| i != arm);
                self.last_elimination = request.iteration;
            }
        }
        let active = active_arms(&request, self.arms);
        let mut ranking: Vec<u32> = self
            .survivors
            .iter()
            .copied()
            .filter(|i| active.contains(i))
            .collect();
        let start = ranking
            .iter()
            .position(|&i| i as usize >= self.next)
            .unwrap_or(0);
        ranking.rotate_left(start);
        ranking.extend(
            active
                .iter()
                .copied()
                .filter(|i| !self.survivors.contains(i)),
        );
        Ok(ranking)
    }

    fn update(&mut self, feedback: Feedback) -> Result<(), String> {
        self.next = (feedback.chosen as usize + 1) % self.arms;
        Ok(())
    }

    fn snapshot(&mut self) -> Result<Vec<u8>, String> {
        crate::common::save_state(self)
    }

    fn restore(&mut self, state: &[u8]) -> Result<(), String> {
        *self = crate::common::load_state(state, "SKO")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hpo_plugin_api::types::ArmStat;

    #[test]
    fn eliminates_the_worst_arm_every_round_and_keeps_two() {
        let arms = 4;
        let mut k = KnockOut::new(arms);
        let quality = [-0.3, -0.9, -0.1, -0.5]; // arm 1 is the worst, then 3
        let mut stats = vec![ArmStat::default(); arms];
        let mut seen = vec![];
        for iteration in 0..200u32 {
            let ranking = k
                .select(SelectRequest {
                    iteration,
                    elapsed: 0.0,
                    stats: stats.clone(),
                })
                .unwrap();
            let arm = ranking[0];
            seen.push(arm);
            stats[arm as usize].pulls += 1;
            stats[arm as usize].total_reward += quality[arm as usize];
            k.update(Feedback {
                chosen: arm,
                ..Feedback::default()
            })
            .unwrap();
        }
        assert_eq!(&seen[..8], &[0, 1, 2, 3, 0, 1, 2, 3]);
        assert_eq!(
            k.survivors(),
            &[0, 2],
            "the two worst arms were knocked out, in order"
        );
        assert!(!seen[40..].contains(&1), "arm 1 is out after 40 iterations");
        assert!(!seen[80..].contains(&3), "arm 3 after 80");
        assert!(seen[80..].contains(&0) && seen[80..].contains(&2));
    }
}
