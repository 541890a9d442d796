//! `hpo results list | show ID | export ID | plot ID`: the experiment store, read.

use std::path::PathBuf;
use std::process::ExitCode;

use hpo_host::store::plots::{self, PlotKind};
use hpo_host::store::{Location, STORE_FILE, listing};

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
    /// Draw an experiment as SVG: convergence (best value so far over evaluations, every
    /// run and their median), curves (learning curves, stopped trials in red), arms
    /// (which arm proposed each trial, and each arm's share) or workers (a Gantt chart of
    /// a parallel run's trials per worker).
    Plot {
        /// The experiment's id.
        id: i64,
        /// What to draw: convergence, curves, arms, workers, parallel (parallel coordinates
        /// of the parameters) or importance (each parameter's first-order importance).
        #[arg(long, default_value = "convergence")]
        kind: PlotKind,
        /// Where the plot goes, as SVG or (`.png`) PNG (default: plot-ID-KIND.svg in the
        /// results directory).
        #[arg(long, value_name = "FILE.svg|FILE.png")]
        output: Option<PathBuf>,
    },
}

/// Prints what was asked of the store: `store` (`--store URL`), else the one in results
/// directory `out`.
pub fn command(
    out: PathBuf,
    store: Option<Location>,
    command: ResultsCommand,
) -> anyhow::Result<ExitCode> {
    let store = store.unwrap_or_else(|| Location::Sqlite(out.join(STORE_FILE)));
    let text = match command {
        ResultsCommand::List => listing::list(&store)?,
        ResultsCommand::Show { id } => listing::show(&store, id)?,
        ResultsCommand::Export { id } => listing::export_csv(&store, id)?,
        ResultsCommand::Plot { id, kind, output } => {
            let svg = plots::plot(&store, id, kind)?;
            let name = format!("plot-{id}-{}.svg", format!("{kind:?}").to_lowercase());
            let path = output.unwrap_or_else(|| out.join(name));
            let bytes = match path.extension().and_then(|e| e.to_str()) {
                Some("svg") => svg.into_bytes(),
                Some("png") => plots::png(&svg)
                    .map_err(|e| anyhow::anyhow!("--output {}: {e}", path.display()))?,
                _ => anyhow::bail!("--output {}: .svg or .png", path.display()),
            };
            hpo_registry::write_atomically(&path, &bytes)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            format!("{}\n", path.display())
        }
    };
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}
