//! The `gp` plugin: arms `GP/{EI,PI,UCB}`, `GP-NM/*` (noiseless), `GP-LE/*` and `GP-HLE/*`
//! (the seed's `GP-ALE` is `GP-HLE`).
//!
//! A Gaussian process with a Matérn 5/2 ARD kernel ([`kernel`]), constant mean and noise,
//! on standardized (optionally LE/HLE-transformed) outputs. Hyperparameters are the
//! maximum a posteriori estimate under weak priors ([`hyper`]), found by multi-start
//! L-BFGS ([`optimize`]) on a schedule (every observation while n < 20, then every n/20);
//! in between, the Cholesky factor grows by one row per observation ([`model`]) and the
//! predictions over the pool are updated in O(n·m) ([`pool_cache`]). The acquisition is
//! maximized over the remaining pool, then its best candidates are refined continuously
//! ([`refine`]) when the objective accepts points off the pool. Pending points enter as
//! fantasies at the model's own prediction (the kriging believer; the `liar` option), and
//! the incumbent counts those values; they also count towards the initial design.
//!
//! The fitted state is a pure function of the history and the seed (the schedule depends on
//! n only and each fit starts from the previous one), so a resumed run that replays its
//! history continues exactly.

pub mod hyper;
pub mod kernel;
pub mod lanes;
pub mod model;
pub mod optimize;
pub mod pool_cache;
pub mod refine;
pub mod session;

use hpo_plugin_api::sdk::{ArmSession, Plugin};
use hpo_plugin_api::types::{ArmConfig, ComponentKind, PluginDescription};

pub use session::{GpSession, Options};

/// The plugin type exported below.
pub struct GpPlugin;

/// Models this plugin provides.
pub const MODELS: [&str; 5] = ["GP", "GP-NM", "GP-LE", "GP-HLE", "GP-ALE"];
/// Acquisitions of every model.
pub const ACQUISITIONS: [&str; 3] = ["EI", "PI", "UCB"];

impl Plugin for GpPlugin {
    fn describe() -> PluginDescription {
        PluginDescription {
            name: "gp".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Gaussian process (Matérn 5/2 ARD, MAP hyperparameters) with EI/PI/UCB \
                          (raw, noiseless, LE, HLE outputs)"
                .into(),
            arms: MODELS
                .iter()
                .flat_map(|m| ACQUISITIONS.iter().map(move |a| format!("{m}/{a}")))
                .collect(),
            strategies: vec![],
            stoppers: Vec::new(),
            schedulers: Vec::new(),
        }
    }

    fn validate(kind: ComponentKind, name: &str, options_json: &str) -> Result<(), String> {
        if kind != ComponentKind::Arm || !MODELS.contains(&name) {
            return Err(format!("the gp plugin has no {kind:?} named '{name}'"));
        }
        Options::parse(options_json).map(|_| ())
    }

    fn open_arm(config: ArmConfig) -> Result<Box<dyn ArmSession>, String> {
        if !MODELS.contains(&config.model.as_str()) {
            return Err(format!("the gp plugin has no model '{}'", config.model));
        }
        Ok(Box::new(GpSession::open(config)?))
    }
}

hpo_plugin_api::export_plugin!(GpPlugin);
