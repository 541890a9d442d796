//! The `hpo` command line: parses arguments and dispatches to the host library (see
//! [`cli`] for each subcommand).

mod cli;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// hpo: hyperparameter optimization with pluggable, diversified optimizers.
#[derive(Parser)]
#[command(name = "hpo", version, about, long_about = None)]
struct Cli {
    /// The plugin registry file (default: $HPO_HOME/registry.toml, else the user data dir).
    #[arg(long, global = true, value_name = "PATH")]
    registry: Option<PathBuf>,
    /// Log level: error, warn, info, debug, trace (RUST_LOG overrides).
    #[arg(short = 'l', long = "log-level", global = true, default_value = "warn")]
    log_level: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Manage optimizer plugins (arms and strategies).
    #[command(subcommand)]
    Plugin(cli::plugin::PluginCommand),
    /// Run an experiment (default: a diversified run on the bundled surrogate table).
    Run(Box<cli::run::RunArgs>),
    /// Compare strategies: repeated runs, success rate over time to reach a target.
    Bench(Box<cli::bench::BenchArgs>),
    /// Model quality: median simple regret of arms on test functions with known optima.
    Regret(Box<cli::regret::RegretArgs>),
    /// Serve an objective as a remote training worker (the seed's training node), for
    /// `hpo run -w URL`; clients must send $HPO_WORKER_CREDENTIAL when it is set.
    Worker(Box<cli::worker::WorkerArgs>),
    /// Serve experiments over HTTP (ask, report, tell; OpenAPI at /openapi.json) to clients
    /// that evaluate the trials; `hpo serve token create|list|revoke` manages the tokens.
    Serve(Box<cli::serve::ServeArgs>),
    /// Serve the dashboard of a store's experiments (those of `hpo run` too), read-only.
    Dashboard(Box<cli::serve::DashboardArgs>),
    /// Read the experiment store: list, show, export.
    Results {
        /// The results directory `hpo run` wrote to.
        #[arg(long, default_value = "results", global = true)]
        out: PathBuf,
        /// The experiment store, when not the SQLite file in --out:
        /// postgresql://USER@HOST/DB or sqlite:PATH.
        #[arg(long, value_name = "URL", global = true, value_parser = cli::values::store)]
        store: Option<hpo_host::store::Location>,
        #[command(subcommand)]
        command: cli::results::ResultsCommand,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse_from(cli::seed_flags::translate(std::env::args())) {
        Ok(cli) => cli,
        Err(e) => return cli::usage_error(e),
    };
    cli::init_logging(&cli.log_level);
    // Training commands run in their own process groups: take them along on Ctrl-C or
    // SIGTERM. Completed trials are already committed; `--resume` continues.
    if let Err(e) = ctrlc::set_handler(|| {
        hpo_host::objectives::command::kill_running_commands();
        std::process::exit(130);
    }) {
        tracing::warn!("no interrupt handler: {e}");
    }
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", cli::one_line(&e));
            ExitCode::from(2)
        }
    }
}

fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Plugin(command) => cli::plugin::command(command, cli.registry),
        Command::Run(args) => cli::run::command(*args, cli.registry),
        Command::Bench(args) => cli::bench::command(*args, cli.registry),
        Command::Regret(args) => cli::regret::command(*args, cli.registry),
        Command::Worker(args) => cli::worker::command(*args),
        Command::Serve(args) => cli::serve::command(*args, cli.registry),
        Command::Dashboard(args) => cli::serve::dashboard(*args, cli.registry),
        Command::Results {
            out,
            store,
            command,
        } => cli::results::command(out, store, command),
    }
}
