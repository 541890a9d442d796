//! What a plugin author implements: one [`Plugin`] with its sessions, in ordinary Rust.
//!
//! [`crate::export_plugin!`] turns the implementation into an abi_stable root module on
//! native targets and into component-model exports on `wasm32-wasip2`.
//!
//! ```ignore
//! struct MyPlugin;
//! impl hpo_plugin_api::sdk::Plugin for MyPlugin {
//!     fn describe() -> PluginDescription { /* name, version, arms */ }
//!     fn open_arm(config: ArmConfig) -> Result<Box<dyn ArmSession>, String> { /* ... */ }
//! }
//! hpo_plugin_api::export_plugin!(MyPlugin);
//! ```

use crate::types::{
    ArmConfig, Assignment, ComponentKind, Curve, Decision, Feedback, Job, Matrix, Observations,
    PluginDescription, Prediction, ProposeRequest, Proposed, RuleConfig, SelectRequest,
    StrategyConfig,
};

/// A plugin: a set of arms and/or strategies. All functions are associated (no `self`):
/// state lives in the sessions.
pub trait Plugin: 'static {
    /// Name, version, arms and strategies of the plugin.
    fn describe() -> PluginDescription;

    /// Checks options before a run starts; the error names the offending option.
    fn validate(kind: ComponentKind, name: &str, options_json: &str) -> Result<(), String> {
        let _ = (kind, name, options_json);
        Ok(())
    }

    /// Opens a model session for one run.
    fn open_arm(config: ArmConfig) -> Result<Box<dyn ArmSession>, String> {
        Err(format!("this plugin has no model '{}'", config.model))
    }

    /// Opens a strategy session for one run.
    fn open_strategy(config: StrategyConfig) -> Result<Box<dyn StrategySession>, String> {
        Err(format!("this plugin has no strategy '{}'", config.name))
    }

    /// Checks a stopper's options before a run starts (API 1.2); the error names the
    /// offending option.
    fn validate_stopper(name: &str, options_json: &str) -> Result<(), String> {
        let _ = (name, options_json);
        Ok(())
    }

    /// Opens a stopper session for one run (API 1.2).
    fn open_stopper(config: RuleConfig) -> Result<Box<dyn StopperSession>, String> {
        Err(format!("this plugin has no stopper '{}'", config.name))
    }

    /// Checks a scheduler's options before a run starts (API 1.2); the error names the
    /// offending option.
    fn validate_scheduler(name: &str, options_json: &str) -> Result<(), String> {
        let _ = (name, options_json);
        Ok(())
    }

    /// What the next free worker runs (API 1.2): a new configuration at some budget, or the
    /// promotion of a completed job's configuration to a larger one. A pure function of
    /// `jobs` (every job so far, in trial order, pending ones included) and the settings,
    /// so a resumed run schedules exactly as before.
    fn schedule(config: RuleConfig, jobs: Vec<Job>) -> Result<Assignment, String> {
        let _ = jobs;
        Err(format!("this plugin has no scheduler '{}'", config.name))
    }
}

/// A model session: told observations incrementally, asked for proposals.
pub trait ArmSession: Send {
    /// Gives the candidate pool (encoded, one row each); may be empty.
    fn set_pool(&mut self, pool: Matrix) -> Result<(), String>;
    /// Appends observations to the history.
    fn tell(&mut self, observations: Observations) -> Result<(), String>;
    /// Proposes `request.n` points.
    fn propose(&mut self, request: ProposeRequest) -> Result<Vec<Proposed>, String>;
    /// The model's mean and variance at `points`.
    fn predict(&mut self, points: Matrix) -> Result<Prediction, String> {
        let _ = points;
        Err("this model does not predict".to_string())
    }
    /// The session's state, for `--resume`. By default none: a session that is a function
    /// of its history and seed needs none, as the host replays the history into it.
    fn snapshot(&mut self) -> Result<Vec<u8>, String> {
        Ok(Vec::new())
    }
    /// Restores a state written by [`ArmSession::snapshot`]. By default nothing to restore.
    fn restore(&mut self, state: &[u8]) -> Result<(), String> {
        let _ = state;
        Ok(())
    }
}

/// A strategy session: picks the arm of each iteration.
pub trait StrategySession: Send {
    /// Whether the host should collect every arm's nominee and report gains (BO-HEDGE).
    fn wants_nominations(&self) -> bool {
        false
    }
    /// Arm indices, best first; the host falls back down the ranking when an arm fails.
    fn select(&mut self, request: SelectRequest) -> Result<Vec<u32>, String>;
    /// Reports the outcome of the last selection.
    fn update(&mut self, feedback: Feedback) -> Result<(), String>;
    /// The session's state, for `--resume`. By default none: a session that is a function
    /// of its history and seed needs none, as the host replays the history into it.
    fn snapshot(&mut self) -> Result<Vec<u8>, String> {
        Ok(Vec::new())
    }
    /// Restores a state written by [`StrategySession::snapshot`]. By default nothing to restore.
    fn restore(&mut self, state: &[u8]) -> Result<(), String> {
        let _ = state;
        Ok(())
    }
}

/// A stopper session (API 1.2): decides, report by report, whether a trial goes on, knowing
/// the curves of the trials that ended. It needs no snapshot: on resume the host tells it
/// the ended trials' curves again, in the same order.
pub trait StopperSession: Send {
    /// Continue or stop the trial whose curve so far is `curve` (its last report is new).
    fn decide(&mut self, curve: Curve) -> Result<Decision, String>;
    /// Records the curve of a trial that ended (completed, or stopped: `curve.terminated`).
    fn finish(&mut self, curve: Curve) -> Result<(), String>;
}

/// An arm that is a function of the pool, the history and the request: implement
/// `propose` alone and open it as `KeepHistory::boxed(arm)`, which keeps the pool and the
/// history for it (and needs no snapshot: the host replays the history on resume).
pub trait HistoryArm: Send + 'static {
    /// Proposes `request.n` points knowing the `pool` and every observation `seen`.
    fn propose(
        &mut self,
        pool: &Matrix,
        seen: &Observations,
        request: ProposeRequest,
    ) -> Result<Vec<Proposed>, String>;
}

/// The session of a [`HistoryArm`]: keeps its pool and history.
pub struct KeepHistory<A> {
    arm: A,
    pool: Matrix,
    seen: Observations,
}

impl<A: HistoryArm> KeepHistory<A> {
    /// The session of `arm`, boxed for [`Plugin::open_arm`].
    pub fn boxed(arm: A) -> Box<dyn ArmSession> {
        Box::new(KeepHistory {
            arm,
            pool: Matrix::default(),
            seen: Observations::default(),
        })
    }
}

impl<A: HistoryArm> ArmSession for KeepHistory<A> {
    fn set_pool(&mut self, pool: Matrix) -> Result<(), String> {
        self.pool = pool;
        Ok(())
    }

    fn tell(&mut self, observations: Observations) -> Result<(), String> {
        self.seen.extend(&observations);
        Ok(())
    }

    fn propose(&mut self, request: ProposeRequest) -> Result<Vec<Proposed>, String> {
        self.arm.propose(&self.pool, &self.seen, request)
    }
}

/// The squared Euclidean distance of two encoded points.
pub fn squared_distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Parses a plugin's options (JSON; empty means `{}`) into `T`. With
/// `#[serde(deny_unknown_fields)]` on `T`, an unknown option is refused with its name, as
/// the host's conformance kit checks.
pub fn parse_options<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, String> {
    let json = if json.trim().is_empty() { "{}" } else { json };
    serde_json::from_str(json).map_err(|e| format!("options: {e}"))
}

/// SplitMix64: a small seeded generator for plugins (the sandbox has no host randomness;
/// use the seeds the host gives).
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform draw in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A uniform draw in `[low, high)`.
    pub fn uniform(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * self.unit()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_matches_the_reference_sequence() {
        // Vigna's splitmix64.c from seed 0: the first output.
        assert_eq!(SplitMix64::new(0).next_u64(), 0xE220_A839_7B1D_CDAF);
        let u = SplitMix64::new(7).unit();
        assert!((0.0..1.0).contains(&u));
    }

    #[test]
    fn options_name_the_unknown_field() {
        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        struct O {
            #[serde(default)]
            _radius: f64,
        }
        assert!(parse_options::<O>("").is_ok());
        let e = parse_options::<O>(r#"{"radios": 1}"#).unwrap_err();
        assert!(e.contains("radios"), "{e}");
    }
}
