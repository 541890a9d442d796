//! Early termination: a run's stopper (an early-termination rule from a plugin, API 1.2)
//! and the watch through which it stops trials while they are evaluated.
//!
//! The rule sees, report by report, the curve of each trial in flight and decides whether
//! it goes on; every trial that ends (completed, stopped or failed with reports) is added to
//! its history, in the order the run records them, so a resumed run (which tells the history
//! again) decides as the uninterrupted one did. The objectives honour a stop the same way
//! whatever runs them: a table is replayed only to the stop epoch, a training command's
//! process group is killed, a remote worker's job is deleted
//! ([`crate::objectives::Objective::evaluate_watched`]).
//!
//! Invariant: a rule that fails or traps never fails the run: the trial goes on, the
//! failure is logged, and the session is reopened with its history.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use hpo_plugin_api::types::{Curve, Decision, RuleConfig};

use crate::config::RunConfig;
use crate::loader::{PluginError, Recovering, SessionError, SharedPlugin, StopperBackend, lock};
use crate::objectives::{Interim, Watch};
use crate::registry::{HostError, Loaded, ProviderError, RuleKind, resolve_rule};
use crate::trial::Trial;

/// Why a run's stopper cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum StopperError {
    /// No plugin serves the rule.
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// Its plugin could not be loaded.
    #[error(transparent)]
    Host(#[from] HostError),
    /// Its session could not be opened (its options or the objective do not suit it).
    #[error(transparent)]
    Session(#[from] SessionError),
}

/// The stopper of `config`'s early-termination rule, if it names a stopper, for trials of
/// `horizon` epochs (0: the objective does not say), with its plugin's options.
pub fn open(
    loaded: &mut Loaded<'_>,
    config: &RunConfig,
    horizon: usize,
    seed: u64,
) -> Result<Option<Stopper>, StopperError> {
    let Some(rule) = config.early_stop() else {
        return Ok(None);
    };
    let rule = resolve_rule(loaded.host(), rule)?;
    if rule.kind != RuleKind::Stopper {
        return Ok(None);
    }
    let plugin = loaded.get(&rule.plugin)?;
    let session = StopperSession::open(
        &plugin,
        RuleConfig {
            name: rule.name,
            options_json: config.plugin_options(&rule.plugin).to_string(),
            seed,
            horizon: u32::try_from(horizon).unwrap_or(u32::MAX),
        },
    )?;
    Ok(Some(Stopper::new(session)))
}

/// A stopper session of one plugin for one run.
pub struct StopperSession {
    plugin: SharedPlugin,
    plugin_name: String,
    config: RuleConfig,
    backend: Option<Box<dyn StopperBackend>>,
    /// Every ended trial's curve told so far, for a reopened session.
    history: Vec<Curve>,
}

impl StopperSession {
    /// Opens `config.name` on `plugin`.
    pub fn open(plugin: &SharedPlugin, config: RuleConfig) -> Result<Self, SessionError> {
        let plugin_name = lock(plugin).info.name.clone();
        let mut session = StopperSession {
            plugin: plugin.clone(),
            plugin_name,
            config,
            backend: None,
            history: Vec::new(),
        };
        session.backend = Some(session.open_backend()?);
        Ok(session)
    }

    fn open_backend(&self) -> Result<Box<dyn StopperBackend>, SessionError> {
        lock(&self.plugin)
            .backend
            .open_stopper(&self.config)
            .map_err(|e| self.error(e))
    }

    /// Whether the trial whose curve so far is `curve` goes on. A failed call lets it go on.
    pub fn decide(&mut self, curve: &Curve) -> Decision {
        match self.with_backend(|b| b.decide(curve)) {
            Ok(decision) => decision,
            Err(e) => {
                tracing::warn!("{e}; the trial goes on");
                Decision::Continue
            }
        }
    }

    /// Adds an ended trial's curve to the rule's history.
    pub fn finish(&mut self, curve: Curve) {
        if let Err(e) = self.with_backend(|b| b.finish(&curve)) {
            tracing::warn!("{e}");
        }
        self.history.push(curve);
    }
}

impl Recovering for StopperSession {
    type Backend = dyn StopperBackend;

    fn slot(&mut self) -> &mut Option<Box<dyn StopperBackend>> {
        &mut self.backend
    }

    fn reopen(&mut self) -> Result<Box<dyn StopperBackend>, SessionError> {
        let mut fresh = self.open_backend()?;
        for curve in &self.history {
            fresh.finish(curve).map_err(|e| self.error(e))?;
        }
        Ok(fresh)
    }

    fn error(&self, source: PluginError) -> SessionError {
        SessionError {
            plugin: self.plugin_name.clone(),
            what: "stopper",
            name: self.config.name.clone(),
            source,
        }
    }
}

/// A run's stopper, shared by the run (which tells it the ended trials) and the watches of
/// the trials in flight (which ask it, from the threads evaluating them).
#[derive(Clone)]
pub struct Stopper(Arc<Mutex<StopperSession>>);

impl Stopper {
    /// Shares `session`.
    pub fn new(session: StopperSession) -> Self {
        Stopper(Arc::new(Mutex::new(session)))
    }

    fn session(&self) -> MutexGuard<'_, StopperSession> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A watch for one trial: each report extends the trial's curve and asks the rule; a
    /// stop decision sets the watch's flag, which the objective honours.
    pub fn watch(&self) -> Watch {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let stopper = self.clone();
        let curve = Mutex::new(Curve::default());
        Watch::new(stop, move |report: Interim| {
            if flag.load(Ordering::Relaxed) {
                return;
            }
            let mut curve = curve.lock().unwrap_or_else(|e| e.into_inner());
            let epoch = report.epoch as u32;
            if curve.epochs.last().is_some_and(|&last| epoch <= last) {
                return; // a report that does not advance the curve is not judged
            }
            curve.epochs.push(epoch);
            curve.values.push(report.value);
            if stopper.session().decide(&curve) == Decision::Stop {
                flag.store(true, Ordering::Relaxed);
            }
        })
    }

    /// Adds `trial`'s curve to the rule's history (trials without reports add nothing).
    pub fn finish(&self, trial: &Trial) {
        if let Some(curve) = curve_of(trial) {
            self.session().finish(curve);
        }
    }
}

/// The learning curve of an ended trial: its interim reports, then its final value at its
/// last epoch when that comes after them (a command's last report is its final value);
/// `None` for a trial that reported nothing.
pub fn curve_of(trial: &Trial) -> Option<Curve> {
    let mut curve = Curve {
        epochs: Vec::new(),
        values: Vec::new(),
        terminated: trial.terminated,
    };
    for report in &trial.interim {
        let epoch = report.epoch as u32;
        if curve.epochs.last().is_none_or(|&last| epoch > last) {
            curve.epochs.push(epoch);
            curve.values.push(report.value);
        }
    }
    if let Some(epoch) = trial.epochs.map(|e| e as u32)
        && trial.value.is_finite()
        && curve.epochs.last().is_none_or(|&last| epoch > last)
    {
        curve.epochs.push(epoch);
        curve.values.push(trial.value);
    }
    (!curve.epochs.is_empty()).then_some(curve)
}
