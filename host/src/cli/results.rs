//! `hpo results list | show ID | export ID`: the experiment store, read.

use std::path::PathBuf;
use std::process::ExitCode;

use hpo_host::store::{STORE_FILE, listing};

/// What to read from the store.
#[derive(clap::Subcommand)]
pub enum ResultsCommand {
    /// List the experiments in the store.
    List,
    /// Show one experiment: settings and, per run, the best value.
    Show {
        /// The experiment's id (see `hpo results list`).
        id: i64,
    },
    /// Export every trial of an experiment as CSV on stdout.
    Export {
        /// The experiment's id.
        id: i64,
    },
}

/// Prints what was asked of the store in results directory `out`.
pub fn command(out: PathBuf, command: ResultsCommand) -> anyhow::Result<ExitCode> {
    let store = out.join(STORE_FILE);
    let text = match command {
        ResultsCommand::List => listing::list(&store)?,
        ResultsCommand::Show { id } => listing::show(&store, id)?,
        ResultsCommand::Export { id } => listing::export_csv(&store, id)?,
    };
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}
