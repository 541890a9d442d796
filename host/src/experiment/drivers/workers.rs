//! A pool of live workers: each slot evaluates one trial at a time on its own thread (a
//! thread of this process for `--workers N`, or a job slot of a remote training worker);
//! the run's core stays on the calling thread. A slot that frees asks at once (the other
//! slots keep evaluating meanwhile), so no free worker waits longer than one proposal.
//!
//! A remote worker that cannot be reached any more loses its slots: its trial goes back to
//! the queue for another worker, and the run stops (to be resumed) only when no worker is
//! left. The run's clock is the wall clock since the run started (continued from the last
//! completed trial's end when resumed).

use std::collections::VecDeque;
use std::sync::mpsc;
use std::time::Instant;

use super::{Pending, Run, RunSink};
use crate::experiment::ExperimentError;
use crate::experiment::run::Asked;
use crate::objectives::{EvaluationError, Objective, Outcome, Watch};
use crate::trial::Timing;

/// One worker slot: what it evaluates with, and the machine it belongs to (slots of one
/// remote worker share its fate).
pub struct Slot {
    /// This slot's objective.
    pub objective: Box<dyn Objective>,
    /// The machine (a remote worker's index; a local slot is its own).
    pub machine: usize,
    /// How logs name it, e.g. the remote worker's URL.
    pub name: String,
}

/// A slot's answer: which slot, the trial and what its evaluation gave.
type Finished = (usize, Pending, Result<Outcome, EvaluationError>);

/// The pool's state while the run goes on.
struct Pool {
    /// Each slot's job queue (`None`: its machine is gone).
    jobs: Vec<Option<mpsc::Sender<(Pending, Watch)>>>,
    machine: Vec<usize>,
    labels: Vec<String>,
    idle: VecDeque<usize>,
    busy: usize,
    /// Trials to evaluate before asking for new ones.
    queue: VecDeque<Pending>,
    started: Instant,
    clock: f64,
}

impl Pool {
    fn now(&self) -> f64 {
        self.clock + self.started.elapsed().as_secs_f64()
    }

    fn alive(&self) -> bool {
        self.jobs.iter().any(Option::is_some)
    }

    /// Takes the slots of `machine` out of the pool.
    fn drop_machine(&mut self, machine: usize) {
        for (slot, jobs) in self.jobs.iter_mut().enumerate() {
            if self.machine[slot] == machine {
                *jobs = None;
            }
        }
        let jobs = &self.jobs;
        self.idle.retain(|s| jobs[*s].is_some());
    }
}

/// Runs until the run stops and every slot is idle; the trials that were in flight when an
/// earlier attempt stopped (`requeued`) go first. Returns why the run stopped.
pub fn drive(
    run: &mut Run,
    slots: Vec<Slot>,
    requeued: Vec<Pending>,
    clock: f64,
    sink: &mut dyn RunSink,
) -> Result<String, ExperimentError> {
    let (finished_tx, finished) = mpsc::channel::<Finished>();
    let mut pool = Pool {
        jobs: Vec::new(),
        machine: slots.iter().map(|s| s.machine).collect(),
        labels: slots.iter().map(|s| s.name.clone()).collect(),
        idle: (0..slots.len()).collect(),
        busy: 0,
        queue: requeued.into(),
        started: Instant::now(),
        clock,
    };
    for (index, slot) in slots.into_iter().enumerate() {
        pool.jobs
            .push(Some(spawn_slot(index, slot, finished_tx.clone())));
    }
    drop(finished_tx);
    let mut stop = None;
    loop {
        if let Some(reason) = dispatch(run, &mut pool, stop.is_some(), sink)? {
            stop = Some(reason);
        }
        if pool.busy == 0 {
            break;
        }
        let (slot, pending, result) = finished
            .recv()
            .expect("a busy slot answers before its thread ends");
        pool.busy -= 1;
        conclude(run, &mut pool, slot, pending, result, sink)?;
    }
    Ok(stop.unwrap_or_else(|| "every trial ended".to_string()))
}

/// The thread of one slot: evaluates the trials it is sent until the pool closes.
fn spawn_slot(
    index: usize,
    mut slot: Slot,
    finished: mpsc::Sender<Finished>,
) -> mpsc::Sender<(Pending, Watch)> {
    let (jobs_tx, jobs) = mpsc::channel::<(Pending, Watch)>();
    std::thread::spawn(move || {
        for (pending, watch) in jobs {
            let result =
                slot.objective
                    .evaluate_watched(&pending.candidate, pending.budget(), &watch);
            if finished.send((index, pending, result)).is_err() {
                break;
            }
        }
    });
    jobs_tx
}

/// Gives every idle slot a trial: a queued one, else a new one asked for (unless the run is
/// `stopping`). Returns why the run stops if an ask says so.
fn dispatch(
    run: &mut Run,
    pool: &mut Pool,
    stopping: bool,
    sink: &mut dyn RunSink,
) -> Result<Option<String>, ExperimentError> {
    while let Some(&slot) = pool.idle.front() {
        let mut pending = match pool.queue.pop_front() {
            Some(pending) => pending,
            None if stopping => return Ok(None),
            None => {
                run.set_clock(pool.now());
                match run.ask(sink)? {
                    Asked::Stop(reason) => return Ok(Some(reason)),
                    Asked::Trial(pending) => *pending,
                }
            }
        };
        pool.idle.pop_front();
        pending.placed = Some((slot, pool.now()));
        sink.asked(&pending).map_err(ExperimentError::Sink)?;
        let sent = pool.jobs[slot]
            .as_ref()
            .is_some_and(|jobs| jobs.send((pending, run.watch())).is_ok());
        assert!(sent, "an idle slot's thread waits for jobs");
        pool.busy += 1;
    }
    Ok(None)
}

/// Tells the run what slot `slot` observed, or, when its remote worker is gone, takes that
/// worker's slots out and queues the trial for another.
fn conclude(
    run: &mut Run,
    pool: &mut Pool,
    slot: usize,
    mut pending: Pending,
    result: Result<Outcome, EvaluationError>,
    sink: &mut dyn RunSink,
) -> Result<(), ExperimentError> {
    match result {
        Ok(outcome) => {
            let end = pool.now();
            let start = pending.placed.map_or(end, |(_, start)| start);
            run.set_clock(end);
            let timing = Timing {
                worker: slot,
                start,
                end,
            };
            run.tell(pending, outcome, Some(timing), sink)?;
            if pool.jobs[slot].is_some() {
                pool.idle.push_back(slot);
            }
            Ok(())
        }
        Err(EvaluationError::Worker(why)) => {
            if pool.jobs[slot].is_some() {
                tracing::warn!(
                    "worker {} is gone ({why}): its trials go to the other workers",
                    pool.labels[slot]
                );
                pool.drop_machine(pool.machine[slot]);
            }
            if !pool.alive() {
                return Err(ExperimentError::Evaluation {
                    label: pool.labels[slot].clone(),
                    source: EvaluationError::Worker(format!("no worker is left: {why}")),
                });
            }
            pending.placed = None;
            pool.queue.push_back(pending);
            Ok(())
        }
        Err(source) => Err(ExperimentError::Evaluation {
            label: pool.labels[slot].clone(),
            source,
        }),
    }
}
