//! First-party early-termination rules. Stoppers: the seed's DecaTercet, PentaTercet and
//! TetraTercet ([`tercet`]), median stopping ([`median`]) and asynchronous successive
//! halving ([`asha`]); schedulers: successive halving and Hyperband ([`hyperband`]). One
//! source, built as a native plugin and as a wasm component.

pub mod asha;
pub mod curves;
pub mod hyperband;
pub mod median;
pub mod tercet;

use hpo_plugin_api::sdk::{Plugin, StopperSession, parse_options};
use hpo_plugin_api::types::{Assignment, Curve, Decision, Job, PluginDescription, RuleConfig};

use asha::{Asha, AshaOptions};
use hyperband::{HyperbandOptions, Schedule};
use median::{MedianOptions, MedianStop};
use tercet::{Tercet, TercetOptions};

/// The rules this plugin offers, with their survive ratio in percent (tercets).
const TERCETS: [(&str, u32); 3] = [("DecaTercet", 10), ("PentaTercet", 20), ("TetraTercet", 25)];
/// Median stopping's name.
const MEDIAN: &str = "Median";
/// Asynchronous successive halving's name.
const ASHA: &str = "ASHA";
/// The schedulers: each name, and whether it cycles through all of Hyperband's brackets.
const SCHEDULERS: [(&str, bool); 2] = [("Hyperband", true), ("SuccessiveHalving", false)];

/// The `stop` plugin.
pub struct StopPlugin;

/// One open rule.
enum Rule {
    Tercet(Tercet),
    Median(MedianStop),
    Asha(Asha),
}

impl StopperSession for Rule {
    fn decide(&mut self, curve: Curve) -> Result<Decision, String> {
        curve.check_shape()?;
        Ok(match self {
            Rule::Tercet(rule) => rule.decide(&curve),
            Rule::Median(rule) => rule.decide(&curve),
            Rule::Asha(rule) => rule.decide(&curve),
        })
    }

    fn finish(&mut self, curve: Curve) -> Result<(), String> {
        curve.check_shape()?;
        match self {
            Rule::Tercet(rule) => rule.finish(curve),
            Rule::Median(rule) => rule.finish(curve),
            Rule::Asha(rule) => rule.finish(&curve),
        }
        Ok(())
    }
}

/// Opens rule `name` with `options_json` for trials of `horizon` epochs.
fn open(name: &str, options_json: &str, horizon: u32) -> Result<Rule, String> {
    if let Some((_, survive)) = TERCETS.iter().find(|(n, _)| *n == name) {
        let options: TercetOptions = parse_options(options_json)?;
        return Tercet::new(*survive, horizon, options).map(Rule::Tercet);
    }
    if name == MEDIAN {
        let options: MedianOptions = parse_options(options_json)?;
        return MedianStop::new(options).map(Rule::Median);
    }
    if name == ASHA {
        let options: AshaOptions = parse_options(options_json)?;
        return Asha::new(horizon, options).map(Rule::Asha);
    }
    Err(format!("this plugin has no stopper '{name}'"))
}

/// Opens scheduler `name` with `options_json` for trials of `horizon` epochs.
fn open_schedule(name: &str, options_json: &str, horizon: u32) -> Result<Schedule, String> {
    let Some(&(_, all_brackets)) = SCHEDULERS.iter().find(|(n, _)| *n == name) else {
        return Err(format!("this plugin has no scheduler '{name}'"));
    };
    let options: HyperbandOptions = parse_options(options_json)?;
    Schedule::new(horizon, options, all_brackets)
}

impl Plugin for StopPlugin {
    fn describe() -> PluginDescription {
        let mut names: Vec<&str> = TERCETS.iter().map(|(n, _)| *n).collect();
        names.extend([MEDIAN, ASHA]);
        PluginDescription::new(
            "stop",
            env!("CARGO_PKG_VERSION"),
            "Early termination: DecaTercet, PentaTercet, TetraTercet, median stopping, ASHA, \
             successive halving, Hyperband",
            &[],
            &[],
        )
        .with_stoppers(&names)
        .with_schedulers(&SCHEDULERS.map(|(n, _)| n))
    }

    fn validate_stopper(name: &str, options_json: &str) -> Result<(), String> {
        // The horizon comes from the objective and is checked when the run opens the rule;
        // options are checked here against any valid one.
        open(name, options_json, 100).map(|_| ())
    }

    fn open_stopper(config: RuleConfig) -> Result<Box<dyn StopperSession>, String> {
        let rule = open(&config.name, &config.options_json, config.horizon)?;
        Ok(Box::new(rule))
    }

    fn validate_scheduler(name: &str, options_json: &str) -> Result<(), String> {
        // As for stoppers, the horizon is checked when the run first schedules.
        open_schedule(name, options_json, 100).map(|_| ())
    }

    fn schedule(config: RuleConfig, jobs: Vec<Job>) -> Result<Assignment, String> {
        open_schedule(&config.name, &config.options_json, config.horizon)?.assign(&jobs)
    }
}

hpo_plugin_api::export_plugin!(StopPlugin);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_checked_per_rule() {
        assert!(StopPlugin::validate_stopper("DecaTercet", r#"{"min_curves": 4}"#).is_ok());
        let e = StopPlugin::validate_stopper("DecaTercet", r#"{"warmup": 4}"#).unwrap_err();
        assert!(e.contains("warmup"), "{e}");
        assert!(StopPlugin::validate_stopper("Median", r#"{"warmup": 4}"#).is_ok());
        let e = StopPlugin::validate_stopper("Nope", "").unwrap_err();
        assert!(e.contains("Nope"), "{e}");
    }

    #[test]
    fn a_malformed_curve_is_an_error_not_a_panic() {
        let config = RuleConfig {
            name: "Median".into(),
            horizon: 10,
            ..RuleConfig::default()
        };
        let mut rule = StopPlugin::open_stopper(config).unwrap();
        let bad = Curve::new(vec![2, 1], vec![0.1, 0.2], false);
        assert!(rule.decide(bad).is_err());
    }
}
