//! Progress of `hpo run` on stderr: a bar on a terminal, log lines otherwise.

use std::io::IsTerminal;

use hpo_host::experiment::Trial;
use indicatif::{ProgressBar, ProgressStyle};

/// Reports trials as they finish.
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A bar over `runs × evals` trials when stderr is a terminal and the length is known.
    pub fn new(runs: usize, evals: Option<usize>) -> Self {
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
        Progress { bar }
    }

    /// One trial of run `run` finished.
    pub fn trial(&self, run: usize, trial: &Trial) {
        match &self.bar {
            Some(bar) => {
                bar.inc(1);
                bar.set_message(format!("run {run} {} {:.5}", trial.arm, trial.value));
            }
            None => tracing::info!(run, arm = %trial.arm, value = trial.value, "evaluated"),
        }
    }

    /// Clears the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
