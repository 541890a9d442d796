//! Progress of `hpo run` on stderr: a bar on a terminal, log lines otherwise.

use std::io::IsTerminal;

use hpo_host::experiment::Trial;
use indicatif::{ProgressBar, ProgressStyle};

/// Reports trials as they finish.
pub struct Progress {
    bar: Option<ProgressBar>,
    /// Workers of a parallel run, when known.
    workers: Option<usize>,
}

impl Progress {
    /// A bar over `runs × evals` trials when stderr is a terminal and the length is known;
    /// with `workers`, it shows how many are busy.
    pub fn new(runs: usize, evals: Option<usize>, workers: Option<usize>) -> Self {
        let bar = (std::io::stderr().is_terminal()).then(|| {
            let bar = match evals {
                Some(e) => ProgressBar::new((runs * e) as u64),
                None => ProgressBar::new_spinner(),
            };
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        });
        Progress { bar, workers }
    }

    /// One trial of run `run` finished; `busy` trials are still being evaluated.
    pub fn trial(&self, run: usize, trial: &Trial, busy: usize) {
        let workers = match (self.workers, trial.timing) {
            (Some(n), Some(_)) if n > 1 => {
                format!(" · workers {busy} busy, {} idle", n.saturating_sub(busy))
            }
            (_, Some(_)) => format!(" · {busy} in flight"),
            _ => String::new(),
        };
        match &self.bar {
            Some(bar) => {
                bar.inc(1);
                bar.set_message(format!(
                    "run {run} {} {:.5}{workers}",
                    trial.arm, trial.value
                ));
            }
            None => {
                tracing::info!(run, arm = %trial.arm, value = trial.value, busy, "evaluated")
            }
        }
    }

    /// Clears the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
