//! Strategies: the bandit that picks, trial by trial, which arm proposes. Which plugin serves
//! a strategy ([`resolve_strategy`]), its session ([`StrategySession`]), the credit it gets
//! for a trial ([`Credit`], scale-free) and BO-HEDGE's nominations ([`nomination_gains`]).
//!
//! Invariant: a strategy learns only rewards in one declared unit (higher is better, the
//! same whatever the objective's scale), and its state after every update is kept with the
//! trial, so a resumed run continues where it was.

mod credit;
mod nominations;
mod session;

pub use credit::Credit;
pub use nominations::nomination_gains;
pub use session::StrategySession;

use hpo_plugin_api::types::StrategyConfig;

use crate::arms::installed_list;
use crate::experiment::{ExperimentError, RunPlan};
use crate::registry::{Loaded, PluginHost};

/// Finds the plugin serving a strategy.
pub fn resolve_strategy(host: &PluginHost, strategy: &str) -> Result<String, ExperimentError> {
    let plugins = host.registry().plugins();
    plugins
        .iter()
        .find(|p| p.strategies.iter().any(|s| s == strategy))
        .map(|p| p.name.clone())
        .ok_or_else(|| ExperimentError::NoStrategyProvider {
            strategy: strategy.to_string(),
            installed: installed_list(
                plugins
                    .iter()
                    .flat_map(|p| p.strategies.iter().cloned())
                    .collect(),
            ),
        })
}

/// The strategy session of `plan` over `arm_names`; none for a single arm. Several arms
/// without a strategy are an error.
pub fn open(
    loaded: &mut Loaded<'_>,
    plan: &RunPlan,
    arm_names: &[String],
    seed: u64,
) -> Result<Option<StrategySession>, ExperimentError> {
    let Some(name) = &plan.strategy else {
        if plan.arms.len() > 1 {
            return Err(ExperimentError::NeedsStrategy);
        }
        return Ok(None);
    };
    let plugin = loaded.get(&resolve_strategy(loaded.host(), name)?)?;
    let session = StrategySession::open(
        &plugin,
        StrategyConfig {
            name: name.clone(),
            arm_names: arm_names.to_vec(),
            options_json: plan.config.strategy_options().to_string(),
            seed,
        },
    )?;
    Ok(Some(session))
}
