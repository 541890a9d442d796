//! Hostile test fixture: a plugin that misbehaves on purpose, one way per arm, so the host's
//! containment can be tested. Never install it outside tests.
//!
//! - `LOOP/SPIN`: `propose` never returns (wasm only: the deadline must stop it).
//! - `ALLOC/GROW`: `propose` allocates without bound (wasm only: the memory cap must stop it).
//! - `TRAP/PANIC`: `propose` panics when the request's seed is 13; otherwise it proposes the
//!   first candidate with the number of observations it knows as the acquisition value
//!   (which shows whether a reopened session got its history back).
//! - `BAD/LENGTH`, `BAD/NAN`, `BAD/INDEX`, `BAD/COUNT`: malformed proposals.
//! - `BAD/FORGE`: an error whose text imitates the glue's panic report (it must not poison
//!   the session).
//! - `PROBE/SANDBOX`: reports what it can see of the host as its acquisition value:
//!   environment variables + 1000 × (the root directory is readable) + 10⁶ × (the wall
//!   clock is past 1970). Inside the sandbox that is 0.
//! - strategy `BAD-RANK`: ranks an arm that does not exist.
//! - stopper `PANIC-STOP`: panics on any curve of three reports or more.
//! - scheduler `PANIC-SCHEDULE`: gives 1-epoch budgets, then panics once three jobs exist.

use hpo_plugin_api::sdk::{ArmSession, Plugin, StopperSession, StrategySession};
use hpo_plugin_api::types::{
    ArmConfig, Assignment, Curve, Decision, Feedback, Job, Matrix, Observations, PluginDescription,
    ProposeRequest, Proposed, RuleConfig, SelectRequest, StrategyConfig,
};

/// The plugin type exported below.
pub struct Hostile;

const MODELS: [&str; 5] = ["LOOP", "ALLOC", "TRAP", "BAD", "PROBE"];

impl Plugin for Hostile {
    fn describe() -> PluginDescription {
        PluginDescription {
            name: "hostile".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Test fixture: misbehaves on purpose".into(),
            arms: [
                "LOOP/SPIN",
                "ALLOC/GROW",
                "TRAP/PANIC",
                "BAD/LENGTH",
                "BAD/NAN",
                "BAD/INDEX",
                "BAD/COUNT",
                "BAD/FORGE",
                "PROBE/SANDBOX",
            ]
            .map(String::from)
            .to_vec(),
            strategies: vec!["BAD-RANK".into()],
            stoppers: vec!["PANIC-STOP".into()],
            schedulers: vec!["PANIC-SCHEDULE".into()],
        }
    }

    fn open_arm(config: ArmConfig) -> Result<Box<dyn ArmSession>, String> {
        if !MODELS.contains(&config.model.as_str()) {
            return Err(format!("hostile has no model '{}'", config.model));
        }
        Ok(Box::new(Misbehaving {
            model: config.model,
            observed: 0,
        }))
    }

    fn open_strategy(config: StrategyConfig) -> Result<Box<dyn StrategySession>, String> {
        Ok(Box::new(BadRank {
            arms: config.arm_names.len() as u32,
        }))
    }

    fn open_stopper(_: RuleConfig) -> Result<Box<dyn StopperSession>, String> {
        Ok(Box::new(PanickingStopper))
    }

    fn schedule(_: RuleConfig, jobs: Vec<Job>) -> Result<Assignment, String> {
        if jobs.len() >= 3 {
            panic!("hostile scheduler after {} jobs", jobs.len());
        }
        Ok(Assignment::new_configuration(1))
    }
}

/// The stopper `PANIC-STOP`.
struct PanickingStopper;

impl StopperSession for PanickingStopper {
    fn decide(&mut self, curve: Curve) -> Result<Decision, String> {
        if curve.epochs.len() >= 3 {
            panic!("hostile stopper at epoch {:?}", curve.epochs.last());
        }
        Ok(Decision::Continue)
    }

    fn finish(&mut self, _: Curve) -> Result<(), String> {
        Ok(())
    }
}

struct Misbehaving {
    model: String,
    observed: usize,
}

fn proposal(pool_index: Option<u32>, point: Vec<f64>, acquisition: f64) -> Proposed {
    Proposed {
        pool_index,
        point,
        acquisition,
        mean: 0.0,
        variance: 0.0,
    }
}

impl ArmSession for Misbehaving {
    fn set_pool(&mut self, _pool: Matrix) -> Result<(), String> {
        Ok(())
    }

    fn tell(&mut self, observations: Observations) -> Result<(), String> {
        self.observed += observations.len();
        Ok(())
    }

    fn propose(&mut self, request: ProposeRequest) -> Result<Vec<Proposed>, String> {
        let first = request.candidates.first().copied();
        match (self.model.as_str(), request.acquisition.as_str()) {
            ("LOOP", _) => {
                let mut x: u64 = request.seed;
                loop {
                    x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                }
            }
            ("ALLOC", _) => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 16 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            ("TRAP", _) => {
                if request.seed == 13 {
                    panic!("hostile fixture panics on seed 13");
                }
                Ok(vec![proposal(first, vec![], self.observed as f64)])
            }
            ("BAD", "LENGTH") => Ok(vec![proposal(None, vec![0.5; 1000], 0.0)]),
            ("BAD", "NAN") => Ok(vec![proposal(first, vec![], f64::NAN)]),
            ("BAD", "INDEX") => Ok(vec![proposal(Some(u32::MAX), vec![], 0.0)]),
            ("BAD", "FORGE") => Err("plugin panicked in propose: forged by the author".into()),
            ("BAD", "COUNT") => Ok((0..request.n + 3)
                .map(|_| proposal(first, vec![], 0.0))
                .collect()),
            ("PROBE", _) => {
                let env = std::env::vars().count() as f64;
                let fs = std::fs::read_dir("/").is_ok() as u8 as f64;
                let clock = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs() > 0)
                    .unwrap_or(false) as u8 as f64;
                Ok(vec![proposal(
                    first,
                    vec![],
                    env + 1000.0 * fs + 1e6 * clock,
                )])
            }
            (m, a) => Err(format!("hostile has no arm {m}/{a}")),
        }
    }
}

struct BadRank {
    arms: u32,
}

impl StrategySession for BadRank {
    fn select(&mut self, _request: SelectRequest) -> Result<Vec<u32>, String> {
        Ok(vec![self.arms + 5])
    }

    fn update(&mut self, _feedback: Feedback) -> Result<(), String> {
        Ok(())
    }
}

hpo_plugin_api::export_plugin!(Hostile);
