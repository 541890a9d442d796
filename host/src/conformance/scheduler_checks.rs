//! The kit's checks of a plugin's schedulers (multi-fidelity rules, API 1.2): options, a
//! simulated schedule whose every assignment fits the jobs, determinism, and edge inputs
//! (failed and pending jobs, non-finite values, an unknown horizon).

use hpo_plugin_api::types::{Assignment, Job, JobState, RuleConfig};

use super::fixtures::SEED;
use super::stopper_checks::why;
use super::{Checks, Outcome, options_verdict};
use crate::loader::{PluginError, SharedPlugin, lock};
use crate::schedulers::fits;

/// Epochs of a full simulated trial.
const HORIZON: u32 = 27;
/// Assignments asked for in the simulated schedule.
const STEPS: usize = 60;

/// Runs every scheduler check of the plugin.
pub(super) fn run(plugin: &SharedPlugin, schedulers: &[String], checks: &mut Checks) {
    for name in schedulers {
        let subject = format!("scheduler {name}");
        checks.verdict(&subject, "options", options(plugin, name));
        let probe = Probe { plugin, name };
        let schedule = probe.schedule(HORIZON);
        let trapped = schedule.as_ref().is_err_and(|e| e.starts_with("trapped"));
        checks.verdict(&subject, "assignments", schedule.map(|s| summary(&s)));
        if trapped {
            checks.push(
                &subject,
                "remaining checks",
                Outcome::Skip,
                "after a trap".into(),
            );
            continue;
        }
        checks.verdict(&subject, "determinism", probe.deterministic());
        checks.verdict(&subject, "edge inputs", probe.edges());
    }
}

/// `validate-scheduler`: `{}` accepted, an unknown option refused with a message naming it.
fn options(plugin: &SharedPlugin, name: &str) -> Result<String, String> {
    let mut plugin = lock(plugin);
    options_verdict(|options| plugin.backend.validate_scheduler(name, options))
}

fn summary(jobs: &[Job]) -> String {
    let promotions = jobs.iter().filter(|j| j.parent.is_some()).count();
    let full = jobs.iter().filter(|j| j.budget == HORIZON).count();
    format!(
        "{} assignments fit: {promotions} promotions, {full} at the full budget",
        jobs.len()
    )
}

struct Probe<'a> {
    plugin: &'a SharedPlugin,
    name: &'a str,
}

impl Probe<'_> {
    fn call(&self, horizon: u32, jobs: &[Job]) -> Result<Assignment, PluginError> {
        let config = RuleConfig {
            name: self.name.to_string(),
            options_json: "{}".into(),
            seed: SEED,
            horizon,
        };
        lock(self.plugin).backend.schedule(&config, jobs)
    }

    /// A sequential schedule of [`STEPS`] jobs, each completed at once with a value that
    /// falls with its budget: every assignment must fit the jobs before it.
    fn schedule(&self, horizon: u32) -> Result<Vec<Job>, String> {
        let mut jobs: Vec<Job> = Vec::new();
        for step in 0..STEPS as u64 {
            let assignment = self.call(horizon, &jobs).map_err(why)?;
            fits(&assignment, &jobs, horizon)?;
            // A configuration's quality: its lineage's first trial, spread over [0, 1).
            let root = assignment.promote.map_or(step, |p| root_of(&jobs, p));
            let quality = (root * 37 % 101) as f64 / 101.0;
            jobs.push(Job {
                trial: step,
                parent: assignment.promote,
                budget: assignment.budget,
                state: JobState::Complete,
                value: quality + 1.0 / f64::from(assignment.budget),
            });
        }
        Ok(jobs)
    }

    fn deterministic(&self) -> Result<String, String> {
        let (a, b) = (self.schedule(HORIZON)?, self.schedule(HORIZON)?);
        if a == b {
            Ok(format!("two schedules agree on {} assignments", a.len()))
        } else {
            Err("the same jobs were assigned differently twice".into())
        }
    }

    /// Odd histories are answered (an assignment or an error), never a trap.
    fn edges(&self) -> Result<String, String> {
        let job = |trial, state, value| Job {
            trial,
            parent: None,
            budget: 1,
            state,
            value,
        };
        let cases = [
            vec![job(0, JobState::Failed, f64::NAN)],
            vec![
                job(0, JobState::Pending, 0.0),
                job(1, JobState::Pending, 0.0),
            ],
            vec![
                job(0, JobState::Complete, f64::INFINITY),
                job(1, JobState::Complete, -1e300),
            ],
            (0..30).map(|t| job(t, JobState::Complete, 0.5)).collect(),
        ];
        for horizon in [HORIZON, 0] {
            for jobs in &cases {
                if let Err(e) = self.call(horizon, jobs)
                    && e.is_poisoning()
                {
                    return Err(why(e));
                }
            }
        }
        Ok(format!(
            "{} odd histories answered, horizons {HORIZON} and unknown",
            cases.len()
        ))
    }
}

/// The first trial of `trial`'s lineage.
fn root_of(jobs: &[Job], mut trial: u64) -> u64 {
    while let Some(parent) = jobs
        .iter()
        .find(|j| j.trial == trial)
        .and_then(|j| j.parent)
    {
        trial = parent;
    }
    trial
}
