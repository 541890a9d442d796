//! Run configurations (`run_conf/*.json`, the seed's schema): the arms of a diversified run,
//! the bandit parameters, pool settings and per-plugin options. Unknown keys are errors that
//! name the key's path.

mod duration;
pub(crate) mod strict_json;

pub use duration::{DurationError, MAX_DURATION_SECS, parse_duration};

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The default run configuration, embedded so `hpo run` works from any directory: the
/// seed's arms under SEQ, for tables of error rates.
pub const DEFAULT_RUN_CONF: &str = include_str!("../../../run_conf/arms.json");

/// The default run configuration of any other objective (test functions, training commands):
/// GP, RF and TPE arms under BO-HEDGE, the strongest portfolio measured on objectives whose
/// values are not error rates (docs/PERFORMANCE.md).
pub const DEFAULT_ANY_RUN_CONF: &str = include_str!("../../../run_conf/arms-tpe.json");

/// The largest pool a run configuration may ask for (`num_samples`): 2^20 rows, which
/// every session holds a copy of.
pub const MAX_POOL_SIZE: usize = 1 << 20;

/// An error in a run configuration, naming the file, the key's path and the reason.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{file}: {field}: {reason}")]
pub struct RunConfigError {
    /// The file.
    pub file: String,
    /// The key's path, e.g. `arms[2].acq_func`.
    pub field: String,
    /// What is wrong.
    pub reason: String,
}

/// One arm: a model and an acquisition, optionally pinned to a plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArmRef {
    /// Model, e.g. `GP-HLE`.
    pub model: String,
    /// Acquisition, e.g. `EI`.
    pub acq_func: String,
    /// The plugin that must provide it (when two plugins offer the same arm).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<String>,
}

impl ArmRef {
    /// `MODEL/ACQ`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.model, self.acq_func)
    }
}

/// `MODEL/ACQ` is not an arm's name.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("'{0}': expected MODEL/ACQ")]
pub struct ArmNameError(String);

impl FromStr for ArmRef {
    type Err = ArmNameError;

    /// Parses `MODEL/ACQ` (both non-empty; the model may not be `DIV`, a portfolio).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.split_once('/') {
            Some((model, acq)) if !model.is_empty() && !acq.is_empty() && model != "DIV" => {
                Ok(ArmRef {
                    model: model.to_string(),
                    acq_func: acq.to_string(),
                    plugin: None,
                })
            }
            _ => Err(ArmNameError(text.to_string())),
        }
    }
}

/// Which embedded run configuration stands in when none is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigDefault {
    /// The seed's default (`./run_conf/arms.json` when it exists, else the embedded one):
    /// tables of error rates.
    Seed,
    /// The embedded `run_conf/arms-tpe.json` (no local file overrides it): any other
    /// objective.
    AnyObjective,
}

/// A worker description of the seed's BATCH mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bandit {
    /// Mode, e.g. `DIV`.
    pub mode: String,
    /// Spec, e.g. `SEQ`.
    pub spec: String,
}

/// Pool settings (`grid` in the seed's first version, `search_space` later).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolSettings {
    /// Row order (`shuffle` or none).
    #[serde(default)]
    pub order: Option<String>,
    /// Kept for compatibility: encoding is always one-hot for categoricals.
    #[serde(default)]
    pub one_hot: Option<bool>,
    /// Pool size.
    #[serde(default)]
    pub num_samples: Option<usize>,
    /// Pool seed (first version's name).
    #[serde(default)]
    pub grid_seed: Option<u64>,
    /// Pool seed (later name).
    #[serde(default)]
    pub seed: Option<u64>,
}

/// A run configuration.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Appended to result file names.
    #[serde(default)]
    pub title: Option<String>,
    /// Shared secret for remote workers.
    #[serde(default)]
    pub credential: Option<String>,
    /// Arms of a diversified run.
    #[serde(default)]
    pub arms: Vec<ArmRef>,
    /// BATCH workers.
    #[serde(default)]
    pub bandits: Vec<Bandit>,
    /// Hedge learning rate.
    #[serde(default)]
    pub eta: Option<f64>,
    /// ε-greedy initial ε.
    #[serde(default)]
    pub init_eps: Option<f64>,
    /// ε-greedy decay.
    #[serde(default)]
    pub decay_factor: Option<f64>,
    /// GT's time unit: `H`, `M` or `S`.
    #[serde(default)]
    pub time_unit: Option<String>,
    /// Early-termination rule.
    #[serde(default)]
    pub early_term_rule: Option<String>,
    /// Pool settings (seed's first version).
    #[serde(default)]
    pub grid: Option<PoolSettings>,
    /// Pool settings (seed's later versions).
    #[serde(default)]
    pub search_space: Option<PoolSettings>,
    /// Output transform for plain GP/RF.
    #[serde(default)]
    pub response_shaping: Option<String>,
    /// HLE threshold.
    #[serde(default)]
    pub alpha: Option<f64>,
    /// GP plugin options.
    #[serde(default)]
    pub gp: Option<Map<String, Value>>,
    /// RF plugin options.
    #[serde(default)]
    pub rf: Option<Map<String, Value>>,
    /// TPE plugin options.
    #[serde(default)]
    pub tpe: Option<Map<String, Value>>,
    /// Time penalty of the model arms' acquisition (the seed's `-tp`): `ET_PS`, `ET_PLS`,
    /// `ET_L<rate>`, `ET_T<k>` or `NONE`. A run-wide option ([`RunConfig::run_wide`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_penalty: Option<String>,
    /// Whether proposals see the trials in flight of a parallel run: `aware` (the default:
    /// the arms' liars keep workers apart) or `blind` (each proposal as if nothing ran).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<String>,
    /// What the models learn from a trial an early-termination rule stopped: `observed`
    /// (the default: its value by the stop, as observed) or `ignored` (nothing; for
    /// comparisons).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminated: Option<String>,
    /// What the models learn in a run with a scheduler (Hyperband, successive halving):
    /// `all` (the default: every trial's value at its budget, as observed) or `highest`
    /// (BOHB's rule: the trials of the highest budget with enough of them; measured
    /// slower to target on the bundled table, kept for comparisons).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budgets: Option<String>,
    /// Options of any other plugin, by plugin name (the seed's files have sections for its
    /// model families only: `gp`, `rf`, `tpe`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub plugins: BTreeMap<String, Map<String, Value>>,
}

/// A run-wide option of the seed (`time_penalty`, `alpha`): it reaches every arm plugin of
/// a run that reads it, as that plugin's option of the same name (unless the plugin's
/// section sets its own).
#[derive(Debug, Clone, PartialEq)]
pub struct RunWide {
    /// The option's name.
    pub key: &'static str,
    /// Its value in this configuration.
    pub value: Value,
    /// A value every plugin that reads the option accepts (it changes nothing): a plugin
    /// that takes this but refuses `value` reads the option and finds `value` wrong.
    pub neutral: Value,
}

impl RunWide {
    /// Whether the value is the neutral one (then no arm needs to read it).
    pub fn is_neutral(&self) -> bool {
        match (&self.value, &self.neutral) {
            (Value::String(v), Value::String(n)) => v.eq_ignore_ascii_case(n),
            (v, n) => v == n,
        }
    }
}

/// What the models learn in a run with a scheduler (the run configuration's `budgets`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BudgetModels {
    /// Every trial, whatever its budget (the default, by measurement).
    All,
    /// The trials of the highest budget with enough of them (BOHB's rule).
    Highest,
}

impl RunConfig {
    /// Reads a run configuration file.
    pub fn from_file(path: &Path) -> Result<Self, RunConfigError> {
        let label = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| RunConfigError {
            file: label.clone(),
            field: "(file)".into(),
            reason: e.to_string(),
        })?;
        Self::parse(&label, &text)
    }

    /// The run configuration at `path`; without one, `default`'s.
    pub fn load(path: Option<&Path>, default: ConfigDefault) -> Result<Self, RunConfigError> {
        if let Some(p) = path {
            return Self::from_file(p);
        }
        match default {
            ConfigDefault::AnyObjective => {
                Self::parse("(embedded) run_conf/arms-tpe.json", DEFAULT_ANY_RUN_CONF)
            }
            ConfigDefault::Seed => {
                let local = Path::new("run_conf").join("arms.json");
                if local.exists() {
                    Self::from_file(&local)
                } else {
                    Self::parse("(embedded) run_conf/arms.json", DEFAULT_RUN_CONF)
                }
            }
        }
    }

    /// Parses run configuration JSON; `file` labels errors.
    pub fn parse(file: &str, text: &str) -> Result<Self, RunConfigError> {
        let err = |field: String, reason: String| RunConfigError {
            file: file.to_string(),
            field,
            reason,
        };
        strict_json::check_no_duplicate_keys(text)
            .map_err(|e| err(format!("line {}", e.line()), e.to_string()))?;
        let de = &mut serde_json::Deserializer::from_str(text);
        let config: RunConfig = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let field = if path == "." || path == "?" {
                format!("line {}", inner.line())
            } else {
                path
            };
            err(field, inner.to_string())
        })?;
        for (i, arm) in config.arms.iter().enumerate() {
            if arm.model.trim().is_empty() {
                return Err(err(format!("arms[{i}].model"), "is empty".into()));
            }
            if arm.acq_func.trim().is_empty() {
                return Err(err(format!("arms[{i}].acq_func"), "is empty".into()));
            }
        }
        // The values of strategy and model options (eta, init_eps, decay_factor, alpha, the
        // plugin sections) are the plugins' to check: `experiment::check_plan` asks each
        // plugin of a run to validate what it receives.
        for (key, settings) in [
            ("grid", &config.grid),
            ("search_space", &config.search_space),
        ] {
            if let Some(order) = settings.as_ref().and_then(|s| s.order.as_deref())
                && !["shuffle", "none", ""].contains(&order)
            {
                return Err(err(
                    format!("{key}.order"),
                    format!("'{order}' is not \"shuffle\" (or \"none\")"),
                ));
            }
        }
        config.check_seed_keys().map_err(|(f, r)| err(f, r))?;
        // The title becomes part of a file name: no directories, nothing hidden.
        if let Some(title) = &config.title
            && (title.contains(['/', '\\', '\0']) || title.starts_with('.'))
        {
            return Err(err(
                "title".into(),
                format!(
                    "'{title}' is part of the results file's name: no '/', '\\', NUL or leading '.'"
                ),
            ));
        }
        if let Some(unit) = &config.time_unit
            && !["H", "M", "S"].contains(&unit.as_str())
        {
            return Err(err(
                "time_unit".into(),
                format!("'{unit}' is not H, M or S"),
            ));
        }
        Ok(config)
    }

    /// The seed's keys that this version reads but does not act on are refused, never
    /// accepted and ignored: early termination, response shaping of plain models, several
    /// bandits (the BATCH mode's workers), raw pool coordinates; pool sizes are bounded.
    fn check_seed_keys(&self) -> Result<(), (String, String)> {
        for (i, bandit) in self.bandits.iter().enumerate() {
            if bandit.mode != "DIV" {
                return Err((
                    format!("bandits[{i}].mode"),
                    format!(
                        "'{}' is not DIV (a bandit diversifies over the arms)",
                        bandit.mode
                    ),
                ));
            }
            if bandit.spec.trim().is_empty() {
                return Err((format!("bandits[{i}].spec"), "is empty".into()));
            }
        }
        // Several bandits are the seed's BATCH workers, one strategy each; here one strategy
        // serves every worker of a parallel run, so they must agree.
        if let Some((i, other)) = self
            .bandits
            .iter()
            .enumerate()
            .find(|(_, b)| b.spec != self.bandits[0].spec)
        {
            return Err((
                format!("bandits[{i}].spec"),
                format!(
                    "'{}' differs from bandits[0].spec '{}': one strategy serves every worker of a parallel run",
                    other.spec, self.bandits[0].spec
                ),
            ));
        }
        if let Some(pending) = &self.pending
            && !["aware", "blind"].contains(&pending.as_str())
        {
            return Err((
                "pending".into(),
                format!("'{pending}' is not aware or blind"),
            ));
        }
        if let Some(terminated) = &self.terminated
            && !["observed", "ignored"].contains(&terminated.as_str())
        {
            return Err((
                "terminated".into(),
                format!("'{terminated}' is not observed or ignored"),
            ));
        }
        if let Some(budgets) = &self.budgets
            && !["highest", "all"].contains(&budgets.as_str())
        {
            return Err((
                "budgets".into(),
                format!("'{budgets}' is not highest or all"),
            ));
        }
        if let Some(rule) = &self.early_term_rule
            && rule.trim().is_empty()
        {
            return Err((
                "early_term_rule".into(),
                "is empty: name a rule (e.g. \"DecaTercet\") or \"None\"".into(),
            ));
        }
        if self.response_shaping.is_some() {
            return Err((
                "response_shaping".into(),
                "shaping of the plain GP and RF models is not supported: use the shaped models GP-LE, GP-HLE, RF-LE, RF-HLE (threshold: \"alpha\")".into(),
            ));
        }
        for (key, settings) in [("grid", &self.grid), ("search_space", &self.search_space)] {
            let Some(settings) = settings else { continue };
            if settings.one_hot == Some(false) {
                return Err((
                    format!("{key}.one_hot"),
                    "false is not supported: categorical parameters are always one-hot encoded"
                        .into(),
                ));
            }
            if let Some(n) = settings.num_samples
                && !(1..=MAX_POOL_SIZE).contains(&n)
            {
                return Err((
                    format!("{key}.num_samples"),
                    format!("{n} is not between 1 and {}", MAX_POOL_SIZE),
                ));
            }
        }
        Ok(())
    }

    /// The pool settings, whichever key holds them.
    pub fn pool(&self) -> PoolSettings {
        self.search_space
            .clone()
            .or_else(|| self.grid.clone())
            .unwrap_or_default()
    }

    /// The early-termination rule of the run (`early_term_rule`), none when absent or
    /// `None` (the seed's spelling, any case).
    pub fn early_stop(&self) -> Option<&str> {
        self.early_term_rule
            .as_deref()
            .filter(|rule| !rule.eq_ignore_ascii_case("none"))
    }

    /// The options of plugin `plugin` from its section in `plugins` (`{}` when it has none).
    pub fn plugin_options(&self, plugin: &str) -> Value {
        Value::Object(self.plugins.get(plugin).cloned().unwrap_or_default())
    }

    /// The options a strategy receives.
    pub fn strategy_options(&self) -> Value {
        let unit_seconds = self.time_unit.as_deref().map(|u| match u {
            "H" => 3600.0,
            "M" => 60.0,
            _ => 1.0,
        });
        let mut options = Map::new();
        for (k, v) in [
            ("eta", self.eta),
            ("init_eps", self.init_eps),
            ("decay_factor", self.decay_factor),
            ("time_unit", unit_seconds),
        ] {
            if let Some(v) = v {
                options.insert(k.into(), Value::from(v));
            }
        }
        Value::Object(options)
    }

    /// Whether the models learn a stopped trial's value (the `terminated` key; observed by
    /// default).
    pub fn models_learn_terminated(&self) -> bool {
        self.terminated.as_deref() != Some("ignored")
    }

    /// What the models learn in a scheduled run (the `budgets` key).
    pub fn budget_models(&self) -> BudgetModels {
        match self.budgets.as_deref() {
            Some("highest") => BudgetModels::Highest,
            _ => BudgetModels::All,
        }
    }

    /// Whether proposals see the trials in flight (the `pending` key; aware by default).
    pub fn pending_aware(&self) -> bool {
        self.pending.as_deref() != Some("blind")
    }

    /// The workers of the seed's BATCH mode: one per listed bandit (`None` for fewer than
    /// two).
    pub fn batch_workers(&self) -> Option<usize> {
        (self.bandits.len() > 1).then_some(self.bandits.len())
    }

    /// Every plugin section, by plugin name: the seed's top-level `gp`, `rf` and `tpe`
    /// sections and the `plugins` ones.
    pub fn sections(&self) -> BTreeMap<&str, &Map<String, Value>> {
        let seed = [("gp", &self.gp), ("rf", &self.rf), ("tpe", &self.tpe)];
        seed.into_iter()
            .filter_map(|(name, section)| section.as_ref().map(|s| (name, s)))
            .chain(self.plugins.iter().map(|(name, s)| (name.as_str(), s)))
            .collect()
    }

    /// The options of `plugin`'s own section (empty when it has none).
    pub fn section(&self, plugin: &str) -> Map<String, Value> {
        self.sections()
            .get(plugin)
            .map(|s| (*s).clone())
            .unwrap_or_default()
    }

    /// The run-wide options this configuration sets, in the order they are added to a
    /// plugin's options: the time penalty (`-tp`; neutral `NONE`) and the seed's HLE
    /// threshold `alpha` (neutral 0.3, the seed's default).
    pub fn run_wide(&self) -> Vec<RunWide> {
        let penalty = self.time_penalty.as_ref().map(|p| RunWide {
            key: "time_penalty",
            value: Value::from(p.clone()),
            neutral: Value::from("NONE"),
        });
        let alpha = self.alpha.map(|a| RunWide {
            key: "alpha",
            value: Value::from(a),
            neutral: Value::from(0.3),
        });
        penalty.into_iter().chain(alpha).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_the_seeds_six_arms() {
        let c = RunConfig::parse("run_conf/arms.json", DEFAULT_RUN_CONF).unwrap();
        let names: Vec<String> = c.arms.iter().map(ArmRef::name).collect();
        assert_eq!(
            names,
            [
                "GP-HLE/EI",
                "GP-HLE/PI",
                "GP-HLE/UCB",
                "RF-HLE/EI",
                "RF-HLE/PI",
                "RF-HLE/UCB"
            ]
        );
    }

    #[test]
    fn the_default_of_other_objectives_is_bo_hedge_over_gp_rf_and_tpe() {
        let c = RunConfig::load(None, ConfigDefault::AnyObjective).unwrap();
        assert_eq!(c.bandits[0].spec, "BO-HEDGE");
        let models: Vec<&str> = c.arms.iter().map(|a| a.model.as_str()).collect();
        assert!(
            models.contains(&"GP-HLE") && models.contains(&"TPE"),
            "{models:?}"
        );
    }

    #[test]
    fn unknown_keys_and_wrong_types_name_the_path() {
        let e = RunConfig::parse("r.json", r#"{"arms": [{"model": "GP", "acq_fun": "EI"}]}"#)
            .unwrap_err();
        assert!(e.field.starts_with("arms[0]"), "{e}");
        assert!(e.reason.contains("acq_fun"), "{e}");
        let e = RunConfig::parse("r.json", r#"{"eta": "fast"}"#).unwrap_err();
        assert_eq!(e.field, "eta");
        let e = RunConfig::parse("r.json", r#"{"time_unit": "D"}"#).unwrap_err();
        assert_eq!(e.field, "time_unit");
        let e = RunConfig::parse("r.json", "{ bad").unwrap_err();
        assert!(e.field.starts_with("line"), "{e}");
    }

    #[test]
    fn seed_keys_are_acted_on_or_refused_never_ignored() {
        let field = |text: &str| RunConfig::parse("r.json", text).unwrap_err().field;
        assert_eq!(
            field(r#"{"bandits": [{"mode": "BATCH", "spec": "SEQ"}]}"#),
            "bandits[0].mode"
        );
        assert_eq!(
            field(
                r#"{"bandits": [{"mode": "DIV", "spec": "SEQ"}, {"mode": "DIV", "spec": "EG"}]}"#
            ),
            "bandits[1].spec"
        );
        let batch =
            r#"{"bandits": [{"mode": "DIV", "spec": "SEQ"}, {"mode": "DIV", "spec": "SEQ"}]}"#;
        assert_eq!(
            RunConfig::parse("r.json", batch).unwrap().batch_workers(),
            Some(2)
        );
        assert_eq!(field(r#"{"pending": "maybe"}"#), "pending");
        assert_eq!(field(r#"{"terminated": "censored"}"#), "terminated");
        let ignored = RunConfig::parse("r.json", r#"{"terminated": "ignored"}"#).unwrap();
        assert!(!ignored.models_learn_terminated());
        assert!(RunConfig::default().models_learn_terminated());
        let blind = RunConfig::parse("r.json", r#"{"pending": "blind"}"#).unwrap();
        assert!(!blind.pending_aware());
        assert!(RunConfig::default().pending_aware());
        assert_eq!(field(r#"{"early_term_rule": " "}"#), "early_term_rule");
        let deca = RunConfig::parse("r.json", r#"{"early_term_rule": "DecaTercet"}"#).unwrap();
        assert_eq!(deca.early_stop(), Some("DecaTercet"));
        assert_eq!(field(r#"{"title": "../../escape"}"#), "title");
        assert_eq!(field(r#"{"title": "a/b"}"#), "title");
        let none = RunConfig::parse("r.json", r#"{"early_term_rule": "None"}"#).unwrap();
        assert_eq!(none.early_stop(), None);
        assert_eq!(
            field(r#"{"response_shaping": "log_err"}"#),
            "response_shaping"
        );
        assert_eq!(field(r#"{"grid": {"one_hot": false}}"#), "grid.one_hot");
        assert!(RunConfig::parse("r.json", r#"{"grid": {"one_hot": true}}"#).is_ok());
        assert_eq!(field(r#"{"grid": {"num_samples": 0}}"#), "grid.num_samples");
        assert_eq!(
            field(r#"{"search_space": {"num_samples": 1000000000}}"#),
            "search_space.num_samples"
        );
        // A float where a count belongs is a type error naming the key.
        assert_eq!(
            field(r#"{"grid": {"num_samples": 1e9}}"#),
            "grid.num_samples"
        );
        assert_eq!(field("{\"eta\": 1,\n \"eta\": 2}"), "line 2");
        let e =
            RunConfig::parse("r.json", r#"{"gp": {"restarts": 2, "restarts": 3}}"#).unwrap_err();
        assert!(e.reason.contains("\"restarts\" appears twice"), "{e}");
        // Sections by plugin name: the seed's and any other plugin's; run-wide options apart.
        let c = RunConfig::parse(
            "r.json",
            r#"{"alpha": 0.2, "rf": {"alpha": 0.1}, "plugins": {"local-search": {"step": 2}}}"#,
        )
        .unwrap();
        assert_eq!(c.section("rf")["alpha"], 0.1);
        assert!(c.section("gp").is_empty());
        assert_eq!(c.section("local-search")["step"], 2);
        let run_wide = c.run_wide();
        assert_eq!(run_wide.len(), 1);
        assert_eq!(
            (run_wide[0].key, run_wide[0].value.clone()),
            ("alpha", 0.2.into())
        );
    }
}
