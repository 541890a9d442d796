//! The Hedge family.
//!
//! - `HEDGE`: exponential weights with importance-weighted rewards (Exp3): an arm is drawn
//!   with probability p = (1 − γ)·softmax(η·G) + γ/K; after its reward r, G[arm] += r̃ / p[arm],
//!   where r̃ is r scaled into [0, 1] by the range of rewards seen so far. The estimate is
//!   unbiased for every arm, the γ = 0.1 uniform share keeps every arm sampled (without it
//!   one lucky arm starves the others within a few dozen pulls), and the softmax is computed
//!   stably, so nothing overflows (the seed's Hedge had neither weighting nor stability).
//! - `BO-HEDGE`: GP-Hedge (Hoffman, Brochu & de Freitas, 2011): every arm nominates a point,
//!   an arm is drawn by softmax(η·G), its nominee is evaluated, then every arm's gain grows by
//!   the negated posterior mean of its nominee under the *updated* model (the host computes
//!   these and sends them as `gains`).
//! - `BO-HEDGE-T`: as BO-HEDGE, but the evaluated arm's gain is its nominee's observed value
//!   (the only nominee with one); never a table's hidden values.
//! - `-LE` variants (`BO-HEDGE-LE`, `BO-HEDGE-LET`): gains on the log-error scale.

use hpo_plugin_api::sdk::StrategySession;
use hpo_plugin_api::types::{Feedback, SelectRequest};
use rand::RngExt;
use serde::{Deserialize, Serialize};

use crate::common::{
    Normalizer, active_arms, draw_rng, log_error_reward, ranking, sample, softmax,
};

/// Exp3's uniform exploration share of `HEDGE`.
pub const EXPLORATION: f64 = 0.1;

/// Which Hedge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Flavor {
    /// Classic Hedge on the evaluated arm's reward.
    Hedge,
    /// GP-Hedge on the nominees' posterior means.
    BoHedge {
        /// The evaluated arm's gain is its observed value.
        observed: bool,
        /// Gains on the log-error scale.
        log_error: bool,
    },
}

/// A Hedge session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Hedge {
    flavor: Flavor,
    eta: f64,
    gains: Vec<f64>,
    probabilities: Vec<f64>,
    normalizer: Normalizer,
    seed: u64,
    draws: u64,
}

impl Hedge {
    /// A session over `arms` arms with learning rate `eta`.
    pub fn new(flavor: Flavor, arms: usize, eta: f64, seed: u64) -> Self {
        Hedge {
            flavor,
            eta,
            gains: vec![0.0; arms],
            probabilities: vec![1.0 / arms as f64; arms],
            normalizer: Normalizer::default(),
            seed,
            draws: 0,
        }
    }

    /// The cumulative gains.
    pub fn gains(&self) -> &[f64] {
        &self.gains
    }

    /// The distribution of the last selection.
    pub fn probabilities(&self) -> &[f64] {
        &self.probabilities
    }

    fn scale(&self, gain: f64) -> f64 {
        match self.flavor {
            Flavor::BoHedge {
                log_error: true, ..
            } => log_error_reward(gain),
            _ => gain,
        }
    }
}

impl StrategySession for Hedge {
    fn wants_nominations(&self) -> bool {
        matches!(self.flavor, Flavor::BoHedge { .. })
    }

    fn select(&mut self, request: SelectRequest) -> Result<Vec<u32>, String> {
        let active = active_arms(&request, self.gains.len());
        if active.is_empty() {
            return Ok(vec![]);
        }
        self.probabilities = softmax(&self.gains, self.eta, &active);
        if self.flavor == Flavor::Hedge {
            let uniform = EXPLORATION / active.len() as f64;
            for &i in &active {
                let p = &mut self.probabilities[i as usize];
                *p = (1.0 - EXPLORATION) * *p + uniform;
            }
        }
        let u = draw_rng(self.seed, self.draws).random::<f64>();
        self.draws += 1;
        let first = sample(&self.probabilities, u) as u32;
        Ok(ranking(first, &active, &self.probabilities))
    }

    fn update(&mut self, feedback: Feedback) -> Result<(), String> {
        let chosen = feedback.chosen as usize;
        if chosen >= self.gains.len() {
            return Err(format!("feedback for arm {chosen} of {}", self.gains.len()));
        }
        match self.flavor {
            Flavor::Hedge => {
                let r = self.normalizer.observe(feedback.reward);
                let p = self.probabilities[chosen].max(1e-12);
                self.gains[chosen] += r / p;
            }
            Flavor::BoHedge { observed, .. } => {
                if feedback.gains.len() != self.gains.len() {
                    return Err(format!(
                        "BO-HEDGE needs one gain per arm, got {} for {} arms",
                        feedback.gains.len(),
                        self.gains.len()
                    ));
                }
                for (i, g) in feedback.gains.iter().enumerate() {
                    let raw = if observed && i == chosen {
                        feedback.reward
                    } else {
                        *g
                    };
                    if raw.is_finite() {
                        self.gains[i] += self.scale(raw);
                    }
                }
            }
        }
        Ok(())
    }

    fn snapshot(&mut self) -> Result<Vec<u8>, String> {
        crate::common::save_state(self)
    }

    fn restore(&mut self, state: &[u8]) -> Result<(), String> {
        *self = crate::common::load_state(state, "Hedge")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hpo_plugin_api::types::ArmStat;

    fn request(arms: usize) -> SelectRequest {
        SelectRequest {
            iteration: 0,
            elapsed: 0.0,
            stats: vec![ArmStat::default(); arms],
        }
    }

    fn feedback(chosen: u32, reward: f64, gains: Vec<f64>) -> Feedback {
        Feedback {
            chosen,
            reward,
            gains,
            elapsed: 0.0,
        }
    }

    #[test]
    fn hedge_weights_rewards_by_their_inverse_probability() {
        let mut h = Hedge::new(Flavor::Hedge, 2, 1.0, 3);
        h.select(request(2)).unwrap();
        assert_eq!(h.probabilities(), &[0.5, 0.5]);
        // First reward: the range is empty, so r̃ = 0.5, divided by p = 0.5.
        h.update(feedback(0, -0.1, vec![])).unwrap();
        assert_eq!(h.gains(), &[1.0, 0.0]);
        h.select(request(2)).unwrap();
        let e = std::f64::consts::E;
        let p0 = 0.9 * e / (e + 1.0) + 0.05;
        assert!((h.probabilities()[0] - p0).abs() < 1e-12);
        // A worse reward than any before scales to 0: no gain.
        h.update(feedback(1, -0.5, vec![])).unwrap();
        assert_eq!(h.gains(), &[1.0, 0.0]);
        h.select(request(2)).unwrap();
        // The best reward so far scales to 1, divided by p(arm 0).
        h.update(feedback(0, -0.1, vec![])).unwrap();
        assert!((h.gains()[0] - (1.0 + 1.0 / p0)).abs() < 1e-12);
    }

    #[test]
    fn hedge_never_overflows() {
        let mut h = Hedge::new(Flavor::Hedge, 3, 1.0, 1);
        for i in 0..5000 {
            h.select(request(3)).unwrap();
            h.update(feedback(
                (i % 3) as u32,
                if i % 3 == 0 { 1.0 } else { 0.0 },
                vec![],
            ))
            .unwrap();
        }
        assert!(h.probabilities().iter().all(|p| p.is_finite()));
        // The best arm takes all but the exploration share.
        assert!(h.probabilities()[0] > 0.9333 - 1e-9);
        assert!(h.probabilities()[1] >= EXPLORATION / 3.0 - 1e-12);
    }

    #[test]
    fn bo_hedge_adds_every_arms_gain_and_t_uses_the_observation() {
        let mut h = Hedge::new(
            Flavor::BoHedge {
                observed: false,
                log_error: false,
            },
            3,
            0.5,
            1,
        );
        assert!(h.wants_nominations());
        h.select(request(3)).unwrap();
        h.update(feedback(1, -0.2, vec![-0.3, -0.1, -0.4])).unwrap();
        assert_eq!(h.gains(), &[-0.3, -0.1, -0.4]);
        let mut t = Hedge::new(
            Flavor::BoHedge {
                observed: true,
                log_error: false,
            },
            3,
            0.5,
            1,
        );
        t.select(request(3)).unwrap();
        t.update(feedback(1, -0.2, vec![-0.3, -0.1, -0.4])).unwrap();
        assert_eq!(t.gains(), &[-0.3, -0.2, -0.4]);
        let mut le = Hedge::new(
            Flavor::BoHedge {
                observed: false,
                log_error: true,
            },
            2,
            0.5,
            1,
        );
        le.select(request(2)).unwrap();
        le.update(feedback(0, -0.1, vec![-0.1, -0.01])).unwrap();
        assert!((le.gains()[0] - 1.0).abs() < 1e-12 && (le.gains()[1] - 2.0).abs() < 1e-12);
        // The arm with the larger gain is drawn more often.
        le.select(request(2)).unwrap();
        assert!(le.probabilities()[1] > le.probabilities()[0]);
        assert!(
            h.update(feedback(0, 0.0, vec![1.0])).is_err(),
            "one gain per arm"
        );
    }
}
