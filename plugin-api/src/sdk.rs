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
    ArmConfig, ComponentKind, Feedback, Matrix, Observations, PluginDescription, Prediction,
    ProposeRequest, Proposed, SelectRequest, StrategyConfig,
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
