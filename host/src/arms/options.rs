//! The options an arm's plugin receives: its own section of the run configuration, plus
//! each run-wide option (`time_penalty`, `alpha`) that the plugin reads. Which plugins read
//! a run-wide option is the plugins' to say, through `validate`; the host names none.

use serde_json::Value;

use hpo_plugin_api::types::ComponentKind;

use crate::config::{ArmRef, RunConfig};
use crate::loader::PluginBackend;

/// A plugin refused the options of an arm or a strategy.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("plugin '{plugin}', {what} '{name}': {reason}")]
pub struct OptionsError {
    /// The plugin.
    pub plugin: String,
    /// "arm" or "strategy".
    pub what: &'static str,
    /// The arm (`MODEL/ACQ`) or the strategy.
    pub name: String,
    /// Why.
    pub reason: String,
}

/// An arm plugin's options and the run-wide options among them.
#[derive(Debug, Clone, PartialEq)]
pub struct ArmOptions {
    /// The options, as JSON.
    pub json: String,
    /// The run-wide options the plugin reads.
    pub reads: Vec<&'static str>,
}

/// The options `plugin` receives for `arm`: its section, then each run-wide option its
/// section does not set and that the plugin accepts. A plugin that accepts the option's
/// neutral value but refuses the given one reads the option and finds the value wrong: an
/// error. The whole is then validated by the plugin.
pub fn arm_options(
    backend: &mut dyn PluginBackend,
    plugin: &str,
    arm: &ArmRef,
    config: &RunConfig,
) -> Result<ArmOptions, OptionsError> {
    let mut options = config.section(plugin);
    let mut reads = Vec::new();
    let mut accepts = |options: &serde_json::Map<String, Value>| {
        backend.validate(
            ComponentKind::Arm,
            &arm.model,
            &Value::Object(options.clone()).to_string(),
        )
    };
    for run_wide in config.run_wide() {
        if options.contains_key(run_wide.key) {
            continue;
        }
        let mut with = options.clone();
        with.insert(run_wide.key.into(), run_wide.value.clone());
        let refused = match accepts(&with) {
            Ok(()) => {
                options = with;
                reads.push(run_wide.key);
                continue;
            }
            Err(e) => e,
        };
        with.insert(run_wide.key.into(), run_wide.neutral.clone());
        if accepts(&with).is_ok() {
            return Err(OptionsError {
                plugin: plugin.to_string(),
                what: "arm",
                name: arm.name(),
                reason: refused.to_string(),
            });
        }
    }
    accepts(&options).map_err(|e| OptionsError {
        plugin: plugin.to_string(),
        what: "arm",
        name: arm.name(),
        reason: e.to_string(),
    })?;
    Ok(ArmOptions {
        json: Value::Object(options).to_string(),
        reads,
    })
}
