//! The ε-greedy family, with a correct running mean (the seed overwrote its first
//! observation) and every arm tried once before any is preferred.
//!
//! - `EG`: ε_t = max(0.1, init_eps − 0.1·⌊t / (decay_factor·#arms)⌋), t the iteration.
//! - `GT`: ε = max(0.1, 1/√(t+1)), t the experiment's elapsed time in whole `time_unit`s
//!   (rounded up).
//! - `-LE` variants: rewards on the log-error scale.
//!
//! With probability 1 − ε the arm with the best mean is chosen (ties uniformly); otherwise
//! one of the other arms, uniformly (all arms when every mean ties).

use hpo_plugin_api::sdk::StrategySession;
use hpo_plugin_api::types::{Feedback, SelectRequest};
use rand::RngExt;
use serde::{Deserialize, Serialize};

use crate::common::{active_arms, draw_rng, log_error_reward, ranking};

/// Smallest exploration rate.
pub const MIN_EPSILON: f64 = 0.1;

/// How ε evolves.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Schedule {
    /// `EG`: decays with the iteration.
    Decay {
        /// ε at the start.
        init_eps: f64,
        /// Iterations per 0.1 step, in multiples of the arm count.
        decay_factor: f64,
    },
    /// `GT`: decays with elapsed time.
    Time {
        /// The time unit, seconds.
        unit_seconds: f64,
    },
}

impl Schedule {
    /// ε at `iteration` with `elapsed` seconds spent, for `arms` arms.
    pub fn epsilon(&self, iteration: u32, elapsed: f64, arms: usize) -> f64 {
        match *self {
            Schedule::Decay {
                init_eps,
                decay_factor,
            } => {
                let steps = (iteration as f64 / (decay_factor * arms as f64)).floor();
                (init_eps - 0.1 * steps).max(MIN_EPSILON)
            }
            Schedule::Time { unit_seconds } => {
                let t = (elapsed / unit_seconds).ceil().max(0.0);
                (1.0 / (t + 1.0).sqrt()).max(MIN_EPSILON)
            }
        }
    }
}

/// An ε-greedy session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Greedy {
    schedule: Schedule,
    log_error: bool,
    means: Vec<f64>,
    counts: Vec<u32>,
    seed: u64,
    draws: u64,
}

impl Greedy {
    /// A session over `arms` arms.
    pub fn new(schedule: Schedule, log_error: bool, arms: usize, seed: u64) -> Self {
        Greedy {
            schedule,
            log_error,
            means: vec![0.0; arms],
            counts: vec![0; arms],
            seed,
            draws: 0,
        }
    }

    /// The running mean reward of each arm.
    pub fn means(&self) -> &[f64] {
        &self.means
    }
}

impl StrategySession for Greedy {
    fn select(&mut self, request: SelectRequest) -> Result<Vec<u32>, String> {
        let active = active_arms(&request, self.means.len());
        if active.is_empty() {
            return Ok(vec![]);
        }
        let score: Vec<f64> = self
            .means
            .iter()
            .zip(&self.counts)
            .map(|(m, c)| if *c == 0 { f64::INFINITY } else { *m })
            .collect();
        if let Some(&untried) = active.iter().find(|&&i| self.counts[i as usize] == 0) {
            return Ok(ranking(untried, &active, &score));
        }
        let eps = self
            .schedule
            .epsilon(request.iteration, request.elapsed, self.means.len());
        let mut rng = draw_rng(self.seed, self.draws);
        self.draws += 1;
        let best = active
            .iter()
            .map(|&i| self.means[i as usize])
            .fold(f64::NEG_INFINITY, f64::max);
        let (top, others): (Vec<u32>, Vec<u32>) = active
            .iter()
            .partition(|&&i| self.means[i as usize] == best);
        let pool = if rng.random::<f64>() < 1.0 - eps || others.is_empty() {
            &top
        } else {
            &others
        };
        let first = pool[rng.random_range(0..pool.len())];
        Ok(ranking(first, &active, &score))
    }

    fn update(&mut self, feedback: Feedback) -> Result<(), String> {
        let arm = feedback.chosen as usize;
        if arm >= self.means.len() {
            return Err(format!("feedback for arm {arm} of {}", self.means.len()));
        }
        let r = if self.log_error {
            log_error_reward(feedback.reward)
        } else {
            feedback.reward
        };
        self.counts[arm] += 1;
        self.means[arm] += (r - self.means[arm]) / self.counts[arm] as f64;
        Ok(())
    }

    fn snapshot(&mut self) -> Result<Vec<u8>, String> {
        crate::common::save_state(self)
    }

    fn restore(&mut self, state: &[u8]) -> Result<(), String> {
        *self = crate::common::load_state(state, "ε-greedy")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hpo_plugin_api::types::ArmStat;

    fn request(iteration: u32, elapsed: f64) -> SelectRequest {
        SelectRequest {
            iteration,
            elapsed,
            stats: vec![ArmStat::default(); 3],
        }
    }

    fn feed(g: &mut Greedy, chosen: u32, reward: f64) {
        g.update(Feedback {
            chosen,
            reward,
            gains: vec![],
            elapsed: 0.0,
        })
        .unwrap();
    }

    #[test]
    fn epsilon_schedules_match_their_definitions() {
        let eg = Schedule::Decay {
            init_eps: 1.0,
            decay_factor: 5.0,
        };
        assert_eq!(eg.epsilon(0, 0.0, 6), 1.0);
        assert_eq!(eg.epsilon(29, 0.0, 6), 1.0);
        assert!((eg.epsilon(30, 0.0, 6) - 0.9).abs() < 1e-12);
        assert_eq!(eg.epsilon(10_000, 0.0, 6), 0.1);
        let gt = Schedule::Time {
            unit_seconds: 3600.0,
        };
        assert_eq!(gt.epsilon(0, 0.0, 6), 1.0);
        assert!(
            (gt.epsilon(0, 1.0, 6) - 1.0 / 2f64.sqrt()).abs() < 1e-12,
            "rounded up"
        );
        assert!((gt.epsilon(0, 10_000.0, 6) - 0.5).abs() < 1e-12);
        assert_eq!(gt.epsilon(0, 1e9, 6), 0.1);
    }

    #[test]
    fn the_running_mean_is_correct() {
        let mut g = Greedy::new(
            Schedule::Decay {
                init_eps: 1.0,
                decay_factor: 5.0,
            },
            false,
            3,
            1,
        );
        for r in [-0.2, -0.4, -0.6] {
            feed(&mut g, 1, r);
        }
        assert!((g.means()[1] + 0.4).abs() < 1e-12);
        let mut le = Greedy::new(Schedule::Time { unit_seconds: 1.0 }, true, 3, 1);
        feed(&mut le, 0, -0.1);
        feed(&mut le, 0, -0.001);
        assert!((le.means()[0] - 2.0).abs() < 1e-12);
    }

    #[test]
    fn tries_every_arm_once_then_exploits_when_epsilon_is_small() {
        let mut g = Greedy::new(
            Schedule::Decay {
                init_eps: 0.1,
                decay_factor: 5.0,
            },
            false,
            3,
            7,
        );
        let mut first = vec![];
        for (arm, reward) in [(0, -0.5), (1, -0.1), (2, -0.9)] {
            let r = g.select(request(0, 0.0)).unwrap();
            first.push(r[0]);
            feed(&mut g, arm, reward);
        }
        assert_eq!(first, vec![0, 1, 2]);
        let picks: Vec<u32> = (0..1000)
            .map(|i| g.select(request(i, 0.0)).unwrap()[0])
            .collect();
        let best = picks.iter().filter(|&&a| a == 1).count();
        // ε = 0.1: the best arm about 90 % of the time, the others share the rest.
        assert!((850..=950).contains(&best), "{best}");
        assert!(picks.contains(&0) && picks.contains(&2));
    }
}
