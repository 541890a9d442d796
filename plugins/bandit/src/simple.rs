//! `SEQ` (round robin) and `RANDOM` (a fresh seeded random order every iteration).

use hpo_plugin_api::sdk::StrategySession;
use hpo_plugin_api::types::{Feedback, SelectRequest};
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::common::{active_arms, draw_rng};

/// Round robin over the arms not suspended, continuing after the arm actually evaluated.
///
/// The robin turns at every selection, so the workers of a parallel run that ask before any
/// result comes back get the next arms in turn, not the same one. A result corrects the turn
/// only when its arm was not the first of any outstanding selection (the host fell back
/// down the ranking because that arm failed): the robin then continues after the arm used,
/// as it does in a sequential run.
#[derive(Serialize, Deserialize)]
pub struct Sequential {
    arms: usize,
    next: usize,
    /// The first arm of each selection not yet answered by a result (absent from states
    /// written before parallel runs: none).
    #[serde(default)]
    outstanding: Vec<u32>,
}

impl Sequential {
    /// A round robin over `arms` arms.
    pub fn new(arms: usize) -> Self {
        Sequential {
            arms,
            next: 0,
            outstanding: Vec::new(),
        }
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
        if let Some(&first) = ranking.first() {
            self.next = (first as usize + 1) % self.arms;
            self.outstanding.push(first);
        }
        Ok(ranking)
    }

    fn update(&mut self, feedback: Feedback) -> Result<(), String> {
        match self.outstanding.iter().position(|&a| a == feedback.chosen) {
            Some(i) => {
                self.outstanding.remove(i);
            }
            None => {
                // A fallback: the oldest outstanding selection is the one answered.
                if !self.outstanding.is_empty() {
                    self.outstanding.remove(0);
                }
                self.next = (feedback.chosen as usize + 1) % self.arms;
            }
        }
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
