//! `SEQ` (round robin) and `RANDOM` (a fresh seeded random order every iteration).

use hpo_plugin_api::sdk::StrategySession;
use hpo_plugin_api::types::{Feedback, SelectRequest};
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::common::{active_arms, draw_rng};

/// Round robin over the arms not suspended, continuing after the arm actually evaluated.
#[derive(Serialize, Deserialize)]
pub struct Sequential {
    arms: usize,
    next: usize,
}

impl Sequential {
    /// A round robin over `arms` arms.
    pub fn new(arms: usize) -> Self {
        Sequential { arms, next: 0 }
    }
}

impl StrategySession for Sequential {
    fn select(&mut self, request: SelectRequest) -> Result<Vec<u32>, String> {
        let mut ranking = active_arms(&request, self.arms);
        let start = ranking
            .iter()
            .position(|&i| i as usize >= self.next)
            .unwrap_or(0);
        ranking.rotate_left(start);
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
        *self = crate::common::load_state(state, "SEQ")?;
        Ok(())
    }
}

/// A uniformly random order of the arms not suspended, every iteration.
#[derive(Serialize, Deserialize)]
pub struct RandomOrder {
    arms: usize,
    seed: u64,
    draws: u64,
}

impl RandomOrder {
    /// A random order over `arms` arms.
    pub fn new(arms: usize, seed: u64) -> Self {
        RandomOrder {
            arms,
            seed,
            draws: 0,
        }
    }
}

impl StrategySession for RandomOrder {
    fn select(&mut self, request: SelectRequest) -> Result<Vec<u32>, String> {
        let mut ranking = active_arms(&request, self.arms);
        ranking.shuffle(&mut draw_rng(self.seed, self.draws));
        self.draws += 1;
        Ok(ranking)
    }

    fn update(&mut self, _feedback: Feedback) -> Result<(), String> {
        Ok(())
    }

    fn snapshot(&mut self) -> Result<Vec<u8>, String> {
        crate::common::save_state(self)
    }

    fn restore(&mut self, state: &[u8]) -> Result<(), String> {
        *self = crate::common::load_state(state, "RANDOM")?;
        Ok(())
    }
}
