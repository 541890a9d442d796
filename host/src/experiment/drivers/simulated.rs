//! The seed's BATCH mode: a discrete-event simulation of a cluster of workers on a
//! simulated clock, for objectives that evaluate at once (tables, test functions).
//!
//! Each job lasts its simulated cost: a table's recorded training time, or for a test
//! function (which has none) [`function_cost`]. `ASYNC`: a worker asks as soon as its job
//! ends (the clock jumps from one job's end to the next); `SYNC`: the workers ask together
//! and the next round starts when the slowest job of the round ends. Workers that ask at the
//! same instant ask in their order, each seeing the others' jobs in flight; jobs that end at
//! the same instant are told in worker order. The clock counts evaluation time only (the
//! optimizer's measured time would make the simulation irreproducible), so a simulated run
//! is reproducible bit for bit from its seed.

use super::{Pending, Run, RunSink};
use crate::experiment::ExperimentError;
use crate::experiment::run::Asked;
use crate::objectives::{Objective, Outcome, Watch};
use crate::trial::Timing;

/// Simulated seconds of a test function's evaluation at the centre of the unit cube.
pub const FUNCTION_COST: f64 = 60.0;

/// The simulated cluster.
#[derive(Debug, Clone, Copy)]
pub struct Cluster {
    /// Workers.
    pub workers: usize,
    /// Rounds (`SYNC`) or not (`ASYNC`).
    pub sync: bool,
}

/// A job on a simulated worker.
struct Job {
    pending: Pending,
    outcome: Outcome,
    start: f64,
    end: f64,
}

/// The simulated cost of a test function's evaluation at encoded point `x`: a deterministic
/// model in which cost grows with the coordinates (as training time grows with model size or
/// epochs), from `FUNCTION_COST / 2` at the origin to `1.5 × FUNCTION_COST` at the far
/// corner, so that jobs end at different times.
pub fn function_cost(x: &[f64]) -> f64 {
    let mean = if x.is_empty() {
        0.5
    } else {
        x.iter().sum::<f64>() / x.len() as f64
    };
    FUNCTION_COST * (0.5 + mean.clamp(0.0, 1.0))
}

/// Runs the simulation from `clock` until the run stops and every job ended; the jobs that
/// were in flight when an earlier attempt stopped (`requeued`) are put back on their
/// workers with their start times. Returns why the run stopped.
pub fn drive(
    run: &mut Run,
    objective: &mut dyn Objective,
    cluster: Cluster,
    requeued: Vec<Pending>,
    clock: f64,
    sink: &mut dyn RunSink,
) -> Result<String, ExperimentError> {
    let mut busy: Vec<Option<Job>> = (0..cluster.workers).map(|_| None).collect();
    let mut now = clock;
    for pending in requeued {
        let (worker, start) = pending
            .placed
            .filter(|(w, _)| *w < cluster.workers && busy[*w].is_none())
            .or_else(|| busy.iter().position(Option::is_none).map(|w| (w, now)))
            .ok_or(ExperimentError::StoredTrialMismatch)?;
        busy[worker] = Some(start_job(
            objective,
            pending,
            run.watch(),
            worker,
            start,
            sink,
        )?);
    }
    let mut stop = None;
    loop {
        let round_running = cluster.sync && busy.iter().any(Option::is_some);
        if stop.is_none() && !round_running {
            stop = fill_idle(run, objective, &mut busy, now, sink)?;
        }
        // The next job to end; ties go to the lower worker.
        let Some(worker) = (0..busy.len())
            .filter(|w| busy[*w].is_some())
            .min_by(|a, b| end_of(&busy[*a]).total_cmp(&end_of(&busy[*b])))
        else {
            break;
        };
        let job = busy[worker].take().expect("a busy worker has a job");
        now = job.end;
        run.set_clock(now);
        let timing = Timing {
            worker,
            start: job.start,
            end: job.end,
        };
        run.tell(job.pending, job.outcome, Some(timing), sink)?;
    }
    Ok(stop.unwrap_or_else(|| "every job ended".to_string()))
}

fn end_of(job: &Option<Job>) -> f64 {
    job.as_ref().map_or(f64::INFINITY, |j| j.end)
}

/// Every idle worker asks, in worker order, at `now`; returns why the run stops if an ask
/// says so.
fn fill_idle(
    run: &mut Run,
    objective: &mut dyn Objective,
    busy: &mut [Option<Job>],
    now: f64,
    sink: &mut dyn RunSink,
) -> Result<Option<String>, ExperimentError> {
    for (worker, job) in busy.iter_mut().enumerate() {
        if job.is_some() {
            continue;
        }
        run.set_clock(now);
        match run.ask(sink)? {
            Asked::Stop(reason) => return Ok(Some(reason)),
            Asked::Trial(pending) => {
                *job = Some(start_job(
                    objective,
                    *pending,
                    run.watch(),
                    worker,
                    now,
                    sink,
                )?);
            }
        }
    }
    Ok(None)
}

/// Places `pending` on `worker` at `start`, records it in flight and evaluates it: the job
/// ends after its simulated cost.
fn start_job(
    objective: &mut dyn Objective,
    mut pending: Pending,
    watch: Watch,
    worker: usize,
    start: f64,
    sink: &mut dyn RunSink,
) -> Result<Job, ExperimentError> {
    pending.placed = Some((worker, start));
    sink.asked(&pending).map_err(ExperimentError::Sink)?;
    // The job is evaluated when it starts, so its stopper judges it against the trials
    // that ended before that moment of the simulated clock.
    let mut outcome = super::evaluate(objective, &pending, &watch)?;
    if outcome.cost <= 0.0 {
        outcome.cost = function_cost(&pending.x);
    }
    Ok(Job {
        end: start + outcome.cost,
        pending,
        outcome,
        start,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_function_costs_half_to_one_and_a_half_units_across_the_cube() {
        assert_eq!(function_cost(&[0.0, 0.0]), FUNCTION_COST / 2.0);
        assert_eq!(function_cost(&[1.0, 1.0]), 1.5 * FUNCTION_COST);
        assert_eq!(function_cost(&[0.25, 0.75]), FUNCTION_COST);
        assert_eq!(function_cost(&[]), FUNCTION_COST);
    }
}
