//! The conformance kit (`hpo plugin test`, `hpo plugin install --check`): loads a plugin as
//! a run does and checks it against the contract, one named check at a time, so that an
//! author knows before shipping what the host will refuse or contain.
//!
//! Every call goes through the same sessions a run uses (`crate::arms::ArmSession`,
//! `crate::strategies::StrategySession`): a proposal the kit accepts is one a run accepts.
//! Required checks fail the kit; the latency report and the sanity runs against random
//! search only warn (timings and small-sample comparisons are not verdicts).

mod arm_checks;
mod fixtures;
mod sanity;
mod scheduler_checks;
mod stopper_checks;
mod strategy_checks;

use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::loader::{SessionError, share};
use crate::registry::{HostError, InstallOptions, PluginHost};

/// The verdict of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The plugin does what the contract asks.
    Pass,
    /// A required check failed: the host would refuse or contain this behaviour in a run.
    Fail,
    /// Reported, not required (latency over budget, worse than random search).
    Warn,
    /// Not run (the arm trapped earlier, or the plugin has nothing to check here).
    Skip,
}

impl Outcome {
    /// The word the text report prints.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "FAIL",
            Outcome::Warn => "warn",
            Outcome::Skip => "skip",
        }
    }
}

/// One check's result.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// What was checked: `plugin`, `arm GP/EI`, `strategy SEQ`.
    pub subject: String,
    /// The check's name, e.g. `determinism`.
    pub check: String,
    /// Its verdict.
    pub outcome: Outcome,
    /// Why, or what was measured.
    pub detail: String,
}

/// The kit's report on one plugin.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The plugin's name.
    pub plugin: String,
    /// Its version.
    pub version: String,
    /// The plugin API version it was built against.
    pub api: String,
    /// `wasm` or `native`.
    pub kind: String,
    /// Every check, in the order run.
    pub checks: Vec<Check>,
    /// Whether every required check passed.
    pub passed: bool,
}

impl Report {
    /// How many checks had `outcome`.
    pub fn count(&self, outcome: Outcome) -> usize {
        self.checks.iter().filter(|c| c.outcome == outcome).count()
    }
}

/// What the kit runs.
#[derive(Debug, Clone)]
pub struct KitOptions {
    /// Run the sanity comparisons against random search (the slowest part).
    pub sanity: bool,
    /// The latency budget of `tell` + `propose` at the largest of `latency_sizes`.
    pub latency_budget: Duration,
    /// Observation counts of the latency report (the history told at once, as when a run
    /// resumes), ascending.
    pub latency_sizes: Vec<usize>,
    /// Seeds of each sanity comparison (medians over them).
    pub sanity_seeds: usize,
}

impl Default for KitOptions {
    fn default() -> Self {
        KitOptions {
            sanity: true,
            latency_budget: Duration::from_secs(1),
            latency_sizes: vec![10, 100, 1000],
            sanity_seeds: 5,
        }
    }
}

/// Collects checks as they run.
#[derive(Default)]
pub(crate) struct Checks(Vec<Check>);

impl Checks {
    /// Checks so far.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// The checks from the `first`-th on.
    pub(crate) fn since(&self, first: usize) -> &[Check] {
        &self.0[first..]
    }

    pub(crate) fn push(&mut self, subject: &str, check: &str, outcome: Outcome, detail: String) {
        tracing::info!(%subject, %check, outcome = outcome.label(), %detail);
        self.0.push(Check {
            subject: subject.to_string(),
            check: check.to_string(),
            outcome,
            detail,
        });
    }

    /// A check that passes when `result` is `Ok` (its text the detail) and fails with the
    /// error otherwise.
    pub(crate) fn verdict(&mut self, subject: &str, check: &str, result: Result<String, String>) {
        let (outcome, detail) = match result {
            Ok(detail) => (Outcome::Pass, detail),
            Err(why) => (Outcome::Fail, why),
        };
        self.push(subject, check, outcome, detail);
    }
}

/// The text of a session error for a report: what the plugin did, without the
/// plugin's name (the report names it once).
pub(crate) fn why(e: &SessionError) -> String {
    match &e.source {
        crate::loader::PluginError::Poisoned(m) => format!("trapped: {m}"),
        other => other.to_string(),
    }
}

/// Runs the kit on an artifact that is not installed: it is installed into a temporary
/// registry (beside the bundled plugins, which the sanity runs use) and tested there, so
/// it loads exactly as an installed plugin does and the user's registry is not touched.
pub fn test_artifact(
    path: &Path,
    allow_native: bool,
    options: &KitOptions,
) -> Result<Report, HostError> {
    let dir = tempfile::tempdir()
        .map_err(|e| HostError::Input(format!("no temporary directory for the kit: {e}")))?;
    let (mut host, _) = PluginHost::open_with_bundled(Some(dir.path().join("registry.toml")))?;
    let install = InstallOptions {
        force: true,
        allow_native,
    };
    let installed = host.install(path, install)?;
    match installed.as_slice() {
        [entry] => test_plugin(&host, &entry.name, options),
        _ => Err(HostError::Input(format!(
            "{}: {} plugins there; test one artifact at a time",
            path.display(),
            installed.len()
        ))),
    }
}

/// Runs the kit on the plugin installed as `name` in `host`'s registry.
pub fn test_plugin(
    host: &PluginHost,
    name: &str,
    options: &KitOptions,
) -> Result<Report, HostError> {
    let entry = host.registry().get(name)?.clone();
    let mut checks = Checks::default();
    let plugin = match host.load(name) {
        Ok(p) => p,
        Err(e) => {
            checks.push("plugin", "load", Outcome::Fail, e.to_string());
            return Ok(report(&entry, checks));
        }
    };
    let info = plugin.info.clone();
    let (stoppers, schedulers) = (plugin.stoppers.clone(), plugin.schedulers.clone());
    checks.verdict("plugin", "info", info_check(&info, &stoppers, &schedulers));
    let plugin = share(plugin);
    arm_checks::run(&plugin, &info, options, &mut checks);
    strategy_checks::run(&plugin, &info, &mut checks);
    stopper_checks::run(&plugin, &stoppers, &mut checks);
    scheduler_checks::run(&plugin, &schedulers, &mut checks);
    if options.sanity {
        sanity::run(host, &info, options, &mut checks);
    }
    Ok(report(&entry, checks))
}

fn report(entry: &hpo_registry::PluginEntry, checks: Checks) -> Report {
    let checks = checks.0;
    Report {
        plugin: entry.name.clone(),
        version: entry.version.clone(),
        api: entry.api.clone(),
        kind: entry.kind.to_string(),
        passed: checks.iter().all(|c| c.outcome != Outcome::Fail),
        checks,
    }
}

/// `info`: a name, a semver version, something to offer, and arm names `MODEL/ACQ`.
fn info_check(
    info: &hpo_plugin_api::types::PluginInfo,
    stoppers: &[String],
    schedulers: &[String],
) -> Result<String, String> {
    semver::Version::parse(&info.version)
        .map_err(|e| format!("version '{}' is not semver: {e}", info.version))?;
    if info.arms.is_empty()
        && info.strategies.is_empty()
        && stoppers.is_empty()
        && schedulers.is_empty()
    {
        return Err("the plugin offers no arm, no strategy, no stopper and no scheduler".into());
    }
    if let Some(bad) = info.arms.iter().find(|a| !well_formed_arm(a)) {
        return Err(format!(
            "arm name '{bad}' is not MODEL/ACQUISITION (non-empty, one '/', no spaces)"
        ));
    }
    if let Some(bad) = info
        .strategies
        .iter()
        .find(|s| s.is_empty() || s.contains(['/', ' ']))
    {
        return Err(format!(
            "strategy name '{bad}' is empty or has '/' or spaces"
        ));
    }
    if let Some(bad) = stoppers
        .iter()
        .chain(schedulers)
        .find(|s| s.is_empty() || s.contains(['/', ' ']))
    {
        return Err(format!("rule name '{bad}' is empty or has '/' or spaces"));
    }
    Ok(format!(
        "{} {}, api {}, {} arms, {} strategies, {} stoppers, {} schedulers",
        info.name,
        info.version,
        info.api_version,
        info.arms.len(),
        info.strategies.len(),
        stoppers.len(),
        schedulers.len()
    ))
}

fn well_formed_arm(name: &str) -> bool {
    match name.split_once('/') {
        Some((model, acq)) => {
            !model.is_empty() && !acq.is_empty() && !acq.contains('/') && !name.contains(' ')
        }
        None => false,
    }
}

/// The option name the kit invents to see it rejected.
pub(crate) const UNKNOWN_OPTION: &str = "hpo_conformance_unknown_option";

/// `validate`: `{}` accepted, an unknown option rejected with a message naming it.
pub(crate) fn options_check(
    plugin: &crate::loader::SharedPlugin,
    kind: hpo_plugin_api::types::ComponentKind,
    name: &str,
) -> Result<String, String> {
    let mut plugin = crate::loader::lock(plugin);
    options_verdict(|options| plugin.backend.validate(kind, name, options))
}

/// The verdict on a plugin's options check `validate` (called with JSON options): `{}`
/// accepted, an unknown option refused with a message naming it.
pub(crate) fn options_verdict(
    mut validate: impl FnMut(&str) -> Result<(), crate::loader::PluginError>,
) -> Result<String, String> {
    validate("{}").map_err(|e| format!("empty options {{}} refused: {e}"))?;
    let unknown = format!("{{\"{UNKNOWN_OPTION}\": 1}}");
    match validate(&unknown) {
        Ok(()) => Err(format!(
            "the unknown option '{UNKNOWN_OPTION}' was accepted (a typo would be ignored silently)"
        )),
        Err(e) if e.to_string().contains(UNKNOWN_OPTION) => {
            Ok(format!("{{}} accepted; unknown option refused: {e}"))
        }
        Err(e) => Err(format!(
            "the unknown option was refused, but the message does not name it: {e}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arm_names_are_model_slash_acquisition() {
        assert!(well_formed_arm("GP-HLE/EI"));
        for bad in ["GP", "/EI", "GP/", "GP/EI/X", "GP /EI"] {
            assert!(!well_formed_arm(bad), "{bad}");
        }
    }
}
