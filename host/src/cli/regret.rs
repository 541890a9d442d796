//! `hpo regret`: model quality, the median simple regret of arms and portfolios on problems
//! with known optima, as a Markdown table.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use hpo_host::bench::regret::{self, RegretRequest};
use hpo_host::config::{ConfigDefault, RunConfig};
use hpo_host::experiment::drivers::simulated::Cluster;
use hpo_host::objectives;

use super::values::{at_least_one, seed};

/// `hpo regret`: the model-quality protocol.
#[derive(clap::Args)]
#[command(allow_negative_numbers = true)]
pub struct RegretArgs {
    /// Arms, comma-separated, as MODEL/ACQ, and portfolios as DIV/<STRATEGY> (over the
    /// arms of --arms-file).
    #[arg(long, value_delimiter = ',', required = true)]
    arms: Vec<String>,
    /// Run configuration of the DIV/<STRATEGY> entries: their arms and options (default:
    /// ./run_conf/arms.json, else the built-in one).
    #[arg(long = "arms-file", value_name = "FILE")]
    arms_file: Option<PathBuf>,
    /// Problems, comma-separated: test functions (fn: names, the prefix optional; any-
    /// dimension ones as NAME-D, e.g. levy-4, rosenbrock-4, ackley-5, styblinski-tang-5,
    /// griewank-3) or tables (surrogate:NAME, the regret against the table's best value).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "branin,six-hump-camel,hartmann3,hartmann6,levy-4,rosenbrock-4,ackley-5,styblinski-tang-5"
    )]
    problems: Vec<String>,
    /// Runs (seeds) per arm and problem.
    #[arg(long, default_value_t = 10, value_parser = at_least_one)]
    runs: usize,
    /// Evaluation checkpoints, comma-separated; the last is the budget.
    #[arg(long, value_delimiter = ',', default_value = "50,100")]
    evals: Vec<usize>,
    /// Run configuration with the plugins' options (gp, rf, tpe sections).
    #[arg(long, value_name = "FILE")]
    conf: Option<PathBuf>,
    /// Directory of surrogate tables looked in first (seed: -hc); then ./data, then the
    /// bundled ones.
    #[arg(long = "hp-conf-dir", value_name = "DIR")]
    hp_conf_dir: Option<PathBuf>,
    /// Experiment seed.
    #[arg(long, default_value_t = 1, value_parser = seed)]
    seed: u64,
    /// Run each run on a simulated cluster of N workers (the seed's BATCH: a table's
    /// recorded times, a modelled cost for fn:), ASYNC unless --sync.
    #[arg(long, value_parser = at_least_one)]
    workers: Option<usize>,
    /// With --workers: SYNC rounds (a round lasts its slowest job) instead of ASYNC.
    #[arg(long, requires = "workers")]
    sync: bool,
}

/// Measures every arm on every problem and prints the table.
pub fn command(args: RegretArgs, registry: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    if args.evals.is_empty() || args.evals.windows(2).any(|w| w[0] >= w[1]) || args.evals[0] == 0 {
        anyhow::bail!("--evals must be positive and increasing, e.g. 50,100");
    }
    let request = RegretRequest {
        arms: args.arms.clone(),
        runs: args.runs,
        checkpoints: args.evals.clone(),
        seed: args.seed,
        config: RunConfig::load(args.conf.as_deref(), ConfigDefault::Seed)?,
        portfolio: RunConfig::load(args.arms_file.as_deref(), ConfigDefault::Seed)?,
        cluster: args.workers.map(|workers| Cluster {
            workers,
            sync: args.sync,
        }),
    };
    let table_dir = args.hp_conf_dir.clone().unwrap_or_else(|| "data".into());
    let host = super::open_host(registry)?;
    let mut cells = Vec::new();
    for problem in &args.problems {
        let spec = match problem.split_once(':') {
            Some(("fn" | "surrogate", _)) => problem.clone(),
            Some(_) => anyhow::bail!(
                "--problems {problem}: regret needs a known optimum: fn:NAME or surrogate:NAME"
            ),
            None => format!("fn:{problem}"),
        };
        let objective =
            objectives::resolve(&spec, Some(&table_dir), None, Duration::from_secs(60))?;
        cells.extend(regret::measure(&host, &request, objective.as_ref())?);
    }
    print!("{}", regret::markdown(&request, &cells));
    Ok(ExitCode::SUCCESS)
}
