//! What one run does: its arms, its strategy, the run configuration and the expiry; a plan
//! from a bench or regret entry; the check of a plan before anything is written.

use hpo_plugin_api::types::ComponentKind;

use super::{ExperimentError, Expiry};
use crate::arms::{OptionsError, arm_options};
use crate::config::{ArmRef, RunConfig};
use crate::registry::{PluginHost, RuleKind, resolve_arms, resolve_rule, resolve_strategy};

/// What a run does.
#[derive(Debug, Clone)]
pub struct RunPlan {
    /// The arms, in order.
    pub arms: Vec<ArmRef>,
    /// The strategy, when there are several arms (`SEQ`, `RANDOM`, ...).
    pub strategy: Option<String>,
    /// The run configuration (options, pool settings).
    pub config: RunConfig,
    /// When to stop.
    pub expiry: Expiry,
}

/// The plan of a bench or regret entry: `DIV/<STRATEGY>` (the strategy over the run
/// configuration's arms) or `MODEL/ACQ` (one arm).
pub fn plan_of(
    entry: &str,
    config: &RunConfig,
    expiry: Expiry,
) -> Result<RunPlan, ExperimentError> {
    let (arms, strategy) = match entry.split_once('/') {
        Some(("DIV", spec)) if !spec.is_empty() => {
            if config.arms.is_empty() {
                return Err(ExperimentError::NoArmsFor(entry.to_string()));
            }
            (config.arms.clone(), Some(spec.to_string()))
        }
        Some(("DIV", _)) => return Err(ExperimentError::BadEntry(entry.to_string())),
        _ => {
            let arm: ArmRef = entry
                .parse()
                .map_err(|_| ExperimentError::BadEntry(entry.to_string()))?;
            (vec![arm], None)
        }
    };
    Ok(RunPlan {
        arms,
        strategy,
        config: config.clone(),
        expiry,
    })
}

/// Checks a plan before anything is written: every arm and the strategy have a plugin,
/// and each plugin accepts the options its arm or strategy receives (a misspelled option or
/// a bad value fails here, not in the middle of the first run). Returns the plugin serving
/// each arm.
pub fn check_plan(host: &PluginHost, plan: &RunPlan) -> Result<Vec<String>, ExperimentError> {
    let providers = resolve_arms(host, &plan.arms)?;
    if let Some(strategy) = &plan.strategy {
        let plugin = resolve_strategy(host, strategy)?;
        let options = plan.config.strategy_options().to_string();
        validate_strategy(host, &plugin, strategy, &options)?;
    }
    let rule = match plan.config.early_stop() {
        Some(rule) => Some(validate_rule(host, rule, &plan.config)?),
        None => None,
    };
    // `budgets` says what the models of a scheduled run learn: never accepted and ignored.
    if let Some(budgets) = &plan.config.budgets
        && rule != Some(RuleKind::Scheduler)
    {
        return Err(ExperimentError::BudgetsWithoutScheduler(budgets.clone()));
    }
    for name in plan.config.plugins.keys() {
        if host.registry().get(name).is_err() {
            return Err(ExperimentError::UnknownSection(name.clone()));
        }
    }
    let mut checked: Vec<(&str, &str)> = Vec::new();
    let mut read: Vec<&str> = Vec::new();
    for (arm, plugin) in plan.arms.iter().zip(&providers) {
        if checked.contains(&(plugin.as_str(), arm.model.as_str())) {
            continue;
        }
        let mut loaded = host.load(plugin)?;
        read.extend(arm_options(loaded.backend.as_mut(), plugin, arm, &plan.config)?.reads);
        checked.push((plugin, &arm.model));
    }
    // A run-wide option is read by one of the run's arms, or refused: never ignored.
    if let Some(unread) = plan
        .config
        .run_wide()
        .into_iter()
        .find(|o| !o.is_neutral() && !read.contains(&o.key))
    {
        return Err(ExperimentError::OptionNotRead {
            key: unread.key,
            value: match unread.value {
                serde_json::Value::String(text) => text,
                other => other.to_string(),
            },
        });
    }
    Ok(providers)
}

/// Asks `plugin` whether its strategy `name` accepts `options` (JSON). (An arm's options
/// are checked by [`arm_options`], which also finds the run-wide options it reads.)
fn validate_strategy(
    host: &PluginHost,
    plugin: &str,
    name: &str,
    options: &str,
) -> Result<(), ExperimentError> {
    let mut loaded = host.load(plugin)?;
    loaded
        .backend
        .validate(ComponentKind::Strategy, name, options)
        .map_err(|e| OptionsError {
            plugin: plugin.to_string(),
            what: "strategy",
            name: name.to_string(),
            reason: e.to_string(),
        })?;
    Ok(())
}

/// Asks the plugin serving early-termination rule `rule` (a stopper or a scheduler)
/// whether it accepts its options (its section of the run configuration).
fn validate_rule(
    host: &PluginHost,
    rule: &str,
    config: &RunConfig,
) -> Result<RuleKind, ExperimentError> {
    let rule = resolve_rule(host, rule)?;
    let options = config.plugin_options(&rule.plugin).to_string();
    let mut loaded = host.load(&rule.plugin)?;
    let (what, verdict) = match rule.kind {
        RuleKind::Stopper => (
            "stopper",
            loaded.backend.validate_stopper(&rule.name, &options),
        ),
        RuleKind::Scheduler => (
            "scheduler",
            loaded.backend.validate_scheduler(&rule.name, &options),
        ),
    };
    verdict.map_err(|e| OptionsError {
        plugin: rule.plugin.clone(),
        what,
        name: rule.name,
        reason: e.to_string(),
    })?;
    Ok(rule.kind)
}
