//! Strategies: the bandit that picks, trial by trial, which arm proposes. Its session
//! ([`open`], [`StrategySession`]), the credit it gets
//! for a trial ([`Credit`], scale-free) and BO-HEDGE's nominations ([`nomination_gains`]).
//!
//! Invariant: a strategy learns only rewards in one declared unit (higher is better, the
//! same whatever the objective's scale), and its state after every update is kept with the
//! trial, so a resumed run continues where it was.

mod credit;
mod nominations;
mod session;

pub use credit::Credit;
pub use nominations::{Nominee, nomination_gains};
pub use session::StrategySession;

use hpo_plugin_api::types::StrategyConfig;

use crate::config::RunConfig;
use crate::loader::SessionError;
use crate::registry::{HostError, Loaded, ProviderError, resolve_strategy};

/// Why a run's strategy cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum StrategyError {
    /// No plugin serves the strategy.
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// Its plugin could not be loaded.
    #[error(transparent)]
    Host(#[from] HostError),
    /// Its session could not be opened.
    #[error(transparent)]
    Session(#[from] SessionError),
}

/// The session of strategy `name` over `arm_names`, with the options of `config`.
pub fn open(
    loaded: &mut Loaded<'_>,
    name: &str,
    arm_names: &[String],
    config: &RunConfig,
    seed: u64,
) -> Result<StrategySession, StrategyError> {
    let plugin = loaded.get(&resolve_strategy(loaded.host(), name)?)?;
    let session = StrategySession::open(
        &plugin,
        StrategyConfig {
            name: name.to_string(),
            arm_names: arm_names.to_vec(),
            options_json: config.strategy_options().to_string(),
            seed,
        },
    )?;
    Ok(session)
}
