//! The sequential driver: one worker, each trial evaluated as soon as it is asked for.

use super::{Pending, Run, RunSink};
use crate::experiment::ExperimentError;
use crate::experiment::run::Asked;
use crate::objectives::Objective;

/// Asks, evaluates and tells until the run stops; the trial that was in flight when an
/// earlier attempt stopped (`requeued`) goes first. Returns why the run stopped.
pub fn drive(
    run: &mut Run,
    objective: &mut dyn Objective,
    requeued: Vec<Pending>,
    sink: &mut dyn RunSink,
) -> Result<String, ExperimentError> {
    let mut requeued = requeued.into_iter();
    loop {
        let pending = match requeued.next() {
            Some(pending) => pending,
            None => match run.ask(sink)? {
                Asked::Stop(reason) => return Ok(reason),
                Asked::Trial(pending) => *pending,
            },
        };
        sink.asked(&pending).map_err(ExperimentError::Sink)?;
        let outcome = super::evaluate(objective, &pending, &run.watch())?;
        run.tell(pending, outcome, None, sink)?;
    }
}
