//! One run of an experiment driven trial by trial from outside the process (`hpo serve`):
//! the same checks, store and ask/tell core as `hpo run`, with the evaluations done by
//! whoever asked for them.
//!
//! Invariant: as in every driver, a trial is in the store (pending) before it is handed
//! out and again when it is told, so a service that stops loses no told trial and hands
//! the ones in flight out again ([`DrivenRun::requeued`]).

use std::path::PathBuf;
use std::sync::Arc;

use super::run::{Asked, Pending, Run};
use super::runner::{Member, StoreSink, interrupted, open_experiment, set_up};
use super::{ExperimentError, RunRecord, RunRequest, RunSink, run_seed};
use crate::objectives::{Outcome, Watch};
use crate::registry::PluginHost;
use crate::space::Space;
use crate::store::{Commit, Flusher, Store};
use crate::trial::Trial;

/// A trial told and committed, not yet durable: [`Told::flush`] it, outside any lock the
/// caller holds on the run, before saying it is recorded (many tells share one flush).
#[must_use = "a told trial is durable only once flushed"]
pub struct Told(Arc<Flusher>);

impl Told {
    /// Returns once the trial is on disk.
    pub fn flush(self) -> Result<(), ExperimentError> {
        Ok(self.0.flush()?)
    }
}

/// A driven run: its ask/tell core and the store it commits to.
pub struct DrivenRun {
    run: Run,
    store: Store,
    experiment: i64,
    results_file: PathBuf,
    names: Vec<String>,
    space: Space,
    requeued: Vec<Pending>,
    in_flight: usize,
    /// This service's part when the run is shared with other services on one store (its
    /// claims leased for the clients' lease), and the next iteration it has not seen.
    shared: Option<(Member, usize)>,
}

impl DrivenRun {
    /// Checks `request` (one run) and opens its experiment: a new one, or with
    /// `request.resume` the unfinished one with these settings, its trials replayed.
    pub fn open(host: &PluginHost, request: &RunRequest) -> Result<Self, ExperimentError> {
        if request.runs != 1 {
            return Err(ExperimentError::NoRuns);
        }
        let setup = set_up(host, request)?;
        let (store, stored) = open_experiment(request, &setup)?;
        let seed = run_seed(request.seed, 0);
        store.start_run(stored.id, 0, seed)?;
        let prior = store.trials(stored.id, 0)?;
        // Shared: the others' trials in flight stay theirs until their leases expire.
        let in_flight = match request.shared {
            true => Vec::new(),
            false => interrupted(&store, stored.id, 0)?,
        };
        let mut run = Run::open(host, setup.objective.as_ref(), &setup.plan, seed)?;
        let requeued = run.resume(&prior, in_flight)?;
        let shared = request
            .shared
            .then(|| (Member::new(request.trial_lease), prior.len()));
        Ok(DrivenRun {
            run,
            store,
            experiment: stored.id,
            results_file: PathBuf::from(stored.results_file),
            names: setup.names,
            space: setup.objective.space().clone(),
            in_flight: requeued.len(),
            requeued,
            shared,
        })
    }

    /// Whether other services share the run through the store.
    pub fn is_shared(&self) -> bool {
        self.shared.is_some()
    }

    /// A shared run: trial `ticket`, handed out by another service, taken into this one's
    /// hands (to be told or reported here); `None` when it is not in flight.
    pub fn adopt(&mut self, ticket: usize) -> Result<Option<Pending>, ExperimentError> {
        let Some((member, _)) = &self.shared else {
            return Ok(None);
        };
        let Some(record) =
            self.store
                .take_over(self.experiment, 0, ticket, &member.owner, member.lease)?
        else {
            return Ok(None);
        };
        let pending: Pending = serde_json::from_str(&record)
            .map_err(|e| ExperimentError::StoredPending(e.to_string()))?;
        self.in_flight += 1;
        self.run.requeue(pending).map(Some)
    }

    /// A shared run: extends trial `ticket`'s lease in the store by `seconds`.
    pub fn renew(&self, ticket: usize, seconds: f64) -> Result<(), ExperimentError> {
        if self.shared.is_some() {
            self.store
                .renew_trial(self.experiment, 0, ticket, seconds)?;
        }
        Ok(())
    }

    /// A shared run: why it stopped, when another service ended it.
    pub fn stopped_elsewhere(&self) -> Result<Option<String>, ExperimentError> {
        match self.shared {
            Some(_) => Ok(self.store.run_stop_reason(self.experiment, 0)?),
            None => Ok(None),
        }
    }

    /// A shared run: trials in flight anywhere (this service's included).
    pub fn in_flight_anywhere(&self) -> Result<usize, ExperimentError> {
        match self.shared {
            Some(_) => Ok(self.store.in_flight(self.experiment, 0)?.running),
            None => Ok(0),
        }
    }

    /// A shared run: drops every trial in flight anywhere (the experiment is stopped).
    pub fn drop_in_flight(&self) -> Result<(), ExperimentError> {
        if self.shared.is_some() {
            self.store.drop_in_flight(self.experiment, 0)?;
        }
        Ok(())
    }

    /// The experiment's id in the store.
    pub fn id(&self) -> i64 {
        self.experiment
    }

    /// The parameters' names, in order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The parameter values of a trial in flight, in order.
    pub fn values(&self, pending: &Pending) -> Vec<serde_json::Value> {
        self.space.decode(&pending.x)
    }

    /// The parameters of a trial in flight, by name.
    pub fn params(&self, pending: &Pending) -> serde_json::Map<String, serde_json::Value> {
        self.space.to_object(&self.values(pending))
    }

    /// The trials that were in flight when the run was last stopped, taken once: they are
    /// to be handed out again before any new one.
    pub fn take_requeued(&mut self) -> Vec<Pending> {
        std::mem::take(&mut self.requeued)
    }

    /// The next trial, recorded in flight; or why the run stops.
    pub fn ask(&mut self) -> Result<Asked, ExperimentError> {
        self.with_sink(|run, sink| {
            let asked = run.ask(sink)?;
            if let Asked::Trial(pending) = &asked {
                sink.asked(pending).map_err(ExperimentError::Sink)?;
            }
            Ok(asked)
        })
    }

    /// Records a requeued trial in flight again (it is being handed out).
    pub fn reissue(&mut self, pending: &Pending) -> Result<(), ExperimentError> {
        self.with_sink(|_, sink| sink.asked(pending).map_err(ExperimentError::Sink))
    }

    /// The watch of a trial in flight: its interim reports go to the run's stopper.
    pub fn watch(&self) -> Watch {
        self.run.watch()
    }

    /// Tells the run what evaluating `pending` gave, committing the trial (to be flushed).
    pub fn tell(&mut self, pending: Pending, outcome: Outcome) -> Result<Told, ExperimentError> {
        self.with_sink(|run, sink| {
            let ticket = pending.ticket;
            sink.commit = Commit::Deferred;
            run.tell(pending, outcome, None, sink)?;
            match sink.lost {
                Some(_) => Err(ExperimentError::ToldElsewhere(ticket)),
                None => Ok(()),
            }
        })?;
        Ok(Told(self.store.flusher()))
    }

    /// `f` with the run and its sink (run 0 of the experiment in the store, this service's
    /// count of trials in flight, its part in a shared run).
    fn with_sink<T>(
        &mut self,
        f: impl FnOnce(&mut Run, &mut StoreSink<'_>) -> Result<T, ExperimentError>,
    ) -> Result<T, ExperimentError> {
        let mut progress = |_: &Trial, _: usize| {};
        let mut sink = StoreSink {
            store: &self.store,
            experiment: self.experiment,
            run: 0,
            in_flight: self.in_flight,
            progress: &mut progress,
            shared: self.shared.as_ref().map(|(member, next)| (member, *next)),
            lost: None,
            commit: Commit::Durable,
        };
        let result = f(&mut self.run, &mut sink);
        self.in_flight = sink.in_flight;
        let seen = sink.shared.map(|(_, next)| next);
        if let (Some((_, next)), Some(seen)) = (self.shared.as_mut(), seen) {
            *next = seen;
        }
        result
    }

    /// Ends the run for `reason`: recorded in the store, with its results file written.
    pub fn finish(self, reason: String) -> Result<RunRecord, ExperimentError> {
        let (store, experiment, path) = (self.store, self.experiment, self.results_file);
        let names = self.names;
        let shared = self.shared.is_some();
        let mut record = self.run.finish(reason);
        store.finish_run(experiment, 0, &record.stop_reason, &record.failures)?;
        if shared {
            // Every service's trials, in the store's order.
            let trials = store.trials(experiment, 0)?;
            let (seed, arms) = (record.seed, record.arm_names.clone());
            let (stop, failures) = (record.stop_reason.clone(), Some(record.failures.clone()));
            record = RunRecord::from_trials(seed, arms, &trials, stop, failures)?;
        }
        let json = super::results_file::run_json(&record, &names, false);
        super::runner::write_results(&path, &[json])?;
        store.finish(experiment)?;
        Ok(record)
    }
}
