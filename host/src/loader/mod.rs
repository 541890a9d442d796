//! Loads plugins and hides which backend serves them.
//!
//! Invariant: nothing above this module knows native from wasm. [`load_plugin`] returns a
//! [`Plugin`]: its info plus a [`PluginBackend`], which opens sessions behind the
//! [`ArmBackend`] and [`StrategyBackend`] traits. [`Recovering`] (reopening a dead session)
//! serves the sessions of both kinds above them (`crate::arms`, `crate::strategies`), which
//! also validate every output, once for both backends.

mod native;
mod recovering;
mod wasm;

use std::path::Path;

use hpo_plugin_api::types::{
    ArmConfig, Assignment, ComponentKind, Curve, Decision, Feedback, Job, Matrix, Observations,
    PluginInfo, Prediction, ProposeRequest, Proposed, RuleConfig, SelectRequest, StrategyConfig,
};
use hpo_registry::{Limits, PluginKind};

pub use recovering::{Recovering, SessionError, SharedPlugin, lock, share};
pub use wasm::{WasmLimits, WasmRuntime};

/// An error from a plugin call or a plugin load.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PluginError {
    /// The plugin returned an error value; the session is still usable.
    #[error("{0}")]
    Failed(String),
    /// The instance is dead (wasm trap, deadline, memory limit; native panic); the
    /// session must be reopened.
    #[error("{0}")]
    Poisoned(String),
    /// The session's instance was replaced after *another* session of the same plugin
    /// killed it (a sibling arm's trap): this session did nothing wrong and is reopened
    /// transparently.
    #[error("{0}")]
    Stale(String),
    /// The plugin's output broke the contract (wrong length, NaN, index out of range).
    #[error("malformed output: {0}")]
    Malformed(String),
    /// The artifact could not be loaded.
    #[error("{0}")]
    Load(String),
}

impl PluginError {
    /// Whether the instance behind the session must be dropped and the session reopened.
    pub fn is_poisoning(&self) -> bool {
        matches!(self, PluginError::Poisoned(_) | PluginError::Stale(_))
    }
}

/// Result of a plugin call.
pub type PluginResult<T> = Result<T, PluginError>;

/// A loaded plugin, whichever its backend.
pub trait PluginBackend: Send {
    /// Checks options before a run starts.
    fn validate(&mut self, kind: ComponentKind, name: &str, options_json: &str)
    -> PluginResult<()>;
    /// Opens a model session.
    fn open_arm(&mut self, config: &ArmConfig) -> PluginResult<Box<dyn ArmBackend>>;
    /// Opens a strategy session.
    fn open_strategy(&mut self, config: &StrategyConfig) -> PluginResult<Box<dyn StrategyBackend>>;
    /// The stoppers the plugin offers (none for plugins built against API 1.0 or 1.1).
    fn stoppers(&mut self) -> PluginResult<Vec<String>>;
    /// Checks a stopper's options before a run starts.
    fn validate_stopper(&mut self, name: &str, options_json: &str) -> PluginResult<()>;
    /// Opens a stopper session.
    fn open_stopper(&mut self, config: &RuleConfig) -> PluginResult<Box<dyn StopperBackend>>;
    /// The schedulers the plugin offers (none for plugins built against API 1.0 or 1.1).
    fn schedulers(&mut self) -> PluginResult<Vec<String>>;
    /// Checks a scheduler's options before a run starts.
    fn validate_scheduler(&mut self, name: &str, options_json: &str) -> PluginResult<()>;
    /// The next assignment of a scheduler, from every job so far.
    fn schedule(&mut self, config: &RuleConfig, jobs: &[Job]) -> PluginResult<Assignment>;
}

/// A stopper session, whichever its backend.
pub trait StopperBackend: Send {
    /// Continue or stop a trial, from its curve so far.
    fn decide(&mut self, curve: &Curve) -> PluginResult<Decision>;
    /// Records an ended trial's curve.
    fn finish(&mut self, curve: &Curve) -> PluginResult<()>;
}

/// The error of a stopper or scheduler call to a plugin built before they existed.
fn no_stopping_module(api_version: &str) -> PluginError {
    PluginError::Failed(format!(
        "the plugin was built against API {api_version}, which has no stoppers or schedulers \
         (API 1.2 added them)"
    ))
}

/// A model session, whichever its backend.
pub trait ArmBackend: Send {
    /// Gives the candidate pool.
    fn set_pool(&mut self, pool: &Matrix) -> PluginResult<()>;
    /// Appends observations.
    fn tell(&mut self, observations: &Observations) -> PluginResult<()>;
    /// Asks for proposals.
    fn propose(&mut self, request: &ProposeRequest) -> PluginResult<Vec<Proposed>>;
    /// Asks for the model's prediction.
    fn predict(&mut self, points: &Matrix) -> PluginResult<Prediction>;
    /// The session's state.
    fn snapshot(&mut self) -> PluginResult<Vec<u8>>;
    /// Restores a state.
    fn restore(&mut self, state: &[u8]) -> PluginResult<()>;
}

/// A strategy session, whichever its backend.
pub trait StrategyBackend: Send {
    /// Whether the host should collect nominations and report gains.
    fn wants_nominations(&mut self) -> PluginResult<bool>;
    /// Arm indices, best first.
    fn select(&mut self, request: &SelectRequest) -> PluginResult<Vec<u32>>;
    /// Reports the outcome of the last selection.
    fn update(&mut self, feedback: &Feedback) -> PluginResult<()>;
    /// The session's state.
    fn snapshot(&mut self) -> PluginResult<Vec<u8>>;
    /// Restores a state.
    fn restore(&mut self, state: &[u8]) -> PluginResult<()>;
}

/// A loaded plugin: what it says about itself and the backend serving it.
pub struct Plugin {
    /// The plugin's own description (its API version already checked).
    pub info: PluginInfo,
    /// The stoppers it offers (API 1.2; none for older plugins).
    pub stoppers: Vec<String>,
    /// The schedulers it offers (API 1.2; none for older plugins).
    pub schedulers: Vec<String>,
    /// Native or wasm.
    pub kind: PluginKind,
    /// The backend.
    pub backend: Box<dyn PluginBackend>,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("info", &self.info)
            .field("stoppers", &self.stoppers)
            .field("schedulers", &self.schedulers)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// How to load one artifact.
#[derive(Debug, Clone, Copy)]
pub struct LoadOptions<'a> {
    /// Native or wasm.
    pub kind: PluginKind,
    /// Wasm limits from the registry entry (ignored for native plugins).
    pub limits: Option<Limits>,
    /// A `.cwasm` the host compiled and checksummed itself, if any.
    pub precompiled: Option<&'a Path>,
}

/// Guesses the kind of an artifact from its file name.
pub fn kind_of(path: &Path) -> Option<PluginKind> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("wasm") => Some(PluginKind::Wasm),
        Some("so") | Some("dylib") | Some("dll") => Some(PluginKind::Native),
        _ => None,
    }
}

/// Loads the artifact at `path` and checks its API version against the host's.
///
/// The caller has verified the artifact's checksum (see `hpo_registry`).
pub fn load_plugin(
    path: &Path,
    options: LoadOptions<'_>,
    runtime: &WasmRuntime,
) -> Result<Plugin, PluginError> {
    let (info, mut backend): (PluginInfo, Box<dyn PluginBackend>) = match options.kind {
        PluginKind::Native => native::load(path)?,
        PluginKind::Wasm => {
            let limits = WasmLimits::from_registry(options.limits);
            runtime.load(path, options.precompiled, limits)?
        }
    };
    hpo_registry::check_api_compatible(hpo_plugin_api::API_VERSION, &info.api_version)
        .map_err(|e| PluginError::Load(format!("{}: {e}", path.display())))?;
    if info.name.trim().is_empty() {
        return Err(PluginError::Load(format!(
            "{}: the plugin reports an empty name",
            path.display()
        )));
    }
    let stoppers = backend
        .stoppers()
        .map_err(|e| PluginError::Load(format!("{}: stoppers failed: {e}", path.display())))?;
    let schedulers = backend
        .schedulers()
        .map_err(|e| PluginError::Load(format!("{}: schedulers failed: {e}", path.display())))?;
    Ok(Plugin {
        info,
        stoppers,
        schedulers,
        kind: options.kind,
        backend,
    })
}
