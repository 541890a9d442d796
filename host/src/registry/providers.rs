//! Which installed plugin provides an arm, a strategy or a stopper.

use super::PluginHost;
use crate::config::ArmRef;

/// No plugin (or several) provides what a run asks for; the error lists what is installed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProviderError {
    /// No installed plugin serves an arm.
    #[error("no installed plugin provides the arm {arm} (installed arms: {installed})")]
    NoArm {
        /// The arm, with its plugin qualifier.
        arm: String,
        /// What is installed.
        installed: String,
    },
    /// Several installed plugins serve an arm.
    #[error("the arm {arm} is provided by several plugins ({plugins}): add \"plugin\" to the arm")]
    Ambiguous {
        /// The arm.
        arm: String,
        /// The plugins.
        plugins: String,
    },
    /// No installed plugin serves a strategy.
    #[error("no installed plugin provides the strategy {strategy} (installed: {installed})")]
    NoStrategy {
        /// The strategy.
        strategy: String,
        /// What is installed.
        installed: String,
    },
    /// No installed plugin serves an early-termination rule.
    #[error(
        "no installed plugin provides the early-termination rule {stopper} (installed: {installed}, or NONE)"
    )]
    NoRule {
        /// The rule.
        stopper: String,
        /// What is installed.
        installed: String,
    },
}

/// Finds the plugin serving each arm (the `plugin` qualifier, else the one registered
/// plugin that lists it); the error lists what is installed.
pub fn resolve_arms(host: &PluginHost, arms: &[ArmRef]) -> Result<Vec<String>, ProviderError> {
    let registry = host.registry();
    arms.iter()
        .map(|arm| {
            let name = arm.name();
            let providers: Vec<&str> = registry
                .plugins()
                .iter()
                .filter(|p| p.arms.contains(&name))
                .filter(|p| arm.plugin.as_deref().is_none_or(|want| want == p.name))
                .map(|p| p.name.as_str())
                .collect();
            match providers.as_slice() {
                [one] => Ok(one.to_string()),
                [] => Err(ProviderError::NoArm {
                    arm: format!(
                        "{name}{}",
                        arm.plugin
                            .as_deref()
                            .map(|p| format!(" from plugin '{p}'"))
                            .unwrap_or_default()
                    ),
                    installed: installed_list(
                        registry
                            .plugins()
                            .iter()
                            .flat_map(|p| p.arms.iter().map(move |a| format!("{a} ({})", p.name)))
                            .collect(),
                    ),
                }),
                many => Err(ProviderError::Ambiguous {
                    arm: name,
                    plugins: many.join(", "),
                }),
            }
        })
        .collect()
}

/// "none", or the installed names joined.
fn installed_list(names: Vec<String>) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// Finds the plugin serving a strategy.
pub fn resolve_strategy(host: &PluginHost, strategy: &str) -> Result<String, ProviderError> {
    let plugins = host.registry().plugins();
    plugins
        .iter()
        .find(|p| p.strategies.iter().any(|s| s == strategy))
        .map(|p| p.name.clone())
        .ok_or_else(|| ProviderError::NoStrategy {
            strategy: strategy.to_string(),
            installed: installed_list(
                plugins
                    .iter()
                    .flat_map(|p| p.strategies.iter().cloned())
                    .collect(),
            ),
        })
}

/// The two kinds of early-termination rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleKind {
    /// Stops trials from their interim reports.
    Stopper,
    /// Sets each trial's budget and promotes configurations (multi-fidelity).
    Scheduler,
}

/// An early-termination rule found in the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleRef {
    /// The plugin serving it.
    pub plugin: String,
    /// Its name as the plugin spells it.
    pub name: String,
    /// Stopper or scheduler.
    pub kind: RuleKind,
}

/// Finds the plugin serving an early-termination rule, a stopper or a scheduler (names are
/// matched ignoring case: the seed wrote `DecaTercet`, users type `decatercet`).
pub fn resolve_rule(host: &PluginHost, rule: &str) -> Result<RuleRef, ProviderError> {
    let plugins = host.registry().plugins();
    let found = |names: &[String]| names.iter().find(|s| s.eq_ignore_ascii_case(rule)).cloned();
    plugins
        .iter()
        .find_map(|p| {
            let rule_ref = |name, kind| RuleRef {
                plugin: p.name.clone(),
                name,
                kind,
            };
            found(&p.stoppers)
                .map(|name| rule_ref(name, RuleKind::Stopper))
                .or_else(|| found(&p.schedulers).map(|name| rule_ref(name, RuleKind::Scheduler)))
        })
        .ok_or_else(|| ProviderError::NoRule {
            stopper: rule.to_string(),
            installed: installed_list(
                plugins
                    .iter()
                    .flat_map(|p| p.stoppers.iter().chain(&p.schedulers).cloned())
                    .collect(),
            ),
        })
}
