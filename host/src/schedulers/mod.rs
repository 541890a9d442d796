//! Multi-fidelity: a run's scheduler (an early-termination rule from a plugin that sets
//! each trial's budget and promotes configurations, API 1.2: successive halving, Hyperband).
//!
//! Before every ask, the run shows the scheduler every trial so far (completed and in
//! flight, in ticket order, with budgets and parents) and gets an [`Assignment`]: a new
//! configuration for the arms to propose, trained to a budget, or a completed trial's
//! configuration promoted to a larger one. The scheduler is a pure function of that list,
//! so a resumed run (whose trials, completed and requeued, are the same) schedules exactly
//! as the uninterrupted one; nothing of it needs a snapshot.
//!
//! Invariant: a scheduler that fails or traps never fails the run: the trial is a new
//! configuration trained to the full horizon (what the run would do without a scheduler),
//! and the failure is logged.

use hpo_plugin_api::types::{Assignment, Job, JobState, RuleConfig};

use crate::config::RunConfig;
use crate::loader::{SessionError, SharedPlugin, lock};
use crate::objectives::Objective;
use crate::registry::{Loaded, RuleKind, resolve_rule};
use crate::stoppers::StopperError;
use crate::trial::{Fidelity, Trial};

/// A run's scheduler: its plugin and settings.
pub struct Scheduler {
    plugin: SharedPlugin,
    plugin_name: String,
    config: RuleConfig,
}

/// The scheduler of `config`'s early-termination rule, if it names a scheduler, for
/// `objective`; refused for an objective whose trials take no budget, or when the rule
/// cannot schedule the first trial (its options or the horizon do not suit it).
pub fn open(
    loaded: &mut Loaded<'_>,
    config: &RunConfig,
    objective: &dyn Objective,
    seed: u64,
) -> Result<Option<Scheduler>, StopperError> {
    let Some(rule) = config.early_stop() else {
        return Ok(None);
    };
    let rule = resolve_rule(loaded.host(), rule)?;
    if rule.kind != RuleKind::Scheduler {
        return Ok(None);
    }
    let error = |reason: String| {
        StopperError::Session(SessionError {
            plugin: rule.plugin.clone(),
            what: "scheduler",
            name: rule.name.clone(),
            source: crate::loader::PluginError::Failed(reason),
        })
    };
    if !objective.budgets() {
        return Err(error(format!(
            "{} takes no budget in epochs (use a table, a training command or a worker)",
            objective.label()
        )));
    }
    let horizon = objective.horizon().unwrap_or(0);
    let scheduler = Scheduler {
        plugin: loaded.get(&rule.plugin)?,
        plugin_name: rule.plugin.clone(),
        config: RuleConfig {
            name: rule.name.clone(),
            options_json: config.plugin_options(&rule.plugin).to_string(),
            seed,
            horizon: u32::try_from(horizon).unwrap_or(u32::MAX),
        },
    };
    // The first assignment checks the horizon and the options against the objective.
    let first = scheduler.call(&[]).map_err(&error)?;
    if first.promote.is_some() || first.budget == 0 {
        return Err(error(format!(
            "its first assignment is not a new configuration with a budget: {first:?}"
        )));
    }
    Ok(Some(scheduler))
}

impl Scheduler {
    fn call(&self, jobs: &[Job]) -> Result<Assignment, String> {
        lock(&self.plugin)
            .backend
            .schedule(&self.config, jobs)
            .map_err(|e| e.to_string())
    }

    /// What the next trial is, given every trial so far (`done`, then `running`). A failed
    /// call, or an answer that does not fit the jobs, gives a new configuration at the full
    /// horizon (logged).
    pub fn assign(&self, done: &[Trial], running: &[Fidelity]) -> Assignment {
        let jobs = jobs_of(done, running);
        let fallback = Assignment::new_configuration(self.full_budget(&jobs));
        match self.call(&jobs).and_then(|a| self.check(a, &jobs)) {
            Ok(assignment) => assignment,
            Err(e) => {
                tracing::warn!(
                    "scheduler {} of plugin {}: {e}; the next trial trains fully",
                    self.config.name,
                    self.plugin_name
                );
                fallback
            }
        }
    }

    /// The budget of a trial trained fully: the horizon, else the largest budget given so
    /// far (an objective without a horizon), at least 1.
    fn full_budget(&self, jobs: &[Job]) -> u32 {
        if self.config.horizon > 0 {
            return self.config.horizon;
        }
        jobs.iter().map(|j| j.budget).max().unwrap_or(1).max(1)
    }

    fn check(&self, assignment: Assignment, jobs: &[Job]) -> Result<Assignment, String> {
        fits(&assignment, jobs, self.config.horizon).map(|()| assignment)
    }
}

/// Whether `assignment` fits `jobs`: a budget in 1..=`horizon` (0: unknown, any positive
/// budget), a promotion of a completed job to a larger budget that was not promoted
/// before. The one check of the run and of the conformance kit.
pub fn fits(assignment: &Assignment, jobs: &[Job], horizon: u32) -> Result<(), String> {
    if assignment.budget == 0 || (horizon > 0 && assignment.budget > horizon) {
        return Err(format!(
            "after {} jobs: budget {} is outside 1..={horizon}",
            jobs.len(),
            assignment.budget
        ));
    }
    let Some(trial) = assignment.promote else {
        return Ok(());
    };
    let parent = jobs
        .iter()
        .find(|j| j.trial == trial)
        .ok_or_else(|| format!("promotes trial {trial}, which does not exist"))?;
    if parent.state != JobState::Complete || parent.budget >= assignment.budget {
        return Err(format!(
            "promotes trial {trial} ({:?}, budget {}) to budget {}",
            parent.state, parent.budget, assignment.budget
        ));
    }
    if jobs.iter().any(|j| j.parent == Some(trial)) {
        return Err(format!("promotes trial {trial} a second time"));
    }
    Ok(())
}

/// The scheduler's view of a run's trials: completed ones with their values, then those
/// in flight, in ticket order. Trials without a fidelity (none in a scheduled run) are left
/// out.
pub fn jobs_of(done: &[Trial], running: &[Fidelity]) -> Vec<Job> {
    let job = |f: &Fidelity, state, value| Job {
        trial: f.ticket as u64,
        parent: f.parent.map(|p| p as u64),
        budget: f.budget.epochs,
        state,
        value,
    };
    let mut jobs: Vec<Job> = done
        .iter()
        .filter_map(|t| {
            let state = if t.value.is_finite() {
                JobState::Complete
            } else {
                JobState::Failed
            };
            t.fidelity.as_ref().map(|f| job(f, state, t.value))
        })
        .chain(running.iter().map(|f| job(f, JobState::Pending, f64::NAN)))
        .collect();
    jobs.sort_by_key(|j| j.trial);
    jobs
}
