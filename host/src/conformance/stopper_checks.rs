//! The kit's checks of a plugin's stoppers (early-termination rules, API 1.2): options,
//! decisions over a simulated history, determinism, and edge inputs (an empty curve, one
//! report, equal, huge or non-finite values, an unknown horizon).

use hpo_plugin_api::types::{Curve, Decision, RuleConfig};

use super::fixtures::SEED;
use super::{Checks, Outcome, options_verdict};
use crate::loader::{PluginError, SharedPlugin, StopperBackend, lock};

/// Epochs of the simulated trials.
const HORIZON: u32 = 20;
/// Ended trials in the simulated history.
const HISTORY: u32 = 12;

/// One check: the detail of a pass, or why it failed.
type Case<'a> = Box<dyn Fn() -> Result<String, String> + 'a>;

/// Runs every stopper check of the plugin.
pub(super) fn run(plugin: &SharedPlugin, stoppers: &[String], checks: &mut Checks) {
    for name in stoppers {
        let subject = format!("stopper {name}");
        checks.verdict(&subject, "options", options(plugin, name));
        let probe = Probe { plugin, name };
        let cases: [(&str, Case<'_>); 3] = [
            (
                "decisions",
                Box::new(|| probe.decisions(HORIZON).map(|d| summary(&d))),
            ),
            ("determinism", Box::new(|| probe.deterministic())),
            ("edge inputs", Box::new(|| probe.edges())),
        ];
        for (check, case) in cases {
            let result = case();
            let trapped = result.as_ref().is_err_and(|e| e.starts_with("trapped"));
            checks.verdict(&subject, check, result);
            if trapped {
                checks.push(
                    &subject,
                    "remaining checks",
                    Outcome::Skip,
                    "after a trap".into(),
                );
                break;
            }
        }
    }
}

/// `validate-stopper`: `{}` accepted, an unknown option refused with a message naming it.
fn options(plugin: &SharedPlugin, name: &str) -> Result<String, String> {
    let mut plugin = lock(plugin);
    options_verdict(|options| plugin.backend.validate_stopper(name, options))
}

/// A curve of `epochs` reports of `level + 1/epoch` (lower is better).
fn curve(level: f64, epochs: u32, terminated: bool) -> Curve {
    Curve::new(
        (1..=epochs).collect(),
        (1..=epochs).map(|e| level + 1.0 / f64::from(e)).collect(),
        terminated,
    )
}

fn summary(decisions: &[Decision]) -> String {
    let stops = decisions.iter().filter(|d| **d == Decision::Stop).count();
    format!("{} reports judged, {stops} stops", decisions.len())
}

struct Probe<'a> {
    plugin: &'a SharedPlugin,
    name: &'a str,
}

impl Probe<'_> {
    fn open(&self, horizon: u32) -> Result<Box<dyn StopperBackend>, PluginError> {
        lock(self.plugin).backend.open_stopper(&RuleConfig {
            name: self.name.to_string(),
            options_json: "{}".into(),
            seed: SEED,
            horizon,
        })
    }

    /// The decisions on every prefix of a good and a bad trial after a simulated history.
    fn decisions(&self, horizon: u32) -> Result<Vec<Decision>, String> {
        let mut session = self.open(horizon).map_err(why)?;
        for i in 0..HISTORY {
            let terminated = i % 3 == 2;
            let epochs = if terminated { HORIZON / 2 } else { HORIZON };
            session
                .finish(&curve(f64::from(i) / 10.0, epochs, terminated))
                .map_err(why)?;
        }
        let mut decisions = Vec::new();
        for level in [0.05, 2.0] {
            let full = curve(level, HORIZON, false);
            for n in 1..=HORIZON as usize {
                let prefix =
                    Curve::new(full.epochs[..n].to_vec(), full.values[..n].to_vec(), false);
                decisions.push(session.decide(&prefix).map_err(why)?);
            }
        }
        Ok(decisions)
    }

    fn deterministic(&self) -> Result<String, String> {
        let (a, b) = (self.decisions(HORIZON)?, self.decisions(HORIZON)?);
        if a == b {
            Ok(format!("two sessions agree on {} reports", a.len()))
        } else {
            Err("two sessions with the same seed and history decided differently".into())
        }
    }

    /// Odd inputs are answered (a decision or an error), never a trap.
    fn edges(&self) -> Result<String, String> {
        let cases = [
            Curve::default(),
            Curve::new(vec![1], vec![0.5], false),
            Curve::new(vec![1, 2, 3], vec![0.5; 3], false),
            Curve::new(vec![1, 2], vec![1e300, -1e300], false),
            Curve::new(vec![1, 2], vec![f64::NAN, f64::INFINITY], false),
        ];
        for horizon in [HORIZON, 0] {
            let mut session = match self.open(horizon) {
                Ok(s) => s,
                Err(e) if !e.is_poisoning() => continue, // may refuse an unknown horizon
                Err(e) => return Err(why(e)),
            };
            for c in &cases {
                refuse_only(session.finish(c))?;
                refuse_only(session.decide(c).map(|_| ()))?;
            }
        }
        Ok(format!(
            "{} odd curves answered, horizons {HORIZON} and unknown",
            cases.len()
        ))
    }
}

/// An error answer is fine; a trap is not.
fn refuse_only(result: Result<(), PluginError>) -> Result<(), String> {
    match result {
        Err(e) if e.is_poisoning() => Err(why(e)),
        _ => Ok(()),
    }
}

/// A failure's text; a trap's starts with `trapped`.
pub(super) fn why(e: PluginError) -> String {
    match e {
        PluginError::Poisoned(m) => format!("trapped: {m}"),
        other => other.to_string(),
    }
}
