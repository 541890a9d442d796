//! The `bandit` plugin: strategies that pick, iteration by iteration, which arm proposes.
//!
//! - `SEQ`: round robin over the arms not suspended, continuing after the arm that was
//!   actually evaluated (when the host fell back down the ranking).
//! - `RANDOM`: a uniformly random order of the arms not suspended, seeded.
//!
//! Every strategy accepts the run configuration's bandit options (`eta`, `init_eps`,
//! `decay_factor`, `time_unit`), typed and checked; an unknown option is an error.

use hpo_plugin_api::sdk::{Plugin, StrategySession};
use hpo_plugin_api::types::{
    ComponentKind, Feedback, PluginDescription, SelectRequest, StrategyConfig,
};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// The plugin type exported below.
pub struct BanditPlugin;

/// The strategies this plugin provides.
pub const STRATEGIES: [&str; 2] = ["SEQ", "RANDOM"];

/// The run configuration's bandit options; every strategy accepts them all.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StrategyOptions {
    /// Learning rate of the HEDGE family.
    pub eta: Option<f64>,
    /// Initial exploration rate of the ε-greedy family.
    pub init_eps: Option<f64>,
    /// Decay of ε per iteration.
    pub decay_factor: Option<f64>,
    /// Time unit of GT's schedule, in seconds.
    pub time_unit: Option<f64>,
}

impl StrategyOptions {
    /// Parses and checks the options; the error names the option.
    pub fn parse(options_json: &str) -> Result<Self, String> {
        if options_json.trim().is_empty() {
            return Ok(Self::default());
        }
        let options: StrategyOptions =
            serde_json::from_str(options_json).map_err(|e| format!("strategy options: {e}"))?;
        for (name, value, ok) in [
            ("eta", options.eta, options.eta.is_none_or(|v| v > 0.0)),
            (
                "init_eps",
                options.init_eps,
                options.init_eps.is_none_or(|v| (0.0..=1.0).contains(&v)),
            ),
            (
                "decay_factor",
                options.decay_factor,
                options.decay_factor.is_none_or(|v| v > 0.0 && v <= 1.0),
            ),
            (
                "time_unit",
                options.time_unit,
                options.time_unit.is_none_or(|v| v > 0.0),
            ),
        ] {
            if !ok || value.is_some_and(|v| !v.is_finite()) {
                return Err(format!(
                    "strategy option '{name}' = {} is out of range",
                    value.unwrap_or_default()
                ));
            }
        }
        Ok(options)
    }
}

impl Plugin for BanditPlugin {
    fn describe() -> PluginDescription {
        PluginDescription {
            name: "bandit".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Diversification strategies: which arm proposes next".into(),
            arms: vec![],
            strategies: STRATEGIES.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn validate(kind: ComponentKind, name: &str, options_json: &str) -> Result<(), String> {
        if kind != ComponentKind::Strategy || !STRATEGIES.contains(&name) {
            return Err(format!("the bandit plugin has no {kind:?} named '{name}'"));
        }
        StrategyOptions::parse(options_json).map(|_| ())
    }

    fn open_strategy(config: StrategyConfig) -> Result<Box<dyn StrategySession>, String> {
        StrategyOptions::parse(&config.options_json)?;
        let arms = config.arm_names.len();
        if arms == 0 {
            return Err("a strategy needs at least one arm".into());
        }
        match config.name.as_str() {
            "SEQ" => Ok(Box::new(Sequential { arms, next: 0 })),
            "RANDOM" => Ok(Box::new(RandomOrder {
                arms,
                seed: config.seed,
                draws: 0,
            })),
            other => Err(format!(
                "the bandit plugin has no strategy '{other}' (it has {})",
                STRATEGIES.join(", ")
            )),
        }
    }
}

/// Arms not suspended, in index order.
fn active_arms(request: &SelectRequest, arms: usize) -> Vec<u32> {
    (0..arms as u32)
        .filter(|&i| request.stats.get(i as usize).is_none_or(|s| !s.suspended))
        .collect()
}

/// Round robin.
struct Sequential {
    arms: usize,
    next: usize,
}

#[derive(Serialize, Deserialize)]
struct SequentialState {
    next: usize,
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
        serde_json::to_vec(&SequentialState { next: self.next }).map_err(|e| e.to_string())
    }

    fn restore(&mut self, state: &[u8]) -> Result<(), String> {
        let s: SequentialState =
            serde_json::from_slice(state).map_err(|e| format!("SEQ state: {e}"))?;
        self.next = s.next % self.arms;
        Ok(())
    }
}

/// A fresh random order every iteration. The generator for draw `k` is derived from the
/// seed and `k`, so the state is just the draw count.
struct RandomOrder {
    arms: usize,
    seed: u64,
    draws: u64,
}

#[derive(Serialize, Deserialize)]
struct RandomOrderState {
    draws: u64,
}

impl StrategySession for RandomOrder {
    fn select(&mut self, request: SelectRequest) -> Result<Vec<u32>, String> {
        let mut ranking = active_arms(&request, self.arms);
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(self.draws);
        ranking.shuffle(&mut rng);
        self.draws += 1;
        Ok(ranking)
    }

    fn update(&mut self, _feedback: Feedback) -> Result<(), String> {
        Ok(())
    }

    fn snapshot(&mut self) -> Result<Vec<u8>, String> {
        serde_json::to_vec(&RandomOrderState { draws: self.draws }).map_err(|e| e.to_string())
    }

    fn restore(&mut self, state: &[u8]) -> Result<(), String> {
        let s: RandomOrderState =
            serde_json::from_slice(state).map_err(|e| format!("RANDOM state: {e}"))?;
        self.draws = s.draws;
        Ok(())
    }
}

hpo_plugin_api::export_plugin!(BanditPlugin);

#[cfg(test)]
mod tests {
    use super::*;
    use hpo_plugin_api::types::ArmStat;

    fn open(name: &str, arms: usize) -> Box<dyn StrategySession> {
        BanditPlugin::open_strategy(StrategyConfig {
            name: name.into(),
            arm_names: (0..arms).map(|i| format!("A{i}/EI")).collect(),
            options_json: r#"{"eta": 1.0}"#.into(),
            seed: 42,
        })
        .unwrap()
    }

    fn request(suspended: &[usize], arms: usize) -> SelectRequest {
        SelectRequest {
            iteration: 0,
            elapsed: 0.0,
            stats: (0..arms)
                .map(|i| ArmStat {
                    suspended: suspended.contains(&i),
                    ..ArmStat::default()
                })
                .collect(),
        }
    }

    fn run(s: &mut dyn StrategySession, steps: usize, suspended: &[usize]) -> Vec<u32> {
        (0..steps)
            .map(|_| {
                let chosen = s.select(request(suspended, 3)).unwrap()[0];
                s.update(Feedback {
                    chosen,
                    ..Feedback::default()
                })
                .unwrap();
                chosen
            })
            .collect()
    }

    #[test]
    fn seq_is_round_robin_and_skips_suspended_arms() {
        assert_eq!(
            run(open("SEQ", 3).as_mut(), 7, &[]),
            vec![0, 1, 2, 0, 1, 2, 0]
        );
        assert_eq!(run(open("SEQ", 3).as_mut(), 5, &[1]), vec![0, 2, 0, 2, 0]);
    }

    #[test]
    fn seq_continues_after_the_arm_actually_used() {
        let mut s = open("SEQ", 3);
        assert_eq!(s.select(request(&[], 3)).unwrap(), vec![0, 1, 2]);
        // The host fell back to arm 1 because arm 0 failed.
        s.update(Feedback {
            chosen: 1,
            ..Feedback::default()
        })
        .unwrap();
        assert_eq!(s.select(request(&[], 3)).unwrap(), vec![2, 0, 1]);
    }

    #[test]
    fn random_ranks_every_active_arm_once_and_is_seeded() {
        let a = run(open("RANDOM", 3).as_mut(), 50, &[2]);
        let b = run(open("RANDOM", 3).as_mut(), 50, &[2]);
        assert_eq!(a, b);
        assert!(a.iter().all(|&i| i < 2));
        assert!(a.contains(&0) && a.contains(&1));
        let mut s = open("RANDOM", 3);
        let mut r = s.select(request(&[], 3)).unwrap();
        r.sort();
        assert_eq!(r, vec![0, 1, 2]);
    }

    #[test]
    fn snapshot_restores_the_position() {
        let mut s = open("RANDOM", 3);
        run(s.as_mut(), 5, &[]);
        let state = s.snapshot().unwrap();
        let next = run(s.as_mut(), 5, &[]);
        let mut t = open("RANDOM", 3);
        t.restore(&state).unwrap();
        assert_eq!(run(t.as_mut(), 5, &[]), next);
    }

    #[test]
    fn options_are_typed_and_checked() {
        let err = StrategyOptions::parse(r#"{"etta": 1}"#).unwrap_err();
        assert!(err.contains("etta"), "{err}");
        let err = StrategyOptions::parse(r#"{"init_eps": 2}"#).unwrap_err();
        assert!(err.contains("init_eps"), "{err}");
        assert!(StrategyOptions::parse(r#"{"eta": "x"}"#).is_err());
    }
}
